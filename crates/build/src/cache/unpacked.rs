//! The unpacked layer store of a cache directory: each layer kept extracted in a directory of
//! its own, in the format of an overlayfs lower layer, so that a stage whose cache misses late
//! mounts its rootfs from them instead of extracting every layer again.
//!
//! Owns: the directory layout (`<cache-dir>/v1/unpacked/<algorithm>-<hex>/`, by the digest of
//! the layer blob), unpacking a layer into it atomically, and the leftovers of unpacks that were
//! killed. Does not own: mounting the overlay (`kiln_sandbox::overlay`), deciding when to use
//! it (the executor), or the whiteout format (`kiln_fs::extract::Whiteouts::Overlay`).
//!
//! An entry is unpacked into `tmp/<hex>.<pid>.<n>` and renamed into place, so a directory
//! under its final name is always complete; two builds unpacking the same layer at once both
//! finish, and the second rename finds the first's entry and drops its own. Entries are never
//! changed once in place (an overlay never writes to its lower layers), and never removed by a
//! build: the directory is the user's to prune, like the rest of the cache dir.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use kiln_fs::extract::{Options, Whiteouts};
use kiln_oci::Digest;

static UNPACKS: AtomicUsize = AtomicUsize::new(0);

/// Why a layer could not be unpacked into the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unpacked layer store {}: cannot {op}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("unpacked layer store: cannot unpack layer {digest} from {}", blob.display())]
    Extract {
        digest: Digest,
        blob: PathBuf,
        #[source]
        source: Box<kiln_fs::extract::Error>,
    },
}

/// The unpacked layers of one cache directory.
#[derive(Debug, Clone)]
pub struct UnpackedStore {
    dir: PathBuf,
}

