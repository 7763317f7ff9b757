//! Pull and push against the shared test environment (`scripts/testenv up`): the base images on
//! the plain registry, the TLS registry with basic auth, and the registry behind bearer tokens.
//! Addresses come from the `KILN_TEST_*` variables; a missing one fails the test by name.

use std::time::Duration;

use crate::harness::{TestImage, digest, keychain, upload};
use kiln_oci::{Platform, Reference};
use kiln_registry::{BlobPushed, Error, Keychain, RegistryClient, RegistryOptions, Repository};

fn env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| {
        panic!("{key} is not set: run `scripts/testenv up` and source its env file")
    })
}

fn options() -> RegistryOptions {
    RegistryOptions {
        retry_min_delay: Duration::from_millis(10),
        retry_max_delay: Duration::from_millis(200),
        ..Default::default()
    }
}

/// A unique repository name per run, so reruns do not see each other's blobs.
fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("kiln-registry-test/{name}-{nanos}")
}

async fn read_all(client: &RegistryClient, image: &kiln_registry::RemoteImage) -> u64 {
    let mut total = 0;
    for i in 0..image.layers().len() {
        let mut r = image.open_layer(client, i).await.unwrap();
        while let Some(c) = r.next_chunk().await.unwrap() {
            total += c.len() as u64;
        }
    }
    total
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn base_images_of_both_media_type_families_pull_and_verify() {
    let reg = env("KILN_TEST_REGISTRY");
    let client = RegistryClient::new(options(), Keychain::anonymous());
    let cases = [
        (
            "busybox:latest",
            "application/vnd.docker.distribution.manifest.v2+json",
        ),
        (
            "busybox-oci:latest",
            "application/vnd.oci.image.manifest.v1+json",
        ),
    ];
    for (name, media_type) in cases {
        let reference = Reference::parse(&format!("{reg}/{name}")).unwrap();
        let image = client
            .resolve_image(&reference, &"linux/amd64".parse::<Platform>().unwrap())
            .await
            .unwrap();
        assert_eq!(image.fetched.media_type().as_str(), media_type, "{name}");
        assert_eq!(image.layers().len(), 1, "{name}");
        let size = read_all(&client, &image).await;
        assert_eq!(size, image.layers()[0].size, "{name}");
        let config = image.read_config(&client).await.unwrap();
        assert_eq!(digest(&config), image.config().digest, "{name}");
    }
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn platform_is_selected_from_an_index() {
    let reg = env("KILN_TEST_REGISTRY");
    let client = RegistryClient::new(options(), Keychain::anonymous());
    let reference = Reference::parse(&format!("{reg}/multiarch:latest")).unwrap();
    let amd = client
        .resolve_image(&reference, &"linux/amd64".parse::<Platform>().unwrap())
        .await
        .unwrap();
    let arm = client
        .resolve_image(&reference, &"linux/arm64".parse::<Platform>().unwrap())
        .await
        .unwrap();
    assert!(amd.index_digest.is_some());
    assert_eq!(amd.index_digest, arm.index_digest);
    assert_ne!(amd.fetched.digest, arm.fetched.digest);
    let err = client
        .resolve_image(&reference, &"linux/s390x".parse::<Platform>().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoMatchingPlatform { .. }), "{err:?}");
    assert!(err.to_string().contains("linux/s390x"), "{err}");
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn multi_layer_image_downloads_in_parallel() {
    let reg = env("KILN_TEST_REGISTRY");
    let client = RegistryClient::new(options(), Keychain::anonymous());
    let reference = Reference::parse(&format!("{reg}/debian:bookworm")).unwrap();
    let image = client
        .resolve_image(&reference, &"linux/amd64".parse::<Platform>().unwrap())
        .await
        .unwrap();
    assert!(image.layers().len() > 1, "expected a multi-layer image");
    let dir = tempfile::tempdir().unwrap();
    let jobs = image
        .layers()
        .iter()
        .enumerate()
        .map(|(i, l)| {
            (
                l.digest.clone(),
                Some(l.size),
                dir.path().join(i.to_string()),
            )
        })
        .collect();
    client.download_blobs(&image.source, jobs).await.unwrap();
    for (i, l) in image.layers().iter().enumerate() {
        let bytes = std::fs::read(dir.path().join(i.to_string())).unwrap();
        assert_eq!(digest(&bytes), l.digest);
    }
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn token_registry_push_mount_and_pull_with_one_token_per_scope_set() {
    let reg = env("KILN_TEST_TOKEN_REGISTRY");
    let dir = tempfile::tempdir().unwrap();
    let kc = keychain(
        dir.path(),
        &reg,
        &env("KILN_TEST_TOKEN_USER"),
        &env("KILN_TEST_TOKEN_PASSWORD"),
    );
    let client = RegistryClient::new(options(), kc);
    let source = Repository::new(&reg, &unique("base"));
    let target = Repository::new(&reg, &unique("app"));
    client.check_push_permission(&source).await.unwrap();
    let img = TestImage::new(20_000, 11);
    let mut layer = upload(&img.layer);
    assert_eq!(
        client.push_blob(&source, &layer).await.unwrap(),
        BlobPushed::Uploaded
    );
    layer.mount_from = vec![source.clone()];
    assert_eq!(
        client.push_blob(&target, &layer).await.unwrap(),
        BlobPushed::Mounted
    );
    let config = upload(&img.config);
    client.push_blob(&target, &config).await.unwrap();
    let reference = Reference::parse(&format!("{target}:v1")).unwrap();
    client
        .push_manifest(
            std::slice::from_ref(&reference),
            "application/vnd.oci.image.manifest.v1+json",
            &img.manifest,
        )
        .await
        .unwrap();
    let image = client
        .resolve_image(&reference, &"linux/amd64".parse::<Platform>().unwrap())
        .await
        .unwrap();
    assert_eq!(read_all(&client, &image).await, img.layer.len() as u64);
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn token_registry_wrong_password_is_unauthorized_naming_it() {
    let reg = env("KILN_TEST_TOKEN_REGISTRY");
    let dir = tempfile::tempdir().unwrap();
    let kc = keychain(
        dir.path(),
        &reg,
        &env("KILN_TEST_TOKEN_USER"),
        "not-the-password",
    );
    let client = RegistryClient::new(options(), kc);
    let err = client
        .check_push_permission(&Repository::new(&reg, &unique("denied")))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    let text = format!("{err} {}", err.hint().unwrap_or_default());
    assert!(
        text.contains(&reg) && !text.contains("not-the-password"),
        "{text}"
    );
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn shared_tls_registry_with_its_ca_and_basic_auth() {
    let reg = env("KILN_TEST_TLS_REGISTRY");
    let dir = tempfile::tempdir().unwrap();
    let kc = keychain(
        dir.path(),
        &reg,
        &env("KILN_TEST_TLS_USER"),
        &env("KILN_TEST_TLS_PASSWORD"),
    );
    let client = RegistryClient::new(
        RegistryOptions {
            certificates: [(reg.clone(), env("KILN_TEST_TLS_CA").into())].into(),
            ..options()
        },
        kc,
    );
    let repo = Repository::new(&reg, &unique("tls"));
    client.check_push_permission(&repo).await.unwrap();
    let img = TestImage::new(2_000, 12);
    let blob = upload(&img.layer);
    assert_eq!(
        client.push_blob(&repo, &blob).await.unwrap(),
        BlobPushed::Uploaded
    );
    let pulled = client
        .read_blob(&repo, &blob.digest, None, 1 << 20)
        .await
        .unwrap();
    assert_eq!(pulled, img.layer);
}
