//! OCI image layouts on disk: `oci-layout`, `index.json` and `blobs/<alg>/<hex>`
//! (<https://github.com/opencontainers/image-spec/blob/main/image-layout.md>), read and written
//! the way go-containerregistry's `pkg/v1/layout`, umoci and skopeo read them.
//!
//! Owns: creating and opening a layout, blobs streamed in with their digest verified, atomic
//! writes (a temporary file in the target directory, then a rename, so a concurrent reader
//! never sees half a blob or half an index), adding an image under an
//! `org.opencontainers.image.ref.name`, and reading an image back. Changes to `index.json`
//! (read, modify, rename) hold an exclusive `flock` on the layout directory, so that two
//! builds sharing a layout (a `--cache-repo oci:` directory) do not lose each other's entries;
//! readers need no lock. Does not own: garbage collection of unreferenced blobs.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::atomic;
use crate::blob::{BlobMismatch, VerifyingReader};
use crate::descriptor::{ANNOTATION_REF_NAME, Descriptor};
use crate::digest::Digest;
use crate::image::{ImageError, LocalImage};
use crate::json::{MAX_CONFIG_SIZE, MAX_MANIFEST_SIZE, ReadError, read_bounded, to_canonical_json};
use crate::manifest::{Index, ManifestOrIndex};
use crate::media_type::Family;

/// The `oci-layout` file's content, byte for byte as go-containerregistry writes it.
pub const OCI_LAYOUT_FILE: &[u8] = br#"{"imageLayoutVersion": "1.0.0"}"#;
const LAYOUT_VERSION: &str = "1.0.0";

/// Why a layout operation failed. Every variant names the file or the blob.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("cannot access {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is not an OCI image layout: it has no oci-layout file", path.display())]
    NotALayout { path: PathBuf },
    #[error("{} has imageLayoutVersion {version:?}; only 1.0.0 is supported", path.display())]
    Version { path: PathBuf, version: String },
    #[error("{} is not valid JSON for its kind", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("reading {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: ReadError,
    },
    #[error("blob {} does not match its descriptor", path.display())]
    Mismatch {
        path: PathBuf,
        #[source]
        source: BlobMismatch,
    },
    #[error("image {digest} in {}", root.display())]
    Image {
        root: PathBuf,
        digest: Digest,
        #[source]
        source: ImageError,
    },
    #[error("no image named {name:?} in {}", root.display())]
    NotFound { root: PathBuf, name: String },
}

