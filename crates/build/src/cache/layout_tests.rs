use std::sync::Arc;

use kiln_oci::{
    ANNOTATION_REF_NAME, Compression, Config, ConfigFile, Descriptor, DiffId, Digest, Family,
    History, Manifest, MediaType,
};

use super::*;
use crate::cache::key::{Instruction, Parent, StepInput};
use crate::warm::stamp;

const DAY: Duration = Duration::from_secs(86_400);

fn key(text: &str) -> CacheKey {
    CacheKey::compute(&StepInput {
        parent: Parent::Scratch,
        instruction: Instruction {
            text,
            escape: '\\',
            heredocs: &[],
        },
        variables: &[],
        sources: None,
        from: None,
        platform: "linux/amd64",
    })
}

fn store(path: &Path) -> LayoutStore {
    LayoutStore::new(path, Platform::new("linux", "amd64", None), DAY)
}

/// The layer of `step`, which has one.
fn layer(step: &CachedStep) -> &CachedLayer {
    step.layer.as_ref().expect("a step with a layer")
}

/// A layer file with `bytes` in `dir`, and the step that made it.
fn step(dir: &Path, bytes: &[u8]) -> CachedStep {
    let path = dir.join(format!("layer-{}", Digest::of(bytes).hex()));
    std::fs::write(&path, bytes).unwrap();
    CachedStep {
        layer: Some(CachedLayer {
            descriptor: Descriptor::new(
                MediaType::layer(Family::Oci, Compression::Gzip),
                Digest::of(bytes),
                bytes.len() as u64,
            ),
            diff_id: DiffId::of(b"uncompressed"),
            blob: BlobLocation::File(path),
        }),
        config_delta: Config {
            working_dir: Some("/app".to_owned()),
            ..Config::default()
        },
    }
}

/// The `org.opencontainers.image.ref.name` of every entry of the layout's `index.json`, in
/// order; the index must parse.
fn names(layout: &Path) -> Vec<String> {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d["annotations"][ANNOTATION_REF_NAME]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}

/// Writes an image with one layer into the layout at `root` as another tool would, named
/// `name` when given; returns its manifest's descriptor.
fn foreign_image(root: &Path, name: Option<&str>) -> Descriptor {
    let layout = Layout::create(root).unwrap();
    let layer = b"a layer of another tool";
    let layer_desc = Descriptor::new(
        MediaType::layer(Family::Oci, Compression::Gzip),
        layout.write_blob_bytes(layer).unwrap(),
        layer.len() as u64,
    );
    let mut config = ConfigFile::new(&Platform::new("linux", "amd64", None));
    config.push_layer(DiffId::of(layer), History::default());
    let config = config.to_json();
    let config_desc = Descriptor::of(MediaType::config(Family::Oci), &config);
    layout.write_blob_bytes(&config).unwrap();
    let manifest = Manifest::new(Family::Oci, config_desc, vec![layer_desc]);
    layout.write_blob_bytes(&manifest.to_json()).unwrap();
    layout.add_to_index(manifest.descriptor(), name).unwrap()
}

#[test]
fn a_put_step_is_found_with_its_layer_and_config_and_others_are_not() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cache");
    let store = store(&root);
    let now = SystemTime::now();
    let (hit, miss) = (key("RUN a"), key("RUN b"));
    let put = step(tmp.path(), b"layer one");
    store.put_at(&hit, &put, now).unwrap();

    let got = store.get_at(&hit, now).unwrap().expect("a hit");
    let (got_layer, put_layer) = (layer(&got), layer(&put));
    assert_eq!(got_layer.descriptor, put_layer.descriptor);
    assert_eq!(got_layer.diff_id, put_layer.diff_id);
    assert_eq!(got.config_delta, put.config_delta);
    let blob = root
        .join("blobs/sha256")
        .join(put_layer.descriptor.digest.hex());
    assert_eq!(got_layer.blob, BlobLocation::File(blob.clone()));
    assert_eq!(std::fs::read(&blob).unwrap(), b"layer one");
    assert!(store.get_at(&miss, now).unwrap().is_none());
    assert!(root.join("oci-layout").is_file());
    assert_eq!(names(&root), [hit.hex()]);

    // The entry is the image the registry store pushes: an OCI manifest with the layer, and a
    // config for the platform with the diff ID, the delta and `created`.
    let image = Layout::open(&root)
        .unwrap()
        .read_named_image(hit.hex())
        .unwrap();
    let config = ConfigFile::parse(image.config_bytes()).unwrap();
    assert_eq!(
        config.rootfs.diff_ids,
        std::slice::from_ref(&put_layer.diff_id)
    );
    assert_eq!(config.config, put.config_delta);
    assert_eq!(config.created.as_deref(), Some(stamp::format(now).as_str()));
    assert_eq!(config.platform(), Platform::new("linux", "amd64", None));
    assert!(config.history_matches_layers());
}

