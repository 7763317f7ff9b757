//! Fetching manifests: `GET`/`HEAD /v2/<name>/manifests/<reference>`.
//!
//! Owns: content negotiation (an `Accept` header naming the four manifest types kiln reads:
//! OCI manifest and index, Docker schema 2 manifest and manifest list), refusing schema 1,
//! verifying the bytes against a digest reference, and bounding the size read
//! (<https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pulling-manifests>).
//!
//! Does not own: interpreting the manifest (`kiln-oci`).

use kiln_oci::Digest;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode};

use crate::auth::Scopes;
use crate::client::RegistryClient;
use crate::error::Error;
use crate::options::Direction;
use crate::redact::redact_url;
use crate::repository::Repository;
use crate::retry::retry;
use crate::transport::read_limited;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1";

/// The `Accept` header for manifest requests.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

/// A manifest as the registry sent it: the exact bytes (its digest is theirs), and its type.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub media_type: String,
    pub digest: Digest,
    pub bytes: Vec<u8>,
}

impl FetchedManifest {
    /// Whether this is an index (OCI) or a manifest list (Docker).
    pub fn is_index(&self) -> bool {
        self.media_type == OCI_INDEX || self.media_type == DOCKER_MANIFEST_LIST
    }
}

/// What a `HEAD` tells about a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestHead {
    pub media_type: Option<String>,
    pub digest: Option<Digest>,
    pub size: Option<u64>,
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned())
}

/// The media type: the `Content-Type` when it is specific, else the `mediaType` field.
fn media_type(header: Option<String>, bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(default, rename = "mediaType")]
        media_type: Option<String>,
        #[serde(default, rename = "schemaVersion")]
        schema_version: Option<u32>,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
    }
    let generic = |t: &str| t.is_empty() || t == "application/json" || t == "text/plain";
    if let Some(h) = header.filter(|h| !generic(h)) {
        return Some(h);
    }
    let probe: Probe = serde_json::from_slice(bytes).ok()?;
    match (probe.media_type, probe.schema_version) {
        (Some(t), _) => Some(t),
        (None, Some(1)) => Some(DOCKER_SCHEMA1.to_owned()),
        // An OCI manifest or index may omit mediaType.
        (None, Some(2)) if probe.manifests.is_some() => Some(OCI_INDEX.to_owned()),
        (None, Some(2)) => Some(OCI_MANIFEST.to_owned()),
        _ => None,
    }
}

fn check_supported(reference: &str, media_type: &str) -> Result<(), Error> {
    if media_type.starts_with(DOCKER_SCHEMA1) {
        return Err(Error::Unsupported {
            what: format!(
                "Docker schema 1 manifest of {reference} (deprecated; re-push the image with a current client)"
            ),
        });
    }
    if ![
        OCI_MANIFEST,
        OCI_INDEX,
        DOCKER_MANIFEST,
        DOCKER_MANIFEST_LIST,
    ]
    .contains(&media_type)
    {
        return Err(Error::Unsupported {
            what: format!("manifest media type {media_type} of {reference}"),
        });
    }
    Ok(())
}

impl RegistryClient {
    /// Fetches the manifest `identifier` (a tag or a digest) of `repo`.
    pub async fn get_manifest(
        &self,
        repo: &Repository,
        identifier: &str,
    ) -> Result<FetchedManifest, Error> {
        let reference = display_reference(repo, identifier);
        retry(self.options(), Direction::Pull, "get manifest", || {
            self.get_manifest_once(repo, identifier, &reference)
        })
        .await
    }

