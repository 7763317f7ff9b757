//! Turns rootfs paths into tar entries: metadata, xattrs, hardlink groups and file contents.
//!
//! Owns: reading one path of the rootfs (never following a symlink) into an [`EntryHeader`],
//! tracking hardlink groups within the layer, and streaming file contents. Does not own: which
//! paths are written (`super::changes`) or the header encoding (`super::header`).
//!
//! Rules, matching what `docker build` writes:
//! - ids are numeric; user and group names are never looked up;
//! - the first path of an inode group (in layer order) carries the content, later ones are
//!   `Link` entries whose target is that first path, relative (no leading `/`);
//! - sockets are skipped, as Docker and BuildKit do; devices and FIFOs are written;
//! - sparse files are written in full (no GNU sparse entries), as Docker writes them;
//! - xattrs are all copied except `security.selinux` (a label of the building host) and
//!   `trusted.overlay.*` (overlayfs bookkeeping);
//! - whiteouts and opaque markers are empty regular files owned by 0:0, mode 0, time 0.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::Error;
use super::changes::Change;
use super::header::{EntryHeader, Kind, write_header, write_padding};
use crate::extract::{EntryKind, Placeholders, Unrepresentable};

/// Reads entries from one rootfs and writes them as tar entries.
pub(crate) struct Source<'a> {
    root: &'a Path,
    /// Newest mtime allowed (`SOURCE_DATE_EPOCH`, or 0 for `--reproducible`).
    clamp: Option<i64>,
    /// First archive name seen for each (dev, inode) with more than one link.
    links: HashMap<(u64, u64), Vec<u8>>,
    /// Directories already written, to check that no path is reached through a symlink.
    dirs: HashSet<PathBuf>,
    /// What placeholders of a rootless extraction really are.
    placeholders: &'a Placeholders,
    buf: Vec<u8>,
}

