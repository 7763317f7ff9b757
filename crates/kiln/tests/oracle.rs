//! The oracle suite: each directory under `tests/oracle/` is one Dockerfile behaviour, built by
//! kiln and by a reference builder, and the two images are compared file by file and config
//! field by field with `kiln_testsupport::compare`. The reference is the machine's Docker
//! Engine (its BuildKit) when one answers, else Buildah; `KILN_ORACLE_REFERENCE=docker|buildah`
//! forces one (see `oracle/reference.rs`). Known, justified differences are allowed per
//! reference by `tests/oracle/allow-<reference>.txt` (all cases) and by a case's `allow:`
//! (Engine) or `buildah-allow:` (Buildah) lines; `docs/oracle.md` describes the layout of a case
//! and lists the differences and why.
//!
//! Cases run a few at a time. `KILN_ORACLE_CASES=a,b` runs only the named ones. A case with a
//! `skip` file (or, under Buildah, a `buildah-skip` file) is listed as skipped with the file's
//! reason and not built. A second test builds a fixed subset of the cases with Buildah even
//! where the Engine runs, so that the fallback is exercised wherever the suite runs.

#[path = "oracle/buildah.rs"]
mod buildah;
#[path = "oracle/case.rs"]
mod case;
#[path = "oracle/engine.rs"]
mod engine;
#[path = "oracle/reference.rs"]
mod reference;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use buildah::Buildah;
use case::Case;
use kiln_testsupport::compare::{self, AllowList};
use reference::Reference;

const KILN: &str = env!("CARGO_BIN_EXE_kiln");
const THREADS: usize = 3;

/// The cases built with Buildah by `kiln_builds_what_buildah_builds`: RUN, COPY, ADD,
/// multi-stage builds and metadata, all on the small base, so that the subset takes a minute.
const BUILDAH_CASES: &[&str] = &[
    "run-shell-form",
    "run-exec-form",
    "run-deletes-file",
    "run-as-user",
    "copy-file",
    "copy-directory-contents",
    "copy-chown-ids",
    "copy-wildcard",
    "add-plain-file",
    "add-tar-gz-extracts",
    "copy-from-stage",
    "multi-stage-three",
    "target-stage",
    "env-forms",
    "label-and-maintainer",
    "entrypoint-exec-and-cmd",
    "healthcheck-cmd",
    "workdir-created-and-relative",
];

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle")
}

/// What happened to one case.
enum Outcome {
    /// Passed; with a note when a check could not be made here.
    Passed(Option<&'static str>),
    Skipped(String),
    Failed(String),
}

/// The cases `KILN_ORACLE_CASES` names, if it is set.
fn chosen_cases() -> Option<Vec<String>> {
    std::env::var("KILN_ORACLE_CASES")
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect())
}

#[test]
#[ignore = "needs the test environment"]
fn kiln_builds_what_the_reference_builds() {
    let reference = Reference::select().unwrap_or_else(|e| panic!("{e}"));
    let only = chosen_cases();
    let mut names: Vec<String> = std::fs::read_dir(cases_dir())
        .expect("tests/oracle")
        .map(|e| e.expect("directory entry"))
        .filter(|e| e.path().join("Dockerfile").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| only.as_ref().is_none_or(|o| o.contains(n)))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no oracle case selected");
    run_suite(&reference, names);
}

/// Buildah stands in for the Engine where none runs; this keeps it working where one does.
#[test]
#[ignore = "needs the test environment"]
fn kiln_builds_what_buildah_builds() {
    let only = chosen_cases();
    let names: Vec<String> = BUILDAH_CASES
        .iter()
        .map(|n| n.to_string())
        .filter(|n| only.as_ref().is_none_or(|o| o.contains(n)))
        .collect();
    if names.is_empty() {
        println!("oracle: KILN_ORACLE_CASES names none of the Buildah subset");
        return;
    }
    let buildah = Buildah::start().unwrap_or_else(|e| panic!("{e}"));
    run_suite(&Reference::Buildah(buildah), names);
}

