//! `kiln parse`: prints a Dockerfile as the parser sees it, as text or as stable JSON.

use std::path::PathBuf;
use std::process::ExitCode;

/// Output format of `kiln parse`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ParseFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct ParseArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: ParseFormat,
    /// The Dockerfile to parse.
    pub dockerfile: PathBuf,
}

pub fn run(args: &ParseArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "kiln parse {} is not supported yet",
        args.dockerfile.display()
    )
}
