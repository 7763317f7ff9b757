//! The process a RUN starts, and its history entry: the pure part of RUN.
//!
//! Owns, as BuildKit's `dispatchRun` in `dockerfile2llb/convert.go` decides them:
//! - **argv**: exec form as written; shell form as the SHELL in force (`/bin/sh -c` by
//!   default) followed by the command line;
//! - **heredocs**: when the command is a single heredoc marker (`RUN <<EOF`) whose body starts
//!   with `#!` (and the image is not Windows), the body becomes a script file, mode 0755,
//!   mounted read-only at `/dev/pipes/<name>`, and the shell runs that path; a single heredoc
//!   without `#!` is passed to the shell as the command text (tabs stripped for `<<-`); any
//!   other heredoc use (`RUN cat <<EOF`, several heredocs) is rebuilt as one shell script,
//!   `line\nbody NAME` per heredoc, and the shell reads the heredocs itself. Bodies are never
//!   expanded by kiln;
//! - **environment**: the image ENV (PATH defaulted when missing), then the ARGs in scope
//!   that the ENV does not override (ENV wins, as the reference says), then the proxy build
//!   args (`HTTP_PROXY` and friends need no ARG), then `HOME` from the USER when the ENV does
//!   not set it, through a lookup in the rootfs' `/etc/passwd` that the caller provides (`/`
//!   when the user has no entry, as Docker does).
//!
//! **History and build-arg values.** BuildKit writes RUN's `created_by` as `RUN |N K=V ...
//! argv`, listing every ARG declared in the stage with its value, and `ARG K=V` for the ARG
//! itself. kiln keeps that format, so a build without `--build-arg` has the same history as
//! `docker build`, but a value that came from `--build-arg` (directly, through a meta ARG, or
//! through a default that uses one) is never written: the entry shows the name alone
//! (`|1 TOKEN /bin/sh -c make`, `ARG TOKEN`). Build args are where tokens and passwords are
//! passed, and history is public; this is the one place kiln's history differs from BuildKit's
//! on purpose. Proxy build args never appear, as in BuildKit. An `ENV` that copies a build
//! arg (`ENV T=$TOKEN`) is the Dockerfile's choice: its value is in the config and in history.
//! Reference: <https://docs.docker.com/reference/dockerfile/#run>.

use kiln_dockerfile::instruction::{CommandLine, Run};
use kiln_dockerfile::scope::PROXY_ARGS;
use kiln_dockerfile::{Heredoc, Lexer};
use kiln_oci::History;

use super::command::with_shell;
use super::{Clock, StageState};
use crate::plan::Plan;

/// Where BuildKit mounts a heredoc script.
pub const SCRIPT_DIR: &str = "/dev/pipes/";

/// A heredoc script the sandbox mounts read-only before starting the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// Absolute path inside the container (`/dev/pipes/EOF`).
    pub path: String,
    pub content: String,
    pub mode: u32,
}

/// Everything the sandbox needs to start a RUN, and its history text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunProcess {
    pub argv: Vec<String>,
    /// `KEY=value`, in order.
    pub env: Vec<String>,
    /// The user as the config has it (`""` is root); the sandbox resolves it in the rootfs.
    pub user: String,
    /// The working directory, `/` when unset.
    pub cwd: String,
    pub script: Option<Script>,
    /// `created_by` without BuildKit's ` # buildkit` suffix.
    pub created_by: String,
}

impl RunProcess {
    /// The history entry of this RUN (a layer).
    pub fn history(&self, clock: &Clock) -> History {
        clock.layer(&self.created_by)
    }
}

/// Whether `line` is a lone heredoc marker (BuildKit `parser.ParseHeredoc` on the whole
/// command: `^(\d*)<<(-?)([^<]*)$` whose rest is one word).
fn lone_marker(line: &str) -> bool {
    let rest = line.trim_start_matches(|c: char| c.is_ascii_digit());
    let Some(rest) = rest.strip_prefix("<<") else {
        return false;
    };
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    if rest.is_empty() || rest.contains('<') {
        return false;
    }
    let none: &[(&str, &str)] = &[];
    Lexer::new('\\')
        .expand_words(rest, none)
        .is_ok_and(|w| w.len() == 1)
}

