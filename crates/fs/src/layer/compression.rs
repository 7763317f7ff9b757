//! Layer compression: gzip and zstd, multi-core, with output that does not depend on the core
//! count.
//!
//! Owns: the [`Compression`] choice, level validation, and the encoder that turns the tar stream
//! into the blob. Does not own: media types (`kiln-oci` maps a [`Compression`] to one) or
//! hashing (`super::output`).
//!
//! Why these encoders (measured on the 2-core build machine, 1 GiB of mixed layer data, see
//! `bench/layer/`):
//! - gzip goes through `gzp`'s `ParCompress` for every thread count, including one. `gzp` cuts
//!   the stream into 128 KiB blocks, deflates each on its own and joins them with sync
//!   flushes, so the bytes depend only on the input and the level, never on the number of
//!   threads: a layer has the same digest on a laptop and on a 64-core runner. `flate2`'s
//!   `GzEncoder` alone gives different bytes from the parallel path, so using it for one thread
//!   would make digests machine-dependent. The deflate engine inside `gzp` is `flate2`, which
//!   picks zlib-rs (pure Rust) over the miniz_oxide that `gzp`'s `deflate_rust` feature asks for,
//!   because `flate2`'s `zlib-rs` feature is on in the workspace. `gzp`'s cross-block
//!   dictionary needs its `any_zlib` feature, which links the C `libz-sys`, so blocks start
//!   without one; that costs a little ratio, not speed. Blocks that deflate could not shrink
//!   (random bytes, files that are already compressed) are written as stored blocks without
//!   running deflate on them, decided from each block's bytes alone (`super::gzip`): on random
//!   data that is most of the CPU a layer costs.
//! - zstd runs with at least one worker thread: zstd's multi-threaded mode produces the same
//!   frame for any worker count ≥ 1, but a different one from its single-threaded mode, so it
//!   is never used.
//! - Measured with `bench/layer/gzip-speed.sh` on 200 MiB of typical layer data, level 6, on
//!   the 2-core machine while other builds were running (load ≈ 9, so only the ratios count):
//!   flate2 alone 19.7 MiB/s, gzp on 1 thread 22.1, gzp on 2 threads 28.0, `pigz -p 2` 25.1;
//!   output 58.4% of the input for gzp against 58.1% for flate2 and 57.8% for pigz. The whole
//!   writer (`bench/layer/run.sh`, 1 GiB) ran 1.58× faster than `tar -c | pigz -p 2` with a
//!   13 MiB peak RSS.
//! - Compression runs on its own threads, fed through a bounded channel, so reading files and
//!   hashing the tar overlap with it (see `super::output`).

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use gzp::ZWriter;
use gzp::par::compress::{ParCompress, ParCompressBuilder};

use super::Error;
use super::gzip::StoringGzip;

/// How a layer blob is compressed. Kaniko's `--compression` spells these `gzip` and `zstd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// RFC 1952 gzip, the default and what every client can read.
    #[default]
    Gzip,
    /// Zstandard (RFC 8878), smaller and faster, needs a recent client.
    Zstd,
    /// The plain tar; its digest equals its diff ID.
    Uncompressed,
}

impl Compression {
    /// The level used when none is given: gzip 6 (Go's and zlib's default), zstd 3.
    pub fn default_level(self) -> i32 {
        match self {
            Compression::Gzip => 6,
            Compression::Zstd => 3,
            Compression::Uncompressed => 0,
        }
    }

    /// The levels this compression accepts.
    pub fn levels(self) -> std::ops::RangeInclusive<i32> {
        match self {
            Compression::Gzip => 0..=9,
            Compression::Zstd => 1..=22,
            Compression::Uncompressed => 0..=0,
        }
    }

    /// The spelling used by `--compression`.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Uncompressed => "uncompressed",
        }
    }

    /// Checks `level` (or takes the default) for this compression.
    pub fn resolve_level(self, level: Option<i32>) -> Result<i32, Error> {
        let level = level.unwrap_or_else(|| self.default_level());
        if self.levels().contains(&level) {
            Ok(level)
        } else {
            Err(Error::Level {
                compression: self,
                level,
            })
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Compression {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "gzip" => Ok(Compression::Gzip),
            "zstd" => Ok(Compression::Zstd),
            "uncompressed" | "none" => Ok(Compression::Uncompressed),
            other => Err(Error::UnknownCompression(other.to_owned())),
        }
    }
}

/// Bytes per zstd job; fixed so that output depends on it and not on the worker count.
const ZSTD_JOB_SIZE: u32 = 2 << 20;

