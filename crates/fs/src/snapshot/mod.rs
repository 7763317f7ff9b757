//! Snapshots: what a build step changed in the rootfs.
//!
//! Owns: the parallel walk that records each path's `stat` ([`walk`]), the comparison of two
//! walks ([`compare`]), the turn of the result into layer entries (whiteouts, opaque
//! directories, parents), and [`Snapshot::refresh`] for paths a step reports itself. Does not
//! own: writing the layer (`crate::layer`), or the list of paths a COPY/ADD wrote: such a step
//! knows it and passes it to [`crate::layer::Changes::write`] directly, and no walk happens;
//! `refresh` then brings the snapshot up to date for the next RUN.
//!
//! Follows the change-set rules of the OCI layer spec
//! (<https://github.com/opencontainers/image-spec/blob/main/layer.md#change-types>), and
//! Docker's choices where the spec leaves room: changed paths come with their parent
//! directories, a deleted directory is one whiteout (not one per child), and a directory that
//! was deleted and re-created, or replaced a non-directory, is written opaque with all of its
//! current contents, as overlayfs makes it.
//!
//! # What is read
//! A walk records, for every path: device, inode, size, mode, uid, gid, link count, device
//! number, mtime and ctime in nanoseconds, birth time where the filesystem has one (ext4
//! recycles a deleted directory's inode number at once, so only the birth time tells a
//! re-created directory from the old one), and a symlink's target. On overlayfs no birth time
//! is recorded: copy-up gives a lower-layer directory a new one while it keeps its inode
//! number, which a directory re-created in its place cannot reuse. Content is never read to
//! decide a change, with one exception: a regular file whose mtime or ctime falls within the
//! filesystem's timestamp granularity of the moment the walk started could be rewritten later
//! in the same clock tick without any `stat` field moving (git's "racily clean" files). Those
//! few files get a content hash at walk time, and the next comparison re-hashes them if their
//! `stat` is unchanged. xattrs are not recorded: setting one updates ctime.
//!
//! # Modes (`--snapshot-mode`)
//! - `full` (default): a path changed if any recorded field differs, ctime included. ctime
//!   cannot be set from user space, so every write, chmod, chown, xattr change, rename over or
//!   new hardlink shows up, even when a tool restores mtime.
//! - `redo`: Kaniko's redo: mtime, size, mode, uid, gid, inode and link target; ctime is not
//!   compared, so xattr-only changes and writes that restore mtime and size are missed.
//! - `time`: mtime and file type only (and a symlink's target).
//!
//! All three cost the same `stat` per path in kiln; `redo` and `time` exist so that Kaniko
//! pipelines keep their flag, and only narrow what counts as a change.
//!
//! `--single-snapshot` means one snapshot per stage: the build walks once before the first
//! step and compares once after the last, making one layer; no per-step walks.

mod diff;
mod refresh;
mod walk;

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::str::FromStr;

pub use diff::{Diff, compare};
pub use walk::{Ignore, Snapshot, Stat, ignore_nothing, ignore_paths, walk};

/// Why a snapshot could not be taken or compared.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path} while taking a snapshot")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("path {0} is outside the rootfs")]
    OutsideRoot(PathBuf),
    #[error("unknown snapshot mode {0:?}: expected full, redo or time")]
    UnknownMode(String),
    #[error("cannot turn the snapshot into layer entries")]
    Layer(#[source] crate::layer::Error),
}

/// Kaniko's `--snapshot-mode`, as kiln interprets it (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnapshotMode {
    #[default]
    Full,
    Redo,
    Time,
}

impl SnapshotMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotMode::Full => "full",
            SnapshotMode::Redo => "redo",
            SnapshotMode::Time => "time",
        }
    }

    /// One line for `--help`.
    pub fn help(self) -> &'static str {
        match self {
            SnapshotMode::Full => "stat with ctime: every change, content read only for racy files",
            SnapshotMode::Redo => "mtime, size, mode, owner and inode; misses xattr-only changes",
            SnapshotMode::Time => "mtime and file type only",
        }
    }
}

impl fmt::Display for SnapshotMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SnapshotMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "full" => Ok(SnapshotMode::Full),
            "redo" => Ok(SnapshotMode::Redo),
            "time" => Ok(SnapshotMode::Time),
            other => Err(Error::UnknownMode(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_as_kaniko_spells_them() {
        for m in [SnapshotMode::Full, SnapshotMode::Redo, SnapshotMode::Time] {
            assert_eq!(m.as_str().parse::<SnapshotMode>().ok(), Some(m));
        }
        assert!("Full".parse::<SnapshotMode>().is_err());
        assert_eq!(SnapshotMode::default(), SnapshotMode::Full);
    }
}
