//! The parallel walk: one `lstat` per path, directories fanned out over rayon's pool.
//!
//! Owns: [`Snapshot`] (every path under a root and its [`Stat`]), the ignore predicate, and the
//! content hash of racily-clean files (see the parent module). Does not own: comparing two
//! snapshots (`super::diff`).

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use kiln_oci::{Digest, Sha256};

use super::Error;

/// Decides whether a path (relative to the root, no leading `/`) and everything below it is
/// left out of snapshots.
pub type Ignore = Arc<dyn Fn(&Path) -> bool + Send + Sync>;

/// Ignores nothing.
pub fn ignore_nothing() -> Ignore {
    Arc::new(|_| false)
}

/// Ignores each of `paths` and everything below them. Paths may be given with or without a
/// leading `/` (`/proc` and `proc` are the same).
pub fn ignore_paths<I, P>(paths: I) -> Ignore
where
    I: IntoIterator<Item = P>,
    P: AsRef<Path>,
{
    let set: BTreeSet<PathBuf> = paths
        .into_iter()
        .map(|p| {
            p.as_ref()
                .strip_prefix("/")
                .unwrap_or(p.as_ref())
                .to_owned()
        })
        .collect();
    Arc::new(move |p| p.ancestors().any(|a| set.contains(a)))
}

/// What a walk records about one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    /// `st_mode`: file type and permission bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub nlink: u64,
    pub rdev: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
    /// Birth time, where the filesystem reports one and it means what it says: tells a
    /// directory re-created on a recycled inode number from the one that was there. Always
    /// `None` on overlayfs, where copy-up changes it (see the module doc of `snapshot`).
    pub btime_ns: Option<i128>,
    /// A symlink's target.
    pub link: Option<PathBuf>,
    /// Content hash, only for files changed too close to the walk for `stat` to be trusted.
    pub racy_content: Option<Digest>,
}

impl Stat {
    pub fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }

    pub fn file_type(&self) -> u32 {
        self.mode & libc::S_IFMT
    }

    fn is_file(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }
}

/// Every path under a root, with its [`Stat`].
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub(crate) root: PathBuf,
    /// Relative to the root (the root itself is not listed), sorted by [`path_order`].
    pub(crate) entries: Vec<(PathBuf, Stat)>,
}

