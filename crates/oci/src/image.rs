//! An image whose blobs are at hand: the manifest and config as bytes, each layer as a file.
//! This is what the layout and tarball writers take, and what a layout read gives back.
//!
//! Owns: [`LocalImage`] and the consistency checks between its parts (the config and layer
//! count agree with the manifest). Layer contents are verified later, while they are copied,
//! so that no layer is read twice. Does not own: producing layers (`kiln-fs`) or fetching them.

use std::path::{Path, PathBuf};

use crate::config::ConfigFile;
use crate::descriptor::Descriptor;
use crate::digest::Digest;
use crate::manifest::{Manifest, ManifestError, ManifestOrIndex};
use crate::platform::Platform;

/// Why the parts do not make an image.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("invalid image manifest")]
    Manifest(#[source] ManifestError),
    #[error("expected an image manifest, found an index ({media_type})")]
    IsIndex { media_type: String },
    #[error(
        "config has digest {actual} and {size} bytes, but the manifest names {expected} with \
         {expected_size} bytes"
    )]
    Config {
        expected: Digest,
        expected_size: u64,
        actual: Digest,
        size: u64,
    },
    #[error("manifest lists {manifest} layers, but {files} layer files were given")]
    LayerCount { manifest: usize, files: usize },
}

/// An image manifest, its config and its layer blobs as files, in manifest order.
#[derive(Debug, Clone)]
pub struct LocalImage {
    manifest_bytes: Vec<u8>,
    manifest: Manifest,
    config_bytes: Vec<u8>,
    layers: Vec<PathBuf>,
}

impl LocalImage {
    /// An image from raw manifest bytes (kept exactly, so the digest is preserved), config bytes
    /// and one file per manifest layer holding that layer's blob as stored (compressed).
    pub fn new(
        manifest_bytes: Vec<u8>,
        config_bytes: Vec<u8>,
        layers: Vec<PathBuf>,
    ) -> Result<Self, ImageError> {
        let manifest = match ManifestOrIndex::parse(&manifest_bytes, None) {
            Ok(ManifestOrIndex::Manifest(m)) => m,
            Ok(ManifestOrIndex::Index(i)) => {
                return Err(ImageError::IsIndex {
                    media_type: i.media_type().to_string(),
                });
            }
            Err(e) => return Err(ImageError::Manifest(e)),
        };
        let actual = Digest::of(&config_bytes);
        let size = config_bytes.len() as u64;
        if manifest.config.digest != actual || manifest.config.size != size {
            return Err(ImageError::Config {
                expected: manifest.config.digest.clone(),
                expected_size: manifest.config.size,
                actual,
                size,
            });
        }
        if manifest.layers.len() != layers.len() {
            return Err(ImageError::LayerCount {
                manifest: manifest.layers.len(),
                files: layers.len(),
            });
        }
        Ok(Self {
            manifest_bytes,
            manifest,
            config_bytes,
            layers,
        })
    }

    /// An image from a manifest kiln built (serialised canonically) and the config it names.
    pub fn from_manifest(
        manifest: &Manifest,
        config_bytes: Vec<u8>,
        layers: Vec<PathBuf>,
    ) -> Result<Self, ImageError> {
        Self::new(manifest.to_json(), config_bytes, layers)
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The manifest exactly as it is stored and hashed.
    pub fn manifest_bytes(&self) -> &[u8] {
        &self.manifest_bytes
    }

    pub fn config_bytes(&self) -> &[u8] {
        &self.config_bytes
    }

    /// The parsed config.
    pub fn config(&self) -> Result<ConfigFile, serde_json::Error> {
        ConfigFile::parse(&self.config_bytes)
    }

    /// The image's digest: that of its manifest.
    pub fn digest(&self) -> Digest {
        Digest::of(&self.manifest_bytes)
    }

    /// A descriptor of the manifest, with the config's platform when the config says one.
    pub fn descriptor(&self) -> Descriptor {
        let d = Descriptor::of(self.manifest.media_type(), &self.manifest_bytes);
        match self.platform() {
            Some(p) => d.with_platform(p),
            None => d,
        }
    }

    /// The platform from the config, if it parses and names one.
    pub fn platform(&self) -> Option<Platform> {
        let config = self.config().ok()?;
        (!config.os.is_empty() && !config.architecture.is_empty()).then(|| config.platform())
    }

    /// Each layer's descriptor with the file that holds its blob.
    pub fn layers(&self) -> impl Iterator<Item = (&Descriptor, &Path)> {
        let files = self.layers.iter().map(PathBuf::as_path);
        self.manifest.layers.iter().zip(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media_type::{Family, MediaType};

    fn parts(config: &[u8], layers: usize) -> Manifest {
        let layer = Descriptor::of(MediaType::OciLayer, b"x");
        let config = Descriptor::of(MediaType::OciConfig, config);
        Manifest::new(Family::Oci, config, vec![layer; layers])
    }

    #[test]
    fn consistent_parts_make_an_image() {
        let config =
            br#"{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let m = parts(config, 1);
        let img = LocalImage::from_manifest(&m, config.to_vec(), vec!["l".into()]).unwrap();
        assert_eq!(img.digest(), m.digest());
        assert_eq!(img.layers().count(), 1);
        let platform = img.descriptor().platform.unwrap();
        assert_eq!(platform.to_string(), "linux/arm64");
    }

    #[test]
    fn inconsistent_parts_are_refused() {
        let m = parts(b"{}", 2);
        let wrong_config = LocalImage::from_manifest(&m, b"{ }".to_vec(), vec!["a".into(); 2]);
        assert!(matches!(wrong_config, Err(ImageError::Config { .. })));
        let wrong_count = LocalImage::from_manifest(&m, b"{}".to_vec(), vec!["a".into()]);
        assert!(matches!(
            wrong_count,
            Err(ImageError::LayerCount {
                manifest: 2,
                files: 1
            })
        ));
        let index = crate::Index::new(Family::Oci).to_json();
        let not_manifest = LocalImage::new(index, b"{}".to_vec(), vec![]);
        assert!(matches!(not_manifest, Err(ImageError::IsIndex { .. })));
    }

    #[test]
    fn raw_manifest_bytes_are_kept() {
        let m = parts(b"{}", 0);
        let pretty = serde_json::to_vec_pretty(&m).unwrap();
        let img = LocalImage::new(pretty.clone(), b"{}".to_vec(), vec![]).unwrap();
        assert_eq!(img.manifest_bytes(), pretty);
        assert_eq!(img.digest(), Digest::of(&pretty));
        assert_ne!(img.digest(), m.digest());
        assert!(img.descriptor().platform.is_none());
    }
}
