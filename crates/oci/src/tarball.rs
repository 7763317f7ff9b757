//! `docker save` tarballs (`--tar-path`), in the shape Docker 25 and later write: an OCI image
//! layout (`oci-layout`, `index.json`, `blobs/sha256/<hex>`) plus the `manifest.json` that
//! `docker load` and `skopeo copy docker-archive:` read
//! (<https://github.com/moby/docker-image-spec/blob/main/spec.md>, "combined image JSON +
//! filesystem changeset format"; <https://github.com/moby/moby/pull/44598> for the OCI part).
//!
//! Owns: writing one image under any number of tags, layer blobs streamed from their files and
//! verified on the way, deterministic tar headers (mtime 0, root-owned, no user names), and the
//! atomic file variant. Layers are stored as they are (compressed): `docker load`, skopeo and
//! containerd all decompress them. Does not own: reading such tarballs, or Docker's legacy
//! per-layer `VERSION`/`json`/`layer.tar` directories, which no current loader needs.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::atomic;
use crate::blob::{BlobMismatch, VerifyingReader};
use crate::descriptor::{ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, Descriptor};
use crate::digest::Digest;
use crate::image::LocalImage;
use crate::json::to_canonical_json;
use crate::layout::OCI_LAYOUT_FILE;
use crate::manifest::Index;
use crate::media_type::Family;
use crate::reference::Reference;

/// Why a tarball could not be written.
#[derive(Debug, thiserror::Error)]
pub enum TarballError {
    #[error("reading layer {}", path.display())]
    Layer {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("layer file {} does not match its descriptor", path.display())]
    Mismatch {
        path: PathBuf,
        #[source]
        source: BlobMismatch,
    },
    #[error("writing the tarball")]
    Write(#[source] io::Error),
    #[error("writing {}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// One entry of `manifest.json`.
#[derive(Serialize)]
struct ManifestItem {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags")]
    repo_tags: Vec<String>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

fn blob_name(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm(), digest.hex())
}

/// Writes `image` as a `docker save` tarball to `out`, tagged with each of `tags` (none is
/// allowed: `docker load` then keeps the image untagged).
pub fn write_docker_archive(
    out: impl Write,
    image: &LocalImage,
    tags: &[Reference],
) -> Result<(), TarballError> {
    let mut tar = tar::Builder::new(out);
    let w = TarballError::Write;
    append_dir(&mut tar, "blobs/").map_err(w)?;
    append_dir(&mut tar, "blobs/sha256/").map_err(w)?;

    let mut written = BTreeSet::new();
    for (descriptor, path) in image.layers() {
        if !written.insert(descriptor.digest.clone()) {
            continue;
        }
        append_layer(&mut tar, descriptor, path)?;
    }
    let config = &image.manifest().config.digest;
    append_bytes(&mut tar, &blob_name(config), image.config_bytes()).map_err(w)?;
    let manifest_digest = image.digest();
    append_bytes(
        &mut tar,
        &blob_name(&manifest_digest),
        image.manifest_bytes(),
    )
    .map_err(w)?;

    let mut index = Index::new(Family::Oci);
    let entry = image.descriptor();
    if tags.is_empty() {
        index.manifests.push(entry.clone());
    }
    for tag in tags {
        let mut e = entry.clone();
        e.annotations
            .insert(ANNOTATION_IMAGE_NAME.to_owned(), tag.to_string());
        if let Some(t) = tag.tag() {
            e.annotations
                .insert(ANNOTATION_REF_NAME.to_owned(), t.to_owned());
        }
        index.manifests.push(e);
    }
    append_bytes(&mut tar, "index.json", &to_canonical_json(&index)).map_err(w)?;

    let item = ManifestItem {
        config: blob_name(config),
        repo_tags: tags.iter().map(repo_tag).collect(),
        layers: image.layers().map(|(d, _)| blob_name(&d.digest)).collect(),
    };
    append_bytes(&mut tar, "manifest.json", &to_canonical_json(&[item])).map_err(w)?;
    append_bytes(&mut tar, "oci-layout", OCI_LAYOUT_FILE).map_err(w)?;
    tar.into_inner().and_then(|mut out| out.flush()).map_err(w)
}

/// Like [`write_docker_archive`], into the file `path`, atomically: a temporary file next to
/// it is renamed over it only once the whole tarball is written.
pub fn write_docker_archive_file(
    path: &Path,
    image: &LocalImage,
    tags: &[Reference],
) -> Result<(), TarballError> {
    let file_err = |source| TarballError::File {
        path: path.to_owned(),
        source,
    };
    let dir = atomic::parent_dir(path);
    fs_err::create_dir_all(&dir).map_err(file_err)?;
    let tmp = atomic::temp_in(&dir, ".kiln-tar-").map_err(file_err)?;
    let mut buffered = io::BufWriter::with_capacity(1 << 20, tmp);
    write_docker_archive(&mut buffered, image, tags)?;
    let tmp = buffered
        .into_inner()
        .map_err(|e| file_err(e.into_error()))?;
    atomic::persist(tmp, path).map_err(file_err)
}

/// `docker save`'s spelling of a tag: the familiar form (`busybox:latest`, `user/app:1`,
/// `registry:5000/app:1`), with `latest` for a reference that has only a digest.
fn repo_tag(reference: &Reference) -> String {
    let tag = reference.tag().unwrap_or(crate::DEFAULT_TAG);
    reference
        .with_tag(tag)
        .map_or_else(|_| reference.familiar(), |tagged| tagged.familiar())
}

fn header(size: u64, mode: u32, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn append_dir<W: Write>(tar: &mut tar::Builder<W>, name: &str) -> io::Result<()> {
    let mut h = header(0, 0o755, tar::EntryType::Directory);
    tar.append_data(&mut h, name, io::empty())
}

fn append_bytes<W: Write>(tar: &mut tar::Builder<W>, name: &str, bytes: &[u8]) -> io::Result<()> {
    let mut h = header(bytes.len() as u64, 0o644, tar::EntryType::Regular);
    tar.append_data(&mut h, name, bytes)
}

fn append_layer<W: Write>(
    tar: &mut tar::Builder<W>,
    descriptor: &Descriptor,
    path: &Path,
) -> Result<(), TarballError> {
    let layer_err = |source| TarballError::Layer {
        path: path.to_owned(),
        source,
    };
    let file = fs_err::File::open(path).map_err(layer_err)?;
    // The header promises `descriptor.size` bytes; the verifying reader fails rather than let
    // a longer or shorter file break the archive, and checks the digest at the end.
    let reader =
        VerifyingReader::new(file, &descriptor.digest, descriptor.size).map_err(layer_err)?;
    let mut h = header(descriptor.size, 0o644, tar::EntryType::Regular);
    tar.append_data(&mut h, blob_name(&descriptor.digest), reader)
        .map_err(|e| match BlobMismatch::find(&e) {
            Some(m) => TarballError::Mismatch {
                path: path.to_owned(),
                source: m.clone(),
            },
            None => layer_err(e),
        })
}

#[cfg(test)]
#[path = "tarball_tests.rs"]
mod tests;
