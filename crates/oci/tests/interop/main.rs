//! What kiln-oci writes, read by the tools users read it with: umoci and skopeo for OCI
//! layouts, skopeo and `docker load` for `docker save` tarballs; and what those tools and the
//! test registry write, read by kiln-oci (`documents`). These need the tools installed, a
//! running Docker Engine and the test registry (`KILN_TEST_REGISTRY`), so they are ignored by
//! default; `scripts/check` runs them with `--include-ignored`.

mod documents;
mod fixture;

use std::path::Path;
use std::process::Command;

use fixture::{compressed_image, runnable_image};
use kiln_oci::{Family, Layout, LocalImage, Reference, write_docker_archive_file};

/// Runs `program args…`, returning stdout; panics with the command and its stderr on failure.
pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (is it installed?): {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{program} {} failed with {}:\n{stderr}",
        args.join(" "),
        out.status
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

fn write_layout(dir: &Path, image: &LocalImage, name: &str) -> String {
    let layout = Layout::create(dir.join("layout")).unwrap();
    layout.append_image(image, Some(name)).unwrap();
    layout.root().display().to_string()
}

#[test]
#[ignore = "needs the test environment"]
fn umoci_reads_and_unpacks_a_layout() {
    for (family, gzip) in [(Family::Oci, true), (Family::Oci, false)] {
        let dir = tempfile::tempdir().unwrap();
        let image = runnable_image(dir.path(), "from umoci\n", family, gzip);
        let root = write_layout(dir.path(), &image, "v1");
        let image_arg = format!("{root}:v1");

        let stat = json(&run("umoci", &["stat", "--json", "--image", &image_arg]));
        let history = stat["history"]
            .as_array()
            .expect("umoci stat lists history");
        assert_eq!(history.len(), 2, "{stat}");
        assert_eq!(history[1]["empty_layer"], true, "{stat}");

        let bundle = dir.path().join("bundle");
        let bundle_arg = bundle.display().to_string();
        run("umoci", &["unpack", "--image", &image_arg, &bundle_arg]);
        let hello = std::fs::read_to_string(bundle.join("rootfs/hello.txt")).unwrap();
        assert_eq!(hello, "from umoci\n");
        let sh = std::fs::read_link(bundle.join("rootfs/bin/sh")).unwrap();
        assert_eq!(sh, Path::new("busybox"));
    }
}

#[test]
#[ignore = "needs the test environment"]
fn skopeo_inspects_and_copies_a_layout() {
    let dir = tempfile::tempdir().unwrap();
    let oci_gzip = runnable_image(dir.path(), "from skopeo, gzip\n", Family::Oci, true);
    let oci_plain = runnable_image(dir.path(), "from skopeo, plain\n", Family::Oci, false);
    // skopeo's oci: transport only sees index entries with OCI media types, so a Docker-typed
    // image is described in the OCI family first (same blobs, new manifest).
    let docker = runnable_image(dir.path(), "from skopeo, docker\n", Family::Docker, true);
    let converted = docker.manifest().with_family(Family::Oci);
    let layers = docker.layers().map(|(_, p)| p.to_owned()).collect();
    let from_docker =
        LocalImage::from_manifest(&converted, docker.config_bytes().to_vec(), layers).unwrap();

    for (name, image) in [
        ("gzip", oci_gzip),
        ("plain", oci_plain),
        ("docker", from_docker),
    ] {
        let root = write_layout(&dir.path().join(name), &image, "latest");
        let src = format!("oci:{root}:latest");

        let raw = run("skopeo", &["inspect", "--raw", &src]);
        assert_eq!(raw.as_bytes(), image.manifest_bytes(), "{name}");
        let info = json(&run("skopeo", &["inspect", &src]));
        assert_eq!(info["Digest"], image.digest().to_string(), "{name}");
        assert_eq!(info["Labels"]["org.example.test"], "kiln-oci", "{name}");
        let config = json(&run("skopeo", &["inspect", "--config", &src]));
        assert_eq!(config["config"]["Env"][0], "PATH=/bin", "{name}");

        // A copy reads every blob through skopeo's own digest checks (and compresses an
        // uncompressed layer, so compare what the layers hold, not their digests).
        let dest = format!("oci:{}:copy", dir.path().join(name).join("copy").display());
        run("skopeo", &["copy", &src, &dest]);
        let copied = json(&run("skopeo", &["inspect", "--config", &dest]));
        assert_eq!(copied["rootfs"], config["rootfs"], "{name}");
    }
}

#[test]
#[ignore = "needs the test environment"]
fn skopeo_copies_a_docker_archive_with_several_tags() {
    let dir = tempfile::tempdir().unwrap();
    let image = runnable_image(dir.path(), "from archive\n", Family::Docker, true);
    let tar = dir.path().join("image.tar");
    let tags: Vec<Reference> = ["kiln-oci-test/skopeo:one", "localhost:5000/other/name:two"]
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
    write_docker_archive_file(&tar, &image, &tags).unwrap();
    let tar_arg = tar.display().to_string();

    let info = json(&run(
        "skopeo",
        &["inspect", &format!("docker-archive:{tar_arg}")],
    ));
    assert_eq!(info["Labels"]["org.example.test"], "kiln-oci");
    // A specific tag of a multi-tag archive can be chosen.
    let by_tag = format!("docker-archive:{tar_arg}:localhost:5000/other/name:two");
    run("skopeo", &["inspect", &by_tag]);

    let dest = format!("oci:{}:copied", dir.path().join("out").display());
    run(
        "skopeo",
        &["copy", &format!("docker-archive:{tar_arg}"), &dest],
    );
    let config = json(&run("skopeo", &["inspect", "--config", &dest]));
    let diff_ids = &config["rootfs"]["diff_ids"];
    assert_eq!(
        diff_ids[0],
        image.config().unwrap().rootfs.diff_ids[0].to_string()
    );
}

#[test]
#[ignore = "needs the test environment"]
fn docker_loads_and_runs_the_tarball() {
    for (family, gzip) in [(Family::Docker, true), (Family::Oci, false)] {
        let dir = tempfile::tempdir().unwrap();
        let hello = format!("loaded by docker ({family:?}, gzip: {gzip})\n");
        let image = runnable_image(dir.path(), &hello, family, gzip);
        let name = format!(
            "kiln-oci-test/load-{}:{}",
            if gzip { "gz" } else { "plain" },
            std::process::id()
        );
        let second = format!("{name}-again");
        let tags: Vec<Reference> = [&name, &second]
            .iter()
            .map(|t| t.parse().unwrap())
            .collect();
        let tar = dir.path().join("image.tar");
        write_docker_archive_file(&tar, &image, &tags).unwrap();

        let out = run("docker", &["load", "-i", &tar.display().to_string()]);
        assert!(out.contains(&format!("Loaded image: {name}")), "{out}");
        assert!(out.contains(&format!("Loaded image: {second}")), "{out}");
        let id = run(
            "docker",
            &["image", "inspect", "--format", "{{.Id}}", &name],
        );
        assert_eq!(id.trim(), image.manifest().config.digest.to_string());
        let ran = run("docker", &["run", "--rm", "--network=none", &name]);
        assert_eq!(ran, hello);
        run("docker", &["rmi", &name, &second]);
    }
}

#[test]
#[ignore = "needs the test environment"]
fn skopeo_picks_a_platform_from_a_layout_index() {
    use kiln_oci::{Descriptor, Index, MediaType, Platform};
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::create(dir.path().join("layout")).unwrap();
    let mut index = Index::new(Family::Oci);
    for (arch, hello) in [("amd64", "amd64 image\n"), ("arm64", "arm64 image\n")] {
        let image = runnable_image(dir.path(), hello, Family::Oci, true);
        // Same layer, config rewritten for the platform, as a cross-built image would be.
        let mut config = image.config().unwrap();
        config.architecture = arch.to_owned();
        let config_bytes = config.to_json();
        let mut manifest = image.manifest().clone();
        manifest.config = Descriptor::of(MediaType::OciConfig, &config_bytes);
        let layers = image.layers().map(|(_, p)| p.to_owned()).collect();
        let image = LocalImage::from_manifest(&manifest, config_bytes, layers).unwrap();
        let entry = layout.append_image(&image, None).unwrap();
        index.manifests.push(entry);
    }
    let bytes = index.to_json();
    layout.write_blob_bytes(&bytes).unwrap();
    let descriptor = Descriptor::of(MediaType::OciIndex, &bytes);
    layout.add_to_index(descriptor, Some("multi")).unwrap();
    // Only the index is named; the per-platform entries above stay in index.json unnamed.

    let src = format!("oci:{}:multi", layout.root().display());
    for arch in ["amd64", "arm64"] {
        let config = json(&run(
            "skopeo",
            &[
                "--override-os",
                "linux",
                "--override-arch",
                arch,
                "inspect",
                "--config",
                &src,
            ],
        ));
        assert_eq!(config["architecture"], arch);
        // kiln's choice from the same index is the image skopeo chose: same config bytes.
        let want: Platform = format!("linux/{arch}").parse().unwrap();
        let chosen = layout.read_image(index.select(&want).unwrap()).unwrap();
        let raw_config = run(
            "skopeo",
            &[
                "--override-os",
                "linux",
                "--override-arch",
                arch,
                "inspect",
                "--config",
                "--raw",
                &src,
            ],
        );
        assert_eq!(raw_config.as_bytes(), chosen.config_bytes(), "{arch}");
    }
}

#[test]
#[ignore = "needs the test environment"]
fn zstd_layers_are_read_by_skopeo() {
    // umoci 0.4.7 (Debian bookworm) refuses zstd layers, and Docker 20.10 cannot load them, so
    // skopeo is the reader here: it decompresses every layer to check the config's diff IDs.
    let dir = tempfile::tempdir().unwrap();
    let image = compressed_image(
        dir.path(),
        "zstd\n",
        Family::Oci,
        kiln_oci::Compression::Zstd,
    );
    assert_eq!(
        image.manifest().layers[0].media_type,
        kiln_oci::MediaType::OciLayerZstd
    );
    let diff_id = image.config().unwrap().rootfs.diff_ids[0].to_string();
    let root = write_layout(dir.path(), &image, "z");
    let tar = dir.path().join("image.tar");
    let tags = ["kiln-oci-test/zstd:1".parse().unwrap()];
    write_docker_archive_file(&tar, &image, &tags).unwrap();

    for (name, src) in [
        ("layout", format!("oci:{root}:z")),
        ("archive", format!("docker-archive:{}", tar.display())),
    ] {
        let dest = format!("oci:{}:copied", dir.path().join(name).display());
        run("skopeo", &["copy", &src, &dest]);
        let config = json(&run("skopeo", &["inspect", "--config", &dest]));
        assert_eq!(config["rootfs"]["diff_ids"][0], diff_id.as_str(), "{name}");
    }
}
