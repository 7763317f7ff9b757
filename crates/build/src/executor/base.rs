//! Where a stage starts: its base image's config and layer blobs, and its rootfs.
//!
//! Owns fetching a base image (the `--cache-dir` layout first, as Kaniko's executor does, then
//! the registry, for the stage's platform) into [`StageImage`]: the config and one blob file
//! per layer, downloaded once into the build's work area so that extraction, the tarball and
//! OCI-layout outputs and uploads to another registry all read the same verified file. Owns
//! materialising a stage's rootfs by extracting those blobs in order: into a directory of the
//! work area, or into `/` itself with the in-place ignore list (`--isolation=none`).
//!
//! Does not own: the registry protocol (`kiln-registry`), what extraction does with whiteouts
//! and owners (`kiln_fs::extract`), or the cache format ([`crate::warm::cache`]).

use std::path::{Path, PathBuf};

use kiln_fs::extract::Placeholders;
use kiln_fs::ignore_list::IgnoreList;
use kiln_oci::{ConfigFile, Descriptor, Family, Platform, Reference};
use kiln_registry::{RegistryClient, Repository};

use super::error::Error;
use crate::error::StageRef;
use crate::events::{Event, Events};
use crate::warm::BaseImageCache;

/// One layer of an image being built: its descriptor and the blob on disk.
#[derive(Debug, Clone)]
pub struct LayerBlob {
    pub descriptor: Descriptor,
    pub path: PathBuf,
    /// The repository the blob came from, a candidate for a cross-repository mount.
    pub source: Option<Repository>,
}

/// A stage's image so far: the manifest family its base chose and its layers.
#[derive(Debug, Clone)]
pub struct StageImage {
    pub family: Family,
    pub layers: Vec<LayerBlob>,
}

/// A base image fetched for a stage.
#[derive(Debug)]
pub struct Pulled {
    pub image: StageImage,
    pub config: ConfigFile,
}

/// Fetches `reference` for `platform`: from `cache` when it holds a fresh entry, else from
/// the registry, downloading the layers into `blob_dir`.
pub fn pull(
    reference: &Reference,
    platform: &Platform,
    cache: Option<&BaseImageCache>,
    registry: &RegistryClient,
    runtime: &tokio::runtime::Runtime,
    blob_dir: &Path,
) -> Result<Pulled, Error> {
    let image_name = reference.to_string();
    if let Some(cache) = cache {
        let cached = cache
            .lookup(reference, platform)
            .map_err(|source| Error::Cache {
                image: image_name.clone(),
                source: Box::new(source),
            })?;
        if let Some(cached) = cached {
            tracing::info!("using base image {image_name} from the cache directory");
            let config = ConfigFile::parse(cached.image.config_bytes()).map_err(|source| {
                Error::BaseConfig {
                    image: image_name.clone(),
                    source,
                }
            })?;
            let family = cached
                .image
                .manifest()
                .media_type()
                .family()
                .unwrap_or(Family::Docker);
            let layers = cached
                .image
                .layers()
                .map(|(descriptor, path)| LayerBlob {
                    descriptor: descriptor.clone(),
                    path: path.to_owned(),
                    source: Some(Repository::of(reference)),
                })
                .collect();
            return Ok(Pulled {
                image: StageImage { family, layers },
                config,
            });
        }
    }
    tracing::info!(target: crate::events::LOG_TARGET, "pulling base image {image_name}");
    let pull_error = |source| Error::Pull {
        image: image_name.clone(),
        source: Box::new(source),
    };
    let remote = runtime
        .block_on(registry.resolve_image(reference, platform))
        .map_err(pull_error)?;
    let config_bytes = runtime
        .block_on(remote.read_config(registry))
        .map_err(pull_error)?;
    let config = ConfigFile::parse(&config_bytes).map_err(|source| Error::BaseConfig {
        image: image_name.clone(),
        source,
    })?;
    std::fs::create_dir_all(blob_dir).map_err(|source| Error::Io {
        path: blob_dir.to_owned(),
        source,
    })?;
    let layers: Vec<LayerBlob> = remote
        .layers()
        .iter()
        .map(|descriptor| LayerBlob {
            descriptor: descriptor.clone(),
            path: blob_dir.join(descriptor.digest.hex()),
            source: Some(remote.source.clone()),
        })
        .collect();
    let missing: Vec<_> = layers
        .iter()
        .filter(|l| !l.path.exists())
        .map(|l| {
            (
                l.descriptor.digest.clone(),
                Some(l.descriptor.size),
                l.path.clone(),
            )
        })
        .collect();
    runtime
        .block_on(registry.download_blobs(&remote.source, missing))
        .map_err(pull_error)?;
    let family = remote
        .manifest
        .media_type()
        .family()
        .unwrap_or(Family::Docker);
    Ok(Pulled {
        image: StageImage { family, layers },
        config,
    })
}

