//! Snapshots end to end: real trees, real mutations, and the layer that records them applied
//! onto a copy of the original.

mod layer_tree;

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::time::Duration;

use kiln_fs::layer::{self, Compression};
use kiln_fs::snapshot::{self, Diff, Ignore, SnapshotMode};
use kiln_testsupport::tree::{Kind, tree};
use layer_tree::{apply, copy_tree, with};
use proptest::prelude::*;

fn base_tree(root: &Path) {
    fs::create_dir_all(root.join("etc/conf.d")).unwrap();
    fs::create_dir_all(root.join("var/lib/apt/lists")).unwrap();
    fs::write(root.join("etc/hosts"), b"127.0.0.1 localhost\n").unwrap();
    fs::write(root.join("etc/conf.d/a"), b"a=1\n").unwrap();
    fs::write(root.join("var/lib/apt/lists/pkg"), b"Package: x\n").unwrap();
    fs::write(root.join("file"), b"plain\n").unwrap();
    fs::create_dir(root.join("cache")).unwrap();
    fs::write(root.join("cache/old"), b"old").unwrap();
    symlink("hosts", root.join("etc/link")).unwrap();
}

/// Walks `base_tree` before and after `mutate`, with ctimes old enough that `stat` is trusted.
fn diff_after(mutate: impl Fn(&Path), mode: SnapshotMode, ignore: &Ignore) -> Diff {
    let dir = tempfile::tempdir().unwrap();
    base_tree(dir.path());
    // Let the racy window pass, so that only stat decides.
    std::thread::sleep(Duration::from_millis(60));
    let before = snapshot::walk(dir.path(), ignore).unwrap();
    mutate(dir.path());
    let after = snapshot::walk(dir.path(), ignore).unwrap();
    snapshot::compare(&before, &after, mode).unwrap()
}

fn show(d: &Diff) -> String {
    let list = |v: &[std::path::PathBuf]| {
        v.iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        "+[{}] ~[{}] -[{}] opaque[{}]",
        list(&d.added),
        list(&d.modified),
        list(&d.deleted),
        list(&d.opaque)
    )
}

/// Rewrites a file with new content of the same size and puts its mtime back.
fn rewrite_keeping_mtime(path: &Path) {
    let mtime = filetime::FileTime::from_last_modification_time(&fs::metadata(path).unwrap());
    let mut content = fs::read(path).unwrap();
    content[0] ^= 1;
    fs::write(path, content).unwrap();
    filetime::set_file_mtime(path, mtime).unwrap();
}

type Mutation = fn(&Path);

