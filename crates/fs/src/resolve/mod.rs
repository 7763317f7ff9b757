//! The rootfs path resolver: every write into a root filesystem goes through here.
//!
//! Owns: opening and creating paths *as if the rootfs were `/`*. Symlinks met on the way,
//! absolute or relative, and `..` components are followed inside the rootfs and can never leave
//! it, exactly as the kernel resolves them for a process chrooted into the rootfs. The kernel
//! does the walk with `openat2(2)` and `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`
//! (<https://man7.org/linux/man-pages/man2/openat2.2.html>); where the kernel has no `openat2`
//! (`ENOSYS`), [`walk`] does the same walk one component at a time on directory fds.
//!
//! Every operation resolves the *parent* of its path to a directory fd and then acts on the last
//! component with an `*at` call that does not follow it (`mkdirat`, `openat(O_NOFOLLOW)`,
//! `symlinkat`, `linkat`, `mknodat`, `unlinkat`, `fchownat(AT_SYMLINK_NOFOLLOW)`...), so there is
//! no check-then-use window in which a path could be swapped for a symlink pointing elsewhere.
//!
//! Does not own: what to write (layer extraction lives in [`crate::extract`], COPY/ADD in their
//! own modules) or policy on hostile names, which callers check before calling.

mod node;
mod parent;
mod walk;

pub use node::{Metadata, Node};
pub use parent::{NodeKind, Parent, list_dir};

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{Mode, OFlags};

/// An error from the resolver, naming the path inside the rootfs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The rootfs directory itself could not be opened.
    #[error("cannot open root filesystem {path}")]
    OpenRoot {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// An operation on a path inside the rootfs failed.
    #[error("cannot {op} {path} in the root filesystem")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The operation needs a last component but the path names the rootfs itself.
    #[error("cannot {op} the root directory itself")]
    IsRoot { op: &'static str },
}

/// How [`Root`] walks paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkMode {
    /// `openat2(RESOLVE_IN_ROOT)`, falling back to [`WalkMode::Components`] on `ENOSYS`.
    Kernel,
    /// The fd-based component walk, whatever the kernel offers.
    Components,
}

/// A handle on a root filesystem directory, through which paths are resolved as if it were `/`.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
    /// Cleared the first time `openat2` answers `ENOSYS`.
    kernel_walk: AtomicBool,
}

impl Root {
    /// Opens the directory `path` as a root filesystem.
    pub fn open(path: impl AsRef<Path>) -> Result<Root, Error> {
        Self::open_with(path, WalkMode::Kernel)
    }

    /// Opens the directory `path` as a root filesystem, walking paths as `mode` says.
    pub fn open_with(path: impl AsRef<Path>, mode: WalkMode) -> Result<Root, Error> {
        let path = path.as_ref().to_path_buf();
        let fd = rustix::fs::open(
            &path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::OpenRoot {
            path: path.clone(),
            source: e.into(),
        })?;
        Ok(Root {
            fd,
            path,
            kernel_walk: AtomicBool::new(mode == WalkMode::Kernel),
        })
    }

    /// The rootfs directory on the host.
    pub fn host_path(&self) -> &Path {
        &self.path
    }

    /// The fd of the rootfs directory (`O_PATH`).
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens the directory at `path` (following symlinks inside the rootfs) as an `O_PATH` fd.
    pub fn open_dir(&self, path: impl AsRef<Path>) -> Result<OwnedFd, Error> {
        let path = path.as_ref();
        let comps = clean(path);
        self.walk_dir(&comps).map_err(|source| Error::Io {
            op: "open directory",
            path: display_path(&comps),
            source,
        })
    }

    /// Resolves the parent directory of `path` and keeps its last component, which is not
    /// followed. Fails if a parent is missing.
    pub fn open_parent(&self, path: impl AsRef<Path>) -> Result<Parent, Error> {
        let comps = clean(path.as_ref());
        let (name, parents) = comps.split_last().ok_or(Error::IsRoot {
            op: "open the parent of",
        })?;
        let dir = self.walk_dir(parents).map_err(|source| Error::Io {
            op: "open the parent of",
            path: display_path(&comps),
            source,
        })?;
        Ok(Parent::new(dir, (*name).to_owned(), display_path(&comps)))
    }

