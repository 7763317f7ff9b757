//! COPY and ADD: copying files from a build context or another stage's rootfs into a rootfs.
//!
//! Owns the file semantics of the Dockerfile reference
//! (<https://docs.docker.com/reference/dockerfile/#copy>) as BuildKit implements them
//! (`solver/llbsolver/file/backend.go` and fsutil's `copy` package):
//! - sources are cleaned and resolved inside their root (symlinks followed as if it were `/`,
//!   never out of it); Go `filepath.Match` wildcards ([`pattern`]); a wildcard that matches
//!   nothing copies nothing, a literal source that is missing is an error naming it;
//! - a directory source copies its contents; a file source lands at `dest` unless `dest` ends
//!   with `/`, is an existing directory, or there are several sources or a wildcard, in which
//!   case it lands at `dest/<name>`; a relative `dest` is resolved against the WORKDIR;
//! - everything written is owned by `--chown` (default 0:0), implicit parent directories too;
//!   implicit parents (and the destination of a directory's contents) are made 0755; `--chmod`
//!   ([`Chmod`], octal or symbolic) sets the mode of every file and directory the copy creates,
//!   implicit parents included, as BuildKit does since tonistiigi/fsutil#228 (never of
//!   symlinks); modes otherwise and mtimes come from the source; hardlinks between copied
//!   files are kept; symlinks are copied as symlinks; extended attributes of files are kept;
//! - `.dockerignore` hides context paths ([`Source::context`]), `--exclude` hides paths below
//!   each source;
//! - ADD extracts a local tar archive (plain, gzip, bzip2, xz or zstd, recognised by content)
//!   into `dest`; URL sources fail with an error naming them: the caller downloads them first
//!   ([`crate::fetch`]) and copies the file from a directory of its own, as BuildKit copies
//!   from its HTTP source;
//! - `--parents` keeps each source's path below the root, or below a `/./` pivot in it, with
//!   the parent directories it names taking their metadata from the source.
//!
//! Returns the destination paths written (for [`crate::layer::Changes`]) and a digest of what
//! was copied (source path, type, mode and owner as written, content, link target, xattrs; not
//! mtimes), which [`digest`] also computes without writing, for cache keys.
//!
//! Does not own: resolving `--chown` names (the caller passes numbers), downloading remote ADD
//! sources ([`crate::fetch`]), `--link` layering, or writing heredoc sources (the caller writes
//! them into a directory and copies from there).

mod archive;
mod hash;
mod mode;
pub mod pattern;
mod source;
mod tree;

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use kiln_dockerfile::ignore::{IgnoreError, Matcher};
use kiln_oci::{Digest, Sha256};

use crate::extract;
use crate::layer::{self, Changes};
use crate::resolve::{self, Root};

pub use mode::Chmod;
pub use source::Source;

/// One COPY or ADD, with its words already expanded.
#[derive(Debug, Clone, Default)]
pub struct CopyOp {
    /// The sources as written, relative to the source root.
    pub sources: Vec<String>,
    /// The destination as written; a trailing `/` means a directory.
    pub dest: String,
    /// The WORKDIR a relative `dest` is resolved against (absolute, in the destination rootfs).
    pub workdir: PathBuf,
    /// `--chown` resolved to numbers; `None` is 0:0.
    pub chown: Option<(u32, u32)>,
    /// `--chmod` as written.
    pub chmod: Option<String>,
    /// `--exclude` patterns.
    pub exclude: Vec<String>,
    /// `--parents`: keep the sources' paths (below a `/./` pivot when one is written).
    pub parents: bool,
    /// ADD rather than COPY: local archives are extracted (URLs are the caller's).
    pub add: bool,
}

/// What a copy wrote.
#[derive(Debug, Clone)]
pub struct Copied {
    /// Every destination path created or replaced, with its parents.
    pub changes: Changes,
    /// sha256 over the copied entries' source paths, types, modes and owners as written, and
    /// contents (an ADD archive counts by its bytes); not mtimes. [`digest`] computes the same
    /// without copying.
    pub digest: Digest,
}

