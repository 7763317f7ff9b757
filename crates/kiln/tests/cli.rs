//! The command line as users meet it: `--help` against `docs/kaniko-flags.tsv`, every flag
//! accepted in its documented form, short forms and camelCase aliases, Kaniko's value syntax,
//! argv[0] dispatch (`executor`, `warmer`) and exit codes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use kiln_testsupport::cli::{Kiln, STOP_DOCKERFILE, context, stopped_after_settings};
use predicates::prelude::*;
use tempfile::TempDir;

const KILN: Kiln = Kiln::new(env!("CARGO_BIN_EXE_kiln"));

/// What `kiln warm` ends with once every flag was accepted and the warmer ran, here for an
/// image that is not a valid reference, so that no test reaches a registry.
const WARM_RAN: &str = "error: failed to warm any of the";
const INVALID_IMAGE: &str = "Not/A/Reference";

/// `kiln` with an empty environment, so that the host's KANIKO_* variables do not leak in.
fn kiln() -> Command {
    Command::from_std(KILN.command())
}

/// A context whose Dockerfile the warmer reads: one base, no bases to pull.
fn warm_context() -> TempDir {
    context("FROM scratch\n")
}

/// One row of docs/kaniko-flags.tsv.
#[derive(Debug)]
struct FlagRow {
    tool: String,
    flag: String,
    short: String,
    default: String,
    shown: bool,
    example: String,
}

fn flag_table() -> Vec<FlagRow> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/kaniko-flags.tsv");
    let text = std::fs::read_to_string(&path).expect("docs/kaniko-flags.tsv is readable");
    let mut lines = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty());
    let header: Vec<&str> = lines.next().expect("a header row").split('\t').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("column {name} in the header"))
    };
    let (tool, flag, short, default, shown, example) = (
        column("tool"),
        column("flag"),
        column("short"),
        column("default"),
        column("shown"),
        column("example"),
    );
    lines
        .map(|line| {
            let cells: Vec<&str> = line.split('\t').collect();
            assert_eq!(cells.len(), header.len(), "row {line:?} has every column");
            FlagRow {
                tool: cells[tool].to_owned(),
                flag: cells[flag].to_owned(),
                short: cells[short].to_owned(),
                default: cells[default].to_owned(),
                shown: cells[shown] == "yes",
                example: cells[example].to_owned(),
            }
        })
        .collect()
}

/// `(long, short)` of the option a help line introduces, if it introduces one.
fn option_of(line: &str) -> Option<(String, String)> {
    let line = line.trim_start();
    let (short, rest) = match line.strip_prefix('-') {
        Some(r) if !r.starts_with('-') => {
            let (s, rest) = r.split_once(", ")?;
            (s.to_owned(), rest)
        }
        _ => (String::new(), line),
    };
    let long = rest.strip_prefix("--")?;
    let end = long.find([' ', '[', '=']).unwrap_or(long.len());
    Some((long[..end].to_owned(), short))
}

/// `(long, short)` for every option that a `--help` output lists.
fn help_flags(help: &str) -> BTreeSet<(String, String)> {
    help.lines().filter_map(option_of).collect()
}

fn help_of(args: &[&str]) -> String {
    let out = kiln().args(args).output().expect("kiln runs");
    assert!(out.status.success(), "{args:?} exits 0");
    String::from_utf8(out.stdout).expect("help is UTF-8")
}

fn table_flags(tool: &str) -> BTreeSet<(String, String)> {
    flag_table()
        .into_iter()
        .filter(|r| r.tool == tool && r.shown)
        .map(|r| (r.flag, r.short))
        .collect()
}

#[test]
fn build_help_lists_exactly_the_executor_flags_of_the_table() {
    assert_eq!(
        help_flags(&help_of(&["build", "--help"])),
        table_flags("executor")
    );
}

#[test]
fn warm_help_lists_exactly_the_warmer_flags_of_the_table() {
    assert_eq!(
        help_flags(&help_of(&["warm", "--help"])),
        table_flags("warmer")
    );
}

/// The help text of one option: its line and the indented lines under it.
fn help_block<'a>(help: &'a str, flag: &str) -> Vec<&'a str> {
    let mut lines = help
        .lines()
        .skip_while(|line| option_of(line).is_none_or(|(long, _)| long != flag));
    let first = lines.next().into_iter();
    first
        .chain(lines.take_while(|line| option_of(line).is_none()))
        .collect()
}

#[test]
fn help_shows_the_defaults_of_the_table() {
    for (tool, command) in [("executor", "build"), ("warmer", "warm")] {
        let help = help_of(&[command, "--help"]);
        for row in flag_table().iter().filter(|r| r.tool == tool && r.shown) {
            if row.default.is_empty() || row.default == "host" {
                continue;
            }
            let block = help_block(&help, &row.flag).join("\n");
            let want = format!("[default: {}]", row.default);
            assert!(
                block.contains(&want),
                "{command} --{}: want {want} in {block:?}",
                row.flag
            );
        }
    }
}

