//! [`BuildSettings`]: what `kiln build` (Kaniko's executor) was asked to do, resolved and
//! validated.
//!
//! Follows Kaniko's `PersistentPreRunE` and `validateFlags` in `cmd/executor/cmd/root.go`:
//! `KANIKO_NO_PUSH` (which wins over `--no-push`, as in Kaniko), `KANIKO_DIR` (which
//! `--kaniko-dir` overrides), build args without a value taken from the environment,
//! `--destination` required unless pushing is off, `--cache` with `--no-push` needing
//! `--cache-repo`, the image-name files needing a destination, the deprecated camelCase
//! flags, and relative paths made absolute. kiln adds: `SOURCE_DATE_EPOCH`, `BUILDER_OUTPUT`
//! (Cloud Build's output directory, which Kaniko writes `images` into), `--tar-path` needing a
//! destination up front, and range checks Kaniko leaves to later failures.

use std::path::PathBuf;
use std::time::Duration;

use kiln_oci::Reference;

use super::context::{
    ContextFlags, ContextSettings, DockerfileSource, resolve_context, resolve_dockerfile,
};
use super::environment::{Environment, parse_env_bool};
use super::error::SettingsError;
use super::platform::{Platform, resolve_platform};
use super::prefer_current;
use super::registry::{RegistrySettings, resolve_registry};
use crate::flags::build::{SecretFlag, SshFlag};
use crate::flags::value::BuildArgFlag;
use crate::flags::{BuildFlags, Compression, Isolation, SnapshotMode};
pub use kiln_build::executor::{Secret, SecretSource, SshAgent};

/// Kaniko's working directory when neither `--kaniko-dir` nor `KANIKO_DIR` says otherwise.
pub const DEFAULT_KANIKO_DIR: &str = "/kaniko";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSettings {
    pub context: ContextSettings,
    pub dockerfile: DockerfileSource,
    /// `--target`: the stage to build; the last one when unset.
    pub target: Option<String>,
    pub build_args: Vec<BuildArg>,
    /// `--label`, in order.
    pub labels: Vec<(String, String)>,
    pub platform: Platform,
    pub skip_unused_stages: bool,
    pub push: PushSettings,
    pub outputs: OutputSettings,
    pub registry: RegistrySettings,
    pub cache: CacheSettings,
    pub snapshot: SnapshotSettings,
    pub layers: LayerSettings,
    /// `--image-fs-extract-retry`.
    pub extract_retry: u32,
    pub kaniko_dir: PathBuf,
    pub isolation: Isolation,
    /// `--force`: build even outside a container.
    pub force: bool,
    /// `--cleanup`.
    pub cleanup: bool,
    /// `--secret`, one per id (the last one given wins).
    pub secrets: Vec<Secret>,
    /// `--ssh`, one per id (the last one given wins).
    pub ssh: Vec<SshAgent>,
}

/// A build argument; one given without a value took it from the environment (empty when the
/// variable is unset, as in Kaniko).
#[derive(Clone, PartialEq, Eq)]
pub struct BuildArg {
    pub name: String,
    pub value: String,
}

