//! `kiln build --cache` end to end: each test builds twice or more and checks both the cache
//! lines of the log (`step N/M: cache hit`, `cache miss: <reason>`, `not cached: <reason>`)
//! and the image the build pushed. Covered: a fully cached rebuild (nothing extracted or
//! downloaded, the same layers), what invalidates a step and what does not, whiteouts and
//! special mode bits taken from the cache, builds sharing one `--cache-dir` at once or killed
//! in the middle, `--no-push-cache` and `--cache-run-layers=false`.
//!
//! Every test has its own repositories (`kiln-cache-<test>-<pid>`, its base image a copy of
//! busybox under `<that>/base`) and its own `--cache-dir` (a temp dir, or a path that does not
//! exist for the registry store alone), so tests run in parallel and never share `/cache`.
//! Needs `scripts/testenv up`, Docker and root.

#[path = "cache/case.rs"]
mod case;
#[path = "cache/inspect.rs"]
mod inspect;
#[path = "cache/server.rs"]
mod server;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::Stdio;

use kiln_testsupport::RegistryLog;
use kiln_testsupport::cli::{DockerImage, Kiln, config_of, manifest_of, stderr, stdout_of};

use case::{Case, FIRST, PARENT, SOURCES, Store, VARIABLES, built};
use inspect::{check_entries, digest_of, layer_digests, without_created};
use server::FileServer;

const KILN: Kiln = Kiln::new(env!("CARGO_BIN_EXE_kiln"));

#[test]
#[ignore = "needs the test environment"]
fn a_fully_cached_rebuild_extracts_and_downloads_nothing_and_gives_the_same_layers() {
    let case = Case::new(
        "full",
        Store::RepoOnly,
        "FROM {base}\n\
         RUN echo one > /one\n\
         COPY f /f\n\
         WORKDIR /work\n\
         RUN cat /f /one > both\n\
         ENV DONE=1\n",
        &[("f", "from the context\n")],
    );
    let copy = ["--cache-copy-layers"];
    let log = case.registry_log();
    let first = case.build(&copy);
    assert_eq!(
        first.outcomes,
        [
            format!("1.1 {FIRST}"),
            format!("1.2 {FIRST}"),
            format!("1.3 {FIRST}"),
            format!("1.4 {FIRST}")
        ]
    );
    let manifest = manifest_of(&format!("docker://{}", case.destination));
    let config = config_of(&case.destination);
    let base_layers = layer_digests(&manifest_of(&format!("docker://{}", case.base())));
    let base_downloads = |log: &RegistryLog| {
        case.requests(log)
            .into_iter()
            .filter(|r| {
                r.method == "GET" && base_layers.iter().any(|d| r.uri.ends_with(d.as_str()))
            })
            .count()
    };
    // The first build extracts the base, so the log does show its download.
    assert!(
        base_downloads(&log) > 0,
        "the registry log shows no download of the base layer"
    );

    let log = case.registry_log();
    let second = case.build(&copy);
    assert_eq!(
        second.outcomes,
        ["1.1 hit", "1.2 hit", "1.3 hit", "1.4 hit"]
    );
    for word in ["extracted layer", "extracting", "pulled "] {
        assert!(
            !second.log.contains(word),
            "a fully cached build says {word:?}:\n{}",
            second.log
        );
    }
    let rebuilt = manifest_of(&format!("docker://{}", case.destination));
    let layers = layer_digests(&rebuilt);
    assert_eq!(layers, layer_digests(&manifest));
    let wanted: BTreeSet<&String> = layers.iter().chain(&base_layers).collect();
    let downloads: Vec<_> = case
        .requests(&log)
        .into_iter()
        .filter(|r| r.method == "GET" && wanted.iter().any(|d| r.uri.ends_with(d.as_str())))
        .collect();
    assert!(
        downloads.is_empty(),
        "the cached build downloaded layers: {downloads:?}"
    );
    assert_eq!(
        without_created(config_of(&case.destination)),
        without_created(config)
    );
    let image = case.pull();
    assert_eq!(
        image.sh("cat /work/both; echo $DONE"),
        "from the context\none\n1\n"
    );
    drop(image);

    // With --reproducible, the fully cached rebuild is the same image.
    let reproducible = ["--cache-copy-layers", "--reproducible"];
    let clamped = case.build(&reproducible);
    let platform = "miss: the platform or the layer compression changed";
    assert_eq!(
        clamped.outcomes,
        [
            format!("1.1 {platform}"),
            format!("1.2 {PARENT}"),
            format!("1.3 {PARENT}"),
            format!("1.4 {PARENT}")
        ]
    );
    let digest = digest_of(&case.destination);
    let again = case.build(&reproducible);
    assert_eq!(again.outcomes, ["1.1 hit", "1.2 hit", "1.3 hit", "1.4 hit"]);
    assert_eq!(digest_of(&case.destination), digest);
}

