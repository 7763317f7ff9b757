//! Bearer-token behaviour against the scripted fake: one token for pull, push and mount
//! scopes, a new token after a 401 and after expiry, no `Authorization` header sent to a
//! redirected storage host, uploads retried with their file body rebuilt, and immutable-tag
//! refusals ignored only when asked.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use kiln_oci::{Platform, Reference};
use kiln_registry::{
    BlobPushed, BlobSource, BlobUpload, ConfigLocations, Keychain, ManifestPushed, RegistryClient,
    RegistryOptions, Repository,
};

use crate::fake::{Fake, Handler, response};
use crate::harness::{TestImage, digest, keychain};

const USER: &str = "fake-user";
const PASSWORD: &str = "fake-password";
const IDENTITY_TOKEN: &str = "fake-refresh-token";

/// How the fake token registry behaves.
#[derive(Clone, Copy)]
struct Script {
    /// `expires_in` of issued tokens.
    expires_in: u64,
    /// Registry requests answered 401 (with a fresh challenge) before tokens are accepted.
    reject_first: usize,
}

impl Default for Script {
    /// Long-lived tokens, accepted at once.
    fn default() -> Self {
        Self {
            expires_in: 300,
            reject_first: 0,
        }
    }
}

struct TokenFake {
    fake: Fake,
    img: Arc<TestImage>,
    /// Scope query strings of each token request.
    token_requests: Arc<Mutex<Vec<String>>>,
}

fn options() -> RegistryOptions {
    RegistryOptions {
        retry_min_delay: Duration::from_millis(10),
        retry_max_delay: Duration::from_millis(100),
        ..Default::default()
    }
}

fn header<'a>(req: &'a str, name: &str) -> Option<&'a str> {
    req.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

