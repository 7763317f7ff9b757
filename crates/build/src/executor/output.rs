//! Where a built image goes: registries (`--destination`), a `docker save` tarball
//! (`--tar-path`) and an OCI image layout (`--oci-layout-path`).
//!
//! Owns pushing as the distribution spec orders it: every blob first (a `HEAD` skips what the
//! repository has, a base layer is mounted from its source repository on the same registry,
//! the rest is uploaded from its file), the config, then the manifest under each destination's
//! tag, so that a tag never names an image with missing blobs. Nothing is pushed before the
//! build has finished, so a failed step pushes nothing.
//!
//! Does not own: the registry protocol (`kiln-registry`), the tarball and layout formats
//! (`kiln-oci`), or the digest files (`kiln_oci::outputs`, written by the binary).
//! Reference: <https://github.com/opencontainers/distribution-spec/blob/main/spec.md#push>.

use std::path::Path;

use kiln_oci::{Digest, Layout, Reference};
use kiln_registry::{BlobSource, BlobUpload, RegistryClient, Repository};

use super::{BuiltImage, Error};

/// Pushes `image` to every destination and returns the manifest digest.
pub fn push(
    image: &BuiltImage,
    destinations: &[Reference],
    registry: &RegistryClient,
    runtime: &tokio::runtime::Runtime,
) -> Result<Digest, Error> {
    let manifest_bytes = image.manifest.to_json();
    let mut repositories: Vec<Repository> = Vec::new();
    for dest in destinations {
        let repo = Repository::of(dest);
        if !repositories.contains(&repo) {
            repositories.push(repo);
        }
    }
    for repo in &repositories {
        let push_error = |source| Error::Push {
            destination: repo.to_string(),
            source: Box::new(source),
        };
        let mut blobs: Vec<BlobUpload> = image
            .layers
            .iter()
            .map(|layer| BlobUpload {
                digest: layer.descriptor.digest.clone(),
                size: layer.descriptor.size,
                source: BlobSource::File(layer.path.clone()),
                mount_from: layer
                    .source
                    .iter()
                    .filter(|s| s.registry() == repo.registry() && *s != repo)
                    .cloned()
                    .collect(),
            })
            .collect();
        blobs.push(BlobUpload {
            digest: image.manifest.config.digest.clone(),
            size: image.manifest.config.size,
            source: BlobSource::Bytes(image.config_bytes.clone().into()),
            mount_from: Vec::new(),
        });
        runtime
            .block_on(registry.push_blobs(repo, &blobs))
            .map_err(push_error)?;
    }
    let media_type = image.manifest.media_type();
    for dest in destinations {
        let pushed = runtime
            .block_on(registry.push_manifest(
                std::slice::from_ref(dest),
                media_type.as_str(),
                &manifest_bytes,
            ))
            .map_err(|source| Error::Push {
                destination: dest.to_string(),
                source: Box::new(source),
            })?;
        tracing::info!("pushed {dest}");
        drop(pushed);
    }
    Ok(image.digest())
}

/// Writes `image` as a `docker save` tarball tagged with `tags`.
pub fn write_tarball(image: &BuiltImage, path: &Path, tags: &[Reference]) -> Result<(), Error> {
    let local = image.to_local()?;
    kiln_oci::write_docker_archive_file(path, &local, tags).map_err(|source| Error::Tarball {
        path: path.to_owned(),
        source: Box::new(source),
    })
}

/// Adds `image` to the OCI layout at `path`, creating it when missing.
pub fn write_layout(image: &BuiltImage, path: &Path) -> Result<(), Error> {
    let layout_error = |source| Error::Layout {
        path: path.to_owned(),
        source: Box::new(source),
    };
    let local = image.to_local()?;
    let layout = if path.join("oci-layout").exists() {
        Layout::open(path)
    } else {
        Layout::create(path)
    }
    .map_err(layout_error)?;
    layout.append_image(&local, None).map_err(layout_error)?;
    Ok(())
}
