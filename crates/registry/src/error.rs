//! Errors of the registry client.
//!
//! Owns: [`Error`], and [`ResponseError`], a registry's error response as the distribution spec
//! defines it (<https://github.com/opencontainers/distribution-spec/blob/main/spec.md#error-codes>):
//! the method, the redacted URL, the status, the registry's own codes and messages, and whether a
//! retry is worth it. Modelled on go-containerregistry's `transport/error.go`.
//!
//! Never holds a credential, a token or an `Authorization` header: URLs pass through
//! [`crate::redact`] before they are stored, and transport errors are stripped of their URL.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;

use crate::credentials::CredentialError;
use crate::redact::redact_url;

/// Messages that registries use when a tag may not be overwritten (Artifact Registry, ECR,
/// Harbor, Quay).
const IMMUTABLE_TAG_MESSAGES: &[&str] = &[
    "the repository has enabled tag immutability",
    "cannot be overwritten because the repository is immutable",
    "configured as immutable",
    "imagetagalreadyexistsexception",
    "tag is immutable",
];

/// One entry of a registry's `{"errors": [...]}` body.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Diagnostic {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<Diagnostic>,
}

/// A response with a status the operation did not expect.
#[derive(Debug, Clone)]
pub struct ResponseError {
    pub method: Method,
    /// Already redacted.
    pub url: String,
    pub status: StatusCode,
    pub diagnostics: Vec<Diagnostic>,
    /// From a `Retry-After` header in seconds, on 429 and 503.
    pub retry_after: Option<Duration>,
}

impl ResponseError {
    /// Builds the error from a response's parts; `body` is at most a few KiB the caller read.
    pub fn new(
        method: Method,
        url: &Url,
        status: StatusCode,
        retry_after: Option<Duration>,
        body: &[u8],
    ) -> Self {
        let diagnostics = serde_json::from_slice::<ErrorBody>(body)
            .map(|b| b.errors)
            .unwrap_or_default();
        Self {
            method,
            url: redact_url(url),
            status,
            diagnostics,
            retry_after,
        }
    }

    /// Worth another attempt: 408, 429 and every 5xx. Auth and validation errors are not.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.status,
            StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS
        ) || self.status.is_server_error()
    }

    /// Whether the registry answered with this distribution error code (e.g. `MANIFEST_UNKNOWN`).
    pub fn has_code(&self, code: &str) -> bool {
        self.diagnostics.iter().any(|d| d.code == code)
    }

    /// Whether this is one of the registries' "tag is immutable" refusals.
    pub fn is_immutable_tag(&self) -> bool {
        self.diagnostics.iter().any(|d| {
            let text = format!("{} {}", d.code, d.message).to_lowercase();
            IMMUTABLE_TAG_MESSAGES.iter().any(|m| text.contains(m))
        })
    }
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.method, self.url, self.status)?;
        for d in &self.diagnostics {
            write!(f, "; {}: {}", d.code, d.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ResponseError {}

/// Everything the registry client can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Response(Box<ResponseError>),

    #[error("registry {registry} refused the credentials ({source_hint})")]
    Unauthorized {
        registry: String,
        /// Where the credentials came from, e.g. `basic auth from /root/.docker/config.json`,
        /// or `anonymous: no credentials found`.
        source_hint: String,
        #[source]
        source: Box<ResponseError>,
    },

    #[error("{method} {url}: request failed")]
    Transport {
        method: Method,
        url: String,
        #[source]
        source: reqwest::Error,
    },

    #[error("cannot connect to registry {registry}")]
    Unreachable {
        registry: String,
        #[source]
        source: Box<Error>,
    },

    #[error("manifest unknown: {reference}")]
    ManifestUnknown {
        reference: String,
        #[source]
        source: Box<ResponseError>,
    },

    #[error(
        "blob {digest} does not match its digest: the registry sent content hashing to {actual}"
    )]
    DigestMismatch { digest: String, actual: String },

    #[error("blob {digest} is {actual} bytes where {expected} were declared")]
    SizeMismatch {
        digest: String,
        expected: u64,
        actual: u64,
    },

    #[error("{what} from {url} is larger than the limit of {limit} bytes")]
    TooLarge {
        what: &'static str,
        url: String,
        limit: u64,
    },

    #[error("registry {registry} sent a challenge kiln cannot answer: {challenge}")]
    UnsupportedChallenge { registry: String, challenge: String },

    #[error("token server for {registry} sent an unusable response from {url}")]
    BadToken {
        registry: String,
        url: String,
        #[source]
        source: Option<serde_json::Error>,
    },

    #[error("{what} from {url} is not valid")]
    BadResponse {
        what: &'static str,
        url: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    #[error("no image in index {reference} matches platform {platform} (it has: {available})")]
    NoMatchingPlatform {
        reference: String,
        platform: String,
        available: String,
    },

    #[error("manifest of {reference}")]
    Manifest {
        reference: String,
        #[source]
        source: kiln_oci::ManifestError,
    },

    #[error("{what} is not supported yet")]
    Unsupported { what: String },

    #[error("credentials for {registry}")]
    Credentials {
        registry: String,
        #[source]
        source: CredentialError,
    },

    #[error("tls setup for {registry}")]
    Tls {
        registry: String,
        #[source]
        source: crate::tls::TlsError,
    },

    #[error("reading {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("image {reference} was not found on any configured mirror")]
    NotOnAnyMirror {
        reference: String,
        #[source]
        source: Option<Box<Error>>,
    },
}

