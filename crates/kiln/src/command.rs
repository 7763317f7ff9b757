//! What each command does once its flags are parsed: resolve settings, then call the library.
//!
//! The executor and the warmer do not exist yet: `build` and `warm` resolve and validate
//! everything, log the settings at debug level, and fail with [`NotSupported`], so that no
//! flag is ever accepted and then ignored.

use std::process::ExitCode;

use crate::flags::{BuildFlags, WarmFlags};
use crate::settings::{BuildSettings, Environment, WarmSettings};

/// A capability kiln does not have yet.
#[derive(Debug, thiserror::Error)]
#[error("{what} is not supported yet")]
pub struct NotSupported {
    pub what: &'static str,
}

impl NotSupported {
    pub fn hint(&self) -> Option<&'static str> {
        Some("`kiln parse DOCKERFILE` checks a Dockerfile today")
    }
}

/// `kiln build` / `executor`.
pub fn build(flags: &BuildFlags) -> anyhow::Result<ExitCode> {
    let env = Environment::from_process()?;
    let mut warnings = Vec::new();
    let resolved = BuildSettings::resolve(flags, &env, &mut warnings);
    for warning in &warnings {
        tracing::warn!("{warning}");
    }
    let settings = resolved?;
    tracing::debug!(?settings, "resolved build settings");
    Err(NotSupported {
        what: "building images",
    }
    .into())
}

/// `kiln warm` / `warmer`.
pub fn warm(flags: &WarmFlags) -> anyhow::Result<ExitCode> {
    let env = Environment::from_process()?;
    let settings = WarmSettings::resolve(flags, &env)?;
    tracing::debug!(?settings, "resolved warm settings");
    Err(NotSupported {
        what: "warming the cache",
    }
    .into())
}

/// `kiln version` / `executor version`.
pub fn version() -> ExitCode {
    println!("kiln version {}", env!("CARGO_PKG_VERSION"));
    ExitCode::SUCCESS
}
