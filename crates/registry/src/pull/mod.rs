//! Pulling: manifests, platform selection, and lazy verified blobs.
//!
//! Owns: resolving a reference to one image manifest (through mirrors and registry maps, then
//! an index's entry for the wanted platform) and reading blobs. Each submodule links the
//! distribution spec section it follows.

mod blob;
mod image;
mod manifest;

pub use blob::BlobReader;
pub use image::RemoteImage;
pub use manifest::{FetchedManifest, ManifestHead, manifest_accept};
