use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::Path;

use super::*;

/// A host directory holding `rootfs/` and, beside it, `outside/canary`, which no operation on the
/// root may touch.
struct Fixture {
    _tmp: tempfile::TempDir,
    rootfs: PathBuf,
    outside: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().expect("tempdir");
    let rootfs = tmp.path().join("rootfs");
    let outside = tmp.path().join("outside");
    fs::create_dir_all(rootfs.join("etc")).expect("mkdir");
    fs::create_dir_all(rootfs.join("dir/sub")).expect("mkdir");
    fs::create_dir_all(&outside).expect("mkdir");
    fs::write(outside.join("canary"), b"canary").expect("write");
    fs::write(rootfs.join("file"), b"file").expect("write");
    symlink("/etc", rootfs.join("abs")).expect("symlink");
    symlink("../../../../../etc", rootfs.join("dir/rel")).expect("symlink");
    symlink("..", rootfs.join("dir/sub/up")).expect("symlink");
    symlink("loop", rootfs.join("loop")).expect("symlink");
    symlink(&outside, rootfs.join("host")).expect("symlink");
    symlink("/", rootfs.join("slash")).expect("symlink");
    Fixture {
        _tmp: tmp,
        rootfs,
        outside,
    }
}

fn assert_outside_untouched(f: &Fixture) {
    let names: Vec<_> = fs::read_dir(&f.outside)
        .expect("read outside")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, vec![OsString::from("canary")], "outside dir changed");
    assert_eq!(
        fs::read(f.outside.join("canary")).expect("canary"),
        b"canary"
    );
}

/// Where the host path `p` lands when taken as a path inside the rootfs.
fn in_root(p: &Path) -> String {
    p.strip_prefix("/")
        .expect("absolute")
        .to_string_lossy()
        .into_owned()
}

const MODES: [WalkMode; 2] = [WalkMode::Kernel, WalkMode::Components];

#[test]
fn create_file_follows_symlinks_inside_the_root() {
    // (path written, where it must land relative to the rootfs)
    let cases = [
        ("abs/a", "etc/a"),
        ("/dir/rel/b", "etc/b"),
        ("../../../c", "c"),
        ("dir/sub/up/d", "dir/d"),
        // `..` is lexical, as in Docker: it removes `up` and `sub`, not what `up` points at.
        ("dir/sub/up/../../e", "dir/e"),
        ("slash/etc/f", "etc/f"),
        ("new/parents/g", "new/parents/g"),
    ];
    for mode in MODES {
        for (path, landed) in cases {
            let f = fixture();
            let root = Root::open_with(&f.rootfs, mode).expect("open root");
            let mut file = root.create_file(path, 0o644).expect(path);
            file.write_all(b"x").expect("write");
            assert_eq!(
                fs::read(f.rootfs.join(landed)).expect(landed),
                b"x",
                "{path} in {mode:?}"
            );
            assert_outside_untouched(&f);
        }
    }
}

#[test]
fn walk_errors_name_the_path() {
    let cases = [
        ("loop/x", libc::ELOOP),
        ("file/x", libc::ENOTDIR),
        ("missing/x", libc::ENOENT),
    ];
    for mode in MODES {
        for (path, errno) in cases {
            let f = fixture();
            let root = Root::open_with(&f.rootfs, mode).expect("open root");
            let err = root.open_parent(path).expect_err(path);
            match &err {
                Error::Io {
                    path: p, source, ..
                } => {
                    assert_eq!(p, &Path::new("/").join(path), "{mode:?}");
                    assert_eq!(source.raw_os_error(), Some(errno), "{path} {mode:?}");
                }
                other => panic!("unexpected {other:?}"),
            }
            assert!(err.to_string().contains(path), "{err}");
        }
    }
}

#[test]
fn last_component_symlink_is_replaced_not_followed() {
    for mode in MODES {
        let f = fixture();
        let root = Root::open_with(&f.rootfs, mode).expect("open root");
        root.create_file("host", 0o600)
            .expect("create over symlink");
        assert!(f.rootfs.join("host").is_file());
        root.symlink("/nowhere", "abs")
            .expect("symlink over symlink");
        assert_eq!(
            fs::read_link(f.rootfs.join("abs")).expect("readlink"),
            Path::new("/nowhere")
        );
        assert!(f.rootfs.join("etc").is_dir(), "target of old link kept");
        assert_outside_untouched(&f);
    }
}

#[test]
fn hardlink_to_a_symlink_links_the_symlink_itself() {
    for mode in MODES {
        let f = fixture();
        let root = Root::open_with(&f.rootfs, mode).expect("open root");
        root.hardlink("host", "dir/link").expect("hardlink");
        let meta = fs::symlink_metadata(f.rootfs.join("dir/link")).expect("lstat");
        assert!(meta.file_type().is_symlink());
        assert_eq!(meta.nlink(), 2);
        root.hardlink("/abs/../file", "dir/h2")
            .expect("hardlink via ..");
        assert_eq!(fs::read(f.rootfs.join("dir/h2")).expect("read"), b"file");
        assert_outside_untouched(&f);
    }
}

