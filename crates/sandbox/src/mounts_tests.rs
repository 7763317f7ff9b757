use super::*;
use crate::syscall::{Call, RecordingSyscall};

const HOST_DEVICES: [(&str, bool); 6] = [
    ("/dev/null", false),
    ("/dev/zero", false),
    ("/dev/full", false),
    ("/dev/random", false),
    ("/dev/urandom", false),
    ("/dev/tty", false),
];

fn mount(
    source: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: MountFlags,
    data: Option<&str>,
) -> Call {
    Call::Mount {
        source: source.map(PathBuf::from),
        target: PathBuf::from(target),
        fstype: fstype.map(str::to_owned),
        flags,
        data: data.map(str::to_owned),
    }
}

#[test]
fn read_only_bind_is_remounted_keeping_locked_flags() {
    let sys = RecordingSyscall::new().with_locked_flags(libc::MS_NOSUID | libc::MS_NODEV);
    let steps = [Step::Bind {
        source: "/tmp/hosts".into(),
        target: "/r/etc/hosts".into(),
        recursive: false,
        read_only: true,
    }];
    apply(&sys, &steps).expect("apply");
    assert_eq!(
        sys.calls(),
        vec![
            mount(
                Some("/tmp/hosts"),
                "/r/etc/hosts",
                None,
                libc::MS_BIND,
                None
            ),
            mount(
                None,
                "/r/etc/hosts",
                None,
                libc::MS_BIND
                    | libc::MS_REMOUNT
                    | libc::MS_RDONLY
                    | libc::MS_NOSUID
                    | libc::MS_NODEV,
                None
            ),
        ]
    );
}

#[test]
fn writable_recursive_bind_is_one_call() {
    let sys = RecordingSyscall::new();
    let steps = [Step::Bind {
        source: "/sys".into(),
        target: "/r/sys".into(),
        recursive: true,
        read_only: false,
    }];
    apply(&sys, &steps).expect("apply");
    assert_eq!(
        sys.calls(),
        vec![mount(
            Some("/sys"),
            "/r/sys",
            None,
            libc::MS_BIND | libc::MS_REC,
            None
        )]
    );
}

#[test]
fn dev_gets_devices_pts_shm_and_links() {
    let sys = RecordingSyscall::new().with_existing(&HOST_DEVICES);
    apply(
        &sys,
        &[Step::Dev {
            target: "/r/dev".into(),
            pts_gid: Some(5),
        }],
    )
    .expect("apply");
    let calls = sys.calls();
    assert_eq!(
        calls[0],
        mount(
            Some("tmpfs"),
            "/r/dev",
            Some("tmpfs"),
            libc::MS_NOSUID,
            Some("mode=755,size=65536k")
        )
    );
    for name in DEVICES {
        let node = format!("/r/dev/{name}");
        assert!(
            calls.contains(&Call::CreateFile(PathBuf::from(&node), 0o666)),
            "{name} stub"
        );
        let host = format!("/dev/{name}");
        assert!(
            calls.contains(&mount(Some(&host), &node, None, libc::MS_BIND, None)),
            "{name} bind"
        );
    }
    assert!(calls.contains(&mount(
        Some("devpts"),
        "/r/dev/pts",
        Some("devpts"),
        libc::MS_NOSUID | libc::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620,gid=5")
    )));
    assert!(calls.contains(&Call::Symlink("pts/ptmx".into(), "/r/dev/ptmx".into())));
    assert!(calls.contains(&Call::Symlink("/proc/self/fd".into(), "/r/dev/fd".into())));
    assert!(
        calls
            .iter()
            .any(|c| matches!(c, Call::Mount { target, .. } if target == Path::new("/r/dev/shm")))
    );
}

#[test]
fn devpts_in_a_user_namespace_has_no_gid_option() {
    let sys = RecordingSyscall::new();
    apply(
        &sys,
        &[Step::Dev {
            target: "/r/dev".into(),
            pts_gid: None,
        }],
    )
    .expect("apply");
    assert!(sys.calls().iter().any(|c| matches!(
        c,
        Call::Mount { fstype: Some(t), data: Some(d), .. } if t == "devpts" && !d.contains("gid=")
    )));
}

