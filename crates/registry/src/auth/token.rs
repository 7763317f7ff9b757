//! Bearer tokens from a registry's token server.
//!
//! Owns: the token request of Docker's token auth spec
//! (<https://distribution.github.io/distribution/spec/auth/token/>): a GET to the realm with
//! `service` and one `scope` per repository, with basic auth when there are credentials; or,
//! for an identity token, the OAuth2 refresh-token POST
//! (<https://distribution.github.io/distribution/spec/auth/oauth/>). Reads `token` or
//! `access_token` and `expires_in` (60 seconds when absent, as the spec says).
//!
//! The token itself lives only in [`Token`], whose `Debug` hides it.

use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Client, Method, StatusCode, Url};
use serde::Deserialize;

use super::Scopes;
use crate::credentials::{Credential, Resolved};
use crate::error::{Error, ResponseError};
use crate::redact::redact_url;

/// The most a token response may hold.
const MAX_TOKEN_RESPONSE: usize = 1 << 20;

/// A bearer token and when it stops being usable.
#[derive(Clone)]
pub struct Token {
    pub header: HeaderValue,
    pub expires: Instant,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// Usable for at least a few more seconds.
    pub fn is_fresh(&self) -> bool {
        Instant::now() + Duration::from_secs(10) < self.expires
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Builds a sensitive header value (never shown by `Debug`).
pub fn sensitive(value: &str) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(value).ok()?;
    v.set_sensitive(true);
    Some(v)
}

/// `Basic base64(user:password)`.
pub fn basic_header(username: &str, password: &str) -> Option<HeaderValue> {
    use base64::Engine;
    let raw = format!("{username}:{password}");
    sensitive(&format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    ))
}

/// Asks the token server at `realm` for a token covering `scopes`.
pub async fn fetch(
    client: &Client,
    registry: &str,
    realm: &Url,
    service: Option<&str>,
    scopes: &Scopes,
    cred: &Resolved,
) -> Result<Token, Error> {
    let mut url = realm.clone();
    let (method, request) = match &cred.credential {
        Credential::IdentityToken { token, .. } => {
            let mut form = Url::parse("form:").map_err(|_| Error::BadToken {
                registry: registry.to_owned(),
                url: redact_url(realm),
                source: None,
            })?;
            {
                let mut pairs = form.query_pairs_mut();
                pairs.append_pair("grant_type", "refresh_token");
                pairs.append_pair("refresh_token", token);
                pairs.append_pair("client_id", "kiln");
                if let Some(s) = service {
                    pairs.append_pair("service", s);
                }
                pairs.append_pair("scope", &scopes.to_string());
            }
            let body = form.query().unwrap_or_default().to_owned();
            let req = client
                .post(url.clone())
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body);
            (Method::POST, req)
        }
        other => {
            {
                let mut pairs = url.query_pairs_mut();
                if let Some(s) = service {
                    pairs.append_pair("service", s);
                }
                for item in scopes.items() {
                    pairs.append_pair("scope", &item);
                }
            }
            let mut req = client.get(url.clone());
            if let Credential::Basic { username, password } = other {
                if let Some(h) = basic_header(username, password) {
                    req = req.header(AUTHORIZATION, h);
                }
            }
            (Method::GET, req)
        }
    };
    let resp = request
        .send()
        .await
        .map_err(|e| Error::transport(method.clone(), &url, e))?;
    let status = resp.status();
    let retry_after = crate::retry::retry_after(resp.headers());
    let body =
        crate::transport::read_limited(resp, MAX_TOKEN_RESPONSE, "token response", &url).await?;
    if status != StatusCode::OK {
        let err = ResponseError::new(method, &url, status, retry_after, &body);
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return Err(Error::Unauthorized {
                registry: registry.to_owned(),
                source_hint: cred.source.clone(),
                source: Box::new(err),
            });
        }
        return Err(err.into());
    }
    let bad = |source| Error::BadToken {
        registry: registry.to_owned(),
        url: redact_url(&url),
        source,
    };
    let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|e| bad(Some(e)))?;
    let value = parsed
        .token
        .or(parsed.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad(None))?;
    let header = sensitive(&format!("Bearer {value}")).ok_or_else(|| bad(None))?;
    let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(60).clamp(1, 86_400));
    Ok(Token {
        header,
        expires: Instant::now() + lifetime,
    })
}