/// The command text and script of a shell-form RUN with heredocs.
fn heredoc_command(state: &StageState, line: &str, docs: &[Heredoc]) -> (String, Option<Script>) {
    match docs {
        [doc] if lone_marker(line) => {
            let body = doc.body();
            if state.config.os != "windows" && doc.content.starts_with("#!") {
                let path = format!("{SCRIPT_DIR}{}", doc.name);
                let script = Script {
                    path: path.clone(),
                    content: body,
                    mode: 0o755,
                };
                (path, Some(script))
            } else {
                (body, None)
            }
        }
        _ => {
            let mut full = line.to_owned();
            for doc in docs {
                full.push('\n');
                full.push_str(&doc.content);
                full.push_str(&doc.name);
            }
            (full, None)
        }
    }
}

/// The process of `run` in `state`. `home` maps the config's user (`root` when unset) to its
/// home directory in the rootfs.
pub fn process(
    state: &StageState,
    run: &Run,
    plan: &Plan,
    home: impl Fn(&str) -> Option<String>,
) -> RunProcess {
    let (argv, script) = match &run.command {
        CommandLine::Exec(args) => (args.clone(), None),
        CommandLine::Shell(line) if run.heredocs.is_empty() => (with_shell(state, line), None),
        CommandLine::Shell(line) => {
            let (text, script) = heredoc_command(state, line, &run.heredocs);
            (with_shell(state, &text), script)
        }
    };
    let image_env = state.image_env();
    let mut env: Vec<String> = image_env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let defined = |env: &[String], key: &str| {
        env.iter()
            .any(|kv| kv.split_once('=').map_or(kv.as_str(), |(k, _)| k) == key)
    };
    for arg in &state.args {
        if let Some(value) = &arg.value {
            if !defined(&env, &arg.name) {
                env.push(format!("{}={value}", arg.name));
            }
        }
    }
    for name in PROXY_ARGS {
        if let Some(value) = plan.build_args.get(*name) {
            if !defined(&env, name) {
                env.push(format!("{name}={value}"));
            }
        }
    }
    let user = state.config.config.user.clone().unwrap_or_default();
    if !defined(&env, "HOME") {
        let name = if user.is_empty() {
            "root"
        } else {
            user.as_str()
        };
        let home = home(name).unwrap_or_else(|| "/".to_owned());
        env.push(format!("HOME={home}"));
    }
    let created_by = format!("RUN {}", command_string(state, &argv));
    RunProcess {
        argv,
        env,
        user,
        cwd: state
            .config
            .config
            .working_dir
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".to_owned()),
        script,
        created_by,
    }
}

/// BuildKit's `runCommandString`: `|N K=V ...` for the stage's ARGs (a value from the ENV
/// when it overrides one), then the argv joined by spaces; secret values left out.
fn command_string(state: &StageState, argv: &[String]) -> String {
    let env = state.env();
    let mut words: Vec<String> = state
        .args
        .iter()
        .map(|arg| {
            if arg.secret {
                return arg.name.clone();
            }
            let value = env
                .get(&arg.name)
                .cloned()
                .or_else(|| arg.value.clone())
                .unwrap_or_default();
            format!("{}={value}", arg.name)
        })
        .collect();
    if !words.is_empty() {
        words.insert(0, format!("|{}", words.len()));
    }
    words.extend(argv.iter().cloned());
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_markers_are_whole_commands() {
        let cases = [
            ("<<EOF", true),
            ("<<-EOT", true),
            ("<<'EOF'", true),
            ("3<<EOF", true),
            ("<<EOF bash", false),
            ("cat <<EOF", false),
            ("<<A <<B", false),
            ("<<", false),
        ];
        for (line, want) in cases {
            assert_eq!(lone_marker(line), want, "{line}");
        }
    }
}