#[test]
fn pivot_root_detaches_the_old_root() {
    let sys = RecordingSyscall::new();
    apply(
        &sys,
        &[Step::PivotRoot {
            rootfs: "/r".into(),
        }],
    )
    .expect("apply");
    assert_eq!(
        sys.calls(),
        vec![
            Call::Chdir("/r".into()),
            Call::PivotRoot(".".into(), ".".into()),
            mount(None, ".", None, libc::MS_REC | libc::MS_SLAVE, None),
            Call::Detach(".".into()),
            Call::Chdir("/".into()),
        ]
    );
}

#[test]
fn pivot_root_falls_back_to_move_and_chroot_on_einval() {
    let sys = RecordingSyscall::new().fail_when(|c| matches!(c, Call::PivotRoot(..)), libc::EINVAL);
    apply(
        &sys,
        &[Step::PivotRoot {
            rootfs: "/r".into(),
        }],
    )
    .expect("apply");
    assert_eq!(
        sys.calls(),
        vec![
            Call::Chdir("/r".into()),
            Call::PivotRoot(".".into(), ".".into()),
            mount(Some("/r"), "/", None, libc::MS_MOVE, None),
            Call::Chroot(".".into()),
            Call::Chdir("/".into()),
        ]
    );
}

#[test]
fn a_failed_step_stops_the_plan_and_names_the_path() {
    let sys = RecordingSyscall::new().fail_when(
        |c| matches!(c, Call::Mount { fstype: Some(t), .. } if t == "proc"),
        libc::EPERM,
    );
    let steps = [
        Step::MakePrivate,
        Step::Proc {
            target: "/r/proc".into(),
        },
        Step::Hostname {
            name: "never".into(),
        },
    ];
    let err = apply(&sys, &steps).expect_err("proc mount fails");
    assert_eq!(err.to_string(), "mount proc on /r/proc");
    assert_eq!(err.source.raw_os_error(), Some(libc::EPERM));
    assert!(!sys.calls().contains(&Call::Sethostname("never".into())));
}

#[test]
fn masks_hide_files_with_dev_null_and_directories_with_read_only_tmpfs() {
    let sys =
        RecordingSyscall::new().with_existing(&[("/r/proc/kcore", false), ("/r/proc/acpi", true)]);
    let steps = [
        Step::Mask {
            target: "/r/proc/kcore".into(),
        },
        Step::Mask {
            target: "/r/proc/acpi".into(),
        },
        Step::Mask {
            target: "/r/proc/absent".into(),
        },
    ];
    apply(&sys, &steps).expect("apply");
    assert_eq!(
        sys.calls(),
        [
            mount(
                Some("/dev/null"),
                "/r/proc/kcore",
                None,
                libc::MS_BIND,
                None
            ),
            mount(
                Some("tmpfs"),
                "/r/proc/acpi",
                Some("tmpfs"),
                libc::MS_RDONLY,
                None
            ),
        ]
    );
}

#[test]
fn read_only_paths_are_bound_onto_themselves_and_remounted() {
    let sys = RecordingSyscall::new()
        .with_existing(&[("/r/proc/sys", true)])
        .with_locked_flags(libc::MS_NOEXEC);
    let steps = [
        Step::ReadOnly {
            target: "/r/proc/sys".into(),
        },
        Step::ReadOnly {
            target: "/r/proc/none".into(),
        },
    ];
    apply(&sys, &steps).expect("apply");
    assert_eq!(
        sys.calls(),
        [
            mount(
                Some("/r/proc/sys"),
                "/r/proc/sys",
                None,
                libc::MS_BIND | libc::MS_REC,
                None
            ),
            mount(
                None,
                "/r/proc/sys",
                None,
                libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NOEXEC,
                None
            ),
        ]
    );
}

#[test]
fn tmpfs_mounts_are_sticky_world_writable_and_sized() {
    let sys = RecordingSyscall::new();
    let steps = [
        Step::Tmpfs {
            target: "/r/cache".into(),
            size: Some(4096),
        },
        Step::Tmpfs {
            target: "/r/tmp".into(),
            size: None,
        },
    ];
    apply(&sys, &steps).expect("apply");
    let flags = libc::MS_NOSUID | libc::MS_NODEV;
    assert_eq!(
        sys.calls(),
        [
            mount(
                Some("tmpfs"),
                "/r/cache",
                Some("tmpfs"),
                flags,
                Some("mode=1777,size=4096")
            ),
            mount(
                Some("tmpfs"),
                "/r/tmp",
                Some("tmpfs"),
                flags,
                Some("mode=1777")
            ),
        ]
    );
}

