//! The build plan: which stages to build, in which order, from which bases.
//!
//! Owns resolving a parsed [`Dockerfile`] against the options of one build: `--build-arg`
//! (`K=V`, or a bare `K` taken from the caller's environment), `--target` (a stage name,
//! case-insensitive, or an index; the last stage by default), `--skip-unused-stages`, and the
//! target and build platforms, which fill the predefined platform ARGs ([`platform`]).
//!
//! For each stage it decides the base: `scratch`, an earlier stage (FROM names it,
//! case-insensitively, after meta-ARG expansion) or an image [`Reference`]; the `FROM
//! --platform` value, expanded with the meta ARGs; and the stages it depends on: its base, every
//! `COPY --from` and every `RUN --mount ... from=`, by name or index, its own and those of the
//! ONBUILD triggers of the stage it is built FROM. A `--from` that names no
//! stage is an image, listed in [`PlannedStage::images`]. `--from` values are expanded with the
//! meta ARGs, so `COPY --from=$SRC` works when `SRC` is a meta ARG.
//!
//! Which stages are built follows Kaniko's flag, not BuildKit's default:
//! - with `--skip-unused-stages`, only the target and the stages it needs, transitively (what
//!   BuildKit always does);
//! - without it, every stage up to and including the target, as Kaniko does: stages after the
//!   target are never built.
//!
//! kiln builds stages in file order, which is a dependency order because the front end refuses
//! a reference to the current stage or a later one.
//!
//! Does not own: ARG values inside a stage ([`crate::exec`]), fetching base images, running
//! anything. Reference: <https://docs.docker.com/build/building/multi-stage/>.

pub mod platform;

use std::collections::{BTreeMap, BTreeSet};

use kiln_dockerfile::instruction::Instruction;
use kiln_dockerfile::{ArgScope, Dockerfile, Predefined, Span, Stage};
use kiln_oci::{Platform, Reference};

use crate::error::{Error, StageRef};

/// `--build-arg` values, resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildArgs(pub BTreeMap<String, String>);

impl BuildArgs {
    /// Parses `K=V` and bare `K` (taken from `lookup`, and left unset when `lookup` has no
    /// value, as the docker CLI does). A later value for the same key wins.
    pub fn parse<S: AsRef<str>>(
        args: &[S],
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        let mut out = BTreeMap::new();
        for arg in args {
            let arg = arg.as_ref();
            let (key, value) = match arg.split_once('=') {
                Some((k, v)) => (k, Some(v.to_owned())),
                None => (arg, lookup(arg)),
            };
            if key.is_empty() {
                return Err(Error::InvalidBuildArg {
                    arg: arg.to_owned(),
                });
            }
            if let Some(value) = value {
                out.insert(key.to_owned(), value);
            }
        }
        Ok(Self(out))
    }
}

/// What one build asks of the plan.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    pub build_args: BuildArgs,
    /// `--target`: a stage name (case-insensitive) or index; `None` is the last stage.
    pub target: Option<String>,
    /// `--skip-unused-stages`.
    pub skip_unused_stages: bool,
    /// The platform the image is for (`--custom-platform`, or the host).
    pub target_platform: Platform,
    /// The platform kiln runs on.
    pub build_platform: Platform,
}

/// Where a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// `FROM scratch`: an empty filesystem.
    Scratch,
    /// An earlier stage, by index.
    Stage(usize),
    /// An image from a registry.
    Image(Reference),
}

/// One stage the build runs.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedStage {
    pub index: usize,
    pub name: Option<String>,
    pub base: Base,
    /// `FROM --platform`, expanded; `None` means the target platform. A stage FROM an earlier
    /// stage runs on that stage's platform whatever this says, and `FROM scratch` is for the
    /// target platform, as in BuildKit.
    pub platform: Option<Platform>,
    /// Stages this one reads from (its base, `COPY --from`, `RUN --mount from=`), sorted.
    pub stages: Vec<usize>,
    /// Images `COPY --from` or `RUN --mount from=` read from, expanded, in order.
    pub images: Vec<Reference>,
    /// The FROM line.
    pub span: Span,
}

impl PlannedStage {
    /// The stage as errors and progress name it.
    pub fn stage_ref(&self) -> StageRef {
        StageRef {
            index: self.index,
            name: self.name.clone(),
        }
    }
}

