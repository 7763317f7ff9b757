//! COPY and ADD in a stage: their words expanded by [`crate::exec::copy_args`], their files
//! copied by [`kiln_fs::copy`] from the build context, from an earlier stage's rootfs or from
//! an image (`--from`, [`from`]), from heredoc bodies and downloaded URLs ([`inline`]), and a
//! layer made of exactly what the copy wrote (no walk: the copy knows its paths; the snapshot
//! is refreshed for later RUNs). With `--link` the files are copied onto an empty directory
//! and that layer is applied to the rootfs ([`link`]).
//!
//! Owns: resolving `--chown` names in the destination rootfs' `/etc/passwd` and `/etc/group`
//! (as BuildKit does), the WORKDIR a relative destination resolves against, BuildKit's rules
//! for `--checksum` (ADD of one http(s) URL only), and ADD of a Git repository: its commit
//! resolved, checked out ([`kiln_fs::fetch::git`], `.git` kept for `--keep-git-dir`, the
//! commit's time on every file when the build clamps mtimes) and its files copied like a
//! directory of the context, owned 0:0 unless `--chown`.
//!
//! Cache: the commit a Git source stands for is [`git_commit`]'s answer (`git ls-remote`,
//! nothing fetched); an ADD's cache key must include it, and the checkout uses it.
//!
//! Does not own: the copy semantics (`kiln_fs::copy`), downloads and checkouts
//! (`kiln_fs::fetch`), the history text ([`crate::exec::copy_args`]).
//! Reference: <https://docs.docker.com/reference/dockerfile/#copy>, BuildKit
//! `dockerfile2llb/convert_copy.go`.

mod from;
mod inline;
mod link;

use std::path::{Path, PathBuf};

use kiln_dockerfile::Span;
use kiln_dockerfile::instruction::Files;
use kiln_fs::copy::{CopyOp, Source};
use kiln_fs::layer::{Change, Changes};

use super::error::Error;
use super::step::{self, LayerSettings, Rootfs};
use super::{Executor, StageImage};
use crate::error::StageRef;
use crate::exec::{Clock, FileArgs, StageState};

pub use from::{CopyImages, FromTarget};

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
    /// `ADD --checksum` as written.
    pub checksum: Option<String>,
    /// `ADD --keep-git-dir`.
    pub keep_git_dir: bool,
    pub span: Span,
    pub step: usize,
}

/// What a copy needs besides its sources and rootfs.
pub struct CopyContext<'a> {
    pub settings: &'a LayerSettings<'a>,
    /// A directory of the work area for this step's heredocs, downloads and `--link` tree.
    pub scratch: PathBuf,
    pub runtime: &'a tokio::runtime::Runtime,
    /// Heredoc sources as files to write: name and body (expanded when it should be).
    pub heredocs: Vec<(String, String)>,
    /// `--checksum`, expanded and parsed.
    pub checksum: Option<kiln_oci::Digest>,
    /// When building in place in `/`: what a `--link` layer must not be extracted over.
    pub in_place: Option<kiln_fs::ignore_list::IgnoreList>,
    /// The `--ssh default` agent, for Git sources over ssh.
    pub ssh_auth_sock: Option<PathBuf>,
}

/// The commit `src` (a Git source of ADD) stands for now, looked up without fetching: what
/// an ADD's cache key includes so that it changes when the branch moves.
pub fn git_commit(
    src: &str,
    ssh_auth_sock: Option<&Path>,
) -> Result<String, kiln_fs::fetch::git::Error> {
    let url = kiln_fs::fetch::git::GitUrl::parse(src)?;
    let options = kiln_fs::fetch::git::GitOptions {
        ssh_auth_sock: ssh_auth_sock.map(Path::to_path_buf),
        ..Default::default()
    };
    kiln_fs::fetch::git::resolve(&url, &options)
}

