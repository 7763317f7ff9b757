use super::*;
use crate::fixture::small_image;

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn create_writes_marker_blobs_dir_and_empty_index() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::create(dir.path().join("out")).unwrap();
    assert_eq!(
        files_in(layout.root()),
        ["blobs", "index.json", "oci-layout"]
    );
    assert_eq!(
        std::fs::read(layout.root().join("oci-layout")).unwrap(),
        OCI_LAYOUT_FILE
    );
    assert_eq!(
        std::fs::read_to_string(layout.root().join("index.json")).unwrap(),
        r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#
    );
}

#[test]
fn open_refuses_a_directory_that_is_not_a_layout() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        Layout::open(dir.path()),
        Err(LayoutError::NotALayout { .. })
    ));
    std::fs::write(
        dir.path().join("oci-layout"),
        br#"{"imageLayoutVersion":"2.0.0"}"#,
    )
    .unwrap();
    let err = Layout::open(dir.path()).unwrap_err();
    assert!(matches!(err, LayoutError::Version { .. }), "{err:?}");
    assert!(Layout::create(dir.path()).is_err());
}

#[test]
fn a_blob_that_does_not_match_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::create(dir.path()).unwrap();
    let claimed = Descriptor::of(crate::MediaType::OciLayer, b"expected bytes");
    let err = layout
        .write_blob(&claimed, &b"other  bytes!!"[..])
        .unwrap_err();
    assert!(matches!(err, LayoutError::Mismatch { .. }), "{err:?}");
    assert!(err.to_string().contains(claimed.digest.hex()), "{err}");
    assert!(!layout.has_blob(&claimed.digest));
    assert!(files_in(&dir.path().join("blobs/sha256")).is_empty());
    layout.write_blob(&claimed, &b"expected bytes"[..]).unwrap();
    assert_eq!(
        std::fs::read(layout.blob_path(&claimed.digest)).unwrap(),
        b"expected bytes"
    );
}

#[test]
fn appended_image_reads_back_identically() {
    let dir = tempfile::tempdir().unwrap();
    let image = small_image(dir.path(), "hello\n", Family::Oci);
    let layout = Layout::create(dir.path().join("layout")).unwrap();
    let entry = layout.append_image(&image, Some("v1")).unwrap();
    assert_eq!(entry.digest, image.digest());
    assert_eq!(entry.ref_name(), Some("v1"));
    assert_eq!(entry.platform.as_ref().unwrap().to_string(), "linux/amd64");

    let back = Layout::open(layout.root())
        .unwrap()
        .read_named_image("v1")
        .unwrap();
    assert_eq!(back.manifest_bytes(), image.manifest_bytes());
    assert_eq!(back.config_bytes(), image.config_bytes());
    let (desc, path) = back.layers().next().unwrap();
    assert_eq!(path, layout.blob_path(&desc.digest));
    assert_eq!(files_in(&layout.root().join("blobs/sha256")).len(), 3);
}

#[test]
fn same_ref_name_replaces_and_no_name_appends() {
    let dir = tempfile::tempdir().unwrap();
    let one = small_image(dir.path(), "one\n", Family::Oci);
    let two = small_image(dir.path(), "second\n", Family::Docker);
    let layout = Layout::create(dir.path().join("layout")).unwrap();
    layout.append_image(&one, Some("latest")).unwrap();
    layout.append_image(&two, Some("latest")).unwrap();
    let index = layout.index().unwrap();
    assert_eq!(index.manifests.len(), 1);
    assert_eq!(index.manifests[0].digest, two.digest());
    assert_eq!(
        index.manifests[0].media_type,
        crate::MediaType::DockerManifest
    );
    layout.append_image(&one, None).unwrap();
    assert_eq!(layout.index().unwrap().manifests.len(), 2);
    // Both images' blobs stay: nothing is garbage-collected.
    assert!(layout.has_blob(&one.digest()));

    let fresh = Layout::create_with_empty_index(layout.root()).unwrap();
    assert!(fresh.index().unwrap().manifests.is_empty());
    assert!(fresh.has_blob(&one.digest()));
}

