//! Whiteouts of the OCI image layer spec
//! (<https://github.com/opencontainers/image-spec/blob/main/layer.md#whiteouts>).
//!
//! `dir/.wh.name` removes `dir/name` as lower layers left it; `dir/.wh..wh..opq` removes every
//! child of `dir` that lower layers left. Neither touches what its own layer adds, whether that
//! entry comes before or after the whiteout in the archive: anything this layer wrote (and every
//! ancestor of it, see [`Applier::mark_written`]) is kept, and only its lower-layer contents
//! below it are hidden. Other names in the `.wh..wh.` namespace (AUFS bookkeeping such as
//! `.wh..wh.plnk`) are skipped, and whiteout entries never appear in the rootfs.

use std::io;
use std::os::unix::ffi::OsStrExt;

use rustix::fs::FileType;

use super::apply::Applier;
use super::reader::Entry;
use super::{Error, Refusal};
use crate::resolve;

const PREFIX: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";
const META_PREFIX: &[u8] = b".wh..wh.";

impl Applier<'_> {
    /// Applies the whiteout entry at `rel`, whose last component starts with `.wh.`.
    pub(super) fn whiteout(&mut self, entry: &Entry, rel: &[u8]) -> Result<(), Error> {
        self.invalidate();
        let (dir, name) = match rel.iter().rposition(|b| *b == b'/') {
            Some(i) => (&rel[..i], &rel[i + 1..]),
            None => (&rel[..0], rel),
        };
        let apply_err = |source| Error::Apply {
            entry: entry.display(),
            source,
        };
        if name == OPAQUE {
            return self.hide_children(dir).map_err(apply_err);
        }
        if name.starts_with(META_PREFIX) {
            return Ok(());
        }
        let hidden = &name[PREFIX.len()..];
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(Error::Refused {
                entry: entry.display(),
                reason: Refusal::InvalidWhiteout,
            });
        }
        let mut target = dir.to_vec();
        if !target.is_empty() {
            target.push(b'/');
        }
        target.extend_from_slice(hidden);
        self.hide_lower(&target).map_err(apply_err)
    }

    /// Removes what lower layers left at `rel`, keeping what this layer wrote.
    fn hide_lower(&mut self, rel: &[u8]) -> Result<(), resolve::Error> {
        let path = self.in_root(rel);
        if self.options.ignore.is_ignored(&path) {
            return Ok(());
        }
        if !self.written.contains(rel) {
            return self.root.remove_all(&path);
        }
        let parent = match self.root.open_parent(&path) {
            Ok(parent) => parent,
            Err(resolve::Error::Io { source, .. }) if is_missing(&source) => return Ok(()),
            Err(e) => return Err(e),
        };
        if parent.kind()? == Some(FileType::Directory) {
            self.hide_children(rel)?;
        }
        Ok(())
    }

    /// Hides every child of the directory `rel` that lower layers left.
    fn hide_children(&mut self, rel: &[u8]) -> Result<(), resolve::Error> {
        let path = self.in_root(rel);
        let names = match self.root.read_dir(&path) {
            Ok(names) => names,
            Err(resolve::Error::Io { source, .. })
                if is_missing(&source) || source.raw_os_error() == Some(libc::ENOTDIR) =>
            {
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        for name in names {
            let mut child = rel.to_vec();
            if !child.is_empty() {
                child.push(b'/');
            }
            child.extend_from_slice(name.as_bytes());
            self.hide_lower(&child)?;
        }
        Ok(())
    }
}

fn is_missing(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
}
