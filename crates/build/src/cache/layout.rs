//! The layout store (`--cache-repo oci:/path`): the images [`super::RegistryStore`] pushes,
//! kept in a local OCI image layout
//! (<https://github.com/opencontainers/image-spec/blob/main/image-layout.md>) instead of a
//! registry repository.
//!
//! Each key is one entry of `index.json`, annotated `org.opencontainers.image.ref.name` with
//! the key's 64 hex digits (the tag the registry store would use), naming an OCI manifest with
//! the step's layer (none for a step that changed no file) and a config for the build's platform
//! whose `rootfs.diff_ids` holds the layer's diff ID, whose `config` is the step's config delta
//! and whose `created` is when it was written (the TTL is counted from it). So `skopeo inspect
//! oci:/path:<hex>` or `umoci ls --layout /path` read it, and entries of other tools (images
//! copied in with skopeo, say) are left as they are.
//!
//! A put writes the layer (streamed from its file and verified), the config and the manifest
//! into `blobs/` by temp file and rename, then replaces the key's entry in `index.json` by
//! temp file and rename under the exclusive `flock` on the layout directory that every
//! `index.json` change of [`Layout`] takes, so an entry never names a missing blob and
//! concurrent builds keep each other's entries. Readers take no lock. A probe reads
//! `index.json` once for all its keys.
//!
//! Does not own: the layout's files and locking ([`kiln_oci::Layout`]), or removing expired
//! entries and their blobs (nothing is removed; an entry written again replaces the old one).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use kiln_oci::{Index, Layout, LayoutError, MAX_CONFIG_SIZE, ManifestOrIndex, Platform};

use super::store::{BlobLocation, CachedLayer, CachedStep, Store, blocking};
use super::{CacheKey, Error, entry};

/// The prefix of a `--cache-repo` value that names a local OCI layout, as in Kaniko.
pub const CACHE_REPO_PREFIX: &str = "oci:";

/// A cache repository in a local OCI image layout.
#[derive(Debug, Clone)]
pub struct LayoutStore {
    root: PathBuf,
    platform: Platform,
    ttl: Duration,
}

impl LayoutStore {
    /// The store in the layout at `path`, for images of `platform`, whose entries count for
    /// `ttl` (`--cache-ttl`). Nothing is created until the first put; a directory that is not
    /// a layout yet is made one then, keeping what is in it.
    pub fn new(path: &Path, platform: Platform, ttl: Duration) -> LayoutStore {
        LayoutStore {
            root: path.to_owned(),
            platform,
            ttl,
        }
    }

    /// The layout path of a `--cache-repo` value, when it names one: `oci:/path` → `/path`.
    pub fn path_of(cache_repo: &str) -> Option<&Path> {
        cache_repo
            .strip_prefix(CACHE_REPO_PREFIX)
            .filter(|path| !path.is_empty())
            .map(Path::new)
    }

