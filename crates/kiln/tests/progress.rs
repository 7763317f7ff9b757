//! `kiln build` progress and pushing while the build runs, end to end on the test registry:
//! a layer is uploaded while a later RUN still sleeps (seen in the registry's log while the
//! build is still running), the manifest only at the end; a failed build pushes no manifest;
//! `--no-push` sends nothing; only the target's layers go up; plain lines without bar escape
//! codes and a summary with each step's time when stderr is not a terminal; one JSON object
//! per event with `--log-format=json`, a step header or a pull written once; a line or object
//! per base layer extracted. Ignored unless run with `--include-ignored` after
//! `scripts/testenv up`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use kiln_testsupport::cli::{self, Kiln, destination, manifest_of, output, stderr};
use kiln_testsupport::log::LoggedRequest;
use kiln_testsupport::{RegistryLog, TestEnv, env};
use tempfile::TempDir;

const KILN: Kiln = Kiln::new(env!("CARGO_BIN_EXE_kiln"));

/// A build directory holding `dockerfile` and a 2 MiB file `big` of incompressible bytes.
fn context(dockerfile: &str) -> TempDir {
    let dir = cli::context(dockerfile);
    let mut state = u64::from(std::process::id()) | 1;
    let big: Vec<u8> = (0..2 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(dir.path().join("big"), big).expect("big written");
    dir
}

/// The path of `dest`'s repository as the registry logs it: `/v2/<name>/`.
fn repo_path(dest: &str) -> String {
    let name = dest
        .split_once('/')
        .and_then(|(_, rest)| rest.rsplit_once(':'))
        .map(|(name, _)| name)
        .expect("host/name:tag");
    format!("/v2/{name}/")
}

/// The digest a completed blob upload (`PUT .../blobs/uploads/...?digest=`) names.
fn uploaded_digest(request: &LoggedRequest, repo: &str) -> Option<String> {
    if request.method != "PUT" || request.status != 201 {
        return None;
    }
    let rest = request
        .uri
        .strip_prefix(repo)?
        .strip_prefix("blobs/uploads/")?;
    let (_, query) = rest.split_once('?')?;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("digest="))
        .map(|d| d.replace("%3A", ":"))
}

fn is_manifest_put(request: &LoggedRequest, repo: &str) -> bool {
    request.method == "PUT" && request.uri.starts_with(&format!("{repo}manifests/"))
}

/// The layer digests of the manifest the registry holds for `image`.
fn layers_of(image: &str) -> Vec<String> {
    manifest_of(&format!("docker://{image}"))["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["digest"].as_str().expect("digest").to_owned())
        .collect()
}

/// The JSON objects of a `--log-format=json` run whose `fields.event` is `name`.
fn json_events(stderr: &str, name: &str) -> Vec<serde_json::Value> {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["fields"]["event"] == name)
        .collect()
}

