//! Layers unpacked for overlayfs and snapshots taken on it: extraction with
//! `Whiteouts::Overlay` writes whiteouts as overlayfs reads them (character devices 0/0 and
//! `trusted.overlay.opaque`), a read-only overlay of such layers shows what applying them in
//! order shows, and a walk of an overlay mount does not take a copied-up directory for a
//! re-created one.
//!
//! Every test needs root (mknod, `trusted.*` xattrs, mount) and is skipped without it.

mod extract_support;

use std::ffi::CString;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use extract_support::*;
use kiln_fs::extract::{self, Error, Options, Refusal, Whiteouts};
use kiln_fs::resolve::Root;
use kiln_fs::snapshot::{self, SnapshotMode};
use kiln_testsupport::tree::dump;
use rustix::mount::{MountFlags, UnmountFlags};

const OPAQUE: &str = "trusted.overlay.opaque";

/// Whether the test can run; says why not when it cannot.
fn root_or_skip() -> bool {
    let root = rustix::process::geteuid().is_root();
    if !root {
        eprintln!("skipped: needs root for mknod, trusted.* xattrs and overlay mounts");
    }
    root
}

fn overlay() -> Options {
    Options {
        whiteouts: Whiteouts::Overlay,
        ..Options::default()
    }
}

/// Extracts `layer` alone into `dir` in overlay mode.
fn unpack(dir: &Path, layer: &[u8]) -> Result<extract::Report, Error> {
    let root = Root::open(dir).expect("open root");
    extract::extract_layer(&root, layer, &overlay())
}

/// A fresh directory holding `layer` unpacked for overlayfs, and its dump.
fn unpacked(layer: &[u8]) -> (tempfile::TempDir, Vec<String>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    unpack(tmp.path(), layer).expect("extract");
    let tree = dump(tmp.path());
    (tmp, tree)
}

fn opaque(path: &Path) -> Option<Vec<u8>> {
    xattr::get(path, OPAQUE).unwrap_or_else(|e| panic!("reading xattrs of {}: {e}", path.display()))
}

/// An overlay mount, detached when dropped so that a failing assertion leaves none behind.
struct Mount(PathBuf);

impl Mount {
    fn overlay(target: &Path, options: &str) -> Mount {
        let data = CString::new(options).expect("mount options without NUL");
        rustix::mount::mount(
            "overlay",
            target,
            "overlay",
            MountFlags::empty(),
            data.as_c_str(),
        )
        .unwrap_or_else(|e| panic!("mount overlay {options} on {}: {e}", target.display()));
        Mount(target.to_owned())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if let Err(e) = rustix::mount::unmount(&self.0, UnmountFlags::DETACH) {
            eprintln!("unmount {}: {e}", self.0.display());
        }
    }
}

#[test]
fn whiteout_becomes_a_character_device_0_0() {
    if !root_or_skip() {
        return;
    }
    let (tmp, tree) = unpacked(&Tar::with([
        dir("etc"),
        file("etc/.wh.passwd", ""),
        file(".wh.top", ""),
    ]));
    assert_eq!(
        tree,
        [
            "etc dir 755 0:0",
            "etc/passwd char 0 0:0 0:0",
            "top char 0 0:0 0:0"
        ]
    );
    let meta = fs::symlink_metadata(tmp.path().join("etc/passwd")).expect("lstat");
    assert!(meta.file_type().is_char_device());
    assert_eq!(meta.rdev(), 0);
}

#[test]
fn whiteout_and_re_add_in_the_same_layer_keep_only_the_entry_in_either_order() {
    if !root_or_skip() {
        return;
    }
    let expected = ["x file 644 0:0 \"new\""];
    let (_tmp, tree) = unpacked(&Tar::with([file(".wh.x", ""), file("x", "new")]));
    assert_eq!(tree, expected);
    let (_tmp, tree) = unpacked(&Tar::with([file("x", "new"), file(".wh.x", "")]));
    assert_eq!(tree, expected);
}

/// `.wh.d` with entries of the same layer below `d`: the layer's `d` stays, and only its own
/// contents may show, so it is opaque.
#[test]
fn whited_out_directory_the_layer_fills_again_is_opaque() {
    if !root_or_skip() {
        return;
    }
    for members in [
        vec![file(".wh.d", ""), file("d/new", "new")],
        vec![dir("d"), file("d/new", "new"), file(".wh.d", "")],
    ] {
        let (tmp, tree) = unpacked(&Tar::with(members));
        assert_eq!(tree, ["d dir 755 0:0", "d/new file 644 0:0 \"new\""]);
        assert_eq!(opaque(&tmp.path().join("d")).as_deref(), Some(&b"y"[..]));
    }
}

