//! COPY and ADD in a stage: their words expanded by [`crate::exec::copy_args`], their files
//! copied by [`kiln_fs::copy`] from the build context or, with `--from`, from an earlier
//! stage's rootfs (named or numbered, meta ARGs expanded; extracted on demand), and a layer
//! made of exactly what the copy wrote (no walk: the copy knows its paths; the snapshot is
//! refreshed for later RUNs).
//!
//! Owns: resolving `--chown` names in the destination rootfs' `/etc/passwd` and `/etc/group`
//! (as BuildKit does), the WORKDIR a relative destination resolves against, and refusing what
//! is not built yet with an error naming it: `COPY --from` an image, `--link`, heredoc
//! sources, `ADD --checksum`, `ADD --keep-git-dir`.
//!
//! Does not own: the copy semantics (`kiln_fs::copy`), the history text
//! ([`crate::exec::copy_args`]). Reference: <https://docs.docker.com/reference/dockerfile/#copy>.

use std::path::{Path, PathBuf};

use kiln_dockerfile::Span;
use kiln_dockerfile::instruction::Files;
use kiln_fs::copy::{CopyOp, Source};

use super::error::Error;
use super::step::{self, LayerSettings, Rootfs};
use super::{Executor, StageImage};
use crate::error::StageRef;
use crate::exec::{Clock, FileArgs, StageState};

/// The build context as COPY and ADD read it.
#[derive(Debug, Clone)]
pub struct ContextDir {
    /// The context directory (sub path applied).
    pub dir: PathBuf,
    /// The Dockerfile, whose `<Dockerfile>.dockerignore` wins over the context's.
    pub dockerfile: PathBuf,
}

impl ContextDir {
    /// The context as a copy source, `.dockerignore` applied.
    pub fn source(&self) -> Result<Source, Error> {
        let context_error = |source| Error::Context {
            dir: self.dir.clone(),
            source: Box::new(source),
        };
        let spec = self.dir.to_string_lossy();
        let context =
            kiln_fs::context::Context::open(&spec, &Default::default()).map_err(context_error)?;
        let ignore = context
            .ignore_for(&self.dockerfile)
            .map_err(context_error)?;
        context.source(ignore).map_err(context_error)
    }
}

/// One COPY or ADD as the executor runs it.
pub struct FileStep<'a> {
    pub args: FileArgs,
    pub files: &'a Files,
    pub parents: bool,
    pub add: bool,
    pub span: Span,
    pub step: usize,
}

/// Copies `file_step`'s sources from `source` into `rootfs` and returns the layer it made
/// (`None` when the copy wrote nothing).
pub fn copy(
    file_step: &FileStep<'_>,
    source: &Source,
    rootfs: &mut Rootfs,
    workdir: &str,
    settings: &LayerSettings<'_>,
    stage: &StageRef,
) -> Result<Option<(super::LayerBlob, kiln_oci::DiffId)>, Error> {
    let FileStep {
        args, files, span, ..
    } = file_step;
    let unsupported = |feature: &str| Error::NotSupported {
        span: *span,
        stage: stage.clone(),
        feature: feature.to_owned(),
    };
    let keyword = if file_step.add { "ADD" } else { "COPY" };
    if files.link {
        return Err(unsupported(&format!("{keyword} --link")));
    }
    if !args.heredocs.is_empty() {
        return Err(unsupported(&format!("{keyword} with a heredoc source")));
    }
    let chown = match &args.chown {
        None => None,
        Some(value) => {
            let user =
                kiln_sandbox::user::resolve_in_rootfs(&rootfs.path, value).map_err(|source| {
                    Error::Chown {
                        span: *span,
                        stage: stage.clone(),
                        value: value.clone(),
                        source: Box::new(source),
                    }
                })?;
            Some((user.uid, user.gid))
        }
    };
    let op = CopyOp {
        sources: args.sources.clone(),
        dest: args.dest.clone(),
        workdir: PathBuf::from(if workdir.is_empty() { "/" } else { workdir }),
        chown,
        chmod: args.chmod.clone(),
        exclude: files.excludes.clone(),
        parents: file_step.parents,
        add: file_step.add,
    };
    let copied = kiln_fs::copy::copy(source, &rootfs.root, &op).map_err(|source| Error::Copy {
        span: *span,
        stage: stage.clone(),
        source: Box::new(source),
    })?;
    let paths: Vec<&Path> = copied.changes.iter().map(|(p, _)| p).collect();
    rootfs
        .snapshot
        .refresh(paths, &rootfs.ignore)
        .map_err(|source| Error::Snapshot {
            stage: stage.clone(),
            step: file_step.step,
            source: Box::new(source),
        })?;
    if copied.changes.is_empty() {
        return Ok(None);
    }
    step::write_layer(
        &rootfs.path,
        &copied.changes,
        settings,
        stage,
        file_step.step,
    )
    .map(Some)
}

