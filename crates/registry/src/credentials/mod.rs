//! Credentials for a registry, found the way Docker and Kaniko find them.
//!
//! Owns: [`Credential`] (anonymous, basic, identity token, registry token), the [`Keychain`]
//! that resolves one for a registry and repository from `config.json` and credential helpers,
//! and [`CredentialError`]. The lookup order follows go-containerregistry's `authn` default
//! keychain: the key `registry/repository` first, then `registry` (Docker Hub as
//! `https://index.docker.io/v1/`); for each key, `credHelpers`, then `credsStore`, then `auths`.
//! Anonymous when nothing matches.
//!
//! Does not own: turning a credential into an `Authorization` header (`auth`).

mod config;
mod helper;

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

pub use config::{ConfigFile, ConfigLocations, DOCKER_HUB, DOCKER_HUB_KEY, normalise_key};

/// What to present to a registry. `Debug` never prints a secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    Anonymous,
    Basic {
        username: String,
        password: String,
    },
    /// An OAuth2 refresh token, exchanged at the token server (`grant_type=refresh_token`).
    IdentityToken {
        username: String,
        token: String,
    },
    /// A bearer token sent as it is.
    RegistryToken(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Anonymous => f.write_str("Anonymous"),
            Credential::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credential::IdentityToken { .. } => f.write_str("IdentityToken(<redacted>)"),
            Credential::RegistryToken(_) => f.write_str("RegistryToken(<redacted>)"),
        }
    }
}

/// Why credentials could not be read. Never carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing {path}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("the `auth` field for {key:?} in {path} is not base64 of `user:password`")]
    BadAuthField { path: PathBuf, key: String },
    #[error("running credential helper {helper}")]
    HelperSpawn {
        helper: String,
        #[source]
        source: std::io::Error,
    },
    #[error("credential helper {helper} failed for {server} ({status})")]
    HelperFailed {
        helper: String,
        server: String,
        status: String,
    },
    #[error(
        "credential helper {helper} printed something other than credentials JSON for {server}"
    )]
    HelperOutput { helper: String, server: String },
}

/// A credential and where it came from, for hints in error messages.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub credential: Credential,
    /// e.g. `config.json /root/.docker/config.json` or `credential helper docker-credential-gcr`.
    pub source: String,
}

impl Resolved {
    fn anonymous() -> Self {
        Self {
            credential: Credential::Anonymous,
            source: "anonymous: no credentials found".to_owned(),
        }
    }
}

/// Resolves credentials from one `config.json` (read once) and credential helpers.
#[derive(Debug, Clone, Default)]
pub struct Keychain {
    config: Option<(PathBuf, ConfigFile)>,
    /// `PATH` for finding helpers; `None` uses the process's own.
    helper_path: Option<OsString>,
}

impl Keychain {
    /// The keychain of the first `config.json` found in `locations`; empty when there is none.
    pub fn load(locations: &ConfigLocations) -> Result<Self, CredentialError> {
        let config = match locations.find() {
            Some(path) => {
                let cfg = ConfigFile::load(&path)?;
                Some((path, cfg))
            }
            None => None,
        };
        Ok(Self {
            config,
            helper_path: None,
        })
    }

    /// A keychain that always answers anonymous.
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// Looks helpers up on `path` instead of the process's `PATH`.
    pub fn with_helper_path(mut self, path: OsString) -> Self {
        self.helper_path = Some(path);
        self
    }

