//! RUN processes in a real sandbox: a throwaway busybox rootfs in a temp dir, run through the
//! crate's `kiln-sandbox-test` binary as the sandbox init. These tests need root (namespaces,
//! mounts), so they are ignored by default and run by `scripts/check`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kiln_sandbox::{
    BindMount, Error, ExitStatus, Isolation, Mount, NetworkFiles, RunOutcome, RunSpec, Stream,
};
use support::{busybox_rootfs, chain, require_root, sandbox, sh};

mod support;

/// Runs `spec`, collecting output lines per stream.
fn run(spec: &RunSpec) -> (RunOutcome, Vec<String>, Vec<String>) {
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
    (outcome, out, err)
}

#[test]
#[ignore = "needs the test environment"]
fn output_is_streamed_line_by_line_per_stream() {
    let rootfs = busybox_rootfs();
    let (outcome, out, err) = run(&sh(
        rootfs.path(),
        "echo one; echo two >&2; printf 'three\\nfour'",
    ));
    assert_eq!(outcome.status, ExitStatus::Exited(0));
    assert_eq!(outcome.isolation, Isolation::Chroot);
    assert_eq!(out, ["one", "three", "four"]);
    assert_eq!(err, ["two"]);
}

#[test]
#[ignore = "needs the test environment"]
fn exit_codes_and_signals_propagate() {
    let rootfs = busybox_rootfs();
    let (outcome, _, _) = run(&sh(rootfs.path(), "exit 3"));
    assert_eq!(outcome.status, ExitStatus::Exited(3));
    let (outcome, _, _) = run(&sh(rootfs.path(), "kill -9 $$"));
    assert_eq!(outcome.status, ExitStatus::Signaled(9));
    assert_eq!(outcome.status.code(), 137);
}

#[test]
#[ignore = "needs the test environment"]
fn background_processes_are_killed_when_the_command_exits() {
    let rootfs = busybox_rootfs();
    // One child in the command's group, one that left it with setsid; both keep stdout open.
    let script = "(sleep 4; touch /tmp/survived) & setsid sh -c 'sleep 4; touch /tmp/survived2' & echo started";
    let started = Instant::now();
    let (outcome, out, _) = run(&sh(rootfs.path(), script));
    assert!(
        started.elapsed() < Duration::from_millis(3500),
        "run waited for the background processes"
    );
    assert_eq!(
        (outcome.status, out),
        (ExitStatus::Exited(0), vec!["started".to_owned()])
    );
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        !rootfs.path().join("tmp/survived").exists(),
        "a background process survived"
    );
    assert!(
        !rootfs.path().join("tmp/survived2").exists(),
        "a setsid daemon survived"
    );
}

#[test]
#[ignore = "needs the test environment"]
fn user_switching_gives_ids_groups_and_home() {
    let rootfs = busybox_rootfs();
    let cases = [
        // busybox `id` lists getgroups(2) only: no supplementary groups, no `groups=`.
        ("", "uid=0(root) gid=0(root)", "/root"),
        (
            "app",
            "uid=1000(app) gid=1000(app) groups=10(wheel),50(staff)",
            "/home/app",
        ),
        (
            "1000",
            "uid=1000(app) gid=1000(app) groups=10(wheel),50(staff)",
            "/home/app",
        ),
        ("app:staff", "uid=1000(app) gid=50(staff)", "/home/app"),
        ("4242", "uid=4242 gid=0(root)", "/"),
        ("4242:4343", "uid=4242 gid=4343", "/"),
    ];
    for (user, id, home) in cases {
        let mut spec = sh(rootfs.path(), "id; echo $HOME");
        spec.user = user.into();
        let (outcome, out, err) = run(&spec);
        assert_eq!(
            outcome.status,
            ExitStatus::Exited(0),
            "USER {user}: {err:?}"
        );
        assert_eq!(out, [id, home], "USER {user}");
    }
}

#[test]
#[ignore = "needs the test environment"]
fn an_unknown_user_is_an_error_like_dockers() {
    let rootfs = busybox_rootfs();
    let mut spec = sh(rootfs.path(), "true");
    spec.user = "nobody".into();
    let err = sandbox()
        .run(&spec, &mut |_, _| {})
        .expect_err("unknown user");
    assert_eq!(
        err.to_string(),
        "unable to find user nobody: no matching entries in passwd file"
    );
}

#[test]
#[ignore = "needs the test environment"]
fn proc_shows_the_pid_namespace() {
    let rootfs = busybox_rootfs();
    let (outcome, out, _) = run(&sh(
        rootfs.path(),
        "echo $$; cat /proc/1/cmdline | tr '\\0' ' '; echo; ls /proc | grep -c '^[0-9]'",
    ));
    assert_eq!(outcome.status, ExitStatus::Exited(0));
    assert_eq!(out[0], "2", "the command is PID 2 under the reaper");
    assert!(
        out[1].contains("kiln-sandbox-test"),
        "PID 1 is the reaper: {}",
        out[1]
    );
    // The reaper, the shell and at most its pipeline: no host processes.
    let count: u32 = out[2].parse().expect("count");
    assert!(count <= 4, "{count} processes visible");
}

