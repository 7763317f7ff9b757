//! Copying one resolved source, file or directory tree, into the destination rootfs.
//!
//! Every write goes through [`Root`], so a symlink already in the destination is followed
//! inside it, never out. Each node is created, then given its owner, then its mode (a `chown`
//! clears setuid bits), then its mtime; a directory's mtime is set after its children, which
//! would otherwise change it. Hardlinks are recognised by the source's (device, inode) pairs.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use kiln_dockerfile::ignore::Matcher;
use kiln_oci::Sha256;
use rustix::fs::{FileType, Stat};

use super::hash::copy_hashing;
use super::source::Found;
use super::{Chmod, Error, Source, archive};
use crate::layer::Changes;
use crate::resolve::{Metadata, Node, NodeKind, Root};

/// State shared by every source of one COPY.
#[derive(Debug)]
pub(super) struct Copier<'a> {
    pub src: &'a Source,
    pub dst: &'a Root,
    pub exclude: Option<Matcher>,
    pub chown: Option<(u32, u32)>,
    pub chmod: Option<Chmod>,
    /// First destination and source path of each multiply-linked source inode.
    pub links: HashMap<(u64, u64), (PathBuf, PathBuf)>,
    /// Only hash what would be copied; write nothing.
    pub dry: bool,
    pub changes: Changes,
    pub hash: Sha256,
    /// The real path (symlinks followed) of each destination directory changes were
    /// recorded in.
    pub real_dirs: HashMap<PathBuf, PathBuf>,
}

