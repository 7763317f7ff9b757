use super::*;
use crate::idmap::{IdRange, MapWriter};
use crate::spec::{BindMount, Mount};

fn rootfs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("etc")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("proc")).expect("mkdir");
    std::fs::write(
        dir.path().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
    )
    .expect("passwd");
    std::fs::write(dir.path().join("etc/group"), "root:x:0:\nwheel:x:10:app\n").expect("group");
    dir
}

fn spec(root: &Path) -> RunSpec {
    RunSpec::new(root, vec!["/bin/sh".into(), "-c".into(), "true".into()])
}

#[test]
fn chroot_plan_mounts_in_order_and_ends_with_pivot_root() {
    let dir = rootfs();
    let root = std::fs::canonicalize(dir.path()).expect("canonicalize");
    let hosts = dir.path().join("hosts-source");
    std::fs::write(&hosts, "127.0.0.1 localhost\n").expect("write");
    let mut spec = spec(&root);
    spec.hostname = Some("kiln".into());
    spec.mounts = vec![
        Mount::Bind(BindMount {
            source: hosts.clone(),
            target: "/etc/hosts".into(),
            read_only: true,
        }),
        Mount::Tmpfs {
            target: "/var/cache/apt".into(),
            size: Some(1 << 20),
        },
    ];
    let prepared = prepare(&spec, Isolation::Chroot, None).expect("prepare");
    assert_eq!(
        prepared.plan.steps[..5],
        [
            Step::MakePrivate,
            Step::BindRoot {
                rootfs: root.clone()
            },
            Step::Proc {
                target: root.join("proc")
            },
            Step::Dev {
                target: root.join("dev"),
                pts_gid: Some(5)
            },
            Step::Bind {
                source: "/sys".into(),
                target: root.join("sys"),
                recursive: false,
                read_only: true
            },
        ]
    );
    let rest = &prepared.plan.steps[5..];
    let masks = mounts::MASKED_PATHS.len();
    assert_eq!(
        rest[0],
        Step::Mask {
            target: root.join("proc/asound")
        }
    );
    assert_eq!(
        rest[masks],
        Step::ReadOnly {
            target: root.join("proc/bus")
        }
    );
    assert!(rest.contains(&Step::ReadOnly {
        target: root.join("proc/sys")
    }));
    assert!(rest.contains(&Step::Mask {
        target: root.join("proc/kcore")
    }));
    assert_eq!(
        rest[masks + mounts::READ_ONLY_PATHS.len()..],
        [
            Step::Bind {
                source: hosts,
                target: root.join("etc/hosts"),
                recursive: false,
                read_only: true
            },
            Step::Tmpfs {
                target: root.join("var/cache/apt"),
                size: Some(1 << 20)
            },
            Step::Hostname {
                name: "kiln".into()
            },
            Step::PivotRoot {
                rootfs: root.clone()
            },
        ]
    );
    // /proc existed; the others were created for the run and are removed after.
    let stubs = prepared.stubs.expect("stubs");
    assert_eq!(
        stubs.created(),
        [
            Path::new("/dev"),
            Path::new("/sys"),
            Path::new("/etc/hosts"),
            Path::new("/var"),
            Path::new("/var/cache"),
            Path::new("/var/cache/apt"),
        ]
    );
    let removal = stubs.remove().expect("remove");
    assert_eq!(removal.removed.len(), 6);
    assert!(!root.join("var").exists());
    assert!(!root.join("etc/hosts").exists() && !root.join("dev").exists());
}

#[test]
fn the_command_gets_the_user_and_a_home() {
    let dir = rootfs();
    let mut spec = spec(dir.path());
    spec.user = "app".into();
    spec.env = vec!["PATH=/bin".into()];
    let prepared = prepare(&spec, Isolation::Chroot, None).expect("prepare");
    let command = &prepared.plan.command;
    assert_eq!((command.user.uid, command.user.gid), (1000, 1000));
    assert_eq!(command.user.additional_gids, [10]);
    assert_eq!(command.env, ["PATH=/bin", "HOME=/home/app"]);
    assert!(command.set_groups);
    // An explicit HOME wins.
    spec.env.push("HOME=/elsewhere".into());
    let prepared = prepare(&spec, Isolation::Chroot, None).expect("prepare");
    assert_eq!(prepared.plan.command.env, ["PATH=/bin", "HOME=/elsewhere"]);
    prepared.stubs.expect("stubs").remove().expect("remove");
}

