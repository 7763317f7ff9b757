//! The filesystem steps of a stage: RUN through the sandbox, WORKDIR's directory, and the
//! layer each makes.
//!
//! Owns: RUN's `--network` and `--security` (refusing `--security=insecure`, and mounts or
//! `--network=none` where the run is in place, naming them and the line); starting a RUN in
//! the stage rootfs with the network files, the heredoc script and its `--mount`s
//! ([`super::run_mount`]) mounted, streaming its output with a step prefix; and turning what
//! a step changed into a layer: a walk of the rootfs
//! compared with the one before the step ([`kiln_fs::snapshot`]), the diff written as a layer
//! blob ([`kiln_fs::layer::write`]). A step that changed nothing makes no layer, as in Docker.
//!
//! Does not own: the RUN process's argv, env and history text ([`crate::exec::run`]),
//! namespaces and mounts (`kiln-sandbox`).
//! Reference: <https://docs.docker.com/reference/dockerfile/#run>.

use std::path::{Path, PathBuf};

use kiln_dockerfile::Span;
use kiln_dockerfile::instruction::{Network, Run, Security};
use kiln_fs::snapshot::{self, Ignore, Snapshot, SnapshotMode};
use kiln_oci::{Descriptor, Family, MediaType};
use kiln_sandbox::{
    BindMount, Isolation, Mount, NetworkFiles, NetworkMode, RunSpec, Sandbox, Stream,
};

use super::base::LayerBlob;
use super::error::Error;
use super::run_mount::PreparedMounts;
use crate::error::StageRef;
use crate::exec::RunProcess;

/// The rootfs of a stage being built, and its last snapshot.
pub struct Rootfs {
    pub path: PathBuf,
    pub root: kiln_fs::resolve::Root,
    pub snapshot: Snapshot,
    pub ignore: Ignore,
    /// What extraction without the host's root could not create as the base layers say.
    pub placeholders: kiln_fs::extract::Placeholders,
    /// Whether the stage's steps write layers. A stage whose layers nothing reads (only ever
    /// a `COPY --from` or `RUN --mount from=` source, read from this directory) writes none
    /// and keeps no snapshot: no diff of it is ever taken.
    pub layers: bool,
    /// How many of the stage image's layers the directory holds: with the cache, a hit adds
    /// a layer to the image without touching the directory, and the next step that runs
    /// extracts the rest first.
    pub holds: usize,
}

/// The network a RUN gets, or an error for the flags kiln cannot honour: `--security=insecure`
/// needs an entitlement (`--allow security.insecure` in BuildKit) that kiln never grants.
/// `--network=default` and `host` are the host's network, as RUN has it in Kaniko and in a
/// BuildKit worker without a CNI setup; `none` is a network namespace with only loopback.
pub fn check_run_flags(run: &Run, stage: &StageRef) -> Result<NetworkMode, Error> {
    if run.security == Some(Security::Insecure) {
        return Err(Error::NotSupported {
            span: run.span,
            stage: stage.clone(),
            feature: "RUN --security=insecure (BuildKit grants it only with the entitlement \
                      --allow security.insecure, which kiln does not have)"
                .to_owned(),
        });
    }
    Ok(match run.network {
        None | Some(Network::Default) | Some(Network::Host) => NetworkMode::Host,
        Some(Network::None) => NetworkMode::None,
    })
}

/// Where a RUN's helper files go, and how it is isolated.
pub struct RunContext<'a> {
    pub sandbox: &'a Sandbox,
    pub isolation: Isolation,
    /// A directory of the work area for the network files and scripts.
    pub scratch: &'a Path,
    pub prefix: &'a str,
    pub network: NetworkMode,
    /// The RUN's `--mount`s, prepared.
    pub mounts: &'a PreparedMounts,
}

