//! Test support shared by the layer and snapshot tests: writing a whole tree as a layer, reading
//! layers back, and a small whiteout-aware applier (the OCI layer spec's rules, nothing more).
//! Trees are compared with `kiln_testsupport::tree`.
#![allow(dead_code)]

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use kiln_fs::layer::{self, Changes, Compression, LayerOptions, WrittenLayer};
use kiln_fs::snapshot::{self, Snapshot, SnapshotMode};
use kiln_testsupport::cli::run_ok;

/// Writes a layer of everything under `root`, as the first layer of an image.
pub fn full_layer(root: &Path, dest: &Path, options: &LayerOptions) -> WrittenLayer {
    let changes = all_of(root);
    layer::write(root, &changes, dest, options).unwrap()
}

/// Every path under `root`, as layer entries.
pub fn all_of(root: &Path) -> Changes {
    let snap = snapshot::walk(root, &snapshot::ignore_nothing()).unwrap();
    snapshot::compare(&Snapshot::empty(root), &snap, SnapshotMode::Full)
        .unwrap()
        .to_changes()
        .unwrap()
}

/// Opens a layer blob as a plain tar stream.
pub fn tar_stream(path: &Path, compression: Compression) -> Box<dyn Read> {
    let f = File::open(path).unwrap();
    match compression {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(f)),
        Compression::Zstd => Box::new(zstd::Decoder::new(f).unwrap()),
        Compression::Uncompressed => Box::new(f),
    }
}

/// Applies a layer onto `dest` with the OCI spec's whiteout rules: `.wh.<name>` removes
/// `<name>`, `.wh..wh..opq` empties its directory of what lower layers put there, and an entry
/// replaces whatever non-directory (or directory, if it is not one) was at its path.
pub fn apply(path: &Path, compression: Compression, dest: &Path) {
    let mut archive = tar::Archive::new(tar_stream(path, compression));
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_unpack_xattrs(true);
    archive.set_overwrite(true);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        // Rebuilt from components: a trailing `/` would make lstat follow a symlink there.
        let rel: std::path::PathBuf = entry.path().unwrap().components().collect();
        let name = rel.file_name().unwrap().as_bytes().to_vec();
        let parent = dest.join(rel.parent().unwrap_or(Path::new("")));
        if name == b".wh..wh..opq" {
            for child in fs::read_dir(&parent).unwrap() {
                remove(&child.unwrap().path());
            }
            continue;
        }
        if let Some(target) = name.strip_prefix(b".wh.") {
            remove(&parent.join(std::ffi::OsStr::from_bytes(target)));
            continue;
        }
        let target = dest.join(&rel);
        if let Ok(meta) = fs::symlink_metadata(&target) {
            let is_dir_entry = entry.header().entry_type().is_dir();
            if !(meta.is_dir() && is_dir_entry) {
                remove(&target);
            }
        }
        assert!(entry.unpack_in(dest).unwrap(), "{} escaped", rel.display());
    }
}

fn remove(path: &Path) {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path).unwrap(),
        Ok(_) => fs::remove_file(path).unwrap(),
        Err(_) => {}
    }
}

/// `cp -a`, which keeps hardlinks, modes, times and xattrs.
pub fn copy_tree(from: &Path, to: &Path) {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Lists a layer with `tar -tv`, numeric ids.
pub fn tar_listing(path: &Path, compression: Compression) -> String {
    let mut data = Vec::new();
    tar_stream(path, compression)
        .read_to_end(&mut data)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("layer.tar");
    fs::write(&plain, data).unwrap();
    run_ok(std::process::Command::new("tar").arg("-tvf").arg(&plain))
}

pub fn gzip() -> LayerOptions {
    LayerOptions::default()
}

pub fn with(compression: Compression) -> LayerOptions {
    LayerOptions {
        compression,
        ..LayerOptions::default()
    }
}
