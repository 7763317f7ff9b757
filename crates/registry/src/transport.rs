//! One authenticated session with one registry: scheme negotiation, auth, sending, checking.
//!
//! Owns: the `/v2/` ping (https first; plain http after it only where allowed, with
//! go-containerregistry's rules: an insecure flag, or a loopback/`localhost`/RFC 1918 host),
//! attaching the `Authorization` header, one re-authentication after a 401, turning unexpected
//! statuses into [`ResponseError`]s, and reading bounded bodies.
//!
//! Does not own: retries (`retry`, around whole operations) or what the requests mean
//! (`pull`, `push`). Nothing here logs a header.

use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode, Url};

use crate::auth::{Authenticator, Scopes, challenge};
use crate::credentials::Resolved;
use crate::error::{Error, ResponseError};
use crate::options::Endpoint;
use crate::redact::redact_url;
use crate::retry::retry_after;

/// How much of an error body is read to find the registry's error codes.
const MAX_ERROR_BODY: usize = 64 << 10;

/// An open session: the scheme that answered, the HTTP client and the auth state.
#[derive(Debug)]
pub(crate) struct Session {
    pub registry: String,
    base: Url,
    pub client: Client,
    auth: Authenticator,
}

impl Session {
    /// Pings `/v2/` and sets up auth from its answer.
    pub async fn open(
        client: Client,
        endpoint: &Endpoint,
        credential: Resolved,
    ) -> Result<Self, Error> {
        let registry = &endpoint.registry;
        let mut schemes = vec!["https"];
        if endpoint.allow_http {
            schemes.push("http");
        }
        let mut first_error: Option<Error> = None;
        for scheme in schemes {
            let base =
                Url::parse(&format!("{scheme}://{registry}/")).map_err(|e| Error::BadResponse {
                    what: "registry name",
                    url: registry.clone(),
                    source: Some(Box::new(e)),
                })?;
            let ping = base.join("v2/").unwrap_or_else(|_| base.clone());
            let resp = match client.get(ping.clone()).send().await {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(registry = %registry, scheme, "ping failed");
                    first_error.get_or_insert(Error::transport(Method::GET, &ping, e));
                    continue;
                }
            };
            let status = resp.status();
            let challenges = resp
                .headers()
                .get_all(WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(challenge::parse)
                .collect::<Vec<_>>();
            let retry = retry_after(resp.headers());
            let body = read_limited(resp, MAX_ERROR_BODY, "ping response", &ping).await?;
            let challenge = match status {
                StatusCode::OK => None,
                StatusCode::UNAUTHORIZED => match challenge::pick(&challenges) {
                    Some(c) => Some(c.clone()),
                    None => {
                        return Err(Error::UnsupportedChallenge {
                            registry: registry.clone(),
                            challenge: challenges
                                .first()
                                .map_or_else(|| "none".to_owned(), |c| c.scheme.clone()),
                        });
                    }
                },
                _ => {
                    let err: Error =
                        ResponseError::new(Method::GET, &ping, status, retry, &body).into();
                    // An https error is the better explanation than http's answer to a TLS port.
                    if first_error.is_none() && scheme == "https" && err.is_retryable() {
                        return Err(err);
                    }
                    first_error.get_or_insert(err);
                    continue;
                }
            };
            tracing::debug!(registry = %registry, scheme, "registry answered");
            let auth = Authenticator::new(registry, challenge.as_ref(), credential)?;
            return Ok(Self {
                registry: registry.clone(),
                base,
                client,
                auth,
            });
        }
        let source = first_error.unwrap_or_else(|| Error::Unsupported {
            what: format!("registry {registry} without https"),
        });
        if source.response().is_some() {
            return Err(source);
        }
        Err(Error::Unreachable {
            registry: registry.clone(),
            source: Box::new(source),
        })
    }

    /// `path` (without leading slash) under the registry's base URL.
    pub fn url(&self, path: &str) -> Result<Url, Error> {
        self.base.join(path).map_err(|e| Error::BadResponse {
            what: "request path",
            url: format!("{}{path}", redact_url(&self.base)),
            source: Some(Box::new(e)),
        })
    }

    /// Resolves a `Location` header against the URL it came from.
    pub fn location(&self, from: &Url, resp: &Response) -> Result<Url, Error> {
        let loc = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::BadResponse {
                what: "response without Location header",
                url: redact_url(from),
                source: None,
            })?;
        from.join(loc).map_err(|e| Error::BadResponse {
            what: "Location header",
            url: redact_url(from),
            source: Some(Box::new(e)),
        })
    }

    /// Sends the request `build` makes, authorised for `scopes`; after a 401 on a bearer
    /// session, fetches a fresh token (with any scope the challenge adds) and sends once more.
    /// `build` is called again for that second attempt, so a streamed body is rebuilt.
    pub async fn send(
        &self,
        scopes: &Scopes,
        build: impl Fn(&Client) -> RequestBuilder,
    ) -> Result<Response, Error> {
        let resp = self.send_once(scopes, &build).await?;
        if resp.status() != StatusCode::UNAUTHORIZED || !self.auth.is_bearer() {
            return Ok(resp);
        }
        let challenge = resp
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let wider = self.auth.invalidate(scopes, challenge.as_deref()).await;
        tracing::debug!(registry = %self.registry, "token refused, fetching a new one");
        self.send_once(&wider, &build).await
    }

    async fn send_once(
        &self,
        scopes: &Scopes,
        build: &impl Fn(&Client) -> RequestBuilder,
    ) -> Result<Response, Error> {
        let mut req = build(&self.client)
            .build()
            .map_err(|e| Error::BadResponse {
                what: "request",
                url: redact_url(&self.base),
                source: Some(Box::new(e.without_url())),
            })?;
        if let Some(h) = self.auth.header(&self.client, scopes).await? {
            req.headers_mut().insert(AUTHORIZATION, h);
        }
        let (method, url) = (req.method().clone(), req.url().clone());
        self.client
            .execute(req)
            .await
            .map_err(|e| Error::transport(method, &url, e))
    }

    /// Passes `resp` through when its status is one of `expected`, else reads its error body.
    /// 401 and 403 become [`Error::Unauthorized`] naming the registry and the credential source.
    pub async fn check(
        &self,
        method: Method,
        resp: Response,
        expected: &[StatusCode],
    ) -> Result<Response, Error> {
        let status = resp.status();
        if expected.contains(&status) {
            return Ok(resp);
        }
        let url = resp.url().clone();
        let retry = retry_after(resp.headers());
        // A body that cannot be read still leaves the status to report.
        let body = read_limited(resp, MAX_ERROR_BODY, "error body", &url)
            .await
            .unwrap_or_default();
        let err = ResponseError::new(method, &url, status, retry, &body);
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return Err(Error::Unauthorized {
                registry: self.registry.clone(),
                source_hint: self.auth.source_hint().to_owned(),
                source: Box::new(err),
            });
        }
        Err(err.into())
    }
}

/// Reads a whole body of at most `limit` bytes; a longer one is an error, found before it is
/// held: `Content-Length` is checked first, then the running total.
pub(crate) async fn read_limited(
    mut resp: Response,
    limit: usize,
    what: &'static str,
    url: &Url,
) -> Result<Vec<u8>, Error> {
    let too_large = || Error::TooLarge {
        what,
        url: redact_url(url),
        limit: limit as u64,
    };
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| Error::transport(Method::GET, url, e))?
    {
        if out.len() + chunk.len() > limit {
            return Err(too_large());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}
