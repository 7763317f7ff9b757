//! Faults a real registry rarely shows on demand, from a scripted fake on loopback: a
//! connection dropped mid-blob (with and without `Range` support), 503, and 429 with
//! `Retry-After`. Each connection serves one request and closes.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::fake::{Fake, Handler, response};
use crate::harness::{TestImage, digest};
use kiln_oci::{Platform, Reference};
use kiln_registry::{Keychain, RegistryClient, RegistryOptions, Repository};

fn fast() -> RegistryOptions {
    RegistryOptions {
        retry_min_delay: Duration::from_millis(10),
        retry_max_delay: Duration::from_secs(2),
        ..Default::default()
    }
}

fn range_start(req: &str) -> Option<usize> {
    req.lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("range: bytes=")
                .map(str::to_owned)
        })
        .and_then(|r| r.trim_end_matches('-').parse().ok())
}

async fn dropped_blob_case(honour_range: bool) {
    let blob: Arc<Vec<u8>> = Arc::new(TestImage::new(100_000, 21).layer);
    let d = digest(&blob);
    let drops = Arc::new(Mutex::new(0));
    let b = Arc::clone(&blob);
    let handler: Arc<Handler> = Arc::new(move |_, req, _| {
        if req.starts_with("GET /v2/ ") {
            return response("200 OK", &[], b"", 0);
        }
        let start = if honour_range {
            range_start(req).unwrap_or(0)
        } else {
            0
        };
        let rest = &b[start..];
        let mut dropped = drops.lock().unwrap();
        if *dropped < 2 {
            // Declare everything, send 30 000 bytes, hang up.
            *dropped += 1;
            let sent = rest.len().min(30_000);
            let status = if start > 0 {
                "206 Partial Content"
            } else {
                "200 OK"
            };
            return response(status, &[], &rest[..sent], rest.len());
        }
        let status = if start > 0 {
            "206 Partial Content"
        } else {
            "200 OK"
        };
        response(status, &[], rest, rest.len())
    });
    let fake = Fake::start(handler).await;
    let client = RegistryClient::new(fast(), Keychain::anonymous());
    let repo = Repository::new(&fake.addr, "kiln/flaky");
    let mut reader = client
        .open_blob(&repo, &d, Some(blob.len() as u64))
        .await
        .unwrap();
    let mut got = Vec::new();
    while let Some(c) = reader.next_chunk().await.unwrap() {
        got.extend_from_slice(&c);
    }
    assert_eq!(got.len(), blob.len());
    assert!(got == *blob, "bytes differ after resuming");
    let ranges: Vec<Option<usize>> = fake
        .requests("/blobs/")
        .iter()
        .map(|r| range_start(r))
        .collect();
    // Without range support the restarted response repeats the first 30 000 bytes, which are
    // skipped, so the second drop happens at the same offset.
    let want = if honour_range {
        [None, Some(30_000), Some(60_000)]
    } else {
        [None, Some(30_000), Some(30_000)]
    };
    assert_eq!(ranges, want, "honour_range={honour_range}");
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn blob_resumes_with_range_after_a_dropped_connection() {
    dropped_blob_case(true).await;
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn blob_restarts_and_skips_when_the_server_ignores_range() {
    dropped_blob_case(false).await;
}

async fn manifest_after(status: &'static str, retry_after: Option<u64>) -> (Fake, Duration) {
    let img = Arc::new(TestImage::new(10, 22));
    let i = Arc::clone(&img);
    let failures = Arc::new(Mutex::new(0));
    let handler: Arc<Handler> = Arc::new(move |_, req, _| {
        if req.starts_with("GET /v2/ ") {
            return response("200 OK", &[], b"", 0);
        }
        let mut f = failures.lock().unwrap();
        if req.contains("/manifests/") && *f < 2 {
            *f += 1;
            let headers: Vec<(&str, String)> = retry_after
                .map(|s| ("Retry-After", s.to_string()))
                .into_iter()
                .collect();
            let body = br#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#;
            return response(status, &headers, body, body.len());
        }
        if req.contains("/manifests/") {
            let ct = (
                "Content-Type",
                "application/vnd.oci.image.manifest.v1+json".to_owned(),
            );
            return response("200 OK", &[ct], &i.manifest, i.manifest.len());
        }
        response("404 Not Found", &[], b"", 0)
    });
    let fake = Fake::start(handler).await;
    let client = RegistryClient::new(fast(), Keychain::anonymous());
    let reference = Reference::parse(&format!("{}/kiln/busy:1", fake.addr)).unwrap();
    let started = Instant::now();
    let image = client
        .resolve_image(&reference, &Platform::host())
        .await
        .unwrap();
    assert_eq!(image.fetched.digest, digest(&img.manifest));
    (fake, started.elapsed())
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn service_unavailable_is_retried() {
    let (fake, _) = manifest_after("503 Service Unavailable", None).await;
    assert_eq!(fake.requests("/manifests/").len(), 3);
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn too_many_requests_waits_for_retry_after() {
    let (fake, elapsed) = manifest_after("429 Too Many Requests", Some(1)).await;
    assert_eq!(fake.requests("/manifests/").len(), 3);
    assert!(elapsed >= Duration::from_secs(2), "waited only {elapsed:?}");
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn auth_failures_are_not_retried() {
    let handler: Arc<Handler> = Arc::new(|_, req, _| {
        if req.starts_with("GET /v2/ ") {
            return response("200 OK", &[], b"", 0);
        }
        let body = br#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#;
        response("403 Forbidden", &[], body, body.len())
    });
    let fake = Fake::start(handler).await;
    let client = RegistryClient::new(fast(), Keychain::anonymous());
    let reference = Reference::parse(&format!("{}/kiln/denied:1", fake.addr)).unwrap();
    let err = client
        .resolve_image(&reference, &Platform::host())
        .await
        .unwrap_err();
    assert_eq!(fake.requests("/manifests/").len(), 1);
    let text = format!("{err} {:?}", err.response());
    assert!(text.contains("DENIED"), "{text}");
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn schema1_manifest_is_refused_naming_the_reference() {
    let handler: Arc<Handler> = Arc::new(|_, req, _| {
        if req.starts_with("GET /v2/ ") {
            return response("200 OK", &[], b"", 0);
        }
        let body = br#"{"schemaVersion":1,"name":"kiln/old","tag":"1","fsLayers":[],"history":[]}"#;
        let ct = (
            "Content-Type",
            "application/vnd.docker.distribution.manifest.v1+prettyjws".to_owned(),
        );
        response("200 OK", &[ct], body, body.len())
    });
    let fake = Fake::start(handler).await;
    let client = RegistryClient::new(fast(), Keychain::anonymous());
    let reference = Reference::parse(&format!("{}/kiln/old:1", fake.addr)).unwrap();
    let err = client
        .resolve_image(&reference, &Platform::host())
        .await
        .unwrap_err();
    let source = std::error::Error::source(&err).map(ToString::to_string);
    assert!(err.to_string().contains("kiln/old:1"), "{err}");
    assert!(source.is_some_and(|s| s.contains("schema 1")), "{err:?}");
    assert_eq!(fake.requests("/manifests/").len(), 1, "not worth a retry");
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn plain_http_is_used_only_where_allowed() {
    let img = Arc::new(TestImage::new(10, 23));
    let i = Arc::clone(&img);
    let handler: Arc<Handler> = Arc::new(move |_, req, _| {
        if req.starts_with("GET /v2/ ") {
            return response("200 OK", &[], b"", 0);
        }
        let ct = (
            "Content-Type",
            "application/vnd.oci.image.manifest.v1+json".to_owned(),
        );
        response("200 OK", &[ct], &i.manifest, i.manifest.len())
    });
    // 127.0.0.2 is not covered by the loopback heuristic, so http needs a flag.
    let fake = Fake::start_on("127.0.0.2", handler).await;
    let repo = Repository::new(&fake.addr, "kiln/plain");
    let secure = RegistryClient::new(fast(), Keychain::anonymous());
    let err = secure.get_manifest(&repo, "1").await.unwrap_err();
    assert!(err.to_string().contains(&fake.addr), "{err}");
    assert!(
        fake.requests("/manifests/").is_empty(),
        "spoke http without a flag"
    );

    let cases = [
        RegistryOptions {
            insecure_registries: [fake.addr.clone()].into(),
            ..fast()
        },
        RegistryOptions {
            insecure_pull: true,
            ..fast()
        },
    ];
    for options in cases {
        let client = RegistryClient::new(options, Keychain::anonymous());
        let got = client.get_manifest(&repo, "1").await.unwrap();
        assert_eq!(got.digest, digest(&img.manifest));
    }
    // --insecure is for pushes: a pull with only that flag stays on https.
    let push_only = RegistryClient::new(
        RegistryOptions {
            insecure_push: true,
            ..fast()
        },
        Keychain::anonymous(),
    );
    assert!(push_only.get_manifest(&repo, "1").await.is_err());
}
