//! Applying one tar entry to the rootfs: checks on its names, then the node it creates.
//!
//! The order of metadata follows what `chown(2)` undoes: owner first, then mode (setuid and
//! setgid survive), then xattrs (`security.capability` survives), then mtime. Directories get
//! their mode and mtime at the end of the layer, after everything inside them was written, so
//! that writing a child neither changes the parent's mtime nor is blocked by a read-only mode.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::FileType;

use super::reader::{Entry, EntryKind};
use super::whiteout::OverlayMarks;
use super::{Error, Options, Recorded, Refusal, Report, Source, Unrepresentable, Whiteouts};
use crate::resolve::{self, Metadata, Node, NodeKind, Parent, Root};

/// Size of the buffer file content is copied through.
const COPY_BUFFER: usize = 256 * 1024;

/// The xattrs overlayfs reads from its layers: in a layer unpacked for overlayfs they would
/// change what the merged view shows, so entries may not set them.
const OVERLAY_XATTR_PREFIX: &[u8] = b"trusted.overlay.";

/// The state of one layer's extraction.
pub(super) struct Applier<'a> {
    pub(super) root: &'a Root,
    pub(super) options: &'a Options,
    /// Every path this layer wrote, and their ancestors: whiteouts must not hide them.
    pub(super) written: HashSet<Vec<u8>>,
    /// Symlinks this archive made (context archives refuse writes through them).
    links: HashSet<Vec<u8>>,
    /// Directories whose mode and mtime are applied at the end of the layer.
    dirs: Vec<(Vec<u8>, Metadata)>,
    /// Whiteouts kept for the end of the layer, in [`Whiteouts::Overlay`] mode.
    pub(super) marks: OverlayMarks,
    /// The parent directory of the last entry: most entries share their predecessor's parent,
    /// and creating files or directories cannot change what it resolves to. Anything that
    /// removes, replaces or links clears it.
    cache: Option<(PathBuf, Parent)>,
    report: Report,
    buffer: Vec<u8>,
}

