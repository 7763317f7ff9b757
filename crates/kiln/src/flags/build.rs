//! `kiln build` / `executor`: every flag of Kaniko's executor, as the user typed it.
//!
//! Names, short forms, deprecated camelCase aliases, defaults and value syntax follow Kaniko's
//! `cmd/executor/cmd/root.go` (v1.23/v1.24); `docs/kaniko-flags.tsv` lists them and a test keeps
//! `--help` and that table equal. kiln's own additions sit under the "kiln" heading.
//!
//! Does not own: environment variables, defaults that depend on them, or validation
//! (`settings::build`).

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, ValueEnum};

use super::common::{LogFlags, PullRegistryFlags};
use super::duration::parse_go_duration;
use super::value::{
    BuildArgFlag, GitOption, parse_build_arg, parse_count, parse_git_options, parse_go_bool,
    parse_go_int,
};

/// `--snapshot-mode`: which file attributes decide that a file changed after a RUN.
///
/// kiln never hashes the whole filesystem: it compares `stat` results with the previous walk
/// and reads only the files that differ (DESIGN.md §4). The modes choose which stat fields
/// count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SnapshotMode {
    /// Every stat field: inode, size, mode, uid, gid, mtime and ctime to the nanosecond. The
    /// default; catches every change, including one that restores the old mtime.
    Full,
    /// Size, mode, uid, gid and mtime, as Kaniko's redo mode; a change that keeps all of them
    /// (same size, mtime restored) is missed.
    Redo,
    /// Only mtime, as Kaniko's time mode; a change that keeps the mtime is missed.
    Time,
}

/// `--compression`: how new layers are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Compression {
    Gzip,
    Zstd,
}

/// `--isolation`: where RUN instructions execute (kiln's addition; DESIGN.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Isolation {
    /// The safest mode this process is allowed: chroot, then rootless, then (only in a
    /// container) none.
    Auto,
    /// The stage's rootfs is a directory; RUN is chrooted into it in new mount and PID
    /// namespaces. Needs root.
    Chroot,
    /// As chroot, inside a user namespace, for builds without root.
    Rootless,
    /// Kaniko's way: the container's own `/` is the rootfs and RUN runs in it directly. Only
    /// inside a throwaway container (elsewhere it needs --force).
    None,
}

