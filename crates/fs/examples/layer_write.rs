//! Benchmark driver for `bench/layer/`: writes everything under a rootfs as one layer.
//!
//! Usage: `layer_write <rootfs> <dest> [gzip|zstd|uncompressed] [threads] [level]`.
//! Prints one `key=value` line.

use std::path::PathBuf;
use std::time::Instant;

use kiln_fs::layer::{self, Compression, LayerOptions};
use kiln_fs::snapshot::{self, Snapshot, SnapshotMode};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: layer_write <rootfs> <dest> [compression] [threads] [level]";
    let root = PathBuf::from(args.next().ok_or(usage)?);
    let dest = PathBuf::from(args.next().ok_or(usage)?);
    let compression: Compression = args.next().unwrap_or_else(|| "gzip".into()).parse()?;
    let threads: usize = args.next().unwrap_or_else(|| "0".into()).parse()?;
    let level = args.next().map(|l| l.parse()).transpose()?;

    let t = Instant::now();
    let walk = snapshot::walk(&root, &snapshot::ignore_nothing())?;
    let changes =
        snapshot::compare(&Snapshot::empty(&root), &walk, SnapshotMode::Full)?.to_changes()?;
    let walked = t.elapsed();
    let options = LayerOptions {
        compression,
        level,
        threads,
        clamp_mtime: None,
    };
    let written = layer::write(&root, &changes, &dest, &options)?;
    let total = t.elapsed();
    println!(
        "entries={} walk_s={:.3} total_s={:.3} size={} digest={} diff_id={}",
        changes.len(),
        walked.as_secs_f64(),
        total.as_secs_f64(),
        written.size,
        written.digest,
        written.diff_id
    );
    Ok(())
}
