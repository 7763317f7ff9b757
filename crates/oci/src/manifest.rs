//! Image manifests and indexes (manifest lists), in both families: the OCI image manifest
//! (<https://github.com/opencontainers/image-spec/blob/main/manifest.md>) and index
//! (<https://github.com/opencontainers/image-spec/blob/main/image-index.md>), Docker's image
//! manifest v2 schema 2 and manifest list
//! (<https://distribution.github.io/distribution/spec/manifest-v2-2/>).
//!
//! Owns: the [`Manifest`] and [`Index`] shapes, their canonical bytes, telling one from the
//! other when parsing ([`ManifestOrIndex::parse`]), refusing schema 1, and choosing an index
//! entry for a platform. Does not own: the config ([`crate::ConfigFile`]) or fetching.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::descriptor::Descriptor;
use crate::digest::Digest;
use crate::json::to_canonical_json;
use crate::media_type::{Family, MediaType};
use crate::platform::Platform;

/// Why bytes are not a manifest or index kiln can use.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error(
        "image manifest schema 1 ({media_type}) is not supported: it was deprecated in 2017 and \
         registries no longer serve it; re-push the image with a current docker, skopeo or crane \
         so that it is stored as schema 2 or OCI"
    )]
    Schema1 { media_type: String },
    #[error("unsupported manifest media type {media_type:?}")]
    UnsupportedMediaType { media_type: String },
    #[error("manifest has no mediaType and its shape is neither an image manifest nor an index")]
    UnknownShape,
    #[error("manifest says mediaType {body:?} but was served as {content_type:?}")]
    MediaTypeMismatch { body: String, content_type: String },
    #[error("manifest schemaVersion is {0}, expected 2")]
    SchemaVersion(i64),
    #[error("invalid {media_type} JSON")]
    Json {
        media_type: String,
        #[source]
        source: serde_json::Error,
    },
}

/// An image manifest: one config and its layers, for one platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: i64,
    /// Required by Docker schema 2, optional (but written by kiln) for OCI.
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<MediaType>,
    #[serde(
        rename = "artifactType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub artifact_type: Option<MediaType>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Fields this version does not know, kept for a faithful round-trip.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// An index (OCI) or manifest list (Docker): manifests for several platforms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Index {
    #[serde(rename = "schemaVersion")]
    pub schema_version: i64,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<MediaType>,
    #[serde(
        rename = "artifactType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub artifact_type: Option<MediaType>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Fields this version does not know, kept for a faithful round-trip.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Manifest {
    /// A manifest of `family` for `config` and `layers`.
    pub fn new(family: Family, config: Descriptor, layers: Vec<Descriptor>) -> Self {
        Self {
            schema_version: 2,
            media_type: Some(MediaType::manifest(family)),
            artifact_type: None,
            config,
            layers,
            subject: None,
            annotations: BTreeMap::new(),
            extra: BTreeMap::new(),
        }
    }

    /// The declared media type, or the OCI one a manifest without `mediaType` is read as.
    pub fn media_type(&self) -> MediaType {
        self.media_type.clone().unwrap_or(MediaType::OciManifest)
    }

    /// The canonical bytes: what is pushed, stored and hashed.
    pub fn to_json(&self) -> Vec<u8> {
        to_canonical_json(self)
    }

    pub fn digest(&self) -> Digest {
        Digest::of(&self.to_json())
    }

    /// A descriptor for this manifest, as an index or `index.json` entry.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::of(self.media_type(), &self.to_json())
    }

    /// The same image described with the media types of `family` (manifest, config and every
    /// layer). The blobs are unchanged, the manifest digest is not. Tools that read OCI layouts
    /// (umoci, skopeo's `oci:` transport) only see entries with OCI media types.
    pub fn with_family(&self, family: Family) -> Self {
        let mut out = self.clone();
        out.media_type = Some(MediaType::manifest(family));
        out.config.media_type = self.config.media_type.in_family(family);
        for layer in &mut out.layers {
            layer.media_type = layer.media_type.in_family(family);
        }
        out
    }
}

impl Index {
    /// An empty index of `family`.
    pub fn new(family: Family) -> Self {
        Self {
            schema_version: 2,
            media_type: Some(MediaType::index(family)),
            artifact_type: None,
            manifests: Vec::new(),
            subject: None,
            annotations: BTreeMap::new(),
            extra: BTreeMap::new(),
        }
    }