#[derive(Debug, Clone, Args)]
#[command(args_override_self = true)]
pub struct BuildFlags {
    // ---- build context and Dockerfile ----
    /// Path to the dockerfile to be built: as given, else relative to the context, or an
    /// http(s):// URL
    #[arg(
        short = 'f',
        long,
        value_name = "PATH",
        default_value = "Dockerfile",
        help_heading = "Build context"
    )]
    pub dockerfile: String,
    /// Path to the dockerfile build context: a directory, or dir://, tar://PATH, tar://stdin,
    /// git://HOST/REPO.git[#REF[#COMMIT]], https://, s3://, gs:// [default: /workspace/]
    #[arg(
        short = 'c',
        long,
        value_name = "CONTEXT",
        help_heading = "Build context"
    )]
    pub context: Option<String>,
    /// Sub path within the given context
    #[arg(long, value_name = "PATH", help_heading = "Build context")]
    pub context_sub_path: Option<String>,
    /// Name of the GCS bucket from which to access build context as tarball (prefer --context
    /// gs://...)
    #[arg(
        short = 'b',
        long,
        value_name = "BUCKET",
        hide = true,
        help_heading = "Build context"
    )]
    pub bucket: Option<String>,
    /// Options for a git context: branch=NAME, single-branch=BOOL, recurse-submodules=BOOL,
    /// insecure-skip-tls=BOOL; repeat the flag or join them with commas
    #[arg(long, action = ArgAction::Append, value_parser = parse_git_options,
          value_name = "KEY=VALUE[,...]", help_heading = "Build context")]
    pub git: Vec<Vec<GitOption>>,
    /// Set the target build stage to build
    #[arg(long, value_name = "STAGE", help_heading = "Build context")]
    pub target: Option<String>,
    /// Pass in ARG values at build time; a NAME without =value takes the value of the
    /// environment variable NAME. Set it repeatedly for multiple values.
    #[arg(long, action = ArgAction::Append, value_parser = parse_build_arg,
          value_name = "NAME[=VALUE]", help_heading = "Build context")]
    pub build_arg: Vec<BuildArgFlag>,
    /// Specify the build platform if different from the current host (os/arch[/variant])
    #[arg(long, value_name = "PLATFORM", help_heading = "Build context")]
    pub custom_platform: Option<String>,
    /// Deprecated: use --custom-platform
    #[arg(
        long = "customPlatform",
        value_name = "PLATFORM",
        help_heading = "Build context"
    )]
    pub custom_platform_deprecated: Option<String>,
    /// Build only used stages if defined to true. Otherwise it builds by default all stages,
    /// even the unnecessary ones until it reaches the target stage / end of Dockerfile
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false",
          value_parser = parse_go_bool, value_name = "BOOL", help_heading = "Build context")]
    pub skip_unused_stages: bool,

    // ---- destinations and outputs ----
    /// Registry the final image should be pushed to. Set it repeatedly for multiple
    /// destinations.
    #[arg(short = 'd', long, action = ArgAction::Append, value_name = "IMAGE",
          help_heading = "Destination and outputs")]
    pub destination: Vec<String>,
    /// Do not push the image to the registry (also KANIKO_NO_PUSH=true)
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false",
          value_parser = parse_go_bool, value_name = "BOOL",
          help_heading = "Destination and outputs")]
    pub no_push: bool,
    /// Path to save the image in as a tarball (needs --destination for the image's name)
    #[arg(long, value_name = "PATH", help_heading = "Destination and outputs")]
    pub tar_path: Option<PathBuf>,
    /// Deprecated: use --tar-path
    #[arg(
        long = "tarPath",
        value_name = "PATH",
        help_heading = "Destination and outputs"
    )]
    pub tar_path_deprecated: Option<PathBuf>,
    /// Specify a file to save the digest of the built image to
    #[arg(long, value_name = "PATH", help_heading = "Destination and outputs")]
    pub digest_file: Option<PathBuf>,
    /// Specify a file to save the image name w/ digest of the built image to
    #[arg(long, value_name = "PATH", help_heading = "Destination and outputs")]
    pub image_name_with_digest_file: Option<PathBuf>,
    /// Specify a file to save the image name w/ image tag w/ digest of the built image to
    #[arg(long, value_name = "PATH", help_heading = "Destination and outputs")]
    pub image_name_tag_with_digest_file: Option<PathBuf>,
    /// Path to save the OCI image layout of the built image
    #[arg(long, value_name = "PATH", help_heading = "Destination and outputs")]
    pub oci_layout_path: Option<PathBuf>,
    /// Set metadata for an image (key=value). Set it repeatedly for multiple labels.
    #[arg(long, action = ArgAction::Append, value_name = "KEY=VALUE",
          help_heading = "Destination and outputs")]
    pub label: Vec<String>,
    /// Number of retries for the push operation
    #[arg(long, value_parser = parse_count, default_value = "0", value_name = "N",
          help_heading = "Destination and outputs")]
    pub push_retry: u32,
    /// If true, known tag immutability errors are ignored and the push finishes with success
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false",
          value_parser = parse_go_bool, value_name = "BOOL",
          help_heading = "Destination and outputs")]
    pub push_ignore_immutable_tag_errors: bool,
    /// Skip check of the push permission
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false",
          value_parser = parse_go_bool, value_name = "BOOL",
          help_heading = "Destination and outputs")]
    pub skip_push_permission_check: bool,

    // ---- registries ----
    #[command(flatten)]
    pub registry: PullRegistryFlags,
    /// Push to insecure registry using plain HTTP
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false",
          value_parser = parse_go_bool, value_name = "BOOL", help_heading = "Registries")]
    pub insecure: bool,
    /// Push to insecure registry ignoring TLS verify
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false",
          value_parser = parse_go_bool, value_name = "BOOL", help_heading = "Registries")]
    pub skip_tls_verify: bool,
    /// Number of retries for downloading the remote image
    #[arg(long, value_parser = parse_count, default_value = "0", value_name = "N",
          help_heading = "Registries")]
    pub image_download_retry: u32,
    /// Number of retries for image FS extraction
    #[arg(long, value_parser = parse_count, default_value = "0", value_name = "N",
          help_heading = "Registries")]
    pub image_fs_extract_retry: u32,

    // ---- cache ----
    /// Use cache when building image
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false",
          value_parser = parse_go_bool, value_name = "BOOL", help_heading = "Cache")]
    pub cache: bool,
    /// Specify a repository to use as a cache, otherwise one will be inferred from the
    /// destination provided; when prefixed with 'oci:' the repository will be written in OCI
    /// image layout format at the path provided
    #[arg(long, value_name = "REPO", help_heading = "Cache")]
    pub cache_repo: Option<String>,
    /// Specify a local directory to use as a cache (base images from the warmer)
    #[arg(
        long,
        value_name = "PATH",
        default_value = "/cache",
        help_heading = "Cache"
    )]
    pub cache_dir: PathBuf,
    /// Cache timeout, a Go duration such as 6h or 1h30m
    #[arg(long, value_parser = parse_go_duration, default_value = "336h",
          value_name = "DURATION", help_heading = "Cache")]
    pub cache_ttl: Duration,
    /// Caches copy layers
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false",
          value_parser = parse_go_bool, value_name = "BOOL", help_heading = "Cache")]
    pub cache_copy_layers: bool,
    /// Caches run layers
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "true",
          value_parser = parse_go_bool, value_name = "BOOL", help_heading = "Cache")]
    pub cache_run_layers: bool,
    /// Compress the cached layers
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "true",
          value_parser = parse_go_bool, value_name = "BOOL", help_heading = "Cache")]
    pub compressed_caching: bool,
    /// Do not push the cache layers to the registry
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false",
          value_parser = parse_go_bool, value_name = "BOOL", help_heading = "Cache")]
    pub no_push_cache: bool,

    // ---- snapshots and layers ----
    /// Change the file attributes inspected during snapshotting [default: full]
    #[arg(long, value_enum, value_name = "MODE", help_heading = "Snapshots and layers",
          long_help = SNAPSHOT_MODE_HELP)]
    pub snapshot_mode: Option<SnapshotMode>,
    /// Deprecated: use --snapshot-mode
    #[arg(
        long = "snapshotMode",
        value_enum,
        value_name = "MODE",
        hide_possible_values = true,
        help_heading = "Snapshots and layers"
    )]
    pub snapshot_mode_deprecated: Option<SnapshotMode>,
    /// Take a single snapshot at the end of the build
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false",
          value_parser = parse_go_bool, value_name = "BOOL",
          help_heading = "Snapshots and layers")]
    pub single_snapshot: bool,
    /// Find a RUN's changes by mtime alone, as Kaniko's experimental run does; in kiln the
    /// same as --snapshot-mode=time
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false",
          value_parser = parse_go_bool, value_name = "BOOL",
          help_heading = "Snapshots and layers")]
    pub use_new_run: bool,
    /// Ignore /var/run directory when taking image snapshot; it matters only when RUN steps
    /// run without isolation, in the container's own / [default: true]
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_go_bool, value_name = "BOOL",
          help_heading = "Snapshots and layers")]
    pub ignore_var_run: Option<bool>,
    /// Deprecated: use --ignore-var-run
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_go_bool, value_name = "BOOL",
          hide = true)]
    pub whitelist_var_run: Option<bool>,
    /// Ignore these paths when taking a snapshot. Set it repeatedly for multiple paths.
    #[arg(long, action = ArgAction::Append, value_name = "PATH",
          help_heading = "Snapshots and layers")]
    pub ignore_path: Vec<PathBuf>,
    /// Strip timestamps out of the image to make it reproducible
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false",
          value_parser = parse_go_bool, value_name = "BOOL",
          help_heading = "Snapshots and layers")]
    pub reproducible: bool,
    /// Compression algorithm [default: gzip]
    #[arg(
        long,
        value_enum,
        value_name = "ALGORITHM",
        help_heading = "Snapshots and layers"
    )]
    pub compression: Option<Compression>,
    /// Compression level; -1 picks the algorithm's default
    #[arg(long, value_parser = parse_go_int, default_value = "-1", allow_negative_numbers = true,
          value_name = "LEVEL", help_heading = "Snapshots and layers")]
    pub compression_level: i64,
    /// Force add metadata layers to build image
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false",
          value_parser = parse_go_bool, value_name = "BOOL",
          help_heading = "Snapshots and layers")]
    pub force_build_metadata: bool,

    // ---- the build environment ----
    /// Path to the kaniko directory, this takes precedence over the KANIKO_DIR environment
    /// variable [default: /kaniko]
    #[arg(long, value_name = "PATH", help_heading = "Build environment")]
    pub kaniko_dir: Option<PathBuf>,
    /// Clean the filesystem at the end. kiln always removes its work directory (the rootfs,
    /// layers and blobs of the build) when it finishes, so this is always in effect
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false",
          value_parser = parse_go_bool, value_name = "BOOL", help_heading = "Build environment")]
    pub cleanup: bool,
    /// Force building outside of a container: lets --isolation=none build in / where nothing
    /// says this is a container. chroot and rootless isolation build anywhere without it
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false",
          value_parser = parse_go_bool, value_name = "BOOL", help_heading = "Build environment")]
    pub force: bool,
    /// Where RUN instructions execute (kiln's addition)
    #[arg(
        long,
        value_enum,
        default_value = "auto",
        value_name = "MODE",
        help_heading = "kiln"
    )]
    pub isolation: Isolation,
    /// A secret that RUN --mount=type=secret can mount, as BuildKit takes it:
    /// id=ID,src=PATH or id=ID,env=VAR (a bare id=ID reads the variable ID if it is set, else
    /// the file ID). Set it repeatedly for several. kiln's addition: Kaniko has no secrets
    #[arg(long, action = ArgAction::Append, value_name = "id=ID,src=PATH|env=VAR",
          value_parser = parse_secret, help_heading = "kiln")]
    pub secret: Vec<SecretFlag>,
    /// An SSH agent that RUN --mount=type=ssh can reach, as buildx takes it:
    /// default|ID[=SOCKET]. Without a socket it is the agent of SSH_AUTH_SOCK. Set it
    /// repeatedly for several. kiln's addition: Kaniko has no SSH forwarding
    #[arg(long, action = ArgAction::Append, value_name = "default|ID[=SOCKET]",
          value_parser = parse_ssh, help_heading = "kiln")]
    pub ssh: Vec<SshFlag>,

    #[command(flatten)]
    pub log: LogFlags,
}

