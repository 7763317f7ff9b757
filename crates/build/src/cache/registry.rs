//! The registry store (`--cache-repo`): one image per key in a repository, tagged with the
//! key's 64 hex digits, as Kaniko's cache images are.
//!
//! Each image is an entry image ([`super::entry`]), `created` when it was pushed. A put
//! pushes the layer (HEAD first, so a layer already there is not sent again), the config, then
//! the manifest, so a tag never names an image whose blobs are missing. A probe is a manifest
//! `HEAD` per key, up to the client's `concurrency` at once; it cannot see `created`, so a probe
//! hit may be an expired entry that [`RegistryStore::get`] then reports as a miss.
//!
//! Does not own: the registry protocol, auth and retries (`kiln-registry`), or `oci:/path`
//! cache repositories (a local OCI layout: [`super::LayoutStore`]).

use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use kiln_oci::{MAX_CONFIG_SIZE, ManifestOrIndex, Platform, Reference};
use kiln_registry::{BlobSource, BlobUpload, Direction, RegistryClient, Repository};

use super::store::{BlobLocation, CachedLayer, CachedStep, Store};
use super::{CacheKey, Error, entry};

/// A cache repository on a registry.
#[derive(Debug, Clone)]
pub struct RegistryStore {
    client: RegistryClient,
    repo: Repository,
    platform: Platform,
    ttl: Duration,
}

impl RegistryStore {
    /// The store in `repo`, for images of `platform`, whose entries count for `ttl`.
    pub fn new(
        client: RegistryClient,
        repo: Repository,
        platform: Platform,
        ttl: Duration,
    ) -> RegistryStore {
        RegistryStore {
            client,
            repo,
            platform,
            ttl,
        }
    }

    /// Kaniko's default `--cache-repo`: `<destination repository>/cache`.
    pub fn default_repository(destination: &Reference) -> Repository {
        let dest = Repository::of(destination);
        Repository::new(dest.registry(), &format!("{}/cache", dest.name()))
    }

    pub fn repository(&self) -> &Repository {
        &self.repo
    }

    fn error(
        &self,
        op: &'static str,
        key: &CacheKey,
    ) -> impl FnOnce(kiln_registry::Error) -> Error + use<> {
        let (repository, key) = (self.repo.to_string(), key.to_string());
        move |source| Error::Registry {
            op,
            repository,
            key,
            source: Box::new(source),
        }
    }

    fn not_an_entry(&self, key: &CacheKey, reason: &str) -> Error {
        Error::NotAnEntry {
            repository: self.repo.to_string(),
            key: key.to_string(),
            reason: reason.to_owned(),
        }
    }

    async fn probe_one(&self, key: &CacheKey) -> Result<bool, Error> {
        self.client
            .head_manifest(&self.repo, key.hex(), Direction::Pull)
            .await
            .map(|head| head.is_some())
            .map_err(self.error("probe", key))
    }

    /// The step cached under `key`, when its image is there and younger than the TTL at `now`.
    pub async fn get_at(
        &self,
        key: &CacheKey,
        now: SystemTime,
    ) -> Result<Option<CachedStep>, Error> {
        let fetched = match self.client.get_manifest(&self.repo, key.hex()).await {
            Ok(m) => m,
            Err(kiln_registry::Error::ManifestUnknown { .. }) => return Ok(None),
            Err(e) => return Err(self.error("get the manifest", key)(e)),
        };
        let ManifestOrIndex::Manifest(manifest) = fetched.parsed else {
            return Err(self.not_an_entry(key, "it is an index"));
        };
        entry::check_manifest(&manifest).map_err(|reason| self.not_an_entry(key, reason))?;
        let bytes = self
            .client
            .read_blob(
                &self.repo,
                &manifest.config.digest,
                Some(manifest.config.size),
                MAX_CONFIG_SIZE,
            )
            .await
            .map_err(self.error("read the config", key))?;
        let read = entry::read(&manifest, &bytes, self.ttl, now)
            .map_err(|reason| self.not_an_entry(key, reason))?;
        Ok(read.map(|read| CachedStep {
            layer: read.layer.map(|(descriptor, diff_id)| CachedLayer {
                descriptor,
                diff_id,
                blob: BlobLocation::Registry(self.repo.clone()),
            }),
            config_delta: read.config_delta,
        }))
    }

    /// Pushes `step` as the image of `key`, created at `now`.
    pub async fn put_at(
        &self,
        key: &CacheKey,
        step: &CachedStep,
        now: SystemTime,
    ) -> Result<(), Error> {
        let path = match &step.layer {
            Some(CachedLayer {
                blob: BlobLocation::File(path),
                ..
            }) => Some(path),
            Some(layer) => {
                return Err(Error::ForeignBlob {
                    key: key.to_string(),
                    blob: format!("{:?}", layer.blob),
                    store: format!("cache repository {}", self.repo),
                });
            }
            None => None,
        };
        let (manifest, config_bytes) = entry::image(&self.platform, key, step, now);
        let mut blobs = Vec::new();
        if let (Some(layer), Some(path)) = (&step.layer, path) {
            blobs.push(BlobUpload {
                digest: layer.descriptor.digest.clone(),
                size: layer.descriptor.size,
                source: BlobSource::File(path.clone()),
                mount_from: Vec::new(),
            });
        }
        blobs.push(BlobUpload {
            digest: manifest.config.digest.clone(),
            size: manifest.config.size,
            source: BlobSource::Bytes(config_bytes.into()),
            mount_from: Vec::new(),
        });
        // One at a time: `push_blobs`' future is not provably `Send` here, and the config is
        // small.
        for blob in &blobs {
            self.client
                .push_blob(&self.repo, blob)
                .await
                .map_err(self.error("push the layer and config", key))?;
        }
        let media_type = manifest.media_type();
        self.client
            .put_manifest(
                &self.repo,
                key.hex(),
                media_type.as_str(),
                &manifest.to_json(),
            )
            .await
            .map_err(self.error("push the manifest", key))?;
        Ok(())
    }
}

impl Store for RegistryStore {
    async fn probe(&self, keys: &[CacheKey]) -> Vec<Result<bool, Error>> {
        let limit = self.client.options().concurrency.max(1);
        let probes: Vec<_> = keys.iter().map(|k| self.probe_one(k)).collect();
        futures_util::stream::iter(probes)
            .buffered(limit)
            .collect()
            .await
    }

    async fn get(&self, key: &CacheKey) -> Result<Option<CachedStep>, Error> {
        self.get_at(key, SystemTime::now()).await
    }

    async fn put(&self, key: &CacheKey, step: &CachedStep) -> Result<(), Error> {
        self.put_at(key, step, SystemTime::now()).await
    }
}
