//! Pushing manifests, and the push-permission probe run before a build.
//!
//! Owns: `PUT /v2/<name>/manifests/<tag>` to every destination
//! (<https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pushing-manifests>),
//! with `--push-ignore-immutable-tag-errors` turning the registries' "tag is immutable"
//! refusals into a warning; and [`RegistryClient::check_push_permission`], which does what
//! Kaniko's `CheckPushPermissions` does through go-containerregistry: get a push token and
//! open an upload, then cancel it, so a missing permission fails before minutes of building.

use kiln_oci::{Digest, Reference};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};

use super::upload::open_upload;
use crate::auth::Scopes;
use crate::client::RegistryClient;
use crate::error::Error;
use crate::options::Direction;
use crate::repository::Repository;
use crate::retry::retry;

/// The outcome of one manifest PUT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestPushed {
    Pushed(Digest),
    /// The registry refused to overwrite an immutable tag, and the options say to go on.
    ImmutableTagIgnored(Digest),
}

impl ManifestPushed {
    pub fn digest(&self) -> &Digest {
        match self {
            ManifestPushed::Pushed(d) | ManifestPushed::ImmutableTagIgnored(d) => d,
        }
    }
}

impl RegistryClient {
    /// Puts manifest `bytes` of type `media_type` as `identifier` (a tag or its digest).
    pub async fn put_manifest(
        &self,
        repo: &Repository,
        identifier: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<ManifestPushed, Error> {
        let digest = Digest::of(bytes);
        let result = retry(self.options(), Direction::Push, "manifest put", || async {
            let session = self.session(repo, Direction::Push).await?;
            let url = session.url(&format!("v2/{}/manifests/{identifier}", repo.name()))?;
            let resp = session
                .send(&Scopes::push(repo.name()), |c| {
                    c.put(url.clone())
                        .header(CONTENT_TYPE, media_type)
                        .body(bytes.to_vec())
                })
                .await?;
            session
                .check(Method::PUT, resp, &[StatusCode::CREATED, StatusCode::OK])
                .await?;
            Ok(())
        })
        .await;
        match result {
            Ok(()) => Ok(ManifestPushed::Pushed(digest)),
            Err(e)
                if self.options().push_ignore_immutable_tag_errors
                    && e.response().is_some_and(|r| r.is_immutable_tag()) =>
            {
                tracing::warn!(repository = %repo, tag = identifier, error = %e, "tag is immutable, not overwritten");
                Ok(ManifestPushed::ImmutableTagIgnored(digest))
            }
            Err(e) => Err(e),
        }
    }

    /// Puts the manifest to every destination (`--destination`), in order.
    pub async fn push_manifest(
        &self,
        destinations: &[Reference],
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Vec<ManifestPushed>, Error> {
        let mut out = Vec::with_capacity(destinations.len());
        for dest in destinations {
            let repo = Repository::of(dest);
            out.push(
                self.put_manifest(&repo, &dest.identifier(), media_type, bytes)
                    .await?,
            );
        }
        Ok(out)
    }

    /// Fails unless the credentials may push to `repo`: opens an upload and cancels it.
    pub async fn check_push_permission(&self, repo: &Repository) -> Result<(), Error> {
        retry(
            self.options(),
            Direction::Push,
            "push permission check",
            || async {
                let session = self.session(repo, Direction::Push).await?;
                let scopes = Scopes::push(repo.name());
                let start = session.url(&format!("v2/{}/blobs/uploads/", repo.name()))?;
                let location = open_upload(&session, &scopes, &start).await?;
                // Cancelling is a courtesy: registries expire abandoned uploads anyway.
                if let Ok(resp) = session.send(&scopes, |c| c.delete(location.clone())).await {
                    tracing::debug!(status = %resp.status(), "probe upload cancelled");
                }
                Ok(())
            },
        )
        .await
    }
}
