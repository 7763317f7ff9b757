//! Resolving a reference to one image on a registry (or one of its mirrors).
//!
//! Owns: [`RemoteImage`], the manifest of one platform's image and where it was found, and
//! [`RegistryClient::resolve_image`]: the mirror order of [`crate::mirror`], then index
//! selection with [`PlatformSpec`]. Blobs are read lazily through the image's repository.
//!
//! Reads only the descriptor fields it needs from the manifest; the typed model is `kiln-oci`'s.

use kiln_oci::{Digest, Reference};
use serde::Deserialize;

use super::blob::BlobReader;
use super::manifest::{FetchedManifest, display_reference};
use super::platform::{PlatformSpec, select};
use crate::client::RegistryClient;
use crate::error::Error;
use crate::repository::Repository;

/// A blob named by a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BlobDescriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
}

#[derive(Deserialize)]
struct ManifestBody {
    config: BlobDescriptor,
    #[serde(default)]
    layers: Vec<BlobDescriptor>,
}

/// One image's manifest, the repository that served it, and the index it came from if any.
#[derive(Debug, Clone)]
pub struct RemoteImage {
    /// Where the manifest was found: the original repository or a mirror's.
    pub source: Repository,
    pub manifest: FetchedManifest,
    /// The index (or manifest list) digest when the reference named one.
    pub index_digest: Option<Digest>,
    pub config: BlobDescriptor,
    pub layers: Vec<BlobDescriptor>,
}

impl RemoteImage {
    /// Reads the config blob, bounded by the manifest size limit.
    pub async fn read_config(&self, client: &RegistryClient) -> Result<Vec<u8>, Error> {
        let limit = client.options().max_manifest_size.max(self.config.size);
        client
            .read_blob(&self.source, &self.config.digest, limit)
            .await
    }

    /// Starts reading layer `i` (in manifest order).
    pub async fn open_layer(&self, client: &RegistryClient, i: usize) -> Result<BlobReader, Error> {
        let layer = self.layers.get(i).ok_or_else(|| Error::BadResponse {
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
        platform: &PlatformSpec,
    ) -> Result<RemoteImage, Error> {
        let repo = Repository::of(reference);
        let candidates = self
            .options()
            .registry_map
            .candidates(&repo, self.options().skip_default_registry_fallback);
        let identifier = reference.identifier();
        let mut last_err = None;
        let count = candidates.len();
        for (i, candidate) in candidates.into_iter().enumerate() {
            match self.resolve_in(&candidate, &identifier, platform).await {
                Ok(image) => return Ok(image),
                Err(e) if i + 1 < count || candidate != repo => {
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
        platform: &PlatformSpec,
    ) -> Result<RemoteImage, Error> {
        let mut manifest = self.get_manifest(repo, identifier).await?;
        let mut index_digest = None;
        if manifest.is_index() {
            let reference = display_reference(repo, identifier);
            let chosen = select(&manifest.bytes, platform)
                .map_err(|e| Error::BadResponse {
                    what: "index",
                    url: reference.clone(),
                    source: Some(Box::new(e)),
                })?
                .ok_or_else(|| Error::NoMatchingPlatform {
                    reference: reference.clone(),
                    platform: platform.to_string(),
                })?;
            index_digest = Some(manifest.digest.clone());
            manifest = self.get_manifest(repo, chosen.as_str()).await?;
            if manifest.is_index() {
                return Err(Error::Unsupported {
                    what: format!("nested index in {reference}"),
                });
            }
        }
        let body: ManifestBody =
            serde_json::from_slice(&manifest.bytes).map_err(|e| Error::BadResponse {
                what: "manifest",
                url: display_reference(repo, identifier),
                source: Some(Box::new(e)),
            })?;
        Ok(RemoteImage {
            source: repo.clone(),
            manifest,
            index_digest,
            config: body.config,
            layers: body.layers,
        })
    }
}