#[test]
fn changes_are_classified_as_docker_would_record_them() {
    let cases: &[(&str, Mutation, SnapshotMode, &str)] = &[
        (
            "nothing",
            |_| {},
            SnapshotMode::Full,
            "+[] ~[] -[] opaque[]",
        ),
        (
            "new file",
            |r| fs::write(r.join("etc/new"), b"n").unwrap(),
            SnapshotMode::Full,
            "+[etc/new] ~[etc] -[] opaque[]",
        ),
        (
            "rewrite keeping mtime, full",
            |r| rewrite_keeping_mtime(&r.join("file")),
            SnapshotMode::Full,
            "+[] ~[file] -[] opaque[]",
        ),
        (
            "rewrite keeping mtime, time",
            |r| rewrite_keeping_mtime(&r.join("file")),
            SnapshotMode::Time,
            "+[] ~[] -[] opaque[]",
        ),
        (
            "chmod, full",
            |r| fs::set_permissions(r.join("file"), fs::Permissions::from_mode(0o600)).unwrap(),
            SnapshotMode::Full,
            "+[] ~[file] -[] opaque[]",
        ),
        (
            "chmod, redo",
            |r| fs::set_permissions(r.join("file"), fs::Permissions::from_mode(0o600)).unwrap(),
            SnapshotMode::Redo,
            "+[] ~[file] -[] opaque[]",
        ),
        (
            "chmod, time",
            |r| fs::set_permissions(r.join("file"), fs::Permissions::from_mode(0o600)).unwrap(),
            SnapshotMode::Time,
            "+[] ~[] -[] opaque[]",
        ),
        (
            "xattr only, full",
            |r| xattr::set(r.join("file"), "user.k", b"v").unwrap(),
            SnapshotMode::Full,
            "+[] ~[file] -[] opaque[]",
        ),
        (
            "xattr only, redo",
            |r| xattr::set(r.join("file"), "user.k", b"v").unwrap(),
            SnapshotMode::Redo,
            "+[] ~[] -[] opaque[]",
        ),
        (
            "deleted file",
            |r| fs::remove_file(r.join("etc/hosts")).unwrap(),
            SnapshotMode::Full,
            "+[] ~[etc] -[etc/hosts] opaque[]",
        ),
        (
            "deleted tree is one whiteout",
            |r| fs::remove_dir_all(r.join("var/lib")).unwrap(),
            SnapshotMode::Full,
            "+[] ~[var] -[var/lib] opaque[]",
        ),
        (
            "directory re-created",
            |r| {
                fs::remove_dir_all(r.join("cache")).unwrap();
                fs::create_dir(r.join("cache")).unwrap();
                fs::write(r.join("cache/new"), b"n").unwrap();
            },
            SnapshotMode::Full,
            "+[cache/new] ~[] -[] opaque[cache]",
        ),
        (
            "file replaced by a directory",
            |r| {
                fs::remove_file(r.join("file")).unwrap();
                fs::create_dir(r.join("file")).unwrap();
            },
            SnapshotMode::Full,
            "+[] ~[] -[] opaque[file]",
        ),
        (
            "directory replaced by a file",
            |r| {
                fs::remove_dir_all(r.join("cache")).unwrap();
                fs::write(r.join("cache"), b"now a file").unwrap();
            },
            SnapshotMode::Full,
            "+[] ~[cache] -[] opaque[]",
        ),
        (
            "symlink retargeted",
            |r| {
                fs::remove_file(r.join("etc/link")).unwrap();
                symlink("conf.d", r.join("etc/link")).unwrap();
            },
            SnapshotMode::Time,
            "+[] ~[etc,etc/link] -[] opaque[]",
        ),
        (
            "new hardlink touches its group",
            |r| fs::hard_link(r.join("file"), r.join("etc/again")).unwrap(),
            SnapshotMode::Full,
            "+[etc/again] ~[etc,file] -[] opaque[]",
        ),
    ];
    for (name, mutate, mode, want) in cases {
        let got = diff_after(mutate, *mode, &snapshot::ignore_nothing());
        assert_eq!(show(&got), *want, "{name}");
    }
}

#[test]
fn ignored_paths_never_show_up() {
    let ignore = snapshot::ignore_paths(["/var/lib", "cache"]);
    let got = diff_after(
        |r| {
            fs::write(r.join("var/lib/apt/lists/new"), b"n").unwrap();
            fs::remove_dir_all(r.join("cache")).unwrap();
        },
        SnapshotMode::Full,
        &ignore,
    );
    assert_eq!(show(&got), "+[] ~[] -[] opaque[]");
}

#[test]
fn racy_files_are_compared_by_content() {
    // No pause after writing: the file is racily clean, so the walk hashed it, and a rewrite
    // that keeps size and mtime is still seen in redo mode (which ignores ctime).
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("f"), b"before").unwrap();
    let before = snapshot::walk(dir.path(), &snapshot::ignore_nothing()).unwrap();
    rewrite_keeping_mtime(&dir.path().join("f"));
    let after = snapshot::walk(dir.path(), &snapshot::ignore_nothing()).unwrap();
    let diff = snapshot::compare(&before, &after, SnapshotMode::Redo).unwrap();
    assert_eq!(show(&diff), "+[] ~[f] -[] opaque[]");
}

#[test]
fn to_changes_writes_whiteouts_opaques_and_parents() {
    let diff = diff_after(
        |r| {
            fs::remove_dir_all(r.join("var/lib/apt")).unwrap();
            fs::remove_dir_all(r.join("cache")).unwrap();
            fs::create_dir(r.join("cache")).unwrap();
            fs::write(r.join("etc/conf.d/b"), b"b").unwrap();
        },
        SnapshotMode::Full,
        &snapshot::ignore_nothing(),
    );
    let changes = diff.to_changes().unwrap();
    let listing: Vec<_> = changes
        .iter()
        .map(|(p, c)| format!("{c:?} {}", p.display()))
        .collect();
    assert_eq!(
        listing,
        [
            "Write cache",
            "Opaque cache/.wh..wh..opq",
            "Write etc",
            "Write etc/conf.d",
            "Write etc/conf.d/b",
            "Write var",
            "Write var/lib",
            "Whiteout var/lib/.wh.apt",
        ]
    );
}

