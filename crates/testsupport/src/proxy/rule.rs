//! Fault rules: which requests a rule matches, what it does to them, and how many times.
//!
//! Owns: classifying a distribution API path (`/v2/<name>/blobs/<digest>`,
//! `/v2/<name>/manifests/<reference>`, `/v2/<name>/blobs/uploads/...`, per the distribution
//! spec, <https://github.com/opencontainers/distribution-spec/blob/main/spec.md#endpoints>),
//! and picking the first live rule for a request. Does not own: doing the fault (`body`,
//! the proxy's service).

use hyper::Method;

/// What a request addresses, from its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v2/`
    Base,
    /// `/v2/<name>/blobs/<digest>`
    Blob { name: String, digest: String },
    /// `/v2/<name>/blobs/uploads/...`
    Upload { name: String },
    /// `/v2/<name>/manifests/<reference>`
    Manifest { name: String, reference: String },
    /// Anything else (tags, catalog, the token realm).
    Other,
}

impl Endpoint {
    /// Classifies a request path (without the query).
    pub fn parse(path: &str) -> Self {
        let Some(rest) = path.strip_prefix("/v2/") else {
            return Self::Other;
        };
        if rest.is_empty() {
            return Self::Base;
        }
        if let Some(i) = rest.find("/blobs/uploads") {
            return Self::Upload {
                name: rest[..i].to_owned(),
            };
        }
        if let Some((name, digest)) = rest.rsplit_once("/blobs/") {
            return Self::Blob {
                name: name.to_owned(),
                digest: digest.to_owned(),
            };
        }
        if let Some((name, reference)) = rest.rsplit_once("/manifests/") {
            return Self::Manifest {
                name: name.to_owned(),
                reference: reference.to_owned(),
            };
        }
        Self::Other
    }
}

/// Which requests a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every request.
    Any,
    /// Blob reads (`GET`/`HEAD` of a blob), of one digest or of any.
    Blob(Option<String>),
    /// Manifest requests, of one tag or digest or of any.
    Manifest(Option<String>),
    /// Upload requests (`POST`, `PATCH`, `PUT` under `blobs/uploads`).
    Upload,
    /// Requests whose path contains the text.
    PathContains(String),
}

impl Target {
    fn matches(&self, endpoint: &Endpoint, path: &str) -> bool {
        match (self, endpoint) {
            (Self::Any, _) => true,
            (Self::Blob(want), Endpoint::Blob { digest, .. }) => {
                want.as_ref().is_none_or(|w| w == digest)
            }
            (Self::Manifest(want), Endpoint::Manifest { reference, .. }) => {
                want.as_ref().is_none_or(|w| w == reference)
            }
            (Self::Upload, Endpoint::Upload { .. }) => true,
            (Self::PathContains(text), _) => path.contains(text.as_str()),
            _ => false,
        }
    }
}

/// What happens to a matching request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer this status without asking the registry; `Retry-After` when given (seconds).
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    /// Answer 404 with the registry's `MANIFEST_UNKNOWN` error.
    ManifestUnknown,
    /// Pass this many body bytes (the response's, or for uploads the request's), then drop the
    /// connection.
    ResetAfter(u64),
    /// Forward the response with one byte of its body flipped: same length, wrong digest.
    Corrupt,
}

/// One fault, where it applies and how many more times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub target: Target,
    pub method: Option<Method>,
    pub fault: Fault,
    /// `None`: every matching request; `Some(n)`: the next `n`, then the rule is spent.
    pub remaining: Option<usize>,
}

impl Rule {
    pub fn new(target: Target, fault: Fault) -> Self {
        Self {
            target,
            method: None,
            fault,
            remaining: None,
        }
    }

    /// Drops the connection after `bytes` bytes of the blob's body (any blob when `None`).
    pub fn reset_mid_blob(digest: Option<&str>, bytes: u64) -> Self {
        Self::new(
            Target::Blob(digest.map(str::to_owned)),
            Fault::ResetAfter(bytes),
        )
        .method(Method::GET)
    }

    /// Drops the connection after `bytes` bytes of an upload's request body.
    pub fn reset_mid_upload(bytes: u64) -> Self {
        Self::new(Target::Upload, Fault::ResetAfter(bytes))
    }

    /// Answers `503 Service Unavailable`.
    pub fn unavailable(target: Target) -> Self {
        Self::new(
            target,
            Fault::Status {
                status: 503,
                retry_after: None,
            },
        )
    }

    /// Answers `429 Too Many Requests` with `Retry-After: seconds`.
    pub fn too_many_requests(target: Target, seconds: u64) -> Self {
        Self::new(
            target,
            Fault::Status {
                status: 429,
                retry_after: Some(seconds),
            },
        )
    }

    /// Flips a byte of the blob's body (any blob when `None`).
    pub fn corrupt_blob(digest: Option<&str>) -> Self {
        Self::new(Target::Blob(digest.map(str::to_owned)), Fault::Corrupt).method(Method::GET)
    }

