//! Resolving a reference to one image on a registry (or one of its mirrors).
//!
//! Owns: [`RemoteImage`], the manifest of one platform's image and where it was found, and
//! [`RegistryClient::resolve_image`]: the mirror order of [`crate::mirror`], then the index
//! entry [`kiln_oci::Index::select`] picks for the wanted platform. Blobs are read lazily
//! through the image's repository.

use kiln_oci::{
    Descriptor, Digest, MAX_CONFIG_SIZE, Manifest, ManifestOrIndex, Platform, Reference,
};

use super::blob::BlobReader;
use super::manifest::{FetchedManifest, display_reference};
use crate::client::RegistryClient;
use crate::error::Error;
use crate::repository::Repository;

/// One image's manifest, the repository that served it, and the index it came from if any.
#[derive(Debug, Clone)]
pub struct RemoteImage {
    /// Where the manifest was found: the original repository or a mirror's.
    pub source: Repository,
    /// The manifest's bytes and digest as served.
    pub fetched: FetchedManifest,
    pub manifest: Manifest,
    /// The index (or manifest list) digest when the reference named one.
    pub index_digest: Option<Digest>,
}

impl RemoteImage {
    pub fn digest(&self) -> &Digest {
        &self.fetched.digest
    }

    pub fn config(&self) -> &Descriptor {
        &self.manifest.config
    }

    pub fn layers(&self) -> &[Descriptor] {
        &self.manifest.layers
    }

    /// Reads the config blob, bounded by [`MAX_CONFIG_SIZE`] and by its declared size.
    pub async fn read_config(&self, client: &RegistryClient) -> Result<Vec<u8>, Error> {
        let config = &self.manifest.config;
        if config.size > MAX_CONFIG_SIZE {
            return Err(Error::TooLarge {
                what: "image config",
                url: format!("{}@{}", self.source, config.digest),
                limit: MAX_CONFIG_SIZE,
            });
        }
        client
            .read_blob(
                &self.source,
                &config.digest,
                Some(config.size),
                MAX_CONFIG_SIZE,
            )
            .await
    }

    /// Starts reading layer `i` (in manifest order).
    pub async fn open_layer(&self, client: &RegistryClient, i: usize) -> Result<BlobReader, Error> {
        let layer = self
            .manifest
            .layers
            .get(i)
            .ok_or_else(|| Error::BadResponse {
                what: "layer index beyond the manifest's layers",
                url: self.source.to_string(),
                source: None,
            })?;
        client
            .open_blob(&self.source, &layer.digest, Some(layer.size))
            .await
    }
}

impl RegistryClient {
    /// Finds `reference`'s image for `platform`: mirrors and registry maps first, then the
    /// registry itself unless `skip_default_registry_fallback`.
    pub async fn resolve_image(
        &self,
        reference: &Reference,
        platform: &Platform,
    ) -> Result<RemoteImage, Error> {
        let repo = Repository::of(reference);
        let candidates = self
            .options()
            .registry_map
            .candidates(&repo, self.options().skip_default_registry_fallback);
        let identifier = reference.identifier();
        let mut last_err = None;
        for candidate in candidates {
            match self.resolve_in(&candidate, &identifier, platform).await {
                Ok(image) => return Ok(image),
                Err(e) if candidate != repo => {
                    tracing::warn!(repository = %candidate, error = %e, "not found on mirror, trying next");
                    last_err = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::NotOnAnyMirror {
            reference: reference.to_string(),
            source: last_err.map(Box::new),
        })
    }

    /// The image `identifier` in exactly `repo`, following an index to `platform`.
    pub async fn resolve_in(
        &self,
        repo: &Repository,
        identifier: &str,
        platform: &Platform,
    ) -> Result<RemoteImage, Error> {
        let reference = display_reference(repo, identifier);
        let first = self.get_manifest(repo, identifier).await?;
        let (fetched, index_digest) = match &first.parsed {
            ManifestOrIndex::Manifest(_) => (first, None),
            ManifestOrIndex::Index(index) => {
                let chosen = index
                    .select(platform)
                    .ok_or_else(|| Error::NoMatchingPlatform {
                        reference: reference.clone(),
                        platform: platform.to_string(),
                        available: index.platforms().join(", "),
                    })?;
                let fetched = self.get_manifest(repo, chosen.digest.as_str()).await?;
                (fetched, Some(first.digest.clone()))
            }
        };
        let manifest = match &fetched.parsed {
            ManifestOrIndex::Manifest(m) => m.clone(),
            ManifestOrIndex::Index(_) => {
                return Err(Error::Unsupported {
                    what: format!("an index inside the index of {reference}"),
                });
            }
        };
        Ok(RemoteImage {
            source: repo.clone(),
            fetched,
            manifest,
            index_digest,
        })
    }
}
