//! The reference builder when a Docker Engine answers: its BuildKit, or its classic builder.
//!
//! BuildKit is reached through the Engine API (`POST /build?version=2`) with the context sent
//! as a tar, because the Docker CLI here needs the buildx plugin for BuildKit and Debian ships
//! none. The tar is made as the CLI makes it: owners reset to 0:0 (the CLI's fsutil walk maps
//! every uid/gid to 0). The CLI also applies `.dockerignore` before sending; a tar sent over
//! the API is not filtered, so a case with a `.dockerignore` uses the classic builder, which
//! the CLI drives with the same filtering. The classic builder runs as
//! `DOCKER_BUILDKIT=0 docker build`.

use std::path::Path;
use std::process::{Command, Stdio};

use super::case::{Case, EngineBuilder};
use super::reference::run;

/// Builds the case's reference image as `tag` in the Engine from the laid-out context `ctx`.
pub fn build(case: &Case, ctx: &Path, tag: &str) -> Result<(), String> {
    if ctx.join(".dockerignore").exists() && case.engine_builder == EngineBuilder::BuildKit {
        return Err(
            "a context with a .dockerignore needs `reference: classic` (the API does not filter)"
                .into(),
        );
    }
    match case.engine_builder {
        EngineBuilder::Classic => {
            let mut command = Command::new("docker");
            command
                .env("DOCKER_BUILDKIT", "0")
                .args(["build", "-q", "-t", tag]);
            for arg in &case.build_args {
                command.args(["--build-arg", arg]);
            }
            if let Some(target) = &case.target {
                command.args(["--target", target]);
            }
            run(command.arg(ctx)).map(drop)
        }
        EngineBuilder::BuildKit => buildkit(case, ctx, tag),
    }
}

fn buildkit(case: &Case, ctx: &Path, tag: &str) -> Result<(), String> {
    let mut query = format!("version=2&dockerfile=Dockerfile&t={}", encode(tag));
    if !case.build_args.is_empty() {
        let args: serde_json::Map<String, serde_json::Value> = case
            .build_args
            .iter()
            .map(|a| {
                let (k, v) = a.split_once('=').unwrap_or((a, ""));
                (k.to_owned(), serde_json::Value::from(v))
            })
            .collect();
        query.push_str("&buildargs=");
        query.push_str(&encode(&serde_json::Value::Object(args).to_string()));
    }
    if let Some(target) = &case.target {
        query.push_str("&target=");
        query.push_str(&encode(target));
    }
    let tar = ctx.with_extension("tar");
    run(Command::new("tar")
        .args(["--owner=0", "--group=0", "--numeric-owner", "-cf"])
        .arg(&tar)
        .arg("-C")
        .arg(ctx)
        .arg("."))?;
    let out = run(Command::new("curl")
        .args([
            "-sS",
            "--fail-with-body",
            "--unix-socket",
            "/var/run/docker.sock",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/x-tar",
            "--data-binary",
        ])
        .arg(format!("@{}", tar.display()))
        .arg(format!("http://localhost/v1.41/build?{query}"))
        .stdin(Stdio::null()))?;
    let mut built = false;
    for line in out.lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if let Some(error) = message.get("error") {
            return Err(format!("BuildKit: {error}"));
        }
        built |= message["id"] == "moby.image.id";
    }
    if !built {
        return Err(format!("BuildKit reported no image:\n{out}"));
    }
    Ok(())
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The Engine's version, when `docker version` reaches one.
pub fn version() -> Option<String> {
    let out = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !version.is_empty()).then_some(version)
}

/// `docker save`s `tag` to `tar`.
pub fn save(tag: &str, tar: &Path) -> Result<(), String> {
    run(Command::new("docker")
        .args(["save", "-o"])
        .arg(tar)
        .arg(tag))
    .map(drop)
}

/// `docker load`s a tarball.
pub fn load(tar: &Path) -> Result<(), String> {
    run(Command::new("docker").args(["load", "-q", "-i"]).arg(tar)).map(drop)
}

/// Removes an image, ignoring failure (it may not have been built).
pub fn remove(tag: &str) {
    let _ = Command::new("docker")
        .args(["rmi", "-f", tag])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
