//! Driving the `kiln` binary end to end, and the tools its images are checked with.
//!
//! Owns: running `kiln build` and `kiln warm` on a context directory with an empty environment
//! ([`Kiln`]), making that directory ([`context`]), unique image names in the test registry
//! ([`destination`]), and running `docker`, `skopeo`, `tar` and the like with their stderr in
//! the test's output ([`tool`], [`stdout_of`], [`run_ok`], [`DockerImage`], [`config_of`],
//! [`manifest_of`], [`fetch`]).
//!
//! Does not own: the registries or base images (`scripts/testenv`, read through
//! [`crate::env()`]), nor comparing images with BuildKit's (`crate::compare`).
//!
//! Cargo names the binary under test only to the crate that builds it
//! (`env!("CARGO_BIN_EXE_kiln")`), so a test file starts with
//! `const KILN: Kiln = Kiln::new(env!("CARGO_BIN_EXE_kiln"));`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

use crate::TestEnv;

/// The Dockerfile of tests that stop once the settings are resolved: valid flags get past
/// settings resolution and fail at its unknown second instruction, before anything is pulled
/// or pushed.
pub const STOP_DOCKERFILE: &str = "FROM scratch\nSTOP_AFTER_SETTINGS\n";

/// Whether a build with [`STOP_DOCKERFILE`] got past settings resolution: it stopped at the
/// unknown instruction, or at a context or flag the executor refuses before reading it.
pub fn stopped_after_settings(stderr: &str) -> bool {
    [
        "unknown instruction STOP_AFTER_SETTINGS",
        "a build context other than a local directory is not supported yet",
        "building from a remote build context is not supported yet",
        "the layer cache (--cache) is not supported yet",
        "--single-snapshot is not supported yet",
        "--image-fs-extract-retry is not supported yet",
        "--force-build-metadata is not supported yet",
    ]
    .iter()
    .any(|s| stderr.contains(s))
}

/// The `kiln` binary under test.
#[derive(Debug, Clone, Copy)]
pub struct Kiln {
    bin: &'static str,
}

impl Kiln {
    /// The binary at `bin`, normally `env!("CARGO_BIN_EXE_kiln")`.
    pub const fn new(bin: &'static str) -> Self {
        Self { bin }
    }

    /// Where the binary is, for running it under another name or through another program.
    pub fn path(&self) -> &'static Path {
        Path::new(self.bin)
    }

    /// `kiln` with an empty environment, so that the host's `KANIKO_*` variables, proxies and
    /// Docker credentials do not leak in.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(self.bin);
        cmd.env_clear();
        cmd
    }

    /// `kiln build` of the context `dir`: its `Dockerfile`, and `dir/kaniko` as the kaniko
    /// directory. No log format is chosen; add arguments and variables before running it.
    pub fn build_command(&self, dir: &Path) -> Command {
        self.build_command_with(dir, &dir.join("kaniko"))
    }

    /// [`Kiln::build_command`] with the kaniko directory `kaniko_dir`, for a context that must
    /// not hold it.
    pub fn build_command_with(&self, dir: &Path, kaniko_dir: &Path) -> Command {
        let mut cmd = self.command();
        cmd.args(["build", "--context"])
            .arg(dir)
            .arg("--dockerfile")
            .arg(dir.join("Dockerfile"))
            .arg("--kaniko-dir")
            .arg(kaniko_dir);
        cmd
    }

    /// Runs [`Kiln::build_command`] with plain log lines (`--log-format=text`) and `args`.
    pub fn build(&self, dir: &Path, args: &[&str]) -> Output {
        self.build_with_env(dir, args, &[])
    }

    /// [`Kiln::build`] with the environment variables `vars`.
    pub fn build_with_env(&self, dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
        output(
            self.build_command(dir)
                .arg("--log-format=text")
                .args(args)
                .envs(vars.iter().copied()),
        )
    }

    /// `kiln warm` with an empty environment. No log format is chosen.
    pub fn warm_command(&self) -> Command {
        let mut cmd = self.command();
        cmd.arg("warm");
        cmd
    }

    /// Runs `kiln warm --log-format=text ARGS`.
    pub fn warm(&self, args: &[&str]) -> Output {
        self.warm_with_env(args, &[])
    }

    /// [`Kiln::warm`] with the environment variables `vars`.
    pub fn warm_with_env(&self, args: &[&str], vars: &[(&str, &str)]) -> Output {
        output(
            self.warm_command()
                .arg("--log-format=text")
                .args(args)
                .envs(vars.iter().copied()),
        )
    }
}

