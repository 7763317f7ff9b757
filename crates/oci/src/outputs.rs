//! The small files Kaniko writes after a build, byte for byte as its `pkg/executor/push.go`
//! writes them, so that pipelines reading them keep working:
//!
//! | flag / variable | content |
//! |---|---|
//! | `--digest-file` | the manifest digest, no newline |
//! | `--image-name-with-digest-file` | `repository@digest\n` per destination |
//! | `--image-name-tag-with-digest-file` | `repository:tag@digest\n` per destination |
//! | `$BUILDER_OUTPUT/images` | one JSON line `{"name":…,"digest":…}` per destination, after a push |
//!
//! Repositories are spelled as go-containerregistry spells them, which Kaniko inherits: Docker
//! Hub is `index.docker.io` (`busybox` → `index.docker.io/library/busybox`), and a destination
//! without a tag gets `latest` in the tag file. The `name` in `BUILDER_OUTPUT` is the
//! destination exactly as the user typed it.
//!
//! Two deliberate differences: Kaniko writes tags into the name-with-digest file too when both
//! files are requested (they share one buffer); kiln writes each file as its flag describes.
//! And `localhost/app` names the registry `localhost`, as Docker reads it, where
//! go-containerregistry would take it for a Docker Hub repository.
//!
//! Owns: the bytes and writing them to a local path. Does not own: uploading to an `https://`
//! destination, which Kaniko allows for the digest files (`kiln-build`).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::atomic;
use crate::digest::Digest;
use crate::json::to_canonical_json;
use crate::reference::{DEFAULT_TAG, Reference, ReferenceError};

/// The file under `$BUILDER_OUTPUT` that lists pushed images.
pub const BUILDER_OUTPUT_FILE: &str = "images";

/// Why an output file could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("destination {destination:?} is not a valid image reference")]
    Destination {
        destination: String,
        #[source]
        source: ReferenceError,
    },
    #[error("{0} is a URL: uploading output files is not done by this writer")]
    Url(String),
    #[error("writing {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// `--digest-file`: the digest alone.
pub fn format_digest_file(digest: &Digest) -> Vec<u8> {
    digest.as_str().as_bytes().to_vec()
}

/// `--image-name-with-digest-file`: `repository@digest` lines.
pub fn format_image_name_with_digest_file<S: AsRef<str>>(
    destinations: &[S],
    digest: &Digest,
) -> Result<Vec<u8>, OutputError> {
    name_lines(destinations, digest, false)
}

/// `--image-name-tag-with-digest-file`: `repository:tag@digest` lines.
pub fn format_image_name_tag_with_digest_file<S: AsRef<str>>(
    destinations: &[S],
    digest: &Digest,
) -> Result<Vec<u8>, OutputError> {
    name_lines(destinations, digest, true)
}

/// `$BUILDER_OUTPUT/images`: one JSON object per line, per destination.
pub fn format_builder_output_images<S: AsRef<str>>(destinations: &[S], digest: &Digest) -> Vec<u8> {
    #[derive(Serialize)]
    struct Line<'a> {
        name: &'a str,
        digest: &'a str,
    }
    let mut out = Vec::new();
    for destination in destinations {
        let line = Line {
            name: destination.as_ref(),
            digest: digest.as_str(),
        };
        out.extend(to_canonical_json(&line));
        out.push(b'\n');
    }
    out
}

fn name_lines<S: AsRef<str>>(
    destinations: &[S],
    digest: &Digest,
    with_tag: bool,
) -> Result<Vec<u8>, OutputError> {
    let mut out = String::new();
    for destination in destinations {
        let destination = destination.as_ref();
        let reference =
            Reference::parse(destination).map_err(|source| OutputError::Destination {
                destination: destination.to_owned(),
                source,
            })?;
        out.push_str(&repository_name(&reference));
        if with_tag {
            out.push(':');
            out.push_str(reference.tag().unwrap_or(DEFAULT_TAG));
        }
        out.push('@');
        out.push_str(digest.as_str());
        out.push('\n');
    }
    Ok(out.into_bytes())
}

/// `registry/repository` with Docker Hub spelled `index.docker.io`.
fn repository_name(reference: &Reference) -> String {
    if reference.is_docker_hub() {
        format!("{}/{}", crate::DOCKER_HUB_ALIAS, reference.repository())
    } else {
        reference.context()
    }
}

/// Writes `bytes` to `path` atomically (a temporary file in the same directory, then a rename),
/// creating missing parent directories, with mode 0644 as Kaniko does.
pub fn write_output_file(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    let shown = path.to_string_lossy();
    if shown.starts_with("https://") || shown.starts_with("http://") {
        return Err(OutputError::Url(shown.into_owned()));
    }
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| OutputError::Io { path, source }
    };
    let parent = atomic::parent_dir(path);
    fs_err::create_dir_all(&parent).map_err(io_err(&parent))?;
    atomic::write(path, bytes).map_err(io_err(path))
}

#[cfg(test)]
#[path = "outputs_tests.rs"]
mod tests;
