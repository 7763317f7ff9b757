//! Pulling: manifests, platform selection, and lazy verified blobs.
//!
//! Owns: resolving a reference to one image manifest (through mirrors and registry maps, then
//! an index's entry for the wanted platform) and reading blobs. Each submodule links the
//! distribution spec section it follows.

mod blob;
mod image;
mod manifest;
mod platform;

pub use blob::BlobReader;
pub use image::{BlobDescriptor, RemoteImage};
pub use manifest::{
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, FetchedManifest, MANIFEST_ACCEPT, ManifestHead,
    OCI_INDEX, OCI_MANIFEST,
};
pub use platform::PlatformSpec;
