//! What `RUN --mount` and `RUN --network` need from the sandbox, in a real one: a writable
//! directory whose writes vanish ([`Mount::Scratch`]), an in-memory file with an owner and
//! mode ([`Mount::File`], for secrets), the owner of a mounted cache ([`Mount::Owner`]), and a
//! network namespace with only loopback ([`NetworkMode::None`]); under chroot and rootless
//! isolation, leaving nothing in the rootfs. These tests need root, so they are ignored by
//! default and run by `scripts/check`.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use kiln_sandbox::{
    BindMount, Error, ExitStatus, Isolation, Mount, NetworkMode, RunSpec, SecretBytes, Stream,
};
use support::{busybox_rootfs, chain, sandbox, sh};

mod support;

/// Runs `spec`: its status, stdout lines and stderr lines.
fn run(spec: &RunSpec) -> (ExitStatus, Vec<String>, Vec<String>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let outcome = sandbox()
        .run(spec, &mut |stream, line| {
            let line = String::from_utf8_lossy(line).into_owned();
            match stream {
                Stream::Stdout => out.push(line),
                Stream::Stderr => err.push(line),
            }
        })
        .unwrap_or_else(|e| panic!("run {:?}: {}", spec.argv, chain(&e)));
    (outcome.status, out, err)
}

/// Every path under `root`, relative, sorted.
fn listing(root: &Path) -> Vec<String> {
    let mut paths = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let entry = entry.expect("entry");
            let path = entry.path();
            if entry.file_type().expect("type").is_dir() {
                pending.push(path.clone());
            }
            let rel = path.strip_prefix(root).expect("under root");
            paths.push(rel.to_string_lossy().into_owned());
        }
    }
    paths.sort();
    paths
}

const ISOLATIONS: [Isolation; 2] = [Isolation::Chroot, Isolation::Rootless];

#[test]
#[ignore = "needs the test environment"]
fn a_scratch_mount_is_writable_and_its_writes_vanish() {
    for isolation in ISOLATIONS {
        let rootfs = busybox_rootfs();
        let before = listing(rootfs.path());
        let lower = tempfile::tempdir().expect("lower");
        std::fs::write(lower.path().join("input"), "original\n").expect("write");
        std::fs::set_permissions(lower.path(), std::fs::Permissions::from_mode(0o750))
            .expect("chmod");
        let mut spec = sh(
            rootfs.path(),
            "stat -c '%a %u' /src; cat /src/input; echo changed > /src/input; \
             echo new > /src/new; rm -f /src/gone; cat /src/input /src/new",
        );
        std::fs::write(lower.path().join("gone"), "").expect("write");
        spec.isolation = isolation;
        spec.mounts = vec![Mount::Scratch {
            lower: lower.path().into(),
            target: "/src".into(),
        }];
        let (status, out, err) = run(&spec);
        assert_eq!(status, ExitStatus::Exited(0), "{isolation}: {err:?}");
        assert_eq!(out, ["750 0", "original", "changed", "new"], "{isolation}");
        assert_eq!(
            std::fs::read_to_string(lower.path().join("input")).expect("read"),
            "original\n",
            "{isolation}: the write reached the source"
        );
        assert!(lower.path().join("gone").exists(), "{isolation}");
        assert!(!lower.path().join("new").exists(), "{isolation}");
        assert_eq!(listing(rootfs.path()), before, "{isolation}");
    }
}

#[test]
#[ignore = "needs the test environment"]
fn a_file_mount_has_its_owner_and_mode_and_leaves_no_trace() {
    for isolation in ISOLATIONS {
        let rootfs = busybox_rootfs();
        let before = listing(rootfs.path());
        let mut spec = sh(
            rootfs.path(),
            "stat -c '%a %u %g' /run/secrets/token; cat /run/secrets/token; echo; \
             ls -a /dev | grep -c kiln; echo x > /run/secrets/token 2>/dev/null || echo read-only",
        );
        spec.isolation = isolation;
        spec.user = "app".into();
        spec.mounts = vec![Mount::File {
            target: "/run/secrets/token".into(),
            contents: SecretBytes(b"s3cr3t".to_vec()),
            uid: 1000,
            gid: 50,
            mode: 0o400,
        }];
        let (status, out, err) = run(&spec);
        assert_eq!(status, ExitStatus::Exited(0), "{isolation}: {err:?}");
        assert_eq!(
            out,
            ["400 1000 50", "s3cr3t", "0", "read-only"],
            "{isolation}"
        );
        assert_eq!(listing(rootfs.path()), before, "{isolation}");
    }
}

