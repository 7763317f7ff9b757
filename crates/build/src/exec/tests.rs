//! Whole-Dockerfile tests of the pure executor: plan, metadata, RUN processes and history.

use std::collections::BTreeMap;

use kiln_dockerfile::instruction::Instruction;
use kiln_dockerfile::parse_dockerfile;
use kiln_oci::{ConfigFile, Platform};

use super::*;
use crate::plan::{Base, BuildArgs, PlanOptions};

fn platform() -> Platform {
    Platform::new("linux", "amd64", None)
}

/// The config of the base image every `FROM <image>` gets in these tests.
fn base_config() -> ConfigFile {
    let mut config = ConfigFile::new(&platform());
    config.config.env = Some(vec!["PATH=/usr/bin:/bin".into(), "LANG=C".into()]);
    config.config.cmd = Some(vec!["sh".into()]);
    config
}

fn home(user: &str) -> Option<String> {
    match user {
        "root" => Some("/root".into()),
        "app" => Some("/home/app".into()),
        _ => None,
    }
}

struct Built {
    state: StageState,
    runs: Vec<RunProcess>,
}

fn try_build(src: &str, build_args: &[&str]) -> Result<Built, Error> {
    let file = parse_dockerfile(src).unwrap();
    let options = PlanOptions {
        build_args: BuildArgs::parse(build_args, |_| None)?,
        target: None,
        skip_unused_stages: false,
        target_platform: platform(),
        build_platform: platform(),
    };
    let plan = Plan::new(&file, &options)?;
    let clock = Clock::at_unix(1_700_000_000);
    let mut states: BTreeMap<usize, StageState> = BTreeMap::new();
    let mut runs = Vec::new();
    for planned in &plan.stages {
        let stage = planned.stage_ref();
        let mut state = match &planned.base {
            Base::Scratch => StageState::scratch(stage, &platform(), file.escape),
            Base::Stage(i) => states[i].child(stage),
            Base::Image(_) => StageState::from_image(stage, base_config(), file.escape),
        };
        let triggers = state.take_onbuild_triggers();
        let mut instructions = trigger_instructions(&triggers, &state.stage, planned.span)?;
        instructions.extend(file.stages[planned.index].instructions.iter().cloned());
        for instruction in &instructions {
            match instruction {
                Instruction::Run(r) => {
                    let p = run::process(&state, r, &plan, home);
                    state.config.history.push(p.history(&clock));
                    runs.push(p);
                }
                Instruction::Copy(c) => {
                    let text = copy_args(&state, c)?.created_by;
                    state.config.history.push(clock.layer(&text));
                }
                Instruction::Add(a) => {
                    let text = add_args(&state, a)?.created_by;
                    state.config.history.push(clock.layer(&text));
                }
                other => {
                    let outcome = apply(&mut state, other, &plan, &clock)?;
                    state.config.history.extend(outcome.history);
                }
            }
        }
        states.insert(planned.index, state);
    }
    Ok(Built {
        state: states.remove(&plan.target).unwrap(),
        runs,
    })
}

fn build(src: &str, build_args: &[&str]) -> Built {
    try_build(src, build_args).unwrap()
}

fn created_by(built: &Built) -> Vec<String> {
    built
        .state
        .config
        .history
        .iter()
        .map(|h| h.created_by.clone().unwrap_or_default())
        .collect()
}

