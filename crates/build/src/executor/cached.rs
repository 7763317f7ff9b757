//! The layer cache in a build (DESIGN.md §5): which steps can take a cached result, looking
//! them up, applying hits without a filesystem, and keeping what missed steps made.
//!
//! Every instruction of a stage extends a chain of keys ([`Chain`]): the first starts from the
//! base (an image's manifest digest, `scratch`, or the end of the stage it is `FROM`), each
//! next one from the key before it. So any instruction, metadata ones included, changes the
//! keys of the steps after it, as in Kaniko. A step whose inputs the key cannot see before it
//! runs ([`StepKey::Opaque`]: a RUN with a bind mount, ADD of a URL without `--checksum` or of
//! a Git repository) always runs, and the chain goes on from a digest of what it wrote.
//!
//! Only the steps that touch the filesystem are looked up: RUN and WORKDIR (with
//! `--cache-run-layers`) and COPY and ADD (with `--cache-copy-layers`). A hit adds the cached
//! layer (or the empty history entry of a step that changed nothing) to the image as it is:
//! nothing is downloaded or extracted until a later step misses and needs the filesystem,
//! then the executor extracts what the stage has so far. A miss runs the step and puts what
//! it made in every store ([`Puts`], in the background; the build waits for them at its end,
//! and a failed put is a warning, as in Kaniko).
//!
//! A miss is explained by the first key component that differs from the key the same step
//! had in the last build recorded ([`Records`], a small JSON file per Dockerfile and target),
//! never by a value.
//!
//! Does not own: keys and stores ([`crate::cache`]), running steps (the executor).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use kiln_oci::{Digest, History};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use super::base::LayerBlob;
use crate::cache::key::{self, CacheKey, FromSource, Parent, StepInput};
use crate::cache::{
    BlobLocation, CachedLayer, CachedStep, LayoutStore, LocalStore, RegistryStore, Store,
};

/// `--cache` and the flags that go with it.
#[derive(Debug, Clone)]
pub struct LayerCacheOptions {
    /// Where entries are looked up, in this order; a put goes to each that takes puts.
    pub stores: Vec<CacheStore>,
    /// `--cache-run-layers`: RUN and WORKDIR are looked up and kept.
    pub run_layers: bool,
    /// `--cache-copy-layers`: COPY and ADD are looked up and kept.
    pub copy_layers: bool,
    /// Off with `--no-push-cache`: registry stores are read, never written.
    pub push: bool,
    /// The file that keeps this Dockerfile's last keys, to explain misses.
    pub records: Option<PathBuf>,
    /// The cache dir's unpacked layers: a stage's rootfs is mounted from them, and every
    /// layer put in the cache is unpacked there too. Only where kiln may mount (as root, in
    /// its own mount namespace).
    pub unpacked: Option<crate::cache::UnpackedStore>,
}

/// One place cached steps are kept.
#[derive(Debug, Clone)]
pub enum CacheStore {
    /// The layer store of a cache directory.
    Local(LocalStore),
    /// `--cache-repo` on a registry.
    Registry(RegistryStore),
    /// `--cache-repo oci:PATH`.
    Layout(LayoutStore),
}

impl CacheStore {
    fn describe(&self) -> String {
        match self {
            CacheStore::Local(s) => format!("cache dir {}", s.root().display()),
            CacheStore::Registry(s) => format!("cache repository {}", s.repository()),
            CacheStore::Layout(s) => format!("cache repository oci:{}", s.path().display()),
        }
    }

    async fn probe(&self, keys: &[CacheKey]) -> Vec<Result<bool, crate::cache::Error>> {
        match self {
            CacheStore::Local(s) => s.probe(keys).await,
            CacheStore::Registry(s) => s.probe(keys).await,
            CacheStore::Layout(s) => s.probe(keys).await,
        }
    }

    async fn get(&self, key: &CacheKey) -> Result<Option<CachedStep>, crate::cache::Error> {
        match self {
            CacheStore::Local(s) => s.get(key).await,
            CacheStore::Registry(s) => s.get(key).await,
            CacheStore::Layout(s) => s.get(key).await,
        }
    }

    async fn put(&self, key: &CacheKey, step: &CachedStep) -> Result<(), crate::cache::Error> {
        match self {
            CacheStore::Local(s) => s.put(key, step).await,
            CacheStore::Registry(s) => s.put(key, step).await,
            CacheStore::Layout(s) => s.put(key, step).await,
        }
    }

