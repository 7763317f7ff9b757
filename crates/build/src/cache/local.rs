//! The local layer store: a directory (`--cache-dir`), shared by concurrent builds and with
//! the base-image cache of `kiln warm`.
//!
//! ```text
//! <cache-dir>/v1/
//!   entries/<key hex>.json    one cached step: layer descriptor and diff ID (none when the
//!                             step changed no file), config delta, created
//!   blobs/sha256/<hex>        the layers (beside the warmer's blobs; one blob store)
//! ```
//!
//! `v1/` is the warmer's OCI image layout; entries live beside its `index.json`, which they do
//! not touch. A put streams the layer into `blobs/` through a temp file renamed once its digest
//! is verified, then writes the entry by temp file and rename while holding the exclusive
//! `flock` on `v1/` that the warmer's layout writes take too, so an entry never names a blob
//! that is not there, and [`LocalStore::prune`] cannot remove an entry another build is writing.
//! Readers take no lock. An entry older than the TTL (by its `created` field) is a miss.
//!
//! Does not own: removing blobs (none is removed: an entry being written names its blob only
//! after the blob is in place, so no reader of the directory alone can tell an unused blob
//! from one about to be used; deleting `<cache-dir>` between builds is always safe).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use kiln_oci::{Config, Descriptor, DiffId, Layout};
use serde::{Deserialize, Serialize};

use super::store::{BlobLocation, CachedLayer, CachedStep, Store, blocking};
use super::{CacheKey, Error, key};
use crate::warm::stamp;

/// A cache directory's layer store.
#[derive(Debug, Clone)]
pub struct LocalStore {
    /// `<cache-dir>/v1`.
    root: PathBuf,
    ttl: Duration,
}

/// `entries/<key>.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    version: String,
    key: String,
    created: String,
    /// Absent for a step that changed no file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    layer: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    diff_id: Option<DiffId>,
    config: Config,
}

impl LocalStore {
    /// The store in `cache_dir`, whose entries count for `ttl` (`--cache-ttl`). Nothing is
    /// created until the first put.
    pub fn new(cache_dir: &Path, ttl: Duration) -> LocalStore {
        LocalStore {
            root: cache_dir.join("v1"),
            ttl,
        }
    }

    /// `<cache-dir>/v1`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the entry of `key` is.
    pub fn entry_path(&self, key: &CacheKey) -> PathBuf {
        self.root
            .join("entries")
            .join(format!("{}.json", key.hex()))
    }