#[test]
fn opaque_marker_sets_the_xattr_and_keeps_the_layers_own_children() {
    if !root_or_skip() {
        return;
    }
    for marker_last in [false, true] {
        let mut members = vec![dir("a"), file("a/own", "own"), dir("a/sub")];
        let marker = file("a/.wh..wh..opq", "");
        if marker_last {
            members.push(marker);
        } else {
            members.insert(1, marker);
        }
        let (tmp, tree) = unpacked(&Tar::with(members));
        assert_eq!(
            tree,
            [
                "a dir 755 0:0",
                "a/own file 644 0:0 \"own\"",
                "a/sub dir 755 0:0"
            ],
            "marker last: {marker_last}"
        );
        assert_eq!(opaque(&tmp.path().join("a")).as_deref(), Some(&b"y"[..]));
        assert_eq!(opaque(&tmp.path().join("a/sub")), None);
    }
}

#[test]
fn opaque_marker_at_the_top_marks_the_unpack_directory() {
    if !root_or_skip() {
        return;
    }
    let (tmp, tree) = unpacked(&Tar::with([file(".wh..wh..opq", ""), file("f", "f")]));
    assert_eq!(tree, ["f file 644 0:0 \"f\""]);
    assert_eq!(opaque(tmp.path()).as_deref(), Some(&b"y"[..]));
}

#[test]
fn whiteouts_under_directories_the_layer_does_not_list_create_them() {
    if !root_or_skip() {
        return;
    }
    let (tmp, tree) = unpacked(&Tar::with([
        file("a/b/.wh.c", ""),
        file("o/p/.wh..wh..opq", ""),
    ]));
    assert_eq!(
        tree,
        [
            "a dir 755 0:0",
            "a/b dir 755 0:0",
            "a/b/c char 0 0:0 0:0",
            "o dir 755 0:0",
            "o/p dir 755 0:0"
        ]
    );
    assert_eq!(opaque(&tmp.path().join("o/p")).as_deref(), Some(&b"y"[..]));
    assert_eq!(opaque(&tmp.path().join("o")), None);
}

/// What lies below a whited-out or opaque directory is hidden already: no device is made
/// there, and none where a whiteout would stand in the way of another.
#[test]
fn whiteouts_below_whited_out_or_opaque_directories_are_skipped() {
    if !root_or_skip() {
        return;
    }
    let (tmp, tree) = unpacked(&Tar::with([
        file("gone/.wh.x", ""),
        file(".wh.gone", ""),
        file("o/.wh..wh..opq", ""),
        file("o/.wh.y", ""),
        file("o/deep/.wh..wh..opq", ""),
        file(".wh..wh.plnk", ""),
    ]));
    assert_eq!(tree, ["gone char 0 0:0 0:0", "o dir 755 0:0"]);
    assert_eq!(opaque(&tmp.path().join("o")).as_deref(), Some(&b"y"[..]));
}

#[test]
fn invalid_whiteout_names_are_refused() {
    if !root_or_skip() {
        return;
    }
    for name in ["d/.wh.", "d/.wh..", "d/.wh..."] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let err = unpack(tmp.path(), &Tar::with([file(name, "")])).expect_err(name);
        assert!(
            matches!(&err, Error::Refused { entry, reason: Refusal::InvalidWhiteout } if entry == name),
            "{name}: {err:?}"
        );
    }
}

#[test]
fn hardlink_to_a_file_of_another_layer_is_an_error_naming_the_entry() {
    if !root_or_skip() {
        return;
    }
    for (members, entry) in [
        (vec![hardlink("x", "bin/sh")], "x"),
        (vec![dir("bin"), hardlink("bin/sh2", "bin/sh")], "bin/sh2"),
    ] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let err = unpack(tmp.path(), &Tar::with(members)).expect_err(entry);
        assert!(
            matches!(&err, Error::Apply { entry: e, .. } if e == entry),
            "{err:?}"
        );
    }
}