    /// Whether `--no-push-cache` keeps puts from it: the cache repository, on a registry or
    /// in a layout, as Kaniko's flag covers both.
    fn is_remote(&self) -> bool {
        matches!(self, CacheStore::Registry(_) | CacheStore::Layout(_))
    }
}

/// Where a stage's chain of keys stands.
#[derive(Debug, Clone)]
pub(super) enum Chain {
    Scratch,
    Image(Digest),
    Key(CacheKey),
}

impl Chain {
    pub(super) fn parent(&self) -> Parent<'_> {
        match self {
            Chain::Scratch => Parent::Scratch,
            Chain::Image(d) => Parent::Image(d),
            Chain::Key(k) => Parent::Step(k),
        }
    }

    /// The chain's end as the `from` of a `COPY --from` this stage.
    pub(super) fn as_from(&self) -> FromSource<'_> {
        match self {
            Chain::Scratch => FromSource::Scratch,
            Chain::Image(d) => FromSource::Image(d),
            Chain::Key(k) => FromSource::Stage(k),
        }
    }
}

/// A step's key, or why it has none before it runs.
#[derive(Debug, Clone)]
pub(super) enum StepKey {
    Known(CacheKey),
    Opaque(String),
}

/// What a step is, for the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Run,
    Files,
    Workdir,
    Metadata,
}

/// What a step's key is made of besides the chain.
pub(super) struct KeyParts<'a> {
    pub text: &'a str,
    pub escape: char,
    pub heredocs: Vec<String>,
    pub variables: Vec<(String, String)>,
    pub sources: Option<Digest>,
    pub from: Option<FromSource<'a>>,
    /// The platform and the layer settings a cached layer was written with.
    pub platform: &'a str,
}

impl KeyParts<'_> {
    pub(super) fn key(&self, chain: &Chain) -> CacheKey {
        CacheKey::compute(&StepInput {
            parent: chain.parent(),
            instruction: key::Instruction {
                text: self.text,
                escape: self.escape,
                heredocs: &self.heredocs,
            },
            variables: &self.variables,
            sources: self.sources.as_ref(),
            from: self.from,
            platform: self.platform,
        })
    }
}

/// The key the chain goes on with after an opaque step: the step's text and what it wrote.
pub(super) fn output_key(
    chain: &Chain,
    text: &str,
    layers: &[LayerBlob],
    platform: &str,
) -> CacheKey {
    let written: Vec<&str> = layers
        .iter()
        .map(|l| l.descriptor.digest.as_str())
        .collect();
    let output = Digest::of(written.join("\n").as_bytes());
    CacheKey::compute(&StepInput {
        parent: chain.parent(),
        instruction: key::Instruction {
            text,
            escape: '\\',
            heredocs: &[],
        },
        variables: &[],
        sources: Some(&output),
        from: None,
        platform,
    })
}

/// How a step went with the cache, for the log and the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheOutcome {
    Hit {
        store: String,
    },
    Miss {
        reason: String,
    },
    /// Not looked up: the reason (a flag, or an input the key cannot see).
    Skipped {
        reason: String,
    },
}

impl std::fmt::Display for CacheOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CacheOutcome::Hit { store } => write!(f, "cache hit ({store})"),
            CacheOutcome::Miss { reason } => write!(f, "cache miss: {reason}"),
            CacheOutcome::Skipped { reason } => write!(f, "not cached: {reason}"),
        }
    }
}

/// The cache of one build: stores, probe results, puts under way and the records.
pub(super) struct BuildCache {
    pub options: LayerCacheOptions,
    runtime: tokio::runtime::Handle,
    /// What probing found, by key: the step and the store it came from.
    found: HashMap<Digest, (CachedStep, usize)>,
    /// The keys probed (found or not).
    probed: std::collections::HashSet<Digest>,
    puts: Vec<(String, JoinHandle<Result<(), crate::cache::Error>>)>,
    /// Layers being unpacked into the unpacked layer store.
    unpacks: Vec<JoinHandle<Result<(), crate::cache::unpacked::Error>>>,
    last: Records,
    this: Records,
}