async fn start(script: Script) -> TokenFake {
    let img = Arc::new(TestImage::new(5_000, 31));
    let addr: Arc<OnceLock<String>> = Arc::new(OnceLock::new());
    let token_requests = Arc::new(Mutex::new(Vec::new()));
    let issued = Arc::new(Mutex::new(0usize));
    let rejected = Arc::new(Mutex::new(0usize));
    let put_attempts = Arc::new(Mutex::new(0usize));
    let (a, i, t) = (
        Arc::clone(&addr),
        Arc::clone(&img),
        Arc::clone(&token_requests),
    );
    let handler: Arc<Handler> = Arc::new(move |_, req, body| {
        let host = a.get().cloned().unwrap_or_default();
        let challenge = (
            "WWW-Authenticate",
            format!(r#"Bearer realm="http://{host}/token",service="fake""#),
        );
        let line = req.lines().next().unwrap_or_default().to_owned();
        if line.starts_with("GET /token?") {
            use base64::Engine;
            let basic =
                base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
            if header(req, "authorization") != Some(&format!("Basic {basic}")) {
                return response("401 Unauthorized", &[], b"", 0);
            }
            t.lock().unwrap().push(line.clone());
            let mut n = issued.lock().unwrap();
            *n += 1;
            let body = format!(
                r#"{{"token":"tok-{n}","expires_in":{}}}"#,
                script.expires_in
            );
            return response("200 OK", &[], body.as_bytes(), body.len());
        }
        if line.starts_with("POST /token ") {
            let form = String::from_utf8_lossy(body);
            let ok = form.contains("grant_type=refresh_token")
                && form.contains(&format!("refresh_token={IDENTITY_TOKEN}"))
                && form.contains("service=fake");
            if !ok {
                return response("401 Unauthorized", &[], b"", 0);
            }
            t.lock().unwrap().push(format!("{line} {form}"));
            let body = format!(
                r#"{{"access_token":"tok-oauth","expires_in":{}}}"#,
                script.expires_in
            );
            return response("200 OK", &[], body.as_bytes(), body.len());
        }
        if line.starts_with("GET /storage/") {
            let layer = &i.layer;
            return response("200 OK", &[], layer, layer.len());
        }
        let bearer = header(req, "authorization").is_some_and(|h| h.starts_with("Bearer tok-"));
        if line.starts_with("GET /v2/ ") || !bearer {
            let body =
                br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
            return response("401 Unauthorized", &[challenge], body, body.len());
        }
        {
            let mut r = rejected.lock().unwrap();
            if *r < script.reject_first {
                *r += 1;
                return response("401 Unauthorized", &[challenge], b"", 0);
            }
        }
        let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
        let method = line.split(' ').next().unwrap_or_default();
        match method {
            "GET" if path.contains("/manifests/") => {
                let ct = (
                    "Content-Type",
                    "application/vnd.oci.image.manifest.v1+json".to_owned(),
                );
                response("200 OK", &[ct], &i.manifest, i.manifest.len())
            }
            "GET" if path.contains("/blobs/") => {
                let loc = ("Location", format!("http://{host}/storage/blob?sig=secret"));
                response("307 Temporary Redirect", &[loc], b"", 0)
            }
            "HEAD" if path.contains("/blobs/") && path.contains(&digest(&i.config).hex()[..12]) => {
                let loc = ("Location", format!("http://{host}/storage/config"));
                response("307 Temporary Redirect", &[loc], b"", 0)
            }
            "HEAD" if path.contains("/blobs/") => response("404 Not Found", &[], b"", 0),
            "POST" if path.contains("mount=") => response("201 Created", &[], b"", 0),
            "POST" if path.contains("/blobs/uploads/") => {
                let loc = ("Location", "/v2/upload/1".to_owned());
                response("202 Accepted", &[loc], b"", 0)
            }
            "PUT" if path.starts_with("/v2/upload/1") => {
                let mut n = put_attempts.lock().unwrap();
                *n += 1;
                if *n == 1 {
                    return response("503 Service Unavailable", &[], b"", 0);
                }
                if body.len() != i.layer.len() || body != i.layer.as_slice() {
                    return response("400 Bad Request", &[], b"", 0);
                }
                response("201 Created", &[], b"", 0)
            }
            "PUT" if path.contains("/manifests/") => {
                let body = br#"{"errors":[{"code":"MANIFEST_INVALID","message":"The repository has enabled tag immutability"}]}"#;
                response("400 Bad Request", &[], body, body.len())
            }
            _ => response("404 Not Found", &[], b"", 0),
        }
    });
    let fake = Fake::start(handler).await;
    let _ = addr.set(fake.addr.clone());
    TokenFake {
        fake,
        img,
        token_requests,
    }
}

fn client(f: &TokenFake, dir: &std::path::Path, options: RegistryOptions) -> RegistryClient {
    RegistryClient::new(options, keychain(dir, &f.fake.addr, USER, PASSWORD))
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn token_is_refreshed_after_a_401() {
    let f = start(Script {
        expires_in: 300,
        reject_first: 1,
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let c = client(&f, dir.path(), options());
    let reference = Reference::parse(&format!("{}/team/app:1", f.fake.addr)).unwrap();
    let image = c
        .resolve_image(&reference, &Platform::host())
        .await
        .unwrap();
    assert_eq!(image.fetched.digest, digest(&f.img.manifest));
    assert_eq!(f.token_requests.lock().unwrap().len(), 2);
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn tokens_are_reused_until_they_expire() {
    for (expires_in, want) in [(300, 1), (1, 2)] {
        let f = start(Script {
            expires_in,
            reject_first: 0,
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let c = client(&f, dir.path(), options());
        let repo = Repository::new(&f.fake.addr, "team/app");
        c.get_manifest(&repo, "1").await.unwrap();
        c.get_manifest(&repo, "1").await.unwrap();
        assert_eq!(
            f.token_requests.lock().unwrap().len(),
            want,
            "expires_in={expires_in}"
        );
    }
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn mount_asks_one_token_for_push_and_the_source_pull() {
    let f = start(Script::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let c = client(&f, dir.path(), options());
    let target = Repository::new(&f.fake.addr, "team/app");
    let upload = BlobUpload {
        digest: digest(&f.img.layer),
        size: f.img.layer.len() as u64,
        source: BlobSource::Bytes(Bytes::from(f.img.layer.clone())),
        mount_from: vec![Repository::new(&f.fake.addr, "base/img")],
    };
    assert_eq!(
        c.push_blob(&target, &upload).await.unwrap(),
        BlobPushed::Mounted
    );
    let requests = f.token_requests.lock().unwrap().clone();
    let with_both = requests
        .iter()
        .find(|r| r.contains("base%2Fimg"))
        .expect("a mount token");
    assert!(
        with_both.contains("scope=repository%3Abase%2Fimg%3Apull")
            && with_both.contains("scope=repository%3Ateam%2Fapp%3Apull%2Cpush"),
        "{with_both}"
    );
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn redirected_blob_download_carries_no_authorization() {
    let f = start(Script::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let c = client(&f, dir.path(), options());
    let repo = Repository::new(&f.fake.addr, "team/app");
    let got = c
        .read_blob(&repo, &digest(&f.img.layer), None, 1 << 20)
        .await
        .unwrap();
    assert_eq!(got, f.img.layer);
    let storage = f.fake.requests("GET /storage/");
    assert_eq!(storage.len(), 1);
    assert!(
        header(&storage[0], "authorization").is_none(),
        "{}",
        storage[0]
    );
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn upload_after_503_is_retried_with_the_file_body_rebuilt() {
    let f = start(Script::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("layer");
    std::fs::write(&path, &f.img.layer).unwrap();
    let c = client(&f, dir.path(), options());
    let repo = Repository::new(&f.fake.addr, "team/app");
    let upload = BlobUpload {
        digest: digest(&f.img.layer),
        size: f.img.layer.len() as u64,
        source: BlobSource::File(path),
        mount_from: vec![],
    };
    assert_eq!(
        c.push_blob(&repo, &upload).await.unwrap(),
        BlobPushed::Uploaded
    );
    assert_eq!(f.fake.requests("PUT /v2/upload/1").len(), 2);
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn immutable_tag_refusal_is_ignored_only_when_asked() {
    let f = start(Script::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let reference = Reference::parse(&format!("{}/team/app:v1", f.fake.addr)).unwrap();
    let media = "application/vnd.oci.image.manifest.v1+json";
    let strict = client(&f, dir.path(), options());
    let err = strict
        .push_manifest(std::slice::from_ref(&reference), media, &f.img.manifest)
        .await
        .unwrap_err();
    assert!(
        err.response().is_some_and(|r| r.is_immutable_tag()),
        "{err}"
    );
    let lenient = client(
        &f,
        dir.path(),
        RegistryOptions {
            push_ignore_immutable_tag_errors: true,
            ..options()
        },
    );
    let pushed = lenient
        .push_manifest(std::slice::from_ref(&reference), media, &f.img.manifest)
        .await
        .unwrap();
    assert_eq!(
        pushed,
        [ManifestPushed::ImmutableTagIgnored(digest(&f.img.manifest))]
    );
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn identity_token_is_exchanged_with_an_oauth2_refresh_grant() {
    let f = start(Script::default()).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{"auth":"PHRva2VuPjo=","identitytoken":"{IDENTITY_TOKEN}"}}}}}}"#,
            f.fake.addr
        ),
    )
    .unwrap();
    let kc = Keychain::load(&ConfigLocations {
        docker_config: Some(dir.path().to_owned()),
        ..Default::default()
    })
    .unwrap();
    let c = RegistryClient::new(options(), kc);
    c.get_manifest(&Repository::new(&f.fake.addr, "team/app"), "1")
        .await
        .unwrap();
    let requests = f.token_requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(requests[0].starts_with("POST /token "), "{requests:?}");
    assert!(
        requests[0].contains("scope=repository%3Ateam%2Fapp%3Apull"),
        "{requests:?}"
    );
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn blob_head_redirected_to_storage_counts_as_present() {
    let f = start(Script::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let c = client(&f, dir.path(), options());
    let repo = Repository::new(&f.fake.addr, "team/app");
    assert!(c.blob_exists(&repo, &digest(&f.img.config)).await.unwrap());
    assert!(!c.blob_exists(&repo, &digest(&f.img.layer)).await.unwrap());
}