#[test]
#[ignore = "needs the test environment"]
fn a_fully_cached_build_to_another_repository_mounts_the_cached_layers() {
    let case = Case::new(
        "mount",
        Store::RepoOnly,
        "FROM {base}\nRUN echo one > /one\nRUN echo two > /two\n",
        &[],
    );
    case.build(&[]);
    let cache_repo = format!("{}/{}/cache", case.env.registry, case.repository);
    let other = format!("{}/{}/other:test", case.env.registry, case.repository);
    let log = case.registry_log();
    let second = case.build_to(&other, &["--cache-repo", &cache_repo]);
    assert_eq!(second.outcomes, ["1.1 hit", "1.2 hit"]);
    let layers = layer_digests(&manifest_of(&format!("docker://{other}")));
    assert_eq!(
        layers,
        layer_digests(&manifest_of(&format!("docker://{}", case.destination)))
    );
    let into_other = format!("{}/other", case.repository);
    let mounted: BTreeSet<String> = log
        .mounts()
        .expect("registry log reads")
        .into_iter()
        .filter(|m| m.repository == into_other && m.status == 201)
        .map(|m| m.digest)
        .collect();
    assert_eq!(mounted, layers.iter().cloned().collect());
    let downloads: Vec<_> = case
        .requests(&log)
        .into_iter()
        .filter(|r| r.method == "GET" && layers.iter().any(|d| r.uri.ends_with(d.as_str())))
        .collect();
    assert!(
        downloads.is_empty(),
        "layers were downloaded: {downloads:?}"
    );
    assert_eq!(DockerImage::pull(&other).sh("cat /one /two"), "one\ntwo\n");
}

#[test]
#[ignore = "needs the test environment"]
fn an_entry_older_than_the_cache_ttl_is_a_miss() {
    let case = Case::new("ttl", Store::Dir, "FROM {base}\nRUN echo one > /one\n", &[]);
    case.build(&[]);
    assert_eq!(case.build(&[]).outcomes, ["1.1 hit"]);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let expired = case.build(&["--cache-ttl=1s"]);
    assert_eq!(
        expired.outcomes,
        ["1.1 miss: its entry is gone (expired, or never stored)"]
    );
    assert_eq!(case.build(&[]).outcomes, ["1.1 hit"]);
    assert_eq!(case.pull().sh("cat /one"), "one\n");
}

