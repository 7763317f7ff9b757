//! Extracts layer files (gzip, zstd or plain tar) into a directory, in order, as a build does
//! before its first step. Used by `bench/extract/run.sh`.
//!
//! Usage: `extract_layer <rootfs-dir> <layer>...`; prints the entries and bytes written.

use std::process::ExitCode;

use kiln_fs::extract::{Options, extract_layers};
use kiln_fs::resolve::Root;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((rootfs, layers)) = args.split_first().filter(|(_, l)| !l.is_empty()) else {
        eprintln!("usage: extract_layer <rootfs-dir> <layer>...");
        return ExitCode::from(2);
    };
    match run(rootfs, layers) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            let mut text = format!("error: {e}");
            let mut source = e.source();
            while let Some(s) = source {
                text.push_str(&format!("\ncaused by: {s}"));
                source = s.source();
            }
            eprintln!("{text}");
            ExitCode::FAILURE
        }
    }
}

fn run(rootfs: &str, layers: &[String]) -> Result<String, Box<dyn std::error::Error>> {
    let root = Root::open(rootfs)?;
    let files = layers
        .iter()
        .map(|path| std::fs::File::open(path).map_err(|e| format!("cannot open layer {path}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    // Large reads from the page cache; the decoder buffers internally too.
    let readers = files
        .into_iter()
        .map(|f| std::io::BufReader::with_capacity(1 << 20, f));
    let reports = extract_layers(&root, readers, &Options::default())?;
    let entries: u64 = reports.iter().map(|r| r.entries).sum();
    let bytes: u64 = reports.iter().map(|r| r.bytes).sum();
    Ok(format!("entries={entries} bytes={bytes}"))
}
