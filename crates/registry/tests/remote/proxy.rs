//! Faults injected by `kiln_testsupport::FaultProxy` between the client and a real
//! `docker-registry`: a connection reset mid-blob and mid-upload, 503 and 429 with
//! `Retry-After` on pull and push, a corrupted blob, and a manifest 404.

use std::time::{Duration, Instant};

use kiln_oci::{Platform, Reference};
use kiln_registry::{BlobPushed, Error, Keychain, RegistryClient, RegistryOptions, Repository};
use kiln_testsupport::{FaultProxy, Rule, Target};

use crate::harness::{TestImage, TestRegistry, read_layer, upload};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn client() -> RegistryClient {
    RegistryClient::new(
        RegistryOptions {
            retry_min_delay: Duration::from_millis(10),
            retry_max_delay: Duration::from_secs(3),
            ..Default::default()
        },
        Keychain::anonymous(),
    )
}

/// Pushes `img` as `reference` (whose registry is the proxy) and returns the layer back.
async fn push_and_pull(client: &RegistryClient, reference: &Reference, img: &TestImage) -> Vec<u8> {
    let repo = Repository::of(reference);
    client
        .push_blobs(&repo, &[upload(&img.layer), upload(&img.config)])
        .await
        .expect("pushing blobs through the proxy");
    client
        .push_manifest(std::slice::from_ref(reference), OCI_MANIFEST, &img.manifest)
        .await
        .expect("pushing the manifest through the proxy");
    let image = client
        .resolve_image(reference, &Platform::host())
        .await
        .expect("resolving through the proxy");
    read_layer(client, &image, 0).await
}

async fn setup() -> (TestRegistry, FaultProxy) {
    let reg = TestRegistry::plain();
    let proxy = FaultProxy::start(&reg.addr)
        .await
        .expect("starting the proxy");
    (reg, proxy)
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn connection_resets_mid_blob_and_mid_upload_are_survived() {
    let (_reg, proxy) = setup().await;
    proxy.add(Rule::reset_mid_upload(40_000).times(1));
    proxy.add(Rule::reset_mid_blob(None, 50_000).times(1));
    let reference = Reference::parse(&format!("{}/kiln/resets:1", proxy.host())).unwrap();
    let img = TestImage::new(200_000, 51);
    assert_eq!(push_and_pull(&client(), &reference, &img).await, img.layer);
    assert_eq!(proxy.faults().len(), 2, "{:?}", proxy.faults());
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn unavailable_and_rate_limited_registries_are_retried_both_ways() {
    let (_reg, proxy) = setup().await;
    proxy.add(Rule::unavailable(Target::Upload).times(1));
    proxy.add(Rule::too_many_requests(Target::Manifest(None), 1).times(2));
    proxy.add(Rule::unavailable(Target::Blob(None)).times(1));
    let reference = Reference::parse(&format!("{}/kiln/busy:1", proxy.host())).unwrap();
    let img = TestImage::new(30_000, 52);
    let started = Instant::now();
    assert_eq!(push_and_pull(&client(), &reference, &img).await, img.layer);
    assert_eq!(proxy.faults().len(), 4, "{:?}", proxy.faults());
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After was not honoured"
    );
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn corrupted_blob_through_the_proxy_is_a_digest_mismatch() {
    let (_reg, proxy) = setup().await;
    let repo = Repository::new(&proxy.host(), "kiln/corrupt");
    let img = TestImage::new(8_000, 53);
    let blob = upload(&img.layer);
    assert_eq!(
        client().push_blob(&repo, &blob).await.unwrap(),
        BlobPushed::Uploaded
    );
    proxy.add(Rule::corrupt_blob(Some(blob.digest.as_str())));
    let err = client()
        .read_blob(&repo, &blob.digest, Some(blob.size), 1 << 20)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains(blob.digest.as_str()), "{err}");
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn manifest_404_through_the_proxy_names_the_reference() {
    let (_reg, proxy) = setup().await;
    proxy.add(Rule::manifest_not_found(None));
    let reference = Reference::parse(&format!("{}/kiln/gone:v9", proxy.host())).unwrap();
    let err = client()
        .resolve_image(&reference, &Platform::host())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ManifestUnknown { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("manifest unknown") && text.contains("kiln/gone:v9"),
        "{text}"
    );
}