#[test]
#[ignore = "needs the test environment"]
fn a_new_base_image_under_the_same_tag_invalidates_every_step() {
    let case = Case::new(
        "base",
        Store::Dir,
        "FROM {base}\nRUN echo one > /one\nRUN cat /one > /two\n",
        &[],
    );
    let first = case.build(&[]);
    assert_eq!(
        first.outcomes,
        [format!("1.1 {FIRST}"), format!("1.2 {FIRST}")]
    );

    // Another image under the base's tag: busybox and one file more.
    let other = tempfile::tempdir().expect("temp dir");
    let busybox = format!("{}/busybox:latest", case.env.registry);
    std::fs::write(
        other.path().join("Dockerfile"),
        format!("FROM {busybox}\nRUN echo new > /marker\n"),
    )
    .expect("Dockerfile written");
    let out = KILN.build(other.path(), &["--destination", &case.base()]);
    assert!(out.status.success(), "{}", stderr(&out));

    let second = case.build(&[]);
    assert_eq!(
        second.outcomes,
        [format!("1.1 {PARENT}"), format!("1.2 {PARENT}")]
    );
    let image = case.pull();
    assert_eq!(image.sh("cat /marker /two"), "new\none\n");
}

#[test]
#[ignore = "needs the test environment"]
fn a_changed_build_arg_invalidates_the_steps_that_see_it_and_those_after() {
    let case = Case::new(
        "arg",
        Store::RepoOnly,
        "FROM {base}\nRUN echo one > /one\nARG A\nRUN echo $A > /a\nRUN cat /a > /b\n",
        &[],
    );
    case.build(&["--build-arg", "A=x"]);
    let same = case.build(&["--build-arg", "A=x"]);
    assert_eq!(same.outcomes, ["1.1 hit", "1.3 hit", "1.4 hit"]);
    let changed = case.build(&["--build-arg", "A=y"]);
    assert_eq!(
        changed.outcomes,
        [
            "1.1 hit".to_owned(),
            format!("1.3 {VARIABLES}"),
            format!("1.4 {PARENT}")
        ]
    );
    assert_eq!(case.pull().sh("cat /one /b"), "one\ny\n");
}

#[test]
#[ignore = "needs the test environment"]
fn a_changed_env_invalidates_the_steps_after_it() {
    let dockerfile =
        "FROM {base}\nRUN echo one > /one\nENV GREETING=hello\nRUN echo $GREETING > /g\n";
    let case = Case::new("env", Store::Dir, dockerfile, &[]);
    case.build(&[]);
    case.dockerfile(&dockerfile.replace("hello", "bye"));
    let changed = case.build(&[]);
    // The ENV step's own key changed (its instruction), so the next step's parent did.
    assert_eq!(
        changed.outcomes,
        ["1.1 hit".to_owned(), format!("1.3 {PARENT}")]
    );
    assert_eq!(case.pull().sh("cat /g; echo $GREETING"), "bye\nbye\n");
}

const COPY_THEN_RUN: &str = "FROM {base}\nRUN echo one > /one\nCOPY f /f\nRUN cat /f > /g\n";

#[test]
#[ignore = "needs the test environment"]
fn a_changed_context_file_invalidates_its_copy_and_the_steps_after() {
    let case = Case::new("content", Store::Dir, COPY_THEN_RUN, &[("f", "old\n")]);
    case.build(&["--cache-copy-layers"]);
    case.write("f", "new\n");
    let changed = case.build(&["--cache-copy-layers"]);
    assert_eq!(
        changed.outcomes,
        [
            "1.1 hit".to_owned(),
            format!("1.2 {SOURCES}"),
            format!("1.3 {PARENT}")
        ]
    );
    assert_eq!(case.pull().sh("cat /f /g"), "new\nnew\n");
}

#[test]
#[ignore = "needs the test environment"]
fn without_cache_copy_layers_a_copy_runs_and_the_step_after_follows_its_sources() {
    let case = Case::new("copyoff", Store::Dir, COPY_THEN_RUN, &[("f", "old\n")]);
    case.build(&[]);
    let not_cached = "1.2 not cached: COPY and ADD are cached only with --cache-copy-layers";
    let same = case.build(&[]);
    assert_eq!(same.outcomes, ["1.1 hit", not_cached, "1.3 hit"]);
    case.write("f", "new\n");
    let changed = case.build(&[]);
    assert_eq!(
        changed.outcomes,
        [
            "1.1 hit".to_owned(),
            not_cached.to_owned(),
            format!("1.3 {PARENT}")
        ]
    );
    assert_eq!(case.pull().sh("cat /f /g"), "new\nnew\n");
}

