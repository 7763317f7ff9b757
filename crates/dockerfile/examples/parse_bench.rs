//! Times parsing a Dockerfile: the raw parse ([`kiln_dockerfile::parse`]) and the full typed
//! parse with stages ([`kiln_dockerfile::parse_dockerfile`]). Used by `bench/parse/run.sh`.
//!
//! Usage: `parse_bench DOCKERFILE [ITERATIONS]`. Prints one summary line per measurement with
//! the median and best wall time of the iterations, after one warm-up run.

use std::process::ExitCode;
use std::time::{Duration, Instant};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: parse_bench DOCKERFILE [ITERATIONS]");
        return ExitCode::from(2);
    };
    let iterations: usize = match args.next().map(|s| s.parse()) {
        None => 30,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("error: ITERATIONS must be a positive number");
            return ExitCode::from(2);
        }
    };
    let src = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot read {path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let count = match kiln_dockerfile::parse(&src) {
        Ok(ast) => ast.instructions.len(),
        Err(e) => {
            eprint!("error: {}", e.render(&path, &src));
            return ExitCode::FAILURE;
        }
    };
    let raw = time(iterations, || kiln_dockerfile::parse(&src).ok());
    let typed = time(iterations, || kiln_dockerfile::parse_dockerfile(&src).ok());
    let lines = src.lines().count();
    for (what, (median, best)) in [("parse", raw), ("parse_dockerfile", typed)] {
        println!(
            "{what}: {count} instructions, {lines} lines, {} bytes: median {:.2} ms, best {:.2} ms over {iterations} runs",
            src.len(),
            ms(median),
            ms(best),
        );
    }
    ExitCode::SUCCESS
}

/// Median and best duration of `n` runs of `f`, after one warm-up. The result is dropped
/// after the clock stops: what is timed is producing the tree, not freeing it.
fn time<T>(n: usize, mut f: impl FnMut() -> Option<T>) -> (Duration, Duration) {
    assert!(f().is_some(), "the benchmark input must parse");
    let mut runs: Vec<Duration> = (0..n)
        .map(|_| {
            let start = Instant::now();
            let result = std::hint::black_box(f());
            let elapsed = start.elapsed();
            drop(result);
            elapsed
        })
        .collect();
    runs.sort();
    (runs[n / 2], runs[0])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