#[test]
fn overlay_xattrs_carried_by_entries_are_not_set() {
    if !root_or_skip() {
        return;
    }
    let mut sneaky = dir("d");
    sneaky
        .pax
        .push(("SCHILY.xattr.trusted.overlay.opaque".into(), b"y".to_vec()));
    sneaky
        .pax
        .push(("SCHILY.xattr.user.kept".into(), b"k".to_vec()));
    let tmp = tempfile::tempdir().expect("tempdir");
    let report = unpack(tmp.path(), &Tar::with([sneaky])).expect("extract");
    let d = tmp.path().join("d");
    assert_eq!(opaque(&d), None);
    assert_eq!(
        xattr::get(&d, "user.kept").expect("xattr"),
        Some(b"k".to_vec())
    );
    assert_eq!(report.xattrs_skipped, 1);
}

/// Two layers unpacked apart and mounted as overlayfs lower layers show the tree that applying
/// them in order to one directory makes.
#[test]
fn overlay_of_unpacked_layers_shows_what_applying_them_shows() {
    if !root_or_skip() {
        return;
    }
    let base = Tar::with([
        dir("etc"),
        file("etc/passwd", "root"),
        file("etc/group", "wheel"),
        dir("opt"),
        file("opt/a", "a"),
        dir("opt/sub"),
        file("opt/sub/b", "b"),
        dir("d"),
        file("d/old", "old"),
        file("x", "old"),
        dir("keep"),
        file("keep/k", "k"),
    ]);
    let change = Tar::with([
        dir("etc"),
        file("etc/.wh.passwd", ""),
        file("opt/.wh..wh..opq", ""),
        file("opt/c", "c"),
        file(".wh.d", ""),
        file("d/new", "new"),
        file("x", "new"),
        file(".wh.x", ""),
    ]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let (lower, upper, merged, applied) = (
        tmp.path().join("lower"),
        tmp.path().join("upper"),
        tmp.path().join("merged"),
        tmp.path().join("applied"),
    );
    for dir in [&lower, &upper, &merged, &applied] {
        fs::create_dir(dir).expect("mkdir");
    }
    unpack(&lower, &base).expect("extract base");
    unpack(&upper, &change).expect("extract change");
    let root = Root::open(&applied).expect("open root");
    extract::extract_layers(&root, [&base[..], &change[..]], &Options::default())
        .expect("apply both");

    let options = format!("lowerdir={}:{}", upper.display(), lower.display());
    let _mount = Mount::overlay(&merged, &options);
    let expected = [
        "d dir 755 0:0",
        "d/new file 644 0:0 \"new\"",
        "etc dir 755 0:0",
        "etc/group file 644 0:0 \"wheel\"",
        "keep dir 755 0:0",
        "keep/k file 644 0:0 \"k\"",
        "opt dir 755 0:0",
        "opt/c file 644 0:0 \"c\"",
        "x file 644 0:0 \"new\"",
    ];
    assert_eq!(dump(&applied), expected);
    assert_eq!(dump(&merged), expected);
}

/// Writing into a lower-layer directory copies it up, which gives it a new birth time but
/// keeps its inode number: the walk must not take it for a directory deleted and re-created,
/// which would write it opaque with everything below it.
#[test]
fn copied_up_directory_is_modified_not_opaque() {
    if !root_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let [lower, upper, work, merged] =
        ["lower", "upper", "work", "merged"].map(|d| tmp.path().join(d));
    for dir in [&lower, &upper, &work, &merged] {
        fs::create_dir(dir).expect("mkdir");
    }
    fs::create_dir_all(lower.join("d/sub")).expect("mkdir");
    fs::write(lower.join("d/f"), "f").expect("write");
    fs::write(lower.join("d/sub/g"), "g").expect("write");
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        upper.display(),
        work.display()
    );
    let _mount = Mount::overlay(&merged, &options);

    let ignore = snapshot::ignore_nothing();
    let before = snapshot::walk(&merged, &ignore).expect("walk before");
    let touched = filetime::FileTime::from_unix_time(1_000_000, 0);
    filetime::set_file_mtime(merged.join("d/f"), touched).expect("touch d/f");
    let after = snapshot::walk(&merged, &ignore).expect("walk after");
    assert!(upper.join("d/f").exists(), "d/f was copied up");

    let diff = snapshot::compare(&before, &after, SnapshotMode::Full).expect("compare");
    assert!(diff.opaque.is_empty(), "{diff:?}");
    assert!(diff.added.is_empty(), "{diff:?}");
    assert!(diff.deleted.is_empty(), "{diff:?}");
    assert!(diff.modified.contains(&PathBuf::from("d/f")), "{diff:?}");
    assert!(
        diff.modified
            .iter()
            .all(|p| p == Path::new("d") || p == Path::new("d/f")),
        "{diff:?}"
    );
}
