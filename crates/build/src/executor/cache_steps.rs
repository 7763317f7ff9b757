//! The executor's side of the layer cache: the keys of a stage's steps, probing them all
//! before the first step runs, and running a step through the cache ([`cached`] has the
//! rules).
//!
//! Keys are computed twice from the same code: once before the build ([`Executor::probe_all`]
//! walks every stage with the metadata instructions applied to a copy of its state, as the
//! build will, and stops a stage at a step whose key needs its output) and once as each step
//! is reached, from the real state. The second finds the first's probe results by key; a key
//! the first did not reach is looked up when its step is reached.

use std::collections::BTreeMap;

use kiln_dockerfile::instruction::{Instruction, MountType};
use kiln_fs::copy::CopyOp;
use kiln_fs::snapshot;
use kiln_oci::Digest;

use super::cached::{self, CacheOutcome, Chain, KeyParts, Kind, StepKey};
use super::step::Rootfs;
use super::{Error, Executor, StageFs, StageImage, base};
use crate::cache::CachedStep;
use crate::exec::{self, StageState};
use crate::plan::Base;

/// The label a cache entry found by a `COPY --from` step's stage key carries: the step's key
/// by the content it copied, which the chain goes on from.
const CONTENT_KEY_LABEL: &str = "dev.kiln.cache.content-key";

/// One step as [`Executor::cached_step`] runs it.
pub(super) struct CachedStepRun<'a> {
    pub instruction: &'a Instruction,
    /// The instruction as its key reads it.
    pub text: &'a str,
    pub step: usize,
    pub prefix: &'a str,
    pub platform: &'a str,
    pub fs: &'a StageFs<'a>,
}

