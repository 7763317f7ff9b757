//! The layer writer end to end: real trees in, layer blobs out, unpacked again by GNU tar or by
//! the small applier in `layer_tree`.

mod layer_tree;

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::Command;

use kiln_fs::layer::{self, Changes, Compression, LayerOptions};
use kiln_oci::{DiffId, Digest};
use kiln_testsupport::cli::run_ok;
use kiln_testsupport::tree::tree;
use layer_tree::{all_of, full_layer, gzip, tar_listing, tar_stream, with};

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

/// A tree of every entry type an unprivileged user can make.
fn sample_tree(root: &Path) {
    fs::create_dir_all(root.join("etc/deep/er")).unwrap();
    fs::write(root.join("etc/passwd"), b"root:x:0:0::/root:/bin/sh\n").unwrap();
    fs::write(root.join("etc/empty"), b"").unwrap();
    // Sparse-looking: a hole of 3 MiB, then a few bytes.
    let mut sparse = File::create(root.join("etc/sparse")).unwrap();
    sparse.set_len(3 << 20).unwrap();
    sparse.write_all(b"head").unwrap();
    drop(sparse);
    fs::write(root.join("etc/big"), vec![7u8; 1 << 20]).unwrap();
    fs::create_dir(root.join("tmp")).unwrap();
    set_mode(&root.join("tmp"), 0o1777);
    fs::write(root.join("etc/suid"), b"#!/bin/sh\n").unwrap();
    set_mode(&root.join("etc/suid"), 0o4755);
    fs::create_dir(root.join("etc/sgid")).unwrap();
    set_mode(&root.join("etc/sgid"), 0o2750);
    symlink("passwd", root.join("etc/rel-link")).unwrap();
    symlink("/etc/passwd", root.join("etc/abs-link")).unwrap();
    symlink("../nowhere", root.join("etc/dangling")).unwrap();
    fs::write(root.join("etc/deep/er/first"), b"shared").unwrap();
    fs::hard_link(root.join("etc/deep/er/first"), root.join("etc/second")).unwrap();
    fs::hard_link(root.join("etc/deep/er/first"), root.join("tmp/third")).unwrap();
    mkfifo(&root.join("etc/fifo"));
    xattr::set(root.join("etc/passwd"), "user.kiln.test", b"\x00\x01binary").unwrap();
    let long_dir = root.join("d".repeat(120)).join("e".repeat(120));
    fs::create_dir_all(&long_dir).unwrap();
    fs::write(long_dir.join("f".repeat(150)), b"long").unwrap();
    let t = filetime::FileTime::from_unix_time(1_600_000_000, 123_456_789);
    filetime::set_symlink_file_times(root.join("etc/passwd"), t, t).unwrap();
}

fn gnu_untar(layer: &Path, compression: Compression, dest: &Path) {
    let mut data = Vec::new();
    tar_stream(layer, compression)
        .read_to_end(&mut data)
        .unwrap();
    let plain = dest.with_extension("tar");
    fs::write(&plain, data).unwrap();
    run_ok(
        Command::new("tar")
            .args(["--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf"])
            .arg(&plain)
            .arg("-C")
            .arg(dest),
    );
}

fn round_trip(make: fn(&Path), compression: Compression) {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let dst = work.path().join("dst");
    fs::create_dir_all(&src).unwrap();
    fs::create_dir_all(&dst).unwrap();
    make(&src);
    let written = full_layer(&src, &work.path().join("layer"), &with(compression));
    gnu_untar(&written.path, compression, &dst);
    let (want, got) = (tree(&src), tree(&dst));
    for (path, node) in &want {
        assert_eq!(got.get(path), Some(node), "{path}");
    }
    assert_eq!(want.len(), got.len(), "extra paths: {:?}", got.keys());
}

#[test]
fn every_entry_type_round_trips_through_gnu_tar() {
    for c in [
        Compression::Gzip,
        Compression::Zstd,
        Compression::Uncompressed,
    ] {
        round_trip(sample_tree, c);
    }
}

fn privileged_tree(root: &Path) {
    sample_tree(root);
    let mknod = |name: &str, kind: &str, ma: &str, mi: &str| {
        let status = Command::new("mknod")
            .arg(root.join(name))
            .args([kind, ma, mi])
            .status()
            .unwrap();
        assert!(status.success());
    };
    mknod("etc/null", "c", "1", "3");
    mknod("etc/loop0", "b", "7", "0");
    let chown = |path: &str, uid: u32, gid: u32| {
        std::os::unix::fs::lchown(root.join(path), Some(uid), Some(gid)).unwrap();
    };
    chown("etc/passwd", 1234, 5678);
    chown("etc/rel-link", 1, 2);
    // Past ustar's octal fields: needs PAX uid/gid.
    chown("etc/big", 3_000_000, 4_000_000);
    xattr::set(
        root.join("etc/suid"),
        "security.capability",
        &[
            1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ],
    )
    .unwrap();
    xattr::set(root.join("etc/sgid"), "trusted.kiln", b"t").unwrap();
}