#[test]
fn remove_all_removes_trees_and_ignores_missing_paths() {
    for mode in MODES {
        let f = fixture();
        let root = Root::open_with(&f.rootfs, mode).expect("open root");
        root.remove_all("dir").expect("remove dir");
        assert!(!f.rootfs.join("dir").exists());
        root.remove_all("missing/x").expect("missing");
        root.remove_all("host").expect("remove symlink");
        assert!(fs::symlink_metadata(f.rootfs.join("host")).is_err());
        assert!(matches!(root.remove_all("/"), Err(Error::IsRoot { .. })));
        assert_outside_untouched(&f);
    }
}

#[test]
fn create_dir_all_keeps_symlinked_directories() {
    for mode in MODES {
        let f = fixture();
        let root = Root::open_with(&f.rootfs, mode).expect("open root");
        root.create_dir_all("abs/x/y", 0o755).expect("mkdir");
        assert!(f.rootfs.join("etc/x/y").is_dir());
        assert!(
            fs::symlink_metadata(f.rootfs.join("abs"))
                .expect("lstat")
                .file_type()
                .is_symlink()
        );
        // `host` points at a host path that does not exist inside the rootfs: like `mkdir -p`
        // in a chroot, this fails rather than leaving the rootfs.
        root.create_dir_all("host/z", 0o755)
            .expect_err("dangling link");
        root.create_file("host/canary", 0o644)
            .expect_err("dangling link");
        assert!(!f.rootfs.join(in_root(&f.outside)).exists());
        assert_outside_untouched(&f);
    }
}

#[test]
fn set_metadata_sets_mode_times_and_owner() {
    let f = fixture();
    let root = Root::open(&f.rootfs).expect("open root");
    let meta = Metadata {
        uid: rustix::process::geteuid().as_raw(),
        gid: rustix::process::getegid().as_raw(),
        mode: 0o4751,
        mtime: Some((1_000_000_000, 5)),
        xattrs: vec![],
    };
    root.set_metadata("file", &meta).expect("set");
    let st = fs::metadata(f.rootfs.join("file")).expect("stat");
    assert_eq!(st.mode() & 0o7777, 0o4751);
    assert_eq!((st.mtime(), st.mtime_nsec()), (1_000_000_000, 5));
    root.set_metadata("host", &meta).expect("set on symlink");
    let st = fs::symlink_metadata(f.rootfs.join("host")).expect("lstat");
    assert_eq!(st.mtime(), 1_000_000_000);
    assert_ne!(
        fs::metadata(&f.outside).expect("stat").mode() & 0o7777,
        0o4751
    );
}

#[test]
fn mknod_creates_fifos() {
    let f = fixture();
    let root = Root::open(&f.rootfs).expect("open root");
    root.mknod("dir/fifo", NodeKind::Fifo, 0o640)
        .expect("mkfifo");
    let meta = Metadata {
        mode: 0o640,
        ..Metadata::default()
    };
    let parent = root.open_parent("dir/fifo").expect("parent");
    parent
        .open_node()
        .expect("node")
        .set_mode(meta.mode)
        .expect("chmod");
    let st = fs::symlink_metadata(f.rootfs.join("dir/fifo")).expect("lstat");
    use std::os::unix::fs::FileTypeExt;
    assert!(st.file_type().is_fifo());
    assert_eq!(st.mode() & 0o7777, 0o640);
}

#[test]
fn clean_is_lexical_and_clamped_at_root() {
    let cases: [(&str, &[&str]); 6] = [
        ("/a/b", &["a", "b"]),
        ("./a/./b/", &["a", "b"]),
        ("a/../../b", &["b"]),
        ("../../..", &[]),
        ("", &[]),
        ("//a//b", &["a", "b"]),
    ];
    for (input, expected) in cases {
        let got: Vec<&str> = clean(Path::new(input))
            .iter()
            .map(|c| c.to_str().expect("utf8"))
            .collect();
        assert_eq!(got, expected, "{input}");
    }
}

#[test]
fn open_file_and_read_dir_follow_links_inside_the_root() {
    for mode in MODES {
        let f = fixture();
        fs::write(f.rootfs.join("etc/hosts"), b"in root").expect("write");
        let root = Root::open_with(&f.rootfs, mode).expect("open root");
        let mut text = String::new();
        root.open_file("/abs/hosts")
            .expect("open")
            .read_to_string(&mut text)
            .expect("read");
        assert_eq!(text, "in root", "{mode:?}");
        let err = root.open_file("host/canary").expect_err("dangling in root");
        assert!(err.to_string().contains("/host/canary"), "{err}");
        let mut names = root.read_dir("dir/sub/up").expect("read_dir");
        names.sort();
        assert_eq!(
            names,
            [OsString::from("rel"), OsString::from("sub")],
            "{mode:?}"
        );
        assert_outside_untouched(&f);
    }
}
