//! COPY and ADD into a rootfs in a temp dir, one behaviour per case, checked against what
//! BuildKit writes. Owners other than the caller's need root: those tests fail clearly without.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::PathBuf;

use kiln_dockerfile::ignore::Matcher;
use kiln_fs::copy::{Copied, CopyOp, Error, Source, copy, digest};
use kiln_fs::resolve::Root;

struct Fixture {
    _tmp: tempfile::TempDir,
    context: PathBuf,
    rootfs: PathBuf,
}

fn fixture() -> Fixture {
    assert!(
        rustix::process::geteuid().is_root(),
        "these tests set owners and need root"
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let context = tmp.path().join("context");
    let rootfs = tmp.path().join("rootfs");
    fs::create_dir_all(&context).expect("context");
    fs::create_dir_all(&rootfs).expect("rootfs");
    Fixture {
        _tmp: tmp,
        context,
        rootfs,
    }
}

impl Fixture {
    fn file(&self, rel: &str, content: &str) {
        let path = self.context.join(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, content).expect("write");
    }

    fn run(&self, op: &CopyOp, ignore: Option<&[&str]>) -> Result<Copied, Error> {
        let matcher = ignore.map(|p| Matcher::new(p.iter().copied()).expect("patterns"));
        let source = Source::context(Root::open(&self.context).expect("context"), matcher);
        copy(&source, &Root::open(&self.rootfs).expect("rootfs"), op)
    }

    fn out(&self, rel: &str) -> PathBuf {
        self.rootfs.join(rel.trim_start_matches('/'))
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.out(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }
}

fn op(sources: &[&str], dest: &str) -> CopyOp {
    CopyOp {
        sources: sources.iter().map(|s| s.to_string()).collect(),
        dest: dest.to_owned(),
        workdir: PathBuf::from("/"),
        ..CopyOp::default()
    }
}

fn written(copied: &Copied) -> Vec<String> {
    copied
        .changes
        .iter()
        .map(|(p, _)| p.to_string_lossy().into_owned())
        .collect()
}

#[test]
fn destination_rules_follow_buildkit() {
    // (sources, dest, workdir, expected file in the rootfs)
    let cases: &[(&[&str], &str, &str, &str)] = &[
        (&["a.txt"], "/out", "/", "/out"),
        (&["a.txt"], "/out/", "/", "/out/a.txt"),
        (&["a.txt"], "rel/", "/work", "/work/rel/a.txt"),
        (&["a.txt"], ".", "/work", "/work/a.txt"),
        (&["a.txt", "b.txt"], "/multi", "/", "/multi/a.txt"),
        (&["*.txt"], "/glob", "/", "/glob/b.txt"),
        (&["dir"], "/contents", "/", "/contents/inner.txt"),
        (&["dir/"], "/contents2/", "/", "/contents2/inner.txt"),
        (&["../../a.txt"], "/up/", "/", "/up/a.txt"),
    ];
    for (sources, dest, workdir, expected) in cases {
        let f = fixture();
        f.file("a.txt", "a");
        f.file("b.txt", "b");
        f.file("dir/inner.txt", "inner");
        let mut o = op(sources, dest);
        o.workdir = PathBuf::from(workdir);
        f.run(&o, None)
            .unwrap_or_else(|e| panic!("{sources:?} -> {dest}: {e}"));
        assert!(
            f.out(expected).is_file(),
            "{sources:?} -> {dest}: no {expected}"
        );
    }
}

#[test]
fn a_file_copied_onto_an_existing_directory_lands_inside_it() {
    let f = fixture();
    f.file("a.txt", "a");
    fs::create_dir_all(f.out("existing")).expect("mkdir");
    f.run(&op(&["a.txt"], "/existing"), None).expect("copy");
    assert_eq!(f.read("/existing/a.txt"), "a");
}

#[test]
fn missing_sources_are_named_and_empty_wildcards_copy_nothing() {
    let f = fixture();
    f.file("a.txt", "a");
    let err = f
        .run(&op(&["nope.txt"], "/out/"), None)
        .expect_err("missing");
    assert!(
        matches!(&err, Error::NotFound { path } if path == "nope.txt"),
        "{err}"
    );
    let copied = f
        .run(&op(&["*.nothing"], "/out/"), None)
        .expect("empty wildcard");
    assert!(written(&copied).is_empty());
}

#[test]
fn copy_without_chown_is_owned_by_root_and_chown_covers_implicit_parents() {
    let f = fixture();
    f.file("a.txt", "a");
    fs::set_permissions(f.context.join("a.txt"), fs::Permissions::from_mode(0o640)).expect("chmod");
    f.run(&op(&["a.txt"], "/plain/"), None).expect("copy");
    let meta = fs::metadata(f.out("/plain/a.txt")).expect("stat");
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (0, 0, 0o640)
    );

    let mut o = op(&["a.txt"], "/x/y/z/");
    o.chown = Some((1000, 1001));
    let copied = f.run(&o, None).expect("copy");
    for dir in ["/x", "/x/y", "/x/y/z"] {
        let meta = fs::metadata(f.out(dir)).expect("stat");
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o7777),
            (1000, 1001, 0o755),
            "{dir}"
        );
    }
    let meta = fs::metadata(f.out("/x/y/z/a.txt")).expect("stat");
    assert_eq!((meta.uid(), meta.gid()), (1000, 1001));
    assert_eq!(written(&copied), ["x", "x/y", "x/y/z", "x/y/z/a.txt"]);
}

