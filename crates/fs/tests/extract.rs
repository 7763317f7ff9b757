//! Layer extraction end to end: every entry type, whiteouts after the OCI image spec's examples,
//! compression, layer order, context archives, rootless mode and the ignore list.

mod extract_support;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use extract_support::*;
use kiln_fs::extract::{self, EntryKind, Error, Options, Source, Unrepresentable};
use kiln_fs::ignore_list::IgnoreList;
use kiln_fs::resolve::Root;
use kiln_testsupport::tree::dump;

fn apply(
    root: &Path,
    layers: &[Vec<u8>],
    options: &Options,
) -> Result<Vec<extract::Report>, Error> {
    let root = Root::open(root).expect("open root");
    extract::extract_layers(&root, layers.iter().map(|l| &l[..]), options)
}

fn tree(layers: &[Vec<u8>]) -> Vec<String> {
    let tmp = tempfile::tempdir().expect("tempdir");
    apply(tmp.path(), layers, &Options::default()).expect("extract");
    dump(tmp.path())
}

#[test]
fn every_entry_type_is_created_with_owner_mode_and_times() {
    require_root();
    let long = format!("deep/{}/file", "d".repeat(120));
    let mut setuid = file("bin/su", "su");
    setuid.mode = 0o4755;
    setuid.uid = 1000;
    setuid.gid = 1000;
    let mut sticky = dir("tmp");
    sticky.mode = 0o1777;
    let mut private = dir("root");
    private.mode = 0o700;
    private.mtime = 1_234_567_890;
    let mut capped = file("bin/ping", "ping");
    capped.pax.push((
        "SCHILY.xattr.security.capability".into(),
        vec![
            1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ],
    ));
    capped
        .pax
        .push(("SCHILY.xattr.user.note".into(), b"hello".to_vec()));
    capped
        .pax
        .push(("SCHILY.xattr.trusted.t".into(), b"t".to_vec()));
    capped.pax.push(("mtime".into(), b"1700000000.25".to_vec()));
    let mut linked_xattr = symlink("bin/sh", "/bin/busybox");
    linked_xattr
        .pax
        .push(("SCHILY.xattr.trusted.link".into(), b"on the link".to_vec()));
    let mut gnu = file("gnu/name", "gnu");
    gnu.path = format!("gnu/{}", "g".repeat(150)).into_bytes();
    gnu.gnu_long_name = true;
    let layer = Tar::with([
        dir("bin"),
        setuid,
        capped,
        hardlink("bin/su-again", "bin/su"),
        linked_xattr,
        symlink("long-link", format!("/{}", "t".repeat(150))),
        sticky,
        private,
        device(b'3', "dev/null", 1, 3),
        device(b'4', "dev/loop0", 7, 0),
        device(b'6', "run/fifo", 0, 0),
        file(long.as_str(), "long"),
        gnu,
    ]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let reports = apply(tmp.path(), &[gzip(&layer)], &Options::default()).expect("extract");
    let got = dump(tmp.path());
    let expected = [
        "bin dir 755 0:0",
        "bin/ping file 644 0:0 \"ping\"",
        "bin/sh link 777 0:0 -> /bin/busybox",
        "bin/su file 4755 1000:1000 \"su\"",
        "bin/su-again file 4755 1000:1000 \"su\"",
        "deep dir 755 0:0",
        &format!("deep/{} dir 755 0:0", "d".repeat(120)),
        &format!("deep/{}/file file 644 0:0 \"long\"", "d".repeat(120)),
        "dev dir 755 0:0",
        "dev/loop0 block 660 0:0 7:0",
        "dev/null char 660 0:0 1:3",
        "gnu dir 755 0:0",
        &format!("gnu/{} file 644 0:0 \"gnu\"", "g".repeat(150)),
        &format!("long-link link 777 0:0 -> /{}", "t".repeat(150)),
        "root dir 700 0:0",
        "run dir 755 0:0",
        "run/fifo fifo 660 0:0",
        "tmp dir 1777 0:0",
    ];
    assert_eq!(got, expected);
    let root = tmp.path();
    assert_eq!(
        fs::metadata(root.join("bin/su")).expect("su").ino(),
        fs::metadata(root.join("bin/su-again"))
            .expect("again")
            .ino()
    );
    let ping = fs::metadata(root.join("bin/ping")).expect("ping");
    assert_eq!(
        (ping.mtime(), ping.mtime_nsec()),
        (1_700_000_000, 250_000_000)
    );
    assert_eq!(
        fs::metadata(root.join("root")).expect("root").mtime(),
        1_234_567_890,
        "dir mtime set after its contents"
    );
    assert_eq!(
        fs::metadata(root.join("bin/su")).expect("su").mtime(),
        1_600_000_000
    );
    let cap = xattr::get(root.join("bin/ping"), "security.capability").expect("getxattr");
    assert_eq!(cap.map(|c| c.len()), Some(20), "security.capability kept");
    assert_eq!(
        xattr::get(root.join("bin/ping"), "user.note")
            .expect("getxattr")
            .as_deref(),
        Some(&b"hello"[..])
    );
    assert_eq!(
        xattr::get(root.join("bin/ping"), "trusted.t")
            .expect("getxattr")
            .as_deref(),
        Some(&b"t"[..])
    );
    // `xattr::get` does not follow symlinks: this is the link's own attribute.
    assert_eq!(
        xattr::get(root.join("bin/sh"), "trusted.link")
            .expect("lgetxattr")
            .as_deref(),
        Some(&b"on the link"[..])
    );
    assert_eq!(reports[0].entries, 13);
    assert_eq!(reports[0].bytes, 2 + 4 + 4 + 3);
}

/// The changeset example of the OCI image layer spec ("Changesets", "Whiteouts").
#[test]
fn oci_spec_changeset_example_applies_in_order() {
    let base = Tar::with([
        dir("etc"),
        file("etc/my-app-config", "config"),
        dir("bin"),
        file("bin/my-app-binary", "binary"),
        file("bin/my-app-tools", "tools v1"),
    ]);
    let change = Tar::with([
        dir("etc"),
        file("etc/.wh.my-app-config", ""),
        dir("etc/my-app.d"),
        file("etc/my-app.d/default.cfg", "cfg"),
        dir("bin"),
        file("bin/my-app-tools", "tools v2"),
    ]);
    assert_eq!(
        tree(&[base, change]),
        [
            "bin dir 755 0:0",
            "bin/my-app-binary file 644 0:0 \"binary\"",
            "bin/my-app-tools file 644 0:0 \"tools v2\"",
            "etc dir 755 0:0",
            "etc/my-app.d dir 755 0:0",
            "etc/my-app.d/default.cfg file 644 0:0 \"cfg\"",
        ]
    );
}

/// The opaque whiteout example of the OCI image layer spec, with the marker first and last:
/// siblings from the same layer are kept wherever the marker is.
#[test]
fn opaque_whiteout_hides_lower_children_only() {
    let base = || {
        Tar::with([
            dir("a"),
            dir("a/b"),
            dir("a/b/c"),
            file("a/b/c/bar", "bar"),
            file("a/lower", "lower"),
            file("keep", "keep"),
        ])
    };
    let upper = |marker_last: bool| {
        let mut members = vec![dir("a"), dir("a/b"), dir("a/b/c"), file("a/b/c/foo", "foo")];
        let marker = file("a/.wh..wh..opq", "");
        if marker_last {
            members.push(marker);
        } else {
            members.insert(1, marker);
        }
        Tar::with(members)
    };
    let expected = [
        "a dir 755 0:0",
        "a/b dir 755 0:0",
        "a/b/c dir 755 0:0",
        "a/b/c/foo file 644 0:0 \"foo\"",
        "keep file 644 0:0 \"keep\"",
    ];
    assert_eq!(tree(&[base(), upper(false)]), expected);
    assert_eq!(tree(&[base(), upper(true)]), expected);
}

#[test]
fn whiteout_does_not_hide_what_its_own_layer_adds() {
    let base = Tar::with([file("x", "old"), dir("d"), file("d/old", "old")]);
    let upper = Tar::with([
        file("x", "new"),
        file(".wh.x", ""),
        file("d/new", "new"),
        file(".wh.d", ""),
    ]);
    assert_eq!(
        tree(&[base, upper]),
        [
            "d dir 755 0:0",
            "d/new file 644 0:0 \"new\"",
            "x file 644 0:0 \"new\""
        ]
    );
}

#[test]
fn whiteout_of_a_directory_removes_the_tree_and_missing_targets_are_fine() {
    let base = Tar::with([dir("d"), dir("d/e"), file("d/e/f", "f"), symlink("l", "d")]);
    let upper = Tar::with([
        file(".wh.d", ""),
        file(".wh.l", ""),
        file(".wh.never-existed", ""),
        file("sub/.wh..wh.plnk", ""),
    ]);
    // AUFS bookkeeping names are skipped, and a whiteout creates no parent for itself.
    assert_eq!(tree(&[base, upper]), Vec::<String>::new());
}

#[test]
fn entries_replace_directories_with_files_and_files_with_directories() {
    let base = Tar::with([
        dir("was-dir"),
        file("was-dir/child", "c"),
        file("was-file", "f"),
        symlink("was-link", "/etc"),
    ]);
    let upper = Tar::with([
        file("was-dir", "now a file"),
        dir("was-file"),
        file("was-file/inner", "i"),
        dir("was-link"),
    ]);
    assert_eq!(
        tree(&[base, upper]),
        [
            "was-dir file 644 0:0 \"now a file\"",
            "was-file dir 755 0:0",
            "was-file/inner file 644 0:0 \"i\"",
            "was-link dir 755 0:0",
        ]
    );
}

#[test]
fn a_directory_listed_twice_keeps_its_last_metadata() {
    let mut first = dir("d");
    first.mode = 0o700;
    first.mtime = 1;
    let mut second = dir("d");
    second.mode = 0o750;
    second.mtime = 2;
    let mut read_only = dir("d/ro");
    read_only.mode = 0o555;
    let tmp = tempfile::tempdir().expect("tempdir");
    let layer = Tar::with([first, read_only, file("d/ro/f", "f"), second]);
    apply(tmp.path(), &[layer], &Options::default()).expect("extract");
    assert_eq!(
        dump(tmp.path()),
        [
            "d dir 750 0:0",
            "d/ro dir 555 0:0",
            "d/ro/f file 644 0:0 \"f\""
        ]
    );
    assert_eq!(fs::metadata(tmp.path().join("d")).expect("d").mtime(), 2);
}

#[test]
fn a_directory_replaced_by_a_symlink_redirects_later_entries() {
    let layer = Tar::with([
        dir("b"),
        dir("a"),
        file("a/x", "x"),
        symlink("a", "/b"),
        file("a/y", "y"),
    ]);
    assert_eq!(
        tree(&[layer]),
        [
            "a link 777 0:0 -> /b",
            "b dir 755 0:0",
            "b/y file 644 0:0 \"y\""
        ]
    );
}

#[test]
fn layers_in_any_compression_apply_in_order() {
    let one = Tar::with([file("f", "one"), file("only-one", "1")]);
    let two = Tar::with([file("f", "two"), file(".wh.only-one", "")]);
    let three = Tar::with([file("g", "three")]);
    let got = tree(&[gzip(&one), zstd(&two), three]);
    assert_eq!(got, ["f file 644 0:0 \"two\"", "g file 644 0:0 \"three\""]);
}

#[test]
fn each_layer_is_reported_once_applied_and_before_the_next_one() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = Root::open(tmp.path()).expect("open root");
    let layers = [
        gzip(&Tar::with([file("one", "1")])),
        Tar::with([file("two", "22")]),
        b"BZh91AY&SY".to_vec(),
    ];
    let mut seen = Vec::new();
    let err = extract::extract_layers_with(
        &root,
        layers.iter().map(|l| &l[..]),
        &Options::default(),
        |index, report| {
            let present = ["one", "two"].map(|f| tmp.path().join(f).exists());
            seen.push((index, report.bytes, present));
        },
    )
    .expect_err("the third layer is bzip2");
    assert!(matches!(
        err,
        Error::UnsupportedCompression { layer: 2, .. }
    ));
    assert_eq!(seen, [(0, 1, [true, false]), (1, 2, [true, true])]);
}

