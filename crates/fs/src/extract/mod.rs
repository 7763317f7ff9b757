//! Layer extraction: applying tar layers to a rootfs directory through the [`Root`] resolver.
//!
//! Owns: reading a (gzip, zstd or plain) tar stream, refusing hostile entries with an error that
//! names them, creating every entry type with its owner, mode, xattrs and mtime, and the OCI
//! whiteout rules (`.wh.<name>`, `.wh..wh..opq`) of the image layer spec
//! (<https://github.com/opencontainers/image-spec/blob/main/layer.md#whiteouts>): a whiteout
//! hides only what lower layers put there, never what its own layer adds, wherever in the layer
//! it appears. [`Whiteouts::Overlay`] instead writes them in the form overlayfs reads, for a
//! layer unpacked alone into a directory that becomes an overlayfs lower layer. Decompression
//! runs on its own thread, one layer ahead of the one being applied, through a bounded channel
//! ([`pipeline`]), so memory stays flat in the size of a layer.
//!
//! Does not own: fetching layers (`kiln-registry`), the paths to skip (built in
//! [`crate::ignore_list`]), or writing layers back out (`crate::layer`).

mod apply;
mod compression;
mod pipeline;
pub mod reader;
mod rootless;
mod whiteout;

use std::io::{self, Read};
use std::path::PathBuf;

pub use compression::Compression;
pub use pipeline::{extract_layer, extract_layers, extract_layers_with};
pub use reader::{Entry, EntryKind, for_each_entry};
pub use rootless::{Placeholders, Recorded, Unrepresentable};

use crate::ignore_list::IgnoreList;
use crate::resolve::{self, Root};

/// Where an archive comes from, which decides what it may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Source {
    /// An image layer: whiteouts are applied, devices created, and writes through symlinks
    /// the layer itself made are followed inside the rootfs.
    #[default]
    Layer,
    /// An archive from the build context (`ADD archive.tar /dir/`): `.wh.` names are ordinary
    /// files, and devices or writes through a symlink the archive made are refused.
    Context,
}

/// What the whiteout entries of an image layer become (context archives have none: there a
/// `.wh.` name is an ordinary file, whatever this says).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Whiteouts {
    /// Applied: `.wh.<name>` and `.wh..wh..opq` delete what lower layers left in the same
    /// directory tree, and no trace of them stays. For layers applied in order to one rootfs.
    #[default]
    Apply,
    /// Written as overlayfs expects them in a lower layer (the format of Docker's `overlay2`
    /// driver and containers/storage; <https://docs.kernel.org/filesystems/overlayfs.html>,
    /// "whiteouts and opaque directories"), for one layer extracted alone into an empty
    /// directory: `.wh.<name>` becomes a character device 0/0 at `<name>`, and `.wh..wh..opq`
    /// the xattr `trusted.overlay.opaque=y` on its directory (created if the layer does not
    /// list it; the extraction root itself for a top-level marker). Both are written when the
    /// layer ends, so that, wherever they stand in the archive, they spare what the layer itself
    /// puts at their path: a non-directory there gets no whiteout, a directory is made opaque.
    /// Entries may not set `trusted.overlay.*` xattrs. Needs root (mknod, `trusted.*` xattrs).
    Overlay,
}

/// How to extract.
#[derive(Debug, Clone)]
pub struct Options {
    /// Layer or context archive.
    pub source: Source,
    /// The directory inside the rootfs that archive paths are relative to (`/` for layers).
    pub target_dir: PathBuf,
    /// Paths that are skipped, with everything below them.
    pub ignore: IgnoreList,
    /// Without root: devices and owners that cannot be created are recorded in the report
    /// instead of failing the extraction.
    pub rootless: bool,
    /// What whiteout entries become.
    pub whiteouts: Whiteouts,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            source: Source::Layer,
            target_dir: PathBuf::from("/"),
            ignore: IgnoreList::default(),
            rootless: false,
            whiteouts: Whiteouts::Apply,
        }
    }
}

/// What an extraction did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Entries applied, whiteouts included.
    pub entries: u64,
    /// Bytes of file content written.
    pub bytes: u64,
    /// Entries skipped because the ignore list covers them.
    pub ignored: u64,
    /// Extended attributes the filesystem or our privileges did not allow, and, with
    /// [`Whiteouts::Overlay`], the `trusted.overlay.*` ones entries carry: overlayfs would act on
    /// them (opaque, redirect, metacopy) instead of keeping them as data.
    pub xattrs_skipped: u64,
    /// What rootless mode could not create as the layer says (see [`Recorded`]).
    pub recorded: Vec<Recorded>,
}

/// Why an entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("absolute paths are not allowed in an archive")]
    AbsolutePath,
    #[error("`..` components are not allowed in an archive")]
    ParentComponent,
    #[error("the name contains a NUL byte")]
    NulInName,
    #[error("hardlink target {target:?} is not inside the archive")]
    LinkOutside { target: String },
    #[error("device nodes are not allowed in a build context archive")]
    DeviceInContext,
    #[error("it writes through the symlink {link:?} made by the same archive")]
    WriteThroughSymlink { link: String },
    #[error("extension header of {size} bytes is larger than the {max} allowed")]
    ExtensionTooLarge { size: u64, max: u64 },
    #[error("unsupported tar entry type {:?}", char::from(*.0))]
    UnsupportedType(u8),
    #[error("the pax size {pax} disagrees with the header size {header}")]
    PaxSizeMismatch { header: u64, pax: u64 },
    #[error("malformed pax record")]
    BadPaxRecord,
    #[error("malformed or out-of-range {field} field")]
    BadHeaderField { field: &'static str },
    #[error("symlink or hardlink without a target")]
    MissingLinkTarget,
    #[error("invalid whiteout name")]
    InvalidWhiteout,
}

/// An extraction error; every variant names the entry it is about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The tar stream itself is broken (bad checksum, truncated header).
    #[error("malformed archive after entry {}", after.as_deref().unwrap_or("(none)"))]
    Archive {
        after: Option<String>,
        #[source]
        source: io::Error,
    },
    /// A hostile or unsupported entry.
    #[error("refusing archive entry {entry:?}: {reason}")]
    Refused { entry: String, reason: Refusal },
    /// The entry's content ends before the size its header announced.
    #[error("archive entry {entry:?} is truncated: {expected} bytes announced, {actual} present")]
    Truncated {
        entry: String,
        expected: u64,
        actual: u64,
    },
    /// Creating the entry in the rootfs failed.
    #[error("cannot extract archive entry {entry:?}")]
    Apply {
        entry: String,
        #[source]
        source: resolve::Error,
    },
    /// Reading the entry's content or writing it to its file failed.
    #[error("cannot write the content of archive entry {entry:?}")]
    Content {
        entry: String,
        #[source]
        source: io::Error,
    },
    /// The layer's bytes could not be decompressed.
    #[error("cannot decompress layer {layer}")]
    Decompress {
        layer: usize,
        #[source]
        source: io::Error,
    },
    /// The layer uses a compression kiln does not read.
    #[error("layer {layer} is compressed with {format}, which is not supported yet")]
    UnsupportedCompression { layer: usize, format: &'static str },
}

/// Applies the uncompressed tar stream `reader` to `root`.
pub fn extract_tar(root: &Root, reader: impl Read, options: &Options) -> Result<Report, Error> {
    let mut applier = apply::Applier::new(root, options);
    for_each_entry(reader, |entry, data| applier.apply(entry, data))?;
    applier.finish()
}