#[test]
#[ignore = "needs the test environment"]
fn a_changed_context_file_mode_invalidates_its_copy() {
    let case = Case::new("mode", Store::RepoOnly, COPY_THEN_RUN, &[("f", "same\n")]);
    case.build(&["--cache-copy-layers"]);
    case.chmod("f", 0o755);
    let changed = case.build(&["--cache-copy-layers"]);
    assert_eq!(
        changed.outcomes,
        [
            "1.1 hit".to_owned(),
            format!("1.2 {SOURCES}"),
            format!("1.3 {PARENT}")
        ]
    );
    assert_eq!(case.pull().sh("stat -c %a /f; cat /g"), "755\nsame\n");
}

#[test]
#[ignore = "needs the test environment"]
fn a_changed_file_that_dockerignore_excludes_invalidates_nothing() {
    let case = Case::new(
        "ignored",
        Store::Dir,
        "FROM {base}\nCOPY src /app\nRUN ls /app > /listing\n",
        &[
            (".dockerignore", "src/ignored.txt\n"),
            ("src/kept.txt", "kept\n"),
            ("src/ignored.txt", "v1\n"),
        ],
    );
    case.build(&["--cache-copy-layers"]);
    case.write("src/ignored.txt", "v2, longer\n");
    case.chmod("src/ignored.txt", 0o600);
    let again = case.build(&["--cache-copy-layers"]);
    assert_eq!(again.outcomes, ["1.1 hit", "1.2 hit"]);
    assert_eq!(
        case.pull().sh("cat /listing; ls /app"),
        "kept.txt\nkept.txt\n"
    );
}

const COPY_FROM: &str = "FROM {base} AS build\n\
                         ARG V=1\n\
                         ARG W=1\n\
                         RUN echo $V > /version && echo out-$W > /out\n\
                         FROM {base}\n\
                         COPY --from=build /out /out\n\
                         RUN cat /out > /copy\n";

#[test]
#[ignore = "needs the test environment"]
fn copy_from_a_changed_stage_with_the_same_output_still_hits() {
    let case = Case::new("fromsame", Store::Dir, COPY_FROM, &[]);
    case.build(&["--cache-copy-layers", "--build-arg", "V=1"]);
    let changed = case.build(&["--cache-copy-layers", "--build-arg", "V=2"]);
    // `ARG W` sees V, so the RUN after it has another parent.
    assert_eq!(
        changed.outcomes,
        [
            format!("1.3 {PARENT}"),
            "2.1 hit".to_owned(),
            "2.2 hit".to_owned()
        ]
    );
    assert_eq!(case.pull().sh("cat /copy"), "out-1\n");
}

#[test]
#[ignore = "needs the test environment"]
fn copy_from_a_stage_whose_output_changed_misses() {
    let case = Case::new("fromdiff", Store::RepoOnly, COPY_FROM, &[]);
    case.build(&["--cache-copy-layers", "--build-arg", "W=1"]);
    let changed = case.build(&["--cache-copy-layers", "--build-arg", "W=2"]);
    // The step is looked up by the content it copies.
    assert_eq!(
        changed.outcomes,
        [
            format!("1.3 {VARIABLES}"),
            format!("2.1 {SOURCES}"),
            format!("2.2 {PARENT}")
        ]
    );
    assert_eq!(case.pull().sh("cat /copy"), "out-2\n");
}