#[test]
fn writes_through_layer_symlinks_stay_inside_the_rootfs() {
    let layer = Tar::with([
        symlink("lib", "usr/lib"),
        dir("usr"),
        dir("usr/lib"),
        file("lib/libc.so", "c"),
        symlink("abs", "/usr"),
        file("abs/x", "x"),
    ]);
    assert_eq!(
        tree(&[layer]),
        [
            "abs link 777 0:0 -> /usr",
            "lib link 777 0:0 -> usr/lib",
            "usr dir 755 0:0",
            "usr/lib dir 755 0:0",
            "usr/lib/libc.so file 644 0:0 \"c\"",
            "usr/x file 644 0:0 \"x\"",
        ]
    );
}

#[test]
fn context_archives_keep_whiteout_names_and_extract_below_the_target_dir() {
    let tmp = tempfile::tempdir().expect("tempdir");
    fs::write(tmp.path().join("x"), "lower").expect("write");
    let archive = Tar::with([file(".wh.x", ""), file("sub/f", "f")]);
    let options = Options {
        source: Source::Context,
        target_dir: "/app".into(),
        ..Options::default()
    };
    apply(tmp.path(), &[archive], &options).expect("extract");
    assert_eq!(
        dump(tmp.path()),
        [
            "app dir 755 0:0",
            "app/.wh.x file 644 0:0 \"\"",
            "app/sub dir 755 0:0",
            "app/sub/f file 644 0:0 \"f\"",
            "x file 644 0:0 \"lower\""
        ]
    );
}