/// Copies `file_step`'s sources from `source` (and its URLs and heredocs) into `rootfs` and
/// returns the layer it made (`None` when the copy wrote nothing).
pub fn copy(
    file_step: &FileStep<'_>,
    source: &Source,
    rootfs: &mut Rootfs,
    workdir: &str,
    ctx: &CopyContext<'_>,
    stage: &StageRef,
) -> Result<Option<(super::LayerBlob, kiln_oci::DiffId)>, Error> {
    let FileStep {
        args, files, span, ..
    } = file_step;
    let copy_error = |source| Error::Copy {
        span: *span,
        stage: stage.clone(),
        source: Box::new(source),
    };
    let (remote, locals): (Vec<String>, Vec<String>) = if file_step.add {
        args.sources
            .iter()
            .cloned()
            .partition(|s| kiln_fs::fetch::is_http(s) || kiln_fs::fetch::is_git(s))
    } else {
        (Vec::new(), args.sources.clone())
    };
    let (gits, urls): (Vec<String>, Vec<String>) =
        remote.into_iter().partition(|s| kiln_fs::fetch::is_git(s));
    let chown = match &args.chown {
        None => None,
        Some(value) => Some(
            chown_ids(&rootfs.path, value).map_err(|source| Error::Chown {
                span: *span,
                stage: stage.clone(),
                value: value.clone(),
                source: Box::new(source),
            })?,
        ),
    };
    // Several sources make the destination a directory (BuildKit requires the `/`); the
    // copies below run one kind of source at a time, so each must see it as one.
    let count = args.sources.len() + ctx.heredocs.len();
    let mut dest = args.dest.clone();
    if count > 1 && !dest.ends_with('/') {
        dest.push('/');
    }
    let op = CopyOp {
        sources: locals,
        dest,
        workdir: PathBuf::from(if workdir.is_empty() { "/" } else { workdir }),
        chown,
        chmod: args.chmod.clone(),
        exclude: files.excludes.clone(),
        parents: file_step.parents,
        add: file_step.add,
    };
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io { path, source }
    };
    if ctx.scratch.exists() {
        std::fs::remove_dir_all(&ctx.scratch).map_err(io(&ctx.scratch))?;
    }
    // BuildKit links only when `--chmod` is not given (`convert_copy.go`).
    let link = files.link && args.chmod.is_none();
    let link_tree = ctx.scratch.join("link");
    let link_root;
    let target = if link {
        std::fs::create_dir_all(&link_tree).map_err(io(&link_tree))?;
        link_root = kiln_fs::resolve::Root::open(&link_tree).map_err(|source| Error::Rootfs {
            stage: stage.clone(),
            path: link_tree.clone(),
            source: Box::new(source),
        })?;
        &link_root
    } else {
        &rootfs.root
    };
    let mut changes = Changes::new();
    if !op.sources.is_empty() {
        let copied = kiln_fs::copy::copy(source, target, &op).map_err(copy_error)?;
        merge(&mut changes, &copied.changes).map_err(copy_error)?;
    }
    for (i, url) in urls.iter().enumerate() {
        let dir = ctx.scratch.join(format!("url{i}"));
        let fetched = inline::download(ctx, url, &dir).map_err(copy_error)?;
        let written = inline::copy_from_dir(&dir, &[fetched], target, &op).map_err(copy_error)?;
        merge(&mut changes, &written).map_err(copy_error)?;
    }
    for (i, src) in gits.iter().enumerate() {
        let dir = ctx.scratch.join(format!("git{i}"));
        let checkout = git_checkout(ctx, src, file_step.keep_git_dir, &dir).map_err(copy_error)?;
        let names = ["/".to_owned()];
        let written =
            inline::copy_from_dir(&checkout.dir, &names, target, &op).map_err(copy_error)?;
        merge(&mut changes, &written).map_err(copy_error)?;
    }
    if !ctx.heredocs.is_empty() {
        let dir = ctx.scratch.join("heredocs");
        let names = inline::write_heredocs(&dir, &ctx.heredocs).map_err(copy_error)?;
        let written = inline::copy_from_dir(&dir, &names, target, &op).map_err(copy_error)?;
        merge(&mut changes, &written).map_err(copy_error)?;
    }
    let layer = if link {
        link::apply(&link_tree, &changes, rootfs, ctx, stage, file_step.step)?
    } else if !rootfs.layers {
        None
    } else {
        refresh(rootfs, &changes, stage, file_step.step)?;
        if changes.is_empty() {
            None
        } else {
            Some(step::write_layer(
                &rootfs.path,
                &changes,
                ctx.settings,
                stage,
                file_step.step,
                &rootfs.placeholders,
            )?)
        }
    };
    if ctx.scratch.exists() {
        std::fs::remove_dir_all(&ctx.scratch).map_err(io(&ctx.scratch))?;
    }
    Ok(layer)
}

