//! Changing the metadata of one node: owner, mode, extended attributes, modification time.
//!
//! Regular files and directories are changed through an fd on the node itself (`fchown`,
//! `fchmod`, `fsetxattr`, `futimens`). Symlinks, devices and FIFOs cannot be opened for that
//! without side effects, so they are changed through their parent's fd with
//! `AT_SYMLINK_NOFOLLOW`, or, for the calls that have no such flag (`chmod`, `setxattr`), through
//! the `/proc/self/fd` link of an `O_PATH | O_NOFOLLOW` fd on the node, which names exactly the
//! inode that was opened.
//!
//! The order callers should apply is owner, mode, xattrs, mtime: `chown` clears setuid/setgid
//! bits and `security.capability`, so those come after it.

use std::ffi::OsString;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timespec, Timestamps, XattrFlags};

use super::{Error, Parent};

/// The metadata a tar entry or a COPY gives a node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// Numeric owner.
    pub uid: u32,
    /// Numeric group.
    pub gid: u32,
    /// Permission bits with setuid, setgid and sticky (`0o7777`).
    pub mode: u32,
    /// Modification time (seconds since the epoch, nanoseconds); `None` leaves it as it is.
    pub mtime: Option<(i64, u32)>,
    /// Extended attributes, in the order given.
    pub xattrs: Vec<(OsString, Vec<u8>)>,
}

/// An opened node whose metadata can be changed without following it.
#[derive(Debug)]
pub enum Node<'p> {
    /// A regular file or directory, opened on the node itself.
    Open { fd: OwnedFd, parent: &'p Parent },
    /// A symlink, device or FIFO, held by an `O_PATH | O_NOFOLLOW` fd.
    Special {
        fd: OwnedFd,
        kind: FileType,
        parent: &'p Parent,
    },
}

impl<'p> Node<'p> {
    pub(super) fn open(parent: &'p Parent) -> Result<Node<'p>, Error> {
        let fd = rustix::fs::openat(
            parent.dir(),
            parent.name(),
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| parent.error("open", e))?;
        let stat = rustix::fs::fstat(&fd).map_err(|e| parent.error("stat", e))?;
        let kind = FileType::from_raw_mode(stat.st_mode);
        match kind {
            FileType::RegularFile | FileType::Directory => {
                // O_PATH fds do not allow fchown, fchmod or fsetxattr: open the node itself.
                // O_NOFOLLOW refuses a symlink swapped in meanwhile, O_NONBLOCK a FIFO.
                let flags = if kind == FileType::Directory {
                    OFlags::RDONLY | OFlags::DIRECTORY
                } else {
                    OFlags::RDONLY
                };
                let fd = rustix::fs::openat(
                    parent.dir(),
                    parent.name(),
                    flags | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| parent.error("open", e))?;
                Ok(Node::Open { fd, parent })
            }
            kind => Ok(Node::Special { fd, kind, parent }),
        }
    }

    /// Wraps a file just created through `parent`, to set its metadata through its own fd.
    pub fn from_file(file: File, parent: &'p Parent) -> Node<'p> {
        Node::Open {
            fd: file.into(),
            parent,
        }
    }

    fn parent(&self) -> &'p Parent {
        match self {
            Node::Open { parent, .. } | Node::Special { parent, .. } => parent,
        }
    }

    /// Sets the numeric owner and group.
    pub fn set_owner(&self, uid: u32, gid: u32) -> Result<(), Error> {
        let owner = Some(rustix::process::Uid::from_raw(uid));
        let group = Some(rustix::process::Gid::from_raw(gid));
        let result = match self {
            Node::Open { fd, .. } => rustix::fs::fchown(fd, owner, group),
            Node::Special { parent, .. } => rustix::fs::chownat(
                parent.dir(),
                parent.name(),
                owner,
                group,
                AtFlags::SYMLINK_NOFOLLOW,
            ),
        };
        result.map_err(|e| self.parent().error("change the owner of", e))
    }

    /// Sets permission bits, setuid, setgid and sticky. Symlinks have no mode of their own on
    /// Linux, so this does nothing for them.
    pub fn set_mode(&self, mode: u32) -> Result<(), Error> {
        let mode = Mode::from_raw_mode(mode & 0o7777);
        let result = match self {
            Node::Open { fd, .. } => rustix::fs::fchmod(fd, mode),
            Node::Special {
                kind: FileType::Symlink,
                ..
            } => Ok(()),
            Node::Special { fd, .. } => rustix::fs::chmod(proc_fd_path(fd), mode),
        };
        result.map_err(|e| self.parent().error("change the mode of", e))
    }

    /// Sets one extended attribute.
    pub fn set_xattr(&self, name: &OsString, value: &[u8]) -> Result<(), Error> {
        let flags = XattrFlags::empty();
        let result = match self {
            Node::Open { fd, .. } => rustix::fs::fsetxattr(fd, name.as_os_str(), value, flags),
            Node::Special {
                kind: FileType::Symlink,
                parent,
                ..
            } => {
                let mut path = proc_fd_path(&parent.dir());
                path.push(parent.name());
                rustix::fs::lsetxattr(&path, name.as_os_str(), value, flags)
            }
            Node::Special { fd, .. } => {
                rustix::fs::setxattr(proc_fd_path(fd), name.as_os_str(), value, flags)
            }
        };
        result.map_err(|e| self.parent().error("set extended attributes on", e))
    }

    /// Sets the modification and access times to `mtime` (seconds, nanoseconds).
    pub fn set_mtime(&self, mtime: (i64, u32)) -> Result<(), Error> {
        let time = Timespec {
            tv_sec: mtime.0,
            tv_nsec: i64::from(mtime.1.min(999_999_999)),
        };
        let times = Timestamps {
            last_access: time,
            last_modification: time,
        };
        let result = match self {
            Node::Open { fd, .. } => rustix::fs::futimens(fd, &times),
            Node::Special { parent, .. } => rustix::fs::utimensat(
                parent.dir(),
                parent.name(),
                &times,
                AtFlags::SYMLINK_NOFOLLOW,
            ),
        };
        result.map_err(|e| self.parent().error("set the times of", e))
    }

    /// The type of the node.
    pub fn kind(&self) -> FileType {
        match self {
            Node::Open { fd, .. } => rustix::fs::fstat(fd)
                .map(|s| FileType::from_raw_mode(s.st_mode))
                .unwrap_or(FileType::Unknown),
            Node::Special { kind, .. } => *kind,
        }
    }
}

/// `/proc/self/fd/N` for `fd`: a magic link to exactly the inode `fd` holds.
pub(super) fn proc_fd_path(fd: &impl AsFd) -> PathBuf {
    let mut path = PathBuf::from("/proc/self/fd");
    path.push(fd.as_fd().as_raw_fd().to_string());
    path
}