/// Builds and compares the named cases against `reference`, a few at a time, and fails if any
/// case failed.
fn run_suite(reference: &Reference, names: Vec<String>) {
    let started = Instant::now();
    let who = reference.name();
    println!("oracle[{who}]: reference is {}", reference.describe());
    let dir = cases_dir();
    let suite_allow = reference
        .suite_allowances(&dir)
        .unwrap_or_else(|e| panic!("{e}"));
    let engine = engine::version().is_some();
    let queue = Mutex::new(names);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                loop {
                    let Some(name) = queue.lock().expect("queue").pop() else {
                        break;
                    };
                    let t = Instant::now();
                    let outcome = run_case(reference, &dir.join(&name), &suite_allow, engine);
                    print_outcome(who, &name, &outcome, t.elapsed());
                    results.lock().expect("results").push((name, outcome));
                }
            });
        }
    });
    let mut results = results.into_inner().expect("results");
    results.sort_by(|a, b| a.0.cmp(&b.0));
    let count = |f: fn(&Outcome) -> bool| results.iter().filter(|(_, o)| f(o)).count();
    let passed = count(|o| matches!(o, Outcome::Passed(_)));
    let skipped = count(|o| matches!(o, Outcome::Skipped(_)));
    let failed: Vec<&str> = results
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Failed(_)))
        .map(|(n, _)| n.as_str())
        .collect();
    println!("\noracle[{who}]: skipped cases:");
    for (name, outcome) in &results {
        if let Outcome::Skipped(reason) = outcome {
            println!("  {name}: {reason}");
        }
    }
    println!(
        "oracle[{who}]: {passed} cases passed, {} failed, {skipped} skipped in {:.0?}",
        failed.len(),
        started.elapsed()
    );
    assert!(
        failed.is_empty(),
        "oracle cases failed against {who}: {failed:?}"
    );
}

/// Every case directory parses, names a known reference and has its context files, without
/// building anything: a broken `case` file fails here even where no reference builder is.
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
    for name in BUILDAH_CASES {
        assert!(
            dir.join(name).join("Dockerfile").is_file(),
            "the Buildah subset names {name}, which is no case"
        );
    }
    for file in ["allow-docker.txt", "allow-buildah.txt"] {
        let text = std::fs::read_to_string(dir.join(file)).expect(file);
        AllowList::parse(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}

fn print_outcome(who: &str, name: &str, outcome: &Outcome, elapsed: Duration) {
    match outcome {
        Outcome::Passed(None) => println!("oracle[{who}]: PASS {name} ({elapsed:.1?})"),
        Outcome::Passed(Some(note)) => {
            println!("oracle[{who}]: PASS {name} ({elapsed:.1?}; {note})")
        }
        Outcome::Skipped(reason) => println!("oracle[{who}]: SKIP {name}: {reason}"),
        Outcome::Failed(why) => println!("oracle[{who}]: FAIL {name} ({elapsed:.1?})\n{why}"),
    }
}

fn run_case(reference: &Reference, dir: &Path, suite_allow: &AllowList, engine: bool) -> Outcome {
    let case = match Case::load(dir) {
        Ok(case) => case,
        Err(e) => return Outcome::Failed(e),
    };
    if let Some(reason) = reference.skip(&case) {
        return Outcome::Skipped(reason.to_owned());
    }
    match build_and_compare(reference, &case, suite_allow, engine) {
        Ok(note) => Outcome::Passed(note),
        Err(e) => Outcome::Failed(e),
    }
}

/// Builds the case with kiln and the reference and compares the images; when the case says what
/// the image prints, runs both in the Engine, or notes that without one it could not.
fn build_and_compare(
    reference: &Reference,
    case: &Case,
    suite_allow: &AllowList,
    engine: bool,
) -> Result<Option<&'static str>, String> {
    let work = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let ctx = work.path().join("ctx");
    case.lay_out_context(&ctx)?;
    // Both tests may build the same case at once: the reference's name keeps their tags apart.
    let (who, pid) = (reference.name(), std::process::id());
    let tag = format!("kiln-oracle-{}-{who}:{pid}", case.name);
    let kiln_tar = work.path().join("kiln.tar");
    kiln_build(case, &ctx, work.path(), &tag, &kiln_tar)?;
    let reference_tag = format!("kiln-oracle-reference-{}-{who}:{pid}", case.name);
    let reference_tar = work.path().join("reference.tar");
    let result = reference
        .build(case, &ctx, &reference_tag, &reference_tar)
        .and_then(|()| {
            let kiln = compare::load(&kiln_tar).map_err(|e| format!("kiln image: {e}"))?;
            let other =
                compare::load(&reference_tar).map_err(|e| format!("reference image: {e}"))?;
            let allow = suite_allow
                .clone()
                .extend(reference.case_allowances(case).clone());
            let report = compare::compare(&kiln, &other, &allow);
            if !report.is_match() {
                return Err(format!(
                    "kiln (left) differs from {}:\n{report}",
                    reference.describe_case(case)
                ));
            }
            let Some(expected) = &case.run else {
                return Ok(None);
            };
            if !engine {
                return Ok(Some(
                    "`run:` not checked: no Docker Engine to run the images",
                ));
            }
            engine::load(&kiln_tar)?;
            let result = check_run(&tag, expected).map_err(|e| format!("kiln's image: {e}"));
            engine::remove(&tag);
            result?;
            if let Reference::Buildah(_) = reference {
                engine::load(&reference_tar)?;
            }
            check_run(&reference_tag, expected).map_err(|e| format!("reference image: {e}"))?;
            Ok(None)
        });
    reference.remove(&reference_tag);
    if engine {
        engine::remove(&reference_tag);
    }
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