#[test]
fn ignored_paths_are_skipped_with_everything_below_them() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let layer = Tar::with([
        dir("kaniko"),
        file("kaniko/executor", "x"),
        dir("var"),
        dir("var/run"),
        file("var/run/pid", "1"),
        file("etc/mtab", "m"),
        file("etc/hosts", "h"),
    ]);
    let mut ignore = IgnoreList::kaniko_defaults(Path::new("/kaniko"));
    ignore.add_var_run();
    let options = Options {
        ignore,
        ..Options::default()
    };
    let reports = apply(tmp.path(), &[layer], &options).expect("extract");
    assert_eq!(
        dump(tmp.path()),
        [
            "etc dir 755 0:0",
            "etc/hosts file 644 0:0 \"h\"",
            "var dir 755 0:0"
        ]
    );
    assert_eq!(reports[0].ignored, 5);
}

#[test]
fn rootless_mode_records_devices_it_cannot_create() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let layer = Tar::with([
        device(b'3', "dev/null", 1, 3),
        device(b'6', "dev/fifo", 0, 0),
    ]);
    let options = Options {
        rootless: true,
        ..Options::default()
    };
    let reports = apply(tmp.path(), &[layer], &options).expect("extract");
    assert_eq!(
        dump(tmp.path()),
        [
            "dev dir 755 0:0",
            "dev/fifo fifo 660 0:0",
            "dev/null file 660 0:0 \"\""
        ]
    );
    let recorded = &reports[0].recorded;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0].path, Path::new("/dev/null"));
    assert!(matches!(
        recorded[0].what,
        Unrepresentable::Device {
            kind: EntryKind::CharDevice,
            major: 1,
            minor: 3,
            mode: 0o660,
            ..
        }
    ));
}

#[test]
fn unsupported_and_corrupt_compression_is_an_error_naming_the_layer() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let good = Tar::with([file("f", "f")]);
    let err = apply(
        tmp.path(),
        &[good.clone(), b"BZh91AY&SY".to_vec()],
        &Options::default(),
    )
    .expect_err("bzip2");
    assert!(
        matches!(
            err,
            Error::UnsupportedCompression {
                layer: 1,
                format: "bzip2"
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "layer 1 is compressed with bzip2, which is not supported yet"
    );
    let mut corrupt = gzip(&good);
    let n = corrupt.len();
    corrupt[n - 6] ^= 0xff; // the CRC32 trailer
    let err = apply(tmp.path(), &[corrupt], &Options::default()).expect_err("bad crc");
    assert!(matches!(err, Error::Decompress { layer: 0, .. }), "{err:?}");
}