#[test]
#[ignore = "needs the test environment"]
fn a_copy_from_that_hit_is_recorded_for_the_next_miss_reason() {
    let case = Case::new("fromrecord", Store::RepoOnly, COPY_FROM, &[]);
    case.build(&["--cache-copy-layers", "--build-arg", "W=1"]);
    let same = case.build(&["--cache-copy-layers", "--build-arg", "W=1"]);
    assert_eq!(same.outcomes, ["1.3 hit", "2.1 hit", "2.2 hit"]);
    let changed = case.build(&["--cache-copy-layers", "--build-arg", "W=2"]);
    assert_eq!(
        changed.outcomes,
        [
            format!("1.3 {VARIABLES}"),
            format!("2.1 {SOURCES}"),
            format!("2.2 {PARENT}")
        ]
    );
    assert_eq!(case.pull().sh("cat /copy"), "out-2\n");
}

#[test]
#[ignore = "needs the test environment"]
fn copy_from_a_cached_stage_sees_its_deletions_and_modes() {
    let dockerfile = "FROM {base} AS build\n\
                      RUN echo built > /out && chmod 4755 /out && rm /etc/group \
                          && rm -rf /usr && mkdir -p /usr/x\n\
                      FROM build AS mid\n\
                      RUN echo mid > /mid\n\
                      FROM {base}\n\
                      COPY --from=mid /etc /copied/etc\n\
                      COPY --from=mid /usr /copied/usr\n\
                      COPY --from=mid /out /mid /copied/\n";
    let case = Case::new("fromcached", Store::Dir, dockerfile, &[]);
    case.build(&["--cache-copy-layers"]);
    // Both earlier stages hit; the copies run and read their files from the cached layers.
    case.dockerfile(&dockerfile.replace("/copied", "/again"));
    let copies_run = case.build(&["--cache-copy-layers"]);
    let instruction = "miss: the instruction changed";
    assert_eq!(
        copies_run.outcomes,
        [
            "1.1 hit".to_owned(),
            "2.1 hit".to_owned(),
            format!("3.1 {instruction}"),
            format!("3.2 {PARENT}"),
            format!("3.3 {PARENT}")
        ]
    );
    let image = case.pull();
    assert_eq!(
        image.sh("ls /again/etc; ls /again/usr; stat -c %a /again/out; cat /again/mid"),
        "passwd\nx\n4755\nmid\n"
    );
}

#[test]
#[ignore = "needs the test environment"]
fn add_of_a_url_is_not_cached_and_the_step_after_it_follows_the_content() {
    let server = FileServer::start("first\n");
    let case = Case::new(
        "url",
        Store::Dir,
        &format!(
            "FROM {{base}}\nRUN echo one > /one\nADD {} /data.txt\nRUN cat /data.txt > /copy\n",
            server.url
        ),
        &[],
    );
    let not_cached = "1.2 not cached: ADD of a URL without --checksum: its content is known only once downloaded";
    let first = case.build(&["--cache-copy-layers"]);
    assert_eq!(
        first.outcomes,
        [
            format!("1.1 {FIRST}"),
            not_cached.to_owned(),
            format!("1.3 {FIRST}")
        ]
    );
    let same = case.build(&["--cache-copy-layers"]);
    assert_eq!(same.outcomes, ["1.1 hit", not_cached, "1.3 hit"]);
    server.set("second, longer\n");
    let changed = case.build(&["--cache-copy-layers"]);
    assert_eq!(
        changed.outcomes,
        [
            "1.1 hit".to_owned(),
            not_cached.to_owned(),
            format!("1.3 {PARENT}")
        ]
    );
    assert_eq!(case.pull().sh("cat /copy"), "second, longer\n");
}

#[test]
#[ignore = "needs the test environment"]
fn a_file_deleted_by_a_cached_step_stays_deleted() {
    let case = Case::new(
        "whiteout",
        Store::Dir,
        "FROM {base}\n\
         RUN rm /etc/group && echo gone > /marker\n\
         ARG V\n\
         RUN test ! -e /etc/group && echo $V > /v\n",
        &[],
    );
    case.build(&["--build-arg", "V=1"]);
    // The step after the cached one runs on a filesystem with the cached layer extracted.
    let next_runs = case.build(&["--build-arg", "V=2"]);
    assert_eq!(
        next_runs.outcomes,
        ["1.1 hit".to_owned(), format!("1.3 {VARIABLES}")]
    );
    let check = "test ! -e /etc/group && cat /marker /v";
    assert_eq!(case.pull().sh(check), "gone\n2\n");
    let all_cached = case.build(&["--build-arg", "V=2"]);
    assert_eq!(all_cached.outcomes, ["1.1 hit", "1.3 hit"]);
    assert_eq!(case.pull().sh(check), "gone\n2\n");
}

