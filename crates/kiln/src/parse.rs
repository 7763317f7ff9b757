//! `kiln parse`: prints a Dockerfile as the parser sees it, as text or as stable JSON.
//!
//! The file is parsed and also typed (flags, arguments, stages), so `kiln parse` fails on
//! everything the build would reject before running anything. The JSON shape is documented
//! in `docs/parse-json.md` and in `kiln_dockerfile::dump`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use kiln_dockerfile::{Dockerfile, dump, parse};

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
    let path = &args.dockerfile;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let src = String::from_utf8(bytes)
        .with_context(|| format!("{} is not valid UTF-8", path.display()))?;
    let shown = path.display().to_string();
    let checked = parse(&src).and_then(|ast| Dockerfile::from_ast(&ast).map(|_| ast));
    let ast = match checked {
        Ok(ast) => ast,
        Err(err) => {
            eprint!("error: {}", err.render(&shown, &src));
            return Ok(ExitCode::FAILURE);
        }
    };
    for warning in &ast.warnings {
        eprintln!("warning: {shown}:{}: {}", warning.span, warning.message);
    }
    let out = match args.format {
        ParseFormat::Json => format!("{:#}\n", dump::to_json(&ast)),
        ParseFormat::Text => dump::to_text(&ast),
    };
    std::io::stdout()
        .lock()
        .write_all(out.as_bytes())
        .context("cannot write to standard output")?;
    Ok(ExitCode::SUCCESS)
}
