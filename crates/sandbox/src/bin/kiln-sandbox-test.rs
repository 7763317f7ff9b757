//! A small program around the sandbox, so the crate's integration tests (and a person
//! debugging) need no `kiln` binary.
//!
//! As the sandbox init it is re-executed by [`kiln_sandbox::Sandbox`]; as a tool it runs one
//! command and exits with its code:
//!
//! ```text
//! kiln-sandbox-test run [--isolation MODE] [--user USER] [--cwd DIR] [--env K=V]... ROOTFS -- ARGV...
//! kiln-sandbox-test probe
//! ```
//!
//! Output lines are printed as `stdout: ...` and `stderr: ...` on stdout.

use std::io::Write;
use std::process::ExitCode;

use kiln_sandbox::{Isolation, RunSpec, Sandbox, Stream};

fn main() -> ExitCode {
    kiln_sandbox::init::main_if_requested();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eprintln!("kiln-sandbox-test: {message}");
            ExitCode::from(125)
        }
    }
}

fn run(args: &[String]) -> Result<u8, String> {
    let sandbox = Sandbox::current_exe();
    match args.first().map(String::as_str) {
        Some("probe") => {
            let probe = sandbox.probe().map_err(|e| e.to_string())?;
            println!("{}: {}", probe.isolation, probe.reason);
            Ok(0)
        }
        Some("run") => {
            let spec = parse_run(&args[1..])?;
            let mut stdout = std::io::stdout().lock();
            let outcome = sandbox
                .run(&spec, &mut |stream, line| {
                    let name = if stream == Stream::Stdout {
                        "stdout"
                    } else {
                        "stderr"
                    };
                    let _ = writeln!(stdout, "{name}: {}", String::from_utf8_lossy(line));
                })
                .map_err(|e| render(&e))?;
            Ok(u8::try_from(outcome.status.code()).unwrap_or(255))
        }
        _ => Err("usage: kiln-sandbox-test run [OPTIONS] ROOTFS -- ARGV... | probe".into()),
    }
}

fn parse_run(args: &[String]) -> Result<RunSpec, String> {
    let split = args
        .iter()
        .position(|a| a == "--")
        .ok_or("missing -- before the command")?;
    let (options, argv) = (&args[..split], &args[split + 1..]);
    let mut spec = RunSpec::new("/", argv.to_vec());
    let mut rest = options.iter();
    let mut rootfs = None;
    while let Some(option) = rest.next() {
        let mut value = || {
            rest.next()
                .cloned()
                .ok_or(format!("{option} needs a value"))
        };
        match option.as_str() {
            "--isolation" => {
                spec.isolation = value()?.parse::<Isolation>().map_err(|e| e.to_string())?
            }
            "--user" => spec.user = value()?,
            "--cwd" => spec.cwd = value()?.into(),
            "--env" => spec.env.push(value()?),
            other if rootfs.is_none() && !other.starts_with('-') => rootfs = Some(other.to_owned()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    spec.rootfs = rootfs.ok_or("missing ROOTFS")?.into();
    Ok(spec)
}

fn render(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
