//! Recognising a layer's compression by its magic bytes and decompressing it as a stream.
//!
//! Media types say the compression too, but registries and `docker save` archives are not
//! always truthful about it, so the bytes decide, as in containerd's `DetectCompression`.
//! gzip goes through `flate2` on the pure-Rust zlib-rs backend (multi-member streams, as `pigz`
//! can write, are read whole), zstd through `zstd` (RFC 8878).

use std::io::{self, Read};

/// A layer's compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar stream.
    None,
    /// gzip (RFC 1952).
    Gzip,
    /// Zstandard (RFC 8878).
    Zstd,
}

/// How many leading bytes [`Compression::detect`] needs.
pub const MAGIC_LEN: usize = 6;

impl Compression {
    /// The compression `prefix` starts with, or the name of a known format kiln does not read.
    pub fn detect(prefix: &[u8]) -> Result<Compression, &'static str> {
        const TABLE: [(&[u8], Result<Compression, &str>); 4] = [
            (&[0x1f, 0x8b], Ok(Compression::Gzip)),
            (&[0x28, 0xb5, 0x2f, 0xfd], Ok(Compression::Zstd)),
            (b"BZh", Err("bzip2")),
            (&[0xfd, b'7', b'z', b'X', b'Z', 0x00], Err("xz")),
        ];
        TABLE
            .iter()
            .find(|(magic, _)| prefix.starts_with(magic))
            .map_or(Ok(Compression::None), |(_, c)| *c)
    }
}

/// Reads the first bytes of `reader`, detects its compression, and returns a reader of the
/// decompressed stream (the bytes read to detect are put back in front).
pub(super) fn decompress<'r, R: Read + Send + 'r>(
    mut reader: R,
) -> io::Result<Result<Box<dyn Read + Send + 'r>, &'static str>> {
    let mut prefix = Vec::with_capacity(MAGIC_LEN);
    (&mut reader)
        .take(MAGIC_LEN as u64)
        .read_to_end(&mut prefix)?;
    let compression = match Compression::detect(&prefix) {
        Ok(c) => c,
        Err(name) => return Ok(Err(name)),
    };
    let whole = io::Cursor::new(prefix).chain(reader);
    let decoded: Box<dyn Read + Send + 'r> = match compression {
        Compression::None => Box::new(whole),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(whole)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(whole)?),
    };
    Ok(Ok(decoded))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_is_detected_by_magic_bytes() {
        let cases: [(&[u8], Result<Compression, &str>); 6] = [
            (&[0x1f, 0x8b, 0x08, 0, 0, 0], Ok(Compression::Gzip)),
            (&[0x28, 0xb5, 0x2f, 0xfd, 0, 0], Ok(Compression::Zstd)),
            (b"BZh91A", Err("bzip2")),
            (&[0xfd, b'7', b'z', b'X', b'Z', 0x00], Err("xz")),
            (b"etc/\0\0", Ok(Compression::None)),
            (b"", Ok(Compression::None)),
        ];
        for (prefix, expected) in cases {
            assert_eq!(Compression::detect(prefix), expected, "{prefix:?}");
        }
    }

    #[test]
    fn decompressed_streams_round_trip() {
        let data = b"some tar bytes".repeat(1000);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &data).expect("gzip");
        let gz = gz.finish().expect("gzip");
        let zst = zstd::encode_all(&data[..], 3).expect("zstd");
        for input in [gz, zst, data.clone()] {
            let mut out = Vec::new();
            decompress(&input[..])
                .expect("io")
                .expect("supported")
                .read_to_end(&mut out)
                .expect("read");
            assert_eq!(out, data);
        }
    }
}