/// Checks the Git source `src` out into `dir` at the commit it stands for now.
fn git_checkout(
    ctx: &CopyContext<'_>,
    src: &str,
    keep_git_dir: bool,
    dir: &Path,
) -> Result<kiln_fs::fetch::git::Checkout, kiln_fs::copy::Error> {
    use kiln_fs::fetch::git;
    let url = git::GitUrl::parse(src).map_err(kiln_fs::fetch::Error::from)?;
    let options = git::GitOptions {
        keep_git_dir,
        // BuildKit's `git.mtime=commit`, which SOURCE_DATE_EPOCH turns on.
        commit_mtime: ctx.settings.options.clamp_mtime.is_some(),
        ssh_auth_sock: ctx.ssh_auth_sock.clone(),
    };
    let commit =
        git_commit(src, options.ssh_auth_sock.as_deref()).map_err(kiln_fs::fetch::Error::from)?;
    tracing::info!("checking out {} at {commit}", url.shown());
    Ok(git::checkout(&url, &commit, dir, &options).map_err(kiln_fs::fetch::Error::from)?)
}

/// `--chown` as numbers, as BuildKit's file op reads it (`readUser`): a user name takes its
/// uid and primary gid from the rootfs' `/etc/passwd`, a numeric user without a group gets
/// gid = uid whatever `/etc/passwd` says, a group (name or number) sets the gid.
pub(super) fn chown_ids(
    rootfs: &Path,
    value: &str,
) -> Result<(u32, u32), kiln_sandbox::user::UserError> {
    let user = kiln_sandbox::user::resolve_in_rootfs(rootfs, value)?;
    match value.parse::<u32>() {
        Ok(uid) => Ok((uid, uid)),
        Err(_) => Ok((user.uid, user.gid)),
    }
}

/// Adds the writes of `from` to `into`.
fn merge(into: &mut Changes, from: &Changes) -> Result<(), kiln_fs::copy::Error> {
    for (path, change) in from.iter() {
        if change == Change::Write {
            into.write(path)
                .map_err(|source| kiln_fs::copy::Error::Layer {
                    path: path.to_owned(),
                    source,
                })?;
        }
    }
    Ok(())
}

/// Re-reads the paths a step wrote into the rootfs snapshot.
fn refresh(
    rootfs: &mut Rootfs,
    changes: &Changes,
    stage: &StageRef,
    step: usize,
) -> Result<(), Error> {
    let paths: Vec<&Path> = changes.iter().map(|(p, _)| p).collect();
    rootfs
        .snapshot
        .refresh(paths, &rootfs.ignore)
        .map_err(|source| Error::Snapshot {
            stage: stage.clone(),
            step,
            source: Box::new(source),
        })
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
        let keyword = if file_step.add { "ADD" } else { "COPY" };
        let rootfs = rootfs.ok_or_else(|| Error::Invariant {
            what: format!("{keyword} in a stage without a rootfs"),
        })?;
        // Heredocs and URLs alone need no context (BuildKit reads none either).
        let needs_context = !file_step.args.sources.is_empty()
            && file_step.args.sources.iter().any(|s| {
                !file_step.add || !(kiln_fs::fetch::is_http(s) || kiln_fs::fetch::is_git(s))
            });
        if needs_context && !self.open_context()? {
            return Err(Error::NotSupported {
                span: file_step.span,
                stage: stage.clone(),
                feature: format!("{keyword} without a build context"),
            });
        }
        let empty;
        let source = match &self.context_source {
            Some(source) => source,
            None => {
                empty = self.empty_source(&stage)?;
                &empty
            }
        };
        let ctx = self.copy_context(state, file_step, settings)?;
        copy_into(
            state,
            image,
            rootfs,
            file_step,
            &ctx,
            source,
            &self.options.clock,
        )
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
        let ctx = self.copy_context(state, file_step, settings)?;
        copy_into(
            state,
            image,
            rootfs,
            file_step,
            &ctx,
            source,
            &self.options.clock,
        )
    }

    /// Opens the build context as a copy source the first time a step needs it; whether the
    /// build has one.
    pub(super) fn open_context(&mut self) -> Result<bool, Error> {
        if self.context_source.is_none()
            && let Some(context) = &self.options.context
        {
            self.context_source = Some(context.source()?);
        }
        Ok(self.context_source.is_some())
    }

    /// An empty directory as a source, for a step whose sources are all URLs or heredocs.
    fn empty_source(&self, stage: &StageRef) -> Result<Source, Error> {
        let dir = self.options.work_dir.join("empty");
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        let root = kiln_fs::resolve::Root::open(&dir).map_err(|source| Error::Rootfs {
            stage: stage.clone(),
            path: dir.clone(),
            source: Box::new(source),
        })?;
        Ok(Source::stage(root))
    }

    fn copy_context<'a>(
        &'a self,
        state: &StageState,
        file_step: &FileStep<'_>,
        settings: &'a LayerSettings<'a>,
    ) -> Result<CopyContext<'a>, Error> {
        let checksum = match &file_step.checksum {
            None => None,
            Some(word) => Some(checksum(state, file_step, word)?),
        };
        let scratch = self
            .options
            .work_dir
            .join(format!("stage{}", state.stage.index))
            .join(format!("files{}", file_step.step));
        Ok(CopyContext {
            settings,
            scratch,
            runtime: self.runtime,
            heredocs: inline::heredoc_bodies(state, &file_step.args.heredocs, file_step.span)?,
            checksum,
            in_place: self.in_place.clone(),
            ssh_auth_sock: self
                .options
                .run_mounts
                .ssh
                .iter()
                .find(|a| a.id == "default")
                .map(|a| a.socket.clone()),
        })
    }
}