    /// Where `path` really is inside the rootfs, absolute: its parent directories with every
    /// symlink followed (inside the rootfs), its last component as written. A write through
    /// `/via/a`, where `/via` links to `/real`, changed `/real/a`, and a layer must say so.
    pub fn real_path(&self, path: impl AsRef<Path>) -> Result<PathBuf, Error> {
        let parent = self.open_parent(path.as_ref())?;
        let io_err = |source| Error::Io {
            op: "find the real path of",
            path: parent.path().to_owned(),
            source,
        };
        let root = fd_target(self.as_fd()).map_err(io_err)?;
        let dir = fd_target(parent.dir()).map_err(io_err)?;
        let inside = dir.strip_prefix(&root).map_err(|_| {
            io_err(io::Error::other(format!(
                "{} is outside the rootfs {}",
                dir.display(),
                root.display()
            )))
        })?;
        Ok(Path::new("/").join(inside).join(parent.name()))
    }

    /// Like [`Root::open_parent`], creating missing parent directories with mode 0755 owned by
    /// the caller, as Docker does for parents a layer does not list.
    pub fn open_parent_create(&self, path: impl AsRef<Path>) -> Result<Parent, Error> {
        let comps = clean(path.as_ref());
        let (name, parents) = comps.split_last().ok_or(Error::IsRoot {
            op: "create the parent of",
        })?;
        let dir = self
            .walk_dir_create(parents, Mode::from_raw_mode(0o755))
            .map_err(|source| Error::Io {
                op: "create the parents of",
                path: display_path(&comps),
                source,
            })?;
        Ok(Parent::new(dir, (*name).to_owned(), display_path(&comps)))
    }

    /// Creates the directory `path` and its missing parents with `mode` (before the umask).
    /// An existing directory, or a symlink to one inside the rootfs, is kept.
    pub fn create_dir_all(&self, path: impl AsRef<Path>, mode: u32) -> Result<OwnedFd, Error> {
        let comps = clean(path.as_ref());
        self.walk_dir_create(&comps, Mode::from_raw_mode(mode))
            .map_err(|source| Error::Io {
                op: "create directory",
                path: display_path(&comps),
                source,
            })
    }

    /// Creates a regular file at `path` (parents created), replacing whatever non-directory or
    /// directory was there, and returns it open for writing.
    pub fn create_file(&self, path: impl AsRef<Path>, mode: u32) -> Result<std::fs::File, Error> {
        let parent = self.open_parent_create(path)?;
        parent.remove_all()?;
        parent.create_file(mode)
    }

    /// Creates a symlink at `path` pointing at `target` (stored as given), replacing what was
    /// there.
    pub fn symlink(&self, target: impl AsRef<Path>, path: impl AsRef<Path>) -> Result<(), Error> {
        let parent = self.open_parent_create(path)?;
        parent.remove_all()?;
        parent.symlink(target.as_ref())
    }

    /// Creates a hardlink at `path` to the existing node at `target`; both resolve inside the
    /// rootfs, and the last component of `target` is not followed (a link to a symlink links the
    /// symlink, as tar does).
    pub fn hardlink(&self, target: impl AsRef<Path>, path: impl AsRef<Path>) -> Result<(), Error> {
        let source = self.open_parent(target)?;
        let parent = self.open_parent_create(path)?;
        parent.remove_all()?;
        parent.hardlink_from(&source)
    }

    /// Creates a device node or FIFO at `path`, replacing what was there.
    pub fn mknod(&self, path: impl AsRef<Path>, kind: NodeKind, mode: u32) -> Result<(), Error> {
        let parent = self.open_parent_create(path)?;
        parent.remove_all()?;
        parent.mknod(kind, mode)
    }