    pub fn media_type(&self) -> MediaType {
        self.media_type.clone().unwrap_or(MediaType::OciIndex)
    }

    pub fn to_json(&self) -> Vec<u8> {
        to_canonical_json(self)
    }

    pub fn digest(&self) -> Digest {
        Digest::of(&self.to_json())
    }

    pub fn descriptor(&self) -> Descriptor {
        Descriptor::of(self.media_type(), &self.to_json())
    }

    /// The entry to use for `platform`: an exact match (after normalisation) if there is one,
    /// else the best compatible fallback in [`Platform::compatible`] order; the first in index
    /// order among equals. Entries without a platform (attestations, `unknown/unknown`) never
    /// match.
    pub fn select(&self, platform: &Platform) -> Option<&Descriptor> {
        let wanted = platform.compatible();
        self.manifests
            .iter()
            .filter_map(|d| {
                let p = d.platform.as_ref()?;
                let rank = wanted.iter().position(|w| w.matches(p))?;
                Some((rank, d))
            })
            .min_by_key(|(rank, _)| *rank)
            .map(|(_, d)| d)
    }

    /// The platforms listed, for an error that says what was available.
    pub fn platforms(&self) -> Vec<String> {
        let platforms = self.manifests.iter().filter_map(|d| d.platform.as_ref());
        platforms.map(ToString::to_string).collect()
    }
}

/// A parsed manifest document: either kind.
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "parsed once per pull and matched at once; boxing would only add noise"
)]
pub enum ManifestOrIndex {
    Manifest(Manifest),
    Index(Index),
}

/// Just enough of a document to decide what it is.
#[derive(Deserialize)]
struct Probe {
    #[serde(rename = "schemaVersion")]
    schema_version: Option<i64>,
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    config: Option<serde_json::Value>,
    manifests: Option<serde_json::Value>,
}

impl ManifestOrIndex {
    /// Parses a manifest document. The kind comes from the body's `mediaType`, else from
    /// `content_type` (the registry's `Content-Type`, or a descriptor's `mediaType`) when that
    /// names a manifest type, else from the shape (`manifests` → index, `config` → manifest).
    /// Schema 1 is refused. Callers bound the size first ([`crate::read_bounded`]).
    pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Self, ManifestError> {
        let json_err = |media_type: &str| {
            let media_type = media_type.to_owned();
            move |source| ManifestError::Json { media_type, source }
        };
        let probe: Probe = serde_json::from_slice(bytes).map_err(json_err("manifest"))?;
        let served = content_type
            .map(MediaType::parse)
            .filter(|m| m.is_manifest() || m.is_index() || m.is_schema1());
        let body = probe.media_type.as_deref().map(MediaType::parse);
        if let Some(m) = [&body, &served]
            .into_iter()
            .flatten()
            .find(|m| m.is_schema1())
        {
            return Err(ManifestError::Schema1 {
                media_type: m.to_string(),
            });
        }
        if probe.schema_version == Some(1) {
            return Err(ManifestError::Schema1 {
                media_type: MediaType::DockerSchema1.to_string(),
            });
        }
        match (&body, &served) {
            (Some(b), Some(s)) if b != s => {
                return Err(ManifestError::MediaTypeMismatch {
                    body: b.to_string(),
                    content_type: s.to_string(),
                });
            }
            _ => {}
        }
        let kind = match body.or(served) {
            Some(m) => m,
            None if probe.manifests.is_some() => MediaType::OciIndex,
            None if probe.config.is_some() => MediaType::OciManifest,
            None => return Err(ManifestError::UnknownShape),
        };
        if let Some(v) = probe.schema_version.filter(|&v| v != 2) {
            return Err(ManifestError::SchemaVersion(v));
        }
        let parsed = if kind.is_index() {
            Self::Index(serde_json::from_slice(bytes).map_err(json_err(kind.as_str()))?)
        } else if kind.is_manifest() {
            Self::Manifest(serde_json::from_slice(bytes).map_err(json_err(kind.as_str()))?)
        } else {
            return Err(ManifestError::UnsupportedMediaType {
                media_type: kind.to_string(),
            });
        };
        Ok(parsed)
    }

    /// The media type the document is (declared, or inferred when parsing).
    pub fn media_type(&self) -> MediaType {
        match self {
            Self::Manifest(m) => m.media_type(),
            Self::Index(i) => i.media_type(),
        }
    }
}

#[cfg(test)]
#[path = "manifest_tests.rs"]
mod tests;
