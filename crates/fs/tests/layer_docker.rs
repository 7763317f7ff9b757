//! Run what is built: kiln layers loaded into the Docker Engine (`docker load`) and run. Relative
//! hardlinks, whiteouts and opaque directories must come out as a container sees them.

mod layer_tree;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use kiln_fs::layer::{self, Compression, WrittenLayer};
use kiln_fs::snapshot::{self, SnapshotMode};
use layer_tree::{all_of, with};

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker").args(args).output().unwrap()
}

/// A `docker save` archive with one image, tagged `tag`, made of `layers` in order.
fn docker_archive(dir: &Path, tag: &str, layers: &[WrittenLayer]) -> std::path::PathBuf {
    let content = dir.join("archive");
    fs::create_dir_all(&content).unwrap();
    let mut names = Vec::new();
    let mut diff_ids = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let name = format!("layer{i}.tar.gz");
        fs::copy(&l.path, content.join(&name)).unwrap();
        names.push(format!(r#""{name}""#));
        diff_ids.push(format!(r#""{}""#, l.diff_id));
    }
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["/bin/sh"]}},"rootfs":{{"type":"layers","diff_ids":[{}]}}}}"#,
        diff_ids.join(",")
    );
    fs::write(content.join("config.json"), config).unwrap();
    let manifest = format!(
        r#"[{{"Config":"config.json","RepoTags":["{tag}"],"Layers":[{}]}}]"#,
        names.join(",")
    );
    fs::write(content.join("manifest.json"), manifest).unwrap();
    let archive = dir.join("image.tar");
    let status = Command::new("tar")
        .arg("-cf")
        .arg(&archive)
        .arg("-C")
        .arg(&content)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    archive
}

#[test]
#[ignore = "needs the test environment"]
fn docker_loads_and_runs_kiln_layers() {
    let version = docker(&["version", "--format", "{{.Server.Version}}"]);
    assert!(
        version.status.success(),
        "the Docker Engine is not reachable: {}",
        String::from_utf8_lossy(&version.stderr)
    );
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("rootfs");
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::create_dir_all(root.join("opt/tool/old")).unwrap();
    fs::copy("/bin/busybox", root.join("bin/busybox")).expect("busybox-static is installed");
    fs::hard_link(root.join("bin/busybox"), root.join("bin/sh")).unwrap();
    fs::write(root.join("etc/data"), b"shared content\n").unwrap();
    fs::hard_link(root.join("etc/data"), root.join("etc/data-again")).unwrap();
    fs::write(root.join("etc/gone"), b"deleted by layer 2\n").unwrap();
    fs::write(root.join("opt/tool/old/f"), b"hidden by the opaque dir\n").unwrap();
    let gzip = with(Compression::Gzip);
    let first = layer::write(&root, &all_of(&root), &work.path().join("l1"), &gzip).unwrap();

    std::thread::sleep(Duration::from_millis(30));
    let ignore = snapshot::ignore_nothing();
    let before = snapshot::walk(&root, &ignore).unwrap();
    fs::remove_file(root.join("etc/gone")).unwrap();
    fs::remove_dir_all(root.join("opt/tool")).unwrap();
    fs::create_dir_all(root.join("opt/tool")).unwrap();
    fs::write(root.join("opt/tool/new"), b"new\n").unwrap();
    let after = snapshot::walk(&root, &ignore).unwrap();
    let diff = snapshot::compare(&before, &after, SnapshotMode::Full).unwrap();
    let changes = diff.to_changes().unwrap();
    let second = layer::write(&root, &changes, &work.path().join("l2"), &gzip).unwrap();

    let tag = format!("kiln-layer-test:{}", std::process::id());
    let archive = docker_archive(work.path(), &tag, &[first, second]);
    let load = docker(&["load", "-i", archive.to_str().unwrap()]);
    assert!(
        load.status.success(),
        "docker load: {}",
        String::from_utf8_lossy(&load.stderr)
    );
    let script = "cat /etc/data-again; stat -c %h /etc/data /bin/sh; ls /opt/tool; \
                  test -e /etc/gone && echo still-there; test -e /opt/tool/old && echo old-there; true";
    let run = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &tag,
        "/bin/sh",
        "-c",
        script,
    ]);
    let _ = docker(&["rmi", "-f", &tag]);
    assert!(
        run.status.success(),
        "docker run: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "shared content\n2\n2\nnew\n"
    );
}
