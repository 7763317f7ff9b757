//! What a cache store keeps per key, and the [`Store`] trait the executor will use.
//!
//! A cached step is the layer the step made, if any (its descriptor and diff ID, and where its
//! blob is), and the image config changes the step made. Stores: [`super::LocalStore`] (a
//! directory) and [`super::RegistryStore`] (a repository, one image per key).
//!
//! Probing takes all the keys of a build at once and answers each on its own: a failed or
//! missing key does not stop the others, so a miss at step 2 still lets step 5 (whose key does
//! not depend on step 2's output, e.g. after a `COPY --from` of another stage) be found.
//!
//! Does not own: keys ([`super::key`]) or what the executor does with a hit.

use std::future::Future;
use std::path::PathBuf;

use kiln_oci::{Config, Descriptor, DiffId};
use kiln_registry::Repository;

use super::{CacheKey, Error};

/// Where a cached layer's blob can be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobLocation {
    /// A file holding exactly the blob (a local store, or a layer the executor just wrote).
    File(PathBuf),
    /// A registry repository that has the blob (to pull, or to mount when pushing).
    Registry(Repository),
}

/// The layer a step made.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedLayer {
    /// The layer as it goes in the manifest: media type, digest, size.
    pub descriptor: Descriptor,
    /// The uncompressed layer's digest, for the config's `rootfs.diff_ids`.
    pub diff_id: DiffId,
    pub blob: BlobLocation,
}

/// What a step made, as a store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedStep {
    /// The step's layer; `None` for a step that changed no file (its history entry is then
    /// an `empty_layer`), which is cached too so that a rebuild needs no filesystem for it.
    pub layer: Option<CachedLayer>,
    /// The fields of the image config's `config` the step set (`Env`, `WorkingDir`, ...);
    /// unset fields are left as they are.
    pub config_delta: Config,
}

/// A cache store.
pub trait Store: Send + Sync {
    /// Whether the store has each of `keys` (fresh, where the store can tell without reading
    /// the entry), in the order of `keys`. Each answer stands alone.
    fn probe(&self, keys: &[CacheKey]) -> impl Future<Output = Vec<Result<bool, Error>>> + Send;

    /// The step cached under `key`, or `None` when there is none or it is older than the TTL.
    fn get(&self, key: &CacheKey)
    -> impl Future<Output = Result<Option<CachedStep>, Error>> + Send;

    /// Keeps `step` under `key`. Its layer's blob must be a file: the layer the step just wrote.
    fn put(
        &self,
        key: &CacheKey,
        step: &CachedStep,
    ) -> impl Future<Output = Result<(), Error>> + Send;
}

/// Runs `f` on a blocking thread, for the stores whose work is file I/O.
pub(super) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
