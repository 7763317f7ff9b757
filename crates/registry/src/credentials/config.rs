//! Docker's `config.json`: where it is found and what its auth entries say.
//!
//! Owns: locating the file (`DOCKER_CONFIG`, then `$HOME/.docker`, then `/kaniko/.docker`),
//! parsing `auths`, `credHelpers` and `credsStore`, decoding an entry (`auth` as base64
//! `user:password`, `username`/`password`, `identitytoken`, `registrytoken`) and the key
//! normalisation Docker applies (scheme and path dropped, Docker Hub's aliases folded into
//! `index.docker.io`). Follows Docker's `cli/config/configfile` rules.
//!
//! Does not own: running credential helpers (`helper`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;

use super::{Credential, CredentialError};

/// The key Docker uses for Docker Hub in `config.json` and with credential helpers.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// The registry name Docker Hub's references resolve to.
pub const DOCKER_HUB: &str = "index.docker.io";

/// The parts of `config.json` that concern registries.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ConfigFile {
    #[serde(default)]
    pub auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    pub cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    pub creds_store: Option<String>,
}

/// One `auths` entry. `Debug` never prints a secret.
#[derive(Default, Clone, Deserialize)]
pub struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
    #[serde(default)]
    registrytoken: Option<String>,
}

impl std::fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthEntry(..)")
    }
}

/// The folders searched for `config.json`, in order; taken from the environment by
/// [`ConfigLocations::from_env`] and built by hand in tests.
#[derive(Debug, Clone, Default)]
pub struct ConfigLocations {
    /// `DOCKER_CONFIG`: a folder holding `config.json`, or the file itself.
    pub docker_config: Option<PathBuf>,
    /// `$HOME`.
    pub home: Option<PathBuf>,
    /// `/kaniko/.docker`, where Kaniko's users mount their secrets.
    pub kaniko: Option<PathBuf>,
}

impl ConfigLocations {
    pub fn from_env() -> Self {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Self {
            docker_config: var("DOCKER_CONFIG"),
            home: var("HOME"),
            kaniko: Some(PathBuf::from("/kaniko/.docker")),
        }
    }

    /// The first `config.json` that exists, if any.
    pub fn find(&self) -> Option<PathBuf> {
        let mut candidates = Vec::new();
        if let Some(dir) = &self.docker_config {
            if dir.is_file() {
                candidates.push(dir.clone());
            } else {
                candidates.push(dir.join("config.json"));
            }
        }
        if let Some(home) = &self.home {
            candidates.push(home.join(".docker").join("config.json"));
        }
        if let Some(dir) = &self.kaniko {
            candidates.push(dir.join("config.json"));
        }
        candidates.into_iter().find(|p| p.is_file())
    }
}