impl Snapshot {
    /// A snapshot of nothing: comparing a walk against it lists every path as added, which is
    /// how a stage's first layer from `scratch` is made.
    pub fn empty(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            entries: Vec::new(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn get(&self, path: &Path) -> Option<&Stat> {
        self.entries
            .binary_search_by(|(p, _)| path_order(p, path))
            .ok()
            .map(|i| &self.entries[i].1)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.entries.iter().map(|(p, _)| p.as_path())
    }
}

/// Component-by-component order of two normalized relative paths (a directory's contents follow
/// it directly), computed on the raw bytes with `/` ranked below every other byte. Same order
/// as `Path`'s `Ord`, at the speed of a byte comparison.
pub(crate) fn path_order(a: &Path, b: &Path) -> Ordering {
    let key = |c: u8| if c == b'/' { 0 } else { u16::from(c) + 1 };
    let (a, b) = (a.as_os_str().as_bytes(), b.as_os_str().as_bytes());
    let common = a.len().min(b.len());
    match a[..common]
        .iter()
        .zip(&b[..common])
        .position(|(x, y)| x != y)
    {
        Some(i) => key(a[i]).cmp(&key(b[i])),
        None => a.len().cmp(&b.len()),
    }
}

fn nanos(sec: i64, nsec: i64) -> i128 {
    i128::from(sec) * 1_000_000_000 + i128::from(nsec)
}

/// How close to the walk's start a timestamp must be for `stat` to be untrustworthy: one clock
/// tick on filesystems with nanosecond stamps (20 ms covers HZ=100 with margin), a whole second
/// where the stamp has no sub-second part (the filesystem may store seconds only).
fn racy_window(ctime_nsec: i64) -> i128 {
    if ctime_nsec == 0 {
        1_000_000_000
    } else {
        20_000_000
    }
}

/// Hashes the content of `path`.
pub(crate) fn hash_file(path: &Path) -> Result<Digest, Error> {
    let err = |source| Error::Read {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(err)?;
    let mut hash = Sha256::new();
    io::copy(&mut file, &mut hash).map_err(err)?;
    Ok(hash.finish_as())
}

/// Whether `root` is on overlayfs (`statfs(2)` `f_type`, whose width differs between
/// architectures). A root that cannot be `statfs`ed fails the walk on its own, with an error
/// naming it.
fn on_overlayfs(root: &Path) -> bool {
    rustix::fs::statfs(root)
        .is_ok_and(|s| i128::from(s.f_type) == i128::from(libc::OVERLAYFS_SUPER_MAGIC))
}

pub(super) struct WalkState<'a> {
    root: &'a Path,
    ignore: &'a Ignore,
    /// Record birth times; off on overlayfs.
    btime: bool,
    started_ns: i128,
    out: Mutex<Vec<(PathBuf, Stat)>>,
    error: Mutex<Option<Error>>,
}

impl<'a> WalkState<'a> {
    /// A walk of `root`. On overlayfs no birth time is recorded: copying a lower-layer
    /// directory up to the upper layer (which writing anything inside it does) gives it a new
    /// birth time while it keeps its inode number, so the birth time would take it for a
    /// re-created directory. There the inode number is enough: overlayfs reports a lower-layer
    /// object's inode number unchanged across copy-up, and a directory re-created in its place
    /// gets a new one, since the lower inode still exists. (A directory re-created on an upper
    /// inode number the upper filesystem recycled is then seen as modified, not replaced: its
    /// layer lists every deleted child as a whiteout instead of being opaque, which merges the
    /// same.)
    pub(super) fn new(root: &'a Path, ignore: &'a Ignore) -> Self {
        let started_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        Self {
            root,
            ignore,
            btime: !on_overlayfs(root),
            started_ns,
            out: Mutex::new(Vec::new()),
            error: Mutex::new(None),
        }
    }

    /// Walks everything below `dir` (relative), in parallel.
    pub(super) fn walk_below(&self, dir: PathBuf) {
        rayon::scope(|s| self.visit(s, dir));
    }

    /// What the walk found, unsorted, or its first error.
    pub(super) fn finish(self) -> Result<Vec<(PathBuf, Stat)>, Error> {
        if let Some(e) = self.error.into_inner().ok().flatten() {
            return Err(e);
        }
        Ok(self.out.into_inner().unwrap_or_default())
    }

    fn fail(&self, e: Error) {
        if let Ok(mut slot) = self.error.lock() {
            slot.get_or_insert(e);
        }
    }

    pub(super) fn stat(&self, rel: &Path, meta: &fs::Metadata) -> Result<Stat, Error> {
        let path = || self.root.join(rel);
        let link = if meta.file_type().is_symlink() {
            Some(fs::read_link(path()).map_err(|source| Error::Read {
                path: path(),
                source,
            })?)
        } else {
            None
        };
        let mut stat = Stat {
            dev: meta.dev(),
            ino: meta.ino(),
            mode: meta.mode(),
            uid: meta.uid(),
            gid: meta.gid(),
            size: meta.size(),
            nlink: meta.nlink(),
            rdev: meta.rdev(),
            mtime_ns: nanos(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: nanos(meta.ctime(), meta.ctime_nsec()),
            btime_ns: meta
                .created()
                .ok()
                .filter(|_| self.btime)
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_nanos() as i128),
            link,
            racy_content: None,
        };
        let newest = stat.mtime_ns.max(stat.ctime_ns);
        if stat.is_file() && newest >= self.started_ns - racy_window(meta.ctime_nsec()) {
            stat.racy_content = Some(hash_file(&path())?);
        }
        Ok(stat)
    }

    /// Lists one directory, records its entries and fans out into its subdirectories.
    fn visit<'s>(&'s self, scope: &rayon::Scope<'s>, dir: PathBuf) {
        let abs = self.root.join(&dir);
        let read = match fs::read_dir(&abs) {
            Ok(r) => r,
            Err(source) => return self.fail(Error::Read { path: abs, source }),
        };
        let mut found = Vec::new();
        for entry in read {
            let entry = match entry {
                Ok(e) => e,
                Err(source) => {
                    return self.fail(Error::Read {
                        path: abs.clone(),
                        source,
                    });
                }
            };
            let rel = dir.join(entry.file_name());
            if (self.ignore)(&rel) {
                continue;
            }
            let meta = match entry.metadata() {
                Ok(m) => m,
                // Gone between listing and stat: it is not part of this snapshot.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => {
                    return self.fail(Error::Read {
                        path: self.root.join(&rel),
                        source,
                    });
                }
            };
            match self.stat(&rel, &meta) {
                Ok(stat) => {
                    if stat.is_dir() {
                        let sub = rel.clone();
                        scope.spawn(move |s| self.visit(s, sub));
                    }
                    found.push((rel, stat));
                }
                Err(e) => return self.fail(e),
            }
        }
        if let Ok(mut out) = self.out.lock() {
            out.extend(found);
        }
    }
}