#[test]
fn history_text_matches_buildkit_per_instruction() {
    let cases: &[(&str, &str, bool)] = &[
        ("ENV A=b C=\"d e\"", "ENV A=b C=d e", true),
        ("ENV LEGACY some value", "ENV LEGACY=some value", true),
        ("LABEL a=b", "LABEL a=b", true),
        ("EXPOSE 80 53/udp", "EXPOSE map[53/udp:{} 80/tcp:{}]", true),
        ("VOLUME /a /b", "VOLUME [/a /b]", true),
        ("VOLUME [\"/data\"]", "VOLUME [/data]", true),
        ("USER app:app", "USER app:app", true),
        ("WORKDIR /x", "WORKDIR /x", false),
        ("WORKDIR /", "WORKDIR /", true),
        ("STOPSIGNAL SIGKILL", "STOPSIGNAL SIGKILL", true),
        ("MAINTAINER me <me@x>", "MAINTAINER me <me@x>", true),
        ("CMD [\"a\", \"b c\"]", "CMD [\"a\" \"b c\"]", true),
        ("CMD echo hi", "CMD [\"/bin/sh\" \"-c\" \"echo hi\"]", true),
        ("ENTRYPOINT [\"/e\"]", "ENTRYPOINT [\"/e\"]", true),
        (
            "SHELL [\"/bin/bash\", \"-c\"]",
            "SHELL [/bin/bash -c]",
            true,
        ),
        ("ARG V=1", "ARG V=1", true),
        ("ARG NONE", "ARG NONE", true),
        (
            "HEALTHCHECK --interval=5m --timeout=3s --retries=3 CMD curl -f http://x/",
            "HEALTHCHECK &{[\"CMD-SHELL\" \"curl -f http://x/\"] \"5m0s\" \"3s\" \"0s\" \"0s\" '\\x03'}",
            true,
        ),
        (
            "HEALTHCHECK NONE",
            "HEALTHCHECK &{[\"NONE\"] \"0s\" \"0s\" \"0s\" \"0s\" '\\x00'}",
            true,
        ),
        ("RUN make", "RUN /bin/sh -c make # buildkit", false),
        ("RUN [\"make\", \"all\"]", "RUN make all # buildkit", false),
        ("COPY dir /x", "COPY dir /x # buildkit", false),
        ("ADD --chown=1 a /", "ADD --chown=1 a / # buildkit", false),
    ];
    for (line, want, empty) in cases {
        let built = build(&format!("FROM scratch\n{line}\n"), &[]);
        let h = built.state.config.history.last().unwrap();
        assert_eq!(h.created_by.as_deref(), Some(*want), "{line}");
        assert_eq!(h.empty_layer, *empty, "{line}");
        assert_eq!(h.created.as_deref(), Some("2023-11-14T22:13:20Z"));
        assert_eq!(h.comment.as_deref(), Some(HISTORY_COMMENT));
    }
}

#[test]
fn onbuild_is_stored_raw_without_history() {
    let built = build(
        "FROM scratch\nONBUILD RUN echo $HOME\nONBUILD COPY . /app\n",
        &[],
    );
    assert_eq!(
        built.state.config.config.on_build,
        Some(vec!["RUN echo $HOME".into(), "COPY . /app".into()])
    );
    assert!(built.state.config.history.is_empty());
}

