//! The executor: runs a planned build stage by stage and assembles the target's image.
//!
//! Owns the loop of a build, as Kaniko's executor and BuildKit's Dockerfile frontend order it:
//! for each stage of the [`Plan`], its base ([`base`]: `scratch`, an earlier stage, or an image
//! from `--cache-dir` or the registry for the stage's platform), the ONBUILD triggers of that
//! base, then each instruction in order with a step header (`[stage 1/2] step 3/7: RUN make`):
//! metadata instructions through [`crate::exec::apply`], WORKDIR's directory and RUN in the
//! stage rootfs with a layer when something changed (`step`), COPY and ADD from the build
//! context with a layer of what they wrote (`files`). The rootfs is made only when a stage
//! has a step that needs the filesystem: extracted into a directory, or with a cache dir, an
//! overlay of layers kept unpacked there ([`overlay`]). A stage whose layers nothing reads
//! ([`Plan::layers_unused`]: not the target, no stage's base) writes no layers and takes no
//! snapshots: later stages read its rootfs directory. Once no later stage reads a finished
//! stage, its rootfs is removed in the background ([`Removals`]); the caller waits for that
//! ([`BuiltImage::removals`]) before removing the work area. The isolation is resolved before the
//! first stage when the build has a RUN: with `none` a stage's rootfs is `/` itself, cleared
//! and extracted with the in-place ignore list ([`inplace`]); a later `COPY --from` such a
//! stage extracts its layers into the work area. The target stage's config and manifest are
//! [`assemble`]'s; writing the image anywhere is [`output`]'s.
//!
//! Does not own: flags (the `kiln` binary), the pure instruction semantics ([`crate::exec`]),
//! namespaces (`kiln-sandbox`), snapshots and layer bytes (`kiln-fs`).
//! Reference: <https://docs.docker.com/reference/dockerfile/>.

mod assemble;
pub mod base;
mod cache_steps;
pub mod cached;
mod error;
mod files;
mod inplace;
pub mod output;
mod overlay;
mod removal;
mod run_mount;
mod step;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln_dockerfile::Dockerfile;
use kiln_dockerfile::instruction::Instruction;
use kiln_fs::layer::LayerOptions;
use kiln_fs::snapshot::{self, SnapshotMode};
use kiln_oci::{Digest, Family, Manifest, Reference};
use kiln_registry::RegistryClient;
use kiln_sandbox::{Isolation, Sandbox};

pub use base::{LayerBlob, StageImage};
pub use cached::{CacheOutcome, CacheStore, LayerCacheOptions};
pub use error::Error;
pub use files::ContextDir;
pub use inplace::InPlace;
pub use output::Uploads;
pub use overlay::unmount_below;
pub use removal::Removals;
pub use run_mount::{RunMountOptions, Secret, SecretSource, SshAgent};

use crate::events::{Event, Events};
use crate::exec::{self, Clock, StageState};
use crate::plan::{Base, Plan, PlanOptions};
use crate::warm::BaseImageCache;

/// What one build asks of the executor.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub plan: PlanOptions,
    /// A directory for this build's rootfs, layers and blobs (under the kaniko dir).
    pub work_dir: PathBuf,
    /// `--cache-dir`, read for base images before the registry.
    pub cache: Option<BaseImageCache>,
    /// `--isolation`.
    pub isolation: Isolation,
    /// What a build in place (`--isolation=none`) leaves alone.
    pub in_place: InPlace,
    pub layer: LayerOptions,
    pub snapshot_mode: SnapshotMode,
    /// `--ignore-path`: never part of a layer.
    pub ignore_paths: Vec<PathBuf>,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
    /// Whether `--custom-platform` was given: the image then says that platform.
    pub explicit_platform: bool,
    pub clock: Clock,
    /// Where COPY and ADD read from; `None` fails them.
    pub context: Option<ContextDir>,
    /// Cache mounts and secrets for `RUN --mount`.
    pub run_mounts: RunMountOptions,
    /// Where the target's layers are uploaded as soon as they are written, while later steps
    /// run (`--destination`); empty for `--no-push`. The manifest is [`output::push`]'s.
    pub push_to: Vec<Reference>,
    /// Where progress events go.
    pub events: Events,
    /// `--cache`: the layer cache, when on.
    pub layer_cache: Option<LayerCacheOptions>,
}

