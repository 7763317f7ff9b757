//! ADD of Git repositories end to end through the `kiln` binary: a repository served by
//! `git daemon` on 127.0.0.1 inside the test, ADD at the default branch, a tag with a subdir,
//! a branch with `--keep-git-dir` and `--chown`, and a commit id; what lands in the image (owners,
//! modes, mtimes, no `.git` unless asked) is read from the layer tarball and the image run with
//! `docker`. The errors for a missing `git` program and an unreachable URL with credentials
//! need nothing but the binary; the rest is ignored unless run with `--include-ignored` after
//! `scripts/testenv up`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;

use kiln_testsupport::cli::{DockerImage, Kiln, context, destination, run_ok, stderr, stdout_of};
use kiln_testsupport::env;
use tempfile::TempDir;

const KILN: Kiln = Kiln::new(env!("CARGO_BIN_EXE_kiln"));

/// The commit times of the two commits made, in seconds.
const FIRST_COMMIT: u64 = 1_600_000_000;
const SECOND_COMMIT: u64 = 1_600_100_000;

/// Runs `kiln build` in `dir` with `args` and the variables `vars`, and the test's PATH so
/// that kiln finds `git`.
fn build(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let path = std::env::var("PATH").unwrap_or_default();
    let mut all = vec![("PATH", path.as_str())];
    all.extend(vars);
    KILN.build_with_env(dir, args, &all)
}

/// A repository served by `git daemon` as `git://127.0.0.1:<port>/repo.git`: a first commit
/// tagged `v1` (annotated), then a second on `main`.
struct Served {
    _dir: TempDir,
    daemon: std::process::Child,
    port: u16,
    /// The commits, first and second.
    commits: [String; 2],
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

fn git(dir: &Path, args: &[&str], when: u64) -> String {
    let date = format!("@{when} +0000");
    run_ok(
        std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .envs([
                ("GIT_AUTHOR_NAME", "kiln"),
                ("GIT_AUTHOR_EMAIL", "kiln@example.com"),
                ("GIT_COMMITTER_NAME", "kiln"),
                ("GIT_COMMITTER_EMAIL", "kiln@example.com"),
                ("GIT_AUTHOR_DATE", &date),
                ("GIT_COMMITTER_DATE", &date),
                ("GIT_CONFIG_NOSYSTEM", "1"),
                ("HOME", dir.to_str().expect("utf-8")),
            ]),
    )
    .trim()
    .to_owned()
}

fn serve() -> Served {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let work = dir.path().join("work");
    std::fs::create_dir_all(work.join("bin")).expect("mkdir");
    std::fs::create_dir_all(work.join("docs/deep")).expect("mkdir");
    std::fs::write(work.join("README"), "first\n").expect("write");
    std::fs::write(work.join("bin/run.sh"), "#!/bin/sh\necho run\n").expect("write");
    std::fs::set_permissions(work.join("bin/run.sh"), PermissionsExt::from_mode(0o755))
        .expect("chmod");
    std::fs::write(work.join("docs/guide.txt"), "guide\n").expect("write");
    std::fs::write(work.join("docs/deep/note.txt"), "note\n").expect("write");
    std::os::unix::fs::symlink("README", work.join("link")).expect("symlink");
    git(&work, &["init", "-q", "-b", "main"], FIRST_COMMIT);
    git(&work, &["add", "-A"], FIRST_COMMIT);
    git(&work, &["commit", "-q", "-m", "first"], FIRST_COMMIT);
    git(&work, &["tag", "-a", "v1", "-m", "v1"], FIRST_COMMIT);
    let first = git(&work, &["rev-parse", "HEAD"], FIRST_COMMIT);
    std::fs::write(work.join("README"), "second\n").expect("write");
    git(&work, &["commit", "-q", "-am", "second"], SECOND_COMMIT);
    let second = git(&work, &["rev-parse", "HEAD"], SECOND_COMMIT);
    let base = dir.path().join("base");
    std::fs::create_dir(&base).expect("mkdir");
    git(
        dir.path(),
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().expect("utf-8"),
            base.join("repo.git").to_str().expect("utf-8"),
        ],
        SECOND_COMMIT,
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    // The daemon itself rather than the `git` wrapper, so that killing it stops it.
    let exec_path = stdout_of("git", &["--exec-path"]);
    let daemon = std::process::Command::new(Path::new(exec_path.trim()).join("git-daemon"))
        .args([
            "--export-all",
            "--reuseaddr",
            "--listen=127.0.0.1",
            &format!("--port={port}"),
            &format!("--base-path={}", base.display()),
        ])
        .arg(&base)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("git daemon runs");
    let served = Served {
        _dir: dir,
        daemon,
        port,
        commits: [first, second],
    };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return served;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("git daemon did not listen on {port}");
}

/// The entries of the image's layers (in `tar_path`) `first..`: `type+mode uid/gid mtime path`.
fn layer_entries(tar_path: &Path, first: usize) -> Vec<Vec<String>> {
    let unpacked = tempfile::tempdir().expect("temp dir");
    let dir = unpacked.path();
    stdout_of(
        "tar",
        &[
            "-xf",
            tar_path.to_str().expect("utf-8"),
            "-C",
            dir.to_str().expect("utf-8"),
        ],
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).expect("read"))
            .expect("manifest.json");
    let layers = manifest[0]["Layers"].as_array().expect("layers").clone();
    layers[first..]
        .iter()
        .map(|layer| {
            let layer: PathBuf = dir.join(layer.as_str().expect("layer path"));
            run_ok(
                std::process::Command::new("tar")
                    .args([
                        "--numeric-owner",
                        "--full-time",
                        "-tvf",
                        layer.to_str().expect("utf-8"),
                    ])
                    .env("TZ", "UTC"),
            )
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                format!("{} {} {} {}", f[0], f[1], f[3], f[5..].join(" "))
            })
            .collect()
        })
        .collect()
}

