use std::collections::BTreeMap;
use std::io::Read;

use super::*;
use crate::fixture::small_image;

/// Every entry of a tarball: name → (mode, mtime, uid, content).
fn entries(bytes: &[u8]) -> BTreeMap<String, (u32, u64, u64, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut archive = tar::Archive::new(bytes);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let h = entry.header().clone();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        let meta = (
            h.mode().unwrap(),
            h.mtime().unwrap(),
            h.uid().unwrap(),
            content,
        );
        out.insert(name, meta);
    }
    out
}

fn tags(names: &[&str]) -> Vec<Reference> {
    names.iter().map(|n| n.parse().unwrap()).collect()
}

#[test]
fn archive_has_docker_manifest_and_oci_layout() {
    let dir = tempfile::tempdir().unwrap();
    let image = small_image(dir.path(), "hello\n", Family::Docker);
    let mut out = Vec::new();
    let t = tags(&["busybox:1", "localhost:5000/app/x:v2"]);
    write_docker_archive(&mut out, &image, &t).unwrap();
    let e = entries(&out);

    let layer = &image.manifest().layers[0].digest;
    let config = &image.manifest().config.digest;
    let names: Vec<&str> = e.keys().map(String::as_str).collect();
    let mut want = vec![
        "blobs/".to_owned(),
        "blobs/sha256/".to_owned(),
        blob_name(layer),
        blob_name(config),
        blob_name(&image.digest()),
        "index.json".to_owned(),
        "manifest.json".to_owned(),
        "oci-layout".to_owned(),
    ];
    want.sort();
    assert_eq!(names, want);

    let manifest_json = String::from_utf8(e["manifest.json"].3.clone()).unwrap();
    assert_eq!(
        manifest_json,
        format!(
            r#"[{{"Config":"{}","RepoTags":["busybox:1","localhost:5000/app/x:v2"],"Layers":["{}"]}}]"#,
            blob_name(config),
            blob_name(layer)
        )
    );
    let index: Index = serde_json::from_slice(&e["index.json"].3).unwrap();
    assert_eq!(index.manifests.len(), 2);
    assert_eq!(
        index.manifests[0].annotations[ANNOTATION_IMAGE_NAME],
        "docker.io/library/busybox:1"
    );
    assert_eq!(index.manifests[1].ref_name(), Some("v2"));
    assert_eq!(e[&blob_name(&image.digest())].3, image.manifest_bytes());
    assert_eq!(e["oci-layout"].3, OCI_LAYOUT_FILE);
    for (name, (mode, mtime, uid, _)) in &e {
        assert_eq!((*mtime, *uid), (0, 0), "{name}");
        let want_mode = if name.ends_with('/') { 0o755 } else { 0o644 };
        assert_eq!(*mode, want_mode, "{name}");
    }
}

#[test]
fn archive_bytes_are_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let image = small_image(dir.path(), "same\n", Family::Oci);
    let t = tags(&["app"]);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    write_docker_archive(&mut a, &image, &t).unwrap();
    write_docker_archive(&mut b, &image, &t).unwrap();
    assert_eq!(a, b);
}

#[test]
fn repo_tags_use_docker_short_names() {
    // (reference, RepoTags entry)
    let cases = [
        ("busybox", "busybox:latest"),
        ("docker.io/library/busybox:1.36", "busybox:1.36"),
        ("index.docker.io/user/app:v1", "user/app:v1"),
        ("gcr.io/p/app:2", "gcr.io/p/app:2"),
        (
            "app:3@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "app:3",
        ),
        (
            "app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "app:latest",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(repo_tag(&input.parse().unwrap()), want, "{input}");
    }
}

#[test]
fn untagged_archive_has_empty_repo_tags_and_one_index_entry() {
    let dir = tempfile::tempdir().unwrap();
    let image = small_image(dir.path(), "x\n", Family::Oci);
    let mut out = Vec::new();
    write_docker_archive(&mut out, &image, &[]).unwrap();
    let e = entries(&out);
    let manifest_json = String::from_utf8(e["manifest.json"].3.clone()).unwrap();
    assert!(
        manifest_json.contains(r#""RepoTags":[]"#),
        "{manifest_json}"
    );
    let index: Index = serde_json::from_slice(&e["index.json"].3).unwrap();
    assert_eq!(index.manifests.len(), 1);
    assert!(index.manifests[0].annotations.is_empty());
}

#[test]
fn a_layer_file_that_changed_fails_the_write_and_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let image = small_image(dir.path(), "hello\n", Family::Oci);
    let (_, layer_path) = image.layers().next().unwrap();
    let mut bytes = std::fs::read(layer_path).unwrap();
    bytes[600] ^= 1;
    std::fs::write(layer_path, &bytes).unwrap();
    let target = dir.path().join("out/image.tar");
    let err = write_docker_archive_file(&target, &image, &tags(&["a"])).unwrap_err();
    assert!(matches!(err, TarballError::Mismatch { .. }), "{err:?}");
    assert!(!target.exists());
    let leftovers = std::fs::read_dir(dir.path().join("out")).unwrap().count();
    assert_eq!(leftovers, 0);
}

#[test]
fn file_variant_writes_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let image = small_image(dir.path(), "hello\n", Family::Oci);
    let t = tags(&["a:1"]);
    let mut in_memory = Vec::new();
    write_docker_archive(&mut in_memory, &image, &t).unwrap();
    let target = dir.path().join("image.tar");
    write_docker_archive_file(&target, &image, &t).unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), in_memory);
}