/// Walks everything under `root` (not following symlinks, skipping what `ignore` says) and
/// records it.
pub fn walk(root: &Path, ignore: &Ignore) -> Result<Snapshot, Error> {
    let state = WalkState::new(root, ignore);
    state.walk_below(PathBuf::new());
    let mut entries = state.finish()?;
    entries.sort_unstable_by(|(a, _), (b, _)| path_order(a, b));
    Ok(Snapshot {
        root: root.to_owned(),
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_order_is_component_order() {
        let mut paths: Vec<PathBuf> = ["a-b", "a/b", "a", "a/b/c", "a.b", "b", "a/b-c", "ab"]
            .iter()
            .map(PathBuf::from)
            .collect();
        let mut by_components = paths.clone();
        by_components.sort();
        paths.sort_by(|a, b| path_order(a, b));
        assert_eq!(paths, by_components);
        assert_eq!(
            paths,
            ["a", "a/b", "a/b/c", "a/b-c", "a-b", "a.b", "ab", "b"].map(PathBuf::from)
        );
    }

    #[test]
    fn ignored_paths_cover_their_subtrees() {
        let ignore = ignore_paths(["/proc", "var/run", "kiln"]);
        let cases: &[(&str, bool)] = &[
            ("proc", true),
            ("proc/1/status", true),
            ("process", false),
            ("var/run/x", true),
            ("var", false),
            ("kiln", true),
            ("etc/kiln", false),
        ];
        for (p, want) in cases {
            assert_eq!(ignore(Path::new(p)), *want, "{p}");
        }
    }

    #[test]
    fn walk_records_every_path_but_the_ignored_ones() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("a/b/c")).unwrap();
        fs::create_dir_all(root.join("skip/deep")).unwrap();
        fs::write(root.join("a/b/c/f"), b"x").unwrap();
        std::os::unix::fs::symlink("../b", root.join("a/l")).unwrap();
        let snap = walk(root, &ignore_paths(["skip"])).unwrap();
        let paths: Vec<_> = snap.paths().map(|p| p.display().to_string()).collect();
        assert_eq!(paths, ["a", "a/b", "a/b/c", "a/b/c/f", "a/l"]);
        assert_eq!(
            snap.get(Path::new("a/l")).unwrap().link.as_deref(),
            Some(Path::new("../b"))
        );
        // Just written, so its stat cannot be trusted alone: the content was hashed.
        assert!(
            snap.get(Path::new("a/b/c/f"))
                .unwrap()
                .racy_content
                .is_some()
        );
    }

    #[test]
    fn old_files_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("old");
        fs::write(&f, b"x").unwrap();
        let old = filetime::FileTime::from_unix_time(1_000_000, 0);
        filetime::set_file_mtime(&f, old).unwrap();
        // ctime is now; pretend the walk happened long after by checking the window directly.
        let meta = fs::symlink_metadata(&f).unwrap();
        let state = WalkState {
            root: dir.path(),
            ignore: &ignore_nothing(),
            btime: true,
            started_ns: nanos(meta.ctime(), meta.ctime_nsec()) + 5_000_000_000,
            out: Mutex::new(Vec::new()),
            error: Mutex::new(None),
        };
        let stat = state.stat(Path::new("old"), &meta).unwrap();
        assert_eq!(stat.racy_content, None);
    }
}
