//! Where a built image goes: registries (`--destination`), a `docker save` tarball
//! (`--tar-path`) and an OCI image layout (`--oci-layout-path`).
//!
//! Owns pushing as the distribution spec orders it: every blob first (a `HEAD` skips what the
//! repository has, a base layer is mounted from its source repository on the same registry,
//! the rest is uploaded from its file), the config, then the manifest under each destination's
//! tag, so that a tag never names an image with missing blobs. The layers a build writes for
//! the target image start uploading as soon as they are on disk ([`Uploads`], on the tokio
//! runtime while later steps run, a bounded number at once); [`push`] waits for them and sends
//! the rest, then the manifest. A failed build pushes no manifest: the blobs it uploaded stay
//! in the repository unreferenced, as Docker's do.
//!
//! Does not own: the registry protocol (`kiln-registry`), the tarball and layout formats
//! (`kiln-oci`), or the digest files (`kiln_oci::outputs`, written by the binary).
//! Reference: <https://github.com/opencontainers/distribution-spec/blob/main/spec.md#push>.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use futures_util::{StreamExt, TryStreamExt};
use kiln_oci::{Digest, Layout, Reference};
use kiln_registry::{BlobPushed, BlobSource, BlobUpload, RegistryClient, Repository};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::{BuiltImage, Error, LayerBlob};
use crate::events::{Event, Events};
use crate::plan::{Base, Plan};

/// The stages whose layers end up in the target image: the target and the stages it is
/// built FROM, transitively.
pub(super) fn stages_in_target(plan: &Plan) -> BTreeSet<usize> {
    let mut stages = BTreeSet::new();
    let mut at = Some(plan.target);
    while let Some(index) = at.filter(|i| stages.insert(*i)) {
        at = plan
            .stages
            .iter()
            .find(|s| s.index == index)
            .and_then(|s| match s.base {
                Base::Stage(parent) => Some(parent),
                _ => None,
            });
    }
    stages
}

/// Each repository of `destinations` once, in order.
fn repositories(destinations: &[Reference]) -> Vec<Repository> {
    let mut repositories: Vec<Repository> = Vec::new();
    for dest in destinations {
        let repo = Repository::of(dest);
        if !repositories.contains(&repo) {
            repositories.push(repo);
        }
    }
    repositories
}

/// Layer uploads started while the build runs. Cheap to clone; clones share the uploads.
#[derive(Clone)]
pub struct Uploads {
    inner: Arc<UploadsInner>,
}

struct UploadsInner {
    registry: RegistryClient,
    repositories: Vec<Repository>,
    runtime: tokio::runtime::Handle,
    limit: Arc<Semaphore>,
    events: Events,
    tasks: Mutex<Vec<Upload>>,
}

struct Upload {
    repository: Repository,
    digest: Digest,
    task: JoinHandle<Result<BlobPushed, kiln_registry::Error>>,
}

impl std::fmt::Debug for Uploads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploads")
            .field("repositories", &self.inner.repositories)
            .finish_non_exhaustive()
    }
}

