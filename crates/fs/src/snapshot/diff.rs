//! Comparing two snapshots of the same root: added, modified and deleted paths, and which
//! directories must be opaque.
//!
//! Owns: the per-mode notion of "changed" and the merge of two sorted walks. Does not own: the
//! walk itself (`super::walk`) or the tar entries (`crate::layer`).

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use super::walk::{Snapshot, Stat, hash_file, path_order};
use super::{Error, SnapshotMode};
use crate::layer::Changes;

/// What changed between two snapshots. Every list is in path order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// Paths that did not exist before (including everything inside an opaque directory).
    pub added: Vec<PathBuf>,
    /// Paths that exist in both and differ.
    pub modified: Vec<PathBuf>,
    /// Topmost deleted paths: a deleted directory is listed once, not with its contents.
    pub deleted: Vec<PathBuf>,
    /// Directories that replaced what was there (deleted and re-created, or a non-directory
    /// turned into one): lower layers' contents below them are hidden.
    pub opaque: Vec<PathBuf>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.modified.is_empty()
            && self.deleted.is_empty()
            && self.opaque.is_empty()
    }

    /// The layer entries that record this diff: whiteouts for deletions, opaque markers, and
    /// every added or modified path with its parents.
    pub fn to_changes(&self) -> Result<Changes, Error> {
        let mut changes = Changes::new();
        for p in &self.deleted {
            changes.whiteout(p).map_err(Error::Layer)?;
        }
        for p in &self.opaque {
            changes.opaque(p).map_err(Error::Layer)?;
        }
        for p in self.added.iter().chain(&self.modified) {
            changes.write(p).map_err(Error::Layer)?;
        }
        Ok(changes)
    }
}

/// Whether `old` and `new` (same path, same file type) differ under `mode`.
fn stat_differs(old: &Stat, new: &Stat, mode: SnapshotMode) -> bool {
    let link = old.link != new.link;
    match mode {
        SnapshotMode::Full => {
            link || (old.dev, old.ino, old.size, old.mode, old.uid, old.gid)
                != (new.dev, new.ino, new.size, new.mode, new.uid, new.gid)
                || (old.rdev, old.mtime_ns, old.ctime_ns) != (new.rdev, new.mtime_ns, new.ctime_ns)
        }
        SnapshotMode::Redo => {
            link || (old.ino, old.size, old.mode, old.uid, old.gid, old.mtime_ns)
                != (new.ino, new.size, new.mode, new.uid, new.gid, new.mtime_ns)
        }
        SnapshotMode::Time => link || old.mtime_ns != new.mtime_ns,
    }
}

/// Whether `new` is the directory `old` was, rather than one made in its place. Inode numbers
/// are recycled at once by ext4 and others, so a differing birth time also counts, where the
/// walk recorded one (not on overlayfs, where copy-up changes it).
fn same_directory(old: &Stat, new: &Stat) -> bool {
    old.is_dir()
        && (old.dev, old.ino) == (new.dev, new.ino)
        && (old.btime_ns.is_none() || old.btime_ns == new.btime_ns)
}

/// Whether a path present in both snapshots changed, reading content only for racy files.
fn changed(
    root: &Path,
    rel: &Path,
    old: &Stat,
    new: &Stat,
    mode: SnapshotMode,
) -> Result<bool, Error> {
    if old.file_type() != new.file_type() || stat_differs(old, new, mode) {
        return Ok(true);
    }
    match &old.racy_content {
        Some(before) => {
            let now = match &new.racy_content {
                Some(d) => d.clone(),
                None => hash_file(&root.join(rel))?,
            };
            Ok(*before != now)
        }
        None => Ok(false),
    }
}

/// Compares `old` and `new` (two walks of the same root) under `mode`.
pub fn compare(old: &Snapshot, new: &Snapshot, mode: SnapshotMode) -> Result<Diff, Error> {
    let mut diff = Diff::default();
    let mut a = old.entries.iter().peekable();
    let mut b = new.entries.iter().peekable();
    // Root of a deleted or replaced subtree: old entries below it need no whiteout.
    let mut hidden: Option<PathBuf> = None;
    // Root of an opaque directory: new entries below it are all written.
    let mut opaque: Option<PathBuf> = None;
    let under =
        |root: &Option<PathBuf>, p: &Path| root.as_deref().is_some_and(|r| p.starts_with(r));
    loop {
        let order = match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((pa, _)), Some((pb, _))) => path_order(pa, pb),
        };
        match order {
            Ordering::Less => {
                let Some((p, _)) = a.next() else { break };
                if !under(&hidden, p) {
                    diff.deleted.push(p.clone());
                    hidden = Some(p.clone());
                }
            }
            Ordering::Greater => {
                let Some((p, _)) = b.next() else { break };
                diff.added.push(p.clone());
            }
            Ordering::Equal => {
                let (Some((p, o)), Some((_, n))) = (a.next(), b.next()) else {
                    break;
                };
                if under(&opaque, p) {
                    diff.added.push(p.clone());
                } else if n.is_dir() && !same_directory(o, n) {
                    diff.opaque.push(p.clone());
                    hidden = Some(p.clone());
                    opaque = Some(p.clone());
                } else if changed(&new.root, p, o, n, mode)? {
                    if o.is_dir() && !n.is_dir() {
                        hidden = Some(p.clone());
                    }
                    diff.modified.push(p.clone());
                }
            }
        }
    }
    Ok(diff)
}
