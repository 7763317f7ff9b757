//! The modes that cannot run in the test process itself: `none` (in place, so only inside a
//! throwaway mount and PID namespace chrooted into a prepared root) and `rootless` as a real
//! unprivileged user. Both drive the `kiln-sandbox-test` tool binary from outside.

use std::os::unix::process::CommandExt;
use std::path::Path;

use support::busybox_rootfs;

mod support;

const TOOL: &str = env!("CARGO_BIN_EXE_kiln-sandbox-test");
/// The unprivileged user the rootless test runs as.
const NOBODY: u32 = 65534;

fn output(mut command: std::process::Command) -> (i32, Vec<String>, String) {
    let out = command.output().expect("start the sandbox tool");
    let stdout = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    (
        out.status.code().unwrap_or(-1),
        stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Copies the tool and the shared libraries `ldd` lists for it into `root`, so it runs there.
fn install_tool(root: &Path) {
    std::fs::copy(TOOL, root.join("kiln-sandbox-test")).expect("copy the tool");
    let ldd = std::process::Command::new("ldd")
        .arg(TOOL)
        .output()
        .expect("ldd");
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
        let path = line.split_whitespace().find(|w| w.starts_with('/'));
        let Some(path) = path else { continue };
        let target = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir lib dir");
        std::fs::copy(path, &target).unwrap_or_else(|e| panic!("copy {path}: {e}"));
    }
}

/// A busybox rootfs owned by the unprivileged user, as it would have extracted it, with a copy
/// of the tool in it that the user can run wherever the build put the original.
fn nobodys_rootfs() -> (tempfile::TempDir, std::path::PathBuf) {
    let rootfs = busybox_rootfs();
    let tool = rootfs.path().join("kiln-sandbox-test");
    std::fs::copy(TOOL, &tool).expect("copy the tool");
    let chown = std::process::Command::new("chown")
        .args(["-R", &format!("{NOBODY}:{NOBODY}")])
        .arg(rootfs.path())
        .status()
        .expect("chown");
    assert!(chown.success());
    (rootfs, tool)
}

#[test]
#[ignore = "needs the test environment"]
fn none_mode_runs_in_place_and_kills_what_the_command_leaves() {
    let rootfs = busybox_rootfs();
    let root = rootfs.path();
    install_tool(root);
    std::fs::create_dir(root.join("proc")).expect("mkdir proc");
    // A dedicated container has /dev; the shell needs /dev/null to start background jobs.
    std::fs::create_dir(root.join("dev")).expect("mkdir dev");
    let mknod = std::process::Command::new("mknod")
        .args(["-m", "666"])
        .arg(root.join("dev/null"))
        .args(["c", "1", "3"])
        .status()
        .expect("mknod");
    assert!(mknod.success());
    let script = "echo in-place; ls / | tr '\\n' ' '; echo; id -u; \
                  (sleep 2; touch /tmp/survived) & setsid sh -c 'sleep 2; touch /tmp/survived2' & exit 7";
    // A throwaway mount and PID namespace whose root is the prepared rootfs: the host's `/` is
    // never the rootfs. Its PID 1 is a shell that outlives the tool by 3 seconds, so anything
    // the tool failed to kill would be reparented there and have time to leave its mark.
    let mut command = std::process::Command::new("unshare");
    command
        .args(["--mount", "--pid", "--fork", "--kill-child"])
        .arg(format!("--mount-proc={}", root.join("proc").display()))
        .arg("chroot")
        .arg(root)
        .args([
            "/bin/sh",
            "-c",
            "\"$@\"; code=$?; sleep 3; exit $code",
            "sh",
        ])
        .args([
            "/kiln-sandbox-test",
            "run",
            "--isolation",
            "none",
            "--user",
            "app",
            "--env",
            "PATH=/bin",
        ])
        .args(["/", "--", "/bin/sh", "-c", script]);
    let (code, out, err) = output(command);
    assert_eq!(code, 7, "{out:?} {err}");
    assert_eq!(out[0], "stdout: in-place");
    assert!(
        out[1].contains("kiln-sandbox-test") && out[1].contains("bin"),
        "{}",
        out[1]
    );
    assert_eq!(out[2], "stdout: 1000");
    assert!(
        !root.join("tmp/survived").exists(),
        "a background process survived"
    );
    assert!(
        !root.join("tmp/survived2").exists(),
        "a setsid daemon survived"
    );
}

#[test]
#[ignore = "needs the test environment"]
fn rootless_as_an_unprivileged_user_maps_it_to_root() {
    let (rootfs, tool) = nobodys_rootfs();
    let root = rootfs.path();

    let run = |user: &str, script: &str| {
        let mut command = std::process::Command::new(&tool);
        command
            .uid(NOBODY)
            .gid(NOBODY)
            .args([
                "run",
                "--isolation",
                "rootless",
                "--user",
                user,
                "--env",
                "PATH=/bin",
            ])
            .arg(root)
            .args(["--", "/bin/sh", "-c", script]);
        output(command)
    };
    let (code, out, err) = run(
        "",
        "id -u; cat /proc/self/uid_map; echo $$; touch /tmp/made",
    );
    assert_eq!(code, 0, "{out:?} {err}");
    assert_eq!(out[0], "stdout: 0");
    assert_eq!(
        out[1].split_whitespace().collect::<Vec<_>>(),
        ["stdout:", "0", &NOBODY.to_string(), "1"]
    );
    assert_eq!(out[2], "stdout: 2");
    // Files root makes inside belong to the invoking user outside.
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(root.join("tmp/made"))
            .expect("made")
            .uid(),
        NOBODY
    );
    // Without subordinate ids only root exists inside: another user is refused up front.
    let (code, _, err) = run("app", "id");
    assert_eq!(code, 125);
    assert!(
        err.contains("user 1000:1000 is not mapped in the user namespace"),
        "{err}"
    );

    let mut probe = std::process::Command::new(&tool);
    probe.uid(NOBODY).gid(NOBODY).arg("probe");
    let (code, out, err) = output(probe);
    assert_eq!(code, 0, "{err}");
    assert!(
        out[0].starts_with("rootless: chroot isolation is not allowed"),
        "{out:?}"
    );
}