impl Uploads {
    /// Uploads to the repositories of `destinations`, as many blobs at once as the client's
    /// concurrency allows.
    pub fn new(
        destinations: &[Reference],
        registry: &RegistryClient,
        runtime: &tokio::runtime::Runtime,
        events: &Events,
    ) -> Self {
        let limit = registry.options().concurrency.max(1);
        Self {
            inner: Arc::new(UploadsInner {
                registry: events.client(registry),
                repositories: repositories(destinations),
                runtime: runtime.handle().clone(),
                limit: Arc::new(Semaphore::new(limit)),
                events: events.clone(),
                tasks: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Starts uploading `layer` to every repository and returns at once.
    pub fn start(&self, layer: &LayerBlob) {
        let inner = &self.inner;
        let mut tasks = inner.tasks.lock().unwrap_or_else(|p| p.into_inner());
        for repo in &inner.repositories {
            let registry = inner.registry.clone();
            let limit = Arc::clone(&inner.limit);
            let events = inner.events.clone();
            let repository = repo.clone();
            let blob = layer.clone();
            let task = inner.runtime.spawn(async move {
                let layer = blob;
                // The semaphore is never closed, so acquiring only waits.
                let _permit = limit.acquire_owned().await.ok();
                let outcome = push_layer(&registry, &repository, &layer).await?;
                events.emit(Event::BlobPushed {
                    repository: repository.to_string(),
                    digest: layer.descriptor.digest.clone(),
                    size: layer.descriptor.size,
                    outcome,
                });
                Ok(outcome)
            });
            tasks.push(Upload {
                repository: repo.clone(),
                digest: layer.descriptor.digest.clone(),
                task,
            });
        }
    }

    /// Stops every upload still running (the build failed).
    pub fn abort(&self) {
        let tasks = self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner());
        for upload in tasks.iter() {
            upload.task.abort();
        }
    }

    /// Waits for every upload started; the blobs each repository now has.
    fn finish(
        &self,
        runtime: &tokio::runtime::Runtime,
    ) -> Result<BTreeSet<(Repository, Digest)>, Error> {
        let tasks =
            std::mem::take(&mut *self.inner.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        let mut done = BTreeSet::new();
        for upload in tasks {
            let push_error = |source| Error::Push {
                destination: upload.repository.to_string(),
                source: Box::new(source),
            };
            match runtime.block_on(upload.task) {
                Ok(result) => {
                    result.map_err(push_error)?;
                    done.insert((upload.repository, upload.digest));
                }
                Err(e) => {
                    return Err(Error::Invariant {
                        what: format!("the upload of {} stopped: {e}", upload.digest),
                    });
                }
            }
        }
        Ok(done)
    }
}

/// Pushes `layer` to `repo`. A layer whose blob is not on disk (a base or cached layer no
/// step needed the bytes of) is found by `HEAD` or mounted from its source repository; only
/// when neither works is it downloaded from there and uploaded.
async fn push_layer(
    registry: &RegistryClient,
    repo: &Repository,
    layer: &LayerBlob,
) -> Result<BlobPushed, kiln_registry::Error> {
    let blob = BlobUpload {
        digest: layer.descriptor.digest.clone(),
        size: layer.descriptor.size,
        source: BlobSource::File(layer.path.clone()),
        mount_from: mount_sources(layer, repo),
    };
    if layer.path.exists() {
        return registry.push_blob(repo, &blob).await;
    }
    let first = registry.push_blob(repo, &blob).await;
    let (Err(error), Some(source)) = (&first, &layer.source) else {
        return first;
    };
    tracing::debug!(blob = %blob.digest, "no mount: downloading it first ({error})");
    if let Some(dir) = layer.path.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|source| kiln_registry::Error::Io {
                path: dir.to_owned(),
                source,
            })?;
    }
    let item = (blob.digest.clone(), Some(blob.size), layer.path.clone());
    registry.download_blobs(source, vec![item]).await?;
    registry.push_blob(repo, &blob).await
}

/// Repositories of `repo`'s registry that `layer` can be mounted from.
fn mount_sources(layer: &LayerBlob, repo: &Repository) -> Vec<Repository> {
    layer
        .source
        .iter()
        .filter(|s| s.registry() == repo.registry() && *s != repo)
        .cloned()
        .collect()
}

/// Pushes `image` to every destination and returns the manifest digest: waits for the
/// uploads the build started, sends every other blob and the config, then the manifest.
pub fn push(
    image: &BuiltImage,
    destinations: &[Reference],
    registry: &RegistryClient,
    runtime: &tokio::runtime::Runtime,
    events: &Events,
) -> Result<Digest, Error> {
    let manifest_bytes = image.manifest.to_json();
    let done = match &image.uploads {
        Some(uploads) => uploads.finish(runtime)?,
        None => BTreeSet::new(),
    };
    let client = events.client(registry);
    for repo in &repositories(destinations) {
        let push_error = |source| Error::Push {
            destination: repo.to_string(),
            source: Box::new(source),
        };
        let layers: Vec<&LayerBlob> = image
            .layers
            .iter()
            .filter(|layer| !done.contains(&(repo.clone(), layer.descriptor.digest.clone())))
            .collect();
        let limit = client.options().concurrency.max(1);
        let pushes = layers.iter().map(|layer| push_layer(&client, repo, layer));
        let outcomes: Vec<BlobPushed> = runtime
            .block_on(
                futures_util::stream::iter(pushes)
                    .buffered(limit)
                    .try_collect(),
            )
            .map_err(push_error)?;
        for (layer, outcome) in layers.iter().zip(outcomes) {
            events.emit(Event::BlobPushed {
                repository: repo.to_string(),
                digest: layer.descriptor.digest.clone(),
                size: layer.descriptor.size,
                outcome,
            });
        }
        let config = BlobUpload {
            digest: image.manifest.config.digest.clone(),
            size: image.manifest.config.size,
            source: BlobSource::Bytes(image.config_bytes.clone().into()),
            mount_from: Vec::new(),
        };
        let outcome = runtime
            .block_on(client.push_blob(repo, &config))
            .map_err(push_error)?;
        events.emit(Event::BlobPushed {
            repository: repo.to_string(),
            digest: config.digest.clone(),
            size: config.size,
            outcome,
        });
    }
    let media_type = image.manifest.media_type();
    for dest in destinations {
        runtime
            .block_on(registry.push_manifest(
                std::slice::from_ref(dest),
                media_type.as_str(),
                &manifest_bytes,
            ))
            .map_err(|source| Error::Push {
                destination: dest.to_string(),
                source: Box::new(source),
            })?;
        tracing::info!(target: crate::events::LOG_TARGET, "pushed {dest}");
        events.emit(Event::ManifestPushed {
            destination: dest.to_string(),
            digest: image.digest(),
        });
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

#[cfg(test)]
mod tests {
    use super::*;

    fn target_stages(dockerfile: &str, target: Option<&str>) -> Vec<usize> {
        let file = kiln_dockerfile::parse_dockerfile(dockerfile).expect("parses");
        let platform: kiln_oci::Platform = "linux/amd64".parse().expect("platform");
        let options = crate::PlanOptions {
            build_args: crate::BuildArgs::default(),
            target: target.map(str::to_owned),
            skip_unused_stages: false,
            target_platform: platform.clone(),
            build_platform: platform,
        };
        let plan = Plan::new(&file, &options).expect("plans");
        stages_in_target(&plan).into_iter().collect()
    }

    #[test]
    fn only_the_target_and_the_stages_it_is_from_reach_the_registry() {
        let file = "FROM busybox AS base\nRUN true\n\
                    FROM base AS mid\nRUN true\n\
                    FROM busybox AS tools\nRUN true\n\
                    FROM mid\nCOPY --from=tools /bin /bin\n";
        let cases = [
            (None, vec![0, 1, 3]),
            (Some("mid"), vec![0, 1]),
            (Some("tools"), vec![2]),
            (Some("base"), vec![0]),
        ];
        for (target, want) in cases {
            assert_eq!(target_stages(file, target), want, "{target:?}");
        }
    }

    #[test]
    fn each_repository_is_pushed_once() {
        let refs: Vec<Reference> = ["r.example/a:1", "r.example/a:2", "r.example/b:1"]
            .iter()
            .map(|r| Reference::parse(r).expect("reference"))
            .collect();
        let names: Vec<String> = repositories(&refs)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(names, ["r.example/a", "r.example/b"]);
    }
}