#[test]
fn a_step_that_changed_no_file_is_cached_without_a_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let now = SystemTime::now();
    let k = key("RUN true");
    let empty = CachedStep {
        layer: None,
        config_delta: Config {
            env: Some(vec!["A=1".to_owned()]),
            ..Config::default()
        },
    };
    store.put_at(&k, &empty, now).unwrap();
    assert_eq!(store.get_at(&k, now).unwrap(), Some(empty));
    let image = Layout::open(tmp.path())
        .unwrap()
        .read_named_image(k.hex())
        .unwrap();
    assert_eq!(image.layers().count(), 0);
}

#[test]
fn a_key_put_again_replaces_its_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store(&tmp.path().join("cache"));
    let now = SystemTime::now();
    let (k, other) = (key("RUN a"), key("RUN b"));
    store
        .put_at(&k, &step(tmp.path(), b"first"), now - DAY / 2)
        .unwrap();
    store
        .put_at(&other, &step(tmp.path(), b"other"), now)
        .unwrap();
    let second = step(tmp.path(), b"second");
    store.put_at(&k, &second, now).unwrap();
    assert_eq!(names(store.path()), [other.hex(), k.hex()]);
    let got = store.get_at(&k, now).unwrap().expect("a hit");
    assert_eq!(layer(&got).descriptor, layer(&second).descriptor);
}

#[test]
fn an_entry_older_than_the_ttl_is_a_miss() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let now = SystemTime::now();
    let (old, young) = (key("RUN old"), key("RUN young"));
    store
        .put_at(&old, &step(tmp.path(), b"old"), now - 2 * DAY)
        .unwrap();
    store
        .put_at(&young, &step(tmp.path(), b"young"), now - DAY / 2)
        .unwrap();
    assert!(store.get_at(&old, now).unwrap().is_none());
    assert!(store.get_at(&young, now).unwrap().is_some());
    let answers = store.probe_at(&[old, young], now);
    assert!(matches!(answers[..], [Ok(false), Ok(true)]), "{answers:?}");
}

#[tokio::test]
async fn probing_answers_each_key_on_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cache");
    let store = store(&root);
    let keys: Vec<_> = ["RUN 1", "RUN 2", "RUN 3", "RUN 4"].map(key).into();
    // No layout yet: every key is a miss, not an error.
    let answers = store.probe(&keys).await;
    assert!(
        answers.iter().all(|a| matches!(a, Ok(false))),
        "{answers:?}"
    );
    assert!(!root.exists());

    store
        .put(&keys[1], &step(tmp.path(), b"two"))
        .await
        .unwrap();
    store
        .put(&keys[3], &step(tmp.path(), b"four"))
        .await
        .unwrap();
    // An entry under a key's name that is not a cache image is an error for that key only.
    let foreign = foreign_image(&root, None);
    let layout = Layout::open(&root).unwrap();
    let mut index = Index::new(Family::Oci);
    index.manifests = vec![foreign.clone(), foreign];
    let index_bytes = index.to_json();
    let nested = layout.write_blob_bytes(&index_bytes).unwrap();
    let nested = Descriptor::new(index.media_type(), nested, index_bytes.len() as u64);
    layout.add_to_index(nested, Some(keys[2].hex())).unwrap();

    let answers = store.probe(&keys).await;
    assert!(matches!(answers[0], Ok(false)), "{:?}", answers[0]);
    assert!(matches!(answers[1], Ok(true)), "{:?}", answers[1]);
    let Err(err) = &answers[2] else {
        panic!("{:?}", answers[2])
    };
    assert!(matches!(err, Error::NotAnEntry { .. }), "{err:?}");
    assert!(err.to_string().contains(&keys[2].to_string()), "{err}");
    assert!(err.to_string().contains("it is an index"), "{err}");
    assert!(matches!(answers[3], Ok(true)), "{:?}", answers[3]);
    assert!(store.get(&keys[3]).await.unwrap().is_some());
}