/// An OCI image layout directory.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// Opens the layout at `root`, creating the directory, `oci-layout`, `blobs/` and an empty
    /// `index.json` where missing. An existing index is kept.
    pub fn create(root: impl Into<PathBuf>) -> Result<Self, LayoutError> {
        let layout = Self { root: root.into() };
        let blobs = layout.root.join("blobs");
        fs_err::create_dir_all(&blobs).map_err(io_at(&blobs))?;
        let _lock = layout.lock_index()?;
        let marker = layout.root.join("oci-layout");
        if marker.exists() {
            layout.check_version()?;
        } else {
            write_atomically(&marker, OCI_LAYOUT_FILE)?;
        }
        if !layout.index_path().exists() {
            layout.write_index(&Index::new(Family::Oci))?;
        }
        drop(_lock);
        Ok(layout)
    }

    /// Like [`Layout::create`], but starts `index.json` afresh (blobs already there are kept),
    /// as Kaniko's `--oci-layout-path` does on every build.
    pub fn create_with_empty_index(root: impl Into<PathBuf>) -> Result<Self, LayoutError> {
        let layout = Self::create(root)?;
        let _lock = layout.lock_index()?;
        layout.write_index(&Index::new(Family::Oci))?;
        Ok(layout)
    }

    /// Opens an existing layout, checking its `oci-layout` version.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, LayoutError> {
        let layout = Self { root: root.into() };
        layout.check_version()?;
        Ok(layout)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    fn check_version(&self) -> Result<(), LayoutError> {
        #[derive(serde::Deserialize)]
        struct Marker {
            #[serde(rename = "imageLayoutVersion")]
            version: String,
        }
        let path = self.root.join("oci-layout");
        if !path.exists() {
            return Err(LayoutError::NotALayout {
                path: self.root.clone(),
            });
        }
        let bytes = read_file_bounded(&path, 4096)?;
        let marker: Marker = parse_json(&path, &bytes)?;
        if marker.version != LAYOUT_VERSION {
            return Err(LayoutError::Version {
                path,
                version: marker.version,
            });
        }
        Ok(())
    }

    /// Where the blob `digest` lives: `blobs/<algorithm>/<hex>`.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm())
            .join(digest.hex())
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Streams the blob `descriptor` names from `reader` into the layout, verifying its digest
    /// and size on the way; nothing is left behind if they do not match. A blob already present
    /// is not read again.
    pub fn write_blob(
        &self,
        descriptor: &Descriptor,
        reader: impl Read,
    ) -> Result<(), LayoutError> {
        self.write_verified(&descriptor.digest, descriptor.size, reader)
    }

    /// Writes a blob kiln has in memory (a manifest, a config) and returns its digest.
    pub fn write_blob_bytes(&self, bytes: &[u8]) -> Result<Digest, LayoutError> {
        let digest = Digest::of(bytes);
        self.write_verified(&digest, bytes.len() as u64, bytes)?;
        Ok(digest)
    }

    fn write_verified(
        &self,
        digest: &Digest,
        size: u64,
        reader: impl Read,
    ) -> Result<(), LayoutError> {
        let path = self.blob_path(digest);
        if path.is_file() {
            return Ok(());
        }
        let dir = path
            .parent()
            .map_or_else(|| self.root.clone(), Path::to_owned);
        fs_err::create_dir_all(&dir).map_err(io_at(&dir))?;
        let mut verified =
            VerifyingReader::new(reader, digest, size).map_err(|e| blob_error(&path, e))?;
        let mut tmp = atomic::temp_in(&dir, ".tmp-").map_err(io_at(&dir))?;
        io::copy(&mut verified, &mut tmp).map_err(|e| blob_error(&path, e))?;
        atomic::persist(tmp, &path).map_err(io_at(&path))
    }

    /// Opens a blob for reading. The caller verifies it if it needs to ([`VerifyingReader`]).
    pub fn open_blob(&self, digest: &Digest) -> Result<fs_err::File, LayoutError> {
        let path = self.blob_path(digest);
        fs_err::File::open(&path).map_err(io_at(&path))
    }

    /// Reads a small blob (a manifest or config) whole, refusing more than `limit` bytes and
    /// verifying it against `descriptor`.
    pub fn read_blob(&self, descriptor: &Descriptor, limit: u64) -> Result<Vec<u8>, LayoutError> {
        let path = self.blob_path(&descriptor.digest);
        let file = self.open_blob(&descriptor.digest)?;
        let verified = VerifyingReader::new(file, &descriptor.digest, descriptor.size)
            .map_err(|e| blob_error(&path, e))?;
        read_bounded(
            verified,
            Some(descriptor.size),
            limit,
            &path.display().to_string(),
        )
        .map_err(|source| match source {
            ReadError::Io { source, .. } => blob_error(&path, source),
            other => LayoutError::Read {
                path: path.clone(),
                source: other,
            },
        })
    }

    /// The layout's `index.json`.
    pub fn index(&self) -> Result<Index, LayoutError> {
        let path = self.index_path();
        let bytes = read_file_bounded(&path, MAX_MANIFEST_SIZE)?;
        parse_json(&path, &bytes)
    }

    /// Waits for and takes the exclusive lock on `index.json` changes; released on drop.
    fn lock_index(&self) -> Result<std::fs::File, LayoutError> {
        let dir = std::fs::File::open(&self.root).map_err(io_at(&self.root))?;
        rustix::fs::flock(&dir, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| io_at(&self.root)(e.into()))?;
        Ok(dir)
    }

    /// Replaces `index.json` atomically. Callers that read the index first and change it should
    /// prefer [`Layout::add_to_index`], which holds the layout's lock across both.
    pub fn write_index(&self, index: &Index) -> Result<(), LayoutError> {
        write_atomically(&self.index_path(), &to_canonical_json(index))
    }

    /// The index entry whose `org.opencontainers.image.ref.name` is `name`.
    pub fn find(&self, name: &str) -> Result<Option<Descriptor>, LayoutError> {
        let index = self.index()?;
        Ok(index
            .manifests
            .into_iter()
            .find(|d| d.ref_name() == Some(name)))
    }

    /// Writes the image's blobs (layers streamed from their files and verified, then config,
    /// then manifest) and adds it to `index.json`. With `ref_name`, the entry is annotated
    /// `org.opencontainers.image.ref.name` and replaces any entry of that name, as skopeo and
    /// umoci do; without, it is appended, as go-containerregistry's `AppendImage` does.
    pub fn append_image(
        &self,
        image: &LocalImage,
        ref_name: Option<&str>,
    ) -> Result<Descriptor, LayoutError> {
        for (descriptor, file) in image.layers() {
            if self.has_blob(&descriptor.digest) {
                continue;
            }
            let reader = fs_err::File::open(file).map_err(io_at(file))?;
            self.write_blob(descriptor, reader)?;
        }
        self.write_blob_bytes(image.config_bytes())?;
        self.write_blob_bytes(image.manifest_bytes())?;
        self.add_to_index(image.descriptor(), ref_name)
    }

    /// Adds an entry to `index.json` for a manifest or index whose blobs are already in the
    /// layout (a multi-platform index written with [`Layout::write_blob_bytes`], say), with
    /// the same naming rules as [`Layout::append_image`]. Returns the entry as written.
    pub fn add_to_index(
        &self,
        descriptor: Descriptor,
        ref_name: Option<&str>,
    ) -> Result<Descriptor, LayoutError> {
        if !self.has_blob(&descriptor.digest) {
            let path = self.blob_path(&descriptor.digest);
            return Err(io_at(&path)(io::Error::new(
                io::ErrorKind::NotFound,
                "the blob an index entry names must be written first",
            )));
        }
        let entry = match ref_name {
            Some(name) => descriptor.with_annotation(ANNOTATION_REF_NAME, name),
            None => descriptor,
        };
        let _lock = self.lock_index()?;
        let mut index = self.index()?;
        if let Some(name) = ref_name {
            index.manifests.retain(|d| d.ref_name() != Some(name));
        }
        index.manifests.push(entry.clone());
        self.write_index(&index)?;
        Ok(entry)
    }

    /// Reads and parses the manifest or index a descriptor names (bounded, verified), to walk
    /// a multi-platform layout.
    pub fn read_manifest(&self, descriptor: &Descriptor) -> Result<ManifestOrIndex, LayoutError> {
        let bytes = self.read_blob(descriptor, MAX_MANIFEST_SIZE)?;
        ManifestOrIndex::parse(&bytes, Some(descriptor.media_type.as_str())).map_err(|source| {
            LayoutError::Image {
                root: self.root.clone(),
                digest: descriptor.digest.clone(),
                source: ImageError::Manifest(source),
            }
        })
    }

    /// Reads the image an index entry names: its manifest and config (bounded, verified) and
    /// the paths of its layer blobs, which must exist.
    pub fn read_image(&self, descriptor: &Descriptor) -> Result<LocalImage, LayoutError> {
        let manifest_bytes = self.read_blob(descriptor, MAX_MANIFEST_SIZE)?;
        let image_err = |source| LayoutError::Image {
            root: self.root.clone(),
            digest: descriptor.digest.clone(),
            source,
        };
        let manifest =
            match ManifestOrIndex::parse(&manifest_bytes, Some(descriptor.media_type.as_str())) {
                Ok(ManifestOrIndex::Manifest(m)) => m,
                Ok(ManifestOrIndex::Index(i)) => {
                    return Err(image_err(ImageError::IsIndex {
                        media_type: i.media_type().to_string(),
                    }));
                }
                Err(e) => return Err(image_err(ImageError::Manifest(e))),
            };
        let config_bytes = self.read_blob(&manifest.config, MAX_CONFIG_SIZE)?;
        let mut layers = Vec::with_capacity(manifest.layers.len());
        for layer in &manifest.layers {
            let path = self.blob_path(&layer.digest);
            let meta = fs_err::metadata(&path).map_err(io_at(&path))?;
            if meta.len() != layer.size {
                return Err(LayoutError::Mismatch {
                    path,
                    source: BlobMismatch::TooShort {
                        digest: layer.digest.clone(),
                        size: layer.size,
                        actual: meta.len(),
                    },
                });
            }
            layers.push(path);
        }
        LocalImage::new(manifest_bytes, config_bytes, layers).map_err(image_err)
    }

    /// Reads the image named `name` (its `org.opencontainers.image.ref.name`).
    pub fn read_named_image(&self, name: &str) -> Result<LocalImage, LayoutError> {
        let descriptor = self.find(name)?.ok_or_else(|| LayoutError::NotFound {
            root: self.root.clone(),
            name: name.to_owned(),
        })?;
        self.read_image(&descriptor)
    }
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> LayoutError + use<> {
    let path = path.to_owned();
    move |source| LayoutError::Io { path, source }
}

/// A verification failure as [`LayoutError::Mismatch`], any other io error as
/// [`LayoutError::Io`].
fn blob_error(path: &Path, err: io::Error) -> LayoutError {
    match BlobMismatch::find(&err) {
        Some(m) => LayoutError::Mismatch {
            path: path.to_owned(),
            source: m.clone(),
        },
        None => io_at(path)(err),
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(path: &Path, bytes: &[u8]) -> Result<T, LayoutError> {
    serde_json::from_slice(bytes).map_err(|source| LayoutError::Json {
        path: path.to_owned(),
        source,
    })
}

fn read_file_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, LayoutError> {
    let file = fs_err::File::open(path).map_err(io_at(path))?;
    let declared = file.metadata().map_err(io_at(path))?.len();
    read_bounded(file, Some(declared), limit, &path.display().to_string()).map_err(|source| {
        LayoutError::Read {
            path: path.to_owned(),
            source,
        }
    })
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), LayoutError> {
    atomic::write(path, bytes).map_err(io_at(path))
}

#[cfg(test)]
#[path = "layout_tests.rs"]
mod tests;