impl BuildCache {
    pub fn new(options: LayerCacheOptions, runtime: &tokio::runtime::Runtime) -> BuildCache {
        let last = options
            .records
            .as_deref()
            .map(Records::read)
            .unwrap_or_default();
        BuildCache {
            options,
            runtime: runtime.handle().clone(),
            found: HashMap::new(),
            probed: Default::default(),
            puts: Vec::new(),
            unpacks: Vec::new(),
            last,
            this: Records::default(),
        }
    }

    /// Whether steps of `kind` are looked up and kept; the reason when they are not.
    pub fn takes(&self, kind: Kind) -> Result<(), &'static str> {
        match kind {
            Kind::Run | Kind::Workdir if !self.options.run_layers => {
                Err("--cache-run-layers=false")
            }
            Kind::Files if !self.options.copy_layers => {
                Err("COPY and ADD are cached only with --cache-copy-layers")
            }
            Kind::Metadata => Err("it writes no layer"),
            _ => Ok(()),
        }
    }

    /// Probes every store for `keys` at once (each store's probes in parallel), then reads
    /// the entries found, also in parallel. A failed probe is a miss, logged.
    pub fn probe(&mut self, keys: &[CacheKey]) {
        let mut wanted: Vec<CacheKey> = keys
            .iter()
            .filter(|k| self.probed.insert(k.digest().clone()))
            .cloned()
            .collect();
        if wanted.is_empty() {
            return;
        }
        let stores = self.options.stores.clone();
        let found = self.runtime.block_on(async move {
            let mut found = Vec::new();
            for (index, store) in stores.iter().enumerate() {
                if wanted.is_empty() {
                    break;
                }
                let answers = store.probe(&wanted).await;
                let mut hits = Vec::new();
                let mut rest = Vec::new();
                for (key, answer) in wanted.into_iter().zip(answers) {
                    match answer {
                        Ok(true) => hits.push(key),
                        Ok(false) => rest.push(key),
                        Err(e) => {
                            tracing::warn!("{}: {}", store.describe(), chain_text(&e));
                            rest.push(key);
                        }
                    }
                }
                let gets = hits.iter().map(|k| store.get(k));
                let entries = futures_util::future::join_all(gets).await;
                for (key, entry) in hits.into_iter().zip(entries) {
                    match entry {
                        Ok(Some(step)) => found.push((key.digest().clone(), (step, index))),
                        // Expired, or its blob is gone: the next store may have it.
                        Ok(None) => rest.push(key),
                        Err(e) => {
                            tracing::warn!("{}: {}", store.describe(), chain_text(&e));
                            rest.push(key);
                        }
                    }
                }
                wanted = rest;
            }
            found
        });
        self.found.extend(found);
    }

    /// The cached step of `key` (probing it now if it was not), or why there is none.
    pub fn lookup(
        &mut self,
        key: &CacheKey,
        position: &str,
    ) -> Result<(CachedStep, String), String> {
        self.probe(std::slice::from_ref(key));
        if let Some((step, store)) = self.found.get(key.digest()) {
            return Ok((step.clone(), self.options.stores[*store].describe()));
        }
        Err(self.explain(key, position))
    }

    fn explain(&self, key: &CacheKey, position: &str) -> String {
        let Some(old) = self.last.steps.get(position) else {
            return "no earlier build of this step is recorded".to_owned();
        };
        let differs = key
            .components()
            .iter()
            .find(|(name, digest)| old.get(*name).is_none_or(|d| d != digest.as_str()));
        match differs.map(|(name, _)| *name) {
            Some("parent") => "the step before it or the base image changed".to_owned(),
            Some("instruction") => "the instruction changed".to_owned(),
            Some("variables") => "an ARG or ENV value it sees changed".to_owned(),
            Some("sources") => "its source files changed".to_owned(),
            Some("from") => "the stage or image it copies from changed".to_owned(),
            Some("platform") => "the platform or the layer compression changed".to_owned(),
            Some(other) => format!("the {other} changed"),
            None => "its entry is gone (expired, or never stored)".to_owned(),
        }
    }

    /// Remembers `key` as the key of the step at `position`, for the next build's reasons.
    pub fn record(&mut self, position: String, key: &CacheKey) {
        let components = key
            .components()
            .iter()
            .map(|(name, digest)| ((*name).to_owned(), digest.as_str().to_owned()))
            .collect();
        self.this.steps.insert(position, components);
    }

    /// Keeps the last build's record of the step at `position` for the next build: the step
    /// hit by a key that has no components to record (a `COPY --from` found by its stage).
    pub fn carry_record(&mut self, position: &str) {
        if let Some(old) = self.last.steps.get(position) {
            self.this.steps.insert(position.to_owned(), old.clone());
        }
    }

    /// Starts keeping `step` under `key` in every store that takes puts.
    pub fn put(&mut self, key: &CacheKey, step: CachedStep) {
        for store in &self.options.stores {
            if store.is_remote() && !self.options.push {
                continue;
            }
            let (store, key, step) = (store.clone(), key.clone(), step.clone());
            let name = store.describe();
            let task = self
                .runtime
                .spawn(async move { store.put(&key, &step).await });
            self.puts.push((name, task));
        }
        let unpacked = self.options.unpacked.clone();
        if let (Some(store), Some(layer)) = (unpacked, &step.layer) {
            if let BlobLocation::File(blob) = &layer.blob {
                let (digest, blob) = (layer.descriptor.digest.clone(), blob.clone());
                let task = self
                    .runtime
                    .spawn_blocking(move || store.unpack(&digest, &blob).map(drop));
                self.unpacks.push(task);
            }
        }
    }

    /// Waits for the puts, logging those that failed, and writes the records.
    pub fn finish(&mut self) {
        for (store, task) in self.puts.drain(..) {
            match self.runtime.block_on(task) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("{store}: {}", chain_text(&e)),
                Err(e) => tracing::warn!("{store}: the put stopped: {e}"),
            }
        }
        for task in self.unpacks.drain(..) {
            match self.runtime.block_on(task) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("{}", chain_text(&e)),
                Err(e) => tracing::warn!("unpacking a layer into the cache dir stopped: {e}"),
            }
        }
        if let Some(path) = &self.options.records {
            if let Err(e) = self.this.write(path) {
                tracing::warn!("cannot record the cache keys in {}: {e}", path.display());
            }
        }
    }
}