/// Runs `process` in `rootfs`; a non-zero exit fails with the command's code.
pub fn run(
    ctx: &RunContext<'_>,
    rootfs: &Rootfs,
    process: &RunProcess,
    stage: &StageRef,
    step: usize,
    span: Span,
) -> Result<Vec<PathBuf>, Error> {
    let command = process.created_by.clone();
    let sandbox_error = |source| Error::Sandbox {
        span,
        stage: stage.clone(),
        command: command.clone(),
        source: Box::new(source),
    };
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io { path, source }
    };
    if ctx.isolation == Isolation::None {
        let unsupported = |feature: &str| Error::NotSupported {
            span,
            stage: stage.clone(),
            feature: feature.to_owned(),
        };
        if !ctx.mounts.mounts.is_empty() {
            return Err(unsupported(
                "RUN --mount with --isolation=none (a mount needs privileges kiln does not \
                 have when it builds in place)",
            ));
        }
        if ctx.network == NetworkMode::None {
            return Err(unsupported(
                "RUN --network=none with --isolation=none (it needs a network namespace, which \
                 building in place does not create)",
            ));
        }
    }
    std::fs::create_dir_all(ctx.scratch).map_err(io(ctx.scratch))?;
    let files = NetworkFiles::write(ctx.scratch, "kiln", Path::new("/etc/resolv.conf"))
        .map_err(sandbox_error)?;
    let mut spec = RunSpec::new(&rootfs.path, process.argv.clone());
    spec.isolation = ctx.isolation;
    spec.env = process.env.clone();
    spec.env.extend(ctx.mounts.env.iter().cloned());
    spec.network = ctx.network;
    spec.user = process.user.clone();
    spec.cwd = PathBuf::from(&process.cwd);
    spec.hostname = Some("kiln".to_owned());
    spec.mounts = files.mounts();
    if let Some(script) = &process.script {
        let host = ctx.scratch.join("script");
        write_script(&host, &script.content, script.mode).map_err(io(&host))?;
        spec.mounts.push(Mount::Bind(BindMount {
            source: host,
            target: PathBuf::from(&script.path),
            read_only: true,
        }));
    }
    spec.mounts.extend(ctx.mounts.mounts.iter().cloned());
    let _placed = super::inplace::fit_run(&mut spec, stage, span)?;
    // The working directory must exist for the process to start; Docker creates it too.
    rootfs
        .root
        .create_dir_all(&process.cwd, 0o755)
        .map_err(|source| Error::Rootfs {
            stage: stage.clone(),
            path: PathBuf::from(&process.cwd),
            source: Box::new(source),
        })?;
    let outcome = ctx
        .sandbox
        .run(&spec, &mut |stream, line| {
            let line = String::from_utf8_lossy(line);
            match stream {
                Stream::Stdout => tracing::info!("{} {line}", ctx.prefix),
                Stream::Stderr => tracing::info!("{} {line}", ctx.prefix),
            }
        })
        .map_err(sandbox_error)?;
    let code = outcome.status.code();
    if code != 0 {
        return Err(Error::RunFailed {
            span,
            stage: stage.clone(),
            step,
            command,
            code,
        });
    }
    Ok(outcome.removed_mount_points)
}

fn write_script(path: &Path, content: &str, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, content)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// What a layer is written with.
pub struct LayerSettings<'a> {
    pub options: &'a kiln_fs::layer::LayerOptions,
    pub mode: SnapshotMode,
    pub family: Family,
    pub dir: &'a Path,
}

/// Walks `rootfs`, compares with its last snapshot, and writes the difference as a layer.
/// `None` when the step changed nothing. `removed_mount_points` are the sandbox's mount
/// points, created for a RUN and removed after it: their parent directories keep a new ctime
/// and nothing else, which is no change of the image (Docker's layer does not list them).
pub fn snapshot_layer(
    rootfs: &mut Rootfs,
    settings: &LayerSettings<'_>,
    stage: &StageRef,
    step: usize,
    removed_mount_points: &[PathBuf],
) -> Result<Option<(LayerBlob, kiln_oci::DiffId)>, Error> {
    if !rootfs.layers {
        return Ok(None);
    }
    let snap_error = |source| Error::Snapshot {
        stage: stage.clone(),
        step,
        source: Box::new(source),
    };
    let after = snapshot::walk(&rootfs.path, &rootfs.ignore).map_err(snap_error)?;
    let mut diff =
        snapshot::compare(&rootfs.snapshot, &after, settings.mode).map_err(snap_error)?;
    let stub_parents: Vec<&Path> = removed_mount_points
        .iter()
        .flat_map(|p| p.ancestors().skip(1))
        .map(|p| p.strip_prefix("/").unwrap_or(p))
        .filter(|p| !p.as_os_str().is_empty())
        .collect();
    diff.modified.retain(|path| {
        !stub_parents.contains(&path.as_path())
            || !only_ctime_changed(rootfs.snapshot.get(path), after.get(path))
    });
    rootfs.snapshot = after;
    if diff.is_empty() {
        return Ok(None);
    }
    let changes = diff.to_changes().map_err(snap_error)?;
    // What a step deleted or replaced is no longer a placeholder.
    for path in diff.deleted.iter().chain(&diff.opaque) {
        rootfs
            .placeholders
            .forget(path.strip_prefix("/").unwrap_or(path));
    }
    write_layer(
        &rootfs.path,
        &changes,
        settings,
        stage,
        step,
        &rootfs.placeholders,
    )
    .map(Some)
}

/// Whether a path's only difference between two walks is its ctime.
fn only_ctime_changed(old: Option<&snapshot::Stat>, new: Option<&snapshot::Stat>) -> bool {
    match (old, new) {
        (Some(old), Some(new)) => {
            let mut new = new.clone();
            new.ctime_ns = old.ctime_ns;
            *old == new
        }
        _ => false,
    }
}