#[test]
#[ignore = "needs the test environment"]
fn a_directory_replaced_by_a_cached_step_keeps_none_of_its_old_files() {
    let case = Case::new(
        "opaque",
        Store::Dir,
        "FROM {base}\n\
         RUN rm -rf /usr && mkdir /usr && echo new > /usr/new\n\
         ARG V\n\
         RUN ls /usr > /seen && echo $V > /v\n",
        &[],
    );
    case.build(&["--build-arg", "V=1"]);
    let next_runs = case.build(&["--build-arg", "V=2"]);
    assert_eq!(
        next_runs.outcomes,
        ["1.1 hit".to_owned(), format!("1.3 {VARIABLES}")]
    );
    let image = case.pull();
    assert_eq!(image.sh("ls /usr; cat /seen /v"), "new\nnew\n2\n");
}

#[test]
#[ignore = "needs the test environment"]
fn hard_links_made_by_a_cached_step_stay_linked() {
    let case = Case::new(
        "hardlink",
        Store::Dir,
        "FROM {base}\n\
         RUN echo linked > /a && ln /a /b\n\
         ARG V\n\
         RUN stat -c %h /a > /seen && echo $V > /v\n",
        &[],
    );
    case.build(&["--build-arg", "V=1"]);
    let next_runs = case.build(&["--build-arg", "V=2"]);
    assert_eq!(
        next_runs.outcomes,
        ["1.1 hit".to_owned(), format!("1.3 {VARIABLES}")]
    );
    let image = case.pull();
    let same_inode = "[ $(stat -c %i /a) = $(stat -c %i /b) ] && stat -c %h /a && cat /seen /b";
    assert_eq!(image.sh(same_inode), "2\n2\nlinked\n");
}

#[test]
#[ignore = "needs the test environment"]
fn setuid_setgid_and_sticky_bits_survive_the_cache() {
    let case = Case::new(
        "modes",
        Store::Dir,
        "FROM {base}\n\
         RUN touch /suid /sgid && chmod 4755 /suid && chmod 2755 /sgid \
             && mkdir /shared && chmod 1777 /shared\n\
         ARG V\n\
         RUN stat -c %a /suid /sgid /shared > /seen && echo $V > /v\n",
        &[],
    );
    case.build(&["--build-arg", "V=1"]);
    let next_runs = case.build(&["--build-arg", "V=2"]);
    assert_eq!(
        next_runs.outcomes,
        ["1.1 hit".to_owned(), format!("1.3 {VARIABLES}")]
    );
    let modes = "4755\n2755\n1777\n";
    let image = case.pull();
    assert_eq!(image.sh("stat -c %a /suid /sgid /shared"), modes);
    assert_eq!(image.sh("cat /seen"), modes);
}