#[test]
fn read_image_detects_a_corrupted_or_truncated_blob() {
    let dir = tempfile::tempdir().unwrap();
    let image = small_image(dir.path(), "hello\n", Family::Oci);
    let layout = Layout::create(dir.path().join("layout")).unwrap();
    let entry = layout.append_image(&image, Some("x")).unwrap();

    let config_path = layout.blob_path(&image.manifest().config.digest);
    let mut config = std::fs::read(&config_path).unwrap();
    config[0] = b' ';
    std::fs::write(&config_path, &config).unwrap();
    let err = layout.read_image(&entry).unwrap_err();
    assert!(matches!(err, LayoutError::Mismatch { .. }), "{err:?}");

    std::fs::remove_file(&config_path).unwrap();
    layout.write_blob_bytes(image.config_bytes()).unwrap();
    let layer = &image.manifest().layers[0];
    std::fs::write(layout.blob_path(&layer.digest), b"short").unwrap();
    let err = layout.read_image(&entry).unwrap_err();
    assert!(matches!(err, LayoutError::Mismatch { .. }), "{err:?}");
}

#[test]
fn missing_name_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::create(dir.path()).unwrap();
    let err = layout.read_named_image("nope").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("no image named \"nope\" in {}", dir.path().display())
    );
}

#[test]
fn oversized_index_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::create(dir.path()).unwrap();
    let big = vec![b' '; (MAX_MANIFEST_SIZE + 1) as usize];
    std::fs::write(dir.path().join("index.json"), big).unwrap();
    assert!(matches!(layout.index(), Err(LayoutError::Read { .. })));
}

#[test]
fn an_index_can_be_added_and_walked() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::create(dir.path().join("layout")).unwrap();
    let amd = small_image(dir.path(), "amd64\n", Family::Oci);
    let amd_entry = layout.append_image(&amd, None).unwrap();
    let mut index = Index::new(Family::Oci);
    index.manifests.push(amd_entry.clone());
    let index_bytes = index.to_json();
    let d = Descriptor::of(crate::MediaType::OciIndex, &index_bytes);

    let missing = layout.add_to_index(d.clone(), Some("multi")).unwrap_err();
    assert!(matches!(missing, LayoutError::Io { .. }), "{missing:?}");
    layout.write_blob_bytes(&index_bytes).unwrap();
    layout.add_to_index(d.clone(), Some("multi")).unwrap();

    let found = layout.find("multi").unwrap().unwrap();
    let ManifestOrIndex::Index(read) = layout.read_manifest(&found).unwrap() else {
        panic!("not an index")
    };
    let platform = "linux/amd64".parse().unwrap();
    let chosen = read.select(&platform).unwrap();
    assert_eq!(chosen.digest, amd.digest());
    let image = layout.read_image(chosen).unwrap();
    assert_eq!(image.manifest_bytes(), amd.manifest_bytes());
    let err = layout.read_image(&found).unwrap_err();
    assert!(err.to_string().contains(d.digest.as_str()), "{err}");
}

#[test]
fn concurrent_appends_keep_every_entry() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("layout");
    let images: Vec<_> = (0..8)
        .map(|i| small_image(dir.path(), &"x".repeat(i + 1), Family::Oci))
        .collect();
    std::thread::scope(|s| {
        for (i, image) in images.iter().enumerate() {
            let root = root.clone();
            s.spawn(move || {
                let layout = Layout::create(&root).unwrap();
                layout.append_image(image, Some(&format!("t{i}"))).unwrap();
            });
        }
    });
    let index = Layout::open(&root).unwrap().index().unwrap();
    let mut names: Vec<_> = index
        .manifests
        .iter()
        .filter_map(|d| d.ref_name())
        .collect();
    names.sort();
    assert_eq!(names, ["t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"]);
}
