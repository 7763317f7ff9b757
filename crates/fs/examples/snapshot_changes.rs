//! Benchmark driver for `bench/snapshot/`: walks a rootfs, changes a few files the way a RUN
//! step would, and times the walk and comparison that find those changes.
//!
//! Usage: `snapshot_changes <rootfs> <files-to-change>`. Prints one `key=value` line.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use kiln_fs::snapshot::{self, SnapshotMode};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let root = PathBuf::from(
        args.next()
            .ok_or("usage: snapshot_changes <rootfs> <count>")?,
    );
    let count: usize = args.next().unwrap_or_else(|| "10".into()).parse()?;
    let ignore = snapshot::ignore_nothing();

    let t = Instant::now();
    let before = snapshot::walk(&root, &ignore)?;
    let base_walk = t.elapsed();

    // Pick files spread over the tree, as a step touching a few packages would.
    let files: Vec<PathBuf> = before
        .paths()
        .filter(|p| {
            before
                .get(p)
                .is_some_and(|s| !s.is_dir() && s.link.is_none())
        })
        .map(|p| p.to_owned())
        .collect();
    let step = (files.len() / count.max(1)).max(1);
    std::thread::sleep(Duration::from_millis(50));
    for rel in files.iter().step_by(step).take(count) {
        let mut f = OpenOptions::new().append(true).open(root.join(rel))?;
        f.write_all(b"changed\n")?;
    }

    let t = Instant::now();
    let after = snapshot::walk(&root, &ignore)?;
    let diff = snapshot::compare(&before, &after, SnapshotMode::Full)?;
    let changes = diff.to_changes()?;
    let detect = t.elapsed();

    println!(
        "paths={} base_walk_s={:.3} detect_s={:.3} modified={} added={} deleted={} layer_entries={}",
        after.len(),
        base_walk.as_secs_f64(),
        detect.as_secs_f64(),
        diff.modified.len(),
        diff.added.len(),
        diff.deleted.len(),
        changes.len()
    );
    Ok(())
}