#[test]
#[ignore = "needs the test environment"]
fn concurrent_builds_share_one_cache_dir() {
    let case = Case::new(
        "concurrent",
        Store::Dir,
        "FROM {base}\n\
         RUN dd if=/dev/urandom of=/r1 bs=1k count=512 2>/dev/null\n\
         COPY f /f\n\
         RUN echo two > /two && dd if=/dev/urandom of=/r2 bs=1k count=256 2>/dev/null\n\
         WORKDIR /w\n\
         RUN echo done > /w/done\n",
        &[("f", "shared\n")],
    );
    let copy = "--cache-copy-layers";
    let kaniko = tempfile::tempdir().expect("temp dir");
    let children: Vec<_> = ["a", "b"]
        .iter()
        .map(|name| {
            let destination = format!("{}/{}/{name}:test", case.env.registry, case.repository);
            let mut cmd = KILN.command();
            cmd.args(["build", "--context"])
                .arg(case.ctx.path())
                .arg("--dockerfile")
                .arg(case.ctx.path().join("Dockerfile"))
                .arg("--kaniko-dir")
                .arg(kaniko.path().join(name))
                .arg("--log-format=text")
                .args(case.args(&destination, &[copy]))
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            cmd.spawn().expect("kiln starts")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("kiln runs");
        built(&out);
    }
    let entries = check_entries(&case.cache_dir);
    assert_eq!(entries, 5, "one entry per cached step");

    let third = case.build(&[copy]);
    assert_eq!(
        third.outcomes,
        ["1.1 hit", "1.2 hit", "1.3 hit", "1.4 hit", "1.5 hit"]
    );
    let from_dir = format!(
        "cache hit (cache dir {}",
        case.cache_dir.join("v1").display()
    );
    assert_eq!(third.log.matches(&from_dir).count(), 5, "{}", third.log);
    assert_eq!(check_entries(&case.cache_dir), entries);
    assert_eq!(
        case.pull()
            .sh("cat /f /two /w/done && test -s /r1 && test -s /r2 && pwd"),
        "shared\ntwo\ndone\n/w\n"
    );
}

#[test]
#[ignore = "needs the test environment"]
fn a_build_killed_in_the_middle_leaves_a_cache_the_next_build_uses() {
    let case = Case::new(
        "killed",
        Store::Dir,
        "FROM {base}\n\
         RUN echo a > /a\n\
         RUN dd if=/dev/urandom of=/big bs=1M count=16 2>/dev/null\n\
         ARG S=0\n\
         RUN sleep $S\n\
         RUN echo done > /done\n",
        &[],
    );
    let mut cmd = KILN.build_command(case.ctx.path());
    cmd.arg("--log-format=text")
        .args(case.args(&case.destination, &["--build-arg", "S=30"]))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn().expect("kiln starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr piped")).lines();
    let mut log = String::new();
    let sleeping = "step 4/5: RUN sleep $S";
    loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("the build ended before its sleep:\n{log}"))
            .expect("log reads");
        log.push_str(&line);
        log.push('\n');
        if line.contains(sleeping) {
            break;
        }
    }
    // Steps 1 and 2 ran; their puts may still be under way.
    stdout_of("kill", &["-KILL", "--", &format!("-{}", child.id())]);
    let status = child.wait().expect("kiln waited for");
    assert!(!status.success(), "kiln survived SIGKILL:\n{log}");
    eprintln!("{log}");
    check_entries(&case.cache_dir);

    let rebuilt = case.build(&[]);
    assert_eq!(rebuilt.outcomes.len(), 4, "{:?}", rebuilt.outcomes);
    check_entries(&case.cache_dir);
    assert_eq!(
        case.pull().sh("cat /a /done && test -s /big && echo ok"),
        "a\ndone\nok\n"
    );
    let cached = case.build(&[]);
    assert_eq!(
        cached.outcomes,
        ["1.1 hit", "1.2 hit", "1.4 hit", "1.5 hit"]
    );
}

