//! The test environment answers as the other tests expect: anonymous pulls on the plain
//! registry, basic auth behind TLS, the bearer-token flow, the four base images, and the
//! registry log lines that show a cross-repo mount.
//!
//! Needs `scripts/testenv up`; run with `cargo test -p kiln-testsupport -- --include-ignored`.

use std::collections::BTreeMap;
use std::process::Command;

use aws_lc_rs::digest::{SHA256, digest};
use kiln_testsupport::log::Mount;
use kiln_testsupport::{RegistryLog, TestEnv, env};
use reqwest::{Client, StatusCode, header};

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const ACCEPT_ALL: &str = "application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

fn tls_client(env: &TestEnv) -> Client {
    let pem = std::fs::read(&env.tls_ca)
        .unwrap_or_else(|e| panic!("reading {}: {e}", env.tls_ca.display()));
    let ca = reqwest::Certificate::from_pem(&pem).expect("the test CA is PEM");
    Client::builder()
        .add_root_certificate(ca)
        .build()
        .expect("client")
}

/// `Bearer realm="..",service="..",scope=".."` → its parameters.
fn challenge(value: &str) -> (String, BTreeMap<String, String>) {
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let mut params = BTreeMap::new();
    for part in rest.split("\",") {
        if let Some((k, v)) = part.split_once('=') {
            params.insert(k.trim().to_owned(), v.trim_matches('"').to_owned());
        }
    }
    (scheme.to_owned(), params)
}