/// Writes `changes`, read from `root`, as a layer blob of the work area.
pub fn write_layer(
    root: &Path,
    changes: &kiln_fs::layer::Changes,
    settings: &LayerSettings<'_>,
    stage: &StageRef,
    step: usize,
    placeholders: &kiln_fs::extract::Placeholders,
) -> Result<(LayerBlob, kiln_oci::DiffId), Error> {
    std::fs::create_dir_all(settings.dir).map_err(|source| Error::Io {
        path: settings.dir.to_owned(),
        source,
    })?;
    let dest = settings
        .dir
        .join(format!("stage{}-step{step}.layer", stage.index));
    let written = kiln_fs::layer::write_with_placeholders(
        root,
        changes,
        &dest,
        settings.options,
        placeholders,
    )
    .map_err(|source| Error::Layer {
        stage: stage.clone(),
        step,
        source: Box::new(source),
    })?;
    let media_type = MediaType::layer(settings.family, oci_compression(written.compression));
    let descriptor = Descriptor::new(media_type, written.digest.clone(), written.size);
    Ok((
        LayerBlob {
            descriptor,
            path: written.path,
            source: None,
        },
        written.diff_id,
    ))
}

/// The manifest's word for a layer compression.
pub fn oci_compression(c: kiln_fs::layer::Compression) -> kiln_oci::Compression {
    match c {
        kiln_fs::layer::Compression::Gzip => kiln_oci::Compression::Gzip,
        kiln_fs::layer::Compression::Zstd => kiln_oci::Compression::Zstd,
        kiln_fs::layer::Compression::Uncompressed => kiln_oci::Compression::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_of(line: &str) -> Run {
        let file =
            kiln_dockerfile::parse_dockerfile(&format!("FROM scratch\n{line}\n")).expect("parses");
        match file.stages[0].instructions.first() {
            Some(kiln_dockerfile::instruction::Instruction::Run(run)) => run.clone(),
            other => panic!("not a RUN: {other:?}"),
        }
    }

    #[test]
    fn run_flags_give_the_network_or_refuse_insecure_by_name() {
        let stage = StageRef {
            index: 0,
            name: None,
        };
        let cases = [
            ("RUN true", Ok(NetworkMode::Host)),
            ("RUN --network=default true", Ok(NetworkMode::Host)),
            ("RUN --network=host true", Ok(NetworkMode::Host)),
            ("RUN --network=none true", Ok(NetworkMode::None)),
            (
                "RUN --mount=type=cache,target=/c true",
                Ok(NetworkMode::Host),
            ),
            ("RUN --security=sandbox true", Ok(NetworkMode::Host)),
            (
                "RUN --security=insecure true",
                Err("--allow security.insecure"),
            ),
        ];
        for (line, want) in cases {
            match (check_run_flags(&run_of(line), &stage), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{line}"),
                (Err(Error::NotSupported { feature, .. }), Err(named)) => {
                    assert!(feature.contains(named), "{line}: {feature}")
                }
                (got, want) => panic!("{line}: {got:?}, expected {want:?}"),
            }
        }
    }

    #[test]
    fn in_place_runs_refuse_mounts_and_network_none_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ignore = snapshot::ignore_paths(Vec::<PathBuf>::new());
        let rootfs = Rootfs {
            path: dir.path().to_path_buf(),
            root: kiln_fs::resolve::Root::open(dir.path()).expect("root"),
            snapshot: snapshot::walk(dir.path(), &ignore).expect("walk"),
            ignore,
            placeholders: Default::default(),
            layers: true,
            holds: 0,
        };
        let process = RunProcess {
            argv: vec!["true".into()],
            env: Vec::new(),
            user: String::new(),
            cwd: "/".into(),
            script: None,
            created_by: "RUN true".into(),
        };
        let stage = StageRef {
            index: 0,
            name: None,
        };
        let sandbox = Sandbox::with_program("/nonexistent");
        let mut tmpfs = PreparedMounts::default();
        tmpfs.mounts.push(Mount::Tmpfs {
            target: "/t".into(),
            size: None,
        });
        let none = PreparedMounts::default();
        let cases = [
            (
                &tmpfs,
                NetworkMode::Host,
                "RUN --mount with --isolation=none",
            ),
            (
                &none,
                NetworkMode::None,
                "RUN --network=none with --isolation=none",
            ),
        ];
        for (mounts, network, want) in cases {
            let ctx = RunContext {
                sandbox: &sandbox,
                isolation: Isolation::None,
                scratch: &dir.path().join("scratch"),
                prefix: "",
                network,
                mounts,
            };
            let span = run_of("RUN true").span;
            match run(&ctx, &rootfs, &process, &stage, 1, span) {
                Err(Error::NotSupported { feature, .. }) => {
                    assert!(feature.starts_with(want), "{feature}")
                }
                other => panic!("{want}: {other:?}"),
            }
        }
        assert!(
            !dir.path().join("scratch").exists(),
            "refused before any work"
        );
    }
}