/// A cached step as a layer of the image being built: a local file, or a blob of the cache
/// repository (downloaded into `blob_dir` only when something needs its bytes).
pub(super) fn layer_blob(layer: &CachedLayer, blob_dir: &Path) -> LayerBlob {
    match &layer.blob {
        BlobLocation::File(path) => LayerBlob {
            descriptor: layer.descriptor.clone(),
            path: path.clone(),
            source: None,
        },
        BlobLocation::Registry(repo) => LayerBlob {
            descriptor: layer.descriptor.clone(),
            path: blob_dir.join(layer.descriptor.digest.hex()),
            source: Some(repo.clone()),
        },
    }
}

/// What a step that just ran made, as a store keeps it.
pub(super) fn made(layers: &[LayerBlob], diff_ids: &[kiln_oci::DiffId]) -> Option<CachedStep> {
    match (layers, diff_ids) {
        ([], _) => Some(CachedStep {
            layer: None,
            config_delta: kiln_oci::Config::default(),
        }),
        ([layer], [.., diff_id]) => Some(CachedStep {
            layer: Some(CachedLayer {
                descriptor: layer.descriptor.clone(),
                diff_id: diff_id.clone(),
                blob: BlobLocation::File(layer.path.clone()),
            }),
            config_delta: kiln_oci::Config::default(),
        }),
        // A step that wrote several layers (none does today) is not kept.
        _ => None,
    }
}

/// Adds the cached `step` to a stage: its layer (or an empty step) with `history`.
pub(super) fn apply_hit(
    config: &mut kiln_oci::ConfigFile,
    layers: &mut Vec<LayerBlob>,
    step: &CachedStep,
    history: History,
    blob_dir: &Path,
) {
    match &step.layer {
        Some(layer) => {
            config.push_layer(layer.diff_id.clone(), history);
            layers.push(layer_blob(layer, blob_dir));
        }
        None => config.push_empty_step(history),
    }
}

/// The keys of each step of the last build of a Dockerfile and target, by position
/// (`<stage>/<step>`): component name to digest.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Records {
    version: String,
    steps: BTreeMap<String, BTreeMap<String, String>>,
}

impl Records {
    fn read(path: &Path) -> Records {
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Records>(&b).ok())
            .filter(|r| r.version == key::VERSION)
            .unwrap_or_default()
    }

    fn write(&mut self, path: &Path) -> std::io::Result<()> {
        self.version = key::VERSION.to_owned();
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
        std::io::Write::write_all(&mut tmp, &bytes)?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// An error and its causes on one line.
pub(super) fn chain_text(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
