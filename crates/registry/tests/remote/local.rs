//! Pull and push against `docker-registry` instances started by [`crate::harness`].

use std::time::Duration;

use crate::harness::{TestImage, TestRegistry, digest, keychain, read_layer, upload};
use bytes::Bytes;
use kiln_oci::{Platform, Reference};
use kiln_registry::{
    BlobPushed, BlobSource, BlobUpload, ClientCertificate, Direction, Error, Keychain,
    RegistryClient, RegistryOptions, Repository,
};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn fast_options() -> RegistryOptions {
    RegistryOptions {
        retry_min_delay: Duration::from_millis(10),
        retry_max_delay: Duration::from_millis(100),
        ..Default::default()
    }
}

fn anonymous(options: RegistryOptions) -> RegistryClient {
    RegistryClient::new(options, Keychain::anonymous())
}

/// A keychain from a temp `config.json` holding `user:password` for `registry`.
async fn push_image(client: &RegistryClient, reference: &Reference, img: &TestImage) {
    let repo = Repository::of(reference);
    let blobs = [upload(&img.layer), upload(&img.config)];
    client
        .push_blobs(&repo, &blobs)
        .await
        .expect("pushing blobs");
    client
        .push_manifest(std::slice::from_ref(reference), OCI_MANIFEST, &img.manifest)
        .await
        .expect("pushing the manifest");
}