#[test]
fn a_device_the_host_lacks_is_left_out() {
    let sys = RecordingSyscall::new().with_existing(&HOST_DEVICES[..5]);
    apply(
        &sys,
        &[Step::Dev {
            target: "/r/dev".into(),
            pts_gid: None,
        }],
    )
    .expect("apply");
    let calls = sys.calls();
    assert!(calls.contains(&Call::CreateFile("/r/dev/urandom".into(), 0o666)));
    assert!(
        !calls
            .iter()
            .any(|c| matches!(c, Call::CreateFile(p, _) if p == Path::new("/r/dev/tty")))
    );
}

#[test]
fn a_mount_point_inside_dev_is_made_with_its_missing_parents() {
    let sys = RecordingSyscall::new().with_existing(&[("/r/dev", true)]);
    let steps = [
        Step::MountPoint {
            target: "/r/dev/pipes/EOF".into(),
            dir: false,
        },
        Step::MountPoint {
            target: "/r/dev/cache".into(),
            dir: true,
        },
    ];
    apply(&sys, &steps).expect("apply");
    assert_eq!(
        sys.calls(),
        [
            Call::Mkdir("/r/dev/pipes".into(), 0o755),
            Call::CreateFile("/r/dev/pipes/EOF".into(), 0o644),
            Call::Mkdir("/r/dev/cache".into(), 0o755),
        ]
    );
}

#[test]
fn a_file_is_written_in_dev_bound_read_only_and_unlinked() {
    let sys = RecordingSyscall::new();
    let steps = [Step::File {
        staging: "/r/dev/.kiln-file-0".into(),
        target: "/r/run/secrets/t".into(),
        contents: SecretBytes(b"v".to_vec()),
        uid: 1000,
        gid: 50,
        mode: 0o400,
    }];
    apply(&sys, &steps).expect("apply");
    let staging = PathBuf::from("/r/dev/.kiln-file-0");
    assert_eq!(
        sys.calls(),
        [
            Call::CreateFile(staging.clone(), 0o600),
            Call::WriteFile(staging.clone(), b"v".to_vec()),
            Call::Chown(staging.clone(), 1000, 50),
            Call::Chmod(staging.clone(), 0o400),
            mount(
                Some("/r/dev/.kiln-file-0"),
                "/r/run/secrets/t",
                None,
                libc::MS_BIND,
                None
            ),
            mount(
                None,
                "/r/run/secrets/t",
                None,
                libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                None
            ),
            Call::Remove(staging, false),
        ]
    );
}

#[test]
fn a_scratch_overlay_keeps_its_upper_layer_in_a_detached_tmpfs() {
    let sys = RecordingSyscall::new();
    let steps = [Step::Overlay {
        lower: "/ctx/a,b:c".into(),
        target: "/r/src".into(),
        staging: "/r/dev/.kiln-rw-0".into(),
        user_xattr: true,
    }];
    apply(&sys, &steps).expect("apply");
    let calls = sys.calls();
    assert_eq!(
        calls[1],
        mount(
            Some("tmpfs"),
            "/r/dev/.kiln-rw-0",
            Some("tmpfs"),
            libc::MS_NOSUID | libc::MS_NODEV,
            Some("mode=700")
        )
    );
    assert!(calls.contains(&mount(
        Some("overlay"),
        "/r/src",
        Some("overlay"),
        0,
        Some(
            "lowerdir=/ctx/a\\,b\\:c,upperdir=/r/dev/.kiln-rw-0/upper,\
             workdir=/r/dev/.kiln-rw-0/work,userxattr"
        )
    )));
    assert_eq!(
        calls[calls.len() - 2..],
        [
            Call::Detach("/r/dev/.kiln-rw-0".into()),
            Call::Remove("/r/dev/.kiln-rw-0".into(), true)
        ]
    );
}