#[test]
#[ignore = "needs the test environment"]
fn add_checks_out_branches_tags_subdirs_and_commits_as_buildkit_does() {
    let env = env();
    let served = serve();
    let repo = format!("git://127.0.0.1:{}/repo.git", served.port);
    let [first, second] = &served.commits;
    let dir = context(&format!(
        "FROM {registry}/busybox:latest\n\
         ADD {repo} /src\n\
         ADD {repo}#v1:docs /docs\n\
         ADD --keep-git-dir=true --chown=1000:50 {repo}#main /kept\n\
         ADD {repo}#{first} /pinned/\n",
        registry = env.registry
    ));
    let name = destination(&env, "git-add", "checkout");
    let tar = dir.path().join("image.tar");
    // SOURCE_DATE_EPOCH after both commits: files take their commit's time.
    let out = build(
        dir.path(),
        &[
            "--no-push",
            "--destination",
            &name,
            "--tar-path",
            tar.to_str().expect("utf-8"),
        ],
        &[("SOURCE_DATE_EPOCH", "1700000000")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("checking out {repo} at {second}")),
        "the resolved commit is logged"
    );
    let layers = layer_entries(&tar, 1);
    let second_time = "2020-09-14"; // FIRST_COMMIT is 2020-09-13, SECOND_COMMIT 2020-09-14
    let first_time = "2020-09-13";
    // The destination directory is made by the copy, as COPY makes one: the build's time.
    let made = "2023-11-14";
    assert_eq!(
        layers[0],
        [
            format!("drwxr-xr-x 0/0 {made} src/"),
            format!("-rw-r--r-- 0/0 {second_time} src/README"),
            format!("drwxr-xr-x 0/0 {second_time} src/bin/"),
            format!("-rwxr-xr-x 0/0 {second_time} src/bin/run.sh"),
            format!("drwxr-xr-x 0/0 {second_time} src/docs/"),
            format!("drwxr-xr-x 0/0 {second_time} src/docs/deep/"),
            format!("-rw-r--r-- 0/0 {second_time} src/docs/deep/note.txt"),
            format!("-rw-r--r-- 0/0 {second_time} src/docs/guide.txt"),
            format!("lrwxrwxrwx 0/0 {second_time} src/link -> README"),
        ],
        "the default branch, without .git"
    );
    assert_eq!(
        layers[1],
        [
            format!("drwxr-xr-x 0/0 {made} docs/"),
            format!("drwxr-xr-x 0/0 {first_time} docs/deep/"),
            format!("-rw-r--r-- 0/0 {first_time} docs/deep/note.txt"),
            format!("-rw-r--r-- 0/0 {first_time} docs/guide.txt"),
        ],
        "the tag's subdir"
    );
    assert!(
        layers[2]
            .iter()
            .any(|e| e.ends_with("kept/.git/HEAD") && e.contains(" 1000/50 ")),
        "--keep-git-dir keeps .git, --chown owns it: {:?}",
        layers[2]
    );
    assert!(
        layers[2].iter().all(|e| e.contains(" 1000/50 ")),
        "{:?}",
        layers[2]
    );
    assert!(
        layers[3].iter().all(|e| !e.contains(".git")) && layers[3].len() == 9,
        "a commit id: {:?}",
        layers[3]
    );

    let got = DockerImage::load(&tar, &name)
        .sh("cat /src/README /pinned/README /kept/README /kept/.git/HEAD; /src/bin/run.sh");
    assert_eq!(got, format!("second\nfirst\nsecond\n{second}\nrun\n"));
}

#[test]
#[ignore = "needs the test environment"]
fn an_unknown_ref_or_subdir_fails_naming_it() {
    let served = serve();
    let repo = format!("git://127.0.0.1:{}/repo.git", served.port);
    let cases = [
        (
            format!("ADD {repo}#nope /src"),
            format!("{repo} has no branch or tag \"nope\""),
        ),
        (
            format!("ADD {repo}#v1:missing /src"),
            format!(
                "the subdirectory \"missing\" of {repo} at {} is not a directory",
                served.commits[0]
            ),
        ),
        (
            format!("ADD {repo}#--upload-pack=touch /src"),
            format!("invalid Git reference \"--upload-pack=touch\" in {repo}: it starts with '-'"),
        ),
    ];
    for (line, want) in cases {
        let dir = context(&format!("FROM scratch\n{line}\n"));
        let out = build(dir.path(), &["--no-push"], &[]);
        assert!(!out.status.success(), "{line}");
        assert!(stderr(&out).contains(&want), "{line}: {}", stderr(&out));
    }
}

#[test]
fn a_missing_git_program_and_credentials_in_the_url_give_clear_errors() {
    let dir = context("FROM scratch\nADD git://127.0.0.1:1/repo.git /src\n");
    let out = KILN.build_with_env(dir.path(), &["--no-push"], &[("PATH", "/nonexistent")]);
    assert!(!out.status.success());
    assert!(
        stderr(&out)
            .contains("ADD from a Git repository needs the git program, which is not on PATH"),
        "{}",
        stderr(&out)
    );

    let dir = context("FROM scratch\nADD https://user:s3cr3t@127.0.0.1:1/repo.git /src\n");
    let out = build(dir.path(), &["--no-push"], &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("git ls-remote of https://127.0.0.1:1/repo.git failed"),
        "{err}"
    );
    assert!(!err.contains("s3cr3t"), "{err}");
}
