//! Building in place (`--isolation=none`, Kaniko's mode) where Kaniko's users run it: in a
//! throwaway mount namespace whose root is a tmpfs holding kiln under `/kaniko` (the host's `/`
//! is never the rootfs), and inside `docker run` with default capabilities and the default
//! seccomp profile, where `--isolation=auto` must pick `none` and say why. Both push to the
//! test registry, and the pushed images are run with `docker run` and their layers listed:
//! no kiln files, no `/proc`, `/dev` or context entries.
//!
//! The kiln they run is the statically linked one of `scripts/kiln-image` (an in-place build
//! replaces the libc of `/` with the image's).

use std::path::{Path, PathBuf};
use std::process::Command;

use kiln_testsupport::cli::{DockerImage, context_with, destination, fetch, stdout_of, tool};
use kiln_testsupport::env;
use tempfile::TempDir;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `scripts/kiln-image ARGS` and returns what it printed (a path or an image tag).
fn kiln_image(args: &[&str]) -> String {
    let out = Command::new(repo().join("scripts/kiln-image"))
        .args(args)
        .output()
        .expect("scripts/kiln-image runs");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "scripts/kiln-image {args:?} failed");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A build context with `dockerfile` and a `greeting.txt` for COPY.
fn context(dockerfile: &str) -> TempDir {
    context_with(dockerfile, &[("greeting.txt", "hello from the context\n")])
}

/// Every entry of every layer of the pushed `image`, as `tar -t` lists them.
fn layer_entries(image: &str) -> Vec<String> {
    let (_dir, blobs) = fetch(image);
    let mut entries = Vec::new();
    for blob in blobs {
        let list = stdout_of("tar", &["-tzf", blob.to_str().expect("utf-8")]);
        entries.extend(list.lines().map(|l| l.trim_start_matches("./").to_owned()));
    }
    entries
}

/// Fails if a layer holds kiln's or the build machine's paths.
fn assert_no_foreign_entries(entries: &[String]) {
    assert!(
        entries.iter().any(|e| e == "all.txt"),
        "the build's file is in a layer: {entries:?}"
    );
    let foreign: Vec<&String> = entries
        .iter()
        .filter(|e| {
            let e = e.trim_end_matches('/');
            let paths = [
                "kaniko",
                "proc",
                "sys",
                "dev",
                "workspace",
                "leftover",
                "refused.log",
                "etc/mtab",
            ];
            paths
                .iter()
                .any(|p| e == *p || e.starts_with(&format!("{p}/")))
        })
        .collect();
    assert!(
        foreign.is_empty(),
        "foreign entries in the image: {foreign:?}"
    );
}

/// Prepares a root on a tmpfs in a private mount namespace (kiln at /kaniko/executor and the
/// CA bundle under /kaniko/ssl/certs as in Kaniko's image, the context copied to /workspace, /proc, a /dev tmpfs with the basic devices, a /leftover that
/// an in-place build must delete), then runs kiln chrooted into it, first without `--force`
/// (it must refuse and leave /leftover) and then with it. Nothing of it is visible outside.
const NAMESPACE_SCRIPT: &str = r#"
set -eu
kiln=$1 context=$2 root=$3
shift 3
mount -t tmpfs -o size=1g,mode=755 kiln-root "$root"
mkdir -p "$root/kaniko" "$root/workspace" "$root/proc" "$root/dev" "$root/leftover" "$root/tmp"
chmod 1777 "$root/tmp"
cp "$kiln" "$root/kaniko/executor"
mkdir -p "$root/kaniko/ssl/certs"
cp /etc/ssl/certs/ca-certificates.crt "$root/kaniko/ssl/certs/"
cp -a "$context/." "$root/workspace/"
echo stale > "$root/leftover/file"
mount -t proc proc "$root/proc"
mount -t tmpfs -o mode=755 kiln-dev "$root/dev"
for d in null zero full random urandom tty; do
    touch "$root/dev/$d"
    mount --bind "/dev/$d" "$root/dev/$d"
done
chroot=$(command -v chroot)
run() { env -i HOME=/root PATH=/kaniko:/bin SSL_CERT_DIR=/kaniko/ssl/certs "$chroot" "$root" /kaniko/executor "$@"; }
if run "$@" >/dev/null 2>"$root/refused.log"; then
    echo "--isolation=none built outside a container without --force" >&2
    exit 90