/// The resolved build: stages to run in order, the target and the ARG scope.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The stages to build, in the order to build them.
    pub stages: Vec<PlannedStage>,
    /// The target stage's index in the file.
    pub target: usize,
    /// The meta ARGs and platform ARGs, for ARG declarations inside stages.
    pub scope: ArgScope,
    /// `--build-arg` values.
    pub build_args: BTreeMap<String, String>,
    /// The platform ARG values.
    pub predefined: Predefined,
    /// Meta ARGs whose value came from a `--build-arg` (directly or through a default that
    /// uses one): their values stay out of history.
    pub secret_meta_args: BTreeSet<String>,
}

impl Plan {
    /// Plans `file` for `options`.
    pub fn new(file: &Dockerfile, options: &PlanOptions) -> Result<Self, Error> {
        let build_args = options.build_args.0.clone();
        let predefined = platform::predefined(&options.target_platform, &options.build_platform);
        let scope = ArgScope::new(file, build_args.clone(), &predefined)?;
        let global = scope.global();
        let mut secret_meta_args = BTreeSet::new();
        for arg in &file.meta_args {
            let from_default = arg
                .default
                .as_deref()
                .is_some_and(|d| mentions_any(d, &secret_meta_args));
            if build_args.contains_key(&arg.name) || from_default {
                secret_meta_args.insert(arg.name.clone());
            }
        }
        let target = resolve_target(file, options.target.as_deref())?;
        let lexer = file.lexer();
        let expand = |word: &str, span: Span, stage: &Stage| {
            lexer
                .expand_word(word, &global)
                .map_err(|source| Error::Expand {
                    span,
                    stage: stage_ref(stage),
                    word: word.to_owned(),
                    source: Box::new(source),
                })
        };
        let mut planned: Vec<PlannedStage> = Vec::with_capacity(file.stages.len());
        for stage in &file.stages {
            let from = &stage.from;
            let image = expand(&from.image, from.span, stage)?;
            if image.is_empty() {
                return Err(Error::BlankBase {
                    span: from.span,
                    stage: stage_ref(stage),
                    word: from.image.clone(),
                });
            }
            let base = if image.eq_ignore_ascii_case("scratch") {
                Base::Scratch
            } else if let Some(i) = find_named(&file.stages[..stage.index], &image) {
                Base::Stage(i)
            } else {
                Base::Image(
                    Reference::parse(&image).map_err(|source| Error::InvalidReference {
                        span: from.span,
                        stage: stage_ref(stage),
                        name: image.clone(),
                        source: Box::new(source),
                    })?,
                )
            };
            let platform =
                match &from.platform {
                    None => None,
                    Some(raw) => {
                        let value = expand(raw, from.span, stage)?;
                        Some(value.parse::<Platform>().map_err(|source| {
                            Error::InvalidPlatform {
                                span: from.span,
                                stage: stage_ref(stage),
                                value,
                                source: Box::new(source),
                            }
                        })?)
                    }
                };
            let mut stages = BTreeSet::new();
            if let Base::Stage(i) = base {
                stages.insert(i);
            }
            let mut images = Vec::new();
            // The parent stage's ONBUILD triggers run at the start of this one.
            let triggers = match base {
                Base::Stage(i) => file.stages[i]
                    .instructions
                    .iter()
                    .filter_map(|ins| match ins {
                        Instruction::Onbuild { trigger, .. } => Some(trigger.as_ref()),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let own = stage.instructions.iter();
            for (word, span) in sources(triggers.into_iter().chain(own)) {
                let name = expand(&word, span, stage)?;
                match find_stage(&file.stages[..stage.index], &name) {
                    Some(i) => {
                        stages.insert(i);
                    }
                    None => images.push(Reference::parse(&name).map_err(|source| {
                        Error::InvalidReference {
                            span,
                            stage: stage_ref(stage),
                            name: name.clone(),
                            source: Box::new(source),
                        }
                    })?),
                }
            }
            planned.push(PlannedStage {
                index: stage.index,
                name: stage.name.clone(),
                base,
                platform,
                stages: stages.into_iter().collect(),
                images,
                span: from.span,
            });
        }
        let keep: BTreeSet<usize> = if options.skip_unused_stages {
            let mut needed = BTreeSet::new();
            let mut todo = vec![target];
            while let Some(i) = todo.pop() {
                if needed.insert(i) {
                    todo.extend(planned[i].stages.iter().copied());
                }
            }
            needed
        } else {
            (0..=target).collect()
        };
        planned.retain(|s| keep.contains(&s.index));
        Ok(Plan {
            stages: planned,
            target,
            scope,
            build_args,
            predefined,
            secret_meta_args,
        })
    }

    /// A planned stage by its index in the file.
    pub fn stage(&self, index: usize) -> Option<&PlannedStage> {
        self.stages.iter().find(|s| s.index == index)
    }

    /// Whether the build runs the stage at `index`.
    pub fn builds(&self, index: usize) -> bool {
        self.stage(index).is_some()
    }

    /// The stages whose layers nothing reads: not the target and no stage's base, so their
    /// image never leaves the build and no config inherits their history. Only their
    /// filesystem counts, for `COPY --from` and `RUN --mount from=`.
    pub fn layers_unused(&self) -> BTreeSet<usize> {
        self.stages
            .iter()
            .map(|s| s.index)
            .filter(|&index| {
                index != self.target
                    && !self
                        .stages
                        .iter()
                        .any(|s| matches!(s.base, Base::Stage(b) if b == index))
            })
            .collect()
    }

    /// The position in build order of the last stage that reads stage `index` (`COPY
    /// --from`, `RUN --mount from=`, `FROM`), as the plan knows it.
    pub fn last_reader(&self, index: usize) -> Option<usize> {
        self.stages.iter().rposition(|s| s.stages.contains(&index))
    }
}

fn stage_ref(stage: &Stage) -> StageRef {
    StageRef {
        index: stage.index,
        name: stage.name.clone(),
    }
}

/// Whether `word` refers to a variable in `names` (conservatively: any `$` and any name as a
/// substring).
pub(crate) fn mentions_any(word: &str, names: &BTreeSet<String>) -> bool {
    word.contains('$') && names.iter().any(|n| word.contains(n.as_str()))
}

fn find_named(stages: &[Stage], name: &str) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    stages
        .iter()
        .find(|s| s.name.as_deref() == Some(lower.as_str()))
        .map(|s| s.index)
}

/// A `--from` value: a stage by name, or by index, among `stages`.
fn find_stage(stages: &[Stage], name: &str) -> Option<usize> {
    find_named(stages, name).or_else(|| {
        let i: usize = name.parse().ok()?;
        (i < stages.len()).then_some(i)
    })
}

/// The `--from` and mount `from=` words of `instructions`, unexpanded.
fn sources<'a>(instructions: impl Iterator<Item = &'a Instruction>) -> Vec<(String, Span)> {
    let mut out = Vec::new();
    for instruction in instructions {
        match instruction {
            Instruction::Copy(c) => {
                if let Some(from) = &c.from {
                    out.push((from.clone(), c.from_span));
                }
            }
            Instruction::Run(r) => {
                for mount in &r.mounts {
                    let from = mount.value.split(',').find_map(|field| {
                        let (k, v) = field.split_once('=')?;
                        k.trim()
                            .eq_ignore_ascii_case("from")
                            .then(|| v.trim().trim_matches('"').to_owned())
                    });
                    if let Some(from) = from {
                        out.push((from, mount.span));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// `--target` to a stage index.
fn resolve_target(file: &Dockerfile, target: Option<&str>) -> Result<usize, Error> {
    let Some(target) = target else {
        return Ok(file.stages.len() - 1);
    };
    let lower = target.to_ascii_lowercase();
    if let Some(s) = file
        .stages
        .iter()
        .find(|s| s.name.as_deref() == Some(lower.as_str()))
    {
        return Ok(s.index);
    }
    if let Ok(i) = target.parse::<usize>() {
        if i < file.stages.len() {
            return Ok(i);
        }
    }
    let stages = file
        .stages
        .iter()
        .map(|s| match &s.name {
            Some(n) => n.clone(),
            None => s.index.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ");
    Err(Error::UnknownTarget {
        target: target.to_owned(),
        stages,
    })
}

#[cfg(test)]
mod tests;