/// One `--secret` as typed: buildx's `parseSecret` fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretFlag {
    pub id: String,
    pub src: Option<PathBuf>,
    pub env: Option<String>,
}

/// buildx's `parseSecret`: comma-separated `type=file|env`, `id`, `src`/`source`, `env`; with
/// `type=env` a `src` names the variable.
fn parse_secret(value: &str) -> Result<SecretFlag, String> {
    let mut flag = SecretFlag {
        id: String::new(),
        src: None,
        env: None,
    };
    let mut kind = None;
    for field in value.split(',') {
        let (key, val) = field
            .split_once('=')
            .ok_or_else(|| format!("invalid field {field:?}: it must be a key=value pair"))?;
        match key.to_ascii_lowercase().as_str() {
            "type" if val == "file" || val == "env" => kind = Some(val.to_owned()),
            "type" => return Err(format!("unsupported secret type {val:?}")),
            "id" => flag.id = val.to_owned(),
            "source" | "src" => flag.src = Some(PathBuf::from(val)),
            "env" => flag.env = Some(val.to_owned()),
            _ => return Err(format!("unexpected key {key:?} in {field:?}")),
        }
    }
    if kind.as_deref() == Some("env") && flag.env.is_none() {
        flag.env = flag.src.take().map(|p| p.to_string_lossy().into_owned());
    }
    if flag.id.is_empty() {
        return Err("a secret needs an id (id=ID)".to_owned());
    }
    if flag.src.is_some() && flag.env.is_some() {
        return Err("a secret comes from a file (src=) or a variable (env=), not both".to_owned());
    }
    Ok(flag)
}

