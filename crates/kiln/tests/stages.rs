//! `kiln build` of multi-stage Dockerfiles: a stage only ever read by `COPY --from` writes no
//! layers, yet the image is the one a build writing them gives (same digest with
//! `--reproducible`), and the copy sees the stage's files as its last step left them. Needs
//! the test registry's busybox and Docker: run with `--include-ignored` after
//! `scripts/testenv up`.

use std::path::Path;

use kiln_testsupport::cli::{DockerImage, Kiln, destination, stderr};
use kiln_testsupport::env;

const KILN: Kiln = Kiln::new(env!("CARGO_BIN_EXE_kiln"));

/// Builds `dockerfile` with `--reproducible`, writing the image to `tar` as `name`; returns
/// the image digest and the log.
fn build(dir: &Path, dockerfile: &str, name: &str, tar: &Path) -> (String, String) {
    std::fs::write(dir.join("Dockerfile"), dockerfile).expect("Dockerfile written");
    let digest_file = dir.join("digest");
    let out = KILN.build(
        dir,
        &[
            "--verbosity=debug",
            "--no-push",
            "--reproducible",
            "--destination",
            name,
            "--tar-path",
            tar.to_str().expect("utf-8 path"),
            "--digest-file",
            digest_file.to_str().expect("utf-8 path"),
        ],
    );
    let log = stderr(&out);
    assert!(out.status.success(), "{log}");
    let digest = std::fs::read_to_string(&digest_file).expect("digest file");
    (digest.trim().to_owned(), log)
}

#[test]
#[ignore = "needs the test environment"]
fn a_stage_only_copied_from_writes_no_layers_and_gives_the_same_image() {
    let env = env();
    let src = format!(
        "FROM {reg}/busybox:latest AS src\n\
         RUN mkdir /out && echo a > /out/a && echo b > /out/b\n\
         WORKDIR /work\n\
         RUN rm /out/b && echo c > /out/c\n",
        reg = env.registry
    );
    let target = format!(
        "FROM {reg}/busybox:latest\n\
         COPY --from=src /out /out\n\
         RUN --mount=type=bind,from=src,source=/out,target=/m cat /m/a /m/c > /seen\n",
        reg = env.registry
    );
    // `src` read only by COPY --from and RUN --mount: no layer of it is needed.
    let only_copied = format!("{src}{target}");
    // `child` is built FROM `src`, so `src` writes its layers as before.
    let inherited = format!("{src}FROM src AS child\n{target}");
    let dir = tempfile::tempdir().expect("temp dir");
    let name = destination(&env, "stages", "copied");
    let tar = dir.path().join("image.tar");
    let (with_layers, log) = build(dir.path(), &inherited, &name, &tar);
    assert_eq!(log.matches("wrote layer").count(), 5, "{log}");
    let (without, log) = build(dir.path(), &only_copied, &name, &tar);
    assert_eq!(log.matches("wrote layer").count(), 2, "{log}");
    assert_eq!(without, with_layers);

    let seen = DockerImage::load(&tar, &name).sh("ls /out; cat /seen");
    assert_eq!(seen, "a\nc\na\nc\n");
}

#[test]
#[ignore = "needs the test environment"]
fn a_stage_rootfs_is_removed_once_no_later_stage_reads_it() {
    let env = env();
    let dockerfile = format!(
        "FROM {reg}/busybox:latest AS first\n\
         RUN echo one > /one\n\
         FROM {reg}/busybox:latest AS second\n\
         COPY --from=first /one /one\n\
         RUN echo two >> /one\n\
         FROM {reg}/busybox:latest\n\
         COPY --from=second /one /one\n",
        reg = env.registry
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let name = destination(&env, "stages", "removed");
    let tar = dir.path().join("image.tar");
    let (_, log) = build(dir.path(), &dockerfile, &name, &tar);
    let removed = log
        .find("stage0/rootfs)")
        .unwrap_or_else(|| panic!("stage 0's rootfs not removed: {log}"));
    let third = log.find("[stage 3/3] step 1/1").expect("third stage");
    assert!(
        removed < third,
        "stage 0 removed after the last stage: {log}"
    );
    let builds = dir.path().join("kaniko").join("builds");
    let left = std::fs::read_dir(&builds).map_or(0, Iterator::count);
    assert_eq!(left, 0, "work area left in {}", builds.display());
    let seen = DockerImage::load(&tar, &name).run(&["cat", "/one"]);
    assert_eq!(seen, "one\ntwo\n");
}
