//! The oracle suite: each directory under `tests/oracle/` is one Dockerfile behaviour, built by
//! kiln and by the reference builder (`docker build` on the machine's Docker Engine), and the
//! two images are compared file by file and config field by field with
//! `kiln_testsupport::compare`. Known, justified differences are allowed by
//! `tests/oracle/allow.txt` (all cases) and by `allow:` lines of a case; `docs/oracle.md`
//! describes the layout of a case and lists the differences and why.
//!
//! Cases run a few at a time. `KILN_ORACLE_CASES=a,b` runs only the named ones. A case with a
//! `skip` file is listed as skipped with the file's reason and not built.

#[path = "oracle/case.rs"]
mod case;
#[path = "oracle/reference.rs"]
mod reference;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use case::Case;
use kiln_testsupport::compare::{self, AllowList};

const KILN: &str = env!("CARGO_BIN_EXE_kiln");
const THREADS: usize = 3;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle")
}

/// What happened to one case.
enum Outcome {
    Passed,
    Skipped(String),
    Failed(String),
}

#[test]
#[ignore = "needs the test environment"]
fn kiln_builds_what_docker_builds() {
    let started = Instant::now();
    let engine = std::process::Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output();
    match engine {
        Ok(out) if out.status.success() => println!(
            "oracle: reference is the Docker Engine {}",
            String::from_utf8_lossy(&out.stdout).trim()
        ),
        _ => panic!(
            "the oracle suite needs a running Docker Engine as its reference; \
             Buildah as the reference is not supported yet"
        ),
    }
    let dir = cases_dir();
    let suite_allow = AllowList::builder_metadata().extend(
        AllowList::parse(&std::fs::read_to_string(dir.join("allow.txt")).expect("allow.txt"))
            .expect("allow.txt parses"),
    );
    let only: Option<Vec<String>> = std::env::var("KILN_ORACLE_CASES")
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect());
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/oracle")
        .map(|e| e.expect("directory entry"))
        .filter(|e| e.path().join("Dockerfile").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| only.as_ref().is_none_or(|o| o.contains(n)))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no oracle case selected");
    let queue = Mutex::new(names.clone());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                loop {
                    let Some(name) = queue.lock().expect("queue").pop() else {
                        break;
                    };
                    let t = Instant::now();
                    let outcome = run_case(&dir.join(&name), &suite_allow);
                    let elapsed = t.elapsed();
                    print_outcome(&name, &outcome, elapsed);
                    results.lock().expect("results").push((name, outcome));
                }
            });
        }
    });
    let mut results = results.into_inner().expect("results");
    results.sort_by(|a, b| a.0.cmp(&b.0));
    let count = |f: fn(&Outcome) -> bool| results.iter().filter(|(_, o)| f(o)).count();
    let passed = count(|o| matches!(o, Outcome::Passed));
    let skipped = count(|o| matches!(o, Outcome::Skipped(_)));
    let failed: Vec<&str> = results
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Failed(_)))
        .map(|(n, _)| n.as_str())
        .collect();
    println!("\noracle: skipped cases:");
    for (name, outcome) in &results {
        if let Outcome::Skipped(reason) = outcome {
            println!("  {name}: {reason}");
        }
    }
    println!(
        "oracle: {passed} cases passed, {} failed, {skipped} skipped in {:.0?}",
        failed.len(),
        started.elapsed()
    );
    assert!(failed.is_empty(), "oracle cases failed: {failed:?}");
}

/// Every case directory parses, names a known reference and has its context files, without
/// building anything: a broken `case` file fails here even where Docker is absent.
#[test]
fn every_case_parses() {
    let dir = cases_dir();
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/oracle") {
        let path = entry.expect("directory entry").path();
        if !path.is_dir() {
            continue;
        }
        assert!(
            path.join("Dockerfile").is_file(),
            "{} has no Dockerfile",
            path.display()
        );
        let case = Case::load(&path).unwrap_or_else(|e| panic!("{e}"));
        if let Some(file) = &case.reference_dockerfile {
            assert!(path.join(file).is_file(), "{}: no {file}", path.display());
        }
        let work = tempfile::tempdir().expect("temp dir");
        case.lay_out_context(&work.path().join("ctx"))
            .unwrap_or_else(|e| panic!("{e}"));
        count += 1;
    }
    assert!(count >= 60, "only {count} oracle cases");
}