/// `--checksum`: expanded, allowed only on ADD of a single http(s) URL, and parsed, as
/// BuildKit's `dispatchCopy` checks it.
fn checksum(
    state: &StageState,
    file_step: &FileStep<'_>,
    word: &str,
) -> Result<kiln_oci::Digest, Error> {
    let value = state.expand(word, file_step.span)?;
    let invalid = |reason: String| -> Error { state.invalid(file_step.span, "ADD", reason).into() };
    let sources = &file_step.args.sources;
    if sources.iter().any(|s| kiln_fs::fetch::is_git(s)) {
        return Err(invalid(
            "--checksum of a Git source (its commit id) is not supported yet".to_owned(),
        ));
    }
    if sources.len() + file_step.args.heredocs.len() != 1 {
        return Err(invalid(
            "checksum can't be specified for multiple sources".to_owned(),
        ));
    }
    if !sources.iter().all(|s| kiln_fs::fetch::is_http(s)) {
        return Err(invalid(
            "checksum requires HTTP(S) or Git sources".to_owned(),
        ));
    }
    value
        .parse()
        .map_err(|e| invalid(format!("invalid --checksum {value:?}: {e}")))
}

/// Runs one COPY or ADD from `source` and records its layer and history.
fn copy_into(
    state: &mut StageState,
    image: &mut StageImage,
    rootfs: &mut Rootfs,
    file_step: &FileStep<'_>,
    ctx: &CopyContext<'_>,
    source: &Source,
    clock: &Clock,
) -> Result<(), Error> {
    let stage = state.stage.clone();
    let workdir = state.config.config.working_dir.clone().unwrap_or_default();
    // A URL's credentials stay out of the image (DESIGN.md §7), unlike BuildKit's history.
    let history = clock.layer(&kiln_fs::fetch::redact_userinfo(&file_step.args.created_by));
    match copy(file_step, source, rootfs, &workdir, ctx, &stage)? {
        Some((blob, diff_id)) => {
            state.config.push_layer(diff_id, history);
            image.layers.push(blob);
        }
        None => state.config.push_empty_step(history),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chown_ids_follow_buildkit_read_user() {
        let rootfs = tempfile::tempdir().expect("tempdir");
        let etc = rootfs.path().join("etc");
        std::fs::create_dir_all(&etc).expect("etc");
        std::fs::write(etc.join("passwd"), "app:x:1000:1001::/home/app:/bin/sh\n").expect("passwd");
        std::fs::write(etc.join("group"), "staff:x:50:\n").expect("group");
        let cases = [
            ("1002", (1002, 1002)),
            ("1000", (1000, 1000)),
            ("app", (1000, 1001)),
            ("1002:5", (1002, 5)),
            ("app:staff", (1000, 50)),
            ("app:7", (1000, 7)),
        ];
        for (value, want) in cases {
            let got = chown_ids(rootfs.path(), value).expect(value);
            assert_eq!(got, want, "{value}");
        }
    }
}
