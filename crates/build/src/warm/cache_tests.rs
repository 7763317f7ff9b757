use std::time::UNIX_EPOCH;

use kiln_oci::{Descriptor, Family, Manifest, MediaType};

use super::*;

const HOUR: Duration = Duration::from_secs(3600);

fn t(hours: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000) + HOUR * u32::try_from(hours).unwrap()
}

fn reference(s: &str) -> Reference {
    Reference::parse(s).unwrap()
}

fn platform(s: &str) -> Platform {
    s.parse().unwrap()
}

/// Writes a one-layer image for `arch` into `layout` and returns it; `seed` varies the layer so
/// that images differ.
fn image(layout: &Layout, arch: &str, seed: &str) -> LocalImage {
    let layer = format!("layer {seed}").into_bytes();
    let layer_digest = layout.write_blob_bytes(&layer).unwrap();
    let config = format!(
        r#"{{"architecture":"{arch}","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}}}}"#
    )
    .into_bytes();
    let manifest = Manifest::new(
        Family::Oci,
        Descriptor::of(MediaType::OciConfig, &config),
        vec![Descriptor::new(
            MediaType::OciLayerGzip,
            layer_digest.clone(),
            layer.len() as u64,
        )],
    );
    let image = LocalImage::from_manifest(&manifest, config, vec![layout.blob_path(&layer_digest)])
        .unwrap();
    layout.write_blob_bytes(image.config_bytes()).unwrap();
    layout.write_blob_bytes(image.manifest_bytes()).unwrap();
    image
}

struct Fixture {
    _dir: tempfile::TempDir,
    cache: BaseImageCache,
    busybox: Digest,
    arm64: Digest,
    index: Digest,
}

/// A cache with `busybox:latest` for linux/amd64 cached at hour 0, and `multi:latest` (an
/// index) for linux/arm64 cached at hour 10.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let cache = BaseImageCache::new(dir.path(), HOUR * 24);
    let layout = cache.layout_for_write().unwrap();
    let amd = image(&layout, "amd64", "amd");
    let arm = image(&layout, "arm64", "arm");
    let index: Digest = Digest::of(b"an index");
    let amd64 = platform("linux/amd64");
    cache
        .record(
            &layout,
            &amd,
            &reference("reg.example/busybox"),
            &amd64,
            None,
            t(0),
        )
        .unwrap();
    cache
        .record(
            &layout,
            &arm,
            &reference("reg.example/multi:latest"),
            &platform("linux/arm64/v8"),
            Some(&index),
            t(10),
        )
        .unwrap();
    Fixture {
        _dir: dir,
        cache,
        busybox: amd.digest(),
        arm64: arm.digest(),
        index,
    }
}

#[test]
fn entries_are_found_by_reference_digest_and_index_digest() {
    let f = fixture();
    let by_digest = format!("other.example/anything@{}", f.busybox);
    let by_index = format!("reg.example/multi@{}", f.index);
    let tag_and_digest = format!("reg.example/multi:latest@{}", f.arm64);
    let cases: Vec<(&str, &str, Option<&Digest>)> = vec![
        (
            "reg.example/busybox:latest",
            "linux/amd64",
            Some(&f.busybox),
        ),
        ("reg.example/busybox", "linux/amd64", Some(&f.busybox)),
        ("reg.example/busybox:1", "linux/amd64", None),
        ("other.example/busybox", "linux/amd64", None),
        ("reg.example/busybox", "linux/arm64", None),
        (&by_digest, "linux/amd64", Some(&f.busybox)),
        (&by_digest, "linux/arm64", None),
        ("reg.example/multi:latest", "linux/arm64", Some(&f.arm64)),
        ("reg.example/multi:latest", "linux/arm64/v8", Some(&f.arm64)),
        ("reg.example/multi:latest", "linux/amd64", None),
        (&by_index, "linux/arm64", Some(&f.arm64)),
        (&tag_and_digest, "linux/arm64", Some(&f.arm64)),
    ];
    for (r, p, want) in cases {
        let got = f
            .cache
            .lookup_at(&reference(r), &platform(p), t(11))
            .unwrap();
        assert_eq!(got.as_ref().map(CachedImage::digest), want, "{r} {p}");
        if let Some(cached) = got {
            assert_eq!(cached.image.digest(), *cached.digest(), "{r} {p}");
        }
    }
}

#[test]
fn entries_older_than_the_ttl_are_expired() {
    let f = fixture();
    let busybox = reference("reg.example/busybox");
    let amd64 = platform("linux/amd64");
    let cases = [
        (t(0), true),
        (t(23), true),
        (t(24), false),
        (t(1000), false),
        // A clock that went back does not expire anything.
        (t(0) - HOUR, true),
    ];
    for (now, fresh) in cases {
        let found = f.cache.find(&busybox, &amd64, now).unwrap();
        assert_eq!(matches!(found, Lookup::Fresh(_)), fresh, "{now:?}");
        assert_eq!(matches!(found, Lookup::Expired(_)), !fresh, "{now:?}");
        let looked_up = f.cache.lookup_at(&busybox, &amd64, now).unwrap();
        assert_eq!(looked_up.is_some(), fresh, "{now:?}");
    }
    let missing = f
        .cache
        .find(&busybox, &platform("linux/s390x"), t(0))
        .unwrap();
    assert_eq!(missing, Lookup::Missing);
}