    /// The credential for `repository` on `registry`. Runs a helper when one is configured,
    /// so call it from a blocking context.
    pub fn resolve(&self, registry: &str, repository: &str) -> Result<Resolved, CredentialError> {
        let Some((path, cfg)) = &self.config else {
            return Ok(Resolved::anonymous());
        };
        let registry_key = if normalise_key(registry) == DOCKER_HUB {
            DOCKER_HUB_KEY.to_owned()
        } else {
            registry.to_owned()
        };
        let keys = [format!("{registry}/{repository}"), registry_key];
        for key in &keys {
            if let Some(helper) = cfg.helper_for(key) {
                if let Some(c) = helper::get(helper, key, self.helper_path.as_ref())? {
                    return Ok(Resolved {
                        credential: c,
                        source: format!("credential helper docker-credential-{helper}"),
                    });
                }
            }
            if let Some((found, entry)) = cfg.auth_entry(key) {
                if let Some(c) = entry.credential(path, found)? {
                    return Ok(Resolved {
                        credential: c,
                        source: format!("{} (key {found:?})", path.display()),
                    });
                }
            }
        }
        Ok(Resolved::anonymous())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A temp dir with `config.json` and a fake `docker-credential-fake` helper that answers
    /// for `helper.example` and says "credentials not found" otherwise.
    fn setup(config: &str) -> (tempfile::TempDir, Keychain) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), config).unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let script = bin.join("docker-credential-fake");
        std::fs::write(
            &script,
            "#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread server\ncase \"$server\" in\n\
             helper.example) echo '{\"ServerURL\":\"helper.example\",\"Username\":\"hu\",\"Secret\":\"hs\"}';;\n\
             token.example) echo '{\"Username\":\"<token>\",\"Secret\":\"refresh\"}';;\n\
             broken.example) echo 'boom secret-ish output' >&2; exit 3;;\n\
             *) echo 'credentials not found in native keychain'; exit 1;;\nesac\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let locs = ConfigLocations {
            docker_config: Some(dir.path().to_owned()),
            ..Default::default()
        };
        let path = format!("{}:/usr/bin:/bin", bin.display());
        let kc = Keychain::load(&locs).unwrap().with_helper_path(path.into());
        (dir, kc)
    }

    #[test]
    fn no_config_is_anonymous() {
        let kc = Keychain::load(&ConfigLocations::default()).unwrap();
        let r = kc.resolve("reg.example", "a").unwrap();
        assert_eq!(r.credential, Credential::Anonymous);
    }

    #[test]
    fn cred_helper_answers_for_its_registry() {
        let (_d, kc) = setup(r#"{"credHelpers":{"helper.example":"fake","token.example":"fake"}}"#);
        let r = kc.resolve("helper.example", "org/app").unwrap();
        assert_eq!(
            r.credential,
            Credential::Basic {
                username: "hu".into(),
                password: "hs".into()
            }
        );
        assert!(r.source.contains("docker-credential-fake"), "{}", r.source);
        let r = kc.resolve("token.example", "org/app").unwrap();
        assert!(matches!(r.credential, Credential::IdentityToken { .. }));
    }

    #[test]
    fn creds_store_not_found_falls_back_to_auths_then_anonymous() {
        let (_d, kc) = setup(
            r#"{"credsStore":"fake","auths":{"https://index.docker.io/v1/":{"auth":"aHViOmh1YnB3"}}}"#,
        );
        let r = kc.resolve("index.docker.io", "library/busybox").unwrap();
        assert_eq!(
            r.credential,
            Credential::Basic {
                username: "hub".into(),
                password: "hubpw".into()
            }
        );
        let r = kc.resolve("nothing.example", "a").unwrap();
        assert_eq!(r.credential, Credential::Anonymous);
    }

    #[test]
    fn repository_scoped_key_wins_over_registry_key() {
        let (_d, kc) = setup(
            r#"{"auths":{"reg.example/team/app":{"username":"team","password":"t"},
                         "reg.example":{"username":"all","password":"a"}}}"#,
        );
        let user = |repo: &str| match kc.resolve("reg.example", repo).unwrap().credential {
            Credential::Basic { username, .. } => username,
            other => panic!("{other:?}"),
        };
        assert_eq!(user("team/app"), "team");
        assert_eq!(user("other"), "all");
    }

    #[test]
    fn failing_helper_is_an_error_without_its_output() {
        let (_d, kc) = setup(r#"{"credHelpers":{"broken.example":"fake"}}"#);
        let err = kc.resolve("broken.example", "a").unwrap_err().to_string();
        assert!(err.contains("docker-credential-fake"), "{err}");
        assert!(!err.contains("secret-ish"), "{err}");
    }

    #[test]
    fn missing_helper_is_an_error_naming_it() {
        let (_d, kc) = setup(r#"{"credsStore":"absent"}"#);
        let err = kc.resolve("reg.example", "a").unwrap_err().to_string();
        assert!(err.contains("docker-credential-absent"), "{err}");
    }

    #[test]
    fn debug_never_prints_secrets() {
        let c = Credential::Basic {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!format!("{:?}", Credential::RegistryToken("tok".into())).contains("tok"));
    }
}
