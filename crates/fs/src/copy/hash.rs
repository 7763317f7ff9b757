//! The content digest of a copy: what each copied node contributes, so that a cache key can
//! be computed from the sources before the step runs ([`super::digest`]) and equals the one
//! the copy itself reports.
//!
//! Each node adds a header (kind, mode and owner as written, size, source path), then its
//! content, link target or extended attributes. Mtimes are left out: touching a file without
//! changing it keeps the cache.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use kiln_oci::Sha256;
use rustix::fs::{FileType, Stat};
use xattr::FileExt;

use super::Error;
use super::tree::Copier;

impl Copier<'_> {
    /// Adds one entry's header to the copy's digest: what kind of node, its source path, its
    /// mode and owner as written. Content follows for files, the target for links.
    pub(super) fn hash_entry(&mut self, kind: u8, path: &Path, mode: u32, size: u64) {
        let (uid, gid) = self.owner();
        let header = format!("{} {mode:o} {uid} {gid} {size} ", char::from(kind));
        self.hash.update(header.as_bytes());
        self.hash.update(path.as_os_str().as_bytes());
        self.hash.update(b"\0");
    }

    /// Reads the extended attributes of the open source file `file` (`security.capability`
    /// matters most) and adds them to the digest, sorted by name.
    pub(super) fn hash_xattrs(
        &mut self,
        src: &Path,
        file: &File,
    ) -> Result<Vec<(OsString, Vec<u8>)>, Error> {
        let content = |source| Error::Content {
            path: src.to_owned(),
            source,
        };
        let mut xattrs = Vec::new();
        for name in file.list_xattr().map_err(content)? {
            if let Some(value) = file.get_xattr(&name).map_err(content)? {
                xattrs.push((name, value));
            }
        }
        xattrs.sort();
        for (name, value) in &xattrs {
            self.hash
                .update(format!("x {} {} ", name.len(), value.len()).as_bytes());
            self.hash.update(name.as_bytes());
            self.hash.update(value);
        }
        Ok(xattrs)
    }

    /// Hashes a non-directory node exactly as [`Copier::copy_node`] does, without writing it.
    pub(super) fn hash_node(&mut self, src: &Path, stat: &Stat) -> Result<(), Error> {
        match FileType::from_raw_mode(stat.st_mode) {
            FileType::RegularFile => {
                let mode = self.mode(stat.st_mode, false);
                self.hash_entry(b'f', src, mode, stat.st_size as u64);
                let mut input = super::source::open_file(self.src.root(), src)?;
                self.hash_xattrs(src, &input)?;
                copy_hashing(&mut input, &mut io::sink(), &mut self.hash).map_err(|source| {
                    Error::Content {
                        path: src.to_owned(),
                        source,
                    }
                })
            }
            FileType::Symlink => {
                let target = self.src.read_link(src)?;
                self.hash_entry(b'l', src, 0o777, 0);
                self.hash.update(target.as_os_str().as_bytes());
                Ok(())
            }
            FileType::Fifo | FileType::CharacterDevice | FileType::BlockDevice => {
                self.hash_entry(b'n', src, stat.st_mode & 0o7777, stat.st_rdev);
                Ok(())
            }
            _ => Err(Error::Socket {
                path: src.to_owned(),
            }),
        }
    }
}

/// Copies `input` to `output`, hashing the bytes on the way.
pub(super) fn copy_hashing(
    input: &mut impl Read,
    output: &mut impl Write,
    hash: &mut Sha256,
) -> io::Result<()> {
    let mut buf = vec![0u8; 128 * 1024];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hash.update(&buf[..n]);
        output.write_all(&buf[..n])?;
    }
}
