//! `RUN --mount`: from the Dockerfile's mount options to the sandbox mounts of one RUN.
//!
//! Owns, as BuildKit's `dispatchRunMounts` (`dockerfile2llb/convert_runmount.go`) and its
//! mount manager give them meaning:
//! - `type=bind` (the default): `source` (default the root) from the build context, or `from`
//!   an earlier stage or an image (found as `COPY --from` finds it), resolved inside that root
//!   so no symlink or `..` leaves it; read-only
//!   unless `rw`, and then writable with every write discarded. A context with a
//!   `.dockerignore` is seen through it, as BuildKit sends it: the source is copied out first.
//! - `type=cache`: a directory per `id` (default: the target) under
//!   [`RunMountOptions::cache_dir`], kept from one RUN and one build to the next;
//!   `sharing=shared` (any number of users), `locked` (one at a time, others wait on a file
//!   lock), `private` (a fresh directory when another user holds it); `uid`, `gid` and `mode`
//!   (default 0, 0, 0755) given to a new cache; `ro`. A `from` stage seeds a new cache.
//! - `type=tmpfs`: an empty tmpfs, `size` bytes at most.
//! - `type=secret`: a `--secret` of the build (`id`, default the target's file name) at
//!   `target` (default `/run/secrets/<id>`) with `uid`, `gid` and `mode` (default 0, 0, 0400),
//!   and as the environment variable `env`; a missing secret fails only when `required`.
//!   Its bytes stay in memory: never in a layer, the history, the config or a log line.
//! - `type=ssh`: an agent of the build's `--ssh` (`id`, default `default`) forwarded to a
//!   socket at `target` (default `/run/buildkit/ssh_agent.N`), `SSH_AUTH_SOCK` set ([`ssh`]).
//!
//! A relative target is under the WORKDIR, as in BuildKit. Mount points the rootfs lacks are
//! the sandbox's to create and remove, so nothing of a mount reaches the layer.
//!
//! Does not own: the mounts themselves (`kiln-sandbox`), parsing the options
//! (`kiln_dockerfile::instruction::Mount`). Reference:
//! <https://docs.docker.com/reference/dockerfile/#run---mount>.

mod ssh;

use std::path::{Path, PathBuf};

use kiln_dockerfile::Span;
use kiln_dockerfile::instruction::{Mount as MountOption, MountType, Run, Sharing};
use kiln_sandbox::resolve::resolve_in_root;
use kiln_sandbox::{BindMount, Mount, SecretBytes};

use super::Executor;
use super::error::Error;
use crate::error::StageRef;
use crate::exec::StageState;

pub use ssh::SshAgent;

/// BuildKit's limit on a secret's size (`secrets.MaxSecretSize`).
pub const MAX_SECRET_SIZE: u64 = 500 * 1024;

/// Where RUN mounts come from, beyond the context and the stages.
#[derive(Debug, Clone, Default)]
pub struct RunMountOptions {
    /// The directory cache mounts persist in (`<kaniko-dir>/cache-mounts`).
    pub cache_dir: PathBuf,
    /// The build's `--secret`s.
    pub secrets: Vec<Secret>,
    /// The build's `--ssh` agents.
    pub ssh: Vec<SshAgent>,
}

/// One `--secret`: its id and where its bytes are read when a RUN mounts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    pub id: String,
    pub source: SecretSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    File(PathBuf),
    /// An environment variable of kiln's own process.
    Env(String),
}

/// Why a mount could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("secret {id:?} is required but no --secret id={id} was given")]
    SecretMissing { id: String },
    #[error("cannot read secret {id:?} from {}", path.display())]
    SecretFile {
        id: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("secret {id:?} from the environment variable {var} is not set")]
    SecretEnv { id: String, var: String },
    #[error("secret {id:?} is larger than {MAX_SECRET_SIZE} bytes")]
    SecretTooLarge { id: String },
    #[error("secret {id:?} is not UTF-8 and cannot be the environment variable {var}")]
    SecretNotText { id: String, var: String },
    #[error("ssh agent {id:?} is required but no --ssh {id} was given")]
    SshMissing { id: String },
    #[error("bind source {source_path} does not exist in {from}")]
    SourceMissing { source_path: String, from: String },
    #[error("cannot prepare {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The sandbox side of a RUN's mounts; dropping it releases cache locks and removes what was