/// The target stage's image, its blobs on disk.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    pub manifest: Manifest,
    pub config_bytes: Vec<u8>,
    pub layers: Vec<LayerBlob>,
    /// How many layers this build made (the rest came from the base).
    pub new_layers: usize,
    /// Each step that ran, as its header names it, and how long it took.
    pub timings: Vec<(String, std::time::Duration)>,
    /// With `--cache`: how each step that writes layers went with the cache, by header.
    pub cache: Vec<(String, CacheOutcome)>,
    /// The layer uploads started during the build, when it pushes.
    pub uploads: Option<Uploads>,
    /// Removals of stage filesystems that may still run: wait for them before removing
    /// the work area.
    pub removals: Removals,
}

impl BuiltImage {
    pub fn digest(&self) -> Digest {
        self.manifest.digest()
    }

    /// Config, manifest and layers, in bytes.
    pub fn size(&self) -> u64 {
        self.config_bytes.len() as u64
            + self.manifest.to_json().len() as u64
            + self.layers.iter().map(|l| l.descriptor.size).sum::<u64>()
    }

    /// Downloads the layers that are not on disk (base or cached layers no step needed) for
    /// the outputs that hold every blob: the tarball and the OCI layout.
    pub fn fetch_layers(
        &self,
        registry: &RegistryClient,
        runtime: &tokio::runtime::Runtime,
    ) -> Result<(), Error> {
        base::fetch(&self.layers, registry, runtime)
    }

    /// The image as the output writers take it.
    pub fn to_local(&self) -> Result<kiln_oci::LocalImage, Error> {
        kiln_oci::LocalImage::from_manifest(
            &self.manifest,
            self.config_bytes.clone(),
            self.layers.iter().map(|l| l.path.clone()).collect(),
        )
        .map_err(|e| Error::Image(Box::new(e)))
    }
}

/// A finished stage, for later stages built FROM it.
struct DoneStage {
    state: StageState,
    image: StageImage,
    /// Its filesystem, when a step needed it (a later `COPY --from` reads it).
    rootfs: Option<PathBuf>,
    /// Whether its steps wrote no layers (the plan's [`Plan::layers_unused`]): its
    /// filesystem is then only in `rootfs`.
    layerless: bool,
}

/// Where a stage's filesystem goes when a step first needs it.
struct StageFs<'a> {
    stage: &'a crate::StageRef,
    dir: &'a Path,
    /// Whether its steps write layers.
    layers: bool,
}

/// Runs the build of `file` (whose text is `source`, for step headers) and returns the
/// target's image. `runtime` drives registry I/O; this function blocks.
pub fn build(
    file: &Dockerfile,
    source: &str,
    options: &BuildOptions,
    registry: &RegistryClient,
    runtime: &tokio::runtime::Runtime,
) -> Result<BuiltImage, Error> {
    let plan = Plan::new(file, &options.plan)?;
    let registry = &options.events.client(registry);
    let uploads = (!options.push_to.is_empty())
        .then(|| Uploads::new(&options.push_to, registry, runtime, &options.events));
    let mut executor = Executor {
        file,
        lines: source.lines().collect(),
        options,
        registry,
        runtime,
        uploads: uploads.clone(),
        in_target: output::stages_in_target(&plan),
        layers_unused: plan.layers_unused(),
        plan: &plan,
        sandbox: Sandbox::current_exe(),
        isolation: None,
        in_place: None,
        done: BTreeMap::new(),
        context_source: None,
        copy_images: files::CopyImages::new(),
        timings: Vec::new(),
        removals: Removals::default(),
        cache: options
            .layer_cache
            .clone()
            .map(|c| cached::BuildCache::new(c, runtime)),
        cache_outcomes: Vec::new(),
        chains: BTreeMap::new(),
        pulled: BTreeMap::new(),
        copy_image_digests: BTreeMap::new(),
        source_digests: BTreeMap::new(),
        overlays: BTreeMap::new(),
        overlay_off: None,
    };
    if let Some(cache) = &executor.cache {
        if let Some(store) = &cache.options.unpacked {
            store.remove_leftovers();
        }
        // Every stage writes layers, so that each step can be kept and found again.
        executor.layers_unused.clear();
        executor.probe_all();
    }
    let removals = executor.removals.clone();
    // Where a stage's rootfs lives depends on the mode: decided before the first one opens.
    if let Some((span, stage)) = first_run(file, &plan) {
        executor.isolation(span, &stage)?;
    }
    let total = plan.stages.len();
    for (position, planned) in plan.stages.iter().enumerate() {
        let built = executor.build_stage(position, total, planned.index);
        let done = match built {
            Ok(done) => done,
            Err(e) => {
                uploads.iter().for_each(Uploads::abort);
                // What the steps before the failure made is kept for the next build.
                if let Some(cache) = &mut executor.cache {
                    cache.finish();
                }
                removals.wait();
                return Err(e);
            }
        };
        executor.done.insert(planned.index, done);
        executor.remove_unread(position);
    }
    if let Some(cache) = &mut executor.cache {
        cache.finish();
    }
    let target = executor
        .done
        .remove(&plan.target)
        .ok_or_else(|| Error::Invariant {
            what: "a target stage the plan does not build".to_owned(),
        })?;
    let mut image = assemble::assemble(target, options);
    image.timings = executor.timings;
    image.cache = executor.cache_outcomes;
    image.uploads = uploads;
    image.removals = removals;
    Ok(image)
}

