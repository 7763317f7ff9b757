//! The fault proxy does each fault to the requests its rules name, and nothing to the others.
//!
//! Most tests run against a small in-process upstream on loopback and need nothing else; the
//! last one goes through the real plain registry and needs `scripts/testenv up`.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use aws_lc_rs::digest::{SHA256, digest};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use kiln_testsupport::proxy::{Fault, Rule, Target};
use kiln_testsupport::{FaultProxy, env};
use tokio::net::TcpListener;

const BLOB_LEN: usize = 1 << 20;

fn blob() -> Vec<u8> {
    (0..BLOB_LEN).map(|i| (i % 251) as u8).collect()
}

fn blob_digest() -> String {
    format!("sha256:{}", hex::encode(digest(&SHA256, &blob())))
}

/// An upstream that serves one blob, one manifest, echoes `Host` on `/v2/`, and records the
/// paths and body sizes of the requests that reach it.
async fn upstream() -> (String, Arc<Mutex<Vec<(String, usize)>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let reached = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&reached);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let log = Arc::clone(&log);
                    async move {
                        let path = req.uri().path().to_owned();
                        let host = req
                            .headers()
                            .get("host")
                            .and_then(|h| h.to_str().ok())
                            .unwrap_or("")
                            .to_owned();
                        let body = req.into_body().collect().await.map(|b| b.to_bytes());
                        let size = body.map(|b| b.len()).unwrap_or(0);
                        log.lock().expect("log").push((path.clone(), size));
                        let body = if path == "/v2/" {
                            Bytes::from(host)
                        } else if path.contains("/blobs/sha256:") {
                            Bytes::from(blob())
                        } else if path.contains("/manifests/") {
                            Bytes::from_static(b"{\"schemaVersion\":2}")
                        } else {
                            Bytes::from(size.to_string())
                        };
                        Ok::<_, Infallible>(Response::new(Full::new(body)))
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, reached)
}

async fn setup() -> (FaultProxy, Arc<Mutex<Vec<(String, usize)>>>, String) {
    let (addr, reached) = upstream().await;
    let proxy = FaultProxy::start(&addr).await.expect("proxy starts");
    let base = format!("http://{}", proxy.host());
    (proxy, reached, base)
}

#[tokio::test]
async fn requests_without_a_rule_pass_unchanged_with_their_host() {
    let (proxy, _, base) = setup().await;
    let client = reqwest::Client::new();
    let host = client.get(format!("{base}/v2/")).send().await.expect("GET");
    assert_eq!(host.text().await.expect("body"), proxy.host());
    let body = client
        .get(format!("{base}/v2/x/blobs/{}", blob_digest()))
        .send()
        .await
        .expect("GET blob")
        .bytes()
        .await
        .expect("whole body");
    assert_eq!(body.as_ref(), blob().as_slice());
    assert!(proxy.faults().is_empty());
}

#[tokio::test]
async fn reset_mid_blob_cuts_the_body_once() {
    let (proxy, _, base) = setup().await;
    proxy.add(Rule::reset_mid_blob(Some(&blob_digest()), 4096).times(1));
    let client = reqwest::Client::new();
    let url = format!("{base}/v2/x/blobs/{}", blob_digest());

    let mut first = client.get(&url).send().await.expect("headers arrive");
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.content_length(), Some(BLOB_LEN as u64));
    let mut received = 0;
    let error = loop {
        match first.chunk().await {
            Ok(Some(chunk)) => received += chunk.len(),
            Ok(None) => panic!("the body ended cleanly after {received} bytes"),
            Err(e) => break e,
        }
    };
    assert_eq!(received, 4096, "the bytes before the cut arrive");
    assert!(error.is_body() || error.is_decode(), "{error:?}");

    let second = client.get(&url).send().await.expect("GET again");
    assert_eq!(second.bytes().await.expect("whole body").len(), BLOB_LEN);
    assert_eq!(proxy.faults().len(), 1);
}

#[tokio::test]
async fn status_rules_answer_without_the_registry_then_stop() {
    let (proxy, reached, base) = setup().await;
    proxy.add(Rule::unavailable(Target::Manifest(None)).times(2));
    proxy.add(Rule::too_many_requests(Target::Manifest(None), 3).times(1));
    let client = reqwest::Client::new();
    let url = format!("{base}/v2/x/manifests/latest");

    let mut statuses = Vec::new();
    let mut retry_after = Vec::new();
    for _ in 0..4 {
        let response = client.get(&url).send().await.expect("GET");
        statuses.push(response.status().as_u16());
        retry_after.push(
            response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        );
    }
    assert_eq!(statuses, [503, 503, 429, 200]);
    assert_eq!(retry_after, [None, None, Some("3".to_owned()), None]);
    let reached = reached.lock().expect("log").len();
    assert_eq!(reached, 1, "only the last request reaches the registry");
}