#[test]
#[ignore = "needs the test environment"]
fn network_files_are_mounted_read_only_and_not_kept_in_the_rootfs() {
    let rootfs = busybox_rootfs();
    let files_dir = tempfile::tempdir().expect("tempdir");
    let files = NetworkFiles::write(files_dir.path(), "builder", Path::new("/etc/resolv.conf"))
        .expect("files");
    let mut spec = sh(
        rootfs.path(),
        "cat /etc/hosts /etc/hostname; hostname; echo x >> /etc/hosts || echo read-only",
    );
    spec.mounts = files.mounts();
    spec.hostname = Some("builder".into());
    let (outcome, out, _) = run(&spec);
    assert_eq!(outcome.status, ExitStatus::Exited(0));
    assert_eq!(
        out,
        [
            "127.0.0.1\tlocalhost builder",
            "::1\tlocalhost ip6-localhost ip6-loopback",
            "builder",
            "builder",
            "read-only"
        ]
    );
    for stub in [
        "etc/hosts",
        "etc/resolv.conf",
        "etc/hostname",
        "dev",
        "proc",
        "sys",
    ] {
        assert!(
            !rootfs.path().join(stub).exists(),
            "{stub} was left in the rootfs"
        );
    }
    let removed: Vec<PathBuf> = [
        "/proc",
        "/dev",
        "/sys",
        "/etc/hosts",
        "/etc/resolv.conf",
        "/etc/hostname",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    let mut got = outcome.removed_mount_points.clone();
    got.sort();
    let mut want = removed;
    want.sort();
    assert_eq!(got, want);
    assert_eq!(
        std::fs::read_to_string(&files.hosts)
            .expect("hosts")
            .lines()
            .count(),
        2
    );
}

#[test]
#[ignore = "needs the test environment"]
fn the_host_root_is_not_visible() {
    let rootfs = busybox_rootfs();
    let host_dir = rootfs.path().display().to_string();
    let script = format!(
        "ls /; test -e '{host_dir}' && echo host-visible; test -e /proc/1/root/etc/os-release && echo host-os; true"
    );
    let (outcome, out, _) = run(&sh(rootfs.path(), &script));
    assert_eq!(outcome.status, ExitStatus::Exited(0));
    assert!(
        !out.iter().any(|l| l == "host-visible" || l == "host-os"),
        "{out:?}"
    );
    let mut entries: Vec<&str> = out.iter().map(String::as_str).collect();
    entries.sort();
    assert_eq!(entries, ["bin", "dev", "etc", "home", "proc", "sys", "tmp"]);
}

#[test]
#[ignore = "needs the test environment"]
fn devices_and_tmpfs_work_inside() {
    let rootfs = busybox_rootfs();
    let script = "echo x > /dev/null && head -c 4 /dev/zero | wc -c && head -c 4 /dev/urandom | wc -c && \
                  echo s > /dev/shm/f && cat /dev/shm/f && test -d /dev/pts && echo pts";
    let (outcome, out, err) = run(&sh(rootfs.path(), script));
    assert_eq!(outcome.status, ExitStatus::Exited(0), "{err:?}");
    assert_eq!(out, ["4", "4", "s", "pts"]);
}

#[test]
#[ignore = "needs the test environment"]
fn stdin_and_working_directory_reach_the_command() {
    let rootfs = busybox_rootfs();
    let mut spec = RunSpec::new(rootfs.path(), vec!["sh".into()]);
    spec.env = vec!["PATH=/bin".into()];
    spec.cwd = "/tmp".into();
    spec.stdin = Some(b"pwd\necho from-heredoc\n".to_vec());
    let (outcome, out, _) = run(&spec);
    assert_eq!(outcome.status, ExitStatus::Exited(0));
    assert_eq!(out, ["/tmp", "from-heredoc"]);
}

#[test]
#[ignore = "needs the test environment"]
fn a_missing_program_is_reported_as_not_found() {
    let rootfs = busybox_rootfs();
    let mut spec = RunSpec::new(rootfs.path(), vec!["no-such-tool".into()]);
    spec.env = vec!["PATH=/bin".into()];
    let err = sandbox().run(&spec, &mut |_, _| {}).expect_err("not found");
    assert!(
        matches!(
            err,
            Error::Exec {
                not_found: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "exec: \"no-such-tool\": executable file not found in $PATH"
    );
    // A missing working directory is a setup error naming it.
    let mut spec = sh(rootfs.path(), "true");
    spec.cwd = "/nowhere".into();
    let err = sandbox().run(&spec, &mut |_, _| {}).expect_err("no cwd");
    assert_eq!(
        err.to_string(),
        "sandbox setup failed: change to the working directory /nowhere"
    );
}

#[test]
#[ignore = "needs the test environment"]
fn rootless_runs_in_a_user_namespace() {
    let rootfs = busybox_rootfs();
    let mut spec = sh(rootfs.path(), "id -u; cat /proc/self/uid_map; echo $$");
    spec.isolation = Isolation::Rootless;
    let (outcome, out, err) = run(&spec);
    assert_eq!(outcome.status, ExitStatus::Exited(0), "{err:?}");
    assert_eq!(outcome.isolation, Isolation::Rootless);
    assert_eq!(out[0], "0");
    // Run as root, every id maps to itself.
    assert_eq!(
        out[1].split_whitespace().collect::<Vec<_>>(),
        ["0", "0", "4294967295"]
    );
    assert_eq!(out[2], "2");
    let mut spec = sh(rootfs.path(), "id");
    spec.isolation = Isolation::Rootless;
    spec.user = "app".into();
    let (_, out, _) = run(&spec);
    assert_eq!(
        out,
        ["uid=1000(app) gid=1000(app) groups=10(wheel),50(staff)"]
    );
}

#[test]
#[ignore = "needs the test environment"]
fn auto_picks_chroot_for_root_and_says_why() {
    require_root();
    let probe = sandbox().probe().expect("probe");
    assert_eq!(probe.isolation, Isolation::Chroot, "{}", probe.reason);
    assert!(probe.reason.contains("fresh /proc"), "{}", probe.reason);
    let rootfs = busybox_rootfs();
    let mut spec = sh(rootfs.path(), "true");
    spec.isolation = Isolation::Auto;
    let (outcome, _, _) = run(&spec);
    assert_eq!(outcome.isolation, Isolation::Chroot);
}

#[test]
#[ignore = "needs the test environment"]
fn root_gets_dockers_capabilities_and_umask() {
    let rootfs = busybox_rootfs();
    let script = "grep -E '^Cap(Eff|Bnd)' /proc/self/status; umask; mount -t tmpfs none /tmp 2>/dev/null || echo no-mount";
    let (outcome, out, _) = run(&sh(rootfs.path(), script));
    assert_eq!(outcome.status, ExitStatus::Exited(0));
    assert_eq!(
        out,
        [
            "CapEff:\t00000000a80425fb",
            "CapBnd:\t00000000a80425fb",
            "0022",
            "no-mount"
        ]
    );
}

#[test]
#[ignore = "needs the test environment"]
fn concurrent_runs_from_many_threads_keep_their_output_and_status_apart() {
    // One rootfs per run, as one per stage: runs in the same rootfs are sequential by design.
    let rootfs: Vec<_> = (0..6).map(|_| busybox_rootfs()).collect();
    let sandbox = sandbox();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let (sandbox, root) = (&sandbox, rootfs[i as usize].path());
                scope.spawn(move || {
                    let mut lines = Vec::new();
                    let spec = sh(
                        root,
                        &format!("for n in 1 2 3; do echo run{i}-$n; done; exit {i}"),
                    );
                    let outcome = sandbox
                        .run(&spec, &mut |_, line| {
                            lines.push(String::from_utf8_lossy(line).into_owned())
                        })
                        .expect("run");
                    (i, outcome.status, lines)
                })
            })
            .collect();
        for handle in handles {
            let (i, status, lines) = handle.join().expect("thread");
            assert_eq!(status, ExitStatus::Exited(i));
            assert_eq!(
                lines,
                (1..=3).map(|n| format!("run{i}-{n}")).collect::<Vec<_>>()
            );
        }
    });
}

