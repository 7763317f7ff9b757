//! `kiln parse` end to end: the binary prints the documented JSON and text, and renders
//! parse errors with the file, line, column, the offending line and a suggestion.

use assert_cmd::Command;
use kiln_testsupport::cli::Kiln;
use predicates::prelude::*;

const KILN: Kiln = Kiln::new(env!("CARGO_BIN_EXE_kiln"));

fn dockerfile(content: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    std::io::Write::write_all(&mut file, content.as_bytes()).expect("write Dockerfile");
    file
}

fn kiln() -> Command {
    Command::from_std(KILN.command())
}

#[test]
fn parse_json_prints_the_documented_shape() {
    let file = dockerfile(
        "# syntax=docker/dockerfile:1\nFROM busybox AS base\nENV A=1\nRUN <<EOF\necho $A\nEOF\n",
    );
    let output = kiln()
        .args(["parse", "--format", "json"])
        .arg(file.path())
        .output()
        .expect("run kiln");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(v["directives"]["syntax"], "docker/dockerfile:1");
    let run = &v["instructions"][2];
    assert_eq!(run["keyword"], "run");
    assert_eq!(run["start_line"], 4);
    assert_eq!(run["end_line"], 6);
    assert_eq!(run["heredocs"][0]["content"], "echo $A\n");
    assert_eq!(
        v["instructions"][1]["args"],
        serde_json::json!([["A", "1", "="]])
    );
}

#[test]
fn parse_text_is_the_default_format() {
    let file = dockerfile("FROM busybox\nCOPY --link a /b\n");
    kiln()
        .arg("parse")
        .arg(file.path())
        .assert()
        .success()
        .stdout("1 FROM \"busybox\"\n2 COPY --link \"a\" \"/b\"\n");
}

#[test]
fn parse_error_shows_location_line_and_suggestion() {
    let file = dockerfile("FROM busybox\nRUNN echo hi\n");
    let shown = file.path().display().to_string();
    kiln()
        .arg("parse")
        .arg(file.path())
        .assert()
        .failure()
        .stdout("")
        .stderr(predicate::str::contains(format!(
            "error: {shown}:2:1: unknown instruction RUNN (did you mean RUN?)"
        )))
        .stderr(predicate::str::contains("2 | RUNN echo hi"));
}

#[test]
fn parse_rejects_what_the_typed_layer_rejects() {
    let file = dockerfile("FROM busybox\nCOPY --form=x a b\n");
    kiln()
        .arg("parse")
        .arg(file.path())
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            ":2:6: unknown flag --form for COPY (did you mean --from?)",
        ));
}

#[test]
fn parse_of_a_missing_file_names_it() {
    kiln()
        .args(["parse", "/nonexistent/Dockerfile"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("/nonexistent/Dockerfile"));
}

#[test]
fn parse_warns_about_a_continuation_at_the_end_of_the_file() {
    let file = dockerfile("FROM busybox\nRUN echo \\");
    kiln()
        .arg("parse")
        .arg(file.path())
        .assert()
        .success()
        .stderr(predicate::str::contains("warning:"))
        .stderr(predicate::str::contains(
            "line continuation at the end of the file",
        ));
}