#[test]
#[ignore = "needs the test environment"]
fn devices_owners_and_privileged_xattrs_round_trip_as_root() {
    assert_eq!(
        rustix::process::geteuid().as_raw(),
        0,
        "this test needs root (scripts/check runs it as root)"
    );
    round_trip(privileged_tree, Compression::Gzip);
}

#[test]
fn tar_listing_shows_relative_hardlinks_and_numeric_ids() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    fs::create_dir(&src).unwrap();
    sample_tree(&src);
    let written = full_layer(&src, &work.path().join("layer"), &gzip());
    let listing = tar_listing(&written.path, Compression::Gzip);
    // The first of the group in layer order carries the content.
    assert!(
        listing.contains("etc/second link to etc/deep/er/first"),
        "{listing}"
    );
    assert!(
        listing.contains("tmp/third link to etc/deep/er/first"),
        "{listing}"
    );
    for line in listing.lines() {
        let owner = line.split_whitespace().nth(1).unwrap();
        assert!(
            owner.split('/').all(|id| id.parse::<u64>().is_ok()),
            "non-numeric owner in {line}"
        );
        let name = line.split_whitespace().nth(5).unwrap();
        assert!(!name.starts_with('/') && !name.starts_with("./"), "{line}");
    }
}

#[test]
fn same_input_gives_same_digest_whatever_the_thread_count() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    fs::create_dir(&src).unwrap();
    sample_tree(&src);
    for c in [
        Compression::Gzip,
        Compression::Zstd,
        Compression::Uncompressed,
    ] {
        let mut seen = Vec::new();
        for (i, threads) in [1, 2, 4, 1].into_iter().enumerate() {
            let options = LayerOptions { threads, ..with(c) };
            let dest = work.path().join(format!("layer-{c}-{i}"));
            seen.push(full_layer(&src, &dest, &options));
        }
        assert!(
            seen.windows(2)
                .all(|w| (&w[0].digest, &w[0].diff_id) == (&w[1].digest, &w[1].diff_id)),
            "{c}: {seen:#?}"
        );
    }
}

#[test]
fn digest_size_and_diff_id_describe_the_bytes_written() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    fs::create_dir(&src).unwrap();
    sample_tree(&src);
    for c in [
        Compression::Gzip,
        Compression::Zstd,
        Compression::Uncompressed,
    ] {
        let written = full_layer(&src, &work.path().join(format!("l-{c}")), &with(c));
        let blob = fs::read(&written.path).unwrap();
        assert_eq!(written.size, blob.len() as u64);
        assert_eq!(written.digest, Digest::of(&blob));
        let mut tar = Vec::new();
        tar_stream(&written.path, c).read_to_end(&mut tar).unwrap();
        assert_eq!(written.diff_id, DiffId::of(&tar));
        assert_eq!(tar.len() % 512, 0);
        if c == Compression::Uncompressed {
            assert_eq!(written.digest.hex(), written.diff_id.hex());
        }
    }
    // Nothing but the layers themselves was left in the directory.
    let names: Vec<_> = fs::read_dir(work.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".kiln-layer-"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn clamped_mtimes_never_exceed_source_date_epoch() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    fs::create_dir(&src).unwrap();
    sample_tree(&src);
    let epoch = 1_650_000_000;
    let options = LayerOptions {
        clamp_mtime: Some(epoch),
        ..gzip()
    };
    let written = full_layer(&src, &work.path().join("layer"), &options);
    let mut archive = tar::Archive::new(tar_stream(&written.path, Compression::Gzip));
    let mut saw_older = false;
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let mtime = entry.header().mtime().unwrap();
        assert!(mtime <= epoch as u64, "{:?}", entry.path());
        saw_older |= mtime == 1_600_000_000;
    }
    assert!(saw_older, "older times are kept as they are");
    let reproducible = LayerOptions {
        clamp_mtime: Some(0),
        ..gzip()
    };
    let a = full_layer(&src, &work.path().join("a"), &reproducible);
    // Touching every file changes nothing once times are clamped to 0.
    let now = filetime::FileTime::now();
    filetime::set_file_mtime(src.join("etc/big"), now).unwrap();
    let b = full_layer(&src, &work.path().join("b"), &reproducible);
    assert_eq!(a.digest, b.digest);
}

