//! Data-driven parser fixtures: every `testdata/<case>/Dockerfile` is parsed and typed; the
//! JSON dump must equal `expected.json`, or, for a file that must be rejected, the rendered
//! diagnostic must equal `expected.err`. Set `KILN_BLESS=1` to rewrite the expectations
//! after reviewing a deliberate change.

use std::fs;
use std::path::{Path, PathBuf};

use kiln_dockerfile::{Dockerfile, dump, parse};

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut dirs: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", root.display()))
        .map(|e| e.expect("readable testdata entry").path())
        .filter(|p| p.join("Dockerfile").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// What the case produces: `("expected.json", dump)` or `("expected.err", diagnostic)`.
fn outcome(src: &str) -> (&'static str, String) {
    match parse(src).and_then(|ast| Dockerfile::from_ast(&ast).map(|_| ast)) {
        Ok(ast) => ("expected.json", format!("{:#}\n", dump::to_json(&ast))),
        Err(err) => ("expected.err", err.render("Dockerfile", src)),
    }
}

#[test]
fn fixtures_match_their_expected_output() {
    let bless = std::env::var_os("KILN_BLESS").is_some();
    let cases = cases();
    assert!(cases.len() >= 40, "only {} fixture cases", cases.len());
    let mut failures = Vec::new();
    for dir in &cases {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let src = fs::read_to_string(dir.join("Dockerfile")).expect("fixture Dockerfile");
        let (file, got) = outcome(&src);
        let expected_path = dir.join(file);
        if bless {
            for stale in ["expected.json", "expected.err"] {
                let _ = fs::remove_file(dir.join(stale));
            }
            fs::write(&expected_path, &got).expect("write expectation");
            continue;
        }
        if name.starts_with("error-") != (file == "expected.err") {
            failures.push(format!(
                "{name}: produced {file}, which its name does not announce"
            ));
            continue;
        }
        match fs::read_to_string(&expected_path) {
            Ok(want) if want == got => {}
            Ok(want) => failures.push(format!(
                "{name}: {file} differs\n--- want\n{want}\n--- got\n{got}"
            )),
            Err(_) => failures.push(format!("{name}: missing {file}; got\n{got}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