impl<'a> Applier<'a> {
    pub(super) fn new(root: &'a Root, options: &'a Options) -> Applier<'a> {
        Applier {
            root,
            options,
            written: HashSet::new(),
            links: HashSet::new(),
            dirs: Vec::new(),
            marks: OverlayMarks::default(),
            cache: None,
            report: Report::default(),
            buffer: vec![0; COPY_BUFFER],
        }
    }

    /// The absolute in-root path of an archive path.
    pub(super) fn in_root(&self, rel: &[u8]) -> PathBuf {
        self.options.target_dir.join(OsStr::from_bytes(rel))
    }

    pub(super) fn apply(&mut self, entry: &Entry, data: &mut dyn Read) -> Result<(), Error> {
        let refuse = |reason| Error::Refused {
            entry: entry.display(),
            reason,
        };
        let Some(rel) = check_path(&entry.path).map_err(refuse)? else {
            // The archive's root directory: the rootfs keeps its own metadata.
            return Ok(());
        };
        let path = self.in_root(&rel);
        if self.options.ignore.is_ignored(&path) {
            self.report.ignored += 1;
            return Ok(());
        }
        self.report.entries += 1;
        if self.options.source == Source::Layer {
            let name = rel.rsplit(|b| *b == b'/').next().unwrap_or(&rel);
            if name.starts_with(b".wh.") {
                return self.whiteout(entry, &rel);
            }
        } else if let Some(link) = self.symlink_ancestor(&rel) {
            return Err(refuse(Refusal::WriteThroughSymlink { link }));
        }
        self.mark_written(&rel);
        let applied = match entry.kind {
            EntryKind::Dir => self.dir(entry, &rel, &path),
            EntryKind::File => return self.file(entry, &path, data),
            EntryKind::Symlink => self.symlink(entry, &rel, &path),
            EntryKind::Hardlink => return self.hardlink(entry, &path),
            EntryKind::CharDevice | EntryKind::BlockDevice | EntryKind::Fifo => {
                if self.options.source == Source::Context {
                    return Err(refuse(Refusal::DeviceInContext));
                }
                self.device(entry, &path)
            }
        };
        applied.map_err(|source| Error::Apply {
            entry: entry.display(),
            source,
        })
    }

    /// Writes the overlayfs whiteouts of [`Whiteouts::Overlay`] mode, then applies the deferred
    /// directory modes and mtimes, in archive order so that a directory listed twice ends with
    /// its last entry's. Whiteouts come first because creating them changes their directory's
    /// mtime; changing a directory's metadata does not touch its parent's, so no other order is
    /// needed.
    pub(super) fn finish(mut self) -> Result<Report, Error> {
        self.write_overlay_marks()?;
        for (rel, meta) in std::mem::take(&mut self.dirs) {
            let path = self.in_root(&rel);
            let entry = String::from_utf8_lossy(&rel).into_owned();
            let apply = || -> Result<(), resolve::Error> {
                let parent = self.root.open_parent(&path)?;
                if parent.kind()? != Some(FileType::Directory) {
                    return Ok(());
                }
                let node = parent.open_node()?;
                node.set_mode(meta.mode)?;
                if let Some(mtime) = meta.mtime {
                    node.set_mtime(mtime)?;
                }
                Ok(())
            };
            apply().map_err(|source| Error::Apply { entry, source })?;
        }
        Ok(self.report)
    }

    /// The parent of `path` (created if missing) and its last component, through the cache.
    fn parent_of(&mut self, path: &Path) -> Result<Parent, resolve::Error> {
        if let (Some(dir), Some(name)) = (path.parent(), path.file_name()) {
            if let Some((cached, parent)) = &self.cache {
                if cached == dir {
                    return Ok(parent.sibling(name));
                }
            }
            let parent = self.root.open_parent_create(path)?;
            self.cache = Some((dir.to_path_buf(), parent.sibling(name)));
            return Ok(parent);
        }
        self.root.open_parent_create(path)
    }

    /// Forgets the cached parent after anything that may change what paths resolve to.
    pub(super) fn invalidate(&mut self) {
        self.cache = None;
    }

    fn mark_written(&mut self, rel: &[u8]) {
        if self.options.source != Source::Layer {
            return;
        }
        for (i, b) in rel.iter().enumerate() {
            if *b == b'/' {
                self.written.insert(rel[..i].to_vec());
            }
        }
        self.written.insert(rel.to_vec());
    }

    /// The first ancestor of `rel` that this archive made a symlink.
    fn symlink_ancestor(&self, rel: &[u8]) -> Option<String> {
        if self.links.is_empty() {
            return None;
        }
        rel.iter()
            .enumerate()
            .filter(|(_, b)| **b == b'/')
            .map(|(i, _)| &rel[..i])
            .find(|prefix| self.links.contains(*prefix))
            .map(|p| String::from_utf8_lossy(p).into_owned())
    }

    fn dir(&mut self, entry: &Entry, rel: &[u8], path: &Path) -> Result<(), resolve::Error> {
        let parent = self.parent_of(path)?;
        match parent.kind()? {
            Some(FileType::Directory) => {}
            Some(_) => {
                self.invalidate();
                parent.remove_all()?;
                parent.mkdir(0o755)?;
            }
            None => parent.mkdir(0o755)?,
        }
        let node = parent.open_node()?;
        self.set_owner(&node, &parent, entry)?;
        self.set_xattrs(&node, entry)?;
        self.dirs.push((rel.to_vec(), metadata(entry)));
        Ok(())
    }

    fn file(&mut self, entry: &Entry, path: &Path, data: &mut dyn Read) -> Result<(), Error> {
        let apply_err = |source| Error::Apply {
            entry: entry.display(),
            source,
        };
        let parent = self.parent_of(path).map_err(apply_err)?;
        let mut file = match parent.create_file(0o600) {
            Ok(file) => file,
            Err(_) => {
                self.invalidate();
                parent.remove_all().map_err(apply_err)?;
                parent.create_file(0o600).map_err(apply_err)?
            }
        };
        let written = copy(data, &mut file, &mut self.buffer).map_err(|source| Error::Content {
            entry: entry.display(),
            source,
        })?;
        if written != entry.size {
            return Err(Error::Truncated {
                entry: entry.display(),
                expected: entry.size,
                actual: written,
            });
        }
        self.report.bytes += written;
        let node = Node::from_file(file, &parent);
        self.set_metadata(&node, &parent, entry).map_err(apply_err)
    }

    fn symlink(&mut self, entry: &Entry, rel: &[u8], path: &Path) -> Result<(), resolve::Error> {
        let target = entry.link.as_deref().unwrap_or_default();
        self.invalidate();
        let parent = self.root.open_parent_create(path)?;
        parent.remove_all()?;
        parent.symlink(Path::new(OsStr::from_bytes(target)))?;
        if self.options.source == Source::Context {
            self.links.insert(rel.to_vec());
        }
        let node = parent.open_node()?;
        self.set_owner(&node, &parent, entry)?;
        self.set_xattrs(&node, entry)?;
        node.set_mtime(entry.mtime)
    }

    fn hardlink(&mut self, entry: &Entry, path: &Path) -> Result<(), Error> {
        let target = entry.link.as_deref().unwrap_or_default();
        let outside = || Error::Refused {
            entry: entry.display(),
            reason: Refusal::LinkOutside {
                target: String::from_utf8_lossy(target).into_owned(),
            },
        };
        // Absolute targets (some writers emit them) name the same archive root.
        let relative = target.strip_prefix(b"/").unwrap_or(target);
        let rel = match check_path(relative) {
            Ok(Some(rel)) => rel,
            _ => return Err(outside()),
        };
        let source_path = self.in_root(&rel);
        if source_path == path {
            return Ok(());
        }
        self.invalidate();
        let link = || -> Result<(), resolve::Error> {
            let source = self.root.open_parent(&source_path)?;
            let parent = self.root.open_parent_create(path)?;
            parent.remove_all()?;
            parent.hardlink_from(&source)
        };
        link().map_err(|source| Error::Apply {
            entry: entry.display(),
            source,
        })
    }

    fn device(&mut self, entry: &Entry, path: &Path) -> Result<(), resolve::Error> {
        let (major, minor) = entry.device;
        let kind = match entry.kind {
            EntryKind::CharDevice => NodeKind::CharDevice { major, minor },
            EntryKind::BlockDevice => NodeKind::BlockDevice { major, minor },
            _ => NodeKind::Fifo,
        };
        self.invalidate();
        let parent = self.root.open_parent_create(path)?;
        parent.remove_all()?;
        if self.options.rootless && kind != NodeKind::Fifo {
            // An unprivileged process cannot mknod a device: leave an empty file in its place
            // and keep the truth for the layer writer.
            drop(parent.create_file(entry.mode)?);
            self.report.recorded.push(Recorded {
                path: path.to_path_buf(),
                what: Unrepresentable::Device {
                    kind: entry.kind,
                    major,
                    minor,
                    mode: entry.mode,
                    uid: entry.uid,
                    gid: entry.gid,
                },
            });
            let node = parent.open_node()?;
            node.set_mode(entry.mode)?;
            return node.set_mtime(entry.mtime);
        }
        parent.mknod(kind, entry.mode)?;
        let node = parent.open_node()?;
        self.set_metadata(&node, &parent, entry)
    }

    fn set_metadata(
        &mut self,
        node: &Node<'_>,
        parent: &Parent,
        entry: &Entry,
    ) -> Result<(), resolve::Error> {
        self.set_owner(node, parent, entry)?;
        node.set_mode(entry.mode)?;
        self.set_xattrs(node, entry)?;
        node.set_mtime(entry.mtime)
    }

    fn set_owner(
        &mut self,
        node: &Node<'_>,
        parent: &Parent,
        entry: &Entry,
    ) -> Result<(), resolve::Error> {
        match node.set_owner(entry.uid, entry.gid) {
            Err(resolve::Error::Io { source, .. })
                if self.options.rootless && is_not_permitted(&source) =>
            {
                self.report.recorded.push(Recorded {
                    path: parent.path().to_path_buf(),
                    what: Unrepresentable::Owner {
                        uid: entry.uid,
                        gid: entry.gid,
                    },
                });
                Ok(())
            }
            other => other,
        }
    }

    fn set_xattrs(&mut self, node: &Node<'_>, entry: &Entry) -> Result<(), resolve::Error> {
        for (name, value) in &entry.xattrs {
            if self.options.whiteouts == Whiteouts::Overlay
                && name.as_bytes().starts_with(OVERLAY_XATTR_PREFIX)
            {
                self.report.xattrs_skipped += 1;
                continue;
            }
            match node.set_xattr(name, value) {
                Err(resolve::Error::Io { source, .. }) if is_not_permitted(&source) => {
                    self.report.xattrs_skipped += 1;
                }
                other => other?,
            }
        }
        Ok(())
    }
}

