//! The layer writer: a rootfs and a list of changes in, one compressed, hashed layer blob out.
//!
//! Owns: the deterministic tar stream (entry order, PAX headers, numeric ids, relative hardlink
//! targets, whiteouts), timestamp clamping, compression and the digest / diff ID computed in the
//! same pass. Does not own: deciding what changed (`crate::snapshot`), media types (`kiln-oci`
//! maps a [`Compression`] to one) or uploading.
//!
//! Follows the OCI image layer spec
//! (<https://github.com/opencontainers/image-spec/blob/main/layer.md>). The same rootfs and
//! changes always give the same bytes, whatever the machine's core count.
//!
//! Flow: the calling thread reads files and writes tar bytes (hashing them into the diff ID);
//! a bounded channel carries them to the compressor thread(s); the compressed bytes are hashed
//! into the digest as they are written to a temp file next to the destination, which is renamed
//! into place at the end. No layer is ever held in memory.

mod changes;
mod compression;
mod gzip;
mod header;
mod output;
mod source;

use std::io;
use std::path::{Path, PathBuf};

use kiln_oci::{DiffId, Digest};

pub use changes::{Change, Changes, LayerPath, OPAQUE_MARKER, WHITEOUT_PREFIX};
pub use compression::Compression;

use crate::extract::Placeholders;
use output::LayerOutput;
use source::Source;

/// Why a layer could not be written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown compression {0:?}: expected gzip or zstd")]
    UnknownCompression(String),
    #[error("compression level {level} is out of range for {compression}")]
    Level {
        compression: Compression,
        level: i32,
    },
    #[error("path {0} is outside the rootfs")]
    NotInRootfs(PathBuf),
    #[error("path {0} cannot be stored in a layer: names starting with .wh. are reserved")]
    ReservedName(PathBuf),
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write the tar entry for {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write layer {path}")]
    Output {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{0} changed size while it was being read")]
    Changed(PathBuf),
    #[error("parent of {0} is not a directory written by this layer (a symlink on the way?)")]
    ParentNotDirectory(PathBuf),
    #[error("{0} has a file type that cannot be stored in a layer")]
    UnsupportedType(PathBuf),
}

/// How a layer is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerOptions {
    pub compression: Compression,
    /// `--compression-level`; `None` takes the compression's default.
    pub level: Option<i32>,
    /// Compression threads; 0 means one per available core. Never changes the output bytes.
    pub threads: usize,
    /// Newest modification time written: `SOURCE_DATE_EPOCH`, or 0 for `--reproducible`.
    /// Later times become exactly this value; earlier ones are kept.
    pub clamp_mtime: Option<i64>,
}

impl Default for LayerOptions {
    fn default() -> Self {
        Self {
            compression: Compression::Gzip,
            level: None,
            threads: 0,
            clamp_mtime: None,
        }
    }
}

/// A layer blob on disk and its identities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenLayer {
    /// sha256 of the blob as stored (compressed).
    pub digest: Digest,
    /// sha256 of the uncompressed tar.
    pub diff_id: DiffId,
    /// Size of the blob in bytes.
    pub size: u64,
    pub path: PathBuf,
    pub compression: Compression,
}

fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Writes the entries of `changes`, read from `root`, as a layer blob at `dest`.
///
/// `dest` is replaced atomically: it appears only once the blob is complete.
pub fn write(
    root: &Path,
    changes: &Changes,
    dest: &Path,
    options: &LayerOptions,
) -> Result<WrittenLayer, Error> {
    write_with_placeholders(root, changes, dest, options, &Placeholders::default())
}

/// As [`write`], for a rootfs that a rootless extraction left `placeholders` in: each one no
/// step changed is written as the layer it came from said (a device, a foreign owner).
pub fn write_with_placeholders(
    root: &Path,
    changes: &Changes,
    dest: &Path,
    options: &LayerOptions,
    placeholders: &Placeholders,
) -> Result<WrittenLayer, Error> {
    let level = options.compression.resolve_level(options.level)?;
    let threads = match options.threads {
        0 => available_threads(),
        n => n,
    };
    let mut out = LayerOutput::create(dest, options.compression, level, threads)?;
    let mut source = Source::new(root, options.clamp_mtime, placeholders);
    let written = changes
        .iter()
        .try_for_each(|(rel, change)| source.write_entry(&mut out, rel, change))
        .and_then(|()| {
            // End of archive: two zero blocks.
            io::Write::write_all(&mut out, &[0u8; 1024]).map_err(|source| Error::Output {
                path: dest.to_owned(),
                source,
            })
        });
    if let Err(e) = written {
        // A broken pipe means the compressor failed first; its error says why.
        return Err(out.compressor_error().unwrap_or(e));
    }
    out.finish()
}
