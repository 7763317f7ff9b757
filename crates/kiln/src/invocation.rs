//! The name the binary was started under. Kaniko's images ship `/kaniko/executor` and
//! `/kaniko/warmer`; a kiln binary copied or linked to those names behaves as `kiln build` and
//! `kiln warm`, taking the flags directly, and `executor version` works as in Kaniko.

use std::ffi::OsStr;
use std::path::Path;

use clap::{Parser, Subcommand};

use crate::flags::{BuildFlags, WarmFlags};

/// Which command line to parse, from argv[0]'s file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invocation {
    Kiln,
    Executor,
    Warmer,
}

impl Invocation {
    pub fn from_argv0(argv0: Option<&OsStr>) -> Self {
        let name = argv0
            .and_then(|a| Path::new(a).file_name())
            .and_then(OsStr::to_str);
        match name {
            Some("executor") => Self::Executor,
            Some("warmer") => Self::Warmer,
            _ => Self::Kiln,
        }
    }
}

/// `executor [FLAGS]` and `executor version`.
#[derive(Debug, Parser)]
#[command(
    name = "executor",
    about = "Build a container image from a Dockerfile and push it (kiln, Kaniko-compatible)"
)]
pub struct ExecutorCli {
    #[command(flatten)]
    pub flags: Box<BuildFlags>,
    #[command(subcommand)]
    pub command: Option<ExecutorCommand>,
}

#[derive(Debug, Subcommand)]
pub enum ExecutorCommand {
    /// Print the version
    Version,
}

/// `warmer [FLAGS]`.
#[derive(Debug, Parser)]
#[command(
    name = "warmer",
    about = "Download base images into a local cache directory (kiln, Kaniko-compatible)"
)]
pub struct WarmerCli {
    #[command(flatten)]
    pub flags: Box<WarmFlags>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv0_basename_picks_the_command_line() {
        let cases = [
            (Some("/kaniko/executor"), Invocation::Executor),
            (Some("executor"), Invocation::Executor),
            (Some("/kaniko/warmer"), Invocation::Warmer),
            (Some("/usr/bin/kiln"), Invocation::Kiln),
            (Some("/usr/bin/executor-old"), Invocation::Kiln),
            (Some("/executor/kiln"), Invocation::Kiln),
            (None, Invocation::Kiln),
        ];
        for (argv0, want) in cases {
            assert_eq!(
                Invocation::from_argv0(argv0.map(OsStr::new)),
                want,
                "{argv0:?}"
            );
        }
    }
}