fn major(dev: u64) -> u32 {
    (((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0000_0fff)) as u32
}

fn minor(dev: u64) -> u32 {
    (((dev >> 12) & 0xffff_ff00) | (dev & 0x0000_00ff)) as u32
}

fn xattr_is_copied(name: &[u8]) -> bool {
    name != b"security.selinux" && !name.starts_with(b"trusted.overlay.")
}

/// All copied xattrs of `path` itself (not of a symlink's target).
fn read_xattrs(path: &Path) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, Error> {
    let mut out = BTreeMap::new();
    let err = |source| Error::Read {
        path: path.to_owned(),
        source,
    };
    let names = match xattr::list(path) {
        Ok(names) => names,
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(out),
        Err(e) => return Err(err(e)),
    };
    for name in names {
        if !xattr_is_copied(name.as_bytes()) {
            continue;
        }
        if let Some(value) = xattr::get(path, &name).map_err(err)? {
            out.insert(name.as_bytes().to_vec(), value);
        }
    }
    Ok(out)
}

impl<'a> Source<'a> {
    pub(crate) fn new(root: &'a Path, clamp: Option<i64>, placeholders: &'a Placeholders) -> Self {
        Self {
            root,
            clamp,
            links: HashMap::new(),
            dirs: HashSet::new(),
            placeholders,
            buf: vec![0; 256 * 1024],
        }
    }

    fn time(&self, sec: i64, nsec: u32) -> (i64, u32) {
        match self.clamp {
            Some(max) if sec >= max && (sec, nsec) != (max, 0) => (max, 0),
            _ => (sec, nsec),
        }
    }

    /// Writes one entry of the layer into `out`.
    pub(crate) fn write_entry(
        &mut self,
        out: &mut impl Write,
        rel: &Path,
        change: Change,
    ) -> Result<(), Error> {
        let name = rel.as_os_str().as_bytes().to_vec();
        if change != Change::Write {
            let header = EntryHeader {
                name,
                kind: Kind::File,
                mode: 0,
                uid: 0,
                gid: 0,
                mtime_sec: 0,
                mtime_nsec: 0,
                size: 0,
                link: Vec::new(),
                dev_major: 0,
                dev_minor: 0,
                xattrs: BTreeMap::new(),
            };
            return write_header(out, &header).map_err(|source| Error::Write {
                path: rel.to_owned(),
                source,
            });
        }
        if let Some(parent) = rel.parent()
            && !parent.as_os_str().is_empty()
            && !self.dirs.contains(parent)
        {
            return Err(Error::ParentNotDirectory(rel.to_owned()));
        }
        let path = self.root.join(rel);
        let meta = std::fs::symlink_metadata(&path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        let Some(header) = self.header_for(rel, name, &path, &meta)? else {
            return Ok(());
        };
        let write_err = |source| Error::Write {
            path: rel.to_owned(),
            source,
        };
        write_header(out, &header).map_err(write_err)?;
        if header.kind == Kind::File && header.size > 0 {
            self.copy_content(out, &path, header.size)?;
        }
        Ok(())
    }

    fn header_for(
        &mut self,
        rel: &Path,
        mut name: Vec<u8>,
        path: &Path,
        meta: &Metadata,
    ) -> Result<Option<EntryHeader>, Error> {
        let ft = meta.file_type();
        let mut link = Vec::new();
        let mut size = 0;
        let kind = if ft.is_dir() {
            self.dirs.insert(rel.to_owned());
            name.push(b'/');
            Kind::Dir
        } else if ft.is_socket() {
            return Ok(None);
        } else if let Some(first) = self.first_link(meta, &name) {
            link = first;
            Kind::Hardlink
        } else if ft.is_file() {
            size = meta.len();
            Kind::File
        } else if ft.is_symlink() {
            let target = std::fs::read_link(path).map_err(|source| Error::Read {
                path: path.to_owned(),
                source,
            })?;
            link = target.as_os_str().as_bytes().to_vec();
            Kind::Symlink
        } else if ft.is_char_device() {
            Kind::Char
        } else if ft.is_block_device() {
            Kind::Block
        } else if ft.is_fifo() {
            Kind::Fifo
        } else {
            return Err(Error::UnsupportedType(path.to_owned()));
        };
        let (mtime_sec, mtime_nsec) = self.time(meta.mtime(), meta.mtime_nsec() as u32);
        let mut header = EntryHeader {
            name,
            kind,
            mode: meta.mode() & 0o7777,
            uid: u64::from(meta.uid()),
            gid: u64::from(meta.gid()),
            mtime_sec,
            mtime_nsec,
            size,
            link,
            dev_major: major(meta.rdev()),
            dev_minor: minor(meta.rdev()),
            xattrs: read_xattrs(path)?,
        };
        self.restore_placeholder(rel, &mut header);
        Ok(Some(header))
    }

    /// Writes a placeholder that no step changed as what the layer it came from said: a
    /// device, or a node with an owner this process could not give it.
    fn restore_placeholder(&self, rel: &Path, header: &mut EntryHeader) {
        let Some(truth) = self.placeholders.get(rel) else {
            return;
        };
        let (uid, gid) = self.placeholders.placeholder_owner();
        if (header.uid, header.gid) != (u64::from(uid), u64::from(gid)) {
            return;
        }
        match *truth {
            Unrepresentable::Device {
                kind,
                major,
                minor,
                uid,
                gid,
                ..
            } if header.kind == Kind::File && header.size == 0 => {
                header.kind = if kind == EntryKind::BlockDevice {
                    Kind::Block
                } else {
                    Kind::Char
                };
                header.dev_major = major;
                header.dev_minor = minor;
                header.uid = u64::from(uid);
                header.gid = u64::from(gid);
            }
            Unrepresentable::Owner { uid, gid } => {
                header.uid = u64::from(uid);
                header.gid = u64::from(gid);
            }
            Unrepresentable::Device { .. } => {}
        }
    }

    /// For a non-directory with several links: the archive name of the group's first entry in
    /// this layer, if this is not the first.
    fn first_link(&mut self, meta: &Metadata, name: &[u8]) -> Option<Vec<u8>> {
        if meta.nlink() < 2 {
            return None;
        }
        let key = (meta.dev(), meta.ino());
        match self.links.get(&key) {
            Some(first) => Some(first.clone()),
            None => {
                self.links.insert(key, name.to_vec());
                None
            }
        }
    }

    /// Streams exactly `size` bytes of `path`; a file that changed size meanwhile is an error.
    fn copy_content(&mut self, out: &mut impl Write, path: &Path, size: u64) -> Result<(), Error> {
        let read_err = |source| Error::Read {
            path: path.to_owned(),
            source,
        };
        let mut file = File::open(path).map_err(read_err)?;
        let mut left = size;
        while left > 0 {
            let want = self
                .buf
                .len()
                .min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = match file.read(&mut self.buf[..want]) {
                Ok(0) => return Err(Error::Changed(path.to_owned())),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_err(e)),
            };
            out.write_all(&self.buf[..n])
                .map_err(|source| Error::Write {
                    path: path.to_owned(),
                    source,
                })?;
            left -= n as u64;
        }
        write_padding(out, size).map_err(|source| Error::Write {
            path: path.to_owned(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_numbers_split_like_glibc() {
        let cases: &[(u64, u32, u32)] = &[
            (libc::makedev(1, 3), 1, 3),
            (libc::makedev(8, 17), 8, 17),
            (libc::makedev(4095, 1_048_575), 4095, 1_048_575),
        ];
        for (dev, ma, mi) in cases {
            assert_eq!((major(*dev), minor(*dev)), (*ma, *mi));
        }
    }

    #[test]
    fn clamping_only_lowers_times() {
        let none = Placeholders::default();
        let s = Source::new(Path::new("/"), Some(100), &none);
        assert_eq!(s.time(50, 7), (50, 7));
        assert_eq!(s.time(100, 0), (100, 0));
        assert_eq!(s.time(100, 5), (100, 0));
        assert_eq!(s.time(200, 5), (100, 0));
        let keep = Source::new(Path::new("/"), None, &none);
        assert_eq!(keep.time(200, 5), (200, 5));
    }

    #[test]
    fn host_labels_and_overlay_xattrs_are_not_copied() {
        assert!(xattr_is_copied(b"security.capability"));
        assert!(xattr_is_copied(b"user.mime"));
        assert!(!xattr_is_copied(b"security.selinux"));
        assert!(!xattr_is_copied(b"trusted.overlay.opaque"));
    }
}