#[test]
fn whiteouts_and_opaque_markers_are_written_as_empty_files() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    fs::create_dir_all(src.join("var/cache")).unwrap();
    let mut changes = Changes::new();
    changes.whiteout("var/lib").unwrap();
    changes.opaque("var/cache").unwrap();
    let written = layer::write(&src, &changes, &work.path().join("layer"), &gzip()).unwrap();
    let listing = tar_listing(&written.path, Compression::Gzip);
    let names: Vec<_> = listing
        .lines()
        .map(|l| l.split_whitespace().last().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "var/",
            "var/.wh.lib",
            "var/cache/",
            "var/cache/.wh..wh..opq"
        ]
    );
}

#[test]
fn a_path_reached_through_a_symlink_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    fs::create_dir_all(src.join("real")).unwrap();
    fs::write(src.join("real/f"), b"x").unwrap();
    symlink("real", src.join("via")).unwrap();
    let mut changes = Changes::new();
    changes.write("via/f").unwrap();
    let err = layer::write(&src, &changes, &work.path().join("layer"), &gzip()).unwrap_err();
    assert!(
        matches!(err, layer::Error::ParentNotDirectory(ref p) if p == Path::new("via/f")),
        "{err}"
    );
    assert!(!work.path().join("layer").exists());
}

#[test]
fn a_missing_path_is_an_error_that_names_it() {
    let work = tempfile::tempdir().unwrap();
    let mut changes = Changes::new();
    changes.write("gone").unwrap();
    let err = layer::write(work.path(), &changes, &work.path().join("layer"), &gzip()).unwrap_err();
    assert!(err.to_string().contains("gone"), "{err}");
}

#[test]
fn layer_entries_come_in_path_order() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    fs::create_dir(&src).unwrap();
    sample_tree(&src);
    let changes = all_of(&src);
    let written = layer::write(&src, &changes, &work.path().join("layer"), &gzip()).unwrap();
    let mut archive = tar::Archive::new(tar_stream(&written.path, Compression::Gzip));
    let names: Vec<_> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().into_owned())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert_eq!(names.len(), changes.len());
}

#[test]
#[ignore = "needs the test environment"]
fn placeholders_of_a_rootless_extraction_are_written_as_the_layer_said() {
    use std::os::unix::fs::MetadataExt;

    use kiln_fs::extract::{EntryKind, Placeholders, Recorded, Unrepresentable};

    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    fs::create_dir_all(src.join("dev")).unwrap();
    // What a rootless extraction leaves: empty files owned by the extracting process.
    for name in ["dev/null", "dev/sda", "owned", "chowned"] {
        fs::write(src.join(name), b"").unwrap();
        set_mode(&src.join(name), 0o640);
    }
    let me = fs::metadata(&src).unwrap();
    let (uid, gid) = (me.uid(), me.gid());
    let device = |kind, major, minor| Unrepresentable::Device {
        kind,
        major,
        minor,
        mode: 0o640,
        uid: 7,
        gid: 8,
    };
    let placeholders = Placeholders::new([
        Recorded {
            path: "/dev/null".into(),
            what: device(EntryKind::CharDevice, 1, 3),
        },
        Recorded {
            path: "/dev/sda".into(),
            what: device(EntryKind::BlockDevice, 8, 0),
        },
        Recorded {
            path: "/owned".into(),
            what: Unrepresentable::Owner { uid: 70, gid: 80 },
        },
        Recorded {
            path: "/chowned".into(),
            what: Unrepresentable::Owner { uid: 70, gid: 80 },
        },
    ]);
    // A step gave this one an owner of its own since: that change wins.
    std::os::unix::fs::lchown(src.join("chowned"), Some(uid + 1), Some(gid + 1)).unwrap();

    let dest = work.path().join("layer");
    let written =
        layer::write_with_placeholders(&src, &all_of(&src), &dest, &gzip(), &placeholders).unwrap();
    let listing = tar_listing(&written.path, Compression::Gzip);
    let line = |name: &str| {
        listing
            .lines()
            .find(|l| l.ends_with(&format!(" {name}")) || l.contains(&format!(" {name} ")))
            .unwrap_or_else(|| panic!("{name} not in {listing}"))
            .to_owned()
    };
    assert!(line("dev/null").starts_with("crw-r----- 7/8"), "{listing}");
    assert!(line("dev/null").contains("1,3"), "{listing}");
    assert!(line("dev/sda").starts_with("brw-r----- 7/8"), "{listing}");
    assert!(line("owned").starts_with("-rw-r----- 70/80"), "{listing}");
    assert!(
        line("chowned").starts_with(&format!("-rw-r----- {}/{}", uid + 1, gid + 1)),
        "{listing}"
    );
}