fn www_authenticate(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn plain_registry_serves_busybox_anonymously_with_verified_blobs() {
    let env = env();
    let client = Client::new();
    let base = format!("http://{}/v2", env.registry);
    let ping = client
        .get(format!("{base}/"))
        .send()
        .await
        .expect("GET /v2/");
    assert_eq!(ping.status(), StatusCode::OK);

    let manifest = client
        .get(format!("{base}/busybox/manifests/latest"))
        .header(header::ACCEPT, ACCEPT_ALL)
        .send()
        .await
        .expect("GET manifest");
    assert_eq!(manifest.status(), StatusCode::OK);
    assert_eq!(manifest.headers()[header::CONTENT_TYPE], DOCKER_MANIFEST);
    let manifest: serde_json::Value = manifest.json().await.expect("manifest JSON");
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1, "busybox has one layer: {manifest}");

    let layer_digest = layers[0]["digest"].as_str().expect("digest");
    let blob = client
        .get(format!("{base}/busybox/blobs/{layer_digest}"))
        .send()
        .await
        .expect("GET blob")
        .bytes()
        .await
        .expect("blob body");
    let actual = format!("sha256:{}", hex::encode(digest(&SHA256, &blob)));
    assert_eq!(actual, layer_digest);
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn tls_registry_wants_basic_credentials() {
    let env = env();
    let client = tls_client(&env);
    let url = format!("https://{}/v2/", env.tls_registry);

    let anonymous = client.get(&url).send().await.expect("GET /v2/");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let (scheme, _) = challenge(&www_authenticate(&anonymous));
    assert_eq!(scheme, "Basic");

    let wrong = client
        .get(&url)
        .basic_auth(&env.tls_user, Some("not-the-password"))
        .send()
        .await
        .expect("GET /v2/ with a wrong password");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let right = client
        .get(&url)
        .basic_auth(&env.tls_user, Some(&env.tls_password))
        .send()
        .await
        .expect("GET /v2/ with credentials");
    assert_eq!(right.status(), StatusCode::OK);
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn tls_registry_is_refused_without_its_ca() {
    let env = env();
    let error = Client::new()
        .get(format!("https://{}/v2/", env.tls_registry))
        .send()
        .await
        .expect_err("the generated CA is not in the system store");
    assert!(error.is_connect(), "{error:?}");
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn token_registry_accepts_tokens_from_its_realm() {
    let env = env();
    let client = Client::new();
    let base = format!("http://{}/v2", env.token_registry);

    let ping = client
        .get(format!("{base}/"))
        .send()
        .await
        .expect("GET /v2/");
    assert_eq!(ping.status(), StatusCode::UNAUTHORIZED);
    let (scheme, params) = challenge(&www_authenticate(&ping));
    assert_eq!(scheme, "Bearer");
    let realm = params.get("realm").expect("realm in the challenge");
    let service = params.get("service").expect("service in the challenge");
    if let Some(server) = &env.token_server {
        assert_eq!(realm, &format!("http://{server}/token"));
    }
    if let Some(published) = &env.token_service {
        assert_eq!(service, published);
    }

    let repo = "kiln-testenv/token";
    let scope = format!("repository:{repo}:pull,push");
    let token_for = |user: Option<(&str, &str)>| {
        // Scopes and service names are query-safe as they are (`:`, `/` and `,` allowed).
        let mut req = client.get(format!("{realm}?service={service}&scope={scope}"));
        if let Some((u, p)) = user {
            req = req.basic_auth(u, Some(p));
        }
        req.send()
    };

    let wrong = token_for(Some((&env.token_user, "not-the-password")))
        .await
        .expect("token request");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let anonymous: serde_json::Value = token_for(None)
        .await
        .expect("anonymous token request")
        .json()
        .await
        .expect("token JSON");
    let anonymous = anonymous["token"].as_str().expect("token").to_owned();
    let denied = client
        .get(format!("{base}/{repo}/tags/list"))
        .bearer_auth(&anonymous)
        .send()
        .await
        .expect("GET tags anonymously");
    assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);

    let granted: serde_json::Value = token_for(Some((&env.token_user, &env.token_password)))
        .await
        .expect("token request")
        .json()
        .await
        .expect("token JSON");
    let token = granted["token"].as_str().expect("token");
    assert!(granted["expires_in"].as_u64().unwrap_or(0) > 0, "{granted}");

    // Push a small blob (POST, then a monolithic PUT) and read it back: push and pull both
    // pass the registry's token check.
    let blob = b"kiln token registry check";
    let blob_digest = format!("sha256:{}", hex::encode(digest(&SHA256, blob)));
    let started = client
        .post(format!("{base}/{repo}/blobs/uploads/"))
        .bearer_auth(token)
        .send()
        .await
        .expect("start upload");
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let location = started.headers()[header::LOCATION]
        .to_str()
        .expect("ascii Location")
        .to_owned();
    let separator = if location.contains('?') { '&' } else { '?' };
    let upload = client
        .put(format!("{location}{separator}digest={blob_digest}"))
        .bearer_auth(token)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(blob.to_vec())
        .send()
        .await
        .expect("monolithic upload");
    assert_eq!(upload.status(), StatusCode::CREATED);
    let read = client
        .get(format!("{base}/{repo}/blobs/{blob_digest}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET blob");
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(read.bytes().await.expect("body").as_ref(), blob);

    // The token is scoped to its repository.
    let other = client
        .get(format!("{base}/kiln-testenv/other/tags/list"))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET another repository");
    assert_eq!(other.status(), StatusCode::UNAUTHORIZED);
}

/// `skopeo inspect` against the plain registry, parsed.
fn skopeo_inspect(env: &TestEnv, args: &[&str], image: &str) -> serde_json::Value {
    let output = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false"])
        .args(args)
        .arg(format!("docker://{}/{image}", env.registry))
        .output()
        .expect("skopeo runs (apt-get install skopeo)");
    assert!(
        output.status.success(),
        "skopeo inspect {args:?} {image}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("skopeo prints JSON")
}

#[test]
#[ignore = "needs the test environment"]
fn base_images_are_in_the_plain_registry() {
    let env = env();
    let cases: &[(&str, &str, usize)] = &[
        ("busybox:latest", DOCKER_MANIFEST, 1),
        ("busybox-oci:latest", OCI_MANIFEST, 1),
        ("debian:bookworm", DOCKER_MANIFEST, 3),
    ];
    for (image, media_type, layers) in cases {
        let raw = skopeo_inspect(&env, &["--raw"], image);
        assert_eq!(raw["mediaType"], *media_type, "{image}");
        assert_eq!(
            raw["layers"].as_array().map(Vec::len),
            Some(*layers),
            "{image}"
        );
        let config = skopeo_inspect(&env, &["--config"], image);
        assert_eq!(config["architecture"], "amd64", "{image}");
        assert_eq!(config["os"], "linux", "{image}");
    }

    let index = skopeo_inspect(&env, &["--raw"], "multiarch:latest");
    assert_eq!(index["mediaType"], OCI_INDEX);
    let platforms: Vec<String> = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|m| {
            let p = &m["platform"];
            format!(
                "{}/{}{}",
                p["os"].as_str().unwrap_or(""),
                p["architecture"].as_str().unwrap_or(""),
                p["variant"]
                    .as_str()
                    .map(|v| format!("/{v}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64/v8"]);
    for (arch, variant) in [("amd64", None), ("arm64", Some("v8"))] {
        let config = skopeo_inspect(
            &env,
            &["--config", "--override-arch", arch],
            "multiarch:latest",
        );
        assert_eq!(config["architecture"], arch);
        assert_eq!(config["variant"].as_str(), variant);
    }
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn plain_registry_logs_cross_repo_mounts() {
    let env = env();
    let client = Client::new();
    let base = format!("http://{}/v2", env.registry);
    let manifest: serde_json::Value = client
        .get(format!("{base}/busybox/manifests/latest"))
        .header(header::ACCEPT, DOCKER_MANIFEST)
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

    let log = RegistryLog::from_now(&env.registry_log).expect("the plain registry's log");
    let mounted = client
        .post(format!(
            "{base}/kiln-testenv/mounted/blobs/uploads/?mount={layer}&from=busybox"
        ))
        .send()
        .await
        .expect("POST mount");
    assert_eq!(mounted.status(), StatusCode::CREATED);

    // The registry writes the line after the response; give it a moment.
    let mut mounts = Vec::new();
    for _ in 0..50 {
        mounts = log.mounts().expect("read the log");
        if !mounts.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        mounts,
        [Mount {
            repository: "kiln-testenv/mounted".into(),
            digest: layer,
            from: "busybox".into(),
            status: 201,
        }]
    );
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn token_realm_serves_oauth2_password_and_refresh_grants() {
    let env = env();
    let client = Client::new();
    let base = format!("http://{}/v2", env.token_registry);
    let ping = client
        .get(format!("{base}/"))
        .send()
        .await
        .expect("GET /v2/");
    let (_, params) = challenge(&www_authenticate(&ping));
    let realm = params.get("realm").expect("realm");
    let service = params.get("service").expect("service");
    let scope = "repository:kiln-testenv/oauth:pull";

    let form = |fields: &[(&str, &str)]| {
        fields
            .iter()
            .map(|(k, v)| format!("{k}={}", v.replace(' ', "+")))
            .collect::<Vec<_>>()
            .join("&")
    };
    let password: serde_json::Value = client
        .post(realm)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(&[
            ("grant_type", "password"),
            ("username", &env.token_user),
            ("password", &env.token_password),
            ("service", service),
            ("scope", scope),
            ("client_id", "kiln-tests"),
            ("access_type", "offline"),
        ]))
        .send()
        .await
        .expect("password grant")
        .json()
        .await
        .expect("token JSON");
    let refresh = password["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("a refresh token in {password}"));

    let refreshed: serde_json::Value = client
        .post(realm)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("service", service),
            ("scope", scope),
            ("client_id", "kiln-tests"),
        ]))
        .send()
        .await
        .expect("refresh grant")
        .json()
        .await
        .expect("token JSON");
    let token = refreshed["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("an access token in {refreshed}"));

    // Authorised: the repository does not exist yet, which is 404, not 401.
    let tags = client
        .get(format!("{base}/kiln-testenv/oauth/tags/list"))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET tags");
    assert_eq!(tags.status(), StatusCode::NOT_FOUND);
}