fn metadata(entry: &Entry) -> Metadata {
    Metadata {
        uid: entry.uid,
        gid: entry.gid,
        mode: entry.mode,
        mtime: Some(entry.mtime),
        xattrs: Vec::new(),
    }
}

/// EPERM, EINVAL (an id not mapped in this user namespace) and ENOTSUP (no xattrs on this
/// filesystem): the answers that mean "not allowed here" rather than "broken".
fn is_not_permitted(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPERM) | Some(libc::EINVAL) | Some(libc::ENOTSUP) | Some(libc::EACCES)
    )
}

/// The normal components of an archive path joined by `/`, or `None` for the archive's root.
/// Absolute paths and `..` components are refused, not cleaned: no well-formed layer has them.
pub(super) fn check_path(raw: &[u8]) -> Result<Option<Vec<u8>>, Refusal> {
    if raw.first() == Some(&b'/') {
        return Err(Refusal::AbsolutePath);
    }
    if raw.contains(&0) {
        return Err(Refusal::NulInName);
    }
    let mut rel = Vec::with_capacity(raw.len());
    for comp in raw.split(|b| *b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => return Err(Refusal::ParentComponent),
            name => {
                if !rel.is_empty() {
                    rel.push(b'/');
                }
                rel.extend_from_slice(name);
            }
        }
    }
    Ok((!rel.is_empty()).then_some(rel))
}

/// Copies `data` to `file` through `buffer`, returning the bytes copied.
fn copy(data: &mut dyn Read, file: &mut std::fs::File, buffer: &mut [u8]) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        let n = match data.read(buffer) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        file.write_all(&buffer[..n])?;
        total += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_paths_are_checked_not_cleaned() {
        let cases: [(&str, Result<Option<&str>, Refusal>); 9] = [
            ("a/b", Ok(Some("a/b"))),
            ("./a//b/", Ok(Some("a/b"))),
            ("./", Ok(None)),
            (".", Ok(None)),
            ("/etc/passwd", Err(Refusal::AbsolutePath)),
            ("../x", Err(Refusal::ParentComponent)),
            ("a/../../x", Err(Refusal::ParentComponent)),
            ("a/..", Err(Refusal::ParentComponent)),
            ("a\0b", Err(Refusal::NulInName)),
        ];
        for (input, expected) in cases {
            let got = check_path(input.as_bytes());
            let expected = expected.map(|o| o.map(|s| s.as_bytes().to_vec()));
            assert_eq!(got, expected, "{input:?}");
        }
    }
}