/// One `--ssh` as typed: buildx's `parseSSH` fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshFlag {
    pub id: String,
    pub paths: Vec<PathBuf>,
}

/// buildx's `parseSSH`: `ID[=PATH[,PATH...]]`.
fn parse_ssh(value: &str) -> Result<SshFlag, String> {
    let (id, paths) = match value.split_once('=') {
        Some((id, paths)) => (id, paths.split(',').map(PathBuf::from).collect()),
        None => (value, Vec::new()),
    };
    if id.is_empty() {
        return Err("an ssh agent needs an id (default, or ID=SOCKET)".to_owned());
    }
    Ok(SshFlag {
        id: id.to_owned(),
        paths,
    })
}

const SNAPSHOT_MODE_HELP: &str = "\
Change the file attributes inspected during snapshotting.

kiln finds what a RUN changed by comparing each file's stat with the walk before it and reads \
only the files that differ; no mode hashes unchanged files. The mode picks the stat fields that \
count. [default: full]";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_parses_as_buildx_does() {
        let flag = |id: &str, paths: &[&str]| SshFlag {
            id: id.to_owned(),
            paths: paths.iter().map(PathBuf::from).collect(),
        };
        let cases = [
            ("default", Ok(flag("default", &[]))),
            ("gh=/run/agent.sock", Ok(flag("gh", &["/run/agent.sock"]))),
            ("k=/a,/b", Ok(flag("k", &["/a", "/b"]))),
            ("=/a", Err("needs an id")),
        ];
        for (value, want) in cases {
            match (parse_ssh(value), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{value}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{value}: {got}"),
                (got, want) => panic!("{value}: {got:?}, expected {want:?}"),
            }
        }
    }

    #[test]
    fn secrets_parse_as_buildx_does() {
        let flag = |id: &str, src: Option<&str>, env: Option<&str>| SecretFlag {
            id: id.to_owned(),
            src: src.map(PathBuf::from),
            env: env.map(str::to_owned),
        };
        let cases = [
            (
                "id=npm,src=/run/npmrc",
                Ok(flag("npm", Some("/run/npmrc"), None)),
            ),
            ("id=npm,source=npmrc", Ok(flag("npm", Some("npmrc"), None))),
            ("id=tok,env=TOKEN", Ok(flag("tok", None, Some("TOKEN")))),
            (
                "type=env,id=tok,src=TOKEN",
                Ok(flag("tok", None, Some("TOKEN"))),
            ),
            ("type=file,id=tok", Ok(flag("tok", None, None))),
            ("src=/x", Err("needs an id")),
            ("id=a,src=/x,env=Y", Err("not both")),
            ("id=a,type=ssh", Err("unsupported secret type")),
            ("id=a,mode=0400", Err("unexpected key")),
            ("id", Err("key=value")),
        ];
        for (value, want) in cases {
            match (parse_secret(value), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{value}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{value}: {got}"),
                (got, want) => panic!("{value}: {got:?}, expected {want:?}"),
            }
        }
    }
}