impl Executor<'_> {
    /// COPY or ADD from the build context.
    pub(super) fn copy(
        &mut self,
        state: &mut StageState,
        image: &mut StageImage,
        rootfs: Option<&mut Rootfs>,
        file_step: &FileStep<'_>,
        settings: &LayerSettings<'_>,
    ) -> Result<(), Error> {
        let stage = state.stage.clone();
        let unsupported = |feature: &str| Error::NotSupported {
            span: file_step.span,
            stage: stage.clone(),
            feature: feature.to_owned(),
        };
        let keyword = if file_step.add { "ADD" } else { "COPY" };
        let context = self
            .options
            .context
            .as_ref()
            .ok_or_else(|| unsupported(&format!("{keyword} without a build context")))?;
        let rootfs = rootfs.ok_or_else(|| Error::Invariant {
            what: format!("{keyword} in a stage without a rootfs"),
        })?;
        if self.context_source.is_none() {
            self.context_source = Some(context.source()?);
        }
        let source = self
            .context_source
            .as_ref()
            .ok_or_else(|| unsupported("the build context"))?;
        copy_into(
            state,
            image,
            rootfs,
            file_step,
            settings,
            source,
            &self.options.clock,
        )
    }

    /// `COPY --from`: the earlier stage `word` names (after meta-ARG expansion, by name or
    /// index), as a copy source; its rootfs is extracted now if it never was.
    pub(super) fn copy_source(
        &mut self,
        word: &str,
        span: Span,
        stage: &StageRef,
    ) -> Result<Source, Error> {
        let global = self.plan.scope.global();
        let name = self
            .file
            .lexer()
            .expand_word(word, &global)
            .map_err(|source| crate::Error::Expand {
                span,
                stage: stage.clone(),
                word: word.to_owned(),
                source: Box::new(source),
            })?;
        let earlier = &self.file.stages[..stage.index];
        let lower = name.to_ascii_lowercase();
        let index = earlier
            .iter()
            .find(|s| s.name.as_deref() == Some(lower.as_str()))
            .map(|s| s.index)
            .or_else(|| name.parse::<usize>().ok().filter(|i| *i < earlier.len()));
        let unsupported = |feature: String| Error::NotSupported {
            span,
            stage: stage.clone(),
            feature,
        };
        let Some(index) = index else {
            return Err(unsupported(format!("COPY --from an image ({name})")));
        };
        let done = self.done.get_mut(&index).ok_or_else(|| Error::Invariant {
            what: format!("COPY --from stage {index}, which was not built"),
        })?;
        let path = match &done.rootfs {
            Some(path) => path.clone(),
            None => {
                let path = self
                    .options
                    .work_dir
                    .join(format!("stage{index}"))
                    .join("rootfs");
                let from_ref = done.state.stage.clone();
                super::base::materialize(&from_ref, &done.image.layers, &path)?;
                done.rootfs = Some(path.clone());
                path
            }
        };
        let root = kiln_fs::resolve::Root::open(&path).map_err(|source| Error::Rootfs {
            stage: stage.clone(),
            path: path.clone(),
            source: Box::new(source),
        })?;
        Ok(Source::stage(root))
    }

    pub(super) fn copy_from(
        &mut self,
        state: &mut StageState,
        image: &mut StageImage,
        rootfs: Option<&mut Rootfs>,
        file_step: &FileStep<'_>,
        settings: &LayerSettings<'_>,
        source: &Source,
    ) -> Result<(), Error> {
        let rootfs = rootfs.ok_or_else(|| Error::Invariant {
            what: "COPY in a stage without a rootfs".to_owned(),
        })?;
        copy_into(
            state,
            image,
            rootfs,
            file_step,
            settings,
            source,
            &self.options.clock,
        )
    }
}

/// Runs one COPY or ADD from `source` and records its layer and history.
fn copy_into(
    state: &mut StageState,
    image: &mut StageImage,
    rootfs: &mut Rootfs,
    file_step: &FileStep<'_>,
    settings: &LayerSettings<'_>,
    source: &Source,
    clock: &Clock,
) -> Result<(), Error> {
    let stage = state.stage.clone();
    let workdir = state.config.config.working_dir.clone().unwrap_or_default();
    let history = clock.layer(&file_step.args.created_by);
    match copy(file_step, source, rootfs, &workdir, settings, &stage)? {
        Some((blob, diff_id)) => {
            state.config.push_layer(diff_id, history);
            image.layers.push(blob);
        }
        None => state.config.push_empty_step(history),
    }
    Ok(())
}
