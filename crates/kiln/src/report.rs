//! How a failure reaches the user: the error chain rendered once, as `error: ...`, then one
//! `caused by:` line per cause, then `hint:` lines; and the process exit code.
//!
//! Exit codes follow Kaniko's executor: 1 for every failure, including a command line that
//! does not parse (cobra's, not clap's 2), and 0 for `--help` and `version`.

use std::fmt::Write as _;
use std::process::ExitCode;

use crate::command::NotSupported;
use crate::settings::SettingsError;

/// The exit code of every failure.
pub const FAILURE: u8 = 1;

/// The error chain and its hints, ready for stderr.
pub fn render(err: &anyhow::Error) -> String {
    let mut out = format!("error: {err}\n");
    for cause in err.chain().skip(1) {
        let _ = writeln!(out, "  caused by: {cause}");
    }
    for hint in hints(err) {
        let _ = writeln!(out, "hint: {hint}");
    }
    out
}

/// Hints that the errors in the chain know about themselves.
fn hints(err: &anyhow::Error) -> Vec<&'static str> {
    err.chain()
        .filter_map(|cause| {
            if let Some(e) = cause.downcast_ref::<SettingsError>() {
                e.hint()
            } else if let Some(e) = cause.downcast_ref::<NotSupported>() {
                e.hint()
            } else {
                None
            }
        })
        .collect()
}

/// Prints the error and gives the exit code for it.
pub fn report(err: &anyhow::Error) -> ExitCode {
    eprint!("{}", render(err));
    ExitCode::from(FAILURE)
}

/// Prints help and version output as clap renders it, and command-line errors with clap's
/// `tip:` lines turned into kiln's `hint:` lines; exit codes as Kaniko's.
pub fn report_clap(err: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = err.print();
            ExitCode::SUCCESS
        }
        _ => {
            eprint!("{}", render_clap(&err.render().to_string()));
            ExitCode::from(FAILURE)
        }
    }
}

/// clap's rendering with each `  tip: ...` line as `hint: ...`.
fn render_clap(rendered: &str) -> String {
    rendered
        .lines()
        .map(|line| match line.strip_prefix("  tip: ") {
            Some(tip) => format!("hint: {tip}\n"),
            None => format!("{line}\n"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_error_then_causes_then_hints() {
        let err = anyhow::Error::new(SettingsError::MissingDestination).context("resolving flags");
        let text = render(&err);
        assert_eq!(
            text.lines().collect::<Vec<_>>(),
            [
                "error: resolving flags",
                "  caused by: you must provide --destination, or use --no-push",
                "hint: pass --no-push (or set KANIKO_NO_PUSH=true) to build without pushing, \
                 e.g. with --tar-path or --oci-layout-path",
            ]
        );
    }

    #[test]
    fn clap_tips_become_hints() {
        let rendered = "error: unexpected argument '--destinaton' found\n\n  tip: a similar \
                        argument exists: '--destination'\n\nUsage: kiln build [OPTIONS]\n";
        let want = "error: unexpected argument '--destinaton' found\n\nhint: a similar argument \
                    exists: '--destination'\n\nUsage: kiln build [OPTIONS]\n";
        assert_eq!(render_clap(rendered), want);
    }

    #[test]
    fn an_error_without_hints_is_one_line() {
        let err = anyhow::anyhow!("plain failure");
        assert_eq!(render(&err), "error: plain failure\n");
    }
}