#[test]
fn an_index_that_does_not_read_is_an_error_naming_the_layout_for_every_key() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let now = SystemTime::now();
    let (a, b) = (key("RUN a"), key("RUN b"));
    store.put_at(&a, &step(tmp.path(), b"a"), now).unwrap();
    std::fs::write(tmp.path().join("index.json"), b"{not json").unwrap();
    for answer in store.probe_at(&[a.clone(), b], now) {
        let err = answer.unwrap_err();
        assert!(matches!(err, Error::Layout { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("cache repository oci:{}", tmp.path().display())),
            "{text}"
        );
    }
    assert!(matches!(store.get_at(&a, now), Err(Error::Layout { .. })));
}

#[test]
fn a_layer_blob_removed_since_is_a_miss() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let now = SystemTime::now();
    let k = key("RUN a");
    let put = step(tmp.path(), b"gone soon");
    store.put_at(&k, &put, now).unwrap();
    let blob = Layout::open(tmp.path())
        .unwrap()
        .blob_path(&layer(&put).descriptor.digest);
    std::fs::remove_file(blob).unwrap();
    assert!(store.get_at(&k, now).unwrap().is_none());
}

#[test]
fn a_layer_that_does_not_match_its_descriptor_is_refused_and_no_entry_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store(&tmp.path().join("cache"));
    let k = key("RUN a");
    let mut bad = step(tmp.path(), b"what was hashed");
    let BlobLocation::File(path) = &layer(&bad).blob else {
        unreachable!()
    };
    std::fs::write(path, b"what is on disk").unwrap();
    bad.layer.as_mut().unwrap().descriptor.size = 15;
    let err = store.put_at(&k, &bad, SystemTime::now()).unwrap_err();
    assert!(matches!(err, Error::Layout { .. }), "{err:?}");
    assert!(err.to_string().contains(k.digest().as_str()), "{err}");
    assert!(names(store.path()).is_empty());
}

#[test]
fn a_step_whose_layer_is_in_a_registry_cannot_be_put_in_a_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store(&tmp.path().join("cache"));
    let mut s = step(tmp.path(), b"x");
    s.layer.as_mut().unwrap().blob =
        BlobLocation::Registry(kiln_registry::Repository::new("127.0.0.1:5000", "app"));
    let err = store
        .put_at(&key("RUN a"), &s, SystemTime::now())
        .unwrap_err();
    assert!(matches!(err, Error::ForeignBlob { .. }), "{err:?}");
    assert!(!store.path().exists());
}

