//! What the sandbox integration tests share: a throwaway busybox rootfs and small helpers.

#![allow(dead_code)]

use std::path::Path;

use kiln_sandbox::RunSpec;

pub const BUSYBOX: &str = "/bin/busybox";

pub fn require_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test needs root for namespaces and mounts; run it as root (scripts/check does)"
    );
    assert!(
        Path::new(BUSYBOX).is_file(),
        "this test needs busybox-static at {BUSYBOX}"
    );
}

pub fn sandbox() -> kiln_sandbox::Sandbox {
    kiln_sandbox::Sandbox::with_program(env!("CARGO_BIN_EXE_kiln-sandbox-test"))
}

/// A rootfs with busybox and its applets in /bin, a passwd with `app` (1000) in `wheel` and
/// `staff`, and an empty /tmp. No /dev, /proc, /sys or /etc/hosts: the sandbox provides them.
pub fn busybox_rootfs() -> tempfile::TempDir {
    require_root();
    let dir = tempfile::tempdir().expect("tempdir");
    populate(dir.path());
    dir
}

/// Fills `root` as [`busybox_rootfs`] describes.
pub fn populate(root: &Path) {
    for d in ["bin", "etc", "tmp", "home/app"] {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777))
        .expect("chmod /tmp");
    std::fs::copy(BUSYBOX, root.join("bin/busybox")).expect("copy busybox");
    let list = std::process::Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter(|a| *a != "busybox")
    {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet))
            .expect("applet symlink");
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:App:/home/app:/bin/sh\n",
    )
    .expect("passwd");
    std::fs::write(
        root.join("etc/group"),
        "root:x:0:\nwheel:x:10:app\nstaff:x:50:app\napp:x:1000:\n",
    )
    .expect("group");
}

pub fn sh(root: &Path, script: &str) -> RunSpec {
    let mut spec = RunSpec::new(root, vec!["/bin/sh".into(), "-c".into(), script.into()]);
    spec.env = vec!["PATH=/bin".into()];
    spec
}

/// An error with its causes, one `: ` apart.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}
