//! Comparing two images file by file and config field by field: the oracle suite's judge.
//!
//! Owns: loading an image from an OCI layout directory, an OCI layout tarball or a
//! `docker save` tarball ([`load`]); flattening its layers with whiteouts applied; comparing
//! the resulting filesystems (path, type, mode, uid, gid, size, content hash, link target,
//! xattrs, hardlink groups) and the configs key by key; and an allow-list of known,
//! justified differences ([`AllowList`]). The result is a [`Report`] that prints one line per
//! difference.
//!
//! Does not own: building the images (the oracle tests run kiln, `docker build` or Buildah), or
//! mtimes, which builders legitimately set differently and DESIGN.md §8 leaves out.
//!
//! ```no_run
//! use kiln_testsupport::compare::{AllowList, compare, load};
//! let kiln = load("kiln-out".as_ref()).unwrap();
//! let docker = load("docker-save.tar".as_ref()).unwrap();
//! let report = compare(&kiln, &docker, &AllowList::builder_metadata());
//! assert!(report.is_match(), "{report}");
//! ```

mod allow;
mod diff;
mod flatten;
mod source;
mod store;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use allow::{AllowList, AllowListError, Allowance, Scope};
pub use diff::{Difference, Field, Report, Side};
pub use flatten::{Entry, Filesystem, FlattenError, Flattener, Kind};

/// Why an image could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{image}: no member {member}")]
    Missing { image: PathBuf, member: String },
    #[error("{image}: {member} is not valid JSON")]
    Json {
        image: PathBuf,
        member: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{image}: {reason}")]
    Format { image: PathBuf, reason: String },
    #[error("{image}: layer {layer} cannot be applied")]
    Layer {
        image: PathBuf,
        layer: String,
        #[source]
        source: FlattenError,
    },
}

/// A loaded image: where it came from, its config and its flattened filesystem.
#[derive(Debug, Clone)]
pub struct Image {
    pub name: String,
    pub config: serde_json::Value,
    pub files: Filesystem,
}

/// Loads an image from an OCI layout directory or a tarball (`docker save`, or an OCI layout
/// archived as a tar), flattening its layers.
pub fn load(path: &Path) -> Result<Image, CompareError> {
    load_platform(path, None)
}

/// Like [`load`], taking the manifest for `platform` (`linux/arm64`, `linux/arm/v7`) from an
/// OCI layout that holds several.
pub fn load_platform(path: &Path, platform: Option<&str>) -> Result<Image, CompareError> {
    let store = store::Store::open(path)?;
    let parts = source::read(&store, platform)?;
    let mut flattener = Flattener::new();
    for layer in &parts.layers {
        let reader = store.open_member(layer)?;
        flattener
            .apply(reader)
            .map_err(|source| CompareError::Layer {
                image: path.to_owned(),
                layer: layer.clone(),
                source,
            })?;
    }
    Ok(Image {
        name: path.display().to_string(),
        config: parts.config,
        files: flattener.finish(),
    })
}

/// Compares two images; differences the allow-list covers are reported apart, with reasons.
pub fn compare(left: &Image, right: &Image, allow: &AllowList) -> Report {
    diff::compare(
        (&left.name, &left.files, &left.config),
        (&right.name, &right.files, &right.config),
        allow,
    )
}
