//! The test environment's addresses and credentials, as `scripts/testenv up` publishes them.
//!
//! Owns: reading the `KILN_TEST_*` variables, from the process environment first (what
//! `scripts/check` exports) and else from the env file `scripts/testenv up` writes
//! (`$KILN_TESTENV_DIR/env`, default `/var/cache/kiln/testenv/env`), so that a single ignored
//! test can be run by hand with `cargo test -- --ignored`. Does not own: starting anything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where `scripts/testenv` keeps its state when `KILN_TESTENV_DIR` is unset.
pub const DEFAULT_TESTENV_DIR: &str = "/var/cache/kiln/testenv";

/// The test environment is not (fully) there.
#[derive(Debug, thiserror::Error)]
#[error(
    "the test environment is not set up: {} missing; run `scripts/testenv up` (or `scripts/check`) first",
    missing.join(", ")
)]
pub struct EnvError {
    /// The variables that were found neither in the environment nor in the env file.
    pub missing: Vec<&'static str>,
}

/// Addresses (`host:port`), credentials and log files of the three test registries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestEnv {
    /// Plain HTTP, anonymous; holds `busybox`, `busybox-oci`, `debian:bookworm`, `multiarch`.
    pub registry: String,
    pub registry_log: PathBuf,
    /// HTTPS with the CA in `tls_ca`, basic auth.
    pub tls_registry: String,
    pub tls_registry_log: PathBuf,
    pub tls_ca: PathBuf,
    pub tls_user: String,
    pub tls_password: String,
    /// Plain HTTP, bearer tokens from the token server.
    pub token_registry: String,
    pub token_registry_log: PathBuf,
    pub token_user: String,
    pub token_password: String,
    /// The token realm's `host:port` (`KILN_TEST_TOKEN_SERVER`), when published.
    pub token_server: Option<String>,
    /// The `service` the token registry names in its challenge (`KILN_TEST_TOKEN_SERVICE`),
    /// when published.
    pub token_service: Option<String>,
}

const KEYS: [&str; 11] = [
    "KILN_TEST_REGISTRY",
    "KILN_TEST_REGISTRY_LOG",
    "KILN_TEST_TLS_REGISTRY",
    "KILN_TEST_TLS_REGISTRY_LOG",
    "KILN_TEST_TLS_CA",
    "KILN_TEST_TLS_USER",
    "KILN_TEST_TLS_PASSWORD",
    "KILN_TEST_TOKEN_REGISTRY",
    "KILN_TEST_TOKEN_REGISTRY_LOG",
    "KILN_TEST_TOKEN_USER",
    "KILN_TEST_TOKEN_PASSWORD",
];

/// The test environment; panics with a message naming the missing variables and saying to run
/// `scripts/testenv up` when it is not there. For tests marked
/// `#[ignore = "needs the test environment"]`.
#[track_caller]
pub fn env() -> TestEnv {
    match TestEnv::load() {
        Ok(env) => env,
        Err(e) => panic!("{e}"),
    }
}

impl TestEnv {
    /// Reads the process environment, falling back to the env file.
    pub fn load() -> Result<Self, EnvError> {
        let dir = std::env::var_os("KILN_TESTENV_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_TESTENV_DIR));
        let file = read_env_file(&dir.join("env"));
        Self::from_lookup(|key| std::env::var(key).ok().or_else(|| file.get(key).cloned()))
    }

    /// Builds the environment from any `KEY → value` lookup; empty values count as missing.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, EnvError> {
        let mut values = BTreeMap::new();
        let mut missing = Vec::new();
        for key in KEYS {
            match lookup(key).filter(|v| !v.is_empty()) {
                Some(v) => {
                    values.insert(key, v);
                }
                None => missing.push(key),
            }
        }
        if !missing.is_empty() {
            return Err(EnvError { missing });
        }
        let mut take = |key: &str| values.remove(key).unwrap_or_default();
        Ok(Self {
            registry: take("KILN_TEST_REGISTRY"),
            registry_log: take("KILN_TEST_REGISTRY_LOG").into(),
            tls_registry: take("KILN_TEST_TLS_REGISTRY"),
            tls_registry_log: take("KILN_TEST_TLS_REGISTRY_LOG").into(),
            tls_ca: take("KILN_TEST_TLS_CA").into(),
            tls_user: take("KILN_TEST_TLS_USER"),
            tls_password: take("KILN_TEST_TLS_PASSWORD"),
            token_registry: take("KILN_TEST_TOKEN_REGISTRY"),
            token_registry_log: take("KILN_TEST_TOKEN_REGISTRY_LOG").into(),
            token_user: take("KILN_TEST_TOKEN_USER"),
            token_password: take("KILN_TEST_TOKEN_PASSWORD"),
            token_server: lookup("KILN_TEST_TOKEN_SERVER").filter(|v| !v.is_empty()),
            token_service: lookup("KILN_TEST_TOKEN_SERVICE").filter(|v| !v.is_empty()),
        })
    }
}