struct Executor<'a> {
    file: &'a Dockerfile,
    lines: Vec<&'a str>,
    options: &'a BuildOptions,
    registry: &'a RegistryClient,
    runtime: &'a tokio::runtime::Runtime,
    /// Uploads of the target's layers, when the build pushes.
    uploads: Option<Uploads>,
    /// The stages whose layers end up in the target image.
    in_target: std::collections::BTreeSet<usize>,
    /// The stages whose layers nothing reads, which write none when their rootfs is kept.
    layers_unused: std::collections::BTreeSet<usize>,
    plan: &'a Plan,
    sandbox: Sandbox,
    /// The isolation `auto` resolved to, chosen before the first stage when any RUN.
    isolation: Option<Isolation>,
    /// With `none`: what building in `/` leaves alone, made at the first stage built there.
    in_place: Option<kiln_fs::ignore_list::IgnoreList>,
    done: BTreeMap<usize, DoneStage>,
    /// The build context, opened at the first COPY or ADD.
    context_source: Option<kiln_fs::copy::Source>,
    /// Images `COPY --from` extracted, by reference and platform.
    copy_images: files::CopyImages,
    timings: Vec<(String, std::time::Duration)>,
    /// Stage filesystems being removed.
    removals: Removals,
    /// The layer cache, with `--cache`.
    cache: Option<cached::BuildCache>,
    cache_outcomes: Vec<(String, CacheOutcome)>,
    /// Where each finished stage's chain of cache keys ended.
    chains: BTreeMap<usize, cached::Chain>,
    /// Base images resolved before their stage, by stage index.
    pulled: BTreeMap<usize, base::Pulled>,
    /// Manifest digests of the images `COPY --from` names, by reference and platform.
    copy_image_digests: BTreeMap<String, Digest>,
    /// The sources digests of COPY and ADD steps, by stage index and step.
    source_digests: BTreeMap<(usize, usize), Result<Digest, String>>,
    /// The stage rootfs mounted as overlays ([`overlay`]), with their upper and work
    /// directories' directory.
    overlays: BTreeMap<PathBuf, PathBuf>,
    /// Why stage rootfs are extracted rather than mounted, once that is known for the build.
    overlay_off: Option<String>,
}

