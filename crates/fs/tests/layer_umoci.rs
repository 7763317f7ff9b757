//! Interop: layers kiln writes, stacked into an OCI image layout and unpacked by `umoci`, give
//! the tree they were taken from, whiteouts and opaque directories included.

mod layer_tree;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use kiln_fs::layer::{self, Compression, WrittenLayer};
use kiln_fs::snapshot::{self, SnapshotMode};
use kiln_oci::Digest;
use kiln_testsupport::cli::run_ok;
use kiln_testsupport::tree::tree;
use layer_tree::{all_of, with};

/// Stores `bytes` as a blob of the layout and returns its digest and size.
fn put_blob(layout: &Path, bytes: &[u8]) -> (Digest, usize) {
    let digest = Digest::of(bytes);
    fs::write(layout.join("blobs/sha256").join(digest.hex()), bytes).unwrap();
    (digest, bytes.len())
}

fn media_type(c: Compression) -> &'static str {
    match c {
        Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
        Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        Compression::Uncompressed => "application/vnd.oci.image.layer.v1.tar",
    }
}

/// An OCI layout with one image, tagged `latest`, made of `layers` in order.
fn write_layout(layout: &Path, layers: &[WrittenLayer]) {
    fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let mut descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    for l in layers {
        let blob = fs::read(&l.path).unwrap();
        let (digest, size) = put_blob(layout, &blob);
        assert_eq!(digest, l.digest);
        descriptors.push(format!(
            r#"{{"mediaType":"{}","digest":"{digest}","size":{size}}}"#,
            media_type(l.compression)
        ));
        diff_ids.push(format!(r#""{}""#, l.diff_id));
    }
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":[{}]}}}}"#,
        diff_ids.join(",")
    );
    let (config_digest, config_size) = put_blob(layout, config.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{config_size}}},"layers":[{}]}}"#,
        descriptors.join(",")
    );
    let (m_digest, m_size) = put_blob(layout, manifest.as_bytes());
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{m_digest}","size":{m_size},"annotations":{{"org.opencontainers.image.ref.name":"latest"}}}}]}}"#
    );
    fs::write(layout.join("index.json"), index).unwrap();
}

fn base(root: &Path) {
    fs::create_dir_all(root.join("etc/conf.d")).unwrap();
    fs::create_dir_all(root.join("var/lib/apt/lists")).unwrap();
    fs::create_dir_all(root.join("opt/tool/share")).unwrap();
    fs::write(root.join("etc/hosts"), b"127.0.0.1 localhost\n").unwrap();
    fs::write(root.join("etc/conf.d/a"), b"a=1\n").unwrap();
    fs::write(root.join("var/lib/apt/lists/pkg"), b"Package: x\n").unwrap();
    fs::write(root.join("opt/tool/share/old"), b"old").unwrap();
    fs::write(root.join("opt/tool/bin"), b"#!/bin/sh\n").unwrap();
    fs::write(root.join("becomes-dir"), b"file").unwrap();
    symlink("hosts", root.join("etc/link")).unwrap();
}

fn step(root: &Path) {
    fs::remove_file(root.join("etc/hosts")).unwrap();
    fs::remove_dir_all(root.join("var/lib/apt")).unwrap();
    fs::remove_dir_all(root.join("opt/tool")).unwrap();
    fs::create_dir_all(root.join("opt/tool")).unwrap();
    fs::write(root.join("opt/tool/fresh"), b"fresh").unwrap();
    fs::remove_file(root.join("becomes-dir")).unwrap();
    fs::create_dir(root.join("becomes-dir")).unwrap();
    fs::write(root.join("becomes-dir/inside"), b"in").unwrap();
    fs::write(root.join("etc/conf.d/b"), b"b=2\n").unwrap();
    fs::hard_link(root.join("etc/conf.d/b"), root.join("etc/b-again")).unwrap();
}

#[test]
#[ignore = "needs the test environment"]
fn umoci_unpacks_stacked_layers_to_the_live_tree() {
    let umoci = Command::new("umoci").arg("--version").output();
    assert!(
        umoci.is_ok_and(|o| o.status.success()),
        "umoci is not installed (scripts/testenv up installs it)"
    );
    // umoci 0.4 reads gzip and plain tar layers, not zstd.
    for top in [Compression::Gzip, Compression::Uncompressed] {
        let work = tempfile::tempdir().unwrap();
        let live = work.path().join("live");
        fs::create_dir(&live).unwrap();
        base(&live);
        let first = layer::write(
            &live,
            &all_of(&live),
            &work.path().join("l1"),
            &with(Compression::Gzip),
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(30));
        let ignore = snapshot::ignore_nothing();
        let before = snapshot::walk(&live, &ignore).unwrap();
        step(&live);
        let after = snapshot::walk(&live, &ignore).unwrap();
        let diff = snapshot::compare(&before, &after, SnapshotMode::Full).unwrap();
        assert_eq!(diff.opaque.len(), 2, "{diff:?}");
        let changes = diff.to_changes().unwrap();
        let second = layer::write(&live, &changes, &work.path().join("l2"), &with(top)).unwrap();

        let layout = work.path().join("layout");
        write_layout(&layout, &[first, second]);
        let bundle = work.path().join("bundle");
        run_ok(
            Command::new("umoci")
                .arg("unpack")
                .arg("--image")
                .arg(format!("{}:latest", layout.display()))
                .arg(&bundle),
        );

        let (want, got) = (tree(&live), tree(&bundle.join("rootfs")));
        for (path, node) in &want {
            assert_eq!(got.get(path), Some(node), "{top}: {path}");
        }
        let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
        assert!(
            extra.is_empty(),
            "{top}: paths that should be gone: {extra:?}"
        );
    }
}
