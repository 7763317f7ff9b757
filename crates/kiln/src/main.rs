//! The `kiln` binary: argv → exit code.
//!
//! Owns: the command line (Kaniko's executor and warmer flags, kiln's own commands), settings
//! resolution from flags and environment variables, logging, progress rendering, error
//! rendering and exit codes. Everything else is a library call.
//!
//! Parsing happens in two steps (STYLE.md): `flags` holds the raw clap structs, `settings`
//! resolves them with the environment into typed settings. Started as `executor` or `warmer`
//! (argv[0]), the binary is Kaniko's executor or warmer (`invocation`).

mod command;
mod flags;
mod invocation;
mod logging;
mod parse;
mod progress;
mod report;
mod settings;
mod summary;
mod unprivileged;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::flags::{BuildFlags, WarmFlags};
use crate::invocation::{ExecutorCli, ExecutorCommand, Invocation, WarmerCli};

#[derive(Debug, Parser)]
#[command(
    name = "kiln",
    version,
    about = "Build container images from Dockerfiles, without a daemon"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build an image from a Dockerfile and push it (Kaniko's executor; also run as `executor`).
    Build(Box<BuildFlags>),
    /// Download base images into the cache directory (Kaniko's warmer; also run as `warmer`).
    Warm(Box<WarmFlags>),
    /// Print the version.
    Version,
    /// Parse a Dockerfile and print what the parser sees.
    Parse(parse::ParseArgs),
}

fn main() -> ExitCode {
    // A RUN step's sandbox re-executes this binary as its init process; that path must run
    // before anything else (no threads, no logging) and never returns here.
    kiln_sandbox::init::main_if_requested();
    let args: Vec<OsString> = std::env::args_os().collect();
    let parsed = match Invocation::from_argv0(args.first().map(OsString::as_os_str)) {
        Invocation::Kiln => Cli::try_parse_from(&args).map(|cli| cli.command),
        Invocation::Executor => ExecutorCli::try_parse_from(&args).map(|cli| match cli.command {
            Some(ExecutorCommand::Version) => Command::Version,
            None => Command::Build(cli.flags),
        }),
        Invocation::Warmer => WarmerCli::try_parse_from(&args).map(|cli| Command::Warm(cli.flags)),
    };
    let command = match parsed {
        Ok(command) => command,
        Err(err) => return report::report_clap(&err),
    };
    let result = match command {
        Command::Build(flags) => {
            // Before any thread starts: the overlay mounts of stage rootfs stay in a mount
            // namespace of kiln's own and vanish with it.
            let private = kiln_sandbox::overlay::enter_private_namespace();
            logging::init(&flags.log);
            if let Err(e) = private {
                tracing::debug!("no mount namespace of kiln's own ({e}): no overlay rootfs");
            }
            command::build(&flags)
        }
        Command::Warm(flags) => {
            logging::init(&flags.log);
            command::warm(&flags)
        }
        Command::Version => Ok(command::version()),
        Command::Parse(args) => parse::run(&args),
    };
    result.unwrap_or_else(|err| report::report(&err))
}