#[test]
fn an_unknown_user_fails_before_anything_is_created() {
    let dir = rootfs();
    let mut spec = spec(dir.path());
    spec.user = "nobody".into();
    let err = prepare(&spec, Isolation::Chroot, None).expect_err("unknown user");
    assert_eq!(
        err.to_string(),
        "unable to find user nobody: no matching entries in passwd file"
    );
    assert!(!dir.path().join("dev").exists());
}

#[test]
fn none_mode_needs_the_rootfs_to_be_slash_and_no_mounts() {
    let dir = rootfs();
    let err = prepare(&spec(dir.path()), Isolation::None, None).expect_err("not /");
    assert!(
        err.to_string()
            .starts_with("isolation none cannot be used here: it runs in place"),
        "{err}"
    );
    let mut spec = spec(Path::new("/"));
    spec.hostname = Some("x".into());
    let err = prepare(&spec, Isolation::None, None).expect_err("hostname");
    assert!(err.to_string().contains("need namespaces"), "{err}");
    spec.hostname = None;
    let prepared = prepare(&spec, Isolation::None, None).expect("prepare");
    assert!(prepared.plan.steps.is_empty() && prepared.stubs.is_none());
}

#[test]
fn rootless_refuses_a_user_outside_the_map_and_leaves_out_the_tty_gid() {
    let dir = rootfs();
    let single = IdMapping {
        uids: vec![IdRange {
            container: 0,
            host: 1000,
            count: 1,
        }],
        gids: vec![IdRange {
            container: 0,
            host: 1000,
            count: 1,
        }],
        writer: MapWriter::Inside,
    };
    let mut spec = spec(dir.path());
    spec.user = "app".into();
    let err = prepare(&spec, Isolation::Rootless, Some(single.clone())).expect_err("unmapped");
    assert!(
        err.to_string().contains("user 1000:1000 is not mapped"),
        "{err}"
    );
    spec.user = String::new();
    let prepared = prepare(&spec, Isolation::Rootless, Some(single)).expect("prepare");
    assert!(!prepared.plan.command.set_groups);
    assert!(
        prepared
            .plan
            .steps
            .iter()
            .any(|s| matches!(s, Step::Dev { pts_gid: None, .. }))
    );
    assert!(prepared.plan.steps.iter().any(|s| matches!(
        s,
        Step::Bind {
            recursive: true,
            read_only: true,
            ..
        }
    )));
    prepared.stubs.expect("stubs").remove().expect("remove");
}

#[test]
fn an_empty_command_is_refused() {
    let dir = rootfs();
    let spec = RunSpec::new(dir.path(), Vec::new());
    assert!(matches!(
        prepare(&spec, Isolation::Chroot, None),
        Err(Error::EmptyCommand)
    ));
}

#[test]
fn isolated_modes_refuse_the_host_root_as_rootfs() {
    for isolation in [Isolation::Chroot, Isolation::Rootless] {
        let err = prepare(&spec(Path::new("/")), isolation, None).expect_err("host root");
        assert!(
            err.to_string().contains("the rootfs is the host's /"),
            "{err}"
        );
    }
}

#[test]
fn id_maps_are_read_as_the_kernel_writes_them() {
    let identity = "         0          0 4294967295\n";
    let single = "         0      65534          1\n";
    let ranges = "0 1000 1\n1 100000 65536\n";
    let cases = [
        (identity, 5, true),
        (identity, 4_294_967_294, true),
        (single, 0, true),
        (single, 5, false),
        (ranges, 5, true),
        (ranges, 65536, true),
        (ranges, 65537, false),
        ("", 0, false),
    ];
    for (map, id, want) in cases {
        assert_eq!(map_contains(map, id), want, "{map:?} {id}");
    }
}