#[test]
#[ignore = "needs the test environment"]
fn orphans_are_reaped_while_the_command_runs() {
    let rootfs = busybox_rootfs();
    // The subshell exits at once, so its `sleep` is orphaned to PID 1 and exits while the
    // command still runs: only a reaper keeps it from staying a zombie.
    let script =
        "(sleep 0.2 &); sleep 1; grep -l '^State:.*Z' /proc/[0-9]*/status || echo no-zombies";
    let (outcome, out, _) = run(&sh(rootfs.path(), script));
    assert_eq!(outcome.status, ExitStatus::Exited(0));
    assert_eq!(out, ["no-zombies"]);
}

#[test]
#[ignore = "needs the test environment"]
fn kernel_interfaces_are_masked_or_read_only_as_in_docker() {
    let rootfs = busybox_rootfs();
    // Each masked interface this kernel has reads as empty inside; which ones exist varies.
    let mut script = String::new();
    let mut want = Vec::new();
    for path in [
        "/proc/timer_list",
        "/proc/keys",
        "/proc/kcore",
        "/proc/acpi",
        "/sys/firmware",
    ] {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => script.push_str(&format!("ls {path} | wc -l; ")),
            Ok(_) => script.push_str(&format!("wc -c < {path}; ")),
            Err(_) => continue,
        }
        want.push("0".to_owned());
    }
    script.push_str("echo 1 > /proc/sys/kernel/sysrq 2>/dev/null || echo sysctl-read-only; ");
    script.push_str("echo x > /proc/sysrq-trigger 2>/dev/null || echo sysrq-read-only");
    want.extend(["sysctl-read-only".to_owned(), "sysrq-read-only".to_owned()]);
    let (outcome, out, err) = run(&sh(rootfs.path(), &script));
    assert_eq!(outcome.status, ExitStatus::Exited(0), "{err:?}");
    assert_eq!(out, want);
}