    /// The layout's directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    fn error(&self, op: &'static str, key: &CacheKey) -> impl FnOnce(LayoutError) -> Error + use<> {
        let (path, key) = (self.root.clone(), key.to_string());
        move |source| Error::Layout {
            op,
            path,
            key,
            source: Arc::new(source),
        }
    }

    fn not_an_entry(&self, key: &CacheKey, reason: &str) -> Error {
        Error::NotAnEntry {
            repository: format!("{CACHE_REPO_PREFIX}{}", self.root.display()),
            key: key.to_string(),
            reason: reason.to_owned(),
        }
    }

    /// The layout and its index; `None` when there is no layout at the path yet.
    fn read_index(&self) -> Result<Option<(Layout, Index)>, LayoutError> {
        let layout = match Layout::open(&self.root) {
            Ok(layout) => layout,
            Err(LayoutError::NotALayout { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let index = layout.index()?;
        Ok(Some((layout, index)))
    }

    /// The cached step of `key` at `now`, when its entry is fresh and its layer is there.
    pub fn get_at(&self, key: &CacheKey, now: SystemTime) -> Result<Option<CachedStep>, Error> {
        match self.read_index() {
            Ok(Some((layout, index))) => self.lookup(&layout, &index, key, now),
            Ok(None) => Ok(None),
            Err(e) => Err(self.error("read index.json", key)(e)),
        }
    }

    /// Finds `key` in `index` (the newest entry of that name, should another tool have
    /// appended a second one) and reads its image.
    fn lookup(
        &self,
        layout: &Layout,
        index: &Index,
        key: &CacheKey,
        now: SystemTime,
    ) -> Result<Option<CachedStep>, Error> {
        let Some(entry) = index
            .manifests
            .iter()
            .rev()
            .find(|d| d.ref_name() == Some(key.hex()))
        else {
            return Ok(None);
        };
        let manifest = match layout
            .read_manifest(entry)
            .map_err(self.error("read the manifest", key))?
        {
            ManifestOrIndex::Manifest(m) => m,
            ManifestOrIndex::Index(_) => return Err(self.not_an_entry(key, "it is an index")),
        };
        entry::check_manifest(&manifest).map_err(|reason| self.not_an_entry(key, reason))?;
        let bytes = layout
            .read_blob(&manifest.config, MAX_CONFIG_SIZE)
            .map_err(self.error("read the config", key))?;
        let Some(read) = entry::read(&manifest, &bytes, self.ttl, now)
            .map_err(|reason| self.not_an_entry(key, reason))?
        else {
            return Ok(None);
        };
        let layer = match read.layer {
            None => None,
            Some((descriptor, diff_id)) => {
                let blob = layout.blob_path(&descriptor.digest);
                // A layer blob removed or cut short since is a miss, as in the local store.
                if !std::fs::metadata(&blob)
                    .is_ok_and(|m| m.is_file() && m.len() == descriptor.size)
                {
                    return Ok(None);
                }
                Some(CachedLayer {
                    descriptor,
                    diff_id,
                    blob: BlobLocation::File(blob),
                })
            }
        };
        Ok(Some(CachedStep {
            layer,
            config_delta: read.config_delta,
        }))
    }

    /// Whether each of `keys` has a fresh entry at `now`, reading `index.json` once.
    pub fn probe_at(&self, keys: &[CacheKey], now: SystemTime) -> Vec<Result<bool, Error>> {
        let read = self.read_index().map_err(Arc::new);
        keys.iter()
            .map(|key| match &read {
                Ok(Some((layout, index))) => self
                    .lookup(layout, index, key, now)
                    .map(|step| step.is_some()),
                Ok(None) => Ok(false),
                Err(source) => Err(Error::Layout {
                    op: "read index.json",
                    path: self.root.clone(),
                    key: key.to_string(),
                    source: Arc::clone(source),
                }),
            })
            .collect()
    }

    /// Writes `step` as the image of `key`, created at `now`, replacing an older one.
    pub fn put_at(&self, key: &CacheKey, step: &CachedStep, now: SystemTime) -> Result<(), Error> {
        let layer_file = match &step.layer {
            Some(CachedLayer {
                blob: BlobLocation::File(path),
                descriptor,
                ..
            }) => Some((descriptor, path)),
            Some(layer) => {
                return Err(Error::ForeignBlob {
                    key: key.to_string(),
                    blob: format!("{:?}", layer.blob),
                    store: format!(
                        "cache repository {CACHE_REPO_PREFIX}{}",
                        self.root.display()
                    ),
                });
            }
            None => None,
        };
        let layout = Layout::create(&self.root).map_err(self.error("create the layout", key))?;
        if let Some((descriptor, path)) = layer_file {
            let file = File::open(path).map_err(|source| {
                self.error("read the layer", key)(LayoutError::Io {
                    path: path.clone(),
                    source,
                })
            })?;
            layout
                .write_blob(descriptor, file)
                .map_err(self.error("write the layer", key))?;
        }
        let (manifest, config) = entry::image(&self.platform, key, step, now);
        layout
            .write_blob_bytes(&config)
            .map_err(self.error("write the config", key))?;
        layout
            .write_blob_bytes(&manifest.to_json())
            .map_err(self.error("write the manifest", key))?;
        layout
            .add_to_index(manifest.descriptor(), Some(key.hex()))
            .map_err(self.error("add the entry to index.json", key))?;
        Ok(())
    }
}

impl Store for LayoutStore {
    async fn probe(&self, keys: &[CacheKey]) -> Vec<Result<bool, Error>> {
        let (store, keys) = (self.clone(), keys.to_vec());
        blocking(move || store.probe_at(&keys, SystemTime::now())).await
    }

    async fn get(&self, key: &CacheKey) -> Result<Option<CachedStep>, Error> {
        let (store, key) = (self.clone(), key.clone());
        blocking(move || store.get_at(&key, SystemTime::now())).await
    }

    async fn put(&self, key: &CacheKey, step: &CachedStep) -> Result<(), Error> {
        let (store, key, step) = (self.clone(), key.clone(), step.clone());
        blocking(move || store.put_at(&key, &step, SystemTime::now())).await
    }
}

#[cfg(test)]
#[path = "layout_tests.rs"]
mod tests;