impl Copier<'_> {
    pub(super) fn owner(&self) -> (u32, u32) {
        self.chown.unwrap_or((0, 0))
    }

    /// Copies one resolved source to `dest`, a directory when `dest_is_dir`.
    pub fn copy_source(
        &mut self,
        found: &Found,
        dest: &Path,
        dest_is_dir: bool,
        add: bool,
    ) -> Result<(), Error> {
        if FileType::from_raw_mode(found.stat.st_mode) == FileType::Directory {
            // The destination of a directory's contents is made like any implicit parent.
            if !self.dry {
                self.create_parents(&dest.join("contents"))?;
            }
            return self.copy_dir(&found.path, Path::new(""), dest, None);
        }
        if add
            && !self.dry
            && FileType::from_raw_mode(found.stat.st_mode) == FileType::RegularFile
            && archive::extract_if_archive(self, &found.path, &found.stat, dest)?
        {
            return Ok(());
        }
        if self.excluded(Path::new(&found.name)) {
            return Ok(());
        }
        let target = if dest_is_dir || self.dst.open_dir(dest).is_ok() {
            dest.join(&found.name)
        } else {
            dest.to_owned()
        };
        if !self.dry {
            self.create_parents(&target)?;
        }
        self.copy_node(&found.path, &target, &found.stat)
    }

    /// `COPY --parents`: copies `found` to `dest/<its path below pivot>`. The directories on
    /// that path are created from their source directories (mode, owner, mtime), as BuildKit's
    /// include-pattern copy does; `dest` itself and above are implicit parents.
    pub fn copy_with_parents(
        &mut self,
        found: &Found,
        pivot: &Path,
        dest: &Path,
    ) -> Result<(), Error> {
        let rel = found
            .named
            .strip_prefix(pivot)
            .unwrap_or(&found.named)
            .to_owned();
        if self.excluded(&rel) {
            return Ok(());
        }
        let target = dest.join(&rel);
        if !self.dry {
            self.create_parents(&dest.join("contents"))?;
        }
        let mut src_dir = pivot.to_owned();
        let mut dst_dir = dest.to_owned();
        let comps: Vec<_> = rel.components().collect();
        for comp in comps.iter().take(comps.len().saturating_sub(1)) {
            src_dir.push(comp);
            dst_dir.push(comp);
            if self.dry || self.dst.open_dir(&dst_dir).is_ok() {
                continue;
            }
            let Some(stat) = self.src.lstat(&src_dir)? else {
                continue;
            };
            let mode = self.mode(stat.st_mode, true);
            self.create_dir(&dst_dir, mode, Some(mtime(&stat)))?;
        }
        if FileType::from_raw_mode(found.stat.st_mode) == FileType::Directory {
            self.copy_dir(&found.path, Path::new(""), &target, Some(&found.stat))
        } else {
            self.copy_node(&found.path, &target, &found.stat)
        }
    }

    /// The mode a created node gets: `--chmod` applied to `mode`, or `mode` itself.
    pub(super) fn mode(&self, mode: u32, is_dir: bool) -> u32 {
        self.chmod
            .as_ref()
            .map_or(mode & 0o7777, |chmod| chmod.apply(mode, is_dir))
    }

    fn excluded(&self, rel: &Path) -> bool {
        self.exclude
            .as_ref()
            .is_some_and(|m| m.matches(&rel.to_string_lossy()))
    }

    /// Creates the missing ancestors of `path` owned like the copied files, with mode 0755 or
    /// the `--chmod` mode, as BuildKit's `MkdirAll` does with the copy's owner and mode (fsutil
    /// applies a custom mode to the directories it creates since tonistiigi/fsutil#228).
    pub fn create_parents(&mut self, path: &Path) -> Result<(), Error> {
        let mode = self.mode(0o755, true);
        let mut prefix = PathBuf::from("/");
        let Some(parent) = path.parent() else {
            return Ok(());
        };
        for comp in crate::resolve::clean(parent) {
            prefix.push(comp);
            if self.dst.open_dir(&prefix).is_ok() {
                continue;
            }
            self.create_dir(&prefix, mode, None)?;
        }
        Ok(())
    }

    /// Creates the directory `path` owned like the copied files, with `mode` and `mtime`.
    pub fn create_dir(
        &mut self,
        path: &Path,
        mode: u32,
        mtime: Option<(i64, u32)>,
    ) -> Result<(), Error> {
        let write = |source| Error::Write {
            path: path.to_owned(),
            source,
        };
        self.dst.create_dir_all(path, 0o755).map_err(write)?;
        let (uid, gid) = self.owner();
        let meta = Metadata {
            uid,
            gid,
            mode,
            mtime,
            xattrs: Vec::new(),
        };
        self.dst.set_metadata(path, &meta).map_err(write)?;
        self.record_change(path)
    }

    /// Records that `path` was written, under its real path: a write through a symlinked
    /// directory of the rootfs changed what the link points to, as BuildKit's layer says.
    pub fn record_change(&mut self, path: &Path) -> Result<(), Error> {
        let real = self.real_path(path)?;
        self.changes.write(&real).map_err(|source| Error::Layer {
            path: path.to_owned(),
            source,
        })
    }

    fn real_path(&mut self, path: &Path) -> Result<PathBuf, Error> {
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return Ok(path.to_owned());
        };
        if self.dry {
            return Ok(path.to_owned());
        }
        if let Some(real) = self.real_dirs.get(dir) {
            return Ok(real.join(name));
        }
        let real = self.dst.real_path(path).map_err(|source| Error::Write {
            path: path.to_owned(),
            source,
        })?;
        if let Some(real_dir) = real.parent() {
            self.real_dirs.insert(dir.to_owned(), real_dir.to_owned());
        }
        Ok(real)
    }

    /// Copies the directory `src` to `dst`. `stat` is `None` for the top of a directory
    /// source, whose destination keeps the metadata it had or was given as an implicit parent;
    /// nested directories get their source's mode (or `--chmod`), owner and mtime, existing
    /// or not, as fsutil's `copyDirectory` with `overwriteTargetMetadata` does.
    fn copy_dir(
        &mut self,
        src: &Path,
        rel: &Path,
        dst: &Path,
        stat: Option<&Stat>,
    ) -> Result<(), Error> {
        let write = |source| Error::Write {
            path: dst.to_owned(),
            source,
        };
        if stat.is_some() && !self.dry {
            if self.dst.open_dir(dst).is_err() {
                let parent = self.dst.open_parent_create(dst).map_err(write)?;
                parent.remove_all().map_err(write)?;
                parent.mkdir(0o700).map_err(write)?;
            }
            self.record_change(dst)?;
        }
        let mode = stat.map(|st| self.mode(st.st_mode, true));
        self.hash_entry(b'd', src, mode.unwrap_or(0), 0);
        let mut names = self
            .src
            .root()
            .read_dir(src)
            .map_err(|source| Error::Read {
                path: src.to_owned(),
                source,
            })?;
        names.sort();
        for name in names {
            let child = src.join(&name);
            let child_rel = rel.join(&name);
            if self.excluded(&child_rel) {
                continue;
            }
            let Some(child_stat) = self.src.lstat(&child)? else {
                continue;
            };
            let is_dir = FileType::from_raw_mode(child_stat.st_mode) == FileType::Directory;
            if self.src.ignored(&child)
                && !(is_dir
                    && self.src.has_exceptions()
                    && self.src.keeps_anything_under(&child)?)
            {
                continue;
            }
            let target = dst.join(&name);
            if is_dir {
                self.copy_dir(&child, &child_rel, &target, Some(&child_stat))?;
            } else {
                self.copy_node(&child, &target, &child_stat)?;
            }
        }
        if let (Some(stat), Some(mode), false) = (stat, mode, self.dry) {
            let (uid, gid) = self.owner();
            let meta = Metadata {
                uid,
                gid,
                mode,
                mtime: Some(mtime(stat)),
                xattrs: Vec::new(),
            };
            self.dst.set_metadata(dst, &meta).map_err(write)?;
        }
        Ok(())
    }

    /// Copies a non-directory node.
    fn copy_node(&mut self, src: &Path, dst: &Path, stat: &Stat) -> Result<(), Error> {
        let write = |source| Error::Write {
            path: dst.to_owned(),
            source,
        };
        let kind = FileType::from_raw_mode(stat.st_mode);
        if kind != FileType::Directory && stat.st_nlink > 1 {
            let key = (stat.st_dev, stat.st_ino);
            if let Some((first, first_src)) = self.links.get(&key).cloned() {
                self.hash_entry(b'h', src, 0, 0);
                self.hash.update(first_src.as_os_str().as_bytes());
                if self.dry {
                    return Ok(());
                }
                self.dst.hardlink(&first, dst).map_err(write)?;
                return self.record_change(dst);
            }
            self.links.insert(key, (dst.to_owned(), src.to_owned()));
        }
        if self.dry {
            return self.hash_node(src, stat);
        }
        let (uid, gid) = self.owner();
        let mode = stat.st_mode & 0o7777;
        let parent = self.dst.open_parent_create(dst).map_err(write)?;
        parent.remove_all().map_err(write)?;
        match kind {
            FileType::RegularFile => {
                let mode = self.mode(mode, false);
                self.hash_entry(b'f', src, mode, stat.st_size as u64);
                let mut input = super::source::open_file(self.src.root(), src)?;
                let xattrs = self.hash_xattrs(src, &input)?;
                let mut output = parent.create_file(0o600).map_err(write)?;
                copy_hashing(&mut input, &mut output, &mut self.hash).map_err(|source| {
                    Error::Content {
                        path: src.to_owned(),
                        source,
                    }
                })?;
                let node = Node::from_file(output, &parent);
                node.set_owner(uid, gid).map_err(write)?;
                node.set_mode(mode).map_err(write)?;
                for (name, value) in &xattrs {
                    match node.set_xattr(name, value) {
                        // BuildKit copies with xattr errors allowed: a filesystem without
                        // extended attributes, or a namespace we may not write, loses them.
                        Err(crate::resolve::Error::Io { source, .. })
                            if matches!(
                                source.raw_os_error(),
                                Some(libc::ENOTSUP | libc::EPERM)
                            ) => {}
                        other => other.map_err(write)?,
                    }
                }
                node.set_mtime(mtime(stat)).map_err(write)?;
            }
            FileType::Symlink => {
                let target = self.src.read_link(src)?;
                self.hash_entry(b'l', src, 0o777, 0);
                self.hash.update(target.as_os_str().as_bytes());
                parent.symlink(&target).map_err(write)?;
                let node = parent.open_node().map_err(write)?;
                node.set_owner(uid, gid).map_err(write)?;
                node.set_mtime(mtime(stat)).map_err(write)?;
            }
            FileType::Fifo | FileType::CharacterDevice | FileType::BlockDevice => {
                let rdev = stat.st_rdev;
                let (major, minor) = (rustix::fs::major(rdev), rustix::fs::minor(rdev));
                let node_kind = match kind {
                    FileType::Fifo => NodeKind::Fifo,
                    FileType::CharacterDevice => NodeKind::CharDevice { major, minor },
                    _ => NodeKind::BlockDevice { major, minor },
                };
                self.hash_entry(b'n', src, mode, rdev);
                parent.mknod(node_kind, mode).map_err(write)?;
                let node = parent.open_node().map_err(write)?;
                node.set_owner(uid, gid).map_err(write)?;
                node.set_mode(mode).map_err(write)?;
                node.set_mtime(mtime(stat)).map_err(write)?;
            }
            _ => {
                return Err(Error::Socket {
                    path: src.to_owned(),
                });
            }
        }
        self.record_change(dst)
    }
}

fn mtime(stat: &Stat) -> (i64, u32) {
    (stat.st_mtime, stat.st_mtime_nsec as u32)
}
