//! ADD's local archives: a source file that is a tar stream (plain, gzip, bzip2, xz or zstd,
//! recognised by its bytes, not its name) is extracted into the destination directory instead
//! of copied.
//!
//! Follows the Dockerfile reference (<https://docs.docker.com/reference/dockerfile/#adding-local-tar-archives>)
//! and BuildKit's `AttemptUnpack`: the decompressed stream must start with a valid tar header,
//! otherwise the file is copied as it is. Extraction goes through [`crate::extract`] as a
//! context archive (devices and writes through the archive's own symlinks are refused), streaming
//! from the file. The archive is read again, also streaming, to hash its bytes and to list what
//! it wrote.

use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::Stat;

use super::Error;
use super::source::open_file;
use super::tree::Copier;
use crate::extract::{self, Compression};
use crate::resolve::Root;

/// The size of one tar header block.
const BLOCK: usize = 512;

/// Bytes enough to recognise every compression's magic.
const MAGIC_LEN: u64 = 6;

/// Extracts the source file `src` into the directory `dest` when it is an archive; returns
/// whether it was one.
pub(super) fn extract_if_archive(
    copier: &mut Copier<'_>,
    src: &Path,
    stat: &Stat,
    dest: &Path,
) -> Result<bool, Error> {
    let root = copier.src.root();
    // A file that does not decompress, or whose first block is not a tar header, is not an
    // archive: it is copied as it is.
    let mut head = Vec::with_capacity(BLOCK);
    let Ok(decoded) = decoder(open_file(root, src)?) else {
        return Ok(false);
    };
    if decoded.take(BLOCK as u64).read_to_end(&mut head).is_err() {
        return Ok(false);
    }
    if !is_tar_header(&head) {
        return Ok(false);
    }
    copier.create_parents(dest)?;
    if copier.dst.open_dir(dest).is_err() {
        let mode = copier.mode(0o755, true);
        copier.create_dir(dest, mode, None)?;
    }
    let options = extract::Options {
        source: extract::Source::Context,
        target_dir: dest.to_owned(),
        rootless: !rustix::process::geteuid().is_root(),
        ..extract::Options::default()
    };
    let extracted = |source| Error::Extract {
        path: src.to_owned(),
        source,
    };
    let decoded = decoder(open_file(root, src)?).map_err(|source| content(src, source))?;
    extract::extract_tar(copier.dst, decoded, &options).map_err(extracted)?;
    // The archive's bytes decide what it extracts to: they are its share of the digest.
    copier.hash_node(src, stat)?;
    let mut written: Vec<PathBuf> = Vec::new();
    let decoded = decoder(open_file(root, src)?).map_err(|source| content(src, source))?;
    extract::for_each_entry(decoded, |entry, _| {
        written.push(dest.join(Path::new(OsStr::from_bytes(&entry.path))));
        Ok(())
    })
    .map_err(extracted)?;
    for path in written {
        if let Some((uid, gid)) = copier.chown {
            chown(copier.dst, &path, uid, gid)?;
        }
        copier.record_change(&path)?;
    }
    Ok(true)
}

/// Gives `path` the owner `--chown` asked for, over the one the archive stored.
fn chown(root: &Root, path: &Path, uid: u32, gid: u32) -> Result<(), Error> {
    let write = |source| Error::Write {
        path: path.to_owned(),
        source,
    };
    let parent = root.open_parent(path).map_err(write)?;
    parent
        .open_node()
        .map_err(write)?
        .set_owner(uid, gid)
        .map_err(write)
}

fn content(path: &Path, source: io::Error) -> Error {
    Error::Content {
        path: path.to_owned(),
        source,
    }
}

/// A reader of the decompressed bytes of `file`: plain, gzip, zstd, bzip2 or xz, recognised
/// by their magic bytes.
fn decoder(mut file: std::fs::File) -> io::Result<Box<dyn Read + Send>> {
    let mut prefix = Vec::new();
    (&mut file).take(MAGIC_LEN).read_to_end(&mut prefix)?;
    let whole = io::Cursor::new(prefix.clone()).chain(file);
    Ok(match Compression::detect(&prefix) {
        Ok(Compression::Gzip) => Box::new(flate2::read::MultiGzDecoder::new(whole)),
        Ok(Compression::Zstd) => Box::new(zstd::stream::read::Decoder::new(whole)?),
        Err("bzip2") => Box::new(bzip2::read::MultiBzDecoder::new(whole)),
        Err("xz") => Box::new(liblzma::read::XzDecoder::new_multi_decoder(whole)),
        _ => Box::new(whole),
    })
}

/// Whether `block` is a tar header whose checksum is right (what Go's `archive/tar` and so
/// BuildKit's `isArchive` check); an all-zero block (an empty archive) counts too.
fn is_tar_header(block: &[u8]) -> bool {
    if block.len() < BLOCK {
        return false;
    }
    if block.iter().all(|&b| b == 0) {
        return true;
    }
    let field = &block[148..156];
    let digits: String = field
        .iter()
        .take_while(|&&b| b != 0 && b != b' ')
        .map(|&b| char::from(b))
        .collect();
    let digits = digits.trim_start_matches(' ');
    let Ok(stored) = u32::from_str_radix(digits, 8) else {
        return false;
    };
    let sum: u32 = block[..BLOCK]
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                u32::from(b' ')
            } else {
                u32::from(b)
            }
        })
        .sum();
    !digits.is_empty() && sum == stored
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_headers_are_recognised_by_checksum() {
        let mut header = tar::Header::new_gnu();
        header.set_path("a.txt").expect("path");
        header.set_size(0);
        header.set_cksum();
        assert!(is_tar_header(header.as_bytes()));
        let mut broken = header.as_bytes().to_vec();
        broken[0] ^= 1;
        assert!(!is_tar_header(&broken));
        assert!(!is_tar_header(b"hello world"));
        assert!(!is_tar_header(&[b'x'; 512]));
    }
}