impl Executor<'_> {
    /// Computes the keys of every step it can before the build and probes the stores for
    /// them at once. Whatever fails here (a base that cannot be pulled, a word that does not
    /// expand) stops that stage's keys only: the build reports it when it gets there.
    pub(super) fn probe_all(&mut self) {
        let mut chains: BTreeMap<usize, Chain> = BTreeMap::new();
        let mut states: BTreeMap<usize, StageState> = BTreeMap::new();
        let mut keys = Vec::new();
        let escape = self.file.escape;
        for planned in self.plan.stages.clone() {
            let index = planned.index;
            let stage_ref = planned.stage_ref();
            let target_platform = self.options.plan.target_platform.clone();
            let platform = planned
                .platform
                .clone()
                .unwrap_or_else(|| target_platform.clone());
            let (mut state, mut chain) = match &planned.base {
                Base::Scratch => (
                    StageState::scratch(stage_ref, &target_platform, escape),
                    Chain::Scratch,
                ),
                Base::Stage(i) => match (states.get(i), chains.get(i)) {
                    (Some(state), Some(chain)) => (state.child(stage_ref), chain.clone()),
                    _ => continue,
                },
                Base::Image(reference) => {
                    let Ok(pulled) = self.pull_base(reference, &platform) else {
                        continue;
                    };
                    let start = (
                        StageState::from_image(stage_ref, pulled.config.clone(), escape),
                        Chain::Image(pulled.digest.clone()),
                    );
                    self.pulled.insert(index, pulled);
                    start
                }
            };
            let Ok((instructions, triggers)) = self.stage_instructions(&mut state, index) else {
                continue;
            };
            let key_platform = self.key_platform(&platform);
            let mut complete = true;
            for (n, instruction) in instructions.iter().enumerate() {
                let text = self.key_text(instruction, triggers.get(n));
                let key = self.step_key(
                    &state,
                    instruction,
                    &text,
                    &chain,
                    &chains,
                    &key_platform,
                    (index, n + 1),
                );
                let Ok(StepKey::Known(key)) = key else {
                    complete = false;
                    break;
                };
                let kind = self.kind_of(&state, instruction);
                if self.cache.as_ref().is_some_and(|c| c.takes(kind).is_ok()) {
                    keys.push(key.clone());
                }
                // After a `COPY --from` a stage, the chain goes on from what it copies,
                // known only once that stage's files are (or its entry is read).
                if let Instruction::Copy(copy) = instruction
                    && let Some(word) = &copy.from
                    && let Ok(super::files::FromTarget::Stage(_)) =
                        self.resolve_from(word, copy.from_span, &state.stage)
                {
                    complete = false;
                    break;
                }
                if !matches!(
                    instruction,
                    Instruction::Run(_) | Instruction::Copy(_) | Instruction::Add(_)
                ) && exec::apply(&mut state, instruction, self.plan, &self.options.clock)
                    .is_err()
                {
                    complete = false;
                    break;
                }
                chain = Chain::Key(key);
            }
            if complete {
                chains.insert(index, chain);
                states.insert(index, state);
            }
        }
        tracing::info!("probing the layer cache for {} steps", keys.len());
        if let Some(cache) = &mut self.cache {
            cache.probe(&keys);
        }
    }

    /// The `platform` component of keys: the platform and the layer settings, which decide
    /// the bytes of a cached layer.
    pub(super) fn key_platform(&self, platform: &kiln_oci::Platform) -> String {
        let layer = &self.options.layer;
        format!(
            "{platform} {:?} level={:?} mtime<={:?}",
            layer.compression, layer.level, layer.clamp_mtime
        )
    }

    /// The instruction as its key reads it: every line of it as written, or the trigger.
    pub(super) fn key_text(&self, instruction: &Instruction, trigger: Option<&String>) -> String {
        if let Some(trigger) = trigger {
            return format!("ONBUILD {trigger}");
        }
        let span = instruction.span();
        let lines = span.start_line.saturating_sub(1)..span.end_line.max(span.start_line);
        self.lines.get(lines).map_or_else(
            || instruction.keyword().as_str().to_owned(),
            |lines| lines.join("\n"),
        )
    }

    /// What `instruction` is for the cache; WORKDIR counts as a filesystem step only when it
    /// creates its directory.
    fn kind_of(&self, state: &StageState, instruction: &Instruction) -> Kind {
        match instruction {
            Instruction::Run(_) => Kind::Run,
            Instruction::Copy(_) | Instruction::Add(_) => Kind::Files,
            Instruction::Workdir { .. } => {
                let mut state = state.clone();
                match exec::apply(&mut state, instruction, self.plan, &self.options.clock) {
                    Ok(outcome) if outcome.create_dir.is_some() => Kind::Workdir,
                    _ => Kind::Metadata,
                }
            }
            _ => Kind::Metadata,
        }
    }

    /// The key of `instruction` in `state` after `chain`; `chains` has where the finished
    /// stages' chains ended, for `COPY --from`.
    #[allow(clippy::too_many_arguments)]
    fn step_key(
        &mut self,
        state: &StageState,
        instruction: &Instruction,
        text: &str,
        chain: &Chain,
        chains: &BTreeMap<usize, Chain>,
        platform: &str,
        position: (usize, usize),
    ) -> Result<StepKey, Error> {
        let image_digest;
        let mut parts = self.key_parts(state, text, platform);
        match instruction {
            Instruction::Run(run) => {
                parts.heredocs = run.heredocs.iter().map(|h| h.content.clone()).collect();
                let env = state.env();
                let binds = run.mounts.iter().any(|m| {
                    m.parse(&state.lexer, &env)
                        .map_or(true, |m| m.kind == MountType::Bind)
                });
                if binds {
                    return Ok(StepKey::Opaque(
                        "RUN --mount=type=bind reads files its key cannot see".to_owned(),
                    ));
                }
            }
            Instruction::Copy(copy) => {
                parts.heredocs = heredoc_contents(&copy.files);
                match &copy.from {
                    Some(word) => match self.resolve_from(word, copy.from_span, &state.stage)? {
                        super::files::FromTarget::Stage(i) => match chains.get(&i) {
                            Some(source) => parts.from = Some(source.as_from()),
                            None => {
                                return Ok(StepKey::Opaque(
                                    "the stage it copies from has no key".to_owned(),
                                ));
                            }
                        },
                        super::files::FromTarget::Image(name) => {
                            image_digest =
                                self.image_digest(&name, copy.from_span, &state.stage)?;
                            parts.from = Some(crate::cache::key::FromSource::Image(&image_digest));
                        }
                    },
                    None => {
                        let args = exec::copy_args(state, copy)?;
                        let op = self.digest_op(state, &args, &copy.files, false, copy.parents);
                        match self.sources_digest(&op, text, position) {
                            Ok(digest) => parts.sources = Some(digest),
                            Err(why) => return Ok(StepKey::Opaque(why)),
                        }
                    }
                }
            }
            Instruction::Add(add) => {
                parts.heredocs = heredoc_contents(&add.files);
                let args = exec::add_args(state, add)?;
                // A Git source counts by the commit its ref names now, asked of the remote
                // without fetching it.
                let agent = self
                    .options
                    .run_mounts
                    .ssh
                    .iter()
                    .find(|a| a.id == "default")
                    .map(|a| a.socket.clone());
                let mut commits = Vec::new();
                for src in args.sources.iter().filter(|s| kiln_fs::fetch::is_git(s)) {
                    match super::files::git_commit(src, agent.as_deref()) {
                        Ok(commit) => commits.push(commit),
                        Err(e) => {
                            return Ok(StepKey::Opaque(format!(
                                "the commit of its Git source cannot be resolved ({e})"
                            )));
                        }
                    }
                }
                let urls = args.sources.iter().any(|s| kiln_fs::fetch::is_http(s));
                if urls && add.checksum.is_none() {
                    return Ok(StepKey::Opaque(
                        "ADD of a URL without --checksum: its content is known only once \
                         downloaded"
                            .to_owned(),
                    ));
                }
                let op = self.digest_op(state, &args, &add.files, true, false);
                let local = match self.sources_digest(&op, text, position) {
                    Ok(digest) => digest,
                    Err(why) => return Ok(StepKey::Opaque(why)),
                };
                // The checksum is in the instruction text, or comes from an ARG, which is a
                // variable: both are in the key.
                parts.sources = Some(match commits.is_empty() {
                    true => local,
                    false => Digest::of(format!("{local} {}", commits.join(" ")).as_bytes()),
                });
            }
            _ => {}
        }
        Ok(StepKey::Known(parts.key(chain)))
    }

    /// The parts of a key every step has: its text and the variables it sees.
    fn key_parts<'a>(&self, state: &StageState, text: &'a str, platform: &'a str) -> KeyParts<'a> {
        let mut variables: Vec<(String, String)> = state.env().into_iter().collect();
        for name in kiln_dockerfile::scope::PROXY_ARGS {
            if let Some(value) = self.plan.build_args.get(*name) {
                variables.push(((*name).to_owned(), value.clone()));
            }
        }
        KeyParts {
            text,
            escape: self.file.escape,
            heredocs: Vec::new(),
            variables,
            sources: None,
            from: None,
            platform,
        }
    }

    /// The copy a COPY or ADD would make, as its sources digest reads it: the owner is left
    /// out, as it comes from the instruction and the rootfs, which the key has already.
    fn digest_op(
        &self,
        state: &StageState,
        args: &exec::FileArgs,
        files: &kiln_dockerfile::instruction::Files,
        add: bool,
        parents: bool,
    ) -> CopyOp {
        let sources: Vec<String> = args
            .sources
            .iter()
            .filter(|s| !add || !(kiln_fs::fetch::is_http(s) || kiln_fs::fetch::is_git(s)))
            .cloned()
            .collect();
        let mut dest = args.dest.clone();
        if args.sources.len() + args.heredocs.len() > 1 && !dest.ends_with('/') {
            dest.push('/');
        }
        let workdir = state.config.config.working_dir.clone().unwrap_or_default();
        CopyOp {
            sources,
            dest,
            workdir: if workdir.is_empty() {
                "/".into()
            } else {
                workdir.into()
            },
            chown: None,
            chmod: args.chmod.clone(),
            exclude: files.excludes.clone(),
            parents,
            add,
        }
    }

    /// The content digest of `op`'s sources in the build context, once per step; `Err` with
    /// the reason when they cannot be read before the step runs (the step then reports it).
    fn sources_digest(
        &mut self,
        op: &CopyOp,
        text: &str,
        position: (usize, usize),
    ) -> Result<Digest, String> {
        if let Some(digest) = self.source_digests.get(&position) {
            return digest.clone();
        }
        let digest = if op.sources.is_empty() {
            Ok(Digest::of(b""))
        } else {
            match (self.open_context(), &self.context_source) {
                (Err(e), _) => Err(e.to_string()),
                (Ok(_), None) => Err("there is no build context".to_owned()),
                (Ok(_), Some(source)) => {
                    let request = crate::cache::sources::Request {
                        op,
                        instruction: text,
                    };
                    crate::cache::sources::digest(source, request)
                        .map_err(|e| format!("its sources cannot be read before it runs ({e})"))
                }
            }
        };
        self.source_digests.insert(position, digest.clone());
        digest
    }

    /// `COPY --from` an earlier stage. Its key by the stage's chain is looked up first (a
    /// hit needs no filesystem at all); otherwise the files it copies are digested in the
    /// stage's filesystem and the step is looked up by that content key. The chain goes on
    /// from the content key either way (an entry found by the stage's key names it), so a
    /// change upstream that leaves the copied files as they were invalidates nothing after.
    fn copy_from_stage(
        &mut self,
        state: &mut StageState,
        image: &mut StageImage,
        rootfs: &mut Option<Rootfs>,
        chain: &mut Chain,
        run: &CachedStepRun<'_>,
        by_stage: &StepKey,
    ) -> Result<Option<CacheOutcome>, Error> {
        let Instruction::Copy(copy) = run.instruction else {
            return Err(Error::Invariant {
                what: "COPY --from a stage without a COPY".to_owned(),
            });
        };
        let position = format!("{}/{}", state.stage.index, run.step);
        let takes = self.cache.as_ref().map(|c| c.takes(Kind::Files));
        if let (StepKey::Known(key), Some(Ok(()))) = (by_stage, takes) {
            let found = self.cache.as_mut().map(|c| c.lookup(key, &position));
            if let Some(Ok((hit, store))) = found {
                let content = hit
                    .config_delta
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(CONTENT_KEY_LABEL))
                    .and_then(|d| d.parse::<Digest>().ok());
                self.take_hit(state, image, run.instruction, &hit)?;
                if let Some(cache) = self.cache.as_mut() {
                    cache.carry_record(&position);
                }
                *chain = Chain::Key(match content {
                    Some(digest) => crate::cache::CacheKey::chained(digest),
                    None => key.clone(),
                });
                return Ok(Some(CacheOutcome::Hit { store }));
            }
        }
        let word = copy.from.as_deref().unwrap_or_default();
        let source = self.copy_source(word, copy.from_span, &state.stage)?;
        let args = exec::copy_args(state, copy)?;
        let op = self.digest_op(state, &args, &copy.files, false, copy.parents);
        let digest = crate::cache::sources::digest(
            &source,
            crate::cache::sources::Request {
                op: &op,
                instruction: run.text,
            },
        );
        let content = match digest {
            Ok(digest) => {
                let mut parts = self.key_parts(state, run.text, run.platform);
                parts.heredocs = heredoc_contents(&copy.files);
                parts.sources = Some(digest);
                Some(parts.key(chain))
            }
            // The copy reports it.
            Err(_) => None,
        };
        let layers_before = image.layers.len();
        let mut outcome = CacheOutcome::Skipped {
            reason: "its sources cannot be read".to_owned(),
        };
        if let Some(content) = &content {
            let cache = self.cache.as_mut().ok_or_else(|| Error::Invariant {
                what: "a cached step without a cache".to_owned(),
            })?;
            cache.record(position.clone(), content);
            outcome = match cache.takes(Kind::Files) {
                Err(reason) => CacheOutcome::Skipped {
                    reason: reason.to_owned(),
                },
                Ok(()) => match cache.lookup(content, &position) {
                    Ok((hit, store)) => {
                        self.take_hit(state, image, run.instruction, &hit)?;
                        *chain = Chain::Key(content.clone());
                        return Ok(Some(CacheOutcome::Hit { store }));
                    }
                    Err(reason) => CacheOutcome::Miss { reason },
                },
            };
        }
        self.run_step(state, image, rootfs, run)?;
        let made = cached::made(
            &image.layers[layers_before..],
            &state.config.rootfs.diff_ids,
        );
        if let (CacheOutcome::Miss { .. }, Some(content), Some(made), Some(cache)) =
            (&outcome, &content, made, self.cache.as_mut())
        {
            if let StepKey::Known(key) = by_stage {
                let mut alias = made.clone();
                alias
                    .config_delta
                    .labels
                    .get_or_insert_with(Default::default)
                    .insert(CONTENT_KEY_LABEL.to_owned(), content.digest().to_string());
                cache.put(key, alias);
            }
            cache.put(content, made);
        }
        *chain = match content {
            Some(content) => Chain::Key(content),
            None => Chain::Key(cached::output_key(
                chain,
                run.text,
                &image.layers[layers_before..],
                run.platform,
            )),
        };
        Ok(Some(outcome))
    }

    /// Runs one step through the cache; the outcome for a step that writes layers.
    pub(super) fn cached_step(
        &mut self,
        state: &mut StageState,
        image: &mut StageImage,
        rootfs: &mut Option<Rootfs>,
        chain: &mut Chain,
        run: &CachedStepRun<'_>,
    ) -> Result<Option<CacheOutcome>, Error> {
        let index = state.stage.index;
        let chains = self.chains.clone();
        let key = self.step_key(
            state,
            run.instruction,
            run.text,
            chain,
            &chains,
            run.platform,
            (index, run.step),
        )?;
        if let Instruction::Copy(copy) = run.instruction
            && let Some(word) = &copy.from
            && let super::files::FromTarget::Stage(_) =
                self.resolve_from(word, copy.from_span, &state.stage)?
        {
            return self.copy_from_stage(state, image, rootfs, chain, run, &key);
        }
        let kind = self.kind_of(state, run.instruction);
        let position = format!("{index}/{}", run.step);
        let layers_before = image.layers.len();
        let mut outcome = None;
        if kind == Kind::Metadata {
            self.step(
                state,
                image,
                None,
                run.instruction,
                run.step,
                run.prefix,
                run.fs.dir,
            )?;
        } else {
            let Some(cache) = self.cache.as_mut() else {
                return Err(Error::Invariant {
                    what: "a cached step without a cache".to_owned(),
                });
            };
            let lookup = match (&key, cache.takes(kind)) {
                (StepKey::Known(k), Ok(())) => {
                    cache.record(position.clone(), k);
                    cache
                        .lookup(k, &position)
                        .map_err(|reason| CacheOutcome::Miss { reason })
                }
                (StepKey::Known(_), Err(reason)) => Err(CacheOutcome::Skipped {
                    reason: reason.to_owned(),
                }),
                (StepKey::Opaque(reason), _) => Err(CacheOutcome::Skipped {
                    reason: reason.clone(),
                }),
            };
            match lookup {
                Ok((hit, store)) => {
                    self.take_hit(state, image, run.instruction, &hit)?;
                    outcome = Some(CacheOutcome::Hit { store });
                }
                Err(missed) => {
                    self.run_step(state, image, rootfs, run)?;
                    if let (CacheOutcome::Miss { .. }, StepKey::Known(k)) = (&missed, &key) {
                        let made = cached::made(
                            &image.layers[layers_before..],
                            &state.config.rootfs.diff_ids,
                        );
                        if let (Some(made), Some(cache)) = (made, self.cache.as_mut()) {
                            cache.put(k, made);
                        }
                    }
                    outcome = Some(missed);
                }
            }
        }
        *chain = match key {
            StepKey::Known(k) => Chain::Key(k),
            StepKey::Opaque(_) => Chain::Key(cached::output_key(
                chain,
                run.text,
                &image.layers[layers_before..],
                run.platform,
            )),
        };
        Ok(outcome)
    }

    /// Runs a step the cache did not answer, in the stage's filesystem brought up to date.
    fn run_step(
        &mut self,
        state: &mut StageState,
        image: &mut StageImage,
        rootfs: &mut Option<Rootfs>,
        run: &CachedStepRun<'_>,
    ) -> Result<(), Error> {
        self.ensure_rootfs(rootfs, image, run.fs)?;
        self.step(
            state,
            image,
            rootfs.as_mut(),
            run.instruction,
            run.step,
            run.prefix,
            run.fs.dir,
        )?;
        if let Some(r) = rootfs.as_mut() {
            r.holds = image.layers.len();
        }
        Ok(())
    }

    /// Adds the cached `hit` of `instruction` to the stage, with the history entry running
    /// the step would have written; a layer held by a registry is downloaded into the build's
    /// blobs only when something needs its bytes.
    fn take_hit(
        &self,
        state: &mut StageState,
        image: &mut StageImage,
        instruction: &Instruction,
        hit: &CachedStep,
    ) -> Result<(), Error> {
        let clock = &self.options.clock;
        let history = match instruction {
            Instruction::Run(run) => {
                exec::run::process(state, run, self.plan, |_| None).history(clock)
            }
            Instruction::Copy(copy) => {
                let args = exec::copy_args(state, copy)?;
                clock.layer(&kiln_fs::fetch::redact_userinfo(&args.created_by))
            }
            Instruction::Add(add) => {
                let args = exec::add_args(state, add)?;
                clock.layer(&kiln_fs::fetch::redact_userinfo(&args.created_by))
            }
            other => {
                let outcome = exec::apply(state, other, self.plan, clock)?;
                outcome.history.unwrap_or_else(|| clock.layer(""))
            }
        };
        let blob_dir = self.options.work_dir.join("blobs");
        cached::apply_hit(
            &mut state.config,
            &mut image.layers,
            hit,
            history,
            &blob_dir,
        );
        Ok(())
    }

    /// Makes the stage's filesystem hold every layer the stage has so far: extracted now
    /// when no step needed it yet, or with the layers of the hits since the last step that
    /// ran added.
    fn ensure_rootfs(
        &mut self,
        rootfs: &mut Option<Rootfs>,
        image: &StageImage,
        fs: &StageFs<'_>,
    ) -> Result<(), Error> {
        let Some(open) = rootfs.as_mut() else {
            *rootfs = Some(self.open_rootfs(fs.stage, image, fs.dir, fs.layers)?);
            return Ok(());
        };
        let missing = &image.layers[open.holds.min(image.layers.len())..];
        if missing.is_empty() {
            return Ok(());
        }
        tracing::info!(
            "extracting {} cached layers for {} into {}",
            missing.len(),
            fs.stage,
            open.path.display()
        );
        base::fetch(missing, self.registry, self.runtime)?;
        let ignore = self.in_place.clone().unwrap_or_default();
        let (_, placeholders) = base::extract(fs.stage, missing, &open.path, ignore)?;
        open.placeholders.extend(placeholders);
        open.holds = image.layers.len();
        if open.layers {
            open.snapshot =
                snapshot::walk(&open.path, &open.ignore).map_err(|source| Error::Snapshot {
                    stage: fs.stage.clone(),
                    step: 0,
                    source: Box::new(source),
                })?;
        }
        Ok(())
    }
}

/// The bodies of the heredoc sources of a COPY or ADD, which its key covers.
fn heredoc_contents(files: &kiln_dockerfile::instruction::Files) -> Vec<String> {
    files.heredocs.iter().map(|h| h.content.clone()).collect()
}
