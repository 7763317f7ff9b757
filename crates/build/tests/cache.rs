//! The layer cache's parts against real things: sources digested from a real context with a
//! `.dockerignore` (and compared with what the copy itself reports), and the registry store
//! against the test environment's plain registry.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use kiln_build::cache::key::{self, CacheKey, Instruction, Parent, StepInput};
use kiln_build::cache::sources::{self, Request};
use kiln_build::cache::{
    BlobLocation, CachedLayer, CachedStep, Error, LocalStore, RegistryStore, Store,
};
use kiln_fs::context::{Context, ContextOptions};
use kiln_fs::copy::{CopyOp, Source};
use kiln_fs::resolve::Root;
use kiln_oci::{
    Compression, Config, Descriptor, DiffId, Digest, Family, ManifestOrIndex, MediaType, Platform,
};
use kiln_registry::{Keychain, RegistryClient, RegistryOptions, Repository};

fn write(root: &Path, rel: &str, content: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// A context with a `.dockerignore`, opened as a build opens it.
fn context(dir: &Path) -> (Context, Source) {
    let ctx = Context::open(dir.to_str().unwrap(), &ContextOptions::default()).unwrap();
    let ignore = ctx.ignore_for(&dir.join("Dockerfile")).unwrap();
    let source = ctx.source(ignore).unwrap();
    (ctx, source)
}

fn op(sources: &[&str], chown: Option<(u32, u32)>) -> CopyOp {
    CopyOp {
        sources: sources.iter().map(|s| (*s).to_owned()).collect(),
        dest: "/app/".to_owned(),
        workdir: "/".into(),
        chown,
        ..CopyOp::default()
    }
}

fn digest_of(dir: &Path, op: &CopyOp) -> Digest {
    let (_ctx, source) = context(dir);
    sources::digest(
        &source,
        Request {
            op,
            instruction: "COPY . /app/",
        },
    )
    .unwrap()
}

fn sample_context() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "Dockerfile", "FROM scratch\nCOPY . /app/\n");
    write(tmp.path(), ".dockerignore", "build/\n*.log\n");
    write(tmp.path(), "src/main.c", "int main() {}\n");
    write(tmp.path(), "README", "hello\n");
    write(tmp.path(), "build/out.o", "object\n");
    write(tmp.path(), "debug.log", "noise\n");
    std::os::unix::fs::symlink("src/main.c", tmp.path().join("link")).unwrap();
    tmp
}

#[test]
fn the_sources_digest_is_the_one_the_copy_reports() {
    let ctx = sample_context();
    let copy = op(&["."], Some((1000, 1000)));
    let before = digest_of(ctx.path(), &copy);
    let rootfs = tempfile::tempdir().unwrap();
    let (_c, source) = context(ctx.path());
    let copied = kiln_fs::copy::copy(&source, &Root::open(rootfs.path()).unwrap(), &copy).unwrap();
    assert_eq!(before, copied.digest);
    assert!(!rootfs.path().join("app/debug.log").exists());
}

