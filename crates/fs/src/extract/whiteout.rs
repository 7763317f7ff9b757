//! Whiteouts of the OCI image layer spec
//! (<https://github.com/opencontainers/image-spec/blob/main/layer.md#whiteouts>).
//!
//! `dir/.wh.name` removes `dir/name` as lower layers left it; `dir/.wh..wh..opq` removes every
//! child of `dir` that lower layers left. Neither touches what its own layer adds, whether that
//! entry comes before or after the whiteout in the archive: anything this layer wrote (and every
//! ancestor of it, see [`Applier::mark_written`]) is kept, and only its lower-layer contents
//! below it are hidden. Other names in the `.wh..wh.` namespace (AUFS bookkeeping such as
//! `.wh..wh.plnk`) are skipped, and whiteout entries never appear in the rootfs.
//!
//! In [`Whiteouts::Overlay`] mode the layer is alone in its directory and overlayfs does the
//! hiding (<https://docs.kernel.org/filesystems/overlayfs.html>, "whiteouts and opaque
//! directories"), so whiteouts are written down rather than applied, once the whole layer is
//! there ([`OverlayMarks`]): `dir/.wh.name` becomes a character device 0/0 at `dir/name`, and
//! `dir/.wh..wh..opq` the xattr `trusted.overlay.opaque=y` on `dir`, which is created if the
//! layer does not list it. The rule that a whiteout spares its own layer becomes: where the layer
//! itself put a non-directory at `dir/name`, nothing is written (that entry already hides the
//! lower one); where it put a directory, that directory is made opaque, so that only its own
//! contents show, as [`Whiteouts::Apply`] leaves it. A whiteout below a directory that is itself
//! whited out or opaque is redundant and skipped.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags, XattrFlags};

use super::apply::Applier;
use super::reader::Entry;
use super::{Error, Refusal, Whiteouts};
use crate::resolve::{self, NodeKind};

const PREFIX: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";
const META_PREFIX: &[u8] = b".wh..wh.";

/// The xattr that makes a directory of an overlayfs layer opaque (with the value `y`).
const OVERLAY_OPAQUE: &str = "trusted.overlay.opaque";
/// The device number of an overlayfs whiteout.
const WHITEOUT_DEVICE: NodeKind = NodeKind::CharDevice { major: 0, minor: 0 };

/// The whiteouts of a layer extracted in [`Whiteouts::Overlay`] mode, written when the layer
/// ends: only then is it known what the layer itself wrote. Each path (relative to the
/// archive root, `b""` for the root itself) maps to the entry that asked for it, for errors.
#[derive(Debug, Default)]
pub(super) struct OverlayMarks {
    /// Paths to hide: `dir/name` for `dir/.wh.name`.
    whiteouts: BTreeMap<Vec<u8>, String>,
    /// Directories to make opaque.
    opaque: BTreeMap<Vec<u8>, String>,
}

impl OverlayMarks {
    /// Whether a strict ancestor of `rel` is whited out or opaque, which hides everything the
    /// lower layers have below it.
    fn covered(&self, rel: &[u8]) -> bool {
        rel.iter()
            .enumerate()
            .filter(|(_, b)| **b == b'/')
            .map(|(i, _)| &rel[..i])
            .any(|dir| self.whiteouts.contains_key(dir) || self.opaque.contains_key(dir))
    }
}

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
        let overlay = self.options.whiteouts == Whiteouts::Overlay;
        if name == OPAQUE {
            if overlay {
                self.marks.opaque.insert(dir.to_vec(), entry.display());
                return Ok(());
            }
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
        if overlay {
            self.marks.whiteouts.insert(target, entry.display());
            return Ok(());
        }
        self.hide_lower(&target).map_err(apply_err)
    }

    /// Writes the whiteouts kept by [`Whiteouts::Overlay`] mode, now that the layer is there.
    pub(super) fn write_overlay_marks(&mut self) -> Result<(), Error> {
        let marks = std::mem::take(&mut self.marks);
        self.invalidate();
        for (rel, entry) in &marks.whiteouts {
            if marks.covered(rel) {
                continue;
            }
            self.write_whiteout(rel).map_err(|source| Error::Apply {
                entry: entry.clone(),
                source,
            })?;
        }
        for (rel, entry) in &marks.opaque {
            if marks.whiteouts.contains_key(rel) || marks.covered(rel) {
                continue;
            }
            self.write_opaque(rel).map_err(|source| Error::Apply {
                entry: entry.clone(),
                source,
            })?;
        }
        Ok(())
    }

    /// Hides what lower layers have at `rel`: a whiteout device where this layer has nothing,
    /// an opaque directory where it has a directory. The directory being empty before the
    /// layer, anything found there is the layer's own, whatever path led to it.
    fn write_whiteout(&self, rel: &[u8]) -> Result<(), resolve::Error> {
        let path = self.in_root(rel);
        if self.options.ignore.is_ignored(&path) {
            return Ok(());
        }
        let parent = self.root.open_parent_create(&path)?;
        match parent.kind()? {
            None => {
                parent.mknod(WHITEOUT_DEVICE, 0)?;
                parent.open_node()?.set_owner(0, 0)
            }
            Some(FileType::Directory) => set_opaque(&parent),
            Some(_) => Ok(()),
        }
    }

    /// Makes the directory `rel` opaque, creating it if the layer did not; a non-directory the
    /// layer put there hides the lower directory on its own.
    fn write_opaque(&self, rel: &[u8]) -> Result<(), resolve::Error> {
        let path = self.in_root(rel);
        if self.options.ignore.is_ignored(&path) {
            return Ok(());
        }
        if resolve::clean(&path).is_empty() {
            return self.set_root_opaque();
        }
        let parent = self.root.open_parent_create(&path)?;
        match parent.kind()? {
            None => parent.mkdir(0o755)?,
            Some(FileType::Directory) => {}
            Some(_) => return Ok(()),
        }
        set_opaque(&parent)
    }

    /// Marks the unpack directory itself opaque (`.wh..wh..opq` at the top of the layer). It has
    /// no parent inside the rootfs to go through, so it is opened as `.` of the root's fd.
    fn set_root_opaque(&self) -> Result<(), resolve::Error> {
        let io_err = |source: rustix::io::Errno| resolve::Error::Io {
            op: "mark opaque",
            path: Path::new("/").to_owned(),
            source: source.into(),
        };
        let dir = rustix::fs::openat(
            self.root.as_fd(),
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(io_err)?;
        rustix::fs::fsetxattr(&dir, OVERLAY_OPAQUE, b"y", XattrFlags::empty()).map_err(io_err)
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

/// Sets `trusted.overlay.opaque=y` on the directory `parent` names.
fn set_opaque(parent: &resolve::Parent) -> Result<(), resolve::Error> {
    parent
        .open_node()?
        .set_xattr(&OsString::from(OVERLAY_OPAQUE), b"y")
}

fn is_missing(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
}