/// copied out for the run.
#[derive(Debug, Default)]
pub struct PreparedMounts {
    pub mounts: Vec<Mount>,
    /// `KEY=value` of secrets exposed as environment variables.
    pub env: Vec<String>,
    locks: Vec<std::fs::File>,
    temporary: Vec<PathBuf>,
    forwards: Vec<ssh::Forward>,
}

impl Drop for PreparedMounts {
    fn drop(&mut self) {
        // Forwarding sockets stop before their directories go.
        self.forwards.clear();
        for dir in &self.temporary {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// What a mount is prepared with: the RUN, its stage and the run's scratch directory.
pub(super) struct MountContext<'a> {
    pub run: &'a Run,
    pub state: &'a StageState,
    pub scratch: &'a Path,
}

impl Executor<'_> {
    /// Expands and prepares every `--mount` of `ctx.run`.
    pub(super) fn run_mounts(&mut self, ctx: &MountContext<'_>) -> Result<PreparedMounts, Error> {
        let stage = ctx.state.stage.clone();
        let env = ctx.state.env();
        let mut prepared = PreparedMounts::default();
        let mut ssh_sockets = Vec::new();
        for (n, raw) in ctx.run.mounts.iter().enumerate() {
            let option = raw
                .parse(&ctx.state.lexer, &env)
                .map_err(|e| Error::from(crate::Error::Dockerfile(Box::new(e))))?;
            let fail = |source: MountError| Error::RunMount {
                span: raw.span,
                stage: stage.clone(),
                source: Box::new(source),
            };
            let target = option.target.as_deref().map(|t| absolute(t, ctx.state));
            match option.kind {
                MountType::Bind => {
                    let target = target.unwrap_or_default();
                    let root = self.mount_root(&option, raw.span, &stage)?;
                    let scratch = ctx.scratch.join(format!("bind{n}"));
                    let mount =
                        bind(&option, &root, target, &scratch, &mut prepared).map_err(fail)?;
                    prepared.mounts.push(mount);
                }
                MountType::Cache => {
                    let target = target.unwrap_or_default();
                    let seed = match &option.from {
                        Some(_) => Some(self.mount_root(&option, raw.span, &stage)?),
                        None => None,
                    };
                    let cache = &self.options.run_mounts.cache_dir;
                    let scratch = ctx.scratch.join(format!("seed{n}"));
                    let seed = seed.as_ref().map(|root| (root, scratch.as_path()));
                    cache_mount(&option, cache, seed, target, &mut prepared).map_err(fail)?;
                }
                MountType::Tmpfs => prepared.mounts.push(Mount::Tmpfs {
                    target: target.unwrap_or_default(),
                    size: option.size,
                }),
                MountType::Secret => {
                    let secrets = &self.options.run_mounts.secrets;
                    secret_mount(&option, secrets, target, &mut prepared).map_err(fail)?;
                }
                MountType::Ssh => {
                    let agents = &self.options.run_mounts.ssh;
                    let scratch = ctx.scratch.join(format!("ssh{n}"));
                    let index = ssh_sockets.len();
                    let socket =
                        ssh::ssh_mount(&option, agents, target, index, &scratch, &mut prepared)
                            .map_err(fail)?;
                    ssh_sockets.push(socket);
                }
            }
        }
        if let Some(first) = ssh_sockets.first()
            && !env.contains_key("SSH_AUTH_SOCK")
        {
            prepared
                .env
                .push(format!("SSH_AUTH_SOCK={}", first.display()));
        }
        Ok(prepared)
    }

    /// The root a bind or cache `source` is read from: an earlier stage's rootfs for `from`,
    /// else the build context.
    fn mount_root(
        &mut self,
        option: &MountOption,
        span: Span,
        stage: &StageRef,
    ) -> Result<MountRoot, Error> {
        let Some(from) = &option.from else {
            let context = self
                .options
                .context
                .as_ref()
                .ok_or_else(|| Error::NotSupported {
                    span,
                    stage: stage.clone(),
                    feature: "RUN --mount=type=bind without a build context".to_owned(),
                })?;
            let opened = kiln_fs::context::Context::open(
                &context.dir.to_string_lossy(),
                &Default::default(),
            )
            .and_then(|c| c.ignore_for(&context.dockerfile).map(|i| (c, i)));
            let (opened, ignore) = opened.map_err(|source| Error::Context {
                dir: context.dir.clone(),
                source: Box::new(source),
            })?;
            let filtered = match ignore {
                Some(_) => Some(opened.source(ignore).map_err(|source| Error::Context {
                    dir: context.dir.clone(),
                    source: Box::new(source),
                })?),
                None => None,
            };
            return Ok(MountRoot {
                dir: context.dir.clone(),
                name: "the build context".to_owned(),
                filtered,
            });
        };
        let source = self.copy_source(from, span, stage).map_err(|e| match e {
            Error::NotSupported { span, stage, .. } => Error::NotSupported {
                span,
                stage,
                feature: format!("RUN --mount from an image ({from})"),
            },
            other => other,
        })?;
        Ok(MountRoot {
            dir: source.root().host_path().to_path_buf(),
            name: format!("stage {from}"),
            filtered: None,
        })
    }
}

/// Where a bind or cache source comes from.
struct MountRoot {
    dir: PathBuf,
    name: String,
    /// The context through its `.dockerignore`, when it has one: sources are copied out of
    /// it so ignored files stay hidden.
    filtered: Option<kiln_fs::copy::Source>,
}

/// `target` made absolute against the WORKDIR.
fn absolute(target: &str, state: &StageState) -> PathBuf {
    let workdir = state.config.config.working_dir.clone().unwrap_or_default();
    Path::new("/").join(workdir).join(target)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MountError + '_ {
    move |source| MountError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The host path of `source` in `root`: resolved inside it, or copied out through the
/// `.dockerignore` into `scratch`.
fn source_path(
    root: &MountRoot,
    source: &str,
    scratch: &Path,
    prepared: &mut PreparedMounts,
) -> Result<PathBuf, MountError> {
    let missing = || MountError::SourceMissing {
        source_path: source.to_owned(),
        from: root.name.clone(),
    };
    let resolved = resolve_in_root(&root.dir, Path::new(source)).map_err(|e| MountError::Io {
        path: root.dir.join(source),
        source: std::io::Error::other(e),
    })?;
    let meta = std::fs::metadata(&resolved).map_err(|_| missing())?;
    let Some(filtered) = &root.filtered else {
        return Ok(resolved);
    };
    std::fs::create_dir_all(scratch).map_err(io(scratch))?;
    prepared.temporary.push(scratch.to_owned());
    let dest = kiln_fs::resolve::Root::open(scratch).map_err(|e| MountError::Io {
        path: scratch.to_owned(),
        source: std::io::Error::other(e),
    })?;
    let name = resolved
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // The path as resolved, so the copy follows no symlink of its own.
    let in_root = resolved.strip_prefix(&root.dir).unwrap_or(Path::new(""));
    let op = kiln_fs::copy::CopyOp {
        sources: vec![format!("/{}", in_root.display())],
        dest: if meta.is_dir() {
            "/".to_owned()
        } else {
            format!("/{name}")
        },
        workdir: PathBuf::from("/"),
        ..Default::default()
    };
    kiln_fs::copy::copy(filtered, &dest, &op).map_err(|e| MountError::Io {
        path: root.dir.join(source),
        source: std::io::Error::other(e),
    })?;
    Ok(if meta.is_dir() {
        scratch.to_owned()
    } else {
        scratch.join(name)
    })
}

fn bind(
    option: &MountOption,
    root: &MountRoot,
    target: PathBuf,
    scratch: &Path,
    prepared: &mut PreparedMounts,
) -> Result<Mount, MountError> {
    let source = option.source.as_deref().unwrap_or("/");
    let host = source_path(root, source, &scratch.join("source"), prepared)?;
    if option.readonly {
        return Ok(Mount::Bind(BindMount {
            source: host,
            target,
            read_only: true,
        }));
    }
    if host.is_dir() {
        return Ok(Mount::Scratch {
            lower: host,
            target,
        });
    }
    // A writable file: a copy of it takes the writes, and goes after the run.
    let copy_dir = scratch.join("rw");
    std::fs::create_dir_all(&copy_dir).map_err(io(&copy_dir))?;
    prepared.temporary.push(copy_dir.clone());
    let copy = copy_dir.join("file");
    std::fs::copy(&host, &copy).map_err(io(&host))?;
    Ok(Mount::Bind(BindMount {
        source: copy,
        target,
        read_only: false,
    }))
}

/// The directory name of cache `id` (any bytes) under the cache dir; a cache seeded `from` a
/// stage (and `source` in it) is another cache, as in BuildKit.
fn cache_key(id: &str, seed: Option<(&str, &str)>) -> String {
    let mut key = id.to_owned();
    if let Some((from, source)) = seed {
        key.push('\0');
        key.push_str(from);
        key.push('\0');
        key.push_str(source);
    }
    kiln_oci::Digest::of(key.as_bytes()).hex()[..32].to_owned()
}

fn cache_mount(
    option: &MountOption,
    cache_dir: &Path,
    seed: Option<(&MountRoot, &Path)>,
    target: PathBuf,
    prepared: &mut PreparedMounts,
) -> Result<(), MountError> {
    let id = option.id.clone().unwrap_or_default();
    let seed_path = match seed {
        Some((root, scratch)) => {
            let source = option.source.as_deref().unwrap_or("/");
            Some(source_path(root, source, scratch, prepared)?)
        }
        None => None,
    };
    let seed_key = option
        .from
        .as_deref()
        .map(|from| (from, option.source.as_deref().unwrap_or("/")));
    let base = cache_dir.join(cache_key(&id, seed_key));
    std::fs::create_dir_all(&base).map_err(io(&base))?;
    let lock_path = base.join("lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io(&lock_path))?;
    use rustix::fs::{FlockOperation, flock};
    let data = match option.sharing {
        Sharing::Shared => {
            // Held shared so that a private user sees the cache in use.
            let _ = flock(&lock, FlockOperation::NonBlockingLockShared);
            base.join("data")
        }
        Sharing::Locked => {
            flock(&lock, FlockOperation::LockExclusive).map_err(|e| io(&lock_path)(e.into()))?;
            base.join("data")
        }
        Sharing::Private => match flock(&lock, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => base.join("data"),
            Err(_) => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_nanos();
                let private = base.join(format!("private-{}-{nanos}", std::process::id()));
                prepared.temporary.push(private.clone());
                private
            }
        },
    };
    prepared.locks.push(lock);
    let fresh = !data.exists();
    if fresh {
        let partial = base.join(format!("new-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&partial);
        match &seed_path {
            Some(seed) => copy_tree(seed, &partial)?,
            None => std::fs::create_dir(&partial).map_err(io(&partial))?,
        }
        // Another build may have made it meanwhile: its directory wins.
        if std::fs::rename(&partial, &data).is_err() {
            let _ = std::fs::remove_dir_all(&partial);
        }
        let marker = base.join("id");
        std::fs::write(&marker, &id).map_err(io(&marker))?;
    }
    prepared.mounts.push(Mount::Bind(BindMount {
        source: data,
        target: target.clone(),
        read_only: option.readonly,
    }));
    if fresh && !option.readonly {
        prepared.mounts.push(Mount::Owner {
            target,
            uid: option.uid.unwrap_or(0),
            gid: option.gid.unwrap_or(0),
            mode: option.mode.unwrap_or(0o755),
        });
    }
    Ok(())
}

/// Copies the tree at `from` to `to` (files, directories, symlinks and modes).
fn copy_tree(from: &Path, to: &Path) -> Result<(), MountError> {
    let meta = std::fs::symlink_metadata(from).map_err(io(from))?;
    if meta.is_dir() {
        std::fs::create_dir(to).map_err(io(to))?;
        for entry in std::fs::read_dir(from).map_err(io(from))? {
            let entry = entry.map_err(io(from))?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        std::fs::set_permissions(to, meta.permissions()).map_err(io(to))
    } else if meta.file_type().is_symlink() {
        let target = std::fs::read_link(from).map_err(io(from))?;
        std::os::unix::fs::symlink(target, to).map_err(io(to))
    } else {
        std::fs::copy(from, to).map(drop).map_err(io(from))
    }
}

fn secret_mount(
    option: &MountOption,
    secrets: &[Secret],
    target: Option<PathBuf>,
    prepared: &mut PreparedMounts,
) -> Result<(), MountError> {
    let id = option.id.clone().unwrap_or_default();
    let Some(secret) = secrets.iter().find(|s| s.id == id) else {
        return match option.required {
            true => Err(MountError::SecretMissing { id }),
            // BuildKit leaves an optional secret out.
            false => Ok(()),
        };
    };
    let value = read_secret(secret)?;
    if let Some(var) = &option.env {
        let text = String::from_utf8(value.clone()).map_err(|_| MountError::SecretNotText {
            id: id.clone(),
            var: var.clone(),
        })?;
        prepared.env.push(format!("{var}={text}"));
    }
    if let Some(target) = target {
        prepared.mounts.push(Mount::File {
            target,
            contents: SecretBytes(value),
            uid: option.uid.unwrap_or(0),
            gid: option.gid.unwrap_or(0),
            mode: option.mode.unwrap_or(0o400),
        });
    }
    Ok(())
}

fn read_secret(secret: &Secret) -> Result<Vec<u8>, MountError> {
    let id = secret.id.clone();
    let value = match &secret.source {
        SecretSource::File(path) => {
            let read_error = |source| MountError::SecretFile {
                id: id.clone(),
                path: path.clone(),
                source,
            };
            let meta = std::fs::metadata(path).map_err(read_error)?;
            if meta.len() > MAX_SECRET_SIZE {
                return Err(MountError::SecretTooLarge { id });
            }
            std::fs::read(path).map_err(read_error)?
        }
        SecretSource::Env(var) => std::env::var_os(var)
            .map(std::os::unix::ffi::OsStringExt::into_vec)
            .ok_or_else(|| MountError::SecretEnv {
                id: id.clone(),
                var: var.clone(),
            })?,
    };
    if value.len() as u64 > MAX_SECRET_SIZE {
        return Err(MountError::SecretTooLarge { id });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keys_differ_by_id_and_seed_and_are_file_names() {
        let a = cache_key("/root/.cache", None);
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, cache_key("/root/.npm", None));
        assert_ne!(a, cache_key("/root/.cache", Some(("build", "/"))));
        assert_eq!(a, cache_key("/root/.cache", None));
    }

    #[test]
    fn secrets_are_read_from_files_and_the_environment_within_the_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("token");
        std::fs::write(&file, "abc").expect("write");
        let from_file = Secret {
            id: "t".into(),
            source: SecretSource::File(file.clone()),
        };
        assert_eq!(read_secret(&from_file).expect("read"), b"abc");
        std::fs::write(&file, vec![b'x'; MAX_SECRET_SIZE as usize + 1]).expect("write");
        assert!(matches!(
            read_secret(&from_file),
            Err(MountError::SecretTooLarge { .. })
        ));
        let unset = Secret {
            id: "t".into(),
            source: SecretSource::Env("KILN_TEST_UNSET_SECRET_VARIABLE".into()),
        };
        let err = read_secret(&unset).expect_err("unset");
        assert_eq!(
            err.to_string(),
            "secret \"t\" from the environment variable KILN_TEST_UNSET_SECRET_VARIABLE is not set"
        );
    }

    #[test]
    fn an_optional_missing_secret_is_left_out_and_a_required_one_fails() {
        let mut option =
            MountOption::parse("type=secret,id=npm", &mut |v| Ok(v.to_owned())).expect("parse");
        let mut prepared = PreparedMounts::default();
        secret_mount(&option, &[], None, &mut prepared).expect("optional");
        assert!(prepared.mounts.is_empty() && prepared.env.is_empty());
        option.required = true;
        let err = secret_mount(&option, &[], None, &mut prepared).expect_err("required");
        assert_eq!(
            err.to_string(),
            "secret \"npm\" is required but no --secret id=npm was given"
        );
    }
}
