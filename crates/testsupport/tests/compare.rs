//! The image comparison on real images: the same image read through `docker save` and through
//! an OCI layout written by skopeo compares equal, and a changed image does not.
//!
//! Needs `scripts/testenv up` and a running Docker Engine.

use std::path::Path;
use std::process::Command;

use kiln_testsupport::compare::{AllowList, Difference, compare, load, load_platform};
use kiln_testsupport::env;

fn run(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} cannot start: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn oci_layout(registry: &str, image: &str, dir: &Path) -> std::path::PathBuf {
    let layout = dir.join(image.replace([':', '/'], "-"));
    run(
        "skopeo",
        &[
            "copy",
            "-q",
            "--src-tls-verify=false",
            &format!("docker://{registry}/{image}"),
            &format!("oci:{}:latest", layout.display()),
        ],
    );
    layout
}

fn docker_save(registry: &str, image: &str, dir: &Path) -> std::path::PathBuf {
    let reference = format!("{registry}/{image}");
    run("docker", &["pull", "-q", &reference]);
    let tarball = dir.join(format!("{}.tar", image.replace([':', '/'], "-")));
    run(
        "docker",
        &["save", "-o", &tarball.display().to_string(), &reference],
    );
    tarball
}

#[test]
#[ignore = "needs the test environment"]
fn docker_save_and_oci_layout_of_the_same_images_match() {
    let env = env();
    let dir = tempfile::tempdir().expect("tempdir");
    for image in ["busybox:latest", "debian:bookworm"] {
        let layout = load(&oci_layout(&env.registry, image, dir.path())).expect("layout");
        let saved = load(&docker_save(&env.registry, image, dir.path())).expect("docker save");
        let report = compare(&layout, &saved, &AllowList::new());
        assert!(report.is_match(), "{report}");
        assert!(
            layout.files.len() > 100,
            "{image}: {} paths",
            layout.files.len()
        );
    }
}

#[test]
#[ignore = "needs the test environment"]
fn different_images_are_told_apart_file_by_file() {
    let env = env();
    let dir = tempfile::tempdir().expect("tempdir");
    let busybox = load(&oci_layout(&env.registry, "busybox:latest", dir.path())).expect("busybox");
    let debian = load(&oci_layout(&env.registry, "debian:bookworm", dir.path())).expect("debian");
    let report = compare(&busybox, &debian, &AllowList::builder_metadata());
    assert!(!report.is_match());
    // busybox's /bin/sh is a symlink to /bin/busybox; debian's is dash's.
    assert!(
        report.differences.iter().any(|d| matches!(
            d,
            Difference::File { path, .. } if path == "/bin/sh"
        ) || matches!(d, Difference::Missing { path, .. } if path == "/bin/sh")),
        "{report}"
    );
}

#[test]
#[ignore = "needs the test environment"]
fn a_platform_is_picked_from_a_multi_platform_layout() {
    let env = env();
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = dir.path().join("multiarch");
    run(
        "skopeo",
        &[
            "copy",
            "-q",
            "--all",
            "--src-tls-verify=false",
            &format!("docker://{}/multiarch:latest", env.registry),
            &format!("oci:{}:latest", layout.display()),
        ],
    );
    let cases = [
        (None, "amd64"),
        (Some("linux/amd64"), "amd64"),
        (Some("linux/arm64"), "arm64"),
        (Some("linux/arm64/v8"), "arm64"),
    ];
    for (platform, architecture) in cases {
        let image = load_platform(&layout, platform).expect("loads");
        assert_eq!(image.config["architecture"], architecture, "{platform:?}");
    }
    let error = load_platform(&layout, Some("linux/s390x")).expect_err("no such platform");
    assert!(
        error
            .to_string()
            .contains("no manifest for linux/s390x; found [linux/amd64, linux/arm64/v8]"),
        "{error}"
    );
}