impl Error {
    /// Whether another attempt could succeed: connection failures, timeouts, 408, 429 and 5xx.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Response(r) => r.is_retryable(),
            Error::Transport { source, .. } => {
                (source.is_connect()
                    || source.is_timeout()
                    || source.is_request()
                    || source.is_body()
                    || source.is_decode())
                    && !is_certificate_error(source)
            }
            Error::Unreachable { source, .. } => source.is_retryable(),
            _ => false,
        }
    }

    /// The registry's `Retry-After`, if it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Response(r) => r.retry_after,
            _ => None,
        }
    }

    /// The registry's answer, when the failure is one.
    pub fn response(&self) -> Option<&ResponseError> {
        match self {
            Error::Response(r) => Some(r),
            Error::Unauthorized { source, .. } | Error::ManifestUnknown { source, .. } => {
                Some(source)
            }
            _ => None,
        }
    }

    /// HTTP status of the registry's answer, if the failure is one.
    pub fn status(&self) -> Option<StatusCode> {
        self.response().map(|r| r.status)
    }

    /// A line of advice for the user, rendered by the binary as `hint:`.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Unauthorized { registry, .. } => Some(format!(
                "check the credentials for {registry} in config.json (DOCKER_CONFIG, \
                 $HOME/.docker or /kaniko/.docker) or its credential helper"
            )),
            Error::Unreachable { .. } | Error::Transport { .. } => Some(
                "for a registry with a private CA pass --registry-certificate; for plain http \
                 pass --insecure-registry"
                    .to_owned(),
            ),
            _ => None,
        }
    }

    pub(crate) fn transport(method: Method, url: &Url, source: reqwest::Error) -> Self {
        Error::Transport {
            method,
            url: redact_url(url),
            source: source.without_url(),
        }
    }
}

/// A TLS verification failure: it will fail the same way next time, so it is not retried.
fn is_certificate_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        let text = err.to_string().to_lowercase();
        if text.contains("invalid peer certificate") || text.contains("certificate verify failed") {
            return true;
        }
        cur = err.source();
    }
    false
}

impl From<ResponseError> for Error {
    fn from(e: ResponseError) -> Self {
        Error::Response(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> ResponseError {
        let url = Url::parse("https://reg.example/v2/a/manifests/latest?token=secret").unwrap();
        ResponseError::new(
            Method::GET,
            &url,
            StatusCode::from_u16(status).unwrap(),
            None,
            body.as_bytes(),
        )
    }

    #[test]
    fn retryable_statuses_are_408_429_and_5xx() {
        let cases = [
            (408, true),
            (429, true),
            (500, true),
            (502, true),
            (503, true),
            (400, false),
            (401, false),
            (403, false),
            (404, false),
        ];
        for (status, want) in cases {
            assert_eq!(response(status, "").is_retryable(), want, "{status}");
        }
    }

    #[test]
    fn display_keeps_registry_codes_and_redacts_the_url() {
        let e = response(
            404,
            r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}"#,
        );
        let text = e.to_string();
        assert_eq!(
            text,
            "GET https://reg.example/v2/a/manifests/latest?token=REDACTED: 404 Not Found; \
             MANIFEST_UNKNOWN: manifest unknown"
        );
        assert!(e.has_code("MANIFEST_UNKNOWN"));
    }

    #[test]
    fn non_json_body_gives_no_diagnostics() {
        assert!(
            response(502, "<html>bad gateway</html>")
                .diagnostics
                .is_empty()
        );
    }

    #[test]
    fn immutable_tag_errors_are_recognised() {
        let cases = [
            (
                r#"{"errors":[{"code":"MANIFEST_INVALID","message":"The repository has enabled tag immutability"}]}"#,
                true,
            ),
            (
                r#"{"errors":[{"code":"TAG_INVALID","message":"The image tag 'v1' already exists in the 'a' repository and cannot be overwritten because the repository is immutable."}]}"#,
                true,
            ),
            (
                r#"{"errors":[{"code":"DENIED","message":"The tag v1 is configured as immutable"}]}"#,
                true,
            ),
            (
                r#"{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid"}]}"#,
                false,
            ),
        ];
        for (body, want) in cases {
            assert_eq!(response(400, body).is_immutable_tag(), want, "{body}");
        }
    }
}
