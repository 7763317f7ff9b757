//! Fetching manifests: `GET`/`HEAD /v2/<name>/manifests/<reference>`.
//!
//! Owns: content negotiation (an `Accept` header naming the four manifest types kiln reads,
//! [`kiln_oci::ACCEPTED_MANIFEST_TYPES`]), verifying the bytes against a digest reference, and
//! bounding the size read
//! (<https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pulling-manifests>).
//!
//! Does not own: interpreting the document: [`kiln_oci::ManifestOrIndex::parse`] decides its
//! kind and refuses schema 1.

use kiln_oci::{ACCEPTED_MANIFEST_TYPES, Digest, ManifestOrIndex, MediaType};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode};

use crate::auth::Scopes;
use crate::client::RegistryClient;
use crate::error::Error;
use crate::options::Direction;
use crate::repository::Repository;
use crate::retry::retry;
use crate::transport::read_limited;

/// The `Accept` header for manifest requests.
pub fn manifest_accept() -> String {
    ACCEPTED_MANIFEST_TYPES.join(", ")
}

/// A manifest as the registry sent it: the exact bytes (its digest is theirs), and parsed.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub digest: Digest,
    pub bytes: Vec<u8>,
    pub parsed: ManifestOrIndex,
}

impl FetchedManifest {
    pub fn media_type(&self) -> MediaType {
        self.parsed.media_type()
    }

    /// Whether this is an index (OCI) or a manifest list (Docker).
    pub fn is_index(&self) -> bool {
        matches!(self.parsed, ManifestOrIndex::Index(_))
    }
}

/// What a `HEAD` tells about a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestHead {
    pub media_type: Option<MediaType>,
    pub digest: Option<Digest>,
    pub size: Option<u64>,
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
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
        let accept = manifest_accept();
        let resp = session
            .send(&Scopes::pull(repo.name()), |c| {
                c.get(url.clone()).header(ACCEPT, accept.as_str())
            })
            .await?;
        let resp = match session.check(Method::GET, resp, &[StatusCode::OK]).await {
            Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => {
                return Err(not_found(e, reference));
            }
            other => other?,
        };
        let served = content_type(resp.headers());
        let limit = usize::try_from(self.options().max_manifest_size).unwrap_or(usize::MAX);
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
        let parsed = ManifestOrIndex::parse(&bytes, served.as_deref()).map_err(|source| {
            Error::Manifest {
                reference: reference.to_owned(),
                source,
            }
        })?;
        Ok(FetchedManifest {
            digest,
            bytes,
            parsed,
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
            let accept = manifest_accept();
            let resp = session
                .send(&scopes, |c| {
                    c.head(url.clone()).header(ACCEPT, accept.as_str())
                })
                .await?;
            if resp.status() == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            let resp = session.check(Method::HEAD, resp, &[StatusCode::OK]).await?;
            let h = resp.headers();
            Ok(Some(ManifestHead {
                media_type: content_type(h).as_deref().map(MediaType::parse),
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
    fn accept_header_names_all_four_types() {
        let accept = manifest_accept();
        for t in [
            MediaType::OciManifest,
            MediaType::OciIndex,
            MediaType::DockerManifest,
            MediaType::DockerManifestList,
        ] {
            assert!(accept.contains(t.as_str()), "{t}");
        }
        assert!(!accept.contains("v1+json\", \"application/vnd.docker.distribution.manifest.v1"));
    }

    #[test]
    fn references_in_messages_use_tag_or_digest_form() {
        let repo = Repository::new("reg.example", "a/b");
        assert_eq!(display_reference(&repo, "v1"), "reg.example/a/b:v1");
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(display_reference(&repo, d), format!("reg.example/a/b@{d}"));
    }
}
