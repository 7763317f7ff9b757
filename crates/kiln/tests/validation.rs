//! Kaniko's validation rules and environment variables, through the binary: what is refused
//! and with which message and hint, and what the environment changes in the resolved settings
//! (read back from the debug log line `resolved build settings`).

use assert_cmd::Command;
use kiln_testsupport::cli::{Kiln, STOP_DOCKERFILE, context, stopped_after_settings};
use predicates::prelude::*;
use tempfile::TempDir;

const KILN: Kiln = Kiln::new(env!("CARGO_BIN_EXE_kiln"));

/// A build context with a Dockerfile, and `kiln build --context=<it>` with an empty
/// environment.
struct Build {
    ctx: TempDir,
}

impl Build {
    fn new() -> Self {
        Self {
            ctx: context(STOP_DOCKERFILE),
        }
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::from_std(KILN.command());
        cmd.current_dir(self.ctx.path())
            .arg("build")
            .arg(format!("--context={}", self.ctx.path().display()));
        cmd
    }

    /// Runs with `args` and `vars` and returns (exit code, stderr).
    fn run(&self, args: &[&str], vars: &[(&str, &str)]) -> (Option<i32>, String) {
        let out = self
            .cmd()
            .args(args)
            .envs(vars.iter().copied())
            .output()
            .expect("kiln runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The debug line with the resolved settings, for a run that passes validation.
    fn settings(&self, args: &[&str], vars: &[(&str, &str)]) -> String {
        let mut all = vec!["-v=debug", "--log-format=text"];
        all.extend_from_slice(args);
        let (code, stderr) = self.run(&all, vars);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(
            stopped_after_settings(&stderr),
            "{args:?} {vars:?}: {stderr}"
        );
        stderr
            .lines()
            .find(|l| l.contains("resolved build settings"))
            .unwrap_or_else(|| panic!("no settings line in {stderr}"))
            .to_owned()
    }
}

/// Arguments, environment variables, and a text the output must contain.
type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

#[test]
fn refusals_name_the_flag_and_say_what_was_expected() {
    let b = Build::new();
    let cases: [Case<'_>; 22] = [
        (&[], &[], "you must provide --destination, or use --no-push"),
        (
            &["--no-push=false"],
            &[("KANIKO_NO_PUSH", "false")],
            "you must provide --destination",
        ),
        (
            &["--no-push"],
            &[("KANIKO_NO_PUSH", "false")],
            "you must provide --destination",
        ),
        (
            &["--no-push"],
            &[("KANIKO_NO_PUSH", "maybe")],
            "KANIKO_NO_PUSH",
        ),
        (
            &["--no-push", "--cache"],
            &[],
            "--cache with --no-push needs --cache-repo",
        ),
        (
            &["--no-push", "--tar-path=i.tar"],
            &[],
            "--tar-path needs at least one --destination",
        ),
        (
            &["--no-push", "--tarPath=i.tar"],
            &[],
            "--tar-path needs at least one --destination",
        ),
        (
            &["--no-push", "--image-name-with-digest-file=f"],
            &[],
            "--image-name-with-digest-file needs at least one --destination",
        ),
        (
            &["--no-push", "--image-name-tag-with-digest-file=f"],
            &[],
            "--image-name-tag-with-digest-file needs at least one --destination",
        ),
        (
            &["--no-push", "--snapshot-mode=full", "--snapshotMode=redo"],
            &[],
            "--snapshot-mode Full and its deprecated spelling --snapshotMode Redo disagree",
        ),
        (
            &[
                "--no-push",
                "--ignore-var-run=false",
                "--whitelist-var-run=true",
            ],
            &[],
            "--whitelist-var-run",
        ),
        (
            &["--no-push", "--label=novalue"],
            &[],
            "invalid value \"novalue\" for --label",
        ),
        (
            &["-d", "Registry.example/UPPER"],
            &[],
            "invalid --destination",
        ),
        (
            &[
                "-d",
                "r.example/a@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            ],
            &[],
            "names a digest",
        ),
        (
            &[
                "-d",
                "r.example/a",
                "--cache",
                "--cache-repo=r.example/c:v1",
            ],
            &[],
            "names a tag",
        ),
        (
            &["-d", "r.example/a", "--cache", "--cache-repo=bad repo"],
            &[],
            "invalid --cache-repo",
        ),
        (
            &["--no-push", "--ignore-path=var/run"],
            &[],
            "--ignore-path: expected an absolute",
        ),
        (
            &["--no-push", "--compression-level=10"],
            &[],
            "a gzip level from 0 to 9",
        ),
        (
            &["--no-push", "--compression=zstd", "--compression-level=0"],
            &[],
            "a zstd level from 1 to 22",
        ),
        (
            &["--no-push", "--custom-platform=linux"],
            &[],
            "--custom-platform",
        ),
        (
            &["--no-push"],
            &[("SOURCE_DATE_EPOCH", "yesterday")],
            "SOURCE_DATE_EPOCH",
        ),
        (
            &["--no-push"],
            &[("KANIKO_REGISTRY_MAP", "gcr.io")],
            "environment variable KANIKO_REGISTRY_MAP",
        ),
    ];
    for (args, vars, want) in cases {
        let (code, stderr) = b.run(args, vars);
        assert_eq!(code, Some(1), "{args:?} {vars:?}: {stderr}");
        assert!(
            stderr.lines().any(|l| l.starts_with("error: ")),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains(want),
            "{args:?} {vars:?}: want {want:?} in {stderr}"
        );
        assert!(!stopped_after_settings(&stderr), "{args:?} was accepted");
    }
}

#[test]
fn a_missing_destination_comes_with_a_hint() {
    let (_, stderr) = Build::new().run(&[], &[]);
    assert!(
        stderr.contains("\nhint: pass --no-push (or set KANIKO_NO_PUSH=true)"),
        "{stderr}"
    );
}

#[test]
fn context_and_dockerfile_problems_are_refused() {
    let b = Build::new();
    std::fs::write(b.ctx.path().join("notadir"), "").expect("write");
    let ctx = b.ctx.path().display().to_string();
    let cases = [
        (
            vec!["--context=/nonexistent/ctx".to_owned()],
            "the build context /nonexistent/ctx does not exist",
        ),
        (
            vec!["--context=http://example.com/c.tgz".to_owned()],
            "unknown build context prefix",
        ),
        (
            vec!["--context=tar:///nonexistent.tar".to_owned()],
            "does not exist",
        ),
        (
            vec![
                format!("--context={ctx}"),
                "--context-sub-path=notadir".to_owned(),
            ],
            "--context-sub-path \"notadir\" is not a directory",
        ),
        (
            vec![format!("--context={ctx}"), "--bucket=b".to_owned()],
            "--bucket and --context",
        ),
        (
            vec![
                format!("--context={ctx}"),
                "-f".to_owned(),
                "Missing".to_owned(),
            ],
            "the Dockerfile \"Missing\" was found neither",
        ),
    ];
    for (args, want) in cases {
        let (code, stderr) = b.run(
            &args
                .iter()
                .map(String::as_str)
                .chain(["--no-push"])
                .collect::<Vec<_>>(),
            &[],
        );
        assert_eq!(code, Some(1), "{args:?}");
        assert!(stderr.contains(want), "{args:?}: want {want:?} in {stderr}");
    }
}

#[test]
fn cache_repo_is_inferred_from_the_first_destination() {
    let b = Build::new();
    let cases: [Case<'_>; 4] = [
        (
            &["-d", "r.example/app:1", "-d", "other.example/x"],
            &[],
            "repo: None",
        ),
        (
            &["--cache", "-d", "r.example/app:1"],
            &[],
            "repo: Some(Registry(\"r.example/app/cache\"))",
        ),
        (
            &["--cache", "-d", "busybox"],
            &[],
            "repo: Some(Registry(\"docker.io/library/busybox/cache\"))",
        ),
        (
            &["--cache", "--no-push", "--cache-repo=oci:/tmp/c"],
            &[],
            "repo: Some(OciLayout(\"/tmp/c\"))",
        ),
    ];
    for (args, vars, want) in cases {
        let line = b.settings(args, vars);
        assert!(line.contains(want), "{args:?}: want {want} in {line}");
    }
}

#[test]
fn kaniko_no_push_true_needs_no_destination() {
    let b = Build::new();
    let line = b.settings(&[], &[("KANIKO_NO_PUSH", "true")]);
    assert!(line.contains("enabled: false"), "{line}");
}

#[test]
fn kaniko_dir_comes_from_the_flag_then_the_environment() {
    let b = Build::new();
    let cases: [Case<'_>; 3] = [
        (&[], &[], "kaniko_dir: \"/kaniko\""),
        (
            &[],
            &[("KANIKO_DIR", "/opt/kaniko")],
            "kaniko_dir: \"/opt/kaniko\"",
        ),
        (
            &["--kaniko-dir=/k2"],
            &[("KANIKO_DIR", "/opt/kaniko")],
            "kaniko_dir: \"/k2\"",
        ),
    ];
    for (args, vars, want) in cases {
        let mut all = vec!["--no-push"];
        all.extend_from_slice(args);
        let line = b.settings(&all, vars);
        assert!(line.contains(want), "{args:?} {vars:?}: {line}");
    }
}

#[test]
fn environment_variables_reach_the_settings() {
    let b = Build::new();
    let vars = [
        ("KANIKO_REGISTRY_MIRROR", "mirror.example"),
        ("DOCKER_CONFIG", "/kaniko/.docker/"),
        ("SSL_CERT_DIR", "/kaniko/ssl/certs"),
        ("BUILDER_OUTPUT", "/builder/outputs"),
        ("SOURCE_DATE_EPOCH", "1700000000"),
        ("FROM_ENV", "env-value"),
    ];
    let line = b.settings(
        &["--no-push", "--build-arg=FROM_ENV", "--build-arg=UNSET"],
        &vars,
    );
    for want in [
        "\"index.docker.io\": [\"mirror.example\"]",
        "docker_config_dir: \"/kaniko/.docker/\"",
        "ca_dirs: [\"/kaniko/ssl/certs\"]",
        "builder_output: Some(\"/builder/outputs\")",
        "source_date_epoch: Some(1700000000)",
        "name: \"FROM_ENV\", value: \"<redacted>\"",
        "name: \"UNSET\", value: \"<redacted>\"",
    ] {
        assert!(line.contains(want), "want {want} in {line}");
    }
    // A build arg's value may be a token: the debug log names it but never shows the value
    // (its resolution from the environment is unit-tested in settings).
    assert!(
        !line.contains("env-value"),
        "build-arg value logged: {line}"
    );
}

#[test]
fn relative_paths_are_made_absolute_against_the_working_directory() {
    let b = Build::new();
    let cwd = b.ctx.path().display().to_string();
    let line = b.settings(
        &[
            "-d",
            "r.example/a",
            "--tar-path=out/i.tar",
            "--digest-file=d.txt",
            "--cache-dir=c",
        ],
        &[],
    );
    for want in [
        format!("tar_path: Some(\"{cwd}/out/i.tar\")"),
        format!("digest_file: Some(\"{cwd}/d.txt\")"),
        format!("dir: \"{cwd}/c\""),
        format!("dockerfile: Path(\"{cwd}/Dockerfile\")"),
    ] {
        assert!(line.contains(&want), "want {want} in {line}");
    }
}

#[test]
fn deprecated_spellings_work_with_a_warning() {
    let b = Build::new();
    let line = b.settings(
        &[
            "--no-push",
            "--snapshotMode=time",
            "--customPlatform=linux/arm/v7",
        ],
        &[],
    );
    assert!(line.contains("mode: Time"), "{line}");
    assert!(
        line.contains("architecture: \"arm\", variant: Some(\"v7\")"),
        "{line}"
    );
    let (_, stderr) = b.run(
        &[
            "--no-push",
            "--log-format=text",
            "--tarPath=x.tar",
            "-d",
            "r/a",
        ],
        &[],
    );
    assert!(
        stderr.contains("WARN flag --tarPath is deprecated, use --tar-path"),
        "{stderr}"
    );
}

#[test]
fn json_logs_are_one_object_per_line() {
    let b = Build::new();
    let (_, stderr) = b.run(
        &["--no-push", "--log-format=json", "--snapshotMode=redo"],
        &[],
    );
    let line = stderr
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON line in {stderr}"));
    let value: serde_json::Value = serde_json::from_str(line).expect("valid JSON");
    assert_eq!(value["level"], "WARN");
    assert!(value["timestamp"].is_string(), "{line}");
}

#[test]
fn verbosity_and_timestamps_shape_text_logs() {
    let b = Build::new();
    let warn = ["--no-push", "--log-format=text", "--snapshotMode=redo"];
    let (_, plain) = b.run(&warn, &[]);
    assert!(plain.trim_start().starts_with("WARN "), "{plain}");
    let (_, stamped) = b.run(&[&warn[..], &["--log-timestamp"]].concat(), &[]);
    assert!(
        stamped.starts_with("20") && stamped.contains("WARN"),
        "{stamped}"
    );
    let (_, quiet) = b.run(&[&warn[..], &["-v", "error"]].concat(), &[]);
    assert!(quiet.starts_with("error: "), "{quiet}");
    let (_, colored) = b.run(&["--no-push", "--snapshotMode=redo"], &[]);
    assert!(
        colored.contains('\u{1b}'),
        "color is the default: {colored:?}"
    );
}

#[test]
fn warm_refusals() {
    let dir = tempfile::tempdir().expect("temp dir");
    let warm = |args: &[&str]| {
        Command::from_std(KILN.warm_command())
            .current_dir(dir.path())
            .args(args)
            .assert()
            .code(1)
    };
    warm(&[]).stderr(predicate::str::contains("nothing to warm"));
    warm(&["-d", "Missing"]).stderr(
        predicate::str::contains("the Dockerfile").and(predicate::str::contains("Missing")),
    );
    warm(&[
        "-i",
        "busybox",
        "--customPlatform=linux/amd64",
        "--custom-platform=linux/arm64",
    ])
    .stderr(predicate::str::contains("disagree"));
    warm(&["-i", "busybox", "--customPlatform=bad"])
        .stderr(predicate::str::contains("--customPlatform"));
    // A URL is not checked before it is fetched; nothing listens on port 1.
    warm(&["-d", "http://127.0.0.1:1/Dockerfile"]).stderr(predicate::str::contains(
        "fetching Dockerfile http://127.0.0.1:1/Dockerfile",
    ));
}

#[test]
fn an_invalid_destination_shows_the_reference_error_as_its_cause() {
    let (code, stderr) = Build::new().run(&["-d", "Registry.example/UPPER"], &[]);
    assert_eq!(code, Some(1));
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines[0],
        "error: invalid --destination \"Registry.example/UPPER\""
    );
    assert!(
        lines[1].starts_with("  caused by: invalid reference") && lines[1].contains("lowercase"),
        "{stderr}"
    );
}

#[test]
fn repeated_list_flags_accumulate_in_order() {
    let b = Build::new();
    let line = b.settings(
        &[
            "-d",
            "r.example/a",
            "--destination=r.example/b:2",
            "--label=x=1",
            "--label",
            "y=2",
        ],
        &[],
    );
    assert!(
        line.contains("destinations: [Reference(r.example/a:latest), Reference(r.example/b:2)]"),
        "{line}"
    );
    assert!(
        line.contains("labels: [(\"x\", \"1\"), (\"y\", \"2\")]"),
        "{line}"
    );
}

#[test]
fn flags_without_an_implementation_are_refused_by_name() {
    let b = Build::new();
    for (flag, want) in [
        (
            "--image-fs-extract-retry=2",
            "--image-fs-extract-retry is not supported yet",
        ),
        (
            "--force-build-metadata",
            "--force-build-metadata is not supported yet",
        ),
        (
            "--single-snapshot",
            "--single-snapshot is not supported yet",
        ),
    ] {
        let (code, stderr) = b.run(&["--no-push", flag], &[]);
        assert_eq!(code, Some(1), "{flag}: {stderr}");
        assert!(stderr.contains(want), "{flag}: want {want} in {stderr}");
    }
}