impl Executor<'_> {
    /// Starts removing the rootfs of the finished stages no stage after `position` reads.
    fn remove_unread(&mut self, position: usize) {
        let trash = self.options.work_dir.join("trash");
        let mut unmount = Vec::new();
        for (&index, done) in &mut self.done {
            if self
                .plan
                .last_reader(index)
                .is_some_and(|last| last > position)
            {
                continue;
            }
            if let Some(rootfs) = done.rootfs.take() {
                unmount.push(rootfs);
            }
        }
        for rootfs in unmount {
            self.unmount_rootfs(&rootfs);
            self.removals.start(&rootfs, &trash);
        }
    }

    fn build_stage(
        &mut self,
        position: usize,
        total: usize,
        index: usize,
    ) -> Result<DoneStage, Error> {
        let planned = self
            .plan
            .stages
            .iter()
            .find(|s| s.index == index)
            .cloned()
            .ok_or_else(|| Error::Invariant {
                what: "a stage the plan does not list".to_owned(),
            })?;
        let stage_ref = planned.stage_ref();
        let escape = self.file.escape;
        let target_platform = &self.options.plan.target_platform;
        let platform = planned
            .platform
            .clone()
            .unwrap_or_else(|| target_platform.clone());
        let (mut state, mut image, mut chain) = match &planned.base {
            Base::Scratch => (
                StageState::scratch(stage_ref.clone(), target_platform, escape),
                StageImage {
                    family: Family::Docker,
                    layers: Vec::new(),
                },
                cached::Chain::Scratch,
            ),
            Base::Stage(i) => {
                let prev = self.done.get(i).ok_or_else(|| Error::Invariant {
                    what: format!("FROM stage {i}, which was not built"),
                })?;
                let chain = self
                    .chains
                    .get(i)
                    .cloned()
                    .unwrap_or(cached::Chain::Scratch);
                (
                    prev.state.child(stage_ref.clone()),
                    prev.image.clone(),
                    chain,
                )
            }
            Base::Image(reference) => {
                let pulled = match self.pulled.remove(&index) {
                    Some(pulled) => pulled,
                    None => self.pull_base(reference, &platform)?,
                };
                (
                    StageState::from_image(stage_ref.clone(), pulled.config, escape),
                    pulled.image,
                    cached::Chain::Image(pulled.digest),
                )
            }
        };
        let (instructions, triggers) = self.stage_instructions(&mut state, index)?;
        let needs_fs = instructions.iter().any(|i| {
            matches!(
                i,
                Instruction::Run(_)
                    | Instruction::Copy(_)
                    | Instruction::Add(_)
                    | Instruction::Workdir { .. }
            )
        });
        let stage_dir = self.options.work_dir.join(format!("stage{index}"));
        // An ONBUILD trigger may bring the first RUN.
        if let Some(run) = instructions.iter().find_map(|i| match i {
            Instruction::Run(run) => Some(run),
            _ => None,
        }) {
            self.isolation(run.span, &stage_ref)?;
        }
        // In place, / is cleared for the next stage: only layers keep what a stage made.
        let in_place = self.isolation == Some(Isolation::None);
        let fs = StageFs {
            stage: &stage_ref,
            dir: &stage_dir,
            layers: in_place || !self.layers_unused.contains(&index),
        };
        // With the cache, the filesystem is extracted only when a step misses.
        let mut rootfs = if needs_fs && self.cache.is_none() {
            Some(self.open_rootfs(fs.stage, &image, fs.dir, fs.layers)?)
        } else {
            None
        };
        let key_platform = self.key_platform(&platform);
        let steps = instructions.len();
        for (n, instruction) in instructions.iter().enumerate() {
            let step = n + 1;
            let prefix = format!("[stage {}/{total}] step {step}/{steps}:", position + 1);
            let header = match triggers.get(n) {
                Some(trigger) => format!("{prefix} {trigger} (ONBUILD trigger of the base)"),
                None => format!("{prefix} {}", self.text_of(instruction)),
            };
            tracing::info!(target: crate::events::LOG_TARGET, "{header}");
            self.options.events.emit(Event::StepStarted {
                stage: position + 1,
                stages: total,
                step,
                steps,
                header: header.clone(),
            });
            let started = std::time::Instant::now();
            let layers_before = image.layers.len();
            if self.cache.is_some() {
                let text = self.key_text(instruction, triggers.get(n));
                let cached = cache_steps::CachedStepRun {
                    instruction,
                    text: &text,
                    step,
                    prefix: &prefix,
                    platform: &key_platform,
                    fs: &fs,
                };
                if let Some(outcome) =
                    self.cached_step(&mut state, &mut image, &mut rootfs, &mut chain, &cached)?
                {
                    tracing::info!("{prefix} {outcome}");
                    self.cache_outcomes.push((header.clone(), outcome));
                }
            } else {
                self.step(
                    &mut state,
                    &mut image,
                    rootfs.as_mut(),
                    instruction,
                    step,
                    &prefix,
                    &stage_dir,
                )?;
            }
            self.layers_written(&image.layers[layers_before..], &stage_ref, index, step);
            self.options.events.emit(Event::StepFinished {
                header: header.clone(),
                elapsed: started.elapsed(),
            });
            self.timings.push((header, started.elapsed()));
        }
        self.chains.insert(index, chain);
        Ok(DoneStage {
            state,
            image,
            // A stage built in / is gone once the next one clears it: its layers remain.
            layerless: rootfs.as_ref().is_some_and(|r| !r.layers),
            rootfs: rootfs.map(|r| r.path).filter(|p| p != Path::new("/")),
        })
    }

    /// The base image of a stage, resolved (its layers are downloaded when needed).
    fn pull_base(
        &self,
        reference: &Reference,
        platform: &kiln_oci::Platform,
    ) -> Result<base::Pulled, Error> {
        let image = reference.to_string();
        self.options.events.emit(Event::PullStarted { image });
        self.resolve_image(reference, platform)
    }

    /// `reference` for `platform`, from the cache dir or the registry, its layers to be
    /// downloaded into the build's blobs when needed.
    fn resolve_image(
        &self,
        reference: &Reference,
        platform: &kiln_oci::Platform,
    ) -> Result<base::Pulled, Error> {
        base::pull(
            reference,
            platform,
            self.options.cache.as_ref(),
            self.registry,
            self.runtime,
            &self.options.work_dir.join("blobs"),
        )
    }

    /// The instructions a stage runs: its base's ONBUILD triggers (taken from `state`), then
    /// its own; and the triggers' text.
    fn stage_instructions(
        &self,
        state: &mut StageState,
        index: usize,
    ) -> Result<(Vec<Instruction>, Vec<String>), Error> {
        let stage = &self.file.stages[index];
        let triggers = state.take_onbuild_triggers();
        let mut instructions =
            exec::trigger_instructions(&triggers, &state.stage, stage.from.span)?;
        instructions.extend(stage.instructions.iter().cloned());
        Ok((instructions, triggers))
    }

    /// Reports the layers a step wrote and starts uploading those of the target image.
    fn layers_written(
        &self,
        layers: &[LayerBlob],
        stage: &crate::StageRef,
        index: usize,
        step: usize,
    ) {
        for layer in layers {
            self.options.events.emit(Event::LayerWritten {
                stage: stage.clone(),
                step,
                digest: layer.descriptor.digest.clone(),
                size: layer.descriptor.size,
            });
            if let Some(uploads) = self
                .uploads
                .as_ref()
                .filter(|_| self.in_target.contains(&index))
            {
                uploads.start(layer);
            }
        }
    }

    /// The instruction as written (its first line), for step headers.
    fn text_of(&self, instruction: &Instruction) -> String {
        let span = instruction.span();
        self.lines
            .get(span.start_line.saturating_sub(1))
            .map_or_else(
                || instruction.keyword().as_str().to_owned(),
                |l| kiln_fs::fetch::redact_userinfo(l.trim()),
            )
    }

    /// The stage's rootfs with its base extracted: a directory of the work area, or `/`
    /// itself, cleared first, when building in place.
    fn open_rootfs(
        &mut self,
        stage: &crate::StageRef,
        image: &StageImage,
        stage_dir: &Path,
        write_layers: bool,
    ) -> Result<step::Rootfs, Error> {
        let in_place = self.isolation == Some(Isolation::None);
        let path = if in_place {
            PathBuf::from("/")
        } else {
            stage_dir.join("rootfs")
        };
        let ignore_list = match &self.in_place {
            Some(list) => Some(list.clone()),
            None if in_place => {
                let list = inplace::ignore_list(
                    &self.options.in_place,
                    &self.options.work_dir,
                    &self.options.ignore_paths,
                )?;
                self.in_place = Some(list.clone());
                Some(list)
            }
            None => None,
        };
        if let Some(list) = &ignore_list {
            let removed = inplace::clear_root(list, stage)?;
            tracing::info!("building {stage} in place: deleted {removed} entries of /");
        }
        let mounted = match &ignore_list {
            None => self.mount_rootfs(stage, image, stage_dir, &path)?,
            Some(_) => None,
        };
        let (root, placeholders) = match mounted {
            Some(root) => (root, Default::default()),
            None => self.extract_rootfs(stage, image, &path, ignore_list.as_ref())?,
        };
        let ignore = match &ignore_list {
            Some(list) => list.to_snapshot_ignore(),
            None => snapshot::ignore_paths(self.options.ignore_paths.clone()),
        };
        // In place, `/` is cleared by the next stage: the layers must be written.
        let write_layers = write_layers || in_place;
        let snapshot = if write_layers {
            snapshot::walk(&path, &ignore).map_err(|source| Error::Snapshot {
                stage: stage.clone(),
                step: 0,
                source: Box::new(source),
            })?
        } else {
            snapshot::Snapshot::empty(&path)
        };
        Ok(step::Rootfs {
            path,
            root,
            snapshot,
            ignore,
            placeholders,
            layers: write_layers,
            holds: image.layers.len(),
        })
    }

    /// Extracts `image`'s layers into `path`, or into `/` past `in_place` when building there.
    fn extract_rootfs(
        &self,
        stage: &crate::StageRef,
        image: &StageImage,
        path: &Path,
        in_place: Option<&kiln_fs::ignore_list::IgnoreList>,
    ) -> Result<(kiln_fs::resolve::Root, kiln_fs::extract::Placeholders), Error> {
        tracing::info!(
            target: crate::events::LOG_TARGET,
            "extracting {} layers for {stage} into {}",
            image.layers.len(),
            path.display()
        );
        let (layers, extracting) = (image.layers.len(), std::time::Instant::now());
        let events = &self.options.events;
        events.emit(Event::ExtractStarted {
            stage: stage.clone(),
            layers,
        });
        base::fetch(&image.layers, self.registry, self.runtime)?;
        let extracted = match in_place {
            Some(list) => base::materialize_in_place(stage, &image.layers, list, events)?,
            None => base::materialize(stage, &image.layers, path, events)?,
        };
        events.emit(Event::ExtractFinished {
            stage: stage.clone(),
            layers,
            elapsed: extracting.elapsed(),
        });
        Ok(extracted)
    }

    fn isolation(
        &mut self,
        span: kiln_dockerfile::Span,
        stage: &crate::StageRef,
    ) -> Result<Isolation, Error> {
        if let Some(isolation) = self.isolation {
            return Ok(isolation);
        }
        let probe = self
            .sandbox
            .choose(self.options.isolation)
            .map_err(|source| Error::Sandbox {
                span,
                stage: stage.clone(),
                command: "the isolation probe".to_owned(),
                source: Box::new(source),
            })?;
        if probe.isolation == Isolation::None && self.options.isolation == Isolation::None {
            inplace::check_container(&self.options.in_place).map_err(|source| Error::Sandbox {
                span,
                stage: stage.clone(),
                command: "RUN in place in /".to_owned(),
                source: Box::new(source),
            })?;
        }
        tracing::info!("isolation {}: {}", probe.isolation, probe.reason);
        self.isolation = Some(probe.isolation);
        Ok(probe.isolation)
    }

    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        state: &mut StageState,
        image: &mut StageImage,
        rootfs: Option<&mut step::Rootfs>,
        instruction: &Instruction,
        step: usize,
        prefix: &str,
        stage_dir: &Path,
    ) -> Result<(), Error> {
        let stage = state.stage.clone();
        let layer_dir = self.options.work_dir.join("layers");
        let family = assemble::layer_family(image.family, &self.options.layer);
        let settings = step::LayerSettings {
            options: &self.options.layer,
            mode: self.options.snapshot_mode,
            family,
            dir: &layer_dir,
        };
        match instruction {
            Instruction::Copy(copy) => {
                let from = match &copy.from {
                    Some(word) => Some(self.copy_source(word, copy.from_span, &stage)?),
                    None => None,
                };
                let file_step = files::FileStep {
                    args: exec::copy_args(state, copy)?,
                    files: &copy.files,
                    parents: copy.parents,
                    add: false,
                    checksum: None,
                    keep_git_dir: false,
                    span: copy.files.span,
                    step,
                };
                match from {
                    Some(source) => {
                        self.copy_from(state, image, rootfs, &file_step, &settings, &source)
                    }
                    None => self.copy(state, image, rootfs, &file_step, &settings),
                }
            }
            Instruction::Add(add) => {
                let file_step = files::FileStep {
                    args: exec::add_args(state, add)?,
                    files: &add.files,
                    parents: false,
                    add: true,
                    checksum: add.checksum.clone(),
                    keep_git_dir: add.keep_git_dir,
                    span: add.files.span,
                    step,
                };
                self.copy(state, image, rootfs, &file_step, &settings)
            }
            Instruction::Run(run) => {
                let network = step::check_run_flags(run, &stage)?;
                let rootfs = rootfs.ok_or_else(|| Error::Invariant {
                    what: "RUN in a stage without a rootfs".to_owned(),
                })?;
                let isolation = self.isolation(run.span, &stage)?;
                let scratch = stage_dir.join("run");
                let mounts = self.run_mounts(&run_mount::MountContext {
                    run,
                    state,
                    scratch: &scratch,
                })?;
                let rootfs_path = rootfs.path.clone();
                let process = exec::run::process(state, run, self.plan, |user| {
                    kiln_sandbox::user::resolve_in_rootfs(&rootfs_path, user)
                        .ok()
                        .map(|u| u.home)
                });
                let ctx = step::RunContext {
                    sandbox: &self.sandbox,
                    isolation,
                    scratch: &scratch,
                    prefix,
                    network,
                    mounts: &mounts,
                };
                let stubs = step::run(&ctx, rootfs, &process, &stage, step, run.span)?;
                let history = process.history(&self.options.clock);
                match step::snapshot_layer(rootfs, &settings, &stage, step, &stubs)? {
                    Some((blob, diff_id)) => {
                        state.config.push_layer(diff_id, history);
                        image.layers.push(blob);
                    }
                    None => state.config.push_empty_step(history),
                }
                Ok(())
            }
            other => {
                let outcome = exec::apply(state, other, self.plan, &self.options.clock)?;
                let Some(history) = outcome.history else {
                    return Ok(());
                };
                let (Some(dir), Some(rootfs)) = (outcome.create_dir, rootfs) else {
                    state.config.push_empty_step(history);
                    return Ok(());
                };
                create_workdir(rootfs, &dir, state, &stage, other.span())?;
                match step::snapshot_layer(rootfs, &settings, &stage, step, &[])? {
                    Some((blob, diff_id)) => {
                        state.config.push_layer(diff_id, history);
                        image.layers.push(blob);
                    }
                    None => state.config.push_empty_step(history),
                }
                Ok(())
            }
        }
    }
}

