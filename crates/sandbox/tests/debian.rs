//! RUN steps in a real Debian base: the `debootstrap --variant=minbase` rootfs that
//! `scripts/testenv up` caches, extracted into a temp dir. Needs root and that cache.

use std::path::{Path, PathBuf};

use kiln_sandbox::{ExitStatus, NetworkFiles, RunSpec, Stream};
use support::{chain, require_root, sandbox};

mod support;

/// Where `scripts/testenv` keeps the minbase tarball.
fn debootstrap_tarball() -> PathBuf {
    let dir = std::env::var_os("KILN_DEBOOTSTRAP_CACHE")
        .unwrap_or_else(|| "/var/cache/kiln/debootstrap".into());
    let tarball = Path::new(&dir).join("bookworm-minbase.tar");
    assert!(
        tarball.is_file(),
        "{} is missing: run scripts/testenv up first",
        tarball.display()
    );
    tarball
}

fn debian_rootfs() -> tempfile::TempDir {
    require_root();
    let tarball = debootstrap_tarball();
    let dir = tempfile::tempdir().expect("tempdir");
    let status = std::process::Command::new("tar")
        .args(["-xf"])
        .arg(&tarball)
        .arg("-C")
        .arg(dir.path())
        .status()
        .expect("tar");
    assert!(status.success(), "extracting {}", tarball.display());
    dir
}

fn bash(root: &Path, user: &str, script: &str) -> (ExitStatus, Vec<String>) {
    let mut spec = RunSpec::new(root, vec!["/bin/sh".into(), "-c".into(), script.into()]);
    spec.env = vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()];
    spec.user = user.into();
    let files_dir = tempfile::tempdir().expect("tempdir");
    let files = NetworkFiles::write(files_dir.path(), "kiln", Path::new("/etc/resolv.conf"))
        .expect("files");
    spec.mounts = files.mounts();
    spec.hostname = Some("kiln".into());
    let mut out = Vec::new();
    let outcome = sandbox()
        .run(&spec, &mut |stream, line| {
            if stream == Stream::Stdout {
                out.push(String::from_utf8_lossy(line).into_owned());
            }
        })
        .unwrap_or_else(|e| panic!("run {script:?}: {}", chain(&e)));
    (outcome.status, out)
}

#[test]
#[ignore = "needs the test environment"]
fn a_user_added_by_one_run_is_the_user_of_the_next() {
    let rootfs = debian_rootfs();
    let root = rootfs.path();
    // The network files are mounted over the image's: its own stay as they were (or absent).
    let network_files = || {
        ["etc/resolv.conf", "etc/hosts", "etc/hostname"].map(|f| std::fs::read(root.join(f)).ok())
    };
    let before = network_files();

    let (status, out) = bash(
        root,
        "",
        "useradd --create-home --uid 1234 --groups staff builder && dpkg-query -W -f '${Status}\\n' coreutils",
    );
    assert_eq!(
        (status, out),
        (
            ExitStatus::Exited(0),
            vec!["install ok installed".to_owned()]
        )
    );

    let (status, out) = bash(
        root,
        "builder",
        "id; echo $HOME; touch ~/made; stat -c '%U:%G %a' ~/made",
    );
    assert_eq!(status, ExitStatus::Exited(0));
    assert_eq!(
        out,
        [
            "uid=1234(builder) gid=1234(builder) groups=1234(builder),50(staff)",
            "/home/builder",
            "builder:builder 644",
        ]
    );
    // An unknown user is refused as Docker refuses it.
    let err = sandbox()
        .run(
            &RunSpec {
                user: "nobody-here".into(),
                ..RunSpec::new(root, vec!["true".into()])
            },
            &mut |_, _| {},
        )
        .expect_err("unknown user");
    assert_eq!(
        err.to_string(),
        "unable to find user nobody-here: no matching entries in passwd file"
    );
    assert_eq!(network_files(), before);
}