#[test]
fn entrypoint_resets_cmd_unless_cmd_was_set_in_the_same_stage() {
    let cases: &[(&str, Option<&[&str]>)] = &[
        ("FROM img\nENTRYPOINT [\"e\"]\n", None),
        ("FROM img\nCMD [\"c\"]\nENTRYPOINT [\"e\"]\n", Some(&["c"])),
        ("FROM img\nENTRYPOINT [\"e\"]\nCMD [\"c\"]\n", Some(&["c"])),
        (
            "FROM img AS a\nCMD [\"c\"]\nFROM a\nENTRYPOINT [\"e\"]\n",
            None,
        ),
        ("FROM img\nLABEL x=y\n", Some(&["sh"])),
    ];
    for (src, want) in cases {
        let built = build(src, &[]);
        let want = want.map(|w| w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(built.state.config.config.cmd, want, "{src}");
    }
}

#[test]
fn empty_exec_forms_leave_cmd_and_entrypoint_out() {
    type Argv = Option<&'static [&'static str]>;
    let cases: &[(&str, Argv, Argv)] = &[
        ("FROM img\nCMD []\n", None, None),
        (
            "FROM img AS a\nENTRYPOINT [\"e\"]\nFROM a\nENTRYPOINT []\n",
            None,
            None,
        ),
        ("FROM img\nENTRYPOINT [\"e\"]\nCMD []\n", None, Some(&["e"])),
        ("FROM img\nCMD [\"\"]\n", Some(&[""]), None),
    ];
    let owned = |v: Option<&[&str]>| v.map(|w| w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    for (src, cmd, entrypoint) in cases {
        let config = build(src, &[]).state.config.config;
        assert_eq!(config.cmd, owned(*cmd), "{src}");
        assert_eq!(config.entrypoint, owned(*entrypoint), "{src}");
    }
}

#[test]
fn args_escaped_is_set_by_cmd_only() {
    let cases = [
        ("FROM scratch\nCMD [\"a\"]\n", true),
        ("FROM scratch\nCMD a\n", true),
        ("FROM scratch\nENTRYPOINT a\n", false),
        ("FROM scratch\nENTRYPOINT [\"a\"]\n", false),
    ];
    for (src, want) in cases {
        assert_eq!(
            build(src, &[]).state.config.config.args_escaped,
            want,
            "{src}"
        );
    }
}

#[test]
fn shell_form_commands_use_the_shell_in_force() {
    let built = build(
        "FROM scratch\nSHELL [\"/bin/bash\", \"-eo\", \"pipefail\", \"-c\"]\nCMD run it\nRUN make\n",
        &[],
    );
    assert_eq!(
        built.state.config.config.cmd,
        Some(vec![
            "/bin/bash".into(),
            "-eo".into(),
            "pipefail".into(),
            "-c".into(),
            "run it".into()
        ])
    );
    assert_eq!(
        built.runs[0].argv,
        ["/bin/bash", "-eo", "pipefail", "-c", "make"]
    );
}

#[test]
fn workdir_is_relative_to_the_previous_and_expanded() {
    let cases = [
        ("WORKDIR /a\nWORKDIR b\nWORKDIR c/../d", "/a/b/d"),
        ("WORKDIR rel", "/rel"),
        ("ENV D=/srv\nWORKDIR $D/app/", "/srv/app"),
        ("WORKDIR /a\nWORKDIR /b", "/b"),
    ];
    for (lines, want) in cases {
        let built = build(&format!("FROM scratch\n{lines}\n"), &[]);
        assert_eq!(
            built.state.config.config.working_dir.as_deref(),
            Some(want),
            "{lines}"
        );
    }
}

#[test]
fn env_pairs_of_one_instruction_see_the_values_before_it() {
    let built = build(
        "FROM scratch\nENV A=1\nENV A=2 B=$A\nENV PATH=$PATH:/x\n",
        &[],
    );
    let env = built.state.env();
    assert_eq!(env["A"], "2");
    assert_eq!(env["B"], "1");
    assert_eq!(env["PATH"], format!("{DEFAULT_PATH}:/x"));
    let list = built.state.config.config.env.clone().unwrap();
    assert_eq!(
        list[0],
        format!("PATH={DEFAULT_PATH}:/x"),
        "replaced in place"
    );
}

#[test]
fn labels_and_ports_accumulate() {
    let built = build(
        "FROM scratch\nARG P=9000\nLABEL a=1 \"b c\"=\"x y\"\nLABEL a=2\nEXPOSE 80\nEXPOSE $P-9001/udp\n",
        &[],
    );
    let c = &built.state.config.config;
    let labels = c.labels.clone().unwrap();
    assert_eq!(labels["a"], "2");
    assert_eq!(labels["b c"], "x y");
    let ports: Vec<_> = c.exposed_ports.clone().unwrap().into_keys().collect();
    assert_eq!(ports, ["80/tcp", "9000/udp", "9001/udp"]);
}

#[test]
fn cli_labels_override_dockerfile_labels() {
    let mut built = build("FROM scratch\nLABEL a=1 b=2\n", &[]);
    let cli: BTreeMap<String, String> = [("b".to_owned(), "cli".to_owned())].into();
    apply_labels(&mut built.state.config, &cli);
    let labels = built.state.config.config.labels.unwrap();
    assert_eq!(labels["a"], "1");
    assert_eq!(labels["b"], "cli");
}

#[test]
fn platform_args_are_visible_in_a_stage_only_once_declared() {
    let built = build(
        "FROM scratch\nRUN echo before\nARG TARGETARCH\nRUN echo after\n",
        &[],
    );
    let has = |p: &RunProcess| p.env.iter().any(|e| e == "TARGETARCH=amd64");
    assert!(!has(&built.runs[0]));
    assert!(has(&built.runs[1]));
    assert_eq!(
        built.runs[1].created_by,
        "RUN |1 TARGETARCH=amd64 /bin/sh -c echo after"
    );
}

#[test]
fn build_arg_values_never_reach_history() {
    let src = "ARG TOKEN\nFROM scratch\nARG TOKEN\nARG URL=https://h/?t=$TOKEN\nARG V=1\nARG W\nRUN fetch\n";
    let built = build(
        src,
        &["TOKEN=s3cr3t", "W=from-cli", "HTTP_PROXY=http://p:3128"],
    );
    let lines = created_by(&built);
    assert_eq!(
        lines,
        [
            "ARG TOKEN",
            "ARG URL",
            "ARG V=1",
            "ARG W",
            "RUN |4 TOKEN URL V=1 W /bin/sh -c fetch # buildkit",
        ]
    );
    let run = &built.runs[0];
    assert!(run.env.contains(&"TOKEN=s3cr3t".to_owned()));
    assert!(run.env.contains(&"URL=https://h/?t=s3cr3t".to_owned()));
    assert!(run.env.contains(&"HTTP_PROXY=http://p:3128".to_owned()));
    let all = serde_json::to_string(&built.state.config).unwrap();
    assert!(
        !all.contains("s3cr3t") && !all.contains("from-cli"),
        "{all}"
    );
}

#[test]
fn run_env_has_image_env_args_and_home() {
    let cases: &[(&str, &[&str])] = &[
        (
            "FROM img\nARG A=1\nENV A=env\nRUN x\n",
            &["PATH=/usr/bin:/bin", "LANG=C", "A=env", "HOME=/root"],
        ),
        (
            "FROM scratch\nUSER app\nRUN x\n",
            &[
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "HOME=/home/app",
            ],
        ),
        (
            "FROM scratch\nUSER 1234\nENV LANG=C\nRUN x\n",
            &[
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "LANG=C",
                "HOME=/",
            ],
        ),
        (
            "FROM scratch\nENV HOME=/h\nARG B=2\nRUN x\n",
            &[
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "HOME=/h",
                "B=2",
            ],
        ),
    ];
    for (src, want) in cases {
        let built = build(src, &[]);
        assert_eq!(built.runs[0].env, *want, "{src}");
    }
}

#[test]
fn heredoc_runs_as_buildkit_runs_them() {
    type Case = (&'static str, &'static [&'static str], Option<&'static str>);
    let cases: &[Case] = &[
        (
            "RUN <<EOF\necho a\necho b\nEOF\n",
            &["/bin/sh", "-c", "echo a\necho b\n"],
            None,
        ),
        (
            "RUN <<-EOF\n\techo tab\n\tEOF\n",
            &["/bin/sh", "-c", "echo tab\n"],
            None,
        ),
        (
            "RUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\n",
            &["/bin/sh", "-c", "/dev/pipes/EOF"],
            Some("#!/usr/bin/env python3\nprint(1)\n"),
        ),
        (
            "RUN cat <<EOF > /f\n$HOME\nEOF\n",
            &["/bin/sh", "-c", "cat <<EOF > /f\n$HOME\nEOF"],
            None,
        ),
        (
            "RUN <<A <<B cat /dev/fd/0\na\nA\nb\nB\n",
            &["/bin/sh", "-c", "<<A <<B cat /dev/fd/0\na\nA\nb\nB"],
            None,
        ),
    ];
    for (lines, argv, script) in cases {
        let built = build(&format!("FROM scratch\n{lines}"), &[]);
        let run = &built.runs[0];
        assert_eq!(run.argv, *argv, "{lines}");
        assert_eq!(
            run.script.as_ref().map(|s| s.content.as_str()),
            *script,
            "{lines}"
        );
        if let Some(s) = &run.script {
            assert_eq!((s.path.as_str(), s.mode), ("/dev/pipes/EOF", 0o755));
        }
    }
}

#[test]
fn invalid_values_point_at_the_line_and_stage() {
    let cases = [
        (
            "FROM scratch AS s\nEXPOSE 80/icmp\n",
            "2:1: stage s: EXPOSE: invalid proto: icmp",
        ),
        (
            "FROM scratch\nSTOPSIGNAL SIGNOPE\n",
            "2:1: stage 0: STOPSIGNAL: invalid signal: SIGNOPE",
        ),
        (
            "FROM scratch\nENV A=${B:?unset}\n",
            "2:1: stage 0: cannot expand \"${B:?unset}\"",
        ),
        (
            "FROM scratch\nARG E\nVOLUME $E\n",
            "3:1: stage 0: VOLUME: VOLUME specified can not be an empty string",
        ),
    ];
    for (src, want) in cases {
        let err = try_build(src, &[]).err().unwrap();
        assert_eq!(err.to_string(), want, "{src}");
    }
}

#[test]
fn filesystem_instructions_are_not_metadata() {
    let file = parse_dockerfile("FROM scratch\nRUN x\n").unwrap();
    let options = PlanOptions {
        build_args: BuildArgs::default(),
        target: None,
        skip_unused_stages: false,
        target_platform: platform(),
        build_platform: platform(),
    };
    let plan = Plan::new(&file, &options).unwrap();
    let mut state = StageState::scratch(plan.stages[0].stage_ref(), &platform(), '\\');
    let err = apply(
        &mut state,
        &file.stages[0].instructions[0],
        &plan,
        &Clock::at_unix(0),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "2:1: stage 0: RUN is not a metadata instruction"
    );
}

#[test]
fn snapshot_multi_stage_service() {
    let built = build(
        "\
ARG VERSION=1.2.3
FROM img AS build
ARG VERSION
ENV GOFLAGS=-mod=vendor
WORKDIR /src
RUN make VERSION=$VERSION
FROM build
LABEL org.opencontainers.image.version=$VERSION
EXPOSE 8080 9090/udp
VOLUME [\"/data\"]
USER app
WORKDIR app
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=30s --start-period=5s CMD [\"/bin/health\"]
ENTRYPOINT [\"/bin/server\"]
CMD [\"--port\", \"8080\"]
ONBUILD COPY . /src
",
        &[],
    );
    insta::assert_json_snapshot!("multi_stage_service", built.state.config);
}

#[test]
fn snapshot_scratch_with_shell_forms() {
    let built = build(
        "\
FROM scratch
MAINTAINER kiln <kiln@example.invalid>
SHELL [\"/bin/ash\", \"-c\"]
ENV A=1 B=\"two words\"
ENTRYPOINT exec /app \"$A\"
",
        &[],
    );
    insta::assert_json_snapshot!("scratch_with_shell_forms", built.state.config);
}

#[test]
fn workdir_asks_for_its_directory_unless_it_is_the_root() {
    let file = parse_dockerfile("FROM scratch\nWORKDIR /app\nWORKDIR /\nUSER app\n").unwrap();
    let options = PlanOptions {
        build_args: BuildArgs::default(),
        target: None,
        skip_unused_stages: false,
        target_platform: platform(),
        build_platform: platform(),
    };
    let plan = Plan::new(&file, &options).unwrap();
    let mut state = StageState::scratch(plan.stages[0].stage_ref(), &platform(), '\\');
    let clock = Clock::at_unix(0);
    let dirs: Vec<_> = file.stages[0]
        .instructions
        .iter()
        .map(|i| apply(&mut state, i, &plan, &clock).unwrap().create_dir)
        .collect();
    assert_eq!(dirs, [Some("/app".to_owned()), None, None]);
}

#[test]
fn child_stages_run_the_parents_onbuild_triggers_first() {
    let built = build(
        "FROM img AS a\nARG V=1\nONBUILD RUN x\nENV E=e\nFROM a\nRUN y\n",
        &[],
    );
    assert_eq!(built.state.config.config.on_build, None);
    assert_eq!(built.state.env()["E"], "e");
    let runs: Vec<_> = built.runs.iter().map(|r| r.created_by.as_str()).collect();
    assert_eq!(runs, ["RUN |1 V=1 /bin/sh -c x", "RUN |1 V=1 /bin/sh -c y"]);
}

#[test]
fn snapshot_build_args_heredocs_and_copies() {
    let built = build(
        "\
ARG REGISTRY_TOKEN
ARG DEBIAN=bookworm
FROM img
ARG REGISTRY_TOKEN
ARG DEBIAN
ARG TARGETPLATFORM
RUN <<EOF
#!/bin/sh
set -e
echo \"building for $TARGETPLATFORM on $DEBIAN\"
EOF
COPY --chown=app <<conf /etc/app.conf
token-free
conf
RUN [\"/bin/true\"]
",
        &["REGISTRY_TOKEN=hunter2"],
    );
    let json = serde_json::to_string(&built.state.config).unwrap();
    assert!(!json.contains("hunter2"));
    insta::assert_json_snapshot!("build_args_heredocs_and_copies", built.state.config);
}