    /// Answers 404 `MANIFEST_UNKNOWN` for the manifest (any when `None`).
    pub fn manifest_not_found(reference: Option<&str>) -> Self {
        Self::new(
            Target::Manifest(reference.map(str::to_owned)),
            Fault::ManifestUnknown,
        )
    }

    /// Applies only to requests with this method.
    pub fn method(mut self, method: Method) -> Self {
        self.method = Some(method);
        self
    }

    /// Applies to the next `n` matching requests only.
    pub fn times(mut self, n: usize) -> Self {
        self.remaining = Some(n);
        self
    }

    fn matches(&self, method: &Method, endpoint: &Endpoint, path: &str) -> bool {
        self.remaining != Some(0)
            && self.method.as_ref().is_none_or(|m| m == method)
            && self.target.matches(endpoint, path)
    }
}

/// The fault for a request: the first live matching rule's, which uses up one of its times.
pub fn pick(rules: &mut [Rule], method: &Method, path: &str) -> Option<Fault> {
    let endpoint = Endpoint::parse(path);
    let rule = rules
        .iter_mut()
        .find(|r| r.matches(method, &endpoint, path))?;
    if let Some(n) = rule.remaining.as_mut() {
        *n -= 1;
    }
    Some(rule.fault.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:aaaa";

    #[test]
    fn endpoints_are_classified_from_the_path() {
        let blob = |name: &str, digest: &str| Endpoint::Blob {
            name: name.into(),
            digest: digest.into(),
        };
        let cases = [
            ("/v2/", Endpoint::Base),
            ("/v2/busybox/blobs/sha256:aaaa", blob("busybox", DIGEST)),
            ("/v2/a/blobs/b/blobs/sha256:aaaa", blob("a/blobs/b", DIGEST)),
            (
                "/v2/team/app/blobs/uploads/",
                Endpoint::Upload {
                    name: "team/app".into(),
                },
            ),
            (
                "/v2/team/app/blobs/uploads/6f1c",
                Endpoint::Upload {
                    name: "team/app".into(),
                },
            ),
            (
                "/v2/busybox/manifests/latest",
                Endpoint::Manifest {
                    name: "busybox".into(),
                    reference: "latest".into(),
                },
            ),
            ("/v2/busybox/tags/list", Endpoint::Other),
            ("/token", Endpoint::Other),
        ];
        for (path, want) in cases {
            assert_eq!(Endpoint::parse(path), want, "path {path}");
        }
    }

    #[test]
    fn rules_match_their_target_and_method() {
        let blob_path = "/v2/busybox/blobs/sha256:aaaa";
        let cases: Vec<(Rule, Method, &str, bool)> = vec![
            (Rule::corrupt_blob(None), Method::GET, blob_path, true),
            (
                Rule::corrupt_blob(Some(DIGEST)),
                Method::GET,
                blob_path,
                true,
            ),
            (
                Rule::corrupt_blob(Some("sha256:bb")),
                Method::GET,
                blob_path,
                false,
            ),
            (Rule::corrupt_blob(None), Method::HEAD, blob_path, false),
            (
                Rule::manifest_not_found(Some("latest")),
                Method::GET,
                "/v2/busybox/manifests/latest",
                true,
            ),
            (
                Rule::manifest_not_found(Some("latest")),
                Method::GET,
                "/v2/busybox/manifests/other",
                false,
            ),
            (
                Rule::unavailable(Target::Upload),
                Method::PATCH,
                "/v2/x/blobs/uploads/1",
                true,
            ),
            (
                Rule::unavailable(Target::Upload),
                Method::GET,
                blob_path,
                false,
            ),
            (Rule::unavailable(Target::Any), Method::GET, "/v2/", true),
            (
                Rule::unavailable(Target::PathContains("tags".into())),
                Method::GET,
                "/v2/busybox/tags/list",
                true,
            ),
        ];
        for (rule, method, path, want) in cases {
            let mut rules = [rule.clone()];
            assert_eq!(
                pick(&mut rules, &method, path).is_some(),
                want,
                "{rule:?} {method} {path}"
            );
        }
    }

    #[test]
    fn counted_rules_are_spent_after_their_times() {
        let mut rules = [
            Rule::too_many_requests(Target::Any, 1).times(2),
            Rule::unavailable(Target::Any).times(1),
        ];
        let faults: Vec<Option<Fault>> = (0..5)
            .map(|_| pick(&mut rules, &Method::GET, "/v2/"))
            .collect();
        let status = |status, retry_after| {
            Some(Fault::Status {
                status,
                retry_after,
            })
        };
        assert_eq!(
            faults,
            [
                status(429, Some(1)),
                status(429, Some(1)),
                status(503, None),
                None,
                None
            ]
        );
    }
}
