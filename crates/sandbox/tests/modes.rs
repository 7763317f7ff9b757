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
    let rootfs = busybox_rootfs();
    let root = rootfs.path();
    // The unprivileged user owns its rootfs, as it would have extracted it.
    let chown = std::process::Command::new("chown")
        .args(["-R", &format!("{NOBODY}:{NOBODY}")])
        .arg(root)
        .status()
        .expect("chown");
    assert!(chown.success());

    let run = |user: &str, script: &str| {
        let mut command = std::process::Command::new(TOOL);
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

    let mut probe = std::process::Command::new(TOOL);
    probe.uid(NOBODY).gid(NOBODY).arg("probe");
    let (code, out, err) = output(probe);
    assert_eq!(code, 0, "{err}");
    assert!(
        out[0].starts_with("rootless: chroot isolation is not allowed"),
        "{out:?}"
    );
}
