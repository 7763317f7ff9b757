//! Content descriptors: the `{mediaType, digest, size}` pointer that manifests, indexes and
//! `index.json` use to name a blob
//! (<https://github.com/opencontainers/image-spec/blob/main/descriptor.md>).
//!
//! Owns: the [`Descriptor`] shape, including the optional `urls`, `annotations`, `data`,
//! `artifactType` and (in an index) `platform`. Does not own: fetching what it points at.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::media_type::MediaType;
use crate::platform::Platform;

/// The annotation that names an image inside an OCI layout's `index.json`.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The annotation containerd and `docker save` use for the full image name in `index.json`.
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";

/// A typed pointer to a blob.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: MediaType,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The blob itself, base64-encoded, when small enough to embed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(
        rename = "artifactType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub artifact_type: Option<MediaType>,
    /// Fields this version does not know, kept for a faithful round-trip.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Descriptor {
    /// A descriptor with just the three required fields.
    pub fn new(media_type: MediaType, digest: Digest, size: u64) -> Self {
        Self {
            media_type,
            digest,
            size,
            urls: Vec::new(),
            annotations: BTreeMap::new(),
            data: None,
            platform: None,
            artifact_type: None,
            extra: BTreeMap::new(),
        }
    }

    /// The descriptor of `bytes` (a manifest or config kiln has in memory).
    pub fn of(media_type: MediaType, bytes: &[u8]) -> Self {
        Self::new(media_type, Digest::of(bytes), bytes.len() as u64)
    }

    /// This descriptor with `platform` set.
    pub fn with_platform(mut self, platform: Platform) -> Self {
        self.platform = Some(platform);
        self
    }

    /// This descriptor with one more annotation.
    pub fn with_annotation(mut self, key: &str, value: &str) -> Self {
        self.annotations.insert(key.to_owned(), value.to_owned());
        self
    }

    /// The `org.opencontainers.image.ref.name` annotation, if any.
    pub fn ref_name(&self) -> Option<&str> {
        self.annotations
            .get(ANNOTATION_REF_NAME)
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::to_canonical_json;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn minimal_descriptor_serialises_only_required_fields() {
        let d = Descriptor::new(MediaType::OciLayerGzip, D.parse().unwrap(), 32);
        let want = format!(
            r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{D}","size":32}}"#
        );
        assert_eq!(String::from_utf8(to_canonical_json(&d)).unwrap(), want);
    }

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let json = format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{D}","size":7,"annotations":{{"a":"1","org.opencontainers.image.ref.name":"v1"}},"platform":{{"architecture":"amd64","os":"linux"}},"zz-new-field":{{"k":[1,2]}}}}"#
        );
        let d: Descriptor = serde_json::from_str(&json).unwrap();
        assert_eq!(d.ref_name(), Some("v1"));
        assert_eq!(d.platform.as_ref().map(|p| p.os.as_str()), Some("linux"));
        assert_eq!(String::from_utf8(to_canonical_json(&d)).unwrap(), json);
    }

    #[test]
    fn bad_digest_or_negative_size_is_refused() {
        let bad = [
            r#"{"mediaType":"x","digest":"sha256:abc","size":1}"#,
            &format!(r#"{{"mediaType":"x","digest":"{D}","size":-1}}"#),
            &format!(r#"{{"mediaType":"x","digest":"{D}"}}"#),
        ];
        for json in bad {
            assert!(serde_json::from_str::<Descriptor>(json).is_err(), "{json}");
        }
    }

    #[test]
    fn of_hashes_the_bytes() {
        let d = Descriptor::of(MediaType::OciEmpty, b"{}");
        assert_eq!(d.size, 2);
        assert_eq!(
            d.digest.as_str(),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }
}
