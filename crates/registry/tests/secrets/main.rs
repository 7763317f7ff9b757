//! Secrets never reach a log line: every flow that handles credentials runs under a global
//! subscriber at TRACE (with the `log` bridge, so reqwest's and hyper's own records are caught
//! too), and the captured text must not hold a password, a token or an `Authorization` value.
//! One test in its own binary, so the global subscriber sees nothing else.

#[path = "../remote/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use harness::{TestImage, TestRegistry, digest, keychain};
use kiln_oci::{Platform, Reference};
use kiln_registry::{BlobSource, BlobUpload, RegistryClient, RegistryOptions, Repository};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn exercise(client: &RegistryClient, registry: &str, repo: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let repository = Repository::new(registry, repo);
    if let Err(e) = client.check_push_permission(&repository).await {
        errors.push(format!("{e} {e:?} {}", e.hint().unwrap_or_default()));
    }
    let img = TestImage::new(2_000, 41);
    let blob = BlobUpload {
        digest: digest(&img.layer),
        size: img.layer.len() as u64,
        source: BlobSource::Bytes(Bytes::from(img.layer.clone())),
        mount_from: vec![Repository::new(registry, "other/repo")],
    };
    if let Err(e) = client.push_blob(&repository, &blob).await {
        errors.push(format!("{e} {e:?}"));
    }
    let reference = Reference::parse(&format!("{registry}/{repo}:missing")).unwrap();
    if let Err(e) = client.resolve_image(&reference, &Platform::host()).await {
        errors.push(format!("{e} {e:?}"));
    }
    errors
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn no_secret_in_logs_or_errors_at_trace_level() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .try_init()
        .expect("installing the global subscriber");

    let options = RegistryOptions {
        retry_min_delay: Duration::from_millis(5),
        retry_max_delay: Duration::from_millis(20),
        ..Default::default()
    };
    let (reg, tls) = TestRegistry::tls();
    let dir = tempfile::tempdir().unwrap();
    let mut secrets = vec![tls.password.to_owned(), "wrong-Pa55word".to_owned()];
    let mut errors = Vec::new();
    for password in [tls.password, "wrong-Pa55word"] {
        let client = RegistryClient::new(
            RegistryOptions {
                certificates: [(reg.addr.clone(), tls.ca.clone())].into(),
                ..options.clone()
            },
            keychain(dir.path(), &reg.addr, tls.user, password),
        );
        errors.extend(exercise(&client, &reg.addr, "kiln/secrets").await);
    }
    // The bearer-token registry of the shared environment, when it runs.
    if let (Ok(addr), Ok(user), Ok(password)) = (
        std::env::var("KILN_TEST_TOKEN_REGISTRY"),
        std::env::var("KILN_TEST_TOKEN_USER"),
        std::env::var("KILN_TEST_TOKEN_PASSWORD"),
    ) {
        secrets.push(password.clone());
        let client = RegistryClient::new(
            options.clone(),
            keychain(dir.path(), &addr, &user, &password),
        );
        errors.extend(exercise(&client, &addr, "kiln-secrets/app").await);
    }

    let logs = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
    assert!(
        logs.len() > 1000,
        "the subscriber captured almost nothing:\n{logs}"
    );
    let haystack = format!("{logs}\n{}", errors.join("\n"));
    for secret in &secrets {
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{secret}", tls.user));
        assert!(!haystack.contains(secret.as_str()), "a password leaked");
        assert!(!haystack.contains(&basic), "a basic auth header leaked");
    }
    let lower = haystack.to_lowercase();
    for needle in [
        "authorization: basic",
        "authorization: bearer",
        "bearer ey",
        "\"token\":",
    ] {
        assert!(
            !lower.contains(needle),
            "{needle:?} appears in logs or errors"
        );
    }
}
