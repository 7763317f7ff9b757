//! A runnable image assembled in the test: one layer holding a static busybox (from Debian's
//! `busybox-static`), `/bin/sh` linking to it and a `/hello.txt`, compressed or not, described
//! in either media-type family.

use std::io::Write;
use std::path::Path;

use kiln_oci::{
    Compression, ConfigFile, Descriptor, DiffId, Digest, Family, History, LocalImage, Manifest,
    MediaType, Platform,
};

pub const BUSYBOX: &str = "/bin/busybox";

/// The layer tar (uncompressed).
fn layer_tar(hello: &str) -> Vec<u8> {
    let busybox = std::fs::read(BUSYBOX)
        .unwrap_or_else(|e| panic!("{BUSYBOX} is needed (apt-get install busybox-static): {e}"));
    let mut b = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_ustar();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    dir.set_mtime(0);
    b.append_data(&mut dir, "bin/", std::io::empty()).unwrap();
    let mut file = tar::Header::new_ustar();
    file.set_mode(0o755);
    file.set_size(busybox.len() as u64);
    file.set_mtime(0);
    b.append_data(&mut file, "bin/busybox", &busybox[..])
        .unwrap();
    let mut link = tar::Header::new_ustar();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_mode(0o777);
    link.set_size(0);
    link.set_mtime(0);
    b.append_link(&mut link, "bin/sh", "busybox").unwrap();
    let mut hello_h = tar::Header::new_ustar();
    hello_h.set_mode(0o644);
    hello_h.set_size(hello.len() as u64);
    hello_h.set_mtime(0);
    b.append_data(&mut hello_h, "hello.txt", hello.as_bytes())
        .unwrap();
    b.into_inner().unwrap()
}

/// Writes the layer blob into `dir` and returns the image whose `/hello.txt` holds `hello`.
pub fn runnable_image(dir: &Path, hello: &str, family: Family, gzip: bool) -> LocalImage {
    let compression = if gzip {
        Compression::Gzip
    } else {
        Compression::None
    };
    compressed_image(dir, hello, family, compression)
}

/// Like [`runnable_image`], with any layer compression.
pub fn compressed_image(
    dir: &Path,
    hello: &str,
    family: Family,
    compression: Compression,
) -> LocalImage {
    let tar = layer_tar(hello);
    let diff_id = DiffId::of(&tar);
    let blob = match compression {
        Compression::None => tar,
        Compression::Gzip => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&tar).unwrap();
            gz.finish().unwrap()
        }
        Compression::Zstd => zstd::encode_all(&tar[..], 3).unwrap(),
    };
    let layer_path = dir.join(Digest::of(&blob).hex());
    std::fs::write(&layer_path, &blob).unwrap();

    let mut config = ConfigFile::new(&Platform::host());
    config.created = Some("2024-01-01T00:00:00Z".into());
    config.rootfs.diff_ids.push(diff_id);
    config.history.push(History {
        created: Some("2024-01-01T00:00:00Z".into()),
        created_by: Some("COPY busybox hello.txt /".into()),
        ..History::default()
    });
    config.history.push(History {
        created_by: Some("CMD [\"cat\", \"/hello.txt\"]".into()),
        empty_layer: true,
        ..History::default()
    });
    config.config.env = Some(vec!["PATH=/bin".into()]);
    config.config.cmd = Some(vec![
        "/bin/busybox".into(),
        "cat".into(),
        "/hello.txt".into(),
    ]);
    config
        .config
        .labels
        .get_or_insert_with(Default::default)
        .insert("org.example.test".into(), "kiln-oci".into());
    let config_bytes = config.to_json();
    let manifest = Manifest::new(
        family,
        Descriptor::of(MediaType::config(family), &config_bytes),
        vec![Descriptor::of(MediaType::layer(family, compression), &blob)],
    );
    LocalImage::from_manifest(&manifest, config_bytes, vec![layer_path]).unwrap()
}