/// A running compressor writing into `W`.
pub(crate) enum Encoder<W: Write + Send + 'static> {
    Gzip(ParCompress<'static, StoringGzip, W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
    Plain(W),
}

impl<W: Write + Send + 'static> Encoder<W> {
    /// Starts compressing into `out` with `threads` compression threads (at least one).
    pub(crate) fn new(
        compression: Compression,
        level: i32,
        threads: usize,
        out: W,
    ) -> io::Result<Self> {
        let threads = threads.max(1);
        Ok(match compression {
            Compression::Gzip => {
                let level = u32::try_from(level).map_err(io::Error::other)?;
                let builder = ParCompressBuilder::<StoringGzip>::new()
                    .num_threads(threads)
                    .map_err(io::Error::other)?
                    .compression_level(gzp::Compression::new(level));
                Encoder::Gzip(builder.from_writer(out))
            }
            Compression::Zstd => {
                let mut enc = zstd::stream::write::Encoder::new(out, level)?;
                enc.multithread(u32::try_from(threads).unwrap_or(u32::MAX))?;
                // zstd's default job is 4 windows (8 MiB at level 3), with several jobs
                // buffered per worker: over 100 MiB resident. 2 MiB jobs keep the writer near
                // 30 MiB; the job size, not the worker count, decides the bytes.
                enc.set_parameter(zstd::stream::raw::CParameter::JobSize(ZSTD_JOB_SIZE))?;
                enc.include_checksum(false)?;
                Encoder::Zstd(enc)
            }
            Compression::Uncompressed => Encoder::Plain(out),
        })
    }

    /// Writes the trailer and hands back the sink.
    pub(crate) fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Gzip(mut enc) => enc.finish().map_err(io::Error::other),
            Encoder::Zstd(enc) => enc.finish(),
            Encoder::Plain(w) => Ok(w),
        }
    }

    /// Compresses `buf`. Never flushes: a flush would cut a gzp block early and change the bytes.
    pub(crate) fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Encoder::Gzip(enc) => enc.write_all(buf),
            Encoder::Zstd(enc) => enc.write_all(buf),
            Encoder::Plain(w) => w.write_all(buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_outside_the_range_are_refused() {
        let cases: &[(Compression, Option<i32>, Option<i32>)] = &[
            (Compression::Gzip, None, Some(6)),
            (Compression::Gzip, Some(9), Some(9)),
            (Compression::Gzip, Some(10), None),
            (Compression::Gzip, Some(-1), None),
            (Compression::Zstd, None, Some(3)),
            (Compression::Zstd, Some(19), Some(19)),
            (Compression::Zstd, Some(0), None),
            (Compression::Uncompressed, None, Some(0)),
        ];
        for (c, given, want) in cases {
            assert_eq!(c.resolve_level(*given).ok(), *want, "{c} {given:?}");
        }
    }

    #[test]
    fn names_round_trip() {
        for c in [
            Compression::Gzip,
            Compression::Zstd,
            Compression::Uncompressed,
        ] {
            assert_eq!(c.as_str().parse::<Compression>().ok(), Some(c));
        }
        assert!("lz4".parse::<Compression>().is_err());
    }

    fn compress(c: Compression, threads: usize, data: &[u8]) -> Vec<u8> {
        let mut enc = Encoder::new(c, c.default_level(), threads, Vec::new()).unwrap();
        for chunk in data.chunks(7919) {
            enc.write_all(chunk).unwrap();
        }
        enc.finish().unwrap()
    }

    fn sample() -> Vec<u8> {
        // Compressible but not trivial, and larger than several gzp blocks.
        (0..3_000_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 27) as u8 ^ (i / 1000) as u8)
            .collect()
    }

    #[test]
    fn gzip_bytes_do_not_depend_on_thread_count() {
        let data = sample();
        let one = compress(Compression::Gzip, 1, &data);
        assert_eq!(one, compress(Compression::Gzip, 2, &data));
        assert_eq!(one, compress(Compression::Gzip, 5, &data));
        let mut back = Vec::new();
        io::copy(&mut flate2::read::GzDecoder::new(&one[..]), &mut back).unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn zstd_bytes_do_not_depend_on_thread_count() {
        let data = sample();
        let one = compress(Compression::Zstd, 1, &data);
        assert_eq!(one, compress(Compression::Zstd, 3, &data));
        assert_eq!(zstd::decode_all(&one[..]).unwrap(), data);
    }
}
