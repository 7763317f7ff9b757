//! The crate's error type.

use std::path::PathBuf;

use crate::resolve::ResolveError;
use crate::spec::Isolation;
use crate::user::UserError;

/// Everything that can go wrong preparing, running or cleaning up after a RUN process. The exit
/// code of a command that ran is not an error: it is in [`crate::RunOutcome`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the command is empty")]
    EmptyCommand,
    #[error(transparent)]
    User(#[from] UserError),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error("isolation {isolation} cannot be used here: {reason}")]
    Unsupported {
        isolation: Isolation,
        reason: String,
    },
    #[error("mount point {} exists in the rootfs and is not a {expected}", path.display())]
    MountPointType {
        path: PathBuf,
        expected: &'static str,
    },
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the sandbox init {}", program.display())]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot talk to the sandbox init")]
    Channel(#[source] std::io::Error),
    #[error("sandbox setup failed: {step}{}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Setup {
        step: String,
        path: Option<PathBuf>,
        #[source]
        source: std::io::Error,
    },
    #[error("exec: {program:?}: {}", if *not_found { "executable file not found in $PATH" } else { "cannot execute" })]
    Exec {
        program: String,
        not_found: bool,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the sandbox init {} ended without reporting ({status}); a binary used as the init \
         must call kiln_sandbox::init::main_if_requested() first thing in main",
        program.display()
    )]
    NoReport {
        program: PathBuf,
        status: std::process::ExitStatus,
    },
    #[error("the sandbox init sent a malformed report")]
    BadReport(#[source] serde_json::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