#[test]
#[ignore = "needs the test environment"]
fn the_command_starts_with_default_signal_dispositions() {
    let rootfs = busybox_rootfs();
    // SigIgn lists ignored signals; the test process ignores SIGPIPE, the command must not.
    // No shell in between: a shell sets its own dispositions.
    let argv = ["/bin/grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"];
    let spec = RunSpec::new(rootfs.path(), argv.map(String::from).to_vec());
    let (outcome, out, _) = run(&spec);
    assert_eq!(outcome.status, ExitStatus::Exited(0));
    assert_eq!(
        out,
        ["SigBlk:\t0000000000000000", "SigIgn:\t0000000000000000"]
    );
}

#[test]
#[ignore = "needs the test environment"]
fn runs_from_a_multi_threaded_async_runtime_through_spawn_blocking() {
    let rootfs = busybox_rootfs();
    let root = rootfs.path().to_path_buf();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    let lines = runtime.block_on(async move {
        // Some async work in flight on the other workers while the run goes on.
        let ticker = tokio::spawn(async {
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        let run = tokio::task::spawn_blocking(move || {
            let mut lines = Vec::new();
            let outcome = sandbox()
                .run(&sh(&root, "echo from-async; exit 5"), &mut |_, line| {
                    lines.push(String::from_utf8_lossy(line).into_owned())
                })
                .expect("run");
            (outcome.status, lines)
        });
        let (result, ticked) = tokio::join!(run, ticker);
        ticked.expect("ticker");
        result.expect("blocking task")
    });
    assert_eq!(
        lines,
        (ExitStatus::Exited(5), vec!["from-async".to_owned()])
    );
}

#[test]
#[ignore = "needs the test environment"]
fn a_binary_that_is_no_sandbox_init_gives_a_hint() {
    let rootfs = busybox_rootfs();
    // busybox does not know the init argument: it prints an error and exits.
    let sandbox = kiln_sandbox::Sandbox::with_program("/bin/busybox");
    let err = sandbox
        .run(&sh(rootfs.path(), "true"), &mut |_, _| {})
        .expect_err("not an init");
    assert!(matches!(err, Error::NoReport { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("must call kiln_sandbox::init::main_if_requested()"),
        "{err}"
    );
}

#[test]
#[ignore = "needs the test environment"]
fn run_mounts_bind_and_tmpfs_without_leaving_anything_in_the_rootfs() {
    let rootfs = busybox_rootfs();
    let cache = tempfile::tempdir().expect("cache dir");
    let secret = tempfile::NamedTempFile::new().expect("secret");
    std::fs::write(secret.path(), "s3cr3t\n").expect("write secret");
    let mut spec = sh(
        rootfs.path(),
        "cat /run/secrets/token; echo kept > /cache/out; echo gone > /scratch/f; \
         stat -c %a /scratch; echo x > /run/secrets/token 2>/dev/null || echo secret-read-only",
    );
    spec.mounts = vec![
        Mount::Bind(BindMount {
            source: secret.path().into(),
            target: "/run/secrets/token".into(),
            read_only: true,
        }),
        Mount::Bind(BindMount {
            source: cache.path().into(),
            target: "/cache".into(),
            read_only: false,
        }),
        Mount::Tmpfs {
            target: "/scratch".into(),
            size: Some(1 << 20),
        },
    ];
    let (outcome, out, err) = run(&spec);
    assert_eq!(outcome.status, ExitStatus::Exited(0), "{err:?}");
    assert_eq!(out, ["s3cr3t", "1777", "secret-read-only"]);
    assert_eq!(
        std::fs::read_to_string(cache.path().join("out")).expect("cache file"),
        "kept\n"
    );
    for gone in ["run", "cache", "scratch"] {
        assert!(
            !rootfs.path().join(gone).exists(),
            "/{gone} was left in the rootfs"
        );
    }
}
