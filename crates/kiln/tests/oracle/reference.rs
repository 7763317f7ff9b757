//! The reference builder: the machine's Docker Engine.
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

use super::case::{Case, Reference};

fn run(command: &mut Command) -> Result<String, String> {
    let out = command
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{command:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Builds the case's reference image as `tag`. `ctx` is the laid-out context; when the case
/// names a reference Dockerfile it replaces `ctx/Dockerfile` (kiln has built by then).
pub fn build(case: &Case, ctx: &Path, tag: &str) -> Result<(), String> {
    if let Some(file) = &case.reference_dockerfile {
        std::fs::copy(case.dir.join(file), ctx.join("Dockerfile"))
            .map_err(|e| format!("{file}: {e}"))?;
    }
    if ctx.join(".dockerignore").exists() && case.reference == Reference::BuildKit {
        return Err(
            "a context with a .dockerignore needs `reference: classic` (the API does not filter)"
                .into(),
        );
    }
    match case.reference {
        Reference::Classic => {
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
        Reference::BuildKit => buildkit(case, ctx, tag),
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