    /// Removes `path` and, for a directory, everything below it. A missing path is not an error.
    pub fn remove_all(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        match self.open_parent(path) {
            Ok(parent) => parent.remove_all(),
            Err(Error::Io { source, .. }) if is_missing(&source) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Applies owner, mode, xattrs and mtime to the node at `path` (not following it).
    pub fn set_metadata(&self, path: impl AsRef<Path>, meta: &Metadata) -> Result<(), Error> {
        let parent = self.open_parent(path)?;
        let node = parent.open_node()?;
        node.set_owner(meta.uid, meta.gid)?;
        node.set_mode(meta.mode)?;
        for (name, value) in &meta.xattrs {
            node.set_xattr(name, value)?;
        }
        if let Some(mtime) = meta.mtime {
            node.set_mtime(mtime)?;
        }
        Ok(())
    }

    /// Opens the regular file at `path` for reading, following symlinks inside the rootfs.
    pub fn open_file(&self, path: impl AsRef<Path>) -> Result<std::fs::File, Error> {
        let comps = clean(path.as_ref());
        self.walk_open(&comps, OFlags::RDONLY | OFlags::CLOEXEC)
            .map(std::fs::File::from)
            .map_err(|source| Error::Io {
                op: "open",
                path: display_path(&comps),
                source,
            })
    }

    /// The names inside the directory at `path` (following symlinks inside the rootfs),
    /// without `.` and `..`, in directory order.
    pub fn read_dir(&self, path: impl AsRef<Path>) -> Result<Vec<OsString>, Error> {
        let comps = clean(path.as_ref());
        self.walk_open(&comps, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC)
            .and_then(|dir| list_dir(&dir))
            .map_err(|source| Error::Io {
                op: "read directory",
                path: display_path(&comps),
                source,
            })
    }

    fn walk_dir(&self, comps: &[&OsStr]) -> io::Result<OwnedFd> {
        self.walk_open(comps, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC)
    }

    fn walk_open(&self, comps: &[&OsStr], flags: OFlags) -> io::Result<OwnedFd> {
        if self.kernel_walk.load(Ordering::Relaxed) {
            match walk::open_in_root(&self.fd, comps, flags) {
                Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                    self.kernel_walk.store(false, Ordering::Relaxed);
                }
                other => return other,
            }
        }
        walk::open_by_components(&self.fd, comps, flags)
    }

    fn walk_dir_create(&self, comps: &[&OsStr], mode: Mode) -> io::Result<OwnedFd> {
        match self.walk_dir(comps) {
            Err(e) if is_missing(&e) && !comps.is_empty() => {}
            other => return other,
        }
        let (name, parents) = comps
            .split_last()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        let parent = self.walk_dir_create(parents, mode)?;
        match rustix::fs::mkdirat(&parent, *name, mode) {
            Ok(()) => {}
            Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        // Reopen through the parent fd; what now exists there may be a symlink (a dangling one
        // made `mkdirat` fail with EEXIST), so resolve it inside the rootfs like any other path.
        self.walk_dir(comps)
    }
}

/// Splits `path` into normal components, as the kernel would see it from `/`: leading `/`, `.`
/// and empty components are dropped and `..` removes the component before it, never going above
/// the root. This is lexical; symlinks are followed later, inside the rootfs.
pub fn clean(path: &Path) -> Vec<&OsStr> {
    let mut comps: Vec<&OsStr> = Vec::new();
    for comp in path.components() {
        match comp {
            Component::Normal(name) => comps.push(name),
            Component::ParentDir => {
                comps.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    comps
}

/// The path the kernel gives an open fd.
fn fd_target(fd: BorrowedFd<'_>) -> io::Result<PathBuf> {
    std::fs::read_link(node::proc_fd_path(&fd))
}

/// The absolute in-root path of `comps`, for messages.
fn display_path(comps: &[&OsStr]) -> PathBuf {
    let mut bytes = Vec::new();
    for comp in comps {
        bytes.push(b'/');
        bytes.extend_from_slice(comp.as_bytes());
    }
    if bytes.is_empty() {
        bytes.push(b'/');
    }
    PathBuf::from(OsString::from_vec(bytes))
}

fn is_missing(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
}

#[cfg(test)]
mod tests;