// Build args are a common way to pass tokens, and settings are logged at debug level: the
// `Debug` form names the argument but never shows its value (DESIGN.md §7).
impl std::fmt::Debug for BuildArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildArg")
            .field("name", &self.name)
            .field("value", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSettings {
    /// `--destination`, in order, normalised (`busybox` is `docker.io/library/busybox:latest`);
    /// may be non-empty with `enabled` off, to name the image in `--tar-path` and the
    /// image-name files.
    pub destinations: Vec<Reference>,
    /// Off with `--no-push` or `KANIKO_NO_PUSH`.
    pub enabled: bool,
    pub retry: u32,
    pub ignore_immutable_tag_errors: bool,
    pub skip_permission_check: bool,
}

/// Files the build writes besides the pushed image (absolute paths).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutputSettings {
    pub tar_path: Option<PathBuf>,
    pub digest_file: Option<PathBuf>,
    pub image_name_with_digest_file: Option<PathBuf>,
    pub image_name_tag_with_digest_file: Option<PathBuf>,
    pub oci_layout_path: Option<PathBuf>,
    /// `BUILDER_OUTPUT`: a directory that gets an `images` file of `{"name", "digest"}` lines.
    pub builder_output: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSettings {
    /// `--cache`.
    pub enabled: bool,
    /// `--cache-repo`; with `--cache` and no `--cache-repo`, `REGISTRY/REPOSITORY/cache` of
    /// the first destination, as Kaniko infers it.
    pub repo: Option<CacheRepo>,
    /// `--cache-dir`: base images put there by the warmer.
    pub dir: PathBuf,
    pub ttl: Duration,
    pub copy_layers: bool,
    pub run_layers: bool,
    pub compressed: bool,
    /// Off with `--no-push-cache`.
    pub push: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheRepo {
    /// A registry repository, `registry/repository` without tag.
    Registry(String),
    /// `oci:PATH`: an OCI image layout on disk.
    OciLayout(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotSettings {
    pub mode: SnapshotMode,
    pub single_snapshot: bool,
    pub use_new_run: bool,
    /// `--ignore-var-run` (or the deprecated `--whitelist-var-run`), true by default.
    pub ignore_var_run: bool,
    /// `--ignore-path`, absolute paths inside the image.
    pub ignore_paths: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSettings {
    pub compression: Compression,
    /// `--compression-level`; `None` for the algorithm's default.
    pub compression_level: Option<u32>,
    pub reproducible: bool,
    /// `SOURCE_DATE_EPOCH`: the timestamp for history and created fields, in seconds.
    pub source_date_epoch: Option<u64>,
    pub force_build_metadata: bool,
}

impl BuildSettings {
    /// Resolves `flags` against `env`. Notes that are not errors (deprecated spellings, flags
    /// without effect in this combination) are pushed to `warnings` for the caller to log.
    pub fn resolve(
        flags: &BuildFlags,
        env: &Environment,
        warnings: &mut Vec<String>,
    ) -> Result<Self, SettingsError> {
        let push = resolve_push(flags, env)?;
        let cache = resolve_cache(flags, &push, env, warnings)?;
        let outputs = resolve_outputs(flags, &push, env, warnings)?;

        let context = resolve_context(
            ContextFlags {
                context: flags.context.as_deref(),
                bucket: flags.bucket.as_deref(),
                sub_path: flags.context_sub_path.as_deref(),
                git: &flags.git,
            },
            env,
            warnings,
        )?;
        let dockerfile = resolve_dockerfile(&flags.dockerfile, &context, env)?;

        let kaniko_dir = match (&flags.kaniko_dir, env.non_empty("KANIKO_DIR")) {
            (Some(dir), _) => env.absolute(dir),
            (None, Some(dir)) => env.absolute(dir),
            (None, None) => PathBuf::from(DEFAULT_KANIKO_DIR),
        };
        let mut registry = resolve_registry(&flags.registry, &kaniko_dir, env)?;
        registry.insecure_push = flags.insecure;
        registry.skip_tls_verify_push = flags.skip_tls_verify;
        registry.download_retry = flags.image_download_retry;

        let platform = prefer_current(
            ("--custom-platform", flags.custom_platform.clone()),
            ("--customPlatform", flags.custom_platform_deprecated.clone()),
            warnings,
        )?;
        let platform = resolve_platform("--custom-platform", platform)?;

        Ok(Self {
            context,
            dockerfile,
            target: flags.target.clone().filter(|t| !t.is_empty()),
            build_args: resolve_build_args(&flags.build_arg, env),
            labels: resolve_labels(&flags.label)?,
            platform,
            skip_unused_stages: flags.skip_unused_stages,
            push,
            outputs,
            registry,
            cache,
            snapshot: resolve_snapshot(flags, warnings)?,
            layers: resolve_layers(flags, env)?,
            extract_retry: flags.image_fs_extract_retry,
            kaniko_dir,
            isolation: flags.isolation,
            force: flags.force,
            cleanup: flags.cleanup,
            secrets: resolve_secrets(&flags.secret, env),
            ssh: resolve_ssh(&flags.ssh, env)?,
        })
    }
}

/// buildx's secret store: a `--secret` without `src` or `env` reads the variable named like
/// its id when that is set, else the file named like it. Values are read when a RUN mounts
/// the secret, never here.
fn resolve_secrets(flags: &[SecretFlag], env: &Environment) -> Vec<Secret> {
    let mut secrets: Vec<Secret> = Vec::new();
    for flag in flags {
        let source = match (&flag.src, &flag.env) {
            (Some(path), _) => SecretSource::File(path.clone()),
            (None, Some(var)) => SecretSource::Env(var.clone()),
            (None, None) if env.var(&flag.id).is_some() => SecretSource::Env(flag.id.clone()),
            (None, None) => SecretSource::File(PathBuf::from(&flag.id)),
        };
        secrets.retain(|s| s.id != flag.id);
        secrets.push(Secret {
            id: flag.id.clone(),
            source,
        });
    }
    secrets
}

/// buildx's SSH agent provider: no path is the agent of `SSH_AUTH_SOCK`. kiln forwards an
/// agent's socket and is no agent itself, so key files (and several paths) are refused.
fn resolve_ssh(flags: &[SshFlag], env: &Environment) -> Result<Vec<SshAgent>, SettingsError> {
    let mut agents: Vec<SshAgent> = Vec::new();
    for flag in flags {
        let value = match flag.paths.as_slice() {
            [] => flag.id.clone(),
            paths => format!(
                "{}={}",
                flag.id,
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        };
        let invalid = |expected: String| SettingsError::InvalidValue {
            flag: "--ssh",
            value: value.clone(),
            expected,
        };
        let socket = match flag.paths.as_slice() {
            [] => PathBuf::from(env.non_empty("SSH_AUTH_SOCK").ok_or_else(|| {
                invalid("SSH_AUTH_SOCK is not set: start an ssh-agent or give ID=SOCKET".to_owned())
            })?),
            [path] => path.clone(),
            _ => {
                return Err(invalid(
                    "one agent socket per id: kiln forwards an ssh-agent and does not load \
                     key files; add the keys to an agent with ssh-add"
                        .to_owned(),
                ));
            }
        };
        use std::os::unix::fs::FileTypeExt;
        match std::fs::metadata(&socket) {
            Ok(meta) if meta.file_type().is_socket() => {}
            Ok(_) => {
                return Err(invalid(format!(
                    "{} is not an agent socket: kiln forwards an ssh-agent and does not load \
                     key files; add the key to an agent with ssh-add",
                    socket.display()
                )));
            }
            Err(e) => {
                return Err(invalid(format!(
                    "cannot reach the agent socket {}: {e}",
                    socket.display()
                )));
            }
        }
        agents.retain(|a| a.id != flag.id);
        agents.push(SshAgent {
            id: flag.id.clone(),
            socket,
        });
    }
    Ok(agents)
}

/// Kaniko's `resolveEnvironmentBuildArgs`: a bare `NAME` takes the environment's value, or
/// the empty string.
pub(super) fn resolve_build_args(args: &[BuildArgFlag], env: &Environment) -> Vec<BuildArg> {
    args.iter()
        .map(|arg| BuildArg {
            name: arg.name.clone(),
            value: arg
                .value
                .clone()
                .unwrap_or_else(|| env.var(&arg.name).unwrap_or_default().to_owned()),
        })
        .collect()
}

fn resolve_push(flags: &BuildFlags, env: &Environment) -> Result<PushSettings, SettingsError> {
    let no_push = match env.var("KANIKO_NO_PUSH") {
        Some(value) => parse_env_bool("KANIKO_NO_PUSH", value)?,
        None => flags.no_push,
    };
    if !no_push && flags.destination.is_empty() {
        return Err(SettingsError::MissingDestination);
    }
    let destinations = flags
        .destination
        .iter()
        .map(|value| {
            let reference =
                Reference::parse(value).map_err(|source| SettingsError::InvalidDestination {
                    value: value.clone(),
                    source,
                })?;
            if reference.digest().is_some() {
                return Err(SettingsError::DigestDestination {
                    value: value.clone(),
                });
            }
            Ok(reference)
        })
        .collect::<Result<_, _>>()?;
    Ok(PushSettings {
        destinations,
        enabled: !no_push,
        retry: flags.push_retry,
        ignore_immutable_tag_errors: flags.push_ignore_immutable_tag_errors,
        skip_permission_check: flags.skip_push_permission_check,
    })
}

fn resolve_cache(
    flags: &BuildFlags,
    push: &PushSettings,
    env: &Environment,
    warnings: &mut Vec<String>,
) -> Result<CacheSettings, SettingsError> {
    let given = match flags.cache_repo.as_deref().filter(|r| !r.is_empty()) {
        Some(repo) => Some(parse_cache_repo(repo, env)?),
        None => None,
    };
    if flags.cache && given.is_none() && !push.enabled {
        return Err(SettingsError::CacheRepoRequired);
    }
    if !flags.cache && given.is_some() {
        warnings.push("--cache-repo has no effect without --cache".to_owned());
    }
    let inferred = || {
        push.destinations
            .first()
            .map(|dest| CacheRepo::Registry(format!("{}/cache", dest.context())))
    };
    let repo = match given {
        Some(repo) => Some(repo),
        None if flags.cache => inferred(),
        None => None,
    };
    Ok(CacheSettings {
        enabled: flags.cache,
        repo,
        dir: env.absolute(&flags.cache_dir),
        ttl: flags.cache_ttl,
        copy_layers: flags.cache_copy_layers,
        run_layers: flags.cache_run_layers,
        compressed: flags.compressed_caching,
        push: !flags.no_push_cache,
    })
}

/// `oci:PATH` for a layout on disk, else a registry repository without tag or digest.
fn parse_cache_repo(repo: &str, env: &Environment) -> Result<CacheRepo, SettingsError> {
    if let Some(path) = repo.strip_prefix("oci:") {
        return Ok(CacheRepo::OciLayout(env.absolute(path)));
    }
    let reference = Reference::parse(repo).map_err(|source| SettingsError::InvalidCacheRepo {
        value: repo.to_owned(),
        source,
    })?;
    let last = repo.rsplit('/').next().unwrap_or(repo);
    if last.contains([':', '@']) {
        return Err(SettingsError::TaggedCacheRepo {
            value: repo.to_owned(),
        });
    }
    Ok(CacheRepo::Registry(reference.context()))
}

fn resolve_outputs(
    flags: &BuildFlags,
    push: &PushSettings,
    env: &Environment,
    warnings: &mut Vec<String>,
) -> Result<OutputSettings, SettingsError> {
    let tar_path = prefer_current(
        ("--tar-path", flags.tar_path.clone()),
        ("--tarPath", flags.tar_path_deprecated.clone()),
        warnings,
    )?;
    let needs_destination = [
        ("--tar-path", tar_path.is_some()),
        (
            "--image-name-with-digest-file",
            flags.image_name_with_digest_file.is_some(),
        ),
        (
            "--image-name-tag-with-digest-file",
            flags.image_name_tag_with_digest_file.is_some(),
        ),
    ];
    if push.destinations.is_empty() {
        if let Some((flag, _)) = needs_destination.iter().find(|(_, given)| *given) {
            return Err(SettingsError::NeedsDestination { flag });
        }
    }
    let absolute = |p: &Option<PathBuf>| p.as_ref().map(|p| env.absolute(p));
    Ok(OutputSettings {
        tar_path: absolute(&tar_path),
        digest_file: absolute(&flags.digest_file),
        image_name_with_digest_file: absolute(&flags.image_name_with_digest_file),
        image_name_tag_with_digest_file: absolute(&flags.image_name_tag_with_digest_file),
        oci_layout_path: absolute(&flags.oci_layout_path),
        builder_output: env.non_empty("BUILDER_OUTPUT").map(|d| env.absolute(d)),
    })
}

fn resolve_labels(labels: &[String]) -> Result<Vec<(String, String)>, SettingsError> {
    labels
        .iter()
        .map(|label| match label.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
            _ => Err(SettingsError::InvalidValue {
                flag: "--label",
                value: label.clone(),
                expected: "expected key=value".to_owned(),
            }),
        })
        .collect()
}

fn resolve_snapshot(
    flags: &BuildFlags,
    warnings: &mut Vec<String>,
) -> Result<SnapshotSettings, SettingsError> {
    let mode = prefer_current(
        ("--snapshot-mode", flags.snapshot_mode),
        ("--snapshotMode", flags.snapshot_mode_deprecated),
        warnings,
    )?;
    let ignore_var_run = prefer_current(
        ("--ignore-var-run", flags.ignore_var_run),
        ("--whitelist-var-run", flags.whitelist_var_run),
        warnings,
    )?;
    let ignore_paths = flags
        .ignore_path
        .iter()
        .map(|path| {
            if path.is_absolute() {
                Ok(path.clone())
            } else {
                Err(SettingsError::InvalidValue {
                    flag: "--ignore-path",
                    value: path.display().to_string(),
                    expected: "expected an absolute path in the image's filesystem".to_owned(),
                })
            }
        })
        .collect::<Result<_, _>>()?;
    Ok(SnapshotSettings {
        mode: mode.unwrap_or(SnapshotMode::Full),
        single_snapshot: flags.single_snapshot,
        use_new_run: flags.use_new_run,
        ignore_var_run: ignore_var_run.unwrap_or(true),
        ignore_paths,
    })
}

fn resolve_layers(flags: &BuildFlags, env: &Environment) -> Result<LayerSettings, SettingsError> {
    let compression = flags.compression.unwrap_or(Compression::Gzip);
    let (range, name) = match compression {
        Compression::Gzip => (0..=9, "gzip"),
        Compression::Zstd => (1..=22, "zstd"),
    };
    let compression_level = match flags.compression_level {
        -1 => None,
        level => match u32::try_from(level) {
            Ok(level) if range.contains(&level) => Some(level),
            _ => {
                return Err(SettingsError::InvalidValue {
                    flag: "--compression-level",
                    value: level.to_string(),
                    expected: format!(
                        "expected -1 (the default) or a {name} level from {} to {}",
                        range.start(),
                        range.end()
                    ),
                });
            }
        },
    };
    let source_date_epoch = match env.non_empty("SOURCE_DATE_EPOCH") {
        Some(value) => Some(
            value
                .parse::<u64>()
                .map_err(|_| SettingsError::InvalidEnv {
                    name: "SOURCE_DATE_EPOCH",
                    value: value.to_owned(),
                    expected: "expected seconds since 1970-01-01 as a whole number".to_owned(),
                })?,
        ),
        None => None,
    };
    Ok(LayerSettings {
        compression,
        compression_level,
        reproducible: flags.reproducible,
        source_date_epoch,
        force_build_metadata: flags.force_build_metadata,
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn build_arg_values_are_redacted_in_debug_output() {
        let arg = BuildArg {
            name: "NPM_TOKEN".into(),
            value: "npm_s3cret".into(),
        };
        let shown = format!("{arg:?}");
        assert!(shown.contains("NPM_TOKEN"), "{shown}");
        assert!(!shown.contains("npm_s3cret"), "{shown}");
    }

    #[derive(Parser)]
    struct Probe {
        #[command(flatten)]
        flags: BuildFlags,
    }

    fn flags(args: &[&str]) -> BuildFlags {
        Probe::try_parse_from(std::iter::once("probe").chain(args.iter().copied()))
            .map(|p| p.flags)
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    fn env(vars: &[(&str, &str)]) -> Environment {
        Environment::new(vars.iter().copied(), "/work")
    }

    #[test]
    fn compression_levels_are_checked_per_algorithm() {
        let cases: [(&[&str], Option<Option<u32>>); 8] = [
            (&[], Some(None)),
            (&["--compression-level=-1"], Some(None)),
            (&["--compression-level=0"], Some(Some(0))),
            (&["--compression-level=9"], Some(Some(9))),
            (&["--compression-level=10"], None),
            (
                &["--compression=zstd", "--compression-level=22"],
                Some(Some(22)),
            ),
            (&["--compression=zstd", "--compression-level=0"], None),
            (&["--compression-level=-2"], None),
        ];
        for (args, want) in cases {
            let got = resolve_layers(&flags(args), &env(&[])).ok();
            assert_eq!(got.map(|l| l.compression_level), want, "{args:?}");
        }
    }

    #[test]
    fn kaniko_no_push_overrides_the_flag() {
        type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], Option<bool>);
        let cases: [Case<'_>; 6] = [
            (&["-d", "r.example/a"], &[], Some(true)),
            (&["--no-push"], &[], Some(false)),
            (&[], &[("KANIKO_NO_PUSH", "true")], Some(false)),
            (
                &["--no-push", "-d", "r.example/a"],
                &[("KANIKO_NO_PUSH", "false")],
                Some(true),
            ),
            (&["--no-push"], &[("KANIKO_NO_PUSH", "false")], None),
            (&["--no-push"], &[("KANIKO_NO_PUSH", "")], None),
        ];
        for (args, vars, want) in cases {
            let got = resolve_push(&flags(args), &env(vars))
                .ok()
                .map(|p| p.enabled);
            assert_eq!(got, want, "{args:?} {vars:?}");
        }
    }

    #[test]
    fn cache_repo_forms() {
        let cases = [
            (
                "r.example/app/cache",
                Some(CacheRepo::Registry("r.example/app/cache".into())),
            ),
            (
                "localhost:5000/cache",
                Some(CacheRepo::Registry("localhost:5000/cache".into())),
            ),
            (
                "cache",
                Some(CacheRepo::Registry("docker.io/library/cache".into())),
            ),
            (
                "oci:/layouts/cache",
                Some(CacheRepo::OciLayout("/layouts/cache".into())),
            ),
            ("oci:rel", Some(CacheRepo::OciLayout("/work/rel".into()))),
            ("r.example/app:tag", None),
            ("r.example/app@sha256:0123", None),
            ("Bad Repo", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_cache_repo(input, &env(&[])).ok(), want, "{input:?}");
        }
    }

    #[test]
    fn labels_split_at_the_first_equals_sign() {
        let labels = ["a=1".to_owned(), "b=x=y".to_owned(), "c=".to_owned()];
        let got = resolve_labels(&labels).ok();
        let want = [("a", "1"), ("b", "x=y"), ("c", "")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .to_vec();
        assert_eq!(got, Some(want));
        assert!(resolve_labels(&["novalue".to_owned()]).is_err());
        assert!(resolve_labels(&["=v".to_owned()]).is_err());
    }

    #[test]
    fn var_run_is_ignored_unless_told_otherwise() {
        let cases: [(&[&str], Option<bool>); 6] = [
            (&[], Some(true)),
            (&["--ignore-var-run=false"], Some(false)),
            (&["--whitelist-var-run=false"], Some(false)),
            (&["--ignore-var-run"], Some(true)),
            (
                &["--ignore-var-run=false", "--whitelist-var-run=false"],
                Some(false),
            ),
            (
                &["--ignore-var-run=true", "--whitelist-var-run=false"],
                None,
            ),
        ];
        for (args, want) in cases {
            let got = resolve_snapshot(&flags(args), &mut Vec::new()).ok();
            assert_eq!(got.map(|s| s.ignore_var_run), want, "{args:?}");
        }
    }

    #[test]
    fn outputs_need_a_destination_only_to_name_the_image() {
        let cases: [(&[&str], bool); 6] = [
            (&["--no-push", "--digest-file=d"], true),
            (&["--no-push", "--oci-layout-path=l"], true),
            (&["--no-push", "--tar-path=t"], false),
            (&["--no-push", "--tar-path=t", "-d", "r.example/a"], true),
            (&["--no-push", "--image-name-with-digest-file=f"], false),
            (&["--no-push", "--image-name-tag-with-digest-file=f"], false),
        ];
        for (args, ok) in cases {
            let f = flags(args);
            let push = resolve_push(&f, &env(&[])).expect("push settings");
            let got = resolve_outputs(&f, &push, &env(&[]), &mut Vec::new());
            assert_eq!(got.is_ok(), ok, "{args:?}");
        }
    }
}