#[test]
#[ignore = "needs the test environment"]
fn a_layer_is_uploaded_while_a_later_step_still_runs() {
    let env = env();
    let dir = context(&format!(
        "FROM {}/busybox:latest\nCOPY big /big\nRUN sleep 4\nENV DONE=1\n",
        env.registry
    ));
    let dest = destination(&env, "progress", "stream");
    let repo = repo_path(&dest);
    let log = RegistryLog::from_now(&env.registry_log).expect("registry log");
    let mut child = KILN
        .build_command(dir.path())
        .args(["--log-format=json", "--destination", &dest])
        .stderr(Stdio::piped())
        .spawn()
        .expect("kiln starts");
    // Blobs whose upload the registry completed while kiln was still running, and when the
    // log first showed them; when it first showed the manifest.
    let started = Instant::now();
    let mut while_running: Vec<(String, Duration)> = Vec::new();
    let mut manifest_at = None;
    let status = loop {
        let running = child.try_wait().expect("kiln waited for").is_none();
        for request in log.requests().expect("registry log read") {
            if let Some(digest) = uploaded_digest(&request, &repo) {
                if running && !while_running.iter().any(|(d, _)| *d == digest) {
                    while_running.push((digest, started.elapsed()));
                }
            }
            if is_manifest_put(&request, &repo) && manifest_at.is_none() {
                manifest_at = Some(started.elapsed());
            }
        }
        if !running {
            break child.wait().expect("kiln exit status");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let finished = started.elapsed();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut text)
        .expect("stderr read");
    eprintln!("{text}");
    assert!(status.success(), "{text}");
    let layers = layers_of(&dest);
    let copy_layer = layers.last().expect("the COPY layer");
    let (_, at) = while_running
        .iter()
        .find(|(d, _)| d == copy_layer)
        .unwrap_or_else(|| {
            panic!("{copy_layer} was not uploaded during the build: {while_running:?}")
        });
    // The sleep alone keeps the build running 4 s after the COPY layer exists: the layer
    // was up well before the sleep ended, and the manifest only after it.
    assert!(
        finished - *at > Duration::from_secs(2),
        "uploaded at {at:?}, build ended at {finished:?}"
    );
    let manifest_at = manifest_at.expect("the manifest was pushed");
    assert!(
        manifest_at - *at > Duration::from_secs(2),
        "uploaded at {at:?}, manifest at {manifest_at:?}"
    );
    let requests = log.requests().expect("registry log read");
    let manifest = requests.iter().position(|r| is_manifest_put(r, &repo));
    let upload = requests
        .iter()
        .position(|r| uploaded_digest(r, &repo).as_deref() == Some(copy_layer));
    assert!(upload < manifest, "the layer went up after the manifest");
    let pushed = json_events(&text, "blob_pushed");
    assert!(
        pushed
            .iter()
            .any(|e| e["fields"]["digest"] == copy_layer.as_str()
                && e["fields"]["outcome"] == "uploaded"),
        "{pushed:?}"
    );
    let summary = json_events(&text, "build_summary");
    assert_eq!(summary.len(), 1, "{text}");
    assert_eq!(summary[0]["fields"]["layers"], layers.len());
    assert_eq!(summary[0]["fields"]["new_layers"], 1);
    let slowest = &summary[0]["fields"]["steps"][0]["step"];
    assert_eq!(slowest, "[stage 1/1] step 2/3: RUN sleep 4");
}

#[test]
#[ignore = "needs the test environment"]
fn a_failed_build_pushes_no_manifest() {
    let env = env();
    let dir = context(&format!(
        "FROM {}/busybox:latest\nCOPY big /big\nRUN sleep 1 && exit 3\n",
        env.registry
    ));
    let dest = destination(&env, "progress", "failed");
    let repo = repo_path(&dest);
    let log = RegistryLog::from_now(&env.registry_log).expect("registry log");
    let out =
        output(
            KILN.build_command(dir.path())
                .args(["--log-format=text", "--destination", &dest]),
        );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let requests = log.requests().expect("registry log read");
    assert!(
        !requests.iter().any(|r| is_manifest_put(r, &repo)),
        "{requests:?}"
    );
    assert!(!stderr(&out).contains("built sha256:"), "{}", stderr(&out));
}

#[test]
#[ignore = "needs the test environment"]
fn no_push_sends_nothing_to_the_destination() {
    let env = env();
    let dir = context(&format!(
        "FROM {}/busybox:latest\nCOPY big /big\nRUN true\n",
        env.registry
    ));
    let dest = destination(&env, "progress", "nopush");
    let repo = repo_path(&dest);
    let log = RegistryLog::from_now(&env.registry_log).expect("registry log");
    let out = output(KILN.build_command(dir.path()).args([
        "--log-format=text",
        "--destination",
        &dest,
        "--no-push",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let requests = log.requests().expect("registry log read");
    assert!(
        !requests.iter().any(|r| r.uri.starts_with(&repo)),
        "{requests:?}"
    );
    assert!(stderr(&out).contains("not pushed"), "{}", stderr(&out));
}

#[test]
#[ignore = "needs the test environment"]
fn only_layers_of_the_target_image_are_uploaded() {
    let env = env();
    let dir = context(&format!(
        "FROM {0}/busybox:latest AS tools\nCOPY big /opt/tool\n\
         FROM {0}/busybox:latest AS base\nRUN echo base > /base\n\
         FROM base\nCOPY --from=tools /opt/tool /tool\n",
        env.registry
    ));
    let dest = destination(&env, "progress", "target");
    let repo = repo_path(&dest);
    let log = RegistryLog::from_now(&env.registry_log).expect("registry log");
    let out = output(KILN.build_command(dir.path()).args([
        "--log-format=json",
        "-v",
        "debug",
        "--destination",
        &dest,
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let written = json_events(&stderr(&out), "layer_written");
    let of_stage = |stage: &str| -> Vec<String> {
        written
            .iter()
            .filter(|e| e["fields"]["stage"] == stage)
            .map(|e| e["fields"]["digest"].as_str().expect("digest").to_owned())
            .collect()
    };
    let (tools, base, target) = (
        of_stage("stage tools"),
        of_stage("stage base"),
        of_stage("stage 2"),
    );
    // The tools stage is only copied from: its rootfs is read, no layer of it is written.
    assert_eq!(
        (tools.len(), base.len(), target.len()),
        (0, 1, 1),
        "{written:?}"
    );
    let uploaded: Vec<String> = log
        .requests()
        .expect("registry log read")
        .iter()
        .filter_map(|r| uploaded_digest(r, &repo))
        .collect();
    assert!(
        uploaded.contains(&base[0]) && uploaded.contains(&target[0]),
        "{uploaded:?}"
    );
    assert_eq!(layers_of(&dest)[1..], [base[0].clone(), target[0].clone()]);
}

#[test]
#[ignore = "needs the test environment"]
fn plain_output_has_a_line_per_blob_and_a_summary_without_bar_codes() {
    let env = env();
    let dir = context(&format!(
        "FROM {}/busybox:latest\nCOPY big /big\nRUN sleep 1\n",
        env.registry
    ));
    let dest = destination(&env, "progress", "plain");
    let out =
        output(
            KILN.build_command(dir.path())
                .args(["--log-format=text", "--destination", &dest]),
        );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(!text.contains('\x1b'), "an escape code in plain output");
    let uploads: Vec<&str> = text.lines().filter(|l| l.contains("uploaded ")).collect();
    // The COPY layer and the config; the busybox layer is mounted from its repository.
    assert_eq!(uploads.len(), 2, "{text}");
    assert!(text.contains("mounted "), "{text}");
    let summary: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.contains("built sha256:"))
        .collect();
    assert!(summary[0].contains("2 layers (1 new)"), "{text}");
    let digest = summary[0]
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .expect("the digest in the summary");
    assert!(
        summary[1].ends_with(&format!("pushed {dest}@{digest}")),
        "{text}"
    );
    assert!(summary[2].ends_with("steps, slowest first:"), "{text}");
    assert!(
        summary[3].ends_with("[stage 1/1] step 2/2: RUN sleep 1"),
        "{text}"
    );
    assert!(
        summary[4].ends_with("[stage 1/1] step 1/2: COPY big /big"),
        "{text}"
    );

    let quiet = output(KILN.build_command(dir.path()).args([
        "--log-format=text",
        "-v",
        "warn",
        "--destination",
        &dest,
    ]));
    assert!(quiet.status.success(), "{}", stderr(&quiet));
    assert_eq!(
        stderr(&quiet),
        "",
        "-v warn shows neither progress nor summary"
    );
}

/// A stage built from another: its rootfs is extracted from the busybox layer and the COPY
/// layer of the first stage.
fn two_stages(env: &TestEnv) -> TempDir {
    context(&format!(
        "FROM {}/busybox:latest AS first\nCOPY big /big\nFROM first\nRUN test -f /big\n",
        env.registry
    ))
}

#[test]
#[ignore = "needs the test environment"]
fn json_has_an_object_per_layer_extracted_and_each_header_and_pull_once() {
    let env = env();
    let dir = two_stages(&env);
    let dest = destination(&env, "progress", "layers-json");
    let out = output(KILN.build_command(dir.path()).args([
        "--log-format=json",
        "-v",
        "debug",
        "--destination",
        &dest,
        "--no-push",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stderr(&out);
    let extracted = json_events(&text, "layer_extracted");
    let of_stage = |stage: &str| -> Vec<(u64, u64, String)> {
        extracted
            .iter()
            .filter(|e| e["fields"]["stage"] == stage)
            .map(|e| {
                let f = &e["fields"];
                assert!(f["size"].as_u64().is_some_and(|s| s > 0), "{e}");
                assert!(f["seconds"].as_f64().is_some(), "{e}");
                (
                    f["layer"].as_u64().expect("layer"),
                    f["layers"].as_u64().expect("layers"),
                    f["digest"].as_str().expect("digest").to_owned(),
                )
            })
            .collect()
    };
    let (first, second) = (of_stage("stage first"), of_stage("stage 1"));
    assert_eq!(first.len(), 1, "{extracted:?}");
    assert_eq!((first[0].0, first[0].1), (1, 1));
    let written = json_events(&text, "layer_written");
    let copy_layer = written
        .iter()
        .find(|e| e["fields"]["stage"] == "stage first")
        .map(|e| e["fields"]["digest"].as_str().expect("digest").to_owned());
    // The second stage starts from the first one's image: the busybox layer, then COPY's.
    assert_eq!(
        second,
        [
            (1, 2, first[0].2.clone()),
            (2, 2, copy_layer.unwrap_or_default()),
        ],
        "{extracted:?}"
    );
    // Each rootfs reports its layers between its start and its end.
    let names: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["fields"]["event"].as_str().map(str::to_owned))
        .filter(|n| n.starts_with("extract") || n == "layer_extracted")
        .collect();
    assert_eq!(
        names,
        [
            "extract_started",
            "layer_extracted",
            "extract_finished",
            "extract_started",
            "layer_extracted",
            "layer_extracted",
            "extract_finished",
        ]
    );

    // Step headers, pulls and extraction starts: one line each, the event with its fields.
    let steps = json_events(&text, "step_started");
    assert_eq!(steps.len(), 2, "{text}");
    let objects: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let with_message = |is: &dyn Fn(&str) -> bool| -> usize {
        objects
            .iter()
            .filter(|o| o["fields"]["message"].as_str().is_some_and(is))
            .count()
    };
    for step in &steps {
        let header = step["fields"]["message"].as_str().expect("header");
        assert_eq!(with_message(&|m| m == header), 1, "{header} in\n{text}");
    }
    assert_eq!(json_events(&text, "pull_started").len(), 1, "{text}");
    let pulling = with_message(&|m| m.starts_with("pulling base image "));
    assert_eq!(pulling, 1, "{text}");
    let extracting = with_message(&|m| m.starts_with("extracting "));
    assert_eq!(extracting, 2, "{text}");
}

#[test]
#[ignore = "needs the test environment"]
fn plain_output_has_a_line_per_layer_extracted_and_each_header_once() {
    let env = env();
    let dir = two_stages(&env);
    let dest = destination(&env, "progress", "layers-text");
    let out = output(KILN.build_command(dir.path()).args([
        "--log-format=text",
        "--destination",
        &dest,
        "--no-push",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(!text.contains('\x1b'), "an escape code in plain output");
    let layers: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("extracted layer "))
        .collect();
    assert_eq!(layers.len(), 3, "{text}");
    assert!(layers[0].contains("extracted layer 1/1 "), "{text}");
    assert!(layers[0].contains(" for stage first in "), "{text}");
    assert!(layers[2].contains("extracted layer 2/2 "), "{text}");
    assert!(layers[2].contains(" for stage 1 in "), "{text}");
    // Before the summary, which lists the steps again.
    let build: Vec<&str> = text
        .lines()
        .take_while(|l| !l.contains("built sha256:"))
        .collect();
    for header in [
        "[stage 1/2] step 1/1: COPY big /big",
        "[stage 2/2] step 1/1: RUN test -f /big",
    ] {
        let lines = build.iter().filter(|l| l.ends_with(header)).count();
        assert_eq!(lines, 1, "{header} shows {lines} times in\n{text}");
    }
    let pulling = build
        .iter()
        .filter(|l| l.contains("pulling base image"))
        .count();
    assert_eq!(pulling, 1, "{text}");
}
