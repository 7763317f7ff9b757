//! The reference builder where no Docker Engine answers: Buildah, as Debian ships it (1.28).
//!
//! Each case runs `buildah bud --isolation chroot --format docker --layers --no-cache`:
//! `chroot` needs no runtime and no user namespace; `docker` keeps the config fields an OCI
//! config has no room for (`Healthcheck`, `OnBuild`, `Shell`), as BuildKit's image does;
//! `--layers` gives every RUN, COPY and ADD a layer of its own, as BuildKit does, where Buildah's
//! default squashes a stage's steps into one; `--no-cache` keeps one case's steps from being
//! taken from another's. Base images come from the test registry over plain HTTP
//! (`--tls-verify=false`). The image is then pushed to a `docker-archive:` tarball, the format
//! `docker save` writes, so the comparison reads it as it reads the Engine's.
//!
//! Buildah keeps its images and layers in a storage root of the suite's own (the `vfs` driver,
//! which needs neither overlay mounts nor `fuse-overlayfs`), with a signature policy and a
//! registries file of its own, so the machine's `/etc/containers` neither helps nor hinders;
//! the root is deleted when the suite ends.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::case::Case;
use super::reference::run;

pub struct Buildah {
    pub version: String,
    store: tempfile::TempDir,
}

impl Buildah {
    /// Finds `buildah` and lays out its storage root, policy and registries file.
    pub fn start() -> Result<Buildah, String> {
        let out = Command::new("buildah")
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run buildah (apt-get install buildah): {e}"))?;
        if !out.status.success() {
            return Err(format!("buildah --version failed ({})", out.status));
        }
        // `buildah version 1.28.2 (image-spec 1.1.0-rc2, runtime-spec 1.0.2-dev)`
        let text = String::from_utf8_lossy(&out.stdout);
        let version = text
            .split_whitespace()
            .nth(2)
            .ok_or_else(|| format!("buildah --version printed {text:?}"))?
            .to_owned();
        let store = tempfile::Builder::new()
            .prefix("kiln-oracle-buildah-")
            .tempdir()
            .map_err(|e| format!("buildah storage root: {e}"))?;
        let write = |name: &str, text: &str| {
            let path = store.path().join(name);
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
        };
        write(
            "policy.json",
            r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
        )?;
        write("registries.conf", "unqualified-search-registries = []\n")?;
        Ok(Buildah { version, store })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.store.path().join(name)
    }

    /// `buildah <subcommand>` on the suite's own storage.
    fn command(&self, subcommand: &str) -> Command {
        let mut command = Command::new("buildah");
        command
            .env("CONTAINERS_REGISTRIES_CONF", self.path("registries.conf"))
            .env("BUILDAH_ISOLATION", "chroot")
            .arg("--root")
            .arg(self.path("root"))
            .arg("--runroot")
            .arg(self.path("run"))
            .args(["--storage-driver", "vfs", subcommand])
            .stdin(Stdio::null());
        command
    }

    /// Builds the case from the laid-out context `ctx` as `tag` and writes it to `tar` in the
    /// `docker save` format, tagged `tag` so that `docker load` names it so.
    pub fn build(&self, case: &Case, ctx: &Path, tag: &str, tar: &Path) -> Result<(), String> {
        let mut command = self.command("bud");
        command
            .args([
                "--isolation",
                "chroot",
                "--format",
                "docker",
                "--layers",
                "--no-cache",
                "--tls-verify=false",
                "--signature-policy",
            ])
            .arg(self.path("policy.json"))
            .arg("--file")
            .arg(ctx.join("Dockerfile"))
            .args(["--tag", tag]);
        for arg in &case.build_args {
            command.args(["--build-arg", arg]);
        }
        if let Some(target) = &case.target {
            command.args(["--target", target]);
        }
        run(command.arg(ctx))?;
        run(self
            .command("push")
            .arg("--signature-policy")
            .arg(self.path("policy.json"))
            .arg(tag)
            .arg(format!("docker-archive:{}:{tag}", tar.display())))
        .map(drop)
    }

    /// Removes an image from the suite's storage, ignoring failure (it may not have been built).
    pub fn remove(&self, tag: &str) {
        let _ = self
            .command("rmi")
            .args(["--force", tag])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
