//! A small image assembled from scratch for unit tests: one uncompressed tar layer made with
//! the `tar` crate, its config and an OCI manifest.

use std::path::Path;

use crate::config::{ConfigFile, History};
use crate::descriptor::Descriptor;
use crate::digest::DiffId;
use crate::image::LocalImage;
use crate::manifest::Manifest;
use crate::media_type::{Family, MediaType};
use crate::platform::Platform;

/// Writes a one-layer tar into `dir` holding `hello.txt` with `content`, and returns the image.
pub(crate) fn small_image(dir: &Path, content: &str, family: Family) -> LocalImage {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    builder
        .append_data(&mut header, "hello.txt", content.as_bytes())
        .expect("appending to an in-memory tar");
    let layer = builder.into_inner().expect("finishing an in-memory tar");
    let path = dir.join(format!("layer-{}.tar", content.len()));
    std::fs::write(&path, &layer).expect("writing the test layer");

    let mut config = ConfigFile::new(&Platform::new("linux", "amd64", None));
    config.rootfs.diff_ids.push(DiffId::of(&layer));
    config.history.push(History {
        created_by: Some("COPY hello.txt /".into()),
        ..History::default()
    });
    config.config.cmd = Some(vec!["/hello".into()]);
    let config_bytes = config.to_json();
    let manifest = Manifest::new(
        family,
        Descriptor::of(MediaType::config(family), &config_bytes),
        vec![Descriptor::of(
            MediaType::layer(family, crate::Compression::None),
            &layer,
        )],
    );
    LocalImage::from_manifest(&manifest, config_bytes, vec![path]).expect("a consistent image")
}