impl UnpackedStore {
    /// The store of the cache directory `cache_dir`.
    pub fn new(cache_dir: &Path) -> UnpackedStore {
        UnpackedStore {
            dir: cache_dir.join("v1").join("unpacked"),
        }
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the layer whose blob has `digest` is, once unpacked.
    pub fn entry(&self, digest: &Digest) -> PathBuf {
        self.dir
            .join(format!("{}-{}", digest.algorithm(), digest.hex()))
    }

    /// Whether the layer whose blob has `digest` is unpacked.
    pub fn has(&self, digest: &Digest) -> bool {
        self.entry(digest).is_dir()
    }

    /// Unpacks the layer blob at `blob` (gzip, zstd or plain tar), whose digest is `digest`,
    /// unless it already is; returns its directory.
    pub fn unpack(&self, digest: &Digest, blob: &Path) -> Result<PathBuf, Error> {
        let entry = self.entry(digest);
        if entry.is_dir() {
            return Ok(entry);
        }
        let tmp_dir = self.dir.join("tmp");
        let io = |op, path: &Path| {
            let path = path.to_owned();
            move |source| Error::Io { op, path, source }
        };
        std::fs::create_dir_all(&tmp_dir).map_err(io("create its directory", &tmp_dir))?;
        let tmp = tmp_dir.join(format!(
            "{}.{}.{}",
            digest.hex(),
            std::process::id(),
            UNPACKS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&tmp).map_err(io("create a directory", &tmp))?;
        let result = extract(digest, blob, &tmp).and_then(|()| {
            match std::fs::rename(&tmp, &entry) {
                Ok(()) => Ok(()),
                // Another build put the same layer in place first.
                Err(_) if entry.is_dir() => Ok(()),
                Err(source) => Err(Error::Io {
                    op: "move an unpacked layer into place",
                    path: entry.clone(),
                    source,
                }),
            }
        });
        if tmp.exists() {
            if let Err(e) = std::fs::remove_dir_all(&tmp) {
                tracing::warn!("cannot remove {}: {e}", tmp.display());
            }
        }
        result.map(|()| entry)
    }

    /// Removes what unpacks of processes that no longer run left in `tmp/`.
    pub fn remove_leftovers(&self) {
        let Ok(entries) = std::fs::read_dir(self.dir.join("tmp")) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let pid = name.to_str().and_then(|n| n.split('.').nth(1));
            let gone = pid.is_some_and(|pid| !Path::new("/proc").join(pid).exists());
            if gone {
                if let Err(e) = std::fs::remove_dir_all(entry.path()) {
                    tracing::warn!("cannot remove {}: {e}", entry.path().display());
                }
            }
        }
    }
}

fn extract(digest: &Digest, blob: &Path, into: &Path) -> Result<(), Error> {
    let file = std::fs::File::open(blob).map_err(|source| Error::Io {
        op: "read a layer blob",
        path: blob.to_owned(),
        source,
    })?;
    let failed = |source| Error::Extract {
        digest: digest.clone(),
        blob: blob.to_owned(),
        source: Box::new(source),
    };
    let root = kiln_fs::resolve::Root::open(into).map_err(|source| Error::Io {
        op: "open an unpack directory",
        path: into.to_owned(),
        source: std::io::Error::other(source),
    })?;
    let options = Options {
        whiteouts: Whiteouts::Overlay,
        ..Options::default()
    };
    kiln_fs::extract::extract_layer(&root, file, &options).map_err(failed)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    use kiln_fs::layer::{Changes, LayerOptions};

    use super::*;

    /// A gzip layer of `a/file` (and `a`) and a whiteout of `gone`, written by kiln's writer.
    fn layer(dir: &Path) -> (Digest, PathBuf) {
        let root = dir.join("src");
        std::fs::create_dir_all(root.join("a")).expect("mkdir");
        std::fs::write(root.join("a/file"), b"content").expect("write");
        let mut changes = Changes::new();
        changes.write("a/file").expect("change");
        changes.whiteout("gone").expect("whiteout");
        let blob = dir.join("layer.tar.gz");
        let written = kiln_fs::layer::write(&root, &changes, &blob, &LayerOptions::default())
            .expect("layer written");
        (written.digest, blob)
    }

    fn tmp_entries(store: &UnpackedStore) -> Vec<std::ffi::OsString> {
        std::fs::read_dir(store.dir().join("tmp"))
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_layer_is_unpacked_once_under_its_digest_and_no_temporary_stays() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: overlay whiteouts need root");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let (digest, blob) = layer(dir.path());
        let store = UnpackedStore::new(&dir.path().join("cache"));
        assert!(!store.has(&digest));
        let entry = store.unpack(&digest, &blob).expect("unpacked");
        assert_eq!(entry, store.entry(&digest));
        assert!(store.has(&digest));
        assert_eq!(
            std::fs::read(entry.join("a/file")).expect("file"),
            b"content"
        );
        let gone = std::fs::symlink_metadata(entry.join("gone")).expect("whiteout");
        assert!(gone.file_type().is_char_device() && gone.rdev() == 0);
        assert!(tmp_entries(&store).is_empty());
        // A second unpack finds the entry and leaves it as it is.
        std::fs::remove_file(&blob).expect("blob removed");
        assert_eq!(store.unpack(&digest, &blob).expect("found"), entry);
    }

    #[test]
    fn a_blob_that_does_not_unpack_leaves_no_entry_and_no_temporary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blob = dir.path().join("broken");
        std::fs::write(&blob, b"\x1f\x8b\x08\x00 not really gzip").expect("write");
        let digest = Digest::of(b"broken");
        let store = UnpackedStore::new(dir.path());
        let err = store.unpack(&digest, &blob).expect_err("refused");
        assert!(err.to_string().contains(&digest.to_string()), "{err}");
        assert!(!store.has(&digest));
        assert!(tmp_entries(&store).is_empty());
    }

    #[test]
    fn leftovers_of_processes_that_are_gone_are_removed_and_others_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = UnpackedStore::new(dir.path());
        let tmp = store.dir().join("tmp");
        let mine = format!("abc.{}.0", std::process::id());
        // Far above any pid_max the kernel allows.
        let dead = "abc.999999999.0";
        for name in [mine.as_str(), dead] {
            std::fs::create_dir_all(tmp.join(name).join("half")).expect("mkdir");
        }
        store.remove_leftovers();
        assert_eq!(tmp_entries(&store), [std::ffi::OsString::from(mine)]);
    }
}
