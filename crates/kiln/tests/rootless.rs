//! `kiln build` started by an unprivileged user: the build runs in a user namespace with the
//! user's subordinate ids, and the image it writes has the owners the Dockerfile asked for and
//! the base image had, not the invoking user's. The subordinate ranges exist only in a
//! throwaway mount namespace, bound over the host's `/etc/subuid` and `/etc/subgid`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use kiln_testsupport::cli::{
    DockerImage, Kiln, context, destination, output, stderr, stdout_of, tool,
};
use kiln_testsupport::env;

const KILN: Kiln = Kiln::new(env!("CARGO_BIN_EXE_kiln"));
const NOBODY: u32 = 65534;

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Runs kiln as `nobody` with `ranges_file` as its `/etc/subuid` and `/etc/subgid`, in a mount
/// namespace of its own so the ranges never reach the host's files.
fn kiln_as_nobody_with(ranges_file: &str, args: &[&str]) -> Output {
    for tool in ["/usr/bin/newuidmap", "/usr/bin/newgidmap"] {
        assert!(
            Path::new(tool).is_file(),
            "this test needs {tool} (Debian package uidmap)"
        );
    }
    let ranges = tempfile::NamedTempFile::new().expect("tempfile");
    std::fs::write(ranges.path(), ranges_file).expect("write ranges");
    chmod(ranges.path(), 0o644);
    let script = "mount --bind \"$1\" /etc/subuid && mount --bind \"$1\" /etc/subgid && shift && exec \"$@\"";
    output(
        Command::new("unshare")
            .args([
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                script,
                "sh",
            ])
            .arg(ranges.path())
            .args([
                "setpriv",
                &format!("--reuid={NOBODY}"),
                &format!("--regid={NOBODY}"),
                "--clear-groups",
                "env",
                "-i",
                "HOME=/nonexistent",
            ])
            .arg(KILN.path())
            .args(args),
    )
}

/// A build context for `nobody`: the Dockerfile and context files readable by it, and the
/// kaniko and output directories its own.
struct Context {
    dir: tempfile::TempDir,
}

impl Context {
    fn new(dockerfile: &str, files: &[&str]) -> Context {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        chmod(root, 0o755);
        std::fs::write(root.join("Dockerfile"), dockerfile).expect("Dockerfile");
        for name in files {
            std::fs::write(root.join(name), name).expect("context file");
            chmod(&root.join(name), 0o644);
        }
        for d in ["kaniko", "out"] {
            std::fs::create_dir(root.join(d)).expect("mkdir");
            std::os::unix::fs::chown(root.join(d), Some(NOBODY), Some(NOBODY)).expect("chown");
        }
        Context { dir }
    }

    fn path(&self, rel: &str) -> String {
        let path = self.dir.path().join(rel);
        path.to_str().expect("utf-8 path").to_owned()
    }

    /// Builds as `nobody` with `ranges` as its subordinate ids into `out/image.tar`, tagged
    /// `dest`, and returns kiln's output.
    fn build_as_nobody(&self, ranges: &str, dest: &str) -> Output {
        kiln_as_nobody_with(
            ranges,
            &[
                "build",
                "--log-format=text",
                "--context",
                &self.path(""),
                "--dockerfile",
                &self.path("Dockerfile"),
                "--kaniko-dir",
                &self.path("kaniko"),
                "--no-push",
                "--destination",
                dest,
                "--tar-path",
                &self.path("out/image.tar"),
            ],
        )
    }

    /// Loads the built image into Docker, runs `argv` in it, removes it, and returns stdout.
    fn run_built(&self, dest: &str, argv: &[&str]) -> String {
        DockerImage::load(&self.dir.path().join("out/image.tar"), dest).run(argv)
    }
}

fn subordinate_ids() -> String {
    format!("{NOBODY}:100000:65536\n")
}

#[test]
#[ignore = "needs the test environment"]
fn an_unprivileged_build_keeps_the_owners_of_the_base_and_of_chown() {
    let env = env();
    let base = format!("{}/debian:bookworm", env.registry);
    // /var/mail belongs to the group mail in Debian: a RUN that writes into it puts it in the
    // layer, where it must keep that group.
    let mail = "/var/mail";
    let context = Context::new(
        &format!(
            "FROM {base}\n\
             RUN touch {mail}/by-run && mkdir /data && chown 1000:1001 /data && id -u > /data/uid\n\
             COPY --chown=123:456 a /a\n\
             COPY b /b\n"
        ),
        &["a", "b"],
    );
    let dest = destination(&env, "rootless", "owners");
    let out = context.build_as_nobody(&subordinate_ids(), &dest);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("user namespace"), "{log}");

    let stat = format!("stat -c '%u:%g %n' {mail} {mail}/by-run /data /a /b; cat /data/uid");
    assert!(tool("docker", &["pull", &base]).status.success());
    let base_owner = stdout_of(
        "docker",
        &["run", "--rm", &base, "stat", "-c", "%u:%g", mail],
    );
    let got = context.run_built(&dest, &["sh", "-c", &stat]);
    assert_ne!(base_owner.trim(), "0:0", "the base image changed: {mail}");
    assert_eq!(
        got,
        format!(
            "{owner} {mail}\n{owner} {mail}/by-run\n1000:1001 /data\n123:456 /a\n0:0 /b\n0\n",
            // The directory is setgid: what RUN creates in it takes its group.
            owner = base_owner.trim()
        )
    );
}

#[test]
#[ignore = "needs the test environment"]
fn a_device_of_the_base_that_a_step_changes_stays_a_device_without_root() {
    let env = env();
    // The base: built as root, with a device node kiln cannot create without root.
    let base_dir = context(&format!(
        "FROM {}/busybox:latest\nRUN mknod /dev-null c 1 3 && chmod 666 /dev-null\n",
        env.registry
    ));
    let base = destination(&env, "rootless", "base");
    let out = KILN.build(base_dir.path(), &["--destination", &base]);
    assert!(out.status.success(), "{}", stderr(&out));

    let context = Context::new(
        &format!("FROM {base}\nRUN chmod 640 /dev-null && ls -l /dev-null\n"),
        &[],
    );
    let dest = destination(&env, "rootless", "dev");
    let out = context.build_as_nobody(&subordinate_ids(), &dest);
    assert!(out.status.success(), "{}", stderr(&out));
    let got = context.run_built(&dest, &["stat", "-c", "%F %a %t,%T", "/dev-null"]);
    assert_eq!(got, "character special file 640 1,3\n");
}

#[test]
#[ignore = "needs the test environment"]
fn without_subordinate_ids_a_build_runs_as_root_of_a_one_id_namespace() {
    let env = env();
    let context = Context::new(
        &format!(
            "FROM {}/busybox:latest\nRUN id -u > /uid && echo made > /made\nCOPY a /a\n",
            env.registry
        ),
        &["a"],
    );
    let dest = destination(&env, "rootless", "one");
    let out = context.build_as_nobody("", &dest);
    assert!(out.status.success(), "{}", stderr(&out));
    let got = context.run_built(
        &dest,
        &["sh", "-c", "cat /uid /made; stat -c '%u:%g %n' /uid /a"],
    );
    assert_eq!(got, "0\nmade\n0:0 /uid\n0:0 /a\n");
}
