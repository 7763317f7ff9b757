//! A resolved parent directory and the last component of a path, not followed.
//!
//! Every mutation of the rootfs ends here, as one `*at` call on the parent's fd. The parent was
//! resolved inside the rootfs by [`super::Root`]; the last component is never followed, so a
//! symlink there is replaced or linked, never written through.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};

use super::{Error, Node};

/// A device node or FIFO to create with [`Parent::mknod`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// A character device with its major and minor numbers.
    CharDevice { major: u32, minor: u32 },
    /// A block device with its major and minor numbers.
    BlockDevice { major: u32, minor: u32 },
    /// A named pipe.
    Fifo,
}

/// The directory fd of a path's parent, resolved inside the rootfs, and its last component.
#[derive(Debug)]
pub struct Parent {
    dir: Arc<OwnedFd>,
    name: OsString,
    path: PathBuf,
}

impl Parent {
    pub(super) fn new(dir: OwnedFd, name: OsString, path: PathBuf) -> Parent {
        Parent {
            dir: Arc::new(dir),
            name,
            path,
        }
    }

    /// Another entry of the same directory, sharing its fd: for callers that write many
    /// entries into one directory and know that nothing renamed or removed it meanwhile.
    pub fn sibling(&self, name: &OsStr) -> Parent {
        Parent {
            dir: Arc::clone(&self.dir),
            name: name.to_owned(),
            path: self.path.with_file_name(name),
        }
    }

    /// The parent directory (`O_PATH`).
    pub fn dir(&self) -> BorrowedFd<'_> {
        self.dir.as_ref().as_fd()
    }

    /// The last component.
    pub fn name(&self) -> &OsStr {
        &self.name
    }

    /// The whole path inside the rootfs, absolute, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `lstat` of the last component, or `None` when nothing is there.
    pub fn stat(&self) -> Result<Option<Stat>, Error> {
        match rustix::fs::statat(&self.dir, &self.name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(Some(stat)),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(self.error("stat", e)),
        }
    }

    /// The type of what is at the last component, or `None` when nothing is there.
    pub fn kind(&self) -> Result<Option<FileType>, Error> {
        Ok(self.stat()?.map(|s| FileType::from_raw_mode(s.st_mode)))
    }

    /// Removes what is at the last component, recursively for a directory. Nothing there is
    /// not an error.
    pub fn remove_all(&self) -> Result<(), Error> {
        match self.kind()? {
            None => Ok(()),
            Some(FileType::Directory) => {
                let dir = self.open_dir()?;
                remove_children(&dir).map_err(|e| self.error("remove the contents of", e))?;
                rustix::fs::unlinkat(&self.dir, &self.name, AtFlags::REMOVEDIR)
                    .map_err(|e| self.error("remove directory", e))
            }
            Some(_) => rustix::fs::unlinkat(&self.dir, &self.name, AtFlags::empty())
                .map_err(|e| self.error("remove", e)),
        }
    }

    /// Opens the directory at the last component for reading, without following a symlink.
    pub fn open_dir(&self) -> Result<OwnedFd, Error> {
        rustix::fs::openat(
            &self.dir,
            &self.name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| self.error("open directory", e))
    }

    /// Creates a directory; fails if anything is there.
    pub fn mkdir(&self, mode: u32) -> Result<(), Error> {
        rustix::fs::mkdirat(&self.dir, &self.name, Mode::from_raw_mode(mode))
            .map_err(|e| self.error("create directory", e))
    }

    /// Creates a regular file open for writing; fails if anything is there.
    pub fn create_file(&self, mode: u32) -> Result<File, Error> {
        rustix::fs::openat(
            &self.dir,
            &self.name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode & 0o777),
        )
        .map(File::from)
        .map_err(|e| self.error("create file", e))
    }

    /// Creates a symlink to `target`, stored as given; fails if anything is there.
    pub fn symlink(&self, target: &Path) -> Result<(), Error> {
        rustix::fs::symlinkat(target, &self.dir, &self.name)
            .map_err(|e| self.error("create symlink", e))
    }

    /// Creates a hardlink to the node at `source` (not following it); fails if anything is
    /// there.
    pub fn hardlink_from(&self, source: &Parent) -> Result<(), Error> {
        rustix::fs::linkat(
            &source.dir,
            &source.name,
            &self.dir,
            &self.name,
            AtFlags::empty(),
        )
        .map_err(|e| self.error("create hardlink", e))
    }

    /// Creates a device node or FIFO with the permission bits of `mode`; fails if anything is
    /// there.
    pub fn mknod(&self, kind: NodeKind, mode: u32) -> Result<(), Error> {
        let (file_type, dev) = match kind {
            NodeKind::CharDevice { major, minor } => {
                (FileType::CharacterDevice, rustix::fs::makedev(major, minor))
            }
            NodeKind::BlockDevice { major, minor } => {
                (FileType::BlockDevice, rustix::fs::makedev(major, minor))
            }
            NodeKind::Fifo => (FileType::Fifo, 0),
        };
        rustix::fs::mknodat(
            &self.dir,
            &self.name,
            file_type,
            Mode::from_raw_mode(mode & 0o777),
            dev,
        )
        .map_err(|e| self.error("create device node", e))
    }

    /// Opens the node at the last component, without following it, to change its metadata.
    pub fn open_node(&self) -> Result<Node<'_>, Error> {
        Node::open(self)
    }

    pub(super) fn error(&self, op: &'static str, e: impl Into<io::Error>) -> Error {
        Error::Io {
            op,
            path: self.path.clone(),
            source: e.into(),
        }
    }
}

/// Removes everything inside the directory `dir`, depth first, on fds only.
fn remove_children(dir: &OwnedFd) -> io::Result<()> {
    let mut names = Vec::new();
    let mut entries = rustix::fs::Dir::read_from(dir)?;
    while let Some(entry) = entries.read() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        names.push((entry.file_name().to_owned(), entry.file_type()));
    }
    for (name, kind) in names {
        let kind = if kind == FileType::Unknown {
            let stat = rustix::fs::statat(dir, name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW)?;
            FileType::from_raw_mode(stat.st_mode)
        } else {
            kind
        };
        if kind == FileType::Directory {
            let child = rustix::fs::openat(
                dir,
                name.as_c_str(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            remove_children(&child)?;
            rustix::fs::unlinkat(dir, name.as_c_str(), AtFlags::REMOVEDIR)?;
        } else {
            rustix::fs::unlinkat(dir, name.as_c_str(), AtFlags::empty())?;
        }
    }
    Ok(())
}

/// The names inside the directory `dir`, without `.` and `..`.
pub fn list_dir(dir: &OwnedFd) -> io::Result<Vec<OsString>> {
    use std::os::unix::ffi::OsStringExt;
    let mut names = Vec::new();
    let mut entries = rustix::fs::Dir::read_from(dir)?;
    while let Some(entry) = entries.read() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsString::from_vec(name.to_vec()));
        }
    }
    Ok(names)
}
