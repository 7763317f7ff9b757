//! Benchmark driver for `bench/layer/gzip-speed.sh`: gzip throughput of one input file with
//! `flate2` alone and with `gzp` at 1 and N threads, to check which engine `flate2` links
//! (zlib-rs at ~40 MiB/s per core, not miniz_oxide at ~14) and what `gzp` adds.
//!
//! Usage: `gzip_speed <file> [level]`. Prints one `key=value` line per engine.

use std::io::{Read, Write};
use std::time::Instant;

use gzp::ZWriter;
use gzp::deflate::Gzip;
use gzp::par::compress::ParCompressBuilder;

/// Counts bytes and drops them, so that only compression is timed.
#[derive(Default)]
struct Count(u64);

impl Write for Count {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: gzip_speed <file> [level]")?;
    let level: u32 = args.next().unwrap_or_else(|| "6".into()).parse()?;
    let mut input = Vec::new();
    std::fs::File::open(&path)?.read_to_end(&mut input)?;
    let mib = input.len() as f64 / (1 << 20) as f64;
    let report = |name: &str, secs: f64, out: u64| {
        println!(
            "engine={name} mib_per_s={:.1} ratio={:.3}",
            mib / secs,
            out as f64 / input.len() as f64
        );
    };

    let t = Instant::now();
    let mut enc = flate2::write::GzEncoder::new(Count::default(), flate2::Compression::new(level));
    enc.write_all(&input)?;
    let out = enc.finish()?;
    report("flate2", t.elapsed().as_secs_f64(), out.0);

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for threads in [1, cores] {
        let t = Instant::now();
        let mut enc = ParCompressBuilder::<Gzip>::new()
            .num_threads(threads)?
            .compression_level(gzp::Compression::new(level))
            .from_writer(Count::default());
        enc.write_all(&input)?;
        let out = enc.finish()?;
        report(&format!("gzp-{threads}"), t.elapsed().as_secs_f64(), out.0);
    }
    Ok(())
}
