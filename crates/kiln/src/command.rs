//! What each command does once its flags are parsed: resolve settings, then call the library.
//!
//! The executor does not exist yet: `build` resolves and validates everything, logs the
//! settings at debug level, and fails with [`NotSupported`], so that no flag is ever accepted
//! and then ignored. `warm` runs `kiln_build::warm`.

use std::process::ExitCode;

use kiln_build::warm;

use crate::flags::{BuildFlags, WarmFlags};
use crate::settings::context::DockerfileSource;
use crate::settings::registry_options::ClientSettings;
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

/// `kiln warm` / `warmer`: pull every image asked for into `--cache-dir`. A failed image is
/// logged and the others are still tried; the exit code is 1 only when none could be cached,
/// as Kaniko's warmer does.
pub fn warm(flags: &WarmFlags) -> anyhow::Result<ExitCode> {
    let env = Environment::from_process()?;
    let settings = WarmSettings::resolve(flags, &env)?;
    tracing::debug!(?settings, "resolved warm settings");
    let client = ClientSettings::new(&settings.registry);
    let keychain = kiln_registry::Keychain::load(&client.config_locations)?;
    let registry = kiln_registry::RegistryClient::new(client.options.clone(), keychain);
    let p = &settings.platform;
    let platform = kiln_oci::Platform {
        os: p.os.clone(),
        architecture: p.architecture.clone(),
        variant: p.variant.clone(),
        os_version: p.os_version.clone(),
        ..kiln_oci::Platform::default()
    }
    .normalized();
    let dockerfile = settings.dockerfile.as_ref().map(|d| match d {
        DockerfileSource::Url(url) => warm::DockerfileSource::Url(url.clone()),
        DockerfileSource::Path(path) | DockerfileSource::InContext(path) => {
            warm::DockerfileSource::Path(path.clone())
        }
    });
    let options = warm::WarmOptions {
        images: settings.images.clone(),
        dockerfile,
        build_args: settings
            .build_args
            .iter()
            .map(|a| (a.name.clone(), a.value.clone()))
            .collect(),
        cache_dir: settings.cache_dir.clone(),
        ttl: settings.ttl,
        force: settings.force,
        platform,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(warm::warm(&options, &registry))?;
    for (warmed, err) in report.failures() {
        let chain: Vec<String> = anyhow::Chain::new(err).map(ToString::to_string).collect();
        tracing::warn!(
            "failed to warm {} for {}: {}",
            warmed.image,
            warmed.platform,
            chain.join(": ")
        );
    }
    report.into_result()?;
    Ok(ExitCode::SUCCESS)
}

/// `kiln version` / `executor version`.
pub fn version() -> ExitCode {
    println!("kiln version {}", env!("CARGO_PKG_VERSION"));
    ExitCode::SUCCESS
}
