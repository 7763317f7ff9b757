//! The comparison on small hand-made layers and images.

use std::io::Write;

use aws_lc_rs::digest::{SHA256, digest};
use serde_json::json;

use super::*;

/// One tar entry of a hand-made layer.
enum E<'a> {
    File(&'a str, u32, &'a [u8]),
    Owned(&'a str, u64, u64),
    Dir(&'a str, u32),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    Xattr(&'a str, &'a str, &'a [u8]),
    Fifo(&'a str),
}

fn header(path: &str, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_path(path).expect("short path");
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h
}

fn layer(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        match e {
            E::File(path, mode, data) => {
                let mut h = header(path, tar::EntryType::Regular, *mode, data.len() as u64);
                h.set_cksum();
                b.append(&h, *data).expect("append");
            }
            E::Owned(path, uid, gid) => {
                let mut h = header(path, tar::EntryType::Regular, 0o644, 0);
                h.set_uid(*uid);
                h.set_gid(*gid);
                h.set_cksum();
                b.append(&h, &[][..]).expect("append");
            }
            E::Dir(path, mode) => {
                let mut h = header(path, tar::EntryType::Directory, *mode, 0);
                h.set_cksum();
                b.append(&h, &[][..]).expect("append");
            }
            E::Symlink(path, target) => {
                let mut h = header(path, tar::EntryType::Symlink, 0o777, 0);
                h.set_link_name(target).expect("short target");
                h.set_cksum();
                b.append(&h, &[][..]).expect("append");
            }
            E::Hardlink(path, target) => {
                let mut h = header(path, tar::EntryType::Link, 0o644, 0);
                h.set_link_name(target).expect("short target");
                h.set_cksum();
                b.append(&h, &[][..]).expect("append");
            }
            E::Xattr(path, name, value) => {
                let key = format!("SCHILY.xattr.{name}");
                b.append_pax_extensions([(key.as_str(), *value)])
                    .expect("pax");
                let mut h = header(path, tar::EntryType::Regular, 0o755, 1);
                h.set_cksum();
                b.append(&h, &b"x"[..]).expect("append");
            }
            E::Fifo(path) => {
                let mut h = header(path, tar::EntryType::Fifo, 0o600, 0);
                h.set_cksum();
                b.append(&h, &[][..]).expect("append");
            }
        }
    }
    b.into_inner().expect("tar")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

fn flatten(layers: &[Vec<u8>]) -> Filesystem {
    let mut f = Flattener::new();
    for l in layers {
        f.apply(l.as_slice()).expect("layer applies");
    }
    f.finish()
}

fn paths(fs: &Filesystem) -> Vec<&str> {
    fs.keys().map(String::as_str).collect()
}

#[test]
fn whiteouts_remove_lower_entries_and_opaque_dirs_empty_them() {
    let lower = layer(&[
        E::Dir("a/", 0o755),
        E::File("a/x", 0o644, b"x"),
        E::File("a/y", 0o644, b"y"),
        E::Dir("a/sub/", 0o755),
        E::File("a/sub/deep", 0o644, b"d"),
        E::Dir("b/", 0o755),
        E::File("b/z", 0o644, b"z"),
    ]);
    let upper = layer(&[
        E::File("a/.wh.x", 0o644, b""),
        E::File("a/.wh.sub", 0o644, b""),
        E::File("b/new", 0o644, b"n"),
        E::File("b/.wh..wh..opq", 0o644, b""),
    ]);
    let fs = flatten(&[lower, upper]);
    assert_eq!(paths(&fs), ["/a", "/a/y", "/b", "/b/new"]);
}

#[test]
fn whiteouts_do_not_hide_entries_of_their_own_layer() {
    let lower = layer(&[E::File("f", 0o644, b"old")]);
    let upper = layer(&[E::File("f", 0o600, b"new"), E::File(".wh.f", 0o644, b"")]);
    let fs = flatten(&[lower, upper]);
    assert_eq!(paths(&fs), ["/f"]);
    assert_eq!(fs["/f"].mode, 0o600);
}

#[test]
fn implicit_parents_are_root_owned_0755_dirs() {
    let fs = flatten(&[layer(&[E::Owned("usr/local/bin/tool", 1000, 1000)])]);
    assert_eq!(
        paths(&fs),
        [
            "/usr",
            "/usr/local",
            "/usr/local/bin",
            "/usr/local/bin/tool"
        ]
    );
    let dir = &fs["/usr/local"];
    assert_eq!(
        (dir.kind, dir.mode, dir.uid, dir.gid),
        (Kind::Dir, 0o755, 0, 0)
    );
    assert_eq!(
        (fs["/usr/local/bin/tool"].uid, fs["/usr/local/bin/tool"].gid),
        (1000, 1000)
    );
}

#[test]
fn a_file_over_a_directory_removes_what_was_under_it() {
    let lower = layer(&[E::Dir("d/", 0o755), E::File("d/f", 0o644, b"f")]);
    let upper = layer(&[E::Symlink("d", "/elsewhere")]);
    let fs = flatten(&[lower, upper]);
    assert_eq!(paths(&fs), ["/d"]);
    assert_eq!(fs["/d"].link.as_deref(), Some("/elsewhere"));
}

#[test]
fn a_directory_over_a_directory_keeps_its_children_and_takes_the_new_mode() {
    let lower = layer(&[E::Dir("d/", 0o755), E::File("d/f", 0o644, b"f")]);
    let upper = layer(&[E::Dir("d/", 0o700)]);
    let fs = flatten(&[lower, upper]);
    assert_eq!(paths(&fs), ["/d", "/d/f"]);
    assert_eq!(fs["/d"].mode, 0o700);
}

#[test]
fn hardlink_groups_do_not_depend_on_which_path_came_first() {
    let a = flatten(&[layer(&[
        E::File("x", 0o644, b"same"),
        E::Hardlink("y", "x"),
    ])]);
    let b = flatten(&[layer(&[
        E::File("y", 0o644, b"same"),
        E::Hardlink("x", "./y"),
    ])]);
    assert!(diff::files(&a, &b).is_empty(), "{:?}", diff::files(&a, &b));
    assert_eq!(a["/x"].hardlinks.iter().collect::<Vec<_>>(), ["/y"]);
    assert_eq!(a["/y"].size, 4);

    let copies = flatten(&[layer(&[
        E::File("x", 0o644, b"same"),
        E::File("y", 0o644, b"same"),
    ])]);
    let differences: Vec<String> = diff::files(&a, &copies)
        .iter()
        .map(|d| d.to_string())
        .collect();
    assert_eq!(
        differences,
        ["/x: hardlinks [/y] != []", "/y: hardlinks [/x] != []"]
    );
}

#[test]
fn a_hardlink_to_nothing_is_an_error_naming_both_paths() {
    let mut f = Flattener::new();
    let error = f
        .apply(layer(&[E::Hardlink("y", "missing")]).as_slice())
        .expect_err("dangling");
    assert_eq!(
        error.to_string(),
        "hardlink /y points at /missing, which no lower entry has"
    );
}

#[test]
fn gzip_zstd_and_plain_layers_flatten_alike() {
    let plain = layer(&[
        E::File("etc/os-release", 0o644, b"ID=kiln\n"),
        E::Fifo("run/fifo"),
    ]);
    let zstd = zstd::encode_all(plain.as_slice(), 3).expect("zstd");
    let fs = [plain.clone(), gzip(&plain), zstd].map(|l| flatten(&[l]));
    assert_eq!(fs[0], fs[1]);
    assert_eq!(fs[0], fs[2]);
    let want = format!("sha256:{}", hex::encode(digest(&SHA256, b"ID=kiln\n")));
    assert_eq!(
        fs[0]["/etc/os-release"].content.as_deref(),
        Some(want.as_str())
    );
    assert_eq!(fs[0]["/run/fifo"].kind, Kind::Fifo);
}

#[test]
fn every_file_field_is_compared() {
    let left = flatten(&[layer(&[
        E::File("mode", 0o644, b"a"),
        E::File("content", 0o644, b"a"),
        E::File("size", 0o644, b"a"),
        E::Symlink("link", "/a"),
        E::Xattr("cap", "security.capability", b"\x01\x00"),
        E::Owned("owner", 0, 0),
        E::File("left-only", 0o644, b""),
        E::File("type", 0o644, b""),
    ])]);
    let right = flatten(&[layer(&[
        E::File("mode", 0o755, b"a"),
        E::File("content", 0o644, b"b"),
        E::File("size", 0o644, b"ab"),
        E::Symlink("link", "/b"),
        E::Xattr("cap", "security.capability", b"\x02\x00"),
        E::Owned("owner", 1, 2),
        E::Dir("type/", 0o644),
    ])]);
    let rendered: Vec<String> = diff::files(&left, &right)
        .iter()
        .map(|d| d.to_string())
        .collect();
    let hash = |b: &[u8]| format!("sha256:{}", hex::encode(digest(&SHA256, b)));
    let want = vec![
        "/cap: xattrs {security.capability=0x0100} != {security.capability=0x0200}".to_owned(),
        format!("/content: content {} != {}", hash(b"a"), hash(b"b")),
        "only in left: /left-only (file 0644 0:0)".to_owned(),
        "/link: link /a != /b".to_owned(),
        "/mode: mode 0644 != 0755".to_owned(),
        "/owner: uid 0 != 1".to_owned(),
        "/owner: gid 0 != 2".to_owned(),
        "/size: size 1 != 2".to_owned(),
        format!("/size: content {} != {}", hash(b"a"), hash(b"ab")),
        "/type: type file != dir".to_owned(),
        format!("/type: content {} != -", hash(b"")),
    ];
    assert_eq!(rendered, want);
}

/// Writes the image as an OCI layout directory and as a `docker save` tarball.
fn write_image(dir: &Path, layers: &[Vec<u8>], config: &serde_json::Value) -> (PathBuf, PathBuf) {
    let layout = dir.join("layout");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("mkdir");
    let put = |data: &[u8]| {
        let hex = hex::encode(digest(&SHA256, data));
        std::fs::write(blobs.join(&hex), data).expect("write blob");
        json!({"digest": format!("sha256:{hex}"), "size": data.len()})
    };
    let config_bytes = serde_json::to_vec(config).expect("json");
    let mut config_desc = put(&config_bytes);
    config_desc["mediaType"] = json!("application/vnd.oci.image.config.v1+json");
    let layer_descs: Vec<_> = layers
        .iter()
        .map(|l| {
            let mut d = put(&gzip(l));
            d["mediaType"] = json!("application/vnd.oci.image.layer.v1.tar+gzip");
            d
        })
        .collect();
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config_desc, "layers": layer_descs});
    let mut manifest_desc = put(&serde_json::to_vec(&manifest).expect("json"));
    manifest_desc["mediaType"] = json!("application/vnd.oci.image.manifest.v1+json");
    let index = json!({"schemaVersion": 2, "manifests": [manifest_desc]});
    std::fs::write(layout.join("index.json"), index.to_string()).expect("index");
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("oci-layout");

    // The legacy docker save layout: <id>/layer.tar, uncompressed, and <id>.json.
    let tarball = dir.join("saved.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&tarball).expect("create"));
    let mut add = |name: &str, data: &[u8]| {
        let mut h = header(name, tar::EntryType::Regular, 0o644, data.len() as u64);
        h.set_cksum();
        b.append(&h, data).expect("append");
    };
    let names: Vec<String> = (0..layers.len())
        .map(|i| format!("layer{i}/layer.tar"))
        .collect();
    for (name, l) in names.iter().zip(layers) {
        add(name, l);
    }
    add("config.json", &config_bytes);
    let manifest =
        json!([{"Config": "config.json", "RepoTags": ["kiln/test:latest"], "Layers": names}]);
    add("manifest.json", manifest.to_string().as_bytes());
    b.finish().expect("finish");
    (layout, tarball)
}