/// Creates `rootfs` (empty) and extracts `layers` into it, in order, reporting each layer to
/// `events` once applied. Returns it with what a build without the host's root could only
/// create as a placeholder.
pub fn materialize(
    stage: &StageRef,
    layers: &[LayerBlob],
    rootfs: &Path,
    events: &Events,
) -> Result<(kiln_fs::resolve::Root, Placeholders), Error> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io { path, source }
    };
    if rootfs.exists() {
        std::fs::remove_dir_all(rootfs).map_err(io(rootfs))?;
    }
    std::fs::create_dir_all(rootfs).map_err(io(rootfs))?;
    extract(stage, layers, rootfs, IgnoreList::new(), events)
}

/// Extracts `layers` into `/` itself, in order, skipping what `ignore` covers: an in-place
/// build (`--isolation=none`), once `/` was cleared.
pub fn materialize_in_place(
    stage: &StageRef,
    layers: &[LayerBlob],
    ignore: &IgnoreList,
    events: &Events,
) -> Result<(kiln_fs::resolve::Root, Placeholders), Error> {
    extract(stage, layers, Path::new("/"), ignore.clone(), events)
}

/// Extracts `layers` in order into the existing `rootfs`, skipping what `ignore` covers and
/// emitting [`Event::LayerExtracted`] to `events` as each layer is applied.
fn extract(
    stage: &StageRef,
    layers: &[LayerBlob],
    rootfs: &Path,
    ignore: IgnoreList,
    events: &Events,
) -> Result<(kiln_fs::resolve::Root, Placeholders), Error> {
    let root = kiln_fs::resolve::Root::open(rootfs).map_err(|source| Error::Rootfs {
        stage: stage.clone(),
        path: rootfs.to_owned(),
        source: Box::new(source),
    })?;
    let files = layers
        .iter()
        .map(|l| {
            std::fs::File::open(&l.path).map_err(|source| Error::Io {
                path: l.path.clone(),
                source,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let options = kiln_fs::extract::Options {
        // In a user namespace (a build started without root) devices cannot be made either.
        rootless: !kiln_sandbox::rootless::is_host_root(),
        ignore,
        ..kiln_fs::extract::Options::default()
    };
    let mut previous = std::time::Instant::now();
    let applied = |index: usize, _: &kiln_fs::extract::Report| {
        let Some(layer) = layers.get(index) else {
            return;
        };
        events.emit(Event::LayerExtracted {
            stage: stage.clone(),
            layer: index + 1,
            layers: layers.len(),
            digest: layer.descriptor.digest.clone(),
            size: layer.descriptor.size,
            elapsed: previous.elapsed(),
        });
        previous = std::time::Instant::now();
    };
    let result = kiln_fs::extract::extract_layers_with(&root, files, &options, applied);
    let reports = result.map_err(|source| Error::Extract {
        stage: stage.clone(),
        rootfs: rootfs.to_owned(),
        source: Box::new(source),
    })?;
    let placeholders = Placeholders::new(reports.into_iter().flat_map(|r| r.recorded));
    Ok((root, placeholders))
}