#[test]
fn concurrent_builds_putting_at_once_leave_every_entry_in_the_index() {
    let tmp = Arc::new(tempfile::tempdir().unwrap());
    let root = tmp.path().join("cache");
    let now = SystemTime::now();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (tmp, root) = (Arc::clone(&tmp), root.clone());
            std::thread::spawn(move || {
                // Each thread is a build with its own store value, as separate processes are.
                let store = store(&root);
                let src = tmp.path().join(format!("t{t}"));
                std::fs::create_dir(&src).unwrap();
                for i in 0..20 {
                    // Half the keys are shared by all threads, half are the thread's own.
                    let k = if i % 2 == 0 {
                        key(&format!("RUN shared {i}"))
                    } else {
                        key(&format!("RUN {t} {i}"))
                    };
                    let s = step(&src, format!("layer {i} {}", i % 2 * t).as_bytes());
                    store.put_at(&k, &s, now).unwrap();
                    let got = store.get_at(&k, now).unwrap().expect("just put");
                    let BlobLocation::File(blob) = &layer(&got).blob else {
                        unreachable!()
                    };
                    assert_eq!(
                        Digest::of(&std::fs::read(blob).unwrap()),
                        layer(&got).descriptor.digest
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut names = names(&root);
    assert_eq!(names.len(), 10 + 8 * 10, "{names:?}");
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 10 + 8 * 10, "a key has two entries");
    let store = store(&root);
    for i in 0..20 {
        for t in 0..8 {
            let k = if i % 2 == 0 {
                key(&format!("RUN shared {i}"))
            } else {
                key(&format!("RUN {t} {i}"))
            };
            assert!(store.get_at(&k, now).unwrap().is_some(), "{k}");
        }
    }
    let leftovers: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_layout_another_tool_wrote_is_used_and_its_images_are_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("layout");
    let named = foreign_image(&root, Some("latest"));
    let unnamed = foreign_image(&root, None);
    // Fields kiln does not know stay in index.json.
    let index_path = root.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    index["annotations"] = serde_json::json!({"org.example.owner": "ci"});
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();

    let store = store(&root);
    let now = SystemTime::now();
    let k = key("RUN a");
    assert!(store.get_at(&k, now).unwrap().is_none());
    let put = step(tmp.path(), b"cached");
    store.put_at(&k, &put, now).unwrap();
    assert_eq!(store.get_at(&k, now).unwrap(), {
        let mut expected = put.clone();
        expected.layer.as_mut().unwrap().blob = BlobLocation::File(
            root.join("blobs/sha256")
                .join(layer(&put).descriptor.digest.hex()),
        );
        Some(expected)
    });

    assert_eq!(names(&root), ["latest", "", k.hex()]);
    let layout = Layout::open(&root).unwrap();
    let index = layout.index().unwrap();
    assert_eq!(index.manifests[0], named);
    assert_eq!(index.manifests[1], unnamed);
    assert_eq!(index.annotations["org.example.owner"], "ci");
    assert_eq!(
        layout.read_named_image("latest").unwrap().layers().count(),
        1
    );
}

#[test]
fn a_cache_repo_value_names_a_layout_only_with_the_oci_prefix() {
    let cases = [
        ("oci:/var/cache/layers", Some("/var/cache/layers")),
        ("oci:relative/dir", Some("relative/dir")),
        ("oci:", None),
        ("registry.example/app/cache", None),
        ("OCI:/x", None),
    ];
    for (value, path) in cases {
        assert_eq!(LayoutStore::path_of(value), path.map(Path::new), "{value}");
    }
}

/// skopeo and umoci read the entries as images beside an image skopeo copied in.
#[test]
#[ignore = "needs the test environment"]
fn other_tools_read_the_entries_and_the_image_beside_them() {
    use kiln_testsupport::cli::stdout_of;

    let env = kiln_testsupport::env();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("layout");
    let layout_ref = |tag: &str| format!("oci:{}:{tag}", root.display());
    stdout_of(
        "skopeo",
        &[
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{}/busybox-oci:latest", env.registry),
            &layout_ref("busybox"),
        ],
    );
    let store = store(&root);
    let (with_layer, without) = (key("RUN a"), key("ENV A=1"));
    let put = step(tmp.path(), b"not really gzip, which neither tool reads");
    store.put_at(&with_layer, &put, SystemTime::now()).unwrap();
    let empty = CachedStep {
        layer: None,
        config_delta: Config::default(),
    };
    store.put_at(&without, &empty, SystemTime::now()).unwrap();

    let listed = stdout_of("umoci", &["ls", "--layout", &root.display().to_string()]);
    let mut listed: Vec<_> = listed.lines().collect();
    listed.sort_unstable();
    let mut expected = vec!["busybox", with_layer.hex(), without.hex()];
    expected.sort_unstable();
    assert_eq!(listed, expected);

    let inspect = |tag: &str| -> serde_json::Value {
        serde_json::from_str(&stdout_of("skopeo", &["inspect", &layout_ref(tag)])).unwrap()
    };
    let entry = inspect(with_layer.hex());
    assert_eq!(
        entry["Layers"],
        serde_json::json!([layer(&put).descriptor.digest.to_string()])
    );
    assert_eq!(entry["Architecture"], "amd64");
    assert_eq!(inspect(without.hex())["Layers"], serde_json::json!([]));
    assert_eq!(inspect("busybox")["Layers"].as_array().unwrap().len(), 1);
    // skopeo reads every blob of the entry back, checking each digest.
    let copied = tmp.path().join("copied");
    stdout_of(
        "skopeo",
        &[
            "copy",
            &layout_ref(with_layer.hex()),
            &format!("dir:{}", copied.display()),
        ],
    );
    assert_eq!(
        std::fs::read(copied.join(layer(&put).descriptor.digest.hex())).unwrap(),
        b"not really gzip, which neither tool reads"
    );
}
