//! CMD, ENTRYPOINT, SHELL and HEALTHCHECK on the image config.
//!
//! Owns what BuildKit's `dispatchCmd`, `dispatchEntrypoint`, `dispatchShell` and
//! `dispatchHealthcheck` write:
//! - shell form runs through the SHELL in force (`/bin/sh -c` by default), exec form as is;
//! - CMD sets `ArgsEscaped: true`, in either form, as BuildKit does; ENTRYPOINT leaves it;
//! - ENTRYPOINT clears the CMD unless CMD was set earlier in the same stage (moby's
//!   `dispatchEntrypoint` and BuildKit both keep a "CMD set here" flag per stage, so a CMD
//!   inherited from the base image or from a parent stage is dropped);
//! - an empty exec form (`CMD []`, `ENTRYPOINT []`) leaves the field out, as BuildKit's image
//!   config (`omitempty` on `Cmd` and `Entrypoint`) writes it;
//! - HEALTHCHECK replaces the whole check; durations are nanoseconds; `NONE` disables it.
//!
//! `created_by` uses Go's `%q` on the argument lists (`CMD ["/bin/sh" "-c" "run"]`) and on the
//! health config struct (`HEALTHCHECK &{["CMD-SHELL" "x"] "30s" "0s" "0s" "0s" '\x03'}`).
//! Reference: <https://docs.docker.com/reference/dockerfile/#cmd>.

use kiln_dockerfile::instruction::{CommandLine, Healthcheck};
use kiln_oci::HealthConfig;

use super::gofmt::{duration, list, quote_list, quote_rune};
use super::{StageState, default_shell};

/// The argv of a CMD or ENTRYPOINT: exec form as written, shell form through the SHELL.
pub(crate) fn command_args(state: &StageState, command: &CommandLine) -> Vec<String> {
    match command {
        CommandLine::Exec(args) => args.clone(),
        CommandLine::Shell(line) => with_shell(state, line),
    }
}

/// The SHELL in force followed by `line`.
pub(crate) fn with_shell(state: &StageState, line: &str) -> Vec<String> {
    let mut argv = match &state.config.config.shell {
        Some(shell) if !shell.is_empty() => shell.clone(),
        _ => default_shell(&state.config.os),
    };
    argv.push(line.to_owned());
    argv
}

pub(super) fn cmd(state: &mut StageState, command: &CommandLine) -> String {
    let args = command_args(state, command);
    let created_by = format!("CMD {}", quote_list(&args));
    state.config.config.cmd = (!args.is_empty()).then_some(args);
    state.config.config.args_escaped = true;
    state.cmd_set = true;
    created_by
}

pub(super) fn entrypoint(state: &mut StageState, command: &CommandLine) -> String {
    let args = command_args(state, command);
    let created_by = format!("ENTRYPOINT {}", quote_list(&args));
    state.config.config.entrypoint = (!args.is_empty()).then_some(args);
    if !state.cmd_set {
        state.config.config.cmd = None;
    }
    created_by
}

pub(super) fn shell(state: &mut StageState, shell: &[String]) -> String {
    state.config.config.shell = Some(shell.to_vec());
    format!("SHELL {}", list(shell))
}

fn nanos(d: Option<std::time::Duration>) -> i64 {
    d.map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

pub(super) fn healthcheck(state: &mut StageState, check: &Healthcheck) -> String {
    let health = HealthConfig {
        test: check.test.clone(),
        interval: nanos(check.interval),
        timeout: nanos(check.timeout),
        start_period: nanos(check.start_period),
        start_interval: nanos(check.start_interval),
        retries: i64::from(check.retries.unwrap_or(0)),
    };
    let created_by = format!(
        "HEALTHCHECK &{{{} \"{}\" \"{}\" \"{}\" \"{}\" {}}}",
        quote_list(&health.test),
        duration(health.interval),
        duration(health.timeout),
        duration(health.start_period),
        duration(health.start_interval),
        quote_rune(health.retries),
    );
    state.config.config.healthcheck = Some(health);
    created_by
}