#[tokio::test]
async fn corrupt_blob_keeps_the_length_and_breaks_the_digest() {
    let (proxy, _, base) = setup().await;
    proxy.add(Rule::corrupt_blob(None));
    let body = reqwest::get(format!("{base}/v2/x/blobs/{}", blob_digest()))
        .await
        .expect("GET")
        .bytes()
        .await
        .expect("whole body");
    assert_eq!(body.len(), BLOB_LEN);
    let actual = format!("sha256:{}", hex::encode(digest(&SHA256, &body)));
    assert_ne!(actual, blob_digest());
}

#[tokio::test]
async fn manifest_not_found_names_the_reference() {
    let (proxy, _, base) = setup().await;
    proxy.add(Rule::manifest_not_found(Some("gone")));
    let client = reqwest::Client::new();

    let gone = client
        .get(format!("{base}/v2/team/app/manifests/gone"))
        .send()
        .await
        .expect("GET");
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = gone.json().await.expect("JSON error");
    assert_eq!(body["errors"][0]["code"], "MANIFEST_UNKNOWN");
    assert_eq!(body["errors"][0]["detail"]["Name"], "team/app");
    assert_eq!(body["errors"][0]["detail"]["Revision"], "gone");

    let other = client
        .get(format!("{base}/v2/team/app/manifests/latest"))
        .send()
        .await
        .expect("GET");
    assert_eq!(other.status(), StatusCode::OK);
}

#[tokio::test]
async fn reset_mid_upload_drops_the_connection_before_the_registry() {
    let (proxy, reached, base) = setup().await;
    proxy.add(Rule::reset_mid_upload(64 * 1024).times(1));
    let client = reqwest::Client::new();
    let url = format!("{base}/v2/x/blobs/uploads/1");

    let error = client
        .patch(&url)
        .body(blob())
        .send()
        .await
        .expect_err("the connection is dropped");
    assert!(!error.is_status(), "{error:?}");
    assert!(reached.lock().expect("log").is_empty());

    let retried = client.patch(&url).body(blob()).send().await.expect("PATCH");
    assert_eq!(retried.text().await.expect("body"), BLOB_LEN.to_string());
    let seen = proxy.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].fault, Some(Fault::ResetAfter(64 * 1024)));
    assert_eq!(seen[0].status, None);
    assert_eq!(seen[1].status, Some(200));
}

#[tokio::test]
async fn concurrent_requests_are_each_recorded_with_their_own_status() {
    let (proxy, _, base) = setup().await;
    proxy.add(Rule::unavailable(Target::Manifest(None)).times(4));
    let client = reqwest::Client::new();
    let requests = (0..8).map(|i| {
        let url = if i % 2 == 0 {
            format!("{base}/v2/x/manifests/latest")
        } else {
            format!("{base}/v2/x/blobs/{}", blob_digest())
        };
        let client = client.clone();
        tokio::spawn(async move { client.get(url).send().await.map(|r| r.status().as_u16()) })
    });
    for request in requests.collect::<Vec<_>>() {
        request.await.expect("task").expect("response");
    }
    let seen = proxy.seen();
    assert_eq!(seen.len(), 8);
    for s in &seen {
        let want = if s.fault.is_some() { 503 } else { 200 };
        assert_eq!(s.status, Some(want), "{s:?}");
        assert_eq!(s.fault.is_some(), s.uri.contains("/manifests/"), "{s:?}");
    }
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn reset_mid_blob_through_the_real_registry() {
    let env = env();
    let proxy = FaultProxy::start(&env.registry).await.expect("proxy");
    let base = format!("http://{}/v2/busybox", proxy.host());
    let client = reqwest::Client::new();
    let manifest: serde_json::Value = client
        .get(format!("{base}/manifests/latest"))
        .header(
            "accept",
            "application/vnd.docker.distribution.manifest.v2+json",
        )
        .send()
        .await
        .expect("GET manifest")
        .json()
        .await
        .expect("manifest JSON");
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .expect("a layer")
        .to_owned();
    proxy.add(Rule::reset_mid_blob(Some(&layer), 100_000).times(1));

    let cut = client
        .get(format!("{base}/blobs/{layer}"))
        .send()
        .await
        .expect("headers");
    cut.bytes().await.expect_err("the body is cut");
    let whole = client
        .get(format!("{base}/blobs/{layer}"))
        .send()
        .await
        .expect("GET again")
        .bytes()
        .await
        .expect("whole body");
    assert_eq!(
        format!("sha256:{}", hex::encode(digest(&SHA256, &whole))),
        layer
    );
}