#[test]
fn chmod_applies_to_every_created_file_and_directory_as_buildkit_does() {
    let f = fixture();
    f.file("dir/sub/f.txt", "f");
    fs::set_permissions(f.context.join("dir/sub"), fs::Permissions::from_mode(0o700))
        .expect("chmod");
    let mode = |p: &str| fs::symlink_metadata(f.out(p)).expect("stat").mode() & 0o7777;
    // Without --chmod: implicit directories 0755, copied ones keep their source mode.
    f.run(&op(&["dir"], "/plain/dest"), None).expect("copy");
    assert_eq!(mode("/plain"), 0o755);
    assert_eq!(mode("/plain/dest"), 0o755);
    assert_eq!(mode("/plain/dest/sub"), 0o700);
    assert_eq!(mode("/plain/dest/sub/f.txt"), 0o644);
    // With --chmod: the mode of everything created, implicit parents included.
    fs::create_dir_all(f.out("/existing")).expect("mkdir");
    let mut o = op(&["dir"], "/existing/parent/dest");
    o.chmod = Some("0751".to_owned());
    f.run(&o, None).expect("copy");
    assert_eq!(
        mode("/existing"),
        0o755,
        "an existing directory keeps its mode"
    );
    for path in [
        "/existing/parent",
        "/existing/parent/dest",
        "/existing/parent/dest/sub",
    ] {
        assert_eq!(mode(path), 0o751, "{path}");
    }
    assert_eq!(mode("/existing/parent/dest/sub/f.txt"), 0o751);
    let mut symbolic = op(&["dir"], "/symbolic");
    symbolic.chmod = Some("u=rwX,go=rX".to_owned());
    f.run(&symbolic, None).expect("copy");
    assert_eq!(mode("/symbolic/sub"), 0o755);
    assert_eq!(mode("/symbolic/sub/f.txt"), 0o644);
    let mut bad = op(&["dir"], "/d");
    bad.chmod = Some("u+q".to_owned());
    assert!(matches!(f.run(&bad, None), Err(Error::BadChmod { .. })));
}

#[test]
fn mtimes_are_kept_and_hardlinks_stay_linked() {
    let f = fixture();
    f.file("dir/one", "same");
    fs::hard_link(f.context.join("dir/one"), f.context.join("dir/two")).expect("link");
    let when = filetime::FileTime::from_unix_time(1_000_000_000, 0);
    filetime::set_file_mtime(f.context.join("dir/one"), when).expect("mtime");
    f.run(&op(&["dir"], "/d"), None).expect("copy");
    let one = fs::metadata(f.out("/d/one")).expect("one");
    let two = fs::metadata(f.out("/d/two")).expect("two");
    assert_eq!(one.ino(), two.ino());
    assert_eq!(one.mtime(), 1_000_000_000);
}

#[test]
fn extended_attributes_of_files_are_copied() {
    let f = fixture();
    f.file("bin/tool", "tool");
    xattr::set(f.context.join("bin/tool"), "user.kiln", b"kept").expect("set xattr (ext4 /tmp)");
    f.run(&op(&["bin/tool"], "/usr/bin/"), None).expect("copy");
    let value = xattr::get(f.out("/usr/bin/tool"), "user.kiln").expect("get xattr");
    assert_eq!(value.as_deref(), Some(&b"kept"[..]));
}