async fn pull_layer(client: &RegistryClient, reference: &Reference) -> Vec<u8> {
    let image = client
        .resolve_image(reference, &Platform::host())
        .await
        .expect("resolving the image");
    read_layer(client, &image, 0).await
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn push_then_pull_round_trips_over_plain_http() {
    let reg = TestRegistry::plain();
    let client = anonymous(fast_options());
    let reference = Reference::parse(&format!("{}/kiln/roundtrip:v1", reg.addr)).unwrap();
    let img = TestImage::new(300_000, 1);
    push_image(&client, &reference, &img).await;
    assert_eq!(pull_layer(&client, &reference).await, img.layer);

    let image = client
        .resolve_image(&reference, &Platform::host())
        .await
        .unwrap();
    assert_eq!(image.fetched.digest, digest(&img.manifest));
    assert_eq!(image.read_config(&client).await.unwrap(), img.config);
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn large_blob_is_uploaded_in_chunks_from_a_file() {
    let reg = TestRegistry::plain();
    let client = anonymous(RegistryOptions {
        monolithic_upload_limit: 64 << 10,
        chunk_size: 100 << 10,
        ..fast_options()
    });
    let dir = tempfile::tempdir().unwrap();
    let img = TestImage::new(350_000, 2);
    let path = dir.path().join("layer");
    std::fs::write(&path, &img.layer).unwrap();
    let repo = Repository::new(&reg.addr, "kiln/chunked");
    let upload = BlobUpload {
        digest: digest(&img.layer),
        size: img.layer.len() as u64,
        source: BlobSource::File(path),
        mount_from: vec![],
    };
    assert_eq!(
        client.push_blob(&repo, &upload).await.unwrap(),
        BlobPushed::Uploaded
    );
    assert_eq!(
        client.push_blob(&repo, &upload).await.unwrap(),
        BlobPushed::AlreadyPresent
    );
    let log = reg.log();
    assert!(
        log.matches("\"PATCH /v2/kiln/chunked/blobs/uploads/")
            .count()
            >= 4,
        "{log}"
    );

    let out = dir.path().join("pulled");
    client
        .download_blob(&repo, &upload.digest, Some(upload.size), &out)
        .await
        .unwrap();
    assert_eq!(std::fs::read(out).unwrap(), img.layer);
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn blob_known_in_another_repository_is_mounted() {
    let reg = TestRegistry::plain();
    let client = anonymous(fast_options());
    let source = Repository::new(&reg.addr, "kiln/base");
    let target = Repository::new(&reg.addr, "kiln/app");
    let img = TestImage::new(10_000, 3);
    let mut blob = upload(&img.layer);
    client.push_blob(&source, &blob).await.unwrap();
    blob.mount_from = vec![source.clone()];
    assert_eq!(
        client.push_blob(&target, &blob).await.unwrap(),
        BlobPushed::Mounted
    );
    let log = reg.log();
    assert!(
        log.contains("mount=sha256") && log.contains("\" 201 "),
        "mount not seen in registry log:\n{log}"
    );
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn missing_manifest_is_manifest_unknown_naming_the_reference() {
    let reg = TestRegistry::plain();
    let client = anonymous(fast_options());
    let reference = Reference::parse(&format!("{}/kiln/absent:nope", reg.addr)).unwrap();
    let err = client
        .resolve_image(&reference, &Platform::host())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ManifestUnknown { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("manifest unknown") && text.contains("kiln/absent:nope"),
        "{text}"
    );
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn basic_auth_over_tls_with_the_ca_pushes_and_pulls() {
    let (reg, tls) = TestRegistry::tls();
    let dir = tempfile::tempdir().unwrap();
    let kc = keychain(dir.path(), &reg.addr, tls.user, tls.password);
    let options = RegistryOptions {
        certificates: [(reg.addr.clone(), tls.ca.clone())].into(),
        ..fast_options()
    };
    let client = RegistryClient::new(options, kc);
    let reference = Reference::parse(&format!("{}/kiln/secure:1", reg.addr)).unwrap();
    client
        .check_push_permission(&Repository::of(&reference))
        .await
        .expect("push permission with good credentials");
    let img = TestImage::new(5_000, 4);
    push_image(&client, &reference, &img).await;
    assert_eq!(pull_layer(&client, &reference).await, img.layer);
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn wrong_password_is_a_clear_401_naming_the_registry() {
    let (reg, tls) = TestRegistry::tls();
    let dir = tempfile::tempdir().unwrap();
    let kc = keychain(dir.path(), &reg.addr, tls.user, "wrong-password-xyz");
    let options = RegistryOptions {
        certificates: [(reg.addr.clone(), tls.ca.clone())].into(),
        ..fast_options()
    };
    let client = RegistryClient::new(options, kc);
    let repo = Repository::new(&reg.addr, "kiln/secure");
    let err = client.check_push_permission(&repo).await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    assert_eq!(err.status(), Some(reqwest::StatusCode::UNAUTHORIZED));
    let rendered = format!(
        "{err} / {:?} / {}",
        err.response(),
        err.hint().unwrap_or_default()
    );
    eprintln!("{rendered}");
    assert!(rendered.contains(&reg.addr), "{rendered}");
    assert!(rendered.contains("config.json"), "{rendered}");
    assert!(!rendered.contains("wrong-password-xyz"), "{rendered}");
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn tls_without_the_ca_fails_with_a_certificate_error() {
    let (reg, tls) = TestRegistry::tls();
    let dir = tempfile::tempdir().unwrap();
    let kc = keychain(dir.path(), &reg.addr, tls.user, tls.password);
    let client = RegistryClient::new(fast_options(), kc);
    let reference = Reference::parse(&format!("{}/kiln/secure:1", reg.addr)).unwrap();
    let err = client
        .resolve_image(&reference, &Platform::host())
        .await
        .unwrap_err();
    let mut chain = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        chain.push_str(" / ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    eprintln!("{chain}");
    assert!(chain.contains(&reg.addr), "{chain}");
    assert!(chain.to_lowercase().contains("certificate"), "{chain}");
    assert!(
        err.hint()
            .is_some_and(|h| h.contains("--registry-certificate"))
    );
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn skip_tls_verify_pull_accepts_an_unknown_ca() {
    let (reg, tls) = TestRegistry::tls();
    let dir = tempfile::tempdir().unwrap();
    let reference = Reference::parse(&format!("{}/kiln/skip:1", reg.addr)).unwrap();
    let img = TestImage::new(1_000, 5);
    let with_ca = RegistryClient::new(
        RegistryOptions {
            certificates: [(reg.addr.clone(), tls.ca.clone())].into(),
            ..fast_options()
        },
        keychain(dir.path(), &reg.addr, tls.user, tls.password),
    );
    push_image(&with_ca, &reference, &img).await;

    let skipping = RegistryClient::new(
        RegistryOptions {
            skip_tls_verify_pull: true,
            ..fast_options()
        },
        keychain(dir.path(), &reg.addr, tls.user, tls.password),
    );
    assert_eq!(pull_layer(&skipping, &reference).await, img.layer);
    // Pulling skips verification; pushing with the same client still verifies.
    let err = skipping
        .check_push_permission(&Repository::of(&reference))
        .await
        .unwrap_err();
    assert!(err.response().is_none(), "push should fail at TLS: {err}");
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn mirror_is_tried_first_and_the_original_after_it() {
    let origin = TestRegistry::plain();
    let mirror = TestRegistry::plain();
    let seeding = anonymous(fast_options());
    let on_mirror = TestImage::new(1_000, 6);
    let on_origin = TestImage::new(1_000, 7);
    let origin_ref = Reference::parse(&format!("{}/team/app:1", origin.addr)).unwrap();
    let only_origin = Reference::parse(&format!("{}/team/other:1", origin.addr)).unwrap();
    push_image(&seeding, &origin_ref, &on_origin).await;
    push_image(&seeding, &only_origin, &on_origin).await;
    let mirror_ref = Reference::parse(&format!("{}/prefix/team/app:1", mirror.addr)).unwrap();
    push_image(&seeding, &mirror_ref, &on_mirror).await;

    let mut options = fast_options();
    options
        .registry_map
        .add_map(&format!("{}={}/prefix", origin.addr, mirror.addr))
        .unwrap();
    let client = anonymous(options.clone());
    let image = client
        .resolve_image(&origin_ref, &Platform::host())
        .await
        .unwrap();
    assert_eq!(image.source.registry(), mirror.addr);
    assert_eq!(pull_layer(&client, &origin_ref).await, on_mirror.layer);
    // Not on the mirror: falls back to the original registry.
    assert_eq!(pull_layer(&client, &only_origin).await, on_origin.layer);

    options.skip_default_registry_fallback = true;
    let strict = anonymous(options);
    let err = strict
        .resolve_image(&only_origin, &Platform::host())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotOnAnyMirror { .. }), "{err:?}");
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn corrupted_blob_is_a_digest_mismatch_naming_the_blob() {
    let reg = TestRegistry::plain();
    let client = anonymous(fast_options());
    let repo = Repository::new(&reg.addr, "kiln/corrupt");
    let img = TestImage::new(4_096, 8);
    let upload = upload(&img.layer);
    client.push_blob(&repo, &upload).await.unwrap();
    // Flip bytes in the stored blob behind the registry's back.
    let hex = upload.digest.hex();
    let stored = reg
        .dir
        .path()
        .join("data/docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data");
    let mut bytes = std::fs::read(&stored).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&stored, bytes).unwrap();

    let mut reader = client
        .open_blob(&repo, &upload.digest, Some(upload.size))
        .await
        .unwrap();
    let err = loop {
        match reader.next_chunk().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("corrupted blob was accepted"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains(upload.digest.as_str()), "{err}");
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn client_certificate_is_presented_when_configured() {
    let (reg, tls) = TestRegistry::tls_client_auth();
    let dir = tempfile::tempdir().unwrap();
    let base = RegistryOptions {
        certificates: [(reg.addr.clone(), tls.ca.clone())].into(),
        ..fast_options()
    };
    let repo = Repository::new(&reg.addr, "kiln/mtls");
    let without = RegistryClient::new(
        base.clone(),
        keychain(dir.path(), &reg.addr, tls.user, tls.password),
    );
    let err = without.check_push_permission(&repo).await.unwrap_err();
    assert!(
        err.response().is_none(),
        "expected a TLS failure, got {err}"
    );

    let cert = ClientCertificate {
        cert: reg.dir.path().join("client.pem"),
        key: reg.dir.path().join("client.key"),
    };
    let with = RegistryClient::new(
        RegistryOptions {
            client_certificates: [(reg.addr.clone(), cert)].into(),
            ..base
        },
        keychain(dir.path(), &reg.addr, tls.user, tls.password),
    );
    with.check_push_permission(&repo).await.unwrap();
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn ssl_cert_dir_certificates_are_trusted() {
    let (reg, tls) = TestRegistry::tls();
    let certs = tempfile::tempdir().unwrap();
    std::fs::copy(&tls.ca, certs.path().join("kiln-test-ca.pem")).unwrap();
    std::fs::write(certs.path().join("README"), "not a certificate").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let client = RegistryClient::new(
        RegistryOptions {
            ssl_cert_dirs: vec![dir.path().join("absent"), certs.path().to_owned()],
            ..fast_options()
        },
        keychain(dir.path(), &reg.addr, tls.user, tls.password),
    );
    client
        .check_push_permission(&Repository::new(&reg.addr, "kiln/certdir"))
        .await
        .unwrap();
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn manifest_is_put_to_every_destination() {
    let reg = TestRegistry::plain();
    let client = anonymous(fast_options());
    let img = TestImage::new(1_000, 9);
    let first = Reference::parse(&format!("{}/kiln/dest-a:1", reg.addr)).unwrap();
    push_image(&client, &first, &img).await;
    let others = [
        Reference::parse(&format!("{}/kiln/dest-a:2", reg.addr)).unwrap(),
        Reference::parse(&format!("{}/kiln/dest-b:latest", reg.addr)).unwrap(),
    ];
    // dest-b needs the blobs too: mount them from dest-a.
    let source = Repository::of(&first);
    for (bytes, _) in [(&img.layer, 0), (&img.config, 1)] {
        let upload = BlobUpload {
            digest: digest(bytes),
            size: bytes.len() as u64,
            source: BlobSource::Bytes(Bytes::from(bytes.clone())),
            mount_from: vec![source.clone()],
        };
        client
            .push_blob(&Repository::of(&others[1]), &upload)
            .await
            .unwrap();
    }
    let pushed = client
        .push_manifest(&others, OCI_MANIFEST, &img.manifest)
        .await
        .unwrap();
    assert_eq!(pushed.len(), 2);
    for r in &others {
        let head = client
            .head_manifest(&Repository::of(r), &r.identifier(), Direction::Pull)
            .await
            .unwrap()
            .expect("manifest present");
        assert_eq!(head.digest, Some(digest(&img.manifest)), "{r}");
    }
}