/// Runs `cmd` to its end and copies its stderr into the test's output.
pub fn output(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{} runs: {e}", cmd.get_program().to_string_lossy()));
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    out
}

/// What a process wrote to stderr.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A build context directory holding `dockerfile` as `Dockerfile`.
pub fn context(dockerfile: &str) -> TempDir {
    context_with(dockerfile, &[])
}

/// A build context holding `dockerfile` and the `(name, content)` files.
pub fn context_with(dockerfile: &str, files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let dockerfile = [("Dockerfile", dockerfile)];
    for (name, content) in dockerfile.iter().chain(files) {
        let path = dir.path().join(name);
        std::fs::write(&path, content)
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
    dir
}

/// A repository in the plain test registry unique to this test process:
/// `<registry>/kiln-<area>-<name>-<pid>:test`, `area` naming the test file.
pub fn destination(env: &TestEnv, area: &str, name: &str) -> String {
    format!(
        "{}/kiln-{area}-{name}-{}:test",
        env.registry,
        std::process::id()
    )
}

/// Runs `program ARGS`, copying its stderr into the test's output; a failure is the caller's
/// to judge.
pub fn tool(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    eprintln!(
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The stdout of `program ARGS`, which must succeed.
#[track_caller]
pub fn stdout_of(program: &str, args: &[&str]) -> String {
    run_ok(Command::new(program).args(args))
}

/// Runs `cmd`, which must succeed, copying its stderr into the test's output; returns its
/// stdout.
#[track_caller]
pub fn run_ok(cmd: &mut Command) -> String {
    let out = output(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An image in the local Docker Engine for the length of a test; removed again on drop.
#[derive(Debug)]
pub struct DockerImage {
    name: String,
}

impl DockerImage {
    /// Pulls `image` (from the test registry) into the Engine.
    #[track_caller]
    pub fn pull(image: &str) -> Self {
        stdout_of("docker", &["pull", "-q", image]);
        Self {
            name: image.to_owned(),
        }
    }

    /// Loads the `docker save` tarball `tar`, which must hold the image `name`.
    #[track_caller]
    pub fn load(tar: &Path, name: &str) -> Self {
        let loaded = stdout_of("docker", &["load", "-i", tar.to_str().expect("utf-8 path")]);
        assert!(loaded.contains(name), "{loaded}");
        Self {
            name: name.to_owned(),
        }
    }

    /// The image's reference in the Engine.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The stdout of `docker run --rm IMAGE ARGV` (no `argv`: the image's own command).
    #[track_caller]
    pub fn run(&self, argv: &[&str]) -> String {
        let mut args = vec!["run", "--rm", &self.name];
        args.extend(argv);
        stdout_of("docker", &args)
    }

    /// The stdout of `script` run by the image's `sh -c`.
    #[track_caller]
    pub fn sh(&self, script: &str) -> String {
        self.run(&["sh", "-c", script])
    }
}

impl Drop for DockerImage {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", &self.name]).output();
    }
}

/// Whether the registry has `image` (`skopeo inspect docker://IMAGE` succeeds).
pub fn is_pushed(image: &str) -> bool {
    tool(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            &format!("docker://{image}"),
        ],
    )
    .status
    .success()
}

/// The config of the pushed `image`.
#[track_caller]
pub fn config_of(image: &str) -> serde_json::Value {
    let text = stdout_of(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            "--config",
            &format!("docker://{image}"),
        ],
    );
    serde_json::from_str(&text).expect("config is json")
}

/// The manifest `skopeo inspect --raw` reads at `location`, a skopeo transport and name such as
/// `docker://host/name:tag` or `oci:/path/layout`.
#[track_caller]
pub fn manifest_of(location: &str) -> serde_json::Value {
    let text = stdout_of(
        "skopeo",
        &["inspect", "--tls-verify=false", "--raw", location],
    );
    serde_json::from_str(&text).expect("manifest is json")
}

/// The pushed `image` copied to a `dir:` layout: the directory and the layer blobs in the
/// manifest's order.
#[track_caller]
pub fn fetch(image: &str) -> (TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("image");
    stdout_of(
        "skopeo",
        &[
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{image}"),
            &format!("dir:{}", target.display()),
        ],
    );
    let manifest_path = target.join("manifest.json");
    let text = std::fs::read_to_string(&manifest_path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", manifest_path.display()));
    let manifest: serde_json::Value = serde_json::from_str(&text).expect("manifest is json");
    let layers = manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| {
            let digest = l["digest"].as_str().expect("digest");
            target.join(digest.trim_start_matches("sha256:"))
        })
        .collect();
    (dir, layers)
}