/// Creates WORKDIR's directory and its missing parents, owned by the USER in force, as
/// BuildKit's `mkdir -p` with the user does.
fn create_workdir(
    rootfs: &step::Rootfs,
    dir: &str,
    state: &StageState,
    stage: &crate::StageRef,
    span: kiln_dockerfile::Span,
) -> Result<(), Error> {
    let rootfs_error = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Rootfs {
            stage: stage.clone(),
            path,
            source: Box::new(source),
        }
    };
    let missing: Vec<&Path> = Path::new(dir)
        .ancestors()
        .filter(|p| p.parent().is_some() && rootfs.root.open_dir(p).is_err())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    rootfs
        .root
        .create_dir_all(dir, 0o755)
        .map_err(rootfs_error(Path::new(dir)))?;
    let user = state.config.config.user.clone().unwrap_or_default();
    if user.is_empty() {
        return Ok(());
    }
    // BuildKit makes the directory with the file op's user, read as --chown is: `USER 5`
    // gives 5:5 whatever /etc/passwd says.
    let (uid, gid) = files::chown_ids(&rootfs.path, &user).map_err(|source| Error::Chown {
        span,
        stage: stage.clone(),
        value: user.clone(),
        source: Box::new(source),
    })?;
    let meta = kiln_fs::resolve::Metadata {
        uid,
        gid,
        mode: 0o755,
        mtime: None,
        xattrs: Vec::new(),
    };
    for path in missing {
        rootfs
            .root
            .set_metadata(path, &meta)
            .map_err(rootfs_error(path))?;
    }
    Ok(())
}

/// The first RUN the plan builds, with its stage.
fn first_run(file: &Dockerfile, plan: &Plan) -> Option<(kiln_dockerfile::Span, crate::StageRef)> {
    plan.stages.iter().find_map(|planned| {
        file.stages[planned.index]
            .instructions
            .iter()
            .find_map(|i| match i {
                Instruction::Run(run) => Some((run.span, planned.stage_ref())),
                _ => None,
            })
    })
}