/// One step of a random mutation, on paths made of a few short names.
#[derive(Debug, Clone)]
enum Op {
    Write(String, Vec<u8>),
    Mkdir(String),
    Remove(String),
    Symlink(String, String),
    Chmod(String, u32),
    Recreate(String),
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(vec!["a", "b", "c", "d"]), 1..4)
        .prop_map(|parts| parts.join("/"))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (path(), prop::collection::vec(any::<u8>(), 0..64)).prop_map(|(p, c)| Op::Write(p, c)),
        path().prop_map(Op::Mkdir),
        path().prop_map(Op::Remove),
        (path(), path()).prop_map(|(p, t)| Op::Symlink(p, t)),
        (
            path(),
            prop::sample::select(vec![0o600u32, 0o755, 0o1777, 0o4711])
        )
            .prop_map(|(p, m)| Op::Chmod(p, m)),
        path().prop_map(Op::Recreate),
    ]
}

/// Applies `op` to the tree at `root` where it makes sense, skipping it where it does not.
fn run(root: &Path, op: &Op) {
    let clear = |p: &Path| {
        if let Ok(m) = fs::symlink_metadata(p) {
            if m.is_dir() {
                let _ = fs::remove_dir_all(p);
            } else {
                let _ = fs::remove_file(p);
            }
        }
    };
    let parent_ok = |p: &Path| {
        p.parent()
            .is_some_and(|d| fs::symlink_metadata(d).is_ok_and(|m| m.is_dir()))
    };
    match op {
        Op::Write(p, content) => {
            let p = root.join(p);
            if parent_ok(&p) && !p.is_dir() {
                clear(&p);
                let _ = fs::write(&p, content);
            }
        }
        Op::Mkdir(p) => {
            let p = root.join(p);
            if parent_ok(&p) && fs::symlink_metadata(&p).is_err() {
                let _ = fs::create_dir(&p);
            }
        }
        Op::Remove(p) => clear(&root.join(p)),
        Op::Symlink(p, target) => {
            let p = root.join(p);
            if parent_ok(&p) && fs::symlink_metadata(&p).is_err() {
                let _ = symlink(target, &p);
            }
        }
        Op::Chmod(p, mode) => {
            let p = root.join(p);
            if fs::symlink_metadata(&p).is_ok_and(|m| !m.file_type().is_symlink()) {
                let _ = fs::set_permissions(&p, fs::Permissions::from_mode(*mode));
            }
        }
        Op::Recreate(p) => {
            let p = root.join(p);
            if fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
                let _ = fs::remove_dir_all(&p);
                let _ = fs::create_dir(&p);
                let _ = fs::write(p.join("fresh"), b"fresh");
            }
        }
    }
}

/// Path, kind, mode, content digest and link target.
type Shape = (String, Kind, u32, Option<String>, Option<String>);

/// The parts of a tree that a layer must reproduce exactly.
fn shape(root: &Path) -> Vec<Shape> {
    tree(root)
        .into_iter()
        .map(|(p, n)| (p, n.kind, n.mode, n.content, n.link))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn snapshot_then_apply_gives_the_mutated_tree(
        setup in prop::collection::vec(op(), 1..24),
        mutations in prop::collection::vec(op(), 1..16),
    ) {
        let work = tempfile::tempdir().unwrap();
        let live = work.path().join("live");
        let lower = work.path().join("lower");
        fs::create_dir(&live).unwrap();
        fs::create_dir(&lower).unwrap();
        for op in &setup {
            run(&live, op);
        }
        copy_tree(&live, &lower);
        let before = snapshot::walk(&live, &snapshot::ignore_nothing()).unwrap();
        for op in &mutations {
            run(&live, op);
        }
        let after = snapshot::walk(&live, &snapshot::ignore_nothing()).unwrap();
        let diff = snapshot::compare(&before, &after, SnapshotMode::Full).unwrap();
        let changes = diff.to_changes().unwrap();
        let dest = work.path().join("layer.tar");
        let written = layer::write(&live, &changes, &dest, &with(Compression::Uncompressed)).unwrap();
        apply(&written.path, Compression::Uncompressed, &lower);
        prop_assert_eq!(shape(&lower), shape(&live), "diff: {}", show(&diff));
    }
}