    fn io(&self, op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Error + use<> {
        let path = path.to_owned();
        move |source| Error::Local { op, path, source }
    }

    /// Reads the entry at `path`: `None` when there is none or it has expired at `now`.
    fn read_entry(&self, path: &Path, now: SystemTime) -> Result<Option<Entry>, Error> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io("read the entry", path)(e)),
        };
        let entry: Entry = serde_json::from_slice(&bytes).map_err(|source| Error::LocalEntry {
            path: path.to_owned(),
            source,
        })?;
        // An entry of another version, or one copied under another key's name, is a miss.
        let named = path.file_stem().and_then(|s| s.to_str());
        if entry.version != key::VERSION || entry.key.strip_prefix("sha256:") != named {
            return Ok(None);
        }
        let fresh = stamp::parse(&entry.created)
            .is_some_and(|created| now.duration_since(created).is_ok_and(|age| age <= self.ttl));
        Ok(fresh.then_some(entry))
    }

    /// The cached step of `key` at `now`, when its entry is fresh and its blob is there.
    pub fn get_at(&self, key: &CacheKey, now: SystemTime) -> Result<Option<CachedStep>, Error> {
        let Some(entry) = self.read_entry(&self.entry_path(key), now)? else {
            return Ok(None);
        };
        let layer = match (entry.layer, entry.diff_id) {
            (None, None) => None,
            (Some(descriptor), Some(diff_id)) => {
                let blob = self
                    .root
                    .join("blobs")
                    .join(descriptor.digest.algorithm())
                    .join(descriptor.digest.hex());
                // A blob cut short (or replaced) outside kiln is a miss, not a layer that
                // fails its digest later.
                let whole = std::fs::metadata(&blob)
                    .is_ok_and(|m| m.is_file() && m.len() == descriptor.size);
                if !whole {
                    return Ok(None);
                }
                Some(CachedLayer {
                    descriptor,
                    diff_id,
                    blob: BlobLocation::File(blob),
                })
            }
            // One without the other is not an entry this store wrote.
            _ => return Ok(None),
        };
        Ok(Some(CachedStep {
            layer,
            config_delta: entry.config,
        }))
    }

    /// Keeps `step` under `key`, written at `now`.
    pub fn put_at(&self, key: &CacheKey, step: &CachedStep, now: SystemTime) -> Result<(), Error> {
        let layout_error = |source| Error::LocalBlob {
            key: key.to_string(),
            path: self.root.clone(),
            source: Box::new(source),
        };
        let layout = Layout::create(&self.root).map_err(layout_error)?;
        if let Some(layer) = &step.layer {
            let BlobLocation::File(src) = &layer.blob else {
                return Err(Error::ForeignBlob {
                    key: key.to_string(),
                    blob: format!("{:?}", layer.blob),
                    store: format!("cache dir {}", self.root.display()),
                });
            };
            let file = File::open(src).map_err(self.io("read the layer", src))?;
            layout
                .write_blob(&layer.descriptor, file)
                .map_err(layout_error)?;
        }
        let entry = Entry {
            version: key::VERSION.to_owned(),
            key: key.to_string(),
            created: stamp::format(now),
            layer: step.layer.as_ref().map(|l| l.descriptor.clone()),
            diff_id: step.layer.as_ref().map(|l| l.diff_id.clone()),
            config: step.config_delta.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&entry).map_err(|source| Error::LocalEntry {
            path: self.entry_path(key),
            source,
        })?;
        let dir = self.root.join("entries");
        std::fs::create_dir_all(&dir).map_err(self.io("create the entries directory", &dir))?;
        let _lock = self.lock()?;
        let path = self.entry_path(key);
        let write = || -> io::Result<()> {
            let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(&dir)?;
            io::Write::write_all(&mut tmp, &bytes)?;
            tmp.as_file().sync_all()?;
            tmp.persist(&path).map_err(|e| e.error)?;
            Ok(())
        };
        write().map_err(self.io("write the entry", &path))
    }

    /// Removes the entries that have expired at `now`; returns how many.
    pub fn prune(&self, now: SystemTime) -> Result<usize, Error> {
        let dir = self.root.join("entries");
        if !dir.is_dir() {
            return Ok(0);
        }
        let _lock = self.lock()?;
        let mut removed = 0;
        for item in std::fs::read_dir(&dir).map_err(self.io("list the entries", &dir))? {
            let path = item.map_err(self.io("list the entries", &dir))?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            // An unreadable entry is a miss for every reader: it goes too.
            if matches!(
                self.read_entry(&path, now),
                Ok(None) | Err(Error::LocalEntry { .. })
            ) {
                std::fs::remove_file(&path).map_err(self.io("remove the entry", &path))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Waits for and takes the exclusive lock on `v1/`; released when dropped.
    fn lock(&self) -> Result<File, Error> {
        let dir = File::open(&self.root).map_err(self.io("open", &self.root))?;
        rustix::fs::flock(&dir, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| self.io("lock", &self.root)(e.into()))?;
        Ok(dir)
    }
}

impl Store for LocalStore {
    async fn probe(&self, keys: &[CacheKey]) -> Vec<Result<bool, Error>> {
        let (store, keys) = (self.clone(), keys.to_vec());
        blocking(move || {
            let now = SystemTime::now();
            keys.iter()
                .map(|k| store.get_at(k, now).map(|step| step.is_some()))
                .collect()
        })
        .await
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
#[path = "local_tests.rs"]
mod tests;
