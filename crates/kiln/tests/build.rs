//! `kiln build` end to end: a Dockerfile built on the test registry's busybox, pushed, then
//! inspected with `skopeo` and pulled and run with `docker`; a `--no-push --tar-path` build
//! loaded with `docker load`; a failing RUN's exit code; a stage built FROM an earlier one;
//! COPY from the context with `.dockerignore`, `--chown` and `--chmod`; `COPY --from` a stage; zstd layers in an OCI layout read by `skopeo` and `zstd`; ONBUILD triggers; a heredoc RUN;
//! and what is refused with a clear error. Tests that need the registry, root and Docker are
//! ignored unless run with `--include-ignored` after `scripts/testenv up`.

use kiln_testsupport::cli::{
    DockerImage, Kiln, config_of, context, destination, is_pushed, manifest_of, stderr, stdout_of,
};
use kiln_testsupport::env;

const KILN: Kiln = Kiln::new(env!("CARGO_BIN_EXE_kiln"));

#[test]
#[ignore = "needs the test environment"]
fn env_workdir_and_run_are_pushed_and_run_under_docker() {
    let env = env();
    let dir = context(&format!(
        "FROM {}/busybox:latest\n\
         ENV GREETING=hi\n\
         WORKDIR /app\n\
         RUN echo $GREETING > /hello && rm /bin/zcat && chmod 700 /app\n\
         CMD [\"cat\", \"/hello\"]\n",
        env.registry
    ));
    let dest = destination(&env, "build", "run");
    let digest_file = dir.path().join("digest");
    let name_file = dir.path().join("name");
    let tag_file = dir.path().join("tag");
    let out = KILN.build(
        dir.path(),
        &[
            "--destination",
            &dest,
            "--digest-file",
            digest_file.to_str().expect("utf-8 path"),
            "--image-name-with-digest-file",
            name_file.to_str().expect("utf-8 path"),
            "--image-name-tag-with-digest-file",
            tag_file.to_str().expect("utf-8 path"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("[stage 1/1] step 3/4: RUN echo $GREETING"));
    let digest = std::fs::read_to_string(&digest_file).expect("digest file");
    assert!(digest.starts_with("sha256:"), "{digest}");
    let repo = dest.strip_suffix(":test").expect("tagged destination");
    let name = std::fs::read_to_string(&name_file).expect("name file");
    assert_eq!(name, format!("{repo}@{digest}\n"));
    let tag = std::fs::read_to_string(&tag_file).expect("tag file");
    assert_eq!(tag, format!("{dest}@{digest}\n"));
    let pushed = stdout_of(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            "--format",
            "{{.Digest}}",
            &format!("docker://{dest}"),
        ],
    );
    assert_eq!(
        pushed.trim(),
        digest,
        "the digest file names the pushed manifest"
    );

    let config = config_of(&dest);
    assert_eq!(config["config"]["WorkingDir"], "/app");
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!(["cat", "/hello"])
    );
    let env_list = config["config"]["Env"].as_array().expect("Env");
    assert!(env_list.iter().any(|e| e == "GREETING=hi"), "{env_list:?}");
    let history = config["history"].as_array().expect("history");
    let layers = config["rootfs"]["diff_ids"].as_array().expect("diff_ids");
    let with_layer = history.iter().filter(|h| h["empty_layer"] != true).count();
    assert_eq!(with_layer, layers.len());
    assert_eq!(layers.len(), 3, "base, WORKDIR and RUN");

    let image = DockerImage::pull(&dest);
    assert_eq!(image.run(&[]), "hi\n");
    let checks = "stat -c %a /app; test ! -e /bin/zcat && echo gone; pwd";
    let got = image.sh(checks);
    assert_eq!(got, "700\ngone\n/app\n");
}

