//! Docker credential helpers: `docker-credential-<name> get` found on `PATH`.
//!
//! Owns: the helper protocol (<https://github.com/docker/docker-credential-helpers>): the server
//! address on stdin, `{"ServerURL", "Username", "Secret"}` on stdout, a `Username` of `<token>`
//! meaning the secret is an identity token, and "credentials not found" meaning anonymous.
//!
//! Never puts the helper's output in an error: a failure names the helper and its exit status.

use std::ffi::OsString;
use std::io::Write;
use std::process::{Command, Stdio};

use serde::Deserialize;

use super::{Credential, CredentialError};

#[derive(Deserialize)]
struct HelperOutput {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Asks `docker-credential-<helper>` for the credentials of `server`. `path` overrides `PATH`
/// for the lookup (tests), otherwise the process's own is used.
pub fn get(
    helper: &str,
    server: &str,
    path: Option<&OsString>,
) -> Result<Option<Credential>, CredentialError> {
    let program = format!("docker-credential-{helper}");
    let mut cmd = Command::new(&program);
    cmd.arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(p) = path {
        cmd.env("PATH", p);
    }
    let spawn_err = |source| CredentialError::HelperSpawn {
        helper: program.clone(),
        source,
    };
    let mut child = cmd.spawn().map_err(spawn_err)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading stdin is judged by its exit status below.
        let _ = stdin.write_all(server.as_bytes());
    }
    let out = child.wait_with_output().map_err(spawn_err)?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stdout).to_lowercase()
            + &String::from_utf8_lossy(&out.stderr).to_lowercase();
        if said.contains("credentials not found") {
            return Ok(None);
        }
        return Err(CredentialError::HelperFailed {
            helper: program,
            server: server.to_owned(),
            status: out.status.to_string(),
        });
    }
    let parsed: HelperOutput =
        serde_json::from_slice(&out.stdout).map_err(|_| CredentialError::HelperOutput {
            helper: program.clone(),
            server: server.to_owned(),
        })?;
    if parsed.username.is_empty() && parsed.secret.is_empty() {
        return Ok(None);
    }
    if parsed.username == "<token>" {
        return Ok(Some(Credential::IdentityToken {
            username: parsed.username,
            token: parsed.secret,
        }));
    }
    Ok(Some(Credential::Basic {
        username: parsed.username,
        password: parsed.secret,
    }))
}