fi
cat "$root/refused.log" >&2
grep -q -- --force "$root/refused.log" || { echo "the refusal does not name --force" >&2; exit 91; }
test -e "$root/leftover/file" || { echo "the refused build deleted /leftover" >&2; exit 92; }
run "$@" --force
test ! -e "$root/leftover" || { echo "/leftover was not deleted" >&2; exit 93; }
test -f "$root/workspace/greeting.txt" || { echo "the context was deleted" >&2; exit 94; }
test -x "$root/kaniko/executor" || { echo "kiln's own dir was deleted" >&2; exit 95; }
"#;

#[test]
#[ignore = "needs the test environment"]
fn a_multi_stage_build_in_place_in_a_throwaway_root_pushes_a_clean_image() {
    let env = env();
    let kiln = kiln_image(&["--binary"]);
    let registry = &env.registry;
    // `second` clears / after `first`; the last stage is FROM `first` (its layers again) and
    // copies from `second`, both built in / and gone from it by then. The heredoc script is
    // written where BuildKit mounts it, under /dev, which no layer holds.
    let dir = context(&format!(
        "FROM {registry}/busybox:latest AS first\n\
         RUN echo first > /first.txt && (ls /leftover 2>/dev/null || echo cleared) > /leftover.txt\n\
         RUN <<EOF\n#!/bin/sh\necho heredoc >> /first.txt\nEOF\n\
         FROM {registry}/busybox:latest AS second\n\
         RUN echo second > /second.txt && test ! -e /first.txt\n\
         FROM first\n\
         COPY --from=second /second.txt /second.txt\n\
         COPY greeting.txt /greeting.txt\n\
         RUN cat /first.txt /second.txt /leftover.txt /greeting.txt > /all.txt\n\
         CMD [\"cat\", \"/all.txt\"]\n"
    ));
    let dest = destination(&env, "inplace", "namespace");
    let root = tempfile::tempdir().expect("mount point");
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--fork", "--"])
        .args(["sh", "-c", NAMESPACE_SCRIPT, "sh"])
        .arg(&kiln)
        .arg(dir.path())
        .arg(root.path())
        .args([
            "--log-format=text",
            "--isolation=none",
            "--context=dir:///workspace",
            "--dockerfile=/workspace/Dockerfile",
            &format!("--destination={dest}"),
        ])
        .output()
        .expect("unshare runs");
    let log = String::from_utf8_lossy(&out.stderr);
    eprintln!("{log}");
    assert!(out.status.success(), "the in-place build failed");
    assert!(log.contains("isolation none: requested"), "{log}");
    assert!(
        std::fs::read_dir(root.path())
            .expect("mount point")
            .next()
            .is_none(),
        "the namespace's root leaked to the host"
    );
    assert_no_foreign_entries(&layer_entries(&dest));
    assert_eq!(
        DockerImage::pull(&dest).run(&[]),
        "first\nheredoc\nsecond\ncleared\nhello from the context\n"
    );
}

#[test]
#[ignore = "needs the test environment"]
fn inside_docker_run_auto_builds_in_place_and_says_why() {
    let env = env();
    let image = kiln_image(&["kiln-executor:test"]);
    let registry = &env.registry;
    let dir = context(&format!(
        "FROM {registry}/debian:bookworm AS deb\n\
         RUN . /etc/os-release && echo \"$ID $VERSION_CODENAME\" > /os.txt && dpkg-query -W -f '${{Package}}\\n' coreutils >> /os.txt\n\
         FROM {registry}/busybox:latest\n\
         COPY --from=deb /os.txt /os.txt\n\
         COPY greeting.txt /greeting.txt\n\
         RUN cat /os.txt /greeting.txt > /all.txt && echo busybox-run >> /all.txt\n\
         CMD [\"cat\", \"/all.txt\"]\n"
    ));
    let dest = destination(&env, "inplace", "docker");
    let volume = format!("{}:/workspace:ro", dir.path().display());
    let out = tool(
        "docker",
        &[
            "run",
            "--rm",
            "--network=host",
            "--volume",
            &volume,
            &image,
            "--log-format=text",
            "--isolation=auto",
            "--context=dir:///workspace",
            "--dockerfile=/workspace/Dockerfile",
            &format!("--destination={dest}"),
        ],
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the build in docker run failed: {log}"
    );
    assert!(
        log.contains("isolation none: no namespace isolation"),
        "{log}"
    );
    assert!(log.contains("/.dockerenv exists (Docker)"), "{log}");
    assert_no_foreign_entries(&layer_entries(&dest));
    assert_eq!(
        DockerImage::pull(&dest).run(&[]),
        "debian bookworm\ncoreutils\nhello from the context\nbusybox-run\n"
    );
}