fn print_outcome(name: &str, outcome: &Outcome, elapsed: Duration) {
    match outcome {
        Outcome::Passed => println!("oracle: PASS {name} ({elapsed:.1?})"),
        Outcome::Skipped(reason) => println!("oracle: SKIP {name}: {reason}"),
        Outcome::Failed(why) => println!("oracle: FAIL {name} ({elapsed:.1?})\n{why}"),
    }
}

fn run_case(dir: &Path, suite_allow: &AllowList) -> Outcome {
    let case = match Case::load(dir) {
        Ok(case) => case,
        Err(e) => return Outcome::Failed(e),
    };
    if let Some(reason) = &case.skip {
        return Outcome::Skipped(reason.clone());
    }
    match build_and_compare(&case, suite_allow) {
        Ok(()) => Outcome::Passed,
        Err(e) => Outcome::Failed(e),
    }
}

fn build_and_compare(case: &Case, suite_allow: &AllowList) -> Result<(), String> {
    let work = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let ctx = work.path().join("ctx");
    case.lay_out_context(&ctx)?;
    let tag = format!("kiln-oracle-{}:{}", case.name, std::process::id());
    let kiln_tar = work.path().join("kiln.tar");
    kiln_build(case, &ctx, work.path(), &tag, &kiln_tar)?;
    let reference_tag = format!("kiln-oracle-reference-{}:{}", case.name, std::process::id());
    let reference_tar = work.path().join("reference.tar");
    let built = reference::build(case, &ctx, &reference_tag)
        .and_then(|()| reference::save(&reference_tag, &reference_tar));
    let result = built.and_then(|()| {
        let kiln = compare::load(&kiln_tar).map_err(|e| format!("kiln image: {e}"))?;
        let docker = compare::load(&reference_tar).map_err(|e| format!("reference image: {e}"))?;
        let allow = suite_allow.clone().extend(case.allow.clone());
        let report = compare::compare(&kiln, &docker, &allow);
        if !report.is_match() {
            return Err(format!(
                "kiln (left) differs from {}:\n{report}",
                case.reference
            ));
        }
        if let Some(expected) = &case.run {
            reference::load(&kiln_tar)?;
            let result = check_run(&tag, expected).map_err(|e| format!("kiln's image: {e}"));
            reference::remove(&tag);
            result?;
            check_run(&reference_tag, expected).map_err(|e| format!("reference image: {e}"))?;
        }
        Ok(())
    });
    reference::remove(&reference_tag);
    result
}

fn kiln_build(case: &Case, ctx: &Path, work: &Path, tag: &str, tar: &Path) -> Result<(), String> {
    let mut command = std::process::Command::new(KILN);
    command
        .env_clear()
        .args(["build", "--log-format=text", "--no-push", "--context"])
        .arg(ctx)
        .arg("--dockerfile")
        .arg(ctx.join("Dockerfile"))
        .arg("--kaniko-dir")
        .arg(work.join("kaniko"))
        .args(["--destination", tag, "--tar-path"])
        .arg(tar);
    for arg in &case.build_args {
        command.args(["--build-arg", arg]);
    }
    if let Some(target) = &case.target {
        command.args(["--target", target]);
    }
    command.args(&case.kiln_flags);
    let out = command
        .output()
        .map_err(|e| format!("cannot run kiln: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "kiln build failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// Runs `image` with its own entrypoint and command and checks what it prints.
fn check_run(image: &str, expected: &str) -> Result<(), String> {
    let out = std::process::Command::new("docker")
        .args(["run", "--rm", "--network=none", image])
        .output()
        .map_err(|e| format!("cannot run docker: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || stdout.trim_end() != expected {
        return Err(format!(
            "docker run {image}: {}, printed {stdout:?}, expected {expected:?}; stderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}