impl ConfigFile {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, CredentialError> {
        let bytes = std::fs::read(path).map_err(|source| CredentialError::Read {
            path: path.to_owned(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|source| CredentialError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    /// The `auths` entry for `key`: an exact match first, then any key whose hostname
    /// (scheme and path dropped) is `key`, as Docker does.
    pub fn auth_for(&self, key: &str) -> Option<&AuthEntry> {
        self.auth_entry(key).map(|(_, e)| e)
    }

    /// Like [`ConfigFile::auth_for`], with the key as written in the file.
    pub fn auth_entry(&self, key: &str) -> Option<(&str, &AuthEntry)> {
        if let Some((k, e)) = self.auths.get_key_value(key) {
            return Some((k.as_str(), e));
        }
        let wanted = normalise_key(key);
        self.auths
            .iter()
            .find(|(k, _)| normalise_key(k) == wanted)
            .map(|(k, e)| (k.as_str(), e))
    }

    /// The credential helper named for `key` in `credHelpers`, else `credsStore`.
    pub fn helper_for(&self, key: &str) -> Option<&str> {
        self.cred_helpers
            .get(key)
            .or_else(|| {
                let wanted = normalise_key(key);
                self.cred_helpers
                    .iter()
                    .find(|(k, _)| normalise_key(k) == wanted)
                    .map(|(_, v)| v)
            })
            .or(self.creds_store.as_ref())
            .map(String::as_str)
            .filter(|h| !h.is_empty())
    }
}

/// The hostname Docker compares keys by: no scheme, no path, Docker Hub's aliases folded.
pub fn normalise_key(key: &str) -> String {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = rest.split('/').next().unwrap_or(rest).to_ascii_lowercase();
    match host.as_str() {
        "docker.io" | "registry-1.docker.io" | "index.docker.io" => DOCKER_HUB.to_owned(),
        _ => host,
    }
}

impl AuthEntry {
    /// Decodes the entry; `None` when it names no credential at all.
    pub fn credential(
        &self,
        path: &Path,
        key: &str,
    ) -> Result<Option<Credential>, CredentialError> {
        if let Some(token) = self.registrytoken.as_deref().filter(|t| !t.is_empty()) {
            return Ok(Some(Credential::RegistryToken(token.to_owned())));
        }
        let (mut username, mut password) = (self.username.clone(), self.password.clone());
        if let Some(auth) = self.auth.as_deref().filter(|a| !a.is_empty()) {
            let bad = || CredentialError::BadAuthField {
                path: path.to_owned(),
                key: key.to_owned(),
            };
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| bad())?;
            let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
            let (u, p) = decoded.split_once(':').ok_or_else(bad)?;
            username = Some(u.to_owned());
            password = Some(p.to_owned());
        }
        if let Some(token) = self.identitytoken.as_deref().filter(|t| !t.is_empty()) {
            return Ok(Some(Credential::IdentityToken {
                username: username.unwrap_or_default(),
                token: token.to_owned(),
            }));
        }
        match (username, password) {
            (Some(u), Some(p)) if !u.is_empty() || !p.is_empty() => Ok(Some(Credential::Basic {
                username: u,
                password: p,
            })),
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_normalise_to_hostnames() {
        let cases = [
            ("https://index.docker.io/v1/", "index.docker.io"),
            ("docker.io", "index.docker.io"),
            ("registry-1.docker.io", "index.docker.io"),
            ("http://Reg.Example:5000/v2/", "reg.example:5000"),
            ("reg.example/org/repo", "reg.example"),
            ("127.0.0.1:5443", "127.0.0.1:5443"),
        ];
        for (input, want) in cases {
            assert_eq!(normalise_key(input), want, "{input}");
        }
    }

    fn parse(json: &str) -> ConfigFile {
        serde_json::from_str(json).unwrap()
    }

    fn cred(cfg: &ConfigFile, key: &str) -> Option<Credential> {
        cfg.auth_for(key)
            .and_then(|e| e.credential(Path::new("config.json"), key).unwrap())
    }

    #[test]
    fn auth_entries_decode_each_form() {
        let cfg = parse(
            r#"{"auths":{
                "https://index.docker.io/v1/": {"auth": "dXNlcjpwYXNzOndpdGg6Y29sb25z"},
                "plain.example": {"username": "u", "password": "p"},
                "id.example": {"auth": "PHRva2VuPjo=", "identitytoken": "refresh"},
                "reg.example": {"registrytoken": "bearer"},
                "empty.example": {}
            }}"#,
        );
        let basic = |u: &str, p: &str| Credential::Basic {
            username: u.into(),
            password: p.into(),
        };
        assert_eq!(
            cred(&cfg, DOCKER_HUB),
            Some(basic("user", "pass:with:colons"))
        );
        assert_eq!(cred(&cfg, "plain.example"), Some(basic("u", "p")));
        assert_eq!(
            cred(&cfg, "id.example"),
            Some(Credential::IdentityToken {
                username: "<token>".into(),
                token: "refresh".into()
            })
        );
        assert_eq!(
            cred(&cfg, "reg.example"),
            Some(Credential::RegistryToken("bearer".into()))
        );
        assert_eq!(cred(&cfg, "empty.example"), None);
        assert_eq!(cred(&cfg, "other.example"), None);
    }

    #[test]
    fn bad_base64_auth_is_an_error_naming_the_key_but_not_the_value() {
        let cfg = parse(r#"{"auths":{"reg.example":{"auth":"!!!secret!!!"}}}"#);
        let err = cfg
            .auth_for("reg.example")
            .unwrap()
            .credential(Path::new("/x/config.json"), "reg.example")
            .unwrap_err()
            .to_string();
        assert!(err.contains("reg.example"), "{err}");
        assert!(err.contains("/x/config.json"), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn helpers_prefer_cred_helpers_over_creds_store() {
        let cfg = parse(r#"{"credHelpers":{"gcr.io":"gcloud"},"credsStore":"pass"}"#);
        assert_eq!(cfg.helper_for("gcr.io"), Some("gcloud"));
        assert_eq!(cfg.helper_for("other.example"), Some("pass"));
        assert_eq!(parse("{}").helper_for("gcr.io"), None);
    }

    #[test]
    fn config_search_order_is_docker_config_home_then_kaniko() {
        let dir = tempfile::tempdir().unwrap();
        let make = |sub: &str| {
            let d = dir.path().join(sub);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("config.json"), "{}").unwrap();
            d
        };
        let kaniko = make("kaniko");
        let home = dir.path().join("home");
        let locs = ConfigLocations {
            docker_config: Some(dir.path().join("missing")),
            home: Some(home.clone()),
            kaniko: Some(kaniko.clone()),
        };
        assert_eq!(locs.find(), Some(kaniko.join("config.json")));
        make("home/.docker");
        assert_eq!(locs.find(), Some(home.join(".docker/config.json")));
        let dc = make("dc");
        let locs = ConfigLocations {
            docker_config: Some(dc.clone()),
            ..locs
        };
        assert_eq!(locs.find(), Some(dc.join("config.json")));
        let as_file = ConfigLocations {
            docker_config: Some(dc.join("config.json")),
            ..Default::default()
        };
        assert_eq!(as_file.find(), Some(dc.join("config.json")));
    }
}
