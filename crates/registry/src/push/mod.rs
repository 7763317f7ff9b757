//! Pushing: blobs (HEAD, cross-repo mount, monolithic or chunked upload) and manifests, and
//! the push-permission probe. Each submodule links the distribution spec section it follows.

mod manifest;
mod upload;

pub use manifest::ManifestPushed;
pub use upload::{BlobPushed, BlobSource, BlobUpload};