#[test]
fn recording_again_replaces_the_entry_of_that_reference_and_platform() {
    let f = fixture();
    let layout = Layout::open(f.cache.root()).unwrap();
    let newer = image(&layout, "amd64", "newer");
    let busybox = reference("reg.example/busybox:latest");
    let amd64 = platform("linux/amd64");
    f.cache
        .record(&layout, &newer, &busybox, &amd64, None, t(30))
        .unwrap();
    let entries = f.cache.entries().unwrap();
    assert_eq!(entries.len(), 2, "{entries:#?}");
    let got = f.cache.lookup_at(&busybox, &amd64, t(31)).unwrap().unwrap();
    assert_eq!(got.digest(), &newer.digest());
    assert_eq!(got.entry.created, Some(t(30)));
    // The old image's blobs stay: nothing collects them yet.
    assert!(layout.has_blob(&f.busybox));
}

#[test]
fn the_layout_is_versioned_and_names_each_entry() {
    let f = fixture();
    assert!(f.cache.root().ends_with("v1"));
    let layout = Layout::open(f.cache.root()).unwrap();
    let index = layout.index().unwrap();
    let names: Vec<_> = index
        .manifests
        .iter()
        .filter_map(|d| d.ref_name())
        .collect();
    assert_eq!(
        names,
        [
            "reg.example/busybox:latest+linux-amd64",
            "reg.example/multi:latest+linux-arm64"
        ]
    );
    let multi = &index.manifests[1];
    let a = &multi.annotations;
    assert_eq!(a[ANNOTATION_REFERENCE], "reg.example/multi:latest");
    assert_eq!(a[ANNOTATION_PLATFORM], "linux/arm64");
    assert_eq!(a[ANNOTATION_CREATED], "2023-11-15T08:13:20.000Z");
    assert_eq!(a[ANNOTATION_INDEX_DIGEST], f.index.as_str());
    assert_eq!(
        multi.platform.as_ref().map(ToString::to_string).as_deref(),
        Some("linux/arm64")
    );
}

#[test]
fn ref_names_follow_the_layout_grammar() {
    // image-layout.md: ref = component ("/" component)*, component = alnum (separator alnum)*,
    // separator = [-._:@+] | "--".
    let grammar = |name: &str| {
        name.split('/').all(|component| {
            let mut prev_sep = true;
            for c in component.chars() {
                let sep = "-._:@+".contains(c);
                if !(sep || c.is_ascii_alphanumeric()) || (sep && prev_sep && c != '-') {
                    return false;
                }
                prev_sep = sep;
            }
            !prev_sep
        })
    };
    let digest = Digest::of(b"x");
    let cases = [
        (
            "busybox",
            "linux/amd64",
            "docker.io/library/busybox:latest+linux-amd64".to_owned(),
        ),
        (
            "127.0.0.1:5000/a/b:v1.2",
            "linux/arm/v7",
            "127.0.0.1:5000/a/b:v1.2+linux-arm-v7".to_owned(),
        ),
        (
            "reg.example/app",
            "linux/aarch64",
            "reg.example/app:latest+linux-arm64".to_owned(),
        ),
        (
            &*format!("reg.example/app@{digest}"),
            "windows/amd64:10.0.17763",
            format!("reg.example/app@{digest}+windows-amd64:10.0.17763"),
        ),
    ];
    for (r, p, want) in cases {
        let name = BaseImageCache::ref_name(&reference(r), &platform(p));
        assert_eq!(name, want);
        assert!(grammar(&name), "{name}");
    }
}

#[test]
fn a_missing_cache_has_nothing_and_an_entry_without_blobs_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let cache = BaseImageCache::new(&dir.path().join("absent"), HOUR);
    let busybox = reference("reg.example/busybox");
    let amd64 = platform("linux/amd64");
    assert!(cache.lookup(&busybox, &amd64).unwrap().is_none());
    assert!(
        !dir.path().join("absent").exists(),
        "a lookup must not create the cache"
    );

    let f = fixture();
    let layout = Layout::open(f.cache.root()).unwrap();
    let manifest = layout
        .read_image(&f.cache.entries().unwrap()[0].descriptor)
        .unwrap();
    let (_, layer) = manifest.layers().next().unwrap();
    std::fs::remove_file(layer).unwrap();
    let err = f.cache.lookup_at(&busybox, &amd64, t(1)).unwrap_err();
    assert!(
        err.to_string().contains("reg.example/busybox:latest"),
        "{err}"
    );
}

#[test]
fn an_entry_with_an_unreadable_time_is_expired() {
    let f = fixture();
    let layout = Layout::open(f.cache.root()).unwrap();
    let mut index = layout.index().unwrap();
    index.manifests[0]
        .annotations
        .insert(ANNOTATION_CREATED.to_owned(), "yesterday".to_owned());
    layout.write_index(&index).unwrap();
    let found = f
        .cache
        .find(
            &reference("reg.example/busybox"),
            &platform("linux/amd64"),
            t(1),
        )
        .unwrap();
    assert!(
        matches!(found, Lookup::Expired(Entry { created: None, .. })),
        "{found:?}"
    );
}

#[test]
fn a_cache_being_created_reads_as_empty() {
    // The moment between `oci-layout` and `index.json` when another warmer creates the cache.
    let dir = tempfile::tempdir().unwrap();
    let cache = BaseImageCache::new(dir.path(), HOUR);
    std::fs::create_dir_all(cache.root()).unwrap();
    std::fs::write(cache.root().join("oci-layout"), kiln_oci::OCI_LAYOUT_FILE).unwrap();
    assert_eq!(cache.entries().unwrap(), []);
    let found = cache.find(
        &reference("reg.example/busybox"),
        &platform("linux/amd64"),
        t(0),
    );
    assert_eq!(found.unwrap(), Lookup::Missing);
}
