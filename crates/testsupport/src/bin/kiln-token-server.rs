//! `kiln-token-server`: the bearer-token endpoint for the test registry on
//! `KILN_TEST_TOKEN_REGISTRY`, started by `scripts/testenv`.
//!
//! ```text
//! kiln-token-server --listen 127.0.0.1:5002 --key token.key --certificate token.crt \
//!     --issuer kiln-token-server --service kiln-token-registry --credentials users \
//!     [--lifetime-seconds 300]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use kiln_testsupport::token::{Signer, TokenPolicy, TokenServer, read_users};

#[derive(Debug)]
struct Args {
    listen: String,
    key: PathBuf,
    certificate: PathBuf,
    issuer: String,
    service: String,
    credentials: PathBuf,
    lifetime: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut listen = None;
    let mut key = None;
    let mut certificate = None;
    let mut issuer = None;
    let mut service = None;
    let mut credentials = None;
    let mut lifetime = Duration::from_secs(300);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => listen = Some(value()?),
            "--key" => key = Some(PathBuf::from(value()?)),
            "--certificate" => certificate = Some(PathBuf::from(value()?)),
            "--issuer" => issuer = Some(value()?),
            "--service" => service = Some(value()?),
            "--credentials" => credentials = Some(PathBuf::from(value()?)),
            "--lifetime-seconds" => {
                let v = value()?;
                let secs = v
                    .parse()
                    .map_err(|_| format!("--lifetime-seconds: {v:?} is not a number"))?;
                lifetime = Duration::from_secs(secs);
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    let missing = |name: &str| format!("{name} is required");
    Ok(Args {
        listen: listen.ok_or_else(|| missing("--listen"))?,
        key: key.ok_or_else(|| missing("--key"))?,
        certificate: certificate.ok_or_else(|| missing("--certificate"))?,
        issuer: issuer.ok_or_else(|| missing("--issuer"))?,
        service: service.ok_or_else(|| missing("--service"))?,
        credentials: credentials.ok_or_else(|| missing("--credentials"))?,
        lifetime,
    })
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("kiln-token-server: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let signer = Signer::load(&args.key, &args.certificate).map_err(|e| chain(&e))?;
    let users = read_users(&args.credentials).map_err(|e| chain(&e))?;
    let policy = TokenPolicy {
        issuer: args.issuer,
        service: args.service,
        users,
        lifetime: args.lifetime,
    };
    let server = Arc::new(TokenServer::new(policy, signer));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        println!("kiln-token-server: listening on {}", args.listen);
        server
            .serve(listener)
            .await
            .map_err(|e| format!("accept failed: {e}"))
    })
}

/// An error and its causes on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}