#[test]
#[ignore = "needs the test environment"]
fn a_file_mount_in_dev_and_a_debug_print_keep_the_secret() {
    let rootfs = busybox_rootfs();
    let mut spec = sh(rootfs.path(), "cat /dev/token");
    spec.mounts = vec![Mount::File {
        target: "/dev/token".into(),
        contents: SecretBytes(b"hunter2".to_vec()),
        uid: 0,
        gid: 0,
        mode: 0o400,
    }];
    assert!(!format!("{spec:?}").contains("hunter2"));
    let (status, out, _) = run(&spec);
    assert_eq!(
        (status, out),
        (ExitStatus::Exited(0), vec!["hunter2".into()])
    );
}

#[test]
#[ignore = "needs the test environment"]
fn an_owner_entry_gives_a_mounted_directory_its_ids_and_mode() {
    for isolation in ISOLATIONS {
        let rootfs = busybox_rootfs();
        let cache = tempfile::tempdir().expect("cache");
        let mut spec = sh(
            rootfs.path(),
            "stat -c '%a %u %g' /cache; touch /cache/made",
        );
        spec.isolation = isolation;
        spec.user = "app".into();
        spec.mounts = vec![
            Mount::Bind(BindMount {
                source: cache.path().into(),
                target: "/cache".into(),
                read_only: false,
            }),
            Mount::Owner {
                target: "/cache".into(),
                uid: 1000,
                gid: 1000,
                mode: 0o700,
            },
        ];
        let (status, out, err) = run(&spec);
        assert_eq!(status, ExitStatus::Exited(0), "{isolation}: {err:?}");
        assert_eq!(out, ["700 1000 1000"], "{isolation}");
        let made = std::fs::metadata(cache.path().join("made")).expect("made in the cache");
        // Run as root, rootless maps every id to itself.
        assert_eq!(made.uid(), 1000, "{isolation}");
        assert!(!rootfs.path().join("cache").exists(), "{isolation}");
    }
}

#[test]
#[ignore = "needs the test environment"]
fn network_none_has_only_loopback_and_host_keeps_the_hosts_network() {
    let registry = kiln_testsupport::env().registry;
    let (host, port) = registry.split_once(':').expect("host:port");
    let probe = format!(
        "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '; \
         ifconfig lo | grep -c UP; \
         nc -l -p 7777 -e echo pong & sleep 0.3; nc 127.0.0.1 7777 </dev/null; \
         printf 'GET /v2/ HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {host} {port} | grep -q ' 200 ' \
         && echo reached || echo unreachable"
    );
    for isolation in ISOLATIONS {
        let rootfs = busybox_rootfs();
        let mut spec = sh(rootfs.path(), &probe);
        spec.isolation = isolation;
        spec.network = NetworkMode::None;
        let (status, out, err) = run(&spec);
        assert_eq!(status, ExitStatus::Exited(0), "{isolation}: {err:?}");
        assert_eq!(out, ["lo", "1", "pong", "unreachable"], "{isolation}");

        spec.network = NetworkMode::Host;
        let (_, out, err) = run(&spec);
        assert_eq!(
            out.last().map(String::as_str),
            Some("reached"),
            "{isolation}: {err:?}"
        );
        assert!(
            out.len() > 4,
            "{isolation}: the host has more than lo: {out:?}"
        );
    }
}

#[test]
#[ignore = "needs the test environment"]
fn in_place_runs_refuse_a_network_of_their_own() {
    support::require_root();
    let mut spec = sh(Path::new("/"), "true");
    spec.isolation = Isolation::None;
    spec.network = NetworkMode::None;
    let err = sandbox().run(&spec, &mut |_, _| {}).expect_err("refused");
    assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
    assert!(
        err.to_string().contains("--network=none"),
        "{}",
        chain(&err)
    );
}
