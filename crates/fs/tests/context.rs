//! Opening build contexts: directories, local tar archives, sub paths, ignore files, and the
//! remote kinds that are refused by name.

use std::fs;
use std::io::Write;
use std::path::PathBuf;

use kiln_fs::context::{Context, ContextOptions, Error};
use kiln_fs::copy::{CopyOp, copy};
use kiln_fs::resolve::Root;

fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1);
        header.set_cksum();
        builder
            .append_data(&mut header, path, *data)
            .expect("append");
    }
    builder.into_inner().expect("tar")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).expect("gzip");
    gz.finish().expect("gzip")
}

#[test]
fn directory_contexts_open_with_or_without_the_dir_scheme() {
    let tmp = tempfile::tempdir().expect("tempdir");
    fs::create_dir_all(tmp.path().join("app/sub")).expect("mkdir");
    let plain = tmp.path().join("app");
    for spec in [
        plain.display().to_string(),
        format!("dir://{}", plain.display()),
    ] {
        let ctx = Context::open(&spec, &ContextOptions::default()).expect("open");
        assert_eq!(ctx.dir(), plain);
    }
    let options = ContextOptions {
        sub_path: Some("sub".to_owned()),
        ..ContextOptions::default()
    };
    let ctx = Context::open(&plain.display().to_string(), &options).expect("sub path");
    assert_eq!(ctx.dir(), plain.join("sub"));
}

#[test]
fn sub_paths_cannot_leave_the_context() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ctx_dir = tmp.path().join("ctx");
    fs::create_dir_all(&ctx_dir).expect("mkdir");
    std::os::unix::fs::symlink("/", ctx_dir.join("up")).expect("symlink");
    for sub in ["../", "/etc", "up"] {
        let options = ContextOptions {
            sub_path: Some(sub.to_owned()),
            ..ContextOptions::default()
        };
        let err = Context::open(&ctx_dir.display().to_string(), &options).expect_err(sub);
        assert!(matches!(err, Error::SubPath { .. }), "{sub}: {err}");
    }
}

#[test]
fn tar_contexts_are_extracted_and_removed_on_drop() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let tarball = tmp.path().join("context.tar.gz");
    fs::write(
        &tarball,
        gzip(&archive(&[
            ("Dockerfile", b"FROM scratch"),
            ("src/a.txt", b"a"),
        ])),
    )
    .expect("write");
    let options = ContextOptions {
        work_dir: Some(tmp.path().to_owned()),
        ..ContextOptions::default()
    };
    let ctx = Context::open(&format!("tar://{}", tarball.display()), &options).expect("open");
    let dir = ctx.dir().to_owned();
    assert_eq!(fs::read(dir.join("src/a.txt")).expect("read"), b"a");
    let rootfs = tmp.path().join("rootfs");
    fs::create_dir_all(&rootfs).expect("rootfs");
    let op = CopyOp {
        sources: vec!["src".to_owned()],
        dest: "/app/".to_owned(),
        workdir: PathBuf::from("/"),
        ..CopyOp::default()
    };
    let source = ctx.source(None).expect("source");
    copy(&source, &Root::open(&rootfs).expect("rootfs"), &op).expect("copy");
    assert_eq!(fs::read(rootfs.join("app/a.txt")).expect("read"), b"a");
    drop(source);
    drop(ctx);
    assert!(!dir.exists(), "extracted context is removed");
}

#[test]
fn device_entries_in_a_context_archive_are_refused() {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Char);
    header.set_size(0);
    header.set_mode(0o600);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(1);
    header.set_device_major(1).expect("major");
    header.set_device_minor(3).expect("minor");
    header.set_cksum();
    builder
        .append_data(&mut header, "null", &[][..])
        .expect("append");
    let bytes = builder.into_inner().expect("tar");
    let err =
        Context::from_tar(&bytes[..], "dev.tar", &ContextOptions::default()).expect_err("device");
    assert!(matches!(err, Error::Extract { .. }), "{err}");
}

#[test]
fn remote_contexts_are_refused_by_name_without_credentials() {
    let cases = [
        (
            "git://github.com/o/r.git",
            "git build contexts are not supported yet: git://github.com/o/r.git",
        ),
        (
            "https://user:token@example.com/ctx.tar.gz",
            "https build contexts are not supported yet: https://example.com/ctx.tar.gz",
        ),
        (
            "s3://bucket/ctx.tar.gz",
            "s3 build contexts are not supported yet: s3://bucket/ctx.tar.gz",
        ),
        (
            "gs://bucket/ctx.tar.gz",
            "gs build contexts are not supported yet: gs://bucket/ctx.tar.gz",
        ),
        (
            "az://acct/ctx.tar.gz",
            "az build contexts are not supported yet: az://acct/ctx.tar.gz",
        ),
    ];
    for (spec, message) in cases {
        let err = Context::open(spec, &ContextOptions::default()).expect_err(spec);
        assert_eq!(err.to_string(), message);
    }
}

#[test]
fn the_dockerfile_specific_ignore_file_wins() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ctx_dir = tmp.path().join("ctx");
    fs::create_dir_all(&ctx_dir).expect("mkdir");
    fs::write(ctx_dir.join(".dockerignore"), "*.general\n").expect("general");
    fs::write(ctx_dir.join("Dockerfile"), "FROM scratch\n").expect("dockerfile");
    let ctx =
        Context::open(&ctx_dir.display().to_string(), &ContextOptions::default()).expect("open");
    let general = ctx
        .ignore_for(&ctx_dir.join("Dockerfile"))
        .expect("read")
        .expect("some");
    assert!(general.matches("x.general"));
    fs::write(ctx_dir.join("Dockerfile.dockerignore"), "*.specific\n").expect("specific");
    let specific = ctx
        .ignore_for(&ctx_dir.join("Dockerfile"))
        .expect("read")
        .expect("some");
    assert!(specific.matches("x.specific"));
    assert!(!specific.matches("x.general"));
}