/// A Docker image made from a directory, removed again when dropped.
struct ImportedImage(String);

impl ImportedImage {
    fn import(root: &Path) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let tag = format!("kiln-sandbox-test:{}-{nanos}", std::process::id());
        let script = format!(
            "tar -C '{}' -c . | docker import - '{tag}' >/dev/null",
            root.display()
        );
        let status = std::process::Command::new("sh")
            .args(["-c", &script])
            .status()
            .expect("sh");
        assert!(
            status.success(),
            "docker import failed: this test needs a running Docker Engine"
        );
        ImportedImage(tag)
    }
}

impl Drop for ImportedImage {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["rmi", "--force", &self.0])
            .stdout(std::process::Stdio::null())
            .status();
    }
}

#[test]
#[ignore = "needs the test environment"]
fn auto_in_a_default_container_runs_in_place() {
    let rootfs = busybox_rootfs();
    install_tool(rootfs.path());
    let image = ImportedImage::import(rootfs.path());
    // A pod's conditions: no --privileged, default capabilities and seccomp profile.
    let docker = |args: &[&str]| {
        let mut command = std::process::Command::new("docker");
        command.args(["run", "--rm", &image.0]).args(args);
        output(command)
    };
    let (code, out, err) = docker(&["/kiln-sandbox-test", "probe"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out[0].starts_with("none: no namespace isolation is allowed"),
        "{out:?}"
    );

    let script = "echo in-container; id -u; sleep 30 & exit 4";
    let started = std::time::Instant::now();
    let (code, out, err) = docker(&[
        "/kiln-sandbox-test",
        "run",
        "--isolation",
        "auto",
        "--user",
        "app",
        "--env",
        "PATH=/bin",
        "/",
        "--",
        "/bin/sh",
        "-c",
        script,
    ]);
    assert_eq!(code, 4, "{out:?} {err}");
    assert_eq!(out, ["stdout: in-container", "stdout: 1000"]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "the background sleep was waited for"
    );
}

#[test]
#[ignore = "needs the test environment"]
fn rootless_with_subordinate_ids_maps_them_through_newuidmap() {
    for tool in ["/usr/bin/newuidmap", "/usr/bin/newgidmap"] {
        assert!(
            Path::new(tool).is_file(),
            "this test needs {tool} (Debian package uidmap)"
        );
    }
    let (rootfs, tool) = nobodys_rootfs();
    let root = rootfs.path();
    // The ranges live only in a throwaway mount namespace, bound over the host's files.
    let ranges = tempfile::NamedTempFile::new().expect("tempfile");
    std::fs::write(ranges.path(), format!("{NOBODY}:100000:65536\n")).expect("write ranges");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(ranges.path(), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let script = "mount --bind \"$1\" /etc/subuid && mount --bind \"$1\" /etc/subgid && shift && exec \"$@\"";
    let mut command = std::process::Command::new("unshare");
    command
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
        ])
        .arg(&tool)
        .args([
            "run",
            "--isolation",
            "rootless",
            "--user",
            "app",
            "--env",
            "PATH=/bin",
        ])
        .arg(root)
        .args([
            "--",
            "/bin/sh",
            "-c",
            "id; cat /proc/self/uid_map; touch /tmp/by-app",
        ]);
    let (code, out, err) = output(command);
    assert_eq!(code, 0, "{out:?} {err}");
    assert_eq!(
        out[0],
        "stdout: uid=1000(app) gid=1000(app) groups=10(wheel),50(staff)"
    );
    let maps: Vec<Vec<&str>> = out[1..3]
        .iter()
        .map(|l| l.split_whitespace().skip(1).collect())
        .collect();
    assert_eq!(
        maps,
        [vec!["0", "65534", "1"], vec!["1", "100000", "65536"]]
    );
    // uid 1000 inside is 100000 + 999 outside.
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(root.join("tmp/by-app"))
            .expect("by-app")
            .uid(),
        100_999
    );
}

#[test]
#[ignore = "needs the test environment"]
fn auto_in_a_container_with_sys_admin_isolates_with_chroot() {
    let rootfs = busybox_rootfs();
    install_tool(rootfs.path());
    // The stage's rootfs, a directory inside the container.
    support::populate(&rootfs.path().join("stage"));
    let image = ImportedImage::import(rootfs.path());
    let mut command = std::process::Command::new("docker");
    command
        .args(["run", "--rm", "--cap-add", "SYS_ADMIN"])
        .args([
            "--security-opt",
            "seccomp=unconfined",
            "--security-opt",
            "apparmor=unconfined",
        ])
        .arg(&image.0)
        .args([
            "/kiln-sandbox-test",
            "run",
            "--isolation",
            "auto",
            "--user",
            "app",
        ])
        .args(["--env", "PATH=/bin", "/stage", "--", "/bin/sh", "-c"])
        .arg("echo $$; id -u; test -e /kiln-sandbox-test || echo container-root-hidden");
    let (code, out, err) = output(command);
    assert_eq!(code, 0, "{out:?} {err}");
    assert_eq!(
        out,
        ["stdout: 2", "stdout: 1000", "stdout: container-root-hidden"]
    );
}