#[test]
fn symlinks_are_copied_as_links_and_never_followed_out_of_the_context() {
    let f = fixture();
    let outside = f.context.parent().expect("tmp").join("secret");
    fs::write(&outside, "host secret").expect("secret");
    fs::create_dir_all(f.context.join("dir")).expect("dir");
    symlink(&outside, f.context.join("dir/escape")).expect("symlink");
    symlink("../../../secret", f.context.join("rel-escape")).expect("symlink");
    f.run(&op(&["dir"], "/d"), None).expect("copy dir");
    let target = fs::read_link(f.out("/d/escape")).expect("still a link");
    assert_eq!(target, outside);
    // As a source, the link is followed inside the context, where it names nothing.
    let err = f.run(&op(&["rel-escape"], "/e"), None).expect_err("escape");
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    // A symlink already in the rootfs is followed inside the rootfs, not on the host.
    f.file("a.txt", "a");
    symlink("/", f.out("/hostlink")).expect("symlink");
    f.run(&op(&["a.txt"], "/hostlink/etc-like/"), None)
        .expect("copy");
    assert!(f.out("/etc-like/a.txt").is_file());
}

#[test]
fn dockerignore_hides_paths_and_exceptions_bring_them_back() {
    let f = fixture();
    f.file("keep.txt", "k");
    f.file("secret.key", "s");
    f.file("logs/a.log", "a");
    f.file("logs/important.log", "i");
    f.file("logs/old/a.log", "o");
    let ignore: &[&str] = &["*.key", "logs", "!logs/important.log"];
    f.run(&op(&["."], "/app/"), Some(ignore)).expect("copy");
    assert!(f.out("/app/keep.txt").exists());
    assert!(!f.out("/app/secret.key").exists());
    assert!(!f.out("/app/logs/a.log").exists());
    assert!(f.out("/app/logs/important.log").exists());
    assert!(
        !f.out("/app/logs/old").exists(),
        "a hidden directory with nothing kept"
    );
    let err = f
        .run(&op(&["secret.key"], "/x/"), Some(ignore))
        .expect_err("ignored");
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
}

#[test]
fn exclude_patterns_skip_paths_below_the_source() {
    let f = fixture();
    f.file("dir/a.txt", "a");
    f.file("dir/b.md", "b");
    let mut o = op(&["dir"], "/d");
    o.exclude = vec!["*.md".to_owned()];
    f.run(&o, None).expect("copy");
    assert!(f.out("/d/a.txt").exists());
    assert!(!f.out("/d/b.md").exists());
}

#[test]
fn parents_keep_the_source_path_below_the_root_or_the_pivot() {
    // (sources, dest, files expected in the rootfs)
    let cases: &[(&[&str], &str, &[&str])] = &[
        (
            &["x/a.txt", "y/a.txt"],
            "/p/",
            &["/p/x/a.txt", "/p/y/a.txt"],
        ),
        (&["x/*.txt"], "/p", &["/p/x/a.txt", "/p/x/b.txt"]),
        (&["./x/./deep/c.txt"], "/p/", &["/p/deep/c.txt"]),
        (&["x/deep"], "/p/", &["/p/x/deep/c.txt"]),
    ];
    for (sources, dest, expected) in cases {
        let f = fixture();
        f.file("x/a.txt", "a");
        f.file("x/b.txt", "b");
        f.file("x/deep/c.txt", "c");
        f.file("y/a.txt", "a");
        fs::set_permissions(f.context.join("x"), fs::Permissions::from_mode(0o750)).expect("chmod");
        let mut o = op(sources, dest);
        o.parents = true;
        f.run(&o, None)
            .unwrap_or_else(|e| panic!("{sources:?}: {e}"));
        for path in *expected {
            assert!(f.out(path).is_file(), "{sources:?}: no {path}");
        }
        if sources[0].starts_with("x/") {
            let mode = fs::metadata(f.out("/p/x")).expect("stat").mode() & 0o7777;
            assert_eq!(mode, 0o750, "{sources:?}: parent keeps its source mode");
        }
    }
}

#[test]
fn unsupported_forms_fail_by_name() {
    let f = fixture();
    f.file("a.txt", "a");
    let mut url = op(&["https://user:pw@example.com/f.tar"], "/x/");
    url.add = true;
    let err = f.run(&url, None).expect_err("url");
    assert_eq!(
        err.to_string(),
        "URL source https://example.com/f.tar must be downloaded before it is copied"
    );
    let err = f
        .run(&op(&["git@github.com:o/r.git"], "/x/"), None)
        .expect_err("git");
    assert_eq!(
        err.to_string(),
        "source can't be a URL for COPY: git@github.com:..."
    );
}