#[test]
fn an_oci_layout_and_a_docker_save_tarball_of_one_image_match() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layers = vec![
        layer(&[
            E::Dir("etc/", 0o755),
            E::File("etc/passwd", 0o644, b"root:x:0:0::/root:/bin/sh\n"),
        ]),
        layer(&[
            E::File("etc/.wh.passwd", 0o644, b""),
            E::Symlink("bin/sh", "/bin/busybox"),
        ]),
    ];
    let config = json!({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]}});
    let (layout, tarball) = write_image(dir.path(), &layers, &config);
    let from_layout = load(&layout).expect("layout loads");
    let from_tarball = load(&tarball).expect("tarball loads");
    let report = compare(&from_layout, &from_tarball, &AllowList::new());
    assert!(report.is_match(), "{report}");
    assert_eq!(paths(&from_layout.files), ["/bin", "/bin/sh", "/etc"]);
}

#[test]
fn report_lists_unexpected_differences_and_allowed_ones_with_reasons() {
    let dir = tempfile::tempdir().expect("tempdir");
    let left_dir = dir.path().join("left");
    let right_dir = dir.path().join("right");
    std::fs::create_dir_all(&left_dir).expect("mkdir");
    std::fs::create_dir_all(&right_dir).expect("mkdir");
    let (left, _) = write_image(
        &left_dir,
        &[layer(&[
            E::File("app", 0o755, b"v1"),
            E::File("etc/hostname", 0o644, b"a"),
        ])],
        &json!({"created": "2024-01-01T00:00:00Z", "config": {"User": "0"}}),
    );
    let (_, right) = write_image(
        &right_dir,
        &[layer(&[E::File("app", 0o700, b"v1")])],
        &json!({"created": "2025-01-01T00:00:00Z", "config": {"User": "0"}}),
    );
    let allow = AllowList::builder_metadata().file("/etc/**", "written by the runtime");
    let report = compare(
        &load(&left).expect("left"),
        &load(&right).expect("right"),
        &allow,
    );
    assert!(!report.is_match());
    let text = report.to_string();
    let body: Vec<&str> = text.lines().skip(2).collect();
    assert_eq!(
        body,
        [
            "2 differences:",
            "  /app: mode 0755 != 0700",
            // `/etc/**` covers what is under /etc, not /etc itself.
            "  only in left: /etc (dir 0755 0:0)",
            "2 allowed differences:",
            "  only in left: /etc/hostname (file 0644 0:0)  [allowed: written by the runtime]",
            r#"  config created: "2024-01-01T00:00:00Z" != "2025-01-01T00:00:00Z"  [allowed: the build time]"#,
        ]
    );
}

#[test]
fn loading_something_that_is_no_image_says_what_is_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let error = load(dir.path()).expect_err("empty dir");
    assert!(
        error
            .to_string()
            .contains("neither manifest.json (docker save) nor index.json (OCI layout)"),
        "{error}"
    );
}