/// A COPY/ADD error, naming the source or destination path it is about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("URL source {url} must be downloaded before it is copied")]
    AddUrl { url: String },
    #[error("source can't be a URL for COPY: {url}")]
    CopyUrl { url: String },
    #[error("source {path} not found")]
    NotFound { path: String },
    #[error("invalid wildcard pattern in source {path}")]
    BadPattern { path: String },
    #[error(
        "invalid --chmod value {value:?}: expected an octal mode such as 0644 or a symbolic one such as u=rwX,go=rX"
    )]
    BadChmod { value: String },
    #[error("invalid --exclude pattern")]
    Exclude(#[source] IgnoreError),
    #[error("too many levels of symlinks resolving source {path}")]
    SymlinkLoop { path: PathBuf },
    #[error("cannot copy {path}: sockets cannot be copied")]
    Socket { path: PathBuf },
    #[error("cannot read source {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: resolve::Error,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: resolve::Error,
    },
    #[error("cannot copy the content of {path}")]
    Content {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot extract archive {path}")]
    Extract {
        path: PathBuf,
        #[source]
        source: extract::Error,
    },
    #[error(transparent)]
    Fetch(#[from] crate::fetch::Error),
    #[error("cannot record {path} in the layer")]
    Layer {
        path: PathBuf,
        #[source]
        source: layer::Error,
    },
}

/// Runs `op`, reading from `source` and writing into `dest`.
pub fn copy(source: &Source, dest: &Root, op: &CopyOp) -> Result<Copied, Error> {
    run(source, dest, op, false)
}

/// The digest [`copy`] would return for `op`, computed without writing anything: for a cache
/// key known before the step runs. `dest` is only read, to decide where a file would land.
pub fn digest(source: &Source, dest: &Root, op: &CopyOp) -> Result<Digest, Error> {
    run(source, dest, op, true).map(|copied| copied.digest)
}

fn run(source: &Source, dest: &Root, op: &CopyOp, dry: bool) -> Result<Copied, Error> {
    for src in &op.sources {
        if let Some(url) = url_of(src) {
            return Err(if op.add {
                Error::AddUrl { url }
            } else {
                Error::CopyUrl { url }
            });
        }
    }
    let chmod = op.chmod.as_deref().map(Chmod::parse).transpose()?;
    let exclude = if op.exclude.is_empty() {
        None
    } else {
        Some(Matcher::new(&op.exclude).map_err(Error::Exclude)?)
    };
    let mut copier = tree::Copier {
        src: source,
        dst: dest,
        exclude,
        chown: op.chown,
        chmod,
        links: Default::default(),
        dry,
        changes: Changes::new(),
        hash: Sha256::new(),
        real_dirs: HashMap::new(),
    };
    let wildcard = op.sources.iter().any(|s| pattern::has_wildcards(s));
    let dest_path = if op.dest.starts_with('/') {
        PathBuf::from(&op.dest)
    } else {
        Path::new("/").join(&op.workdir).join(&op.dest)
    };
    let dest_is_dir = op.dest.ends_with('/')
        || op.parents
        || op.dest.is_empty()
        || op.dest == "."
        || op.sources.len() > 1
        || wildcard;
    for src in &op.sources {
        let pivot = parents_pivot(src);
        for found in source.resolve(src)? {
            if op.parents {
                copier.copy_with_parents(&found, &pivot, &dest_path)?;
            } else {
                copier.copy_source(&found, &dest_path, dest_is_dir, op.add)?;
            }
        }
    }
    Ok(Copied {
        changes: copier.changes,
        digest: copier.hash.finish_as(),
    })
}

/// Where `COPY --parents` starts keeping a source's path: after a `/./` in it (BuildKit's
/// pivot), else at the root. Only the part before the pivot is returned, as an in-root path.
fn parents_pivot(src: &str) -> PathBuf {
    let before = src.split_once("/./").map_or("", |(before, _)| before);
    let mut pivot = PathBuf::from("/");
    pivot.extend(resolve::clean(Path::new(before)));
    pivot
}

/// The source as a redacted URL when it is one (`scheme://`, or a git SSH address).
fn url_of(src: &str) -> Option<String> {
    if let Some((scheme, _)) = src.split_once("://") {
        if !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+')
        {
            return Some(crate::context::redact_url(src));
        }
    }
    if let Some(rest) = src.strip_prefix("git@") {
        let host = rest.split_once(':').map_or(rest, |(host, _)| host);
        return Some(format!("git@{host}:..."));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_recognised_and_redacted() {
        assert_eq!(
            url_of("https://user:secret@example.com/a.tar").as_deref(),
            Some("https://example.com/a.tar")
        );
        assert_eq!(
            url_of("git@github.com:o/r.git").as_deref(),
            Some("git@github.com:...")
        );
        assert_eq!(url_of("dir/file"), None);
        assert_eq!(url_of("a:b"), None);
    }
}