    async fn get_manifest_once(
        &self,
        repo: &Repository,
        identifier: &str,
        reference: &str,
    ) -> Result<FetchedManifest, Error> {
        let session = self.session(repo, Direction::Pull).await?;
        let url = session.url(&format!("v2/{}/manifests/{identifier}", repo.name()))?;
        let resp = session
            .send(&Scopes::pull(repo.name()), |c| {
                c.get(url.clone()).header(ACCEPT, MANIFEST_ACCEPT)
            })
            .await?;
        let resp = match session.check(Method::GET, resp, &[StatusCode::OK]).await {
            Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => {
                return Err(not_found(e, reference));
            }
            other => other?,
        };
        let header_type = content_type(resp.headers());
        let limit = self.options().max_manifest_size as usize;
        let bytes = read_limited(resp, limit, "manifest", &url).await?;
        let digest = Digest::of(&bytes);
        if let Ok(wanted) = identifier.parse::<Digest>() {
            if wanted.algorithm() == "sha256" && wanted != digest {
                return Err(Error::DigestMismatch {
                    digest: format!("{reference} (manifest)"),
                    actual: digest.to_string(),
                });
            }
        }
        let media_type = media_type(header_type, &bytes).ok_or_else(|| Error::BadResponse {
            what: "manifest without a media type",
            url: redact_url(&url),
            source: None,
        })?;
        check_supported(reference, &media_type)?;
        Ok(FetchedManifest {
            media_type,
            digest,
            bytes,
        })
    }

    /// `HEAD` of a manifest: `None` when the registry does not have it.
    pub async fn head_manifest(
        &self,
        repo: &Repository,
        identifier: &str,
        direction: Direction,
    ) -> Result<Option<ManifestHead>, Error> {
        retry(self.options(), direction, "head manifest", || async {
            let session = self.session(repo, direction).await?;
            let url = session.url(&format!("v2/{}/manifests/{identifier}", repo.name()))?;
            let scopes = match direction {
                Direction::Pull => Scopes::pull(repo.name()),
                Direction::Push => Scopes::push(repo.name()),
            };
            let resp = session
                .send(&scopes, |c| {
                    c.head(url.clone()).header(ACCEPT, MANIFEST_ACCEPT)
                })
                .await?;
            if resp.status() == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            let resp = session.check(Method::HEAD, resp, &[StatusCode::OK]).await?;
            let h = resp.headers();
            Ok(Some(ManifestHead {
                media_type: content_type(h),
                digest: h
                    .get("docker-content-digest")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok()),
                size: resp.content_length(),
            }))
        })
        .await
    }
}

/// `registry/name:tag` or `registry/name@digest`, for messages.
pub(crate) fn display_reference(repo: &Repository, identifier: &str) -> String {
    if identifier.contains(':') {
        format!("{repo}@{identifier}")
    } else {
        format!("{repo}:{identifier}")
    }
}

fn not_found(e: Error, reference: &str) -> Error {
    match e {
        Error::Response(r) => Error::ManifestUnknown {
            reference: reference.to_owned(),
            source: r,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_type_prefers_specific_content_type_then_body() {
        let cases: &[(Option<&str>, &str, Option<&str>)] = &[
            (Some(DOCKER_MANIFEST), "{}", Some(DOCKER_MANIFEST)),
            (
                Some("application/json"),
                r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"}"#,
                Some(OCI_INDEX),
            ),
            (
                None,
                r#"{"schemaVersion":2,"manifests":[]}"#,
                Some(OCI_INDEX),
            ),
            (
                None,
                r#"{"schemaVersion":2,"layers":[]}"#,
                Some(OCI_MANIFEST),
            ),
            (
                None,
                r#"{"schemaVersion":1,"fsLayers":[]}"#,
                Some(DOCKER_SCHEMA1),
            ),
            (None, "not json", None),
        ];
        for (header, body, want) in cases {
            assert_eq!(
                media_type(header.map(str::to_owned), body.as_bytes()).as_deref(),
                *want,
                "{header:?} {body}"
            );
        }
    }

    #[test]
    fn schema1_is_refused_with_a_clear_message() {
        for t in [
            "application/vnd.docker.distribution.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
        ] {
            let err = check_supported("reg/a:1", t).unwrap_err().to_string();
            assert!(err.contains("schema 1") && err.contains("reg/a:1"), "{err}");
        }
        assert!(check_supported("r", OCI_MANIFEST).is_ok());
        assert!(check_supported("r", "application/vnd.example+json").is_err());
    }

    #[test]
    fn accept_header_names_all_four_types() {
        for t in [
            OCI_MANIFEST,
            OCI_INDEX,
            DOCKER_MANIFEST,
            DOCKER_MANIFEST_LIST,
        ] {
            assert!(MANIFEST_ACCEPT.contains(t), "{t}");
        }
    }
}