#[test]
fn ignored_files_and_mtimes_do_not_change_the_digest_but_contents_modes_and_owners_do() {
    let ctx = sample_context();
    let root = ctx.path();
    let copy = op(&["."], None);
    let base = digest_of(root, &copy);

    write(root, "build/out.o", "another object\n");
    write(root, "trace.log", "more noise\n");
    let readme = std::fs::File::options()
        .write(true)
        .open(root.join("README"))
        .unwrap();
    readme
        .set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    assert_eq!(digest_of(root, &copy), base, "ignored files and mtimes");

    assert_ne!(digest_of(root, &op(&["."], Some((1, 1)))), base, "owner");

    std::fs::set_permissions(root.join("README"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let chmodded = digest_of(root, &copy);
    assert_ne!(chmodded, base, "mode");

    write(root, "src/main.c", "int main() { return 1; }\n");
    assert_ne!(digest_of(root, &copy), chmodded, "content");
}

#[test]
fn digesting_many_steps_reports_each_missing_source_on_its_own() {
    let ctx = sample_context();
    let (_c, source) = context(ctx.path());
    let ops = [
        op(&["src"], None),
        op(&["missing.txt"], None),
        op(&["debug.log"], None),
        op(&["README", "link"], None),
    ];
    let requests: Vec<_> = ops
        .iter()
        .zip([
            "COPY src /app/",
            "COPY missing.txt /app/",
            "COPY debug.log /app/",
            "COPY README link /app/",
        ])
        .map(|(op, instruction)| Request { op, instruction })
        .collect();
    let results = sources::digest_all(&source, &requests);
    assert!(results[0].is_ok());
    let err = results[1].as_ref().unwrap_err();
    assert!(err.to_string().contains("COPY missing.txt /app/"), "{err}");
    assert!(matches!(err, Error::Sources { .. }), "{err:?}");
    // An ignored file is as missing as one that is not there.
    assert!(results[2].is_err());
    assert!(results[3].is_ok());
    assert_ne!(results[0].as_ref().unwrap(), results[3].as_ref().unwrap());
}

fn step_key(text: &str) -> CacheKey {
    let base = Digest::of(format!("{text} {:?}", SystemTime::now()).as_bytes());
    CacheKey::compute(&StepInput {
        parent: Parent::Image(&base),
        instruction: Instruction {
            text,
            escape: '\\',
            heredocs: &[],
        },
        variables: &[("SECRET_TOKEN".to_owned(), "hunter2".to_owned())],
        sources: None,
        from: None,
        platform: "linux/amd64",
    })
}

fn registry_store(ttl: Duration) -> (RegistryClient, RegistryStore) {
    let env = kiln_testsupport::env();
    let client = RegistryClient::new(RegistryOptions::default(), Keychain::anonymous());
    let unique = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let repo = Repository::new(&env.registry, &format!("kiln-cache-test/{unique}/cache"));
    let platform: Platform = "linux/amd64".parse().unwrap();
    let store = RegistryStore::new(client.clone(), repo, platform, ttl);
    (client, store)
}

fn layer_step(dir: &Path, bytes: &[u8]) -> CachedStep {
    let path = dir.join("layer.tar.gz");
    std::fs::write(&path, bytes).unwrap();
    CachedStep {
        layer: Some(CachedLayer {
            descriptor: Descriptor::new(
                MediaType::layer(Family::Oci, Compression::Gzip),
                Digest::of(bytes),
                bytes.len() as u64,
            ),
            diff_id: DiffId::of(b"the uncompressed layer"),
            blob: BlobLocation::File(path),
        }),
        config_delta: Config {
            env: Some(vec!["PATH=/usr/bin".to_owned(), "MODE=cached".to_owned()]),
            working_dir: Some("/app".to_owned()),
            ..Config::default()
        },
    }
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn a_step_pushed_to_the_cache_repository_is_probed_and_read_back() {
    let (client, store) = registry_store(Duration::from_secs(3600));
    let tmp = tempfile::tempdir().unwrap();
    let keys: Vec<_> = ["RUN one", "RUN two", "RUN three"].map(step_key).into();
    let step = layer_step(tmp.path(), b"not really gzip, but a blob all the same");
    store.put(&keys[1], &step).await.unwrap();

    let probed: Vec<bool> = store
        .probe(&keys)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(probed, [false, true, false]);

    let got = store.get(&keys[1]).await.unwrap().expect("a hit");
    let (got_layer, put_layer) = (got.layer.as_ref().unwrap(), step.layer.as_ref().unwrap());
    assert_eq!(got_layer.descriptor, put_layer.descriptor);
    assert_eq!(got_layer.diff_id, put_layer.diff_id);
    assert_eq!(got.config_delta, step.config_delta);
    assert_eq!(
        got_layer.blob,
        BlobLocation::Registry(store.repository().clone())
    );
    assert!(store.get(&keys[0]).await.unwrap().is_none());

    // The image is tagged with the key and its layer is the step's blob.
    let manifest = client
        .get_manifest(store.repository(), keys[1].hex())
        .await
        .unwrap();
    let blob = client
        .read_blob(
            store.repository(),
            &put_layer.descriptor.digest,
            None,
            1 << 20,
        )
        .await
        .unwrap();
    assert_eq!(blob, b"not really gzip, but a blob all the same");
    let text = String::from_utf8(manifest.bytes).unwrap();
    assert!(!text.contains("hunter2"), "{text}");
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn a_step_without_a_layer_round_trips_through_the_cache_repository() {
    let (client, store) = registry_store(Duration::from_secs(3600));
    let k = step_key("RUN true");
    let empty = CachedStep {
        layer: None,
        config_delta: Config::default(),
    };
    store.put(&k, &empty).await.unwrap();
    assert_eq!(store.get(&k).await.unwrap(), Some(empty));
    let manifest = client
        .get_manifest(store.repository(), k.hex())
        .await
        .unwrap();
    let ManifestOrIndex::Manifest(manifest) = manifest.parsed else {
        panic!("an index");
    };
    assert!(manifest.layers.is_empty());
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn a_second_put_of_the_same_layer_does_not_upload_it_again() {
    let env = kiln_testsupport::env();
    let (_client, store) = registry_store(Duration::from_secs(3600));
    let tmp = tempfile::tempdir().unwrap();
    let step = layer_step(tmp.path(), b"a layer two steps share");
    store.put(&step_key("RUN a"), &step).await.unwrap();
    let log = kiln_testsupport::RegistryLog::from_now(&env.registry_log).unwrap();
    store.put(&step_key("RUN b"), &step).await.unwrap();
    // The log is shared with other tests: only this repository's requests count.
    let requests: Vec<_> = log
        .requests()
        .unwrap()
        .into_iter()
        .filter(|r| r.uri.contains(store.repository().name()))
        .collect();
    let layer = step.layer.as_ref().unwrap().descriptor.digest.hex();
    let layer_uploads: Vec<_> = requests
        .iter()
        .filter(|r| r.method == "PUT" && r.uri.contains(layer))
        .collect();
    assert!(layer_uploads.is_empty(), "{layer_uploads:?}");
    assert!(
        requests
            .iter()
            .any(|r| r.method == "HEAD" && r.uri.ends_with(&format!("/blobs/sha256:{layer}"))),
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.method == "PUT" && r.uri.contains("/manifests/"))
    );
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn an_image_older_than_the_ttl_is_a_miss() {
    let (_client, store) = registry_store(Duration::from_secs(60));
    let tmp = tempfile::tempdir().unwrap();
    let k = step_key("RUN old");
    let long_ago = SystemTime::now() - Duration::from_secs(3600);
    store
        .put_at(&k, &layer_step(tmp.path(), b"old layer"), long_ago)
        .await
        .unwrap();
    // A HEAD cannot see the age; reading the entry can.
    assert!(
        store.probe(std::slice::from_ref(&k)).await[0]
            .as_ref()
            .is_ok_and(|hit| *hit)
    );
    assert!(store.get(&k).await.unwrap().is_none());
}

#[tokio::test]
#[ignore = "needs the test environment"]
async fn a_probe_that_fails_does_not_stop_the_others() {
    let (_client, store) = registry_store(Duration::from_secs(3600));
    let tmp = tempfile::tempdir().unwrap();
    let keys: Vec<_> = ["RUN a", "RUN b"].map(step_key).into();
    // A repository that does not exist yet (a first build) has nothing, and that is no error.
    let fresh = store.probe(&keys).await;
    assert!(fresh.iter().all(|a| matches!(a, Ok(false))), "{fresh:?}");
    assert!(store.get(&keys[0]).await.unwrap().is_none());
    store
        .put(&keys[1], &layer_step(tmp.path(), b"b"))
        .await
        .unwrap();
    // A registry nobody listens on: every probe fails, each with its key named.
    let dead = RegistryStore::new(
        RegistryClient::new(
            RegistryOptions {
                pull_retries: 0,
                ..RegistryOptions::default()
            },
            Keychain::anonymous(),
        ),
        Repository::new("127.0.0.1:9", "nothing/cache"),
        "linux/amd64".parse().unwrap(),
        Duration::from_secs(3600),
    );
    let answers = dead.probe(&keys).await;
    for (answer, k) in answers.iter().zip(&keys) {
        let err = answer.as_ref().unwrap_err();
        assert!(err.to_string().contains(k.digest().as_str()), "{err}");
    }
    let answers = store.probe(&keys).await;
    assert!(matches!(answers[0], Ok(false)));
    assert!(matches!(answers[1], Ok(true)));
    assert_eq!(key::explain(&keys[0], &keys[1]), Some("parent"));
}

#[test]
fn the_default_cache_repository_is_the_destination_repository_slash_cache() {
    let dest = kiln_oci::Reference::parse("127.0.0.1:5000/team/app:1").unwrap();
    let repo = RegistryStore::default_repository(&dest);
    assert_eq!(repo, Repository::new("127.0.0.1:5000", "team/app/cache"));
}

/// Probes, puts and reads back on a spawned task, as the executor will: the stores' futures
/// are `Send` and the stores can be shared.
async fn round_trip_on_tasks<S: Store + Clone + 'static>(store: S, step: CachedStep) {
    let keys: Vec<_> = ["RUN x", "RUN y"].map(step_key).into();
    let (s, k, st) = (store.clone(), keys[0].clone(), step.clone());
    tokio::spawn(async move { s.put(&k, &st).await.unwrap() })
        .await
        .unwrap();
    let s = store.clone();
    let probed = tokio::spawn(async move {
        let answers = s.probe(&keys).await;
        answers.into_iter().map(Result::unwrap).collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert_eq!(probed, [true, false]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test environment"]
async fn both_stores_work_from_spawned_tasks() {
    let tmp = tempfile::tempdir().unwrap();
    let local = LocalStore::new(&tmp.path().join("cache"), Duration::from_secs(3600));
    round_trip_on_tasks(local, layer_step(tmp.path(), b"local")).await;
    let (_client, registry) = registry_store(Duration::from_secs(3600));
    round_trip_on_tasks(registry, layer_step(tmp.path(), b"remote")).await;
}
