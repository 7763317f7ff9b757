use std::sync::Arc;
use std::time::Duration;

use kiln_oci::{Compression, Digest, Family, MediaType};

use super::*;
use crate::cache::key::{Instruction, Parent, StepInput};

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

#[test]
fn a_put_step_is_found_with_its_layer_and_config_and_others_are_not() {
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::new(&tmp.path().join("cache"), DAY);
    let now = SystemTime::now();
    let (hit, miss) = (key("RUN a"), key("RUN b"));
    let put = step(tmp.path(), b"layer one");
    store.put_at(&hit, &put, now).unwrap();

    let got = store.get_at(&hit, now).unwrap().expect("a hit");
    let (got_layer, put_layer) = (layer(&got), layer(&put));
    assert_eq!(got_layer.descriptor, put_layer.descriptor);
    assert_eq!(got_layer.diff_id, put_layer.diff_id);
    assert_eq!(got.config_delta, put.config_delta);
    let blob = tmp
        .path()
        .join("cache/v1/blobs/sha256")
        .join(put_layer.descriptor.digest.hex());
    assert_eq!(got_layer.blob, BlobLocation::File(blob.clone()));
    assert_eq!(std::fs::read(&blob).unwrap(), b"layer one");
    assert!(store.get_at(&miss, now).unwrap().is_none());
    assert!(
        store
            .entry_path(&hit)
            .ends_with(format!("v1/entries/{}.json", hit.hex()))
    );
    // The directory stays the warmer's OCI layout.
    assert!(tmp.path().join("cache/v1/oci-layout").is_file());
}

#[tokio::test]
async fn probing_answers_each_key_on_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::new(tmp.path(), DAY);
    let keys: Vec<_> = ["RUN 1", "RUN 2", "RUN 3", "RUN 4"].map(key).into();
    store
        .put(&keys[1], &step(tmp.path(), b"two"))
        .await
        .unwrap();
    store
        .put(&keys[3], &step(tmp.path(), b"four"))
        .await
        .unwrap();
    // A corrupt entry is an error for its key only.
    std::fs::write(store.entry_path(&keys[2]), b"{not json").unwrap();
    let answers = store.probe(&keys).await;
    assert!(matches!(answers[0], Ok(false)));
    assert!(matches!(answers[1], Ok(true)));
    assert!(
        matches!(answers[2], Err(Error::LocalEntry { .. })),
        "{:?}",
        answers[2]
    );
    assert!(matches!(answers[3], Ok(true)));
    assert!(store.get(&keys[3]).await.unwrap().is_some());
}

#[test]
fn an_entry_older_than_the_ttl_is_a_miss_and_prune_removes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::new(tmp.path(), DAY);
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
    assert_eq!(store.prune(now).unwrap(), 1);
    assert!(!store.entry_path(&old).exists());
    assert!(store.entry_path(&young).exists());
}

#[test]
fn a_layer_that_does_not_match_its_descriptor_is_refused_and_no_entry_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::new(tmp.path(), DAY);
    let k = key("RUN a");
    let mut bad = step(tmp.path(), b"what was hashed");
    let BlobLocation::File(path) = &layer(&bad).blob else {
        unreachable!()
    };
    std::fs::write(path, b"what is on disk").unwrap();
    bad.layer.as_mut().unwrap().descriptor.size = 15;
    let err = store.put_at(&k, &bad, SystemTime::now()).unwrap_err();
    assert!(matches!(err, Error::LocalBlob { .. }), "{err:?}");
    assert!(err.to_string().contains(k.digest().as_str()), "{err}");
    assert!(!store.entry_path(&k).exists());
}

#[test]
fn a_step_whose_layer_is_in_a_registry_cannot_be_put_in_a_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::new(tmp.path(), DAY);
    let mut s = step(tmp.path(), b"x");
    s.layer.as_mut().unwrap().blob =
        BlobLocation::Registry(kiln_registry::Repository::new("127.0.0.1:5000", "app"));
    let err = store
        .put_at(&key("RUN a"), &s, SystemTime::now())
        .unwrap_err();
    assert!(matches!(err, Error::ForeignBlob { .. }), "{err:?}");
}

#[test]
fn concurrent_builds_writing_and_pruning_leave_every_entry_whole() {
    let tmp = Arc::new(tempfile::tempdir().unwrap());
    let dir = tmp.path().join("cache");
    let now = SystemTime::now();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (tmp, dir) = (Arc::clone(&tmp), dir.clone());
            std::thread::spawn(move || {
                // Each thread is a build with its own store value, as separate processes are.
                let store = LocalStore::new(&dir, DAY);
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
                    if i % 5 == 0 {
                        store.prune(now).unwrap();
                    }
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
    let entries = std::fs::read_dir(dir.join("v1/entries")).unwrap();
    let names: Vec<_> = entries.map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 10 + 8 * 10, "{names:?}");
    assert!(
        names.iter().all(|n| n.to_string_lossy().ends_with(".json")),
        "{names:?}"
    );
}

#[test]
fn an_entry_under_another_keys_name_or_of_another_version_is_a_miss() {
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::new(tmp.path(), DAY);
    let now = SystemTime::now();
    let (a, b, c) = (key("RUN a"), key("RUN b"), key("RUN c"));
    store.put_at(&a, &step(tmp.path(), b"a"), now).unwrap();
    store.put_at(&c, &step(tmp.path(), b"c"), now).unwrap();
    std::fs::copy(store.entry_path(&a), store.entry_path(&b)).unwrap();
    assert!(store.get_at(&a, now).unwrap().is_some());
    assert!(store.get_at(&b, now).unwrap().is_none());
    let text = std::fs::read_to_string(store.entry_path(&c)).unwrap();
    std::fs::write(
        store.entry_path(&c),
        text.replace("kiln-cache-v1", "kiln-cache-v0"),
    )
    .unwrap();
    assert!(store.get_at(&c, now).unwrap().is_none());
}

#[test]
fn a_step_that_changed_no_file_is_cached_without_a_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::new(&tmp.path().join("cache"), DAY);
    let now = SystemTime::now();
    let k = key("RUN true");
    let empty = CachedStep {
        layer: None,
        config_delta: Config::default(),
    };
    store.put_at(&k, &empty, now).unwrap();
    assert_eq!(store.get_at(&k, now).unwrap(), Some(empty));
}

#[test]
fn a_blob_cut_short_outside_kiln_is_a_miss() {
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::new(&tmp.path().join("cache"), DAY);
    let now = SystemTime::now();
    let k = key("RUN a");
    let put = step(tmp.path(), b"a layer of some length");
    store.put_at(&k, &put, now).unwrap();
    let blob = tmp
        .path()
        .join("cache/v1/blobs/sha256")
        .join(layer(&put).descriptor.digest.hex());
    std::fs::write(&blob, b"a layer").unwrap();
    assert_eq!(store.get_at(&k, now).unwrap(), None);
}