#[test]
#[ignore = "needs the test environment"]
fn no_push_cache_pushes_nothing_to_the_cache_repository() {
    let case = Case::new(
        "nopush",
        Store::RepoOnly,
        "FROM {base}\nRUN echo one > /one\nCOPY f /f\n",
        &[("f", "f\n")],
    );
    let args = ["--no-push-cache", "--cache-copy-layers"];
    let log = case.registry_log();
    let first = case.build(&args);
    assert_eq!(
        first.outcomes,
        [format!("1.1 {FIRST}"), format!("1.2 {FIRST}")]
    );
    let cache = format!("/v2/{}/cache/", case.repository);
    let writes: Vec<_> = case
        .requests(&log)
        .into_iter()
        .filter(|r| r.uri.starts_with(&cache) && r.method != "GET" && r.method != "HEAD")
        .collect();
    assert!(
        writes.is_empty(),
        "--no-push-cache wrote to the cache repository: {writes:?}"
    );
    let gone = "miss: its entry is gone (expired, or never stored)";
    let second = case.build(&args);
    assert_eq!(
        second.outcomes,
        [format!("1.1 {gone}"), format!("1.2 {gone}")]
    );
    assert_eq!(case.pull().sh("cat /one /f"), "one\nf\n");

    // Without the flag, the same build writes its steps to the cache repository.
    let log = case.registry_log();
    case.build(&["--cache-copy-layers"]);
    let pushed = case
        .requests(&log)
        .into_iter()
        .filter(|r| r.uri.starts_with(&cache) && r.method == "PUT")
        .count();
    assert!(pushed > 0, "a build with --cache pushed nothing to {cache}");
}

#[test]
#[ignore = "needs the test environment"]
fn cache_run_layers_false_runs_every_run_step() {
    let case = Case::new(
        "norun",
        Store::Dir,
        "FROM {base}\nRUN echo one > /one\nCOPY f /f\nRUN cat /one /f > /both\n",
        &[("f", "f\n")],
    );
    let args = ["--cache-run-layers=false", "--cache-copy-layers"];
    case.build(&args);
    let second = case.build(&args);
    let not_cached = "not cached: --cache-run-layers=false";
    assert_eq!(
        second.outcomes,
        [
            format!("1.1 {not_cached}"),
            "1.2 hit".to_owned(),
            format!("1.3 {not_cached}")
        ]
    );
    assert_eq!(case.pull().sh("cat /both"), "one\nf\n");
}

#[test]
#[ignore = "needs the test environment"]
fn a_rebuild_whose_last_step_misses_mounts_the_unpacked_layers_and_extracts_nothing() {
    let case = Case::new(
        "unpacked",
        Store::Dir,
        "FROM {base}\n\
         RUN echo one > /one && rm /etc/group && mkdir -p /d && echo old > /d/old\n\
         ARG V\n\
         RUN echo $V >> /one && echo $V > /v && rm /etc/passwd && rm -r /d && mkdir /d \
             && echo $V > /d/new\n",
        &[],
    );
    let first = case.build(&["--build-arg", "V=1"]);
    assert!(
        first.log.contains("mounted 1 layers for"),
        "the first build does not mount its base from the cache dir:\n{}",
        first.log
    );
    let check = "cat /one /v; ls /d; test ! -e /etc/group && test ! -e /etc/passwd && echo gone";
    assert_eq!(case.pull().sh(check), "one\n1\n1\nnew\ngone\n");
    // The base and both layers were kept unpacked: the rebuild mounts them, extracting nothing,
    // and what the first build's last step wrote is not in what the second one starts from.
    let second = case.build(&["--build-arg", "V=2"]);
    assert_eq!(
        second.outcomes,
        ["1.1 hit".to_owned(), format!("1.3 {VARIABLES}")]
    );
    assert!(
        second.log.contains("mounted 2 layers for"),
        "the rebuild does not mount the unpacked layers:\n{}",
        second.log
    );
    for word in ["extracting", "extracted"] {
        assert!(
            !second.log.contains(word),
            "the rebuild says {word:?}:\n{}",
            second.log
        );
    }
    assert_eq!(case.pull().sh(check), "one\n2\n2\nnew\ngone\n");
    let unpacked = std::fs::read_dir(case.cache_dir.join("v1/unpacked"))
        .expect("the unpacked layer store exists")
        .filter_map(Result::ok)
        .filter(|e| e.file_name() != "tmp")
        .count();
    assert_eq!(
        unpacked, 4,
        "base, the first RUN's layer, and each last RUN's"
    );
}