#[test]
fn hidden_flags_stay_out_of_help() {
    let help = help_of(&["build", "--help"]);
    for row in flag_table().iter().filter(|r| !r.shown) {
        assert!(
            !help.contains(&format!("--{} ", row.flag)),
            "--{} is hidden",
            row.flag
        );
    }
}

/// The arguments that give `--flag` its example value.
fn flag_args(row: &FlagRow) -> Vec<String> {
    if row.example == "-" {
        vec![format!("--{}", row.flag)]
    } else {
        vec![format!("--{}={}", row.flag, row.example)]
    }
}

#[test]
fn every_executor_flag_is_accepted_with_its_documented_value() {
    let ctx = context(STOP_DOCKERFILE);
    for row in flag_table()
        .iter()
        .filter(|r| r.tool == "executor" && r.flag != "help")
    {
        let mut cmd = kiln();
        cmd.current_dir(ctx.path())
            .args(["build", "--destination=registry.example/app:1"]);
        if row.flag != "context" && row.flag != "bucket" {
            cmd.arg(format!("--context={}", ctx.path().display()));
        }
        // `--ssh` takes an agent's socket, which must exist: one is made for it.
        let agent = ctx.path().join("agent.sock");
        let _listener = (row.flag == "ssh")
            .then(|| std::os::unix::net::UnixListener::bind(&agent).expect("socket"));
        let args = match row.flag.as_str() {
            "ssh" => vec![format!("--ssh=default={}", agent.display())],
            _ => flag_args(row),
        };
        let out = cmd.args(args).output().expect("kiln runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stopped_after_settings(&stderr), "--{}: {stderr}", row.flag);
        assert_eq!(out.status.code(), Some(1), "--{}", row.flag);
    }
}

#[test]
fn every_warmer_flag_is_accepted_with_its_documented_value() {
    let ctx = warm_context();
    for row in flag_table()
        .iter()
        .filter(|r| r.tool == "warmer" && r.flag != "help")
    {
        let out = kiln()
            .current_dir(ctx.path())
            .args(["warm", "--image", INVALID_IMAGE])
            .args(flag_args(row))
            .output()
            .expect("kiln runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(WARM_RAN), "--{}: {stderr}", row.flag);
    }
}

#[test]
fn short_forms_match_kaniko() {
    let ctx = context(STOP_DOCKERFILE);
    let dir = ctx.path().display().to_string();
    kiln()
        .args([
            "build",
            "-c",
            &dir,
            "-f",
            "Dockerfile",
            "-d",
            "r.example/a:1",
            "-v",
            "warn",
        ])
        .assert()
        .code(1)
        .stderr(predicate::function(|s: &str| stopped_after_settings(s)));
    let warm_ctx = warm_context();
    kiln()
        .current_dir(warm_ctx.path())
        .args([
            "warm",
            "-i",
            INVALID_IMAGE,
            "-d",
            "Dockerfile",
            "-c",
            "/tmp/cache",
            "-f",
            "-v=info",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(WARM_RAN));
}

#[test]
fn booleans_take_pflag_forms() {
    let ctx = context(STOP_DOCKERFILE);
    let dir = format!("--context={}", ctx.path().display());
    let cases = [
        (vec!["--no-push"], true),
        (vec!["--no-push=true"], true),
        (vec!["--no-push=1"], true),
        (vec!["--no-push=True"], true),
        (vec!["--no-push=false"], false),
        (vec!["--no-push=true", "--no-push=false"], false),
    ];
    for (args, builds) in cases {
        let out = kiln()
            .arg("build")
            .arg(&dir)
            .args(&args)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stops = if builds {
            stopped_after_settings(&stderr)
        } else {
            stderr.contains("you must provide --destination, or use --no-push")
        };
        assert!(stops, "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
    }
    kiln()
        .args(["build", &dir, "--no-push=maybe"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("--no-push").and(predicate::str::contains("true or false")),
        );
}

#[test]
fn malformed_values_name_the_flag_and_what_was_expected() {
    let ctx = context(STOP_DOCKERFILE);
    let dir = format!("--context={}", ctx.path().display());
    let cases = [
        ("--cache-ttl=14d", "unknown unit \"d\""),
        ("--cache-ttl=-1h", "must not be negative"),
        ("--registry-map=gcr.io", "original.registry=mirror.registry"),
        ("--git=depth=1", "unknown git option \"depth\""),
        ("--git=single-branch=yes", "true or false"),
        ("--registry-certificate=nopath", "expected key=value"),
        ("--snapshot-mode=fast", "possible values: full, redo, time"),
        ("--compression=xz", "possible values: gzip, zstd"),
        ("--push-retry=-1", "a count of 0 or more"),
        (
            "--isolation=vm",
            "possible values: auto, chroot, rootless, none",
        ),
        ("--verbosity=loud", "possible values: trace, debug"),
    ];
    for (arg, want) in cases {
        let flag = arg.split('=').next().unwrap_or(arg);
        let out = kiln()
            .args(["build", &dir, "--no-push", arg])
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{arg}: {stderr}");
        assert!(
            stderr.contains(flag) && stderr.contains(want),
            "{arg}: {stderr}"
        );
    }
}

#[test]
fn log_levels_ignore_case_and_accept_warning() {
    let ctx = context(STOP_DOCKERFILE);
    let dir = format!("--context={}", ctx.path().display());
    for level in ["DEBUG", "Info", "warning", "fatal", "panic"] {
        kiln()
            .args(["build", &dir, "--no-push", "-v", level])
            .assert()
            .code(1)
            .stderr(predicate::function(|s: &str| stopped_after_settings(s)));
    }
}

#[test]
fn unknown_flags_fail_with_exit_code_one_and_a_suggestion() {
    kiln()
        .args(["build", "--destinaton=x"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::starts_with("error: unexpected argument '--destinaton'").and(
                predicate::str::contains("\nhint: a similar argument exists: '--destination'"),
            ),
        );
}

#[test]
fn help_and_version_exit_zero() {
    kiln().args(["build", "--help"]).assert().success();
    kiln().args(["warm", "-h"]).assert().success();
    kiln()
        .arg("version")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("kiln version "));
}

#[test]
fn build_help_explains_snapshot_modes_and_isolation() {
    let help = help_of(&["build", "--help"]);
    for want in [
        "stat",
        "full:",
        "redo:",
        "time:",
        "--isolation",
        "auto:",
        "chroot:",
        "rootless:",
        "none:",
    ] {
        assert!(help.contains(want), "help mentions {want}");
    }
}

/// The kiln binary under another `name` in a temporary directory: a hard link where the
/// filesystem allows one, else a symlink. (A copy would be written through a file descriptor
/// that a process forked by a parallel test can inherit, making exec fail with ETXTBSY.)
fn renamed(name: &str) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    if std::fs::hard_link(KILN.path(), &path).is_err() {
        std::os::unix::fs::symlink(KILN.path(), &path).expect("symlink the binary");
    }
    (dir, path)
}

#[test]
fn invoked_as_executor_it_takes_build_flags_directly() {
    let (_bin, executor) = renamed("executor");
    let ctx = context(STOP_DOCKERFILE);
    let mut cmd = Command::new(&executor);
    cmd.env_clear()
        .args([
            "--context",
            &ctx.path().display().to_string(),
            "--destination",
            "r.example/a:1",
        ])
        .assert()
        .code(1)
        .stderr(predicate::function(|s: &str| stopped_after_settings(s)));
    let help = Command::new(&executor)
        .arg("--help")
        .output()
        .expect("runs");
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.starts_with("Build a container image"), "{help}");
    assert!(help.contains("Usage: executor"), "{help}");
    assert_eq!(help_flags(&help), table_flags("executor"));
}

#[test]
fn invoked_as_executor_the_version_subcommand_works() {
    let (_bin, executor) = renamed("executor");
    Command::new(&executor)
        .env_clear()
        .arg("version")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("kiln version "));
}

#[test]
fn invoked_as_warmer_it_takes_warmer_flags_directly() {
    let (_bin, warmer) = renamed("warmer");
    Command::new(&warmer)
        .env_clear()
        .args(["-i", INVALID_IMAGE, "-c", "/tmp/cache"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(WARM_RAN));
    let help = Command::new(&warmer).arg("--help").output().expect("runs");
    assert_eq!(
        help_flags(&String::from_utf8_lossy(&help.stdout)),
        table_flags("warmer")
    );
}

#[test]
fn invoked_through_a_symlink_named_executor_it_is_the_executor() {
    let dir = tempfile::tempdir().expect("temp dir");
    let link = dir.path().join("executor");
    std::os::unix::fs::symlink(KILN.path(), &link).expect("symlink");
    let ctx = context(STOP_DOCKERFILE);
    Command::new(&link)
        .env_clear()
        .arg("--no-push")
        .arg(format!("--context={}", ctx.path().display()))
        .assert()
        .code(1)
        .stderr(predicate::function(|s: &str| stopped_after_settings(s)));
    Command::new(&link)
        .env_clear()
        .arg("build")
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("unrecognized subcommand")
                .or(predicate::str::contains("unexpected argument")),
        );
}