fn tar_bytes() -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(5);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(1);
    header.set_cksum();
    builder
        .append_data(&mut header, "pkg/hello.txt", &b"hello"[..])
        .expect("append");
    builder.into_inner().expect("tar")
}

#[test]
fn add_extracts_plain_gzip_zstd_bzip2_and_xz_archives_by_content() {
    let plain = tar_bytes();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).expect("gzip");
    let gz = gz.finish().expect("gzip");
    let zst = zstd::encode_all(&plain[..], 3).expect("zstd");
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    bz.write_all(&plain).expect("bzip2");
    let bz = bz.finish().expect("bzip2");
    let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
    xz.write_all(&plain).expect("xz");
    let xz = xz.finish().expect("xz");
    let inputs = [
        ("plain.bin", plain),
        ("a.gz.weird", gz),
        ("z", zst),
        ("b.tbz", bz),
        ("x.data", xz),
    ];
    for (name, bytes) in inputs {
        let f = fixture();
        fs::write(f.context.join(name), &bytes).expect("archive");
        let mut o = op(&[name], "/opt");
        o.add = true;
        let copied = f
            .run(&o, None)
            .unwrap_or_else(|e| panic!("{name}: {e}: {:?}", std::error::Error::source(&e)));
        assert_eq!(f.read("/opt/pkg/hello.txt"), "hello", "{name}");
        assert!(
            written(&copied).contains(&"opt/pkg/hello.txt".to_owned()),
            "{name}"
        );
        // COPY never extracts.
        let copied = f.run(&op(&[name], "/copied/"), None).expect("copy");
        assert_eq!(
            written(&copied),
            ["copied".to_owned(), format!("copied/{name}")]
        );
    }
}

#[test]
fn add_copies_a_file_that_is_not_an_archive() {
    let f = fixture();
    fs::write(f.context.join("notes.tar"), "just text").expect("write");
    let mut o = op(&["notes.tar"], "/d/");
    o.add = true;
    f.run(&o, None).expect("add");
    assert_eq!(f.read("/d/notes.tar"), "just text");
}

#[test]
fn the_digest_depends_on_content_and_owner_not_mtime() {
    let f = fixture();
    f.file("a.txt", "a");
    let first = f.run(&op(&["a.txt"], "/x/"), None).expect("copy").digest;
    filetime::set_file_mtime(
        f.context.join("a.txt"),
        filetime::FileTime::from_unix_time(5, 0),
    )
    .expect("mtime");
    assert_eq!(
        f.run(&op(&["a.txt"], "/x/"), None).expect("copy").digest,
        first
    );
    let mut owned = op(&["a.txt"], "/x/");
    owned.chown = Some((1, 1));
    assert_ne!(f.run(&owned, None).expect("copy").digest, first);
    f.file("a.txt", "b");
    assert_ne!(
        f.run(&op(&["a.txt"], "/x/"), None).expect("copy").digest,
        first
    );
}

#[test]
fn the_digest_is_known_before_copying_and_matches_the_copy() {
    let f = fixture();
    f.file("dir/a.txt", "a");
    f.file("dir/sub/b.txt", "b");
    fs::hard_link(f.context.join("dir/a.txt"), f.context.join("dir/a-link")).expect("link");
    symlink("a.txt", f.context.join("dir/sym")).expect("symlink");
    fs::write(f.context.join("pkg.tar"), tar_bytes()).expect("archive");
    let mut o = op(&["dir", "pkg.tar"], "/app/");
    o.add = true;
    o.chown = Some((7, 8));
    let source = Source::context(Root::open(&f.context).expect("context"), None);
    let rootfs = Root::open(&f.rootfs).expect("rootfs");
    let before = digest(&source, &rootfs, &o).expect("digest");
    assert_eq!(
        fs::read_dir(&f.rootfs).expect("rootfs").count(),
        0,
        "nothing written"
    );
    let copied = copy(&source, &rootfs, &o).expect("copy");
    assert_eq!(copied.digest, before);
    assert!(f.out("/app/pkg/hello.txt").is_file());
}

