//! The layer cache: keys for steps, and the stores that keep what a step made under its key.
//!
//! Owns (DESIGN.md §5):
//! - [`key`]: [`CacheKey`], computed for every step before any runs, from named components so
//!   that a miss can be explained ([`key::explain`]) without printing a value;
//! - [`sources`]: the content digest of COPY/ADD sources after `.dockerignore`, by the same code
//!   that copies them (`kiln_fs::copy::digest`);
//! - [`store`]: the [`Store`] trait, with a local directory ([`LocalStore`], `--cache-dir`) and
//!   a registry repository ([`RegistryStore`], `--cache-repo`) and a local OCI image layout
//!   ([`LayoutStore`], `--cache-repo oci:/path`), probed many keys at a time;
//! - [`unpacked`]: the layers of a cache directory kept extracted, one directory each, which
//!   a stage's rootfs is mounted from as an overlay ([`UnpackedStore`]).
//!
//! Does not own: deciding when to use the cache or what a step sees (the executor computes the
//! keys with [`key::StepInput`], probes, and takes cached layers or puts new ones:
//! `crate::executor::cached`), the `--cache*` flags (the `kiln` binary),
//! or the base-image cache of `kiln warm` (`crate::warm`), which shares the local directory.

mod entry;
pub mod key;
pub mod layout;
pub mod local;
mod normalise;
pub mod registry;
pub mod sources;
pub mod store;
pub mod unpacked;

use std::path::PathBuf;
use std::sync::Arc;

pub use key::{CacheKey, StepInput};
pub use layout::LayoutStore;
pub use local::LocalStore;
pub use registry::RegistryStore;
pub use store::{BlobLocation, CachedLayer, CachedStep, Store};
pub use unpacked::UnpackedStore;

/// A cache error, naming the key, the store's path or repository, and the instruction.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot digest the sources of {instruction}")]
    Sources {
        instruction: String,
        #[source]
        source: Box<kiln_fs::copy::Error>,
    },
    #[error("cache dir {}: cannot {op}", path.display())]
    Local {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cache dir {}: cannot store the layer of key {key}", path.display())]
    LocalBlob {
        key: String,
        path: PathBuf,
        #[source]
        source: Box<kiln_oci::LayoutError>,
    },
    #[error("cache dir entry {} is not a cache entry of this version", path.display())]
    LocalEntry {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cache repository {repository}: cannot {op} for key {key}")]
    Registry {
        op: &'static str,
        repository: String,
        key: String,
        #[source]
        source: Box<kiln_registry::Error>,
    },
    /// Shared: one failure to read a layout's `index.json` answers every key of a probe.
    #[error("cache repository oci:{}: cannot {op} for key {key}", path.display())]
    Layout {
        op: &'static str,
        path: PathBuf,
        key: String,
        #[source]
        source: Arc<kiln_oci::LayoutError>,
    },
    #[error("cache repository {repository}: the image of key {key} is not a cache entry: {reason}")]
    NotAnEntry {
        repository: String,
        key: String,
        reason: String,
    },
    #[error("cache entry of key {key} holds its layer at {blob}, which {store} cannot push")]
    ForeignBlob {
        key: String,
        blob: String,
        store: String,
    },
}
