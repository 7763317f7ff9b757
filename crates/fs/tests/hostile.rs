//! The hostile-archive corpus: archives built to escape the rootfs, exhaust memory or confuse the
//! parser. Each is refused with an error naming the entry, or contained inside the rootfs; after
//! each, a canary file beside the rootfs must be exactly as it was.

mod extract_support;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use extract_support::*;
use kiln_fs::extract::{self, Error, Options, Refusal, Source};
use kiln_fs::resolve::{Root, WalkMode};

/// What a case must end in.
enum Expect {
    /// Refused for this reason, naming this entry.
    Refused(&'static str, fn(&Refusal) -> bool),
    /// Any error whose message contains this text.
    Fails(&'static str),
    /// Extracts; the closure checks where things landed inside the rootfs.
    Contained(fn(&Path)),
}

struct Case {
    name: &'static str,
    source: Source,
    /// Builds the archive; gets the host path of the canary's directory.
    archive: fn(&Path) -> Vec<u8>,
    expect: Expect,
}

fn host(dir: &Path, rest: &str) -> Vec<u8> {
    let mut p = dir.as_os_str().as_encoded_bytes().to_vec();
    p.extend_from_slice(rest.as_bytes());
    p
}

fn cases() -> Vec<Case> {
    use Expect::*;
    use Source::{Context, Layer};
    vec![
        Case {
            name: "dotdot traversal",
            source: Layer,
            archive: |_| Tar::with([file("../outside/canary", "pwned")]),
            expect: Refused("../outside/canary", |r| *r == Refusal::ParentComponent),
        },
        Case {
            name: "dotdot in the middle",
            source: Layer,
            archive: |_| Tar::with([file("a/../../outside/canary", "pwned")]),
            expect: Refused("a/../../outside/canary", |r| *r == Refusal::ParentComponent),
        },
        Case {
            name: "absolute path",
            source: Layer,
            archive: |o| Tar::with([file(host(o, "/canary"), "pwned")]),
            expect: Refused("/", |r| *r == Refusal::AbsolutePath),
        },
        Case {
            name: "relative symlink escape then write",
            source: Layer,
            archive: |_| {
                Tar::with([
                    symlink("evil", "../../../../../../outside"),
                    file("evil/canary", "pwned"),
                ])
            },
            expect: Fails("evil/canary"),
        },
        Case {
            name: "absolute host symlink then write",
            source: Layer,
            archive: |o| {
                Tar::with([
                    symlink("evil", o.as_os_str().as_encoded_bytes()),
                    file("evil/canary", "pwned"),
                ])
            },
            expect: Fails("evil/canary"),
        },
        Case {
            name: "symlink to / then write",
            source: Layer,
            archive: |o| {
                Tar::with([
                    symlink("evil", "../../.."),
                    file(
                        [b"evil".as_slice(), &host(o, "/canary")].concat(),
                        "contained",
                    ),
                ])
            },
            expect: Contained(|r| assert_eq!(find_canary(r), Some(b"contained".to_vec()))),
        },
        Case {
            name: "symlink to root dir then write is contained",
            source: Layer,
            archive: |_| {
                Tar::with([
                    symlink("evil", "../../.."),
                    file("evil/outside-canary", "contained"),
                ])
            },
            expect: Contained(|r| {
                assert_eq!(
                    fs::read(r.join("outside-canary")).expect("contained"),
                    b"contained"
                )
            }),
        },
        Case {
            name: "context symlink then write through it",
            source: Context,
            archive: |_| Tar::with([symlink("evil", "/etc"), file("evil/passwd", "pwned")]),
            expect: Refused("evil/passwd", |r| {
                matches!(r, Refusal::WriteThroughSymlink { .. })
            }),
        },
        Case {
            name: "symlink replaced by a file is not written through",
            source: Layer,
            archive: |o| {
                Tar::with([
                    symlink("evil", host(o, "/canary")),
                    file("evil", "replaced"),
                ])
            },
            expect: Contained(|r| assert_eq!(fs::read(r.join("evil")).expect("file"), b"replaced")),
        },
        Case {
            name: "hardlink with dotdot target",
            source: Layer,
            archive: |_| Tar::with([hardlink("h", "../outside/canary")]),
            expect: Refused("h", |r| matches!(r, Refusal::LinkOutside { .. })),
        },
        Case {
            name: "hardlink to an absolute host path",
            source: Layer,
            archive: |o| Tar::with([hardlink("h", host(o, "/canary"))]),
            expect: Fails("\"h\""),
        },
        Case {
            name: "hardlink through an escaping symlink",
            source: Layer,
            archive: |o| {
                Tar::with([
                    symlink("evil", o.as_os_str().as_encoded_bytes()),
                    hardlink("h", "evil/canary"),
                ])
            },
            expect: Fails("\"h\""),
        },
        Case {
            name: "hardlink to a directory",
            source: Layer,
            archive: |_| Tar::with([dir("d"), hardlink("h", "d")]),
            expect: Fails("\"h\""),
        },
        Case {
            name: "entry larger than its header",
            source: Layer,
            archive: |_| {
                let mut t = Tar::new();
                let m = file("small", "x".repeat(2000));
                let mut h = m.clone();
                h.size = Some(10);
                t.add(&h);
                t.finish()
            },
            expect: Fails("after entry small"),
        },
        Case {
            name: "entry shorter than its header",
            source: Layer,
            archive: |_| {
                let mut t = Tar::new();
                t.raw(
                    &header(b"big", b'0', b"", 0o644, 0, 0, 0, 1 << 20, (0, 0)),
                    b"only this",
                );
                t.finish()[..1024].to_vec()
            },
            expect: Fails("\"big\""),
        },
        Case {
            name: "absurd base-256 size",
            source: Layer,
            archive: |_| {
                let mut t = Tar::new();
                t.raw(
                    &header(b"huge", b'0', b"", 0o644, 0, 0, 0, 1 << 62, (0, 0)),
                    b"",
                );
                t.finish()
            },
            expect: Fails("\"huge\""),
        },
        Case {
            name: "absurd pax header size",
            source: Layer,
            archive: |_| {
                let mut t = Tar::new();
                t.raw(
                    &header(b"PaxHeaders/x", b'x', b"", 0o644, 0, 0, 0, 1 << 40, (0, 0)),
                    b"",
                );
                t.finish()
            },
            expect: Refused("extension header at the start", |r| {
                matches!(r, Refusal::ExtensionTooLarge { .. })
            }),
        },
        Case {
            name: "absurd gnu long name size",
            source: Layer,
            archive: |_| {
                let mut t = Tar::new();
                t.add(&file("first", "1"));
                t.raw(
                    &header(b"././@LongLink", b'L', b"", 0o644, 0, 0, 0, 1 << 30, (0, 0)),
                    b"",
                );
                t.finish()
            },
            expect: Refused("extension header after first", |r| {
                matches!(r, Refusal::ExtensionTooLarge { .. })
            }),
        },
        Case {
            name: "device in a context archive",
            source: Context,
            archive: |_| Tar::with([device(b'3', "dev/mem", 1, 1)]),
            expect: Refused("dev/mem", |r| *r == Refusal::DeviceInContext),
        },
        Case {
            name: "nul in a pax path",
            source: Layer,
            archive: |_| {
                let mut m = file("benign", "x");
                m.pax
                    .push(("path".into(), b"a\0/../../outside/canary".to_vec()));
                Tar::with([m])
            },
            expect: Refused("a", |r| *r == Refusal::NulInName),
        },
        Case {
            name: "pax path overriding a benign name",
            source: Layer,
            archive: |_| {
                let mut m = file("benign", "x");
                m.pax
                    .push(("path".into(), b"../../outside/canary".to_vec()));
                Tar::with([m])
            },
            expect: Refused("../../outside/canary", |r| *r == Refusal::ParentComponent),
        },
        Case {
            name: "gnu long name with dotdot",
            source: Layer,
            archive: |_| {
                let mut m = file(format!("{}/../../../outside/canary", "x".repeat(120)), "x");
                m.gnu_long_name = true;
                Tar::with([m])
            },
            expect: Refused("../outside/canary", |r| *r == Refusal::ParentComponent),
        },
        Case {
            name: "pax linkpath with dotdot",
            source: Layer,
            archive: |_| {
                let mut m = hardlink("h", "benign");
                m.pax
                    .push(("linkpath".into(), b"../outside/canary".to_vec()));
                Tar::with([m])
            },
            expect: Refused("h", |r| matches!(r, Refusal::LinkOutside { .. })),
        },
        Case {
            name: "whiteout of dotdot",
            source: Layer,
            archive: |_| Tar::with([file("sub/.wh...", "")]),
            expect: Refused("sub/.wh...", |r| *r == Refusal::InvalidWhiteout),
        },
        Case {
            name: "whiteout through an escaping symlink",
            source: Layer,
            archive: |o| {
                Tar::with([
                    symlink("evil", o.as_os_str().as_encoded_bytes()),
                    file("evil/.wh.canary", ""),
                ])
            },
            expect: Contained(|_| {}),
        },
        Case {
            name: "opaque whiteout through an escaping symlink",
            source: Layer,
            archive: |o| {
                Tar::with([
                    symlink("evil", o.as_os_str().as_encoded_bytes()),
                    file("evil/.wh..wh..opq", ""),
                ])
            },
            expect: Contained(|_| {}),
        },
        Case {
            name: "whiteout with dotdot path",
            source: Layer,
            archive: |_| Tar::with([file("../outside/.wh.canary", "")]),
            expect: Refused("../outside/.wh.canary", |r| *r == Refusal::ParentComponent),
        },
        Case {
            name: "symlink loop then write",
            source: Layer,
            archive: |_| Tar::with([symlink("a", "b"), symlink("b", "a"), file("a/x", "x")]),
            expect: Fails("\"a/x\""),
        },
        Case {
            name: "chained symlinks climbing out",
            source: Layer,
            archive: |o| {
                Tar::with([
                    symlink("a", "b/../.."),
                    symlink("b", "../../.."),
                    dir("c"),
                    file([b"a".as_slice(), &host(o, "/canary")].concat(), "x"),
                ])
            },
            expect: Contained(|r| assert_eq!(find_canary(r), Some(b"x".to_vec()))),
        },
        Case {
            name: "bad header checksum",
            source: Layer,
            archive: |_| {
                let mut h = header(b"f", b'0', b"", 0o644, 0, 0, 0, 0, (0, 0));
                h[148] = b'7';
                let mut t = Tar::new();
                t.add(&file("ok", "ok")).raw(&h, b"");
                t.finish()
            },
            expect: Fails("after entry ok"),
        },
        Case {
            name: "pax size disagreeing with the header",
            source: Layer,
            archive: |_| {
                let mut m = file("f", "data");
                m.pax.push(("size".into(), b"0".to_vec()));
                Tar::with([m])
            },
            expect: Refused("f", |r| matches!(r, Refusal::PaxSizeMismatch { .. })),
        },
        Case {
            name: "gnu sparse entry",
            source: Layer,
            archive: |_| Tar::with([Member::new(b'S', "sparse")]),
            expect: Refused("sparse", |r| *r == Refusal::UnsupportedType(b'S')),
        },
        Case {
            name: "extension header at the end",
            source: Layer,
            archive: |_| {
                let mut t = Tar::new();
                t.raw(
                    &header(b"././@LongLink", b'L', b"", 0o644, 0, 0, 0, 4, (0, 0)),
                    b"abc\0",
                );
                t.finish()
            },
            expect: Fails("malformed archive"),
        },
    ]
}

/// The state of the canary's directory and of the directory holding the rootfs.
fn snapshot(outside: &Path, parent: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for dir in [outside, parent] {
        // The rootfs itself changes; everything else must not.
        let mut names: Vec<PathBuf> = fs::read_dir(dir)
            .expect("read_dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| !p.ends_with("rootfs"))
            .collect();
        names.sort();
        for p in names {
            let m = fs::symlink_metadata(&p).expect("lstat");
            lines.push(format!(
                "{} {:o} {} {} {}",
                p.display(),
                m.mode(),
                m.nlink(),
                m.size(),
                m.mtime_nsec()
            ));
        }
    }
    lines.push(String::from_utf8(fs::read(outside.join("canary")).expect("canary")).expect("utf8"));
    lines
}

/// Every case, with the kernel's `openat2` walk and with the component walk used where the
/// kernel has none.
#[test]
fn hostile_archives_are_refused_or_contained() {
    assert!(cases().len() >= 20);
    for mode in [WalkMode::Kernel, WalkMode::Components] {
        for case in cases() {
            run_case(&case, mode);
        }
    }
}

fn run_case(case: &Case, mode: WalkMode) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let rootfs = tmp.path().join("rootfs");
    let outside = tmp.path().join("outside");
    fs::create_dir(&rootfs).expect("mkdir");
    fs::create_dir(&outside).expect("mkdir");
    fs::write(outside.join("canary"), "canary").expect("canary");
    let before = snapshot(&outside, tmp.path());
    let archive = (case.archive)(&outside);
    let options = Options {
        source: case.source,
        ..Options::default()
    };
    let root = Root::open_with(&rootfs, mode).expect("root");
    let result = extract::extract_layer(&root, &archive[..], &options);
    let name = format!("{} ({mode:?} walk)", case.name);
    match (&case.expect, result) {
        (
            Expect::Refused(entry, reason),
            Err(Error::Refused {
                entry: got,
                reason: why,
            }),
        ) => {
            assert!(
                got.contains(entry),
                "{name}: refused entry {got:?}, expected {entry:?}"
            );
            assert!(reason(&why), "{name}: refused for {why:?}");
        }
        (Expect::Fails(text), Err(e)) => {
            let chain = error_chain(&e);
            assert!(
                chain.contains(text),
                "{name}: error {chain:?} does not mention {text:?}"
            );
        }
        (Expect::Contained(check), Ok(_)) => check(&rootfs),
        (_, Err(e)) => panic!("{name}: unexpected error {}", error_chain(&e)),
        (_, Ok(_)) => panic!("{name}: extraction succeeded"),
    }
    assert_eq!(
        snapshot(&outside, tmp.path()),
        before,
        "{name}: something outside the rootfs changed"
    );
}

/// The content of a file named `canary` somewhere inside the rootfs.
fn find_canary(rootfs: &Path) -> Option<Vec<u8>> {
    walkdir::WalkDir::new(rootfs)
        .into_iter()
        .filter_map(Result::ok)
        .find(|e| e.file_name() == "canary" && e.file_type().is_file())
        .map(|e| fs::read(e.path()).expect("read canary copy"))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