#[test]
#[ignore = "needs the test environment"]
fn no_push_tar_path_is_loaded_by_docker() {
    let env = env();
    let dir = context(&format!(
        "FROM {}/busybox:latest\nRUN echo from-tarball > /t\nCMD [\"cat\", \"/t\"]\n",
        env.registry
    ));
    let dest = destination(&env, "build", "tarball");
    let tar = dir.path().join("image.tar");
    let out = KILN.build(
        dir.path(),
        &[
            "--no-push",
            "--destination",
            &dest,
            "--tar-path",
            tar.to_str().expect("utf-8 path"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!is_pushed(&dest), "--no-push pushed the image");
    let image = DockerImage::load(&tar, &dest);
    assert_eq!(image.run(&[]), "from-tarball\n");
}

#[test]
#[ignore = "needs the test environment"]
fn a_failing_run_gives_its_exit_code_and_pushes_nothing() {
    let env = env();
    let dir = context(&format!(
        "FROM {}/busybox:latest\nRUN echo before > /before\nRUN exit 7\n",
        env.registry
    ));
    let dest = destination(&env, "build", "failing");
    let out = KILN.build(dir.path(), &["--destination", &dest]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert!(stderr(&out).contains("exit 7"), "{}", stderr(&out));
    assert!(stderr(&out).contains("3:1: stage 0"), "{}", stderr(&out));
    assert!(!is_pushed(&dest), "a failed build pushed its tag");
}

#[test]
#[ignore = "needs the test environment"]
fn a_stage_built_from_an_earlier_stage_keeps_its_files_and_config() {
    let env = env();
    let dir = context(&format!(
        "FROM {}/busybox:latest AS first\n\
         ENV FROM_FIRST=yes\n\
         RUN echo one > /one\n\
         FROM first\n\
         RUN cat /one > /two && echo $FROM_FIRST >> /two\n\
         USER nobody\n\
         WORKDIR /home/nobody/work\n\
         CMD [\"cat\", \"/two\"]\n",
        env.registry
    ));
    let dest = destination(&env, "build", "stages");
    let out = KILN.build(dir.path(), &["--destination", &dest]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("[stage 2/2] step 1/4: RUN cat /one"));
    let config = config_of(&dest);
    assert_eq!(
        config["rootfs"]["diff_ids"].as_array().map(Vec::len),
        Some(4),
        "base, first stage's RUN, second stage's RUN and WORKDIR"
    );
    let image = DockerImage::pull(&dest);
    assert_eq!(image.run(&[]), "one\nyes\n");
    let owners = "stat -c '%n %u' /home/nobody /home/nobody/work";
    let got = image.sh(owners);
    assert_eq!(got, "/home/nobody 65534\n/home/nobody/work 65534\n");
}

#[test]
#[ignore = "needs the test environment"]
fn copy_from_the_context_is_owned_by_root_unless_chown_says_otherwise() {
    let env = env();
    let dir = context(&format!(
        "FROM {}/busybox:latest\n\
         WORKDIR /srv\n\
         COPY hello.txt ./\n\
         COPY --chown=nobody --chmod=600 hello.txt /owned\n\
         COPY ignored.txt /ignored\n",
        env.registry
    ));
    std::fs::write(dir.path().join("hello.txt"), "hello\n").expect("file written");
    std::fs::write(dir.path().join(".dockerignore"), "ignored.txt\n").expect("ignore written");
    std::fs::write(dir.path().join("ignored.txt"), "no\n").expect("file written");
    let out = KILN.build(dir.path(), &["--no-push"]);
    assert!(!out.status.success(), ".dockerignore'd source was copied");
    assert!(
        stderr(&out).contains("5:1: stage 0: cannot copy"),
        "{}",
        stderr(&out)
    );

    std::fs::write(
        dir.path().join("Dockerfile"),
        format!(
            "FROM {}/busybox:latest\n\
             WORKDIR /srv\n\
             COPY hello.txt ./\n\
             COPY --chown=nobody --chmod=600 hello.txt /owned\n",
            env.registry
        ),
    )
    .expect("Dockerfile written");
    let dest = destination(&env, "build", "copy");
    let out = KILN.build(dir.path(), &["--destination", &dest]);
    assert!(out.status.success(), "{}", stderr(&out));
    let image = DockerImage::pull(&dest);
    let checks = "cat /srv/hello.txt; stat -c '%u:%g %a' /srv/hello.txt /owned";
    let got = image.sh(checks);
    assert_eq!(got, "hello\n0:0 644\n65534:65534 600\n");
}

#[test]
#[ignore = "needs the test environment"]
fn copy_from_an_earlier_stage_by_name_and_index() {
    let env = env();
    let dir = context(&format!(
        "FROM {reg}/busybox:latest AS builder\n\
         RUN mkdir /out && echo built > /out/artifact\n\
         FROM scratch AS files\n\
         FROM {reg}/busybox:latest\n\
         COPY --from=builder /out/artifact /app/\n\
         COPY --from=0 /out /again\n\
         CMD [\"cat\", \"/app/artifact\", \"/again/artifact\"]\n",
        reg = env.registry
    ));
    let dest = destination(&env, "build", "copy-from");
    let out = KILN.build(dir.path(), &["--destination", &dest]);
    assert!(out.status.success(), "{}", stderr(&out));
    let image = DockerImage::pull(&dest);
    assert_eq!(image.run(&[]), "built\nbuilt\n");
}

#[test]
#[ignore = "needs the test environment"]
fn zstd_layers_make_an_oci_image_in_the_layout() {
    let env = env();
    let dir = context(&format!(
        "FROM {}/busybox:latest\nRUN echo z > /z\n",
        env.registry
    ));
    let layout = dir.path().join("layout");
    let layout_arg = layout.to_str().expect("utf-8 path");
    let out = KILN.build(
        dir.path(),
        &[
            "--no-push",
            "--compression=zstd",
            "--oci-layout-path",
            layout_arg,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let manifest = manifest_of(&format!("oci:{layout_arg}"));
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(
        layers.last().map(|l| l["mediaType"].clone()),
        Some(serde_json::json!(
            "application/vnd.oci.image.layer.v1.tar+zstd"
        ))
    );
    // The last layer, read back with the zstd tool (Debian's umoci reads no zstd).
    let digest = layers
        .last()
        .and_then(|l| l["digest"].as_str())
        .and_then(|d| d.strip_prefix("sha256:"))
        .expect("layer digest");
    let blob = layout.join("blobs/sha256").join(digest);
    let script = format!("zstd -dc {} | tar -xOf - z", blob.display());
    assert_eq!(stdout_of("sh", &["-c", &script]), "z\n");
}

#[test]
#[ignore = "needs the test environment"]
fn a_run_layer_holds_only_what_the_command_changed() {
    let env = env();
    let dir = context(&format!(
        "FROM {}/busybox:latest\nRUN echo hi > /hello && rm /bin/zcat\n",
        env.registry
    ));
    let layout = dir.path().join("layout");
    let layout_arg = layout.to_str().expect("utf-8 path");
    let out = KILN.build(dir.path(), &["--no-push", "--oci-layout-path", layout_arg]);
    assert!(out.status.success(), "{}", stderr(&out));
    let manifest = manifest_of(&format!("oci:{layout_arg}"));
    let digest = manifest["layers"]
        .as_array()
        .and_then(|l| l.last())
        .and_then(|l| l["digest"].as_str())
        .and_then(|d| d.strip_prefix("sha256:"))
        .expect("layer digest")
        .to_owned();
    let blob = layout.join("blobs/sha256").join(digest);
    let listing = stdout_of("tar", &["-tzf", blob.to_str().expect("utf-8 path")]);
    // No /etc: the sandbox's /etc/hosts and /etc/resolv.conf mount points are not changes.
    assert_eq!(listing, "bin/\nbin/.wh.zcat\nhello\n");
}

#[test]
#[ignore = "needs the test environment"]
fn onbuild_triggers_of_the_parent_stage_run_first_and_heredocs_feed_the_shell() {
    let env = env();
    let dir = context(&format!(
        "FROM {}/busybox:latest AS parent\n\
         ONBUILD RUN echo triggered > /trig\n\
         FROM parent\n\
         RUN <<EOT\n\
         echo plain > /plain\n\
         EOT\n\
         CMD [\"cat\", \"/trig\", \"/plain\"]\n",
        env.registry
    ));
    let dest = destination(&env, "build", "onbuild");
    let out = KILN.build(dir.path(), &["--destination", &dest]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("step 1/3: RUN echo triggered > /trig (ONBUILD trigger of the base)"),
        "{}",
        stderr(&out)
    );
    let config = config_of(&dest);
    assert!(
        config["config"]["OnBuild"].is_null(),
        "triggers carried over"
    );
    let image = DockerImage::pull(&dest);
    assert_eq!(image.run(&[]), "triggered\nplain\n");
}

#[test]
#[ignore = "needs the test environment"]
fn heredoc_with_a_shebang_runs_as_a_script_on_a_base_without_dev() {
    // busybox has no /dev: the script is mounted at /dev/pipes/NAME inside the /dev stub.
    let env = env();
    let dir = context(&format!(
        "FROM {}/busybox:latest\n\
         RUN <<EOT\n\
         #!/bin/sh -e\n\
         echo \"script $0\" > /script\n\
         EOT\n\
         CMD [\"cat\", \"/script\"]\n",
        env.registry
    ));
    let dest = destination(&env, "build", "shebang");
    let out = KILN.build(dir.path(), &["--destination", &dest]);
    assert!(out.status.success(), "{}", stderr(&out));
    let image = DockerImage::pull(&dest);
    assert_eq!(image.run(&[]), "script /dev/pipes/EOT\n");
}

#[test]
fn run_security_insecure_is_refused_naming_the_entitlement() {
    let dir = context("FROM scratch\nRUN --security=insecure true\n");
    let out = KILN.build(dir.path(), &["--no-push"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("--allow security.insecure"), "{err}");
}
