//! Where a stage starts: its base image's config and layer blobs, and its rootfs.
//!
//! Owns resolving a base image (the `--cache-dir` layout first, as Kaniko's executor does, then
//! the registry, for the stage's platform) into [`StageImage`]: the config and one blob path
//! per layer, downloaded ([`fetch`]) once into the build's work area when first needed, so
//! that extraction, the tarball and OCI-layout outputs and uploads to another registry all
//! read the same verified file, and a build that needs none of them downloads nothing. Owns
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
    /// The manifest's digest: what the stage's cache keys start from.
    pub digest: kiln_oci::Digest,
}

/// Resolves `reference` for `platform`: from `cache` when it holds a fresh entry, else from
/// the registry. Only the manifest and config are read; the layers are downloaded into
/// `blob_dir` by [`fetch`] once something needs their bytes (extraction, a local output, a
/// push that cannot mount them), so a build that needs no base filesystem downloads none.
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
                digest: cached.image.manifest().digest(),
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
    let layers: Vec<LayerBlob> = remote
        .layers()
        .iter()
        .map(|descriptor| LayerBlob {
            descriptor: descriptor.clone(),
            path: blob_dir.join(descriptor.digest.hex()),
            source: Some(remote.source.clone()),
        })
        .collect();
    let family = remote
        .manifest
        .media_type()
        .family()
        .unwrap_or(Family::Docker);
    Ok(Pulled {
        image: StageImage { family, layers },
        config,
        digest: remote.manifest.digest(),
    })
}

/// Downloads the blobs of `layers` that are not on disk yet from the repository each came
/// from, in parallel, each verified against its digest.
pub fn fetch(
    layers: &[LayerBlob],
    registry: &RegistryClient,
    runtime: &tokio::runtime::Runtime,
) -> Result<(), Error> {
    let mut by_repo: Vec<(Repository, Vec<_>)> = Vec::new();
    for layer in layers.iter().filter(|l| !l.path.exists()) {
        let Some(repo) = &layer.source else {
            return Err(Error::Io {
                path: layer.path.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!(
                        "layer {} is neither on disk nor in a registry",
                        layer.descriptor.digest
                    ),
                ),
            });
        };
        if let Some(dir) = layer.path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                path: dir.to_owned(),
                source,
            })?;
        }
        let item = (
            layer.descriptor.digest.clone(),
            Some(layer.descriptor.size),
            layer.path.clone(),
        );
        match by_repo.iter_mut().find(|(r, _)| r == repo) {
            Some((_, items)) => {
                if !items.contains(&item) {
                    items.push(item);
                }
            }
            None => by_repo.push((repo.clone(), vec![item])),
        }
    }
    for (repo, items) in by_repo {
        runtime
            .block_on(registry.download_blobs(&repo, items))
            .map_err(|source| Error::Pull {
                image: repo.to_string(),
                source: Box::new(source),
            })?;
    }
    Ok(())
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
    extract_reporting(stage, layers, rootfs, IgnoreList::new(), events)
}

/// Extracts `layers` into `/` itself, in order, skipping what `ignore` covers: an in-place
/// build (`--isolation=none`), once `/` was cleared.
pub fn materialize_in_place(
    stage: &StageRef,
    layers: &[LayerBlob],
    ignore: &IgnoreList,
    events: &Events,
) -> Result<(kiln_fs::resolve::Root, Placeholders), Error> {
    extract_reporting(stage, layers, Path::new("/"), ignore.clone(), events)
}

/// Extracts `layers` in order into the existing `rootfs`, skipping what `ignore` covers.
pub fn extract(
    stage: &StageRef,
    layers: &[LayerBlob],
    rootfs: &Path,
    ignore: IgnoreList,
) -> Result<(kiln_fs::resolve::Root, Placeholders), Error> {
    extract_reporting(stage, layers, rootfs, ignore, &Events::none())
}

/// [`Event::LayerExtracted`] for each of the `layers` of `stage` as it is applied, timed from
/// the one before it (or the start).
#[derive(Debug)]
pub struct LayerProgress<'a> {
    events: &'a Events,
    stage: &'a StageRef,
    layers: &'a [LayerBlob],
    previous: std::time::Instant,
}

impl<'a> LayerProgress<'a> {
    pub fn new(events: &'a Events, stage: &'a StageRef, layers: &'a [LayerBlob]) -> Self {
        LayerProgress {
            events,
            stage,
            layers,
            previous: std::time::Instant::now(),
        }
    }

    /// Layer `index` (0-based) is applied.
    pub fn applied(&mut self, index: usize) {
        let Some(layer) = self.layers.get(index) else {
            return;
        };
        self.events.emit(Event::LayerExtracted {
            stage: self.stage.clone(),
            layer: index + 1,
            layers: self.layers.len(),
            digest: layer.descriptor.digest.clone(),
            size: layer.descriptor.size,
            elapsed: self.previous.elapsed(),
        });
        self.previous = std::time::Instant::now();
    }
}

/// [`extract`], emitting [`Event::LayerExtracted`] to `events` as each layer is applied.
pub fn extract_reporting(
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
    let mut progress = LayerProgress::new(events, stage, layers);
    let applied = |index: usize, _: &kiln_fs::extract::Report| progress.applied(index);
    let result = kiln_fs::extract::extract_layers_with(&root, files, &options, applied);
    let reports = result.map_err(|source| Error::Extract {
        stage: stage.clone(),
        rootfs: rootfs.to_owned(),
        source: Box::new(source),
    })?;
    let placeholders = Placeholders::new(reports.into_iter().flat_map(|r| r.recorded));
    Ok((root, placeholders))
}