#[test]
fn copy_from_a_stage_follows_links_inside_that_stage() {
    let f = fixture();
    let stage = f.context.parent().expect("tmp").join("stage");
    fs::create_dir_all(stage.join("usr/bin")).expect("stage");
    fs::write(stage.join("usr/bin/tool"), "tool").expect("tool");
    symlink("/usr/bin/tool", stage.join("tool-link")).expect("link");
    let source = Source::stage(Root::open(&stage).expect("stage"));
    let dest = Root::open(&f.rootfs).expect("rootfs");
    copy(&source, &dest, &op(&["/tool-link"], "/bin/")).expect("copy");
    assert_eq!(f.read("/bin/tool-link"), "tool");
}

/// Serves one canned answer per path on 127.0.0.1: `/dir/file.txt` with `Last-Modified`,
/// `/` without, 404 for the rest. Returns the port.
fn serve_http() -> u16 {
    use std::io::{BufRead, BufReader};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let target = request.split_whitespace().nth(1).unwrap_or("/");
            let path = target.split('?').next().unwrap_or(target);
            let (status, extra) = match path {
                "/dir/file.txt" => ("200 OK", "Last-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\n"),
                "/" => ("200 OK", ""),
                _ => ("404 Not Found", ""),
            };
            let body = "body\n";
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body.as_bytes());
        }
    });
    port
}

fn fetch(
    url: &str,
    dir: &std::path::Path,
    checksum: Option<&str>,
) -> Result<kiln_fs::fetch::Fetched, kiln_fs::fetch::Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = kiln_fs::fetch::client().expect("client");
    let checksum: Option<kiln_oci::Digest> = checksum.map(|c| c.parse().expect("digest"));
    runtime.block_on(kiln_fs::fetch::fetch(&client, url, dir, checksum.as_ref()))
}

#[test]
fn fetch_writes_the_url_file_with_mode_0600_and_the_last_modified_time() {
    let port = serve_http();
    let tmp = tempfile::tempdir().expect("tempdir");
    let got = fetch(
        &format!("http://user:pw@127.0.0.1:{port}/dir/file.txt?x=1"),
        tmp.path(),
        None,
    )
    .expect("fetched");
    assert_eq!(got.name, "file.txt");
    assert_eq!(got.path, tmp.path().join("file.txt"));
    assert_eq!(fs::read_to_string(&got.path).expect("read"), "body\n");
    let meta = fs::metadata(&got.path).expect("stat");
    assert_eq!(meta.mode() & 0o7777, 0o600);
    assert_eq!(meta.mtime(), 1_445_412_480);
    assert_eq!(got.digest, kiln_oci::Digest::of(b"body\n"));

    let unnamed = fetch(
        &format!("http://127.0.0.1:{port}/"),
        &tmp.path().join("u"),
        None,
    )
    .expect("fetched");
    assert_eq!(unnamed.name, "__unnamed__");
    let meta = fs::metadata(&unnamed.path).expect("stat");
    assert_eq!(
        meta.mtime(),
        0,
        "no Last-Modified is the epoch, as in BuildKit"
    );
}

#[test]
fn fetch_errors_name_the_url_without_credentials_and_the_status_or_digests() {
    let port = serve_http();
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = fetch(
        &format!("http://user:secret@127.0.0.1:{port}/missing"),
        tmp.path(),
        None,
    )
    .expect_err("404");
    assert_eq!(
        err.to_string(),
        format!("GET http://127.0.0.1:{port}/missing: HTTP status 404 Not Found")
    );

    let wrong = format!("sha256:{}", "0".repeat(64));
    let err = fetch(
        &format!("http://127.0.0.1:{port}/dir/file.txt"),
        tmp.path(),
        Some(&wrong),
    )
    .expect_err("mismatch");
    assert_eq!(
        err.to_string(),
        format!(
            "checksum mismatch for http://127.0.0.1:{port}/dir/file.txt: expected {wrong}, got {}",
            kiln_oci::Digest::of(b"body\n")
        )
    );
    let right = kiln_oci::Digest::of(b"body\n").to_string();
    fetch(
        &format!("http://127.0.0.1:{port}/dir/file.txt"),
        &tmp.path().join("ok"),
        Some(&right),
    )
    .expect("a matching checksum passes");

    let err = fetch("http://127.0.0.1:1/refused", tmp.path(), None).expect_err("refused");
    assert_eq!(err.to_string(), "GET http://127.0.0.1:1/refused failed");
}
