//! Answering a registry's authentication challenge.
//!
//! Owns: [`Authenticator`], built from the `/v2/` ping's challenge and the resolved credential:
//! nothing for an open registry, a Basic header, a static bearer (`registrytoken`), or bearer
//! tokens fetched per scope set, cached until they expire and refreshed on a 401. One token
//! covers every scope an operation needs (pull, push and mount sources).
//!
//! Does not own: finding credentials (`credentials`) or sending requests (`transport`).

pub mod challenge;
mod scope;
mod token;

use std::collections::HashMap;

use reqwest::header::HeaderValue;
use reqwest::{Client, Url};
use tokio::sync::Mutex;

pub use challenge::Challenge;
pub use scope::Scopes;
pub(crate) use token::{Token, basic_header, sensitive};

use crate::credentials::{Credential, Resolved};
use crate::error::Error;

/// How requests to one registry are authorised.
#[derive(Debug)]
pub(crate) enum Mode {
    None,
    Fixed(HeaderValue),
    Bearer { realm: Url, service: Option<String> },
}

/// The authorisation state of one registry session.
#[derive(Debug)]
pub(crate) struct Authenticator {
    registry: String,
    mode: Mode,
    credential: Resolved,
    tokens: Mutex<HashMap<Scopes, Token>>,
}

impl Authenticator {
    /// From the ping's challenge (`None` when `/v2/` answered 200) and the credential.
    pub fn new(
        registry: &str,
        challenge: Option<&Challenge>,
        credential: Resolved,
    ) -> Result<Self, Error> {
        let unsupported = |c: &Challenge| Error::UnsupportedChallenge {
            registry: registry.to_owned(),
            challenge: c.scheme.clone(),
        };
        let fixed = match &credential.credential {
            Credential::Basic { username, password } => basic_header(username, password),
            Credential::RegistryToken(t) => sensitive(&format!("Bearer {t}")),
            _ => None,
        };
        let mode = match challenge {
            None => Mode::None,
            Some(c) if c.scheme == "basic" => fixed.map_or(Mode::None, Mode::Fixed),
            Some(c) if c.scheme == "bearer" => {
                if let Credential::RegistryToken(_) = credential.credential {
                    fixed.map_or(Mode::None, Mode::Fixed)
                } else {
                    let realm = c
                        .param("realm")
                        .and_then(|r| Url::parse(r).ok())
                        .ok_or_else(|| unsupported(c))?;
                    Mode::Bearer {
                        realm,
                        service: c.param("service").map(str::to_owned),
                    }
                }
            }
            Some(c) => return Err(unsupported(c)),
        };
        Ok(Self {
            registry: registry.to_owned(),
            mode,
            credential,
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// Where the credential came from, for error hints.
    pub fn source_hint(&self) -> &str {
        &self.credential.source
    }

    pub fn is_bearer(&self) -> bool {
        matches!(self.mode, Mode::Bearer { .. })
    }

    /// The `Authorization` header for a request needing `scopes`, fetching a token if needed.
    pub async fn header(
        &self,
        client: &Client,
        scopes: &Scopes,
    ) -> Result<Option<HeaderValue>, Error> {
        match &self.mode {
            Mode::None => Ok(None),
            Mode::Fixed(h) => Ok(Some(h.clone())),
            Mode::Bearer { realm, service } => {
                let mut tokens = self.tokens.lock().await;
                if let Some(t) = tokens
                    .iter()
                    .find(|(s, t)| s.covers(scopes) && t.is_fresh())
                    .map(|(_, t)| t)
                {
                    return Ok(Some(t.header.clone()));
                }
                let t = token::fetch(
                    client,
                    &self.registry,
                    realm,
                    service.as_deref(),
                    scopes,
                    &self.credential,
                )
                .await?;
                tokens.insert(scopes.clone(), t.clone());
                Ok(Some(t.header))
            }
        }
    }

    /// Forgets every token for `scopes` after a 401, widening them with what the challenge
    /// asked for, and returns the scopes to fetch the next token with.
    pub async fn invalidate(&self, scopes: &Scopes, challenge_header: Option<&str>) -> Scopes {
        let mut wanted = scopes.clone();
        if let Some(c) = challenge_header
            .map(challenge::parse)
            .as_deref()
            .and_then(challenge::pick)
        {
            if let Some(s) = c.param("scope") {
                wanted.add_challenge_scope(s);
            }
        }
        self.tokens.lock().await.retain(|s, _| !s.covers(scopes));
        wanted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(c: Credential) -> Resolved {
        Resolved {
            credential: c,
            source: "test".into(),
        }
    }

    #[test]
    fn mode_follows_challenge_and_credential() {
        let bearer = challenge::parse(r#"Bearer realm="https://auth.example/token",service="reg""#);
        let basic = challenge::parse(r#"Basic realm="r""#);
        let pw = Credential::Basic {
            username: "u".into(),
            password: "p".into(),
        };
        let a = Authenticator::new("reg", None, resolved(pw.clone())).unwrap();
        assert!(matches!(a.mode, Mode::None));
        let a = Authenticator::new("reg", basic.first(), resolved(pw.clone())).unwrap();
        assert!(matches!(a.mode, Mode::Fixed(_)));
        let a = Authenticator::new("reg", basic.first(), resolved(Credential::Anonymous)).unwrap();
        assert!(matches!(a.mode, Mode::None));
        let a = Authenticator::new("reg", bearer.first(), resolved(pw)).unwrap();
        assert!(a.is_bearer());
        let a = Authenticator::new(
            "reg",
            bearer.first(),
            resolved(Credential::RegistryToken("t".into())),
        )
        .unwrap();
        assert!(matches!(a.mode, Mode::Fixed(_)));
    }

    #[test]
    fn unknown_challenge_or_bearer_without_realm_is_an_error() {
        for header in ["Negotiate", "Bearer service=\"x\""] {
            let c = challenge::parse(header);
            let err = Authenticator::new("reg", c.first(), resolved(Credential::Anonymous))
                .unwrap_err()
                .to_string();
            assert!(err.contains("reg"), "{err}");
        }
    }

    #[test]
    fn fixed_headers_are_sensitive() {
        let h = basic_header("u", "hunter2").unwrap();
        assert!(h.is_sensitive());
        assert!(!format!("{h:?}").contains("hunter2"));
    }
}