/// `KEY=value` lines; a missing or unreadable file is an empty map (the caller reports the
/// missing keys).
fn read_env_file(path: &Path) -> BTreeMap<String, String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return BTreeMap::new();
    };
    parse_env_file(&text)
}

fn parse_env_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> BTreeMap<String, String> {
        KEYS.iter()
            .map(|k| (k.to_string(), format!("value-of-{k}")))
            .collect()
    }

    #[test]
    fn complete_environment_loads() {
        let vars = full();
        let env = TestEnv::from_lookup(|k| vars.get(k).cloned()).expect("complete");
        assert_eq!(env.registry, "value-of-KILN_TEST_REGISTRY");
        assert_eq!(env.tls_ca, PathBuf::from("value-of-KILN_TEST_TLS_CA"));
        assert_eq!(env.token_password, "value-of-KILN_TEST_TOKEN_PASSWORD");
        assert_eq!(env.token_server, None, "optional keys stay optional");
    }

    #[test]
    fn optional_token_realm_keys_are_read_when_present() {
        let mut vars = full();
        vars.insert("KILN_TEST_TOKEN_SERVER".into(), "127.0.0.1:5002".into());
        vars.insert("KILN_TEST_TOKEN_SERVICE".into(), "svc".into());
        let env = TestEnv::from_lookup(|k| vars.get(k).cloned()).expect("complete");
        assert_eq!(env.token_server.as_deref(), Some("127.0.0.1:5002"));
        assert_eq!(env.token_service.as_deref(), Some("svc"));
    }

    #[test]
    fn missing_variables_are_named_with_the_fix() {
        let cases: &[(&[&str], &[&str])] = &[
            (&["KILN_TEST_REGISTRY"], &["KILN_TEST_REGISTRY"]),
            (
                &["KILN_TEST_TLS_CA", "KILN_TEST_TOKEN_USER"],
                &["KILN_TEST_TLS_CA", "KILN_TEST_TOKEN_USER"],
            ),
        ];
        for (removed, want) in cases {
            let mut vars = full();
            for k in *removed {
                vars.remove(*k);
            }
            let err = TestEnv::from_lookup(|k| vars.get(k).cloned()).expect_err("incomplete");
            assert_eq!(err.missing, *want);
            let message = err.to_string();
            assert!(message.contains("scripts/testenv up"), "{message}");
            assert!(message.contains(want[0]), "{message}");
        }
    }

    #[test]
    fn empty_values_count_as_missing() {
        let mut vars = full();
        vars.insert("KILN_TEST_TLS_USER".into(), String::new());
        let err = TestEnv::from_lookup(|k| vars.get(k).cloned()).expect_err("empty");
        assert_eq!(err.missing, ["KILN_TEST_TLS_USER"]);
    }

    #[test]
    fn env_file_lines_are_key_value_pairs() {
        let parsed = parse_env_file("# comment\nA=1\n\nB = two=2 \nnot a pair\n");
        let want: BTreeMap<String, String> = [("A", "1"), ("B", "two=2")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(parsed, want);
    }
}
