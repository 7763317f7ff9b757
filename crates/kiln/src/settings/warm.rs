//! [`WarmSettings`]: what `kiln warm` (Kaniko's cache warmer) was asked to cache.
//!
//! Follows Kaniko's `cmd/warmer/cmd/root.go`: at least one `--image` or a `--dockerfile`; a
//! local Dockerfile must exist (a URL is fetched later); `KANIKO_REGISTRY_MAP` and the mirrors
//! as for the executor. Build args without a value come from the environment, as for the
//! executor.

use std::path::PathBuf;
use std::time::Duration;

use super::build::{BuildArg, DEFAULT_KANIKO_DIR, resolve_build_args};
use super::context::DockerfileSource;
use super::environment::Environment;
use super::error::SettingsError;
use super::platform::{Platform, resolve_platform};
use super::registry::{RegistrySettings, resolve_registry};
use crate::flags::WarmFlags;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmSettings {
    /// `--image`, in order.
    pub images: Vec<String>,
    /// `--dockerfile`: the base image of each stage is cached too.
    pub dockerfile: Option<DockerfileSource>,
    pub build_args: Vec<BuildArg>,
    pub cache_dir: PathBuf,
    pub ttl: Duration,
    /// `--force`: overwrite images already cached.
    pub force: bool,
    pub platform: Platform,
    pub registry: RegistrySettings,
}

impl WarmSettings {
    pub fn resolve(flags: &WarmFlags, env: &Environment) -> Result<Self, SettingsError> {
        let dockerfile = flags.dockerfile.as_deref().filter(|d| !d.is_empty());
        if flags.image.is_empty() && dockerfile.is_none() {
            return Err(SettingsError::NothingToWarm);
        }
        let dockerfile = match dockerfile {
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                Some(DockerfileSource::Url(url.to_owned()))
            }
            Some(path) => {
                let path = env.absolute(path);
                if !path.is_file() {
                    return Err(SettingsError::WarmDockerfileNotFound { path });
                }
                Some(DockerfileSource::Path(path))
            }
            None => None,
        };
        // The executor's spelling is kiln's addition here, so neither counts as deprecated.
        let platform = match (&flags.custom_platform, &flags.custom_platform_camel) {
            (Some(a), Some(b)) if a != b => {
                return Err(SettingsError::Conflicting {
                    flag: "--custom-platform",
                    value: format!("{a:?}"),
                    deprecated: "--customPlatform",
                    deprecated_value: format!("{b:?}"),
                });
            }
            (a, b) => a.clone().or_else(|| b.clone()),
        };
        let platform = resolve_platform("--customPlatform", platform)?;
        let kaniko_dir = env
            .non_empty("KANIKO_DIR")
            .map_or_else(|| PathBuf::from(DEFAULT_KANIKO_DIR), |d| env.absolute(d));
        Ok(Self {
            images: flags.image.clone(),
            dockerfile,
            build_args: resolve_build_args(&flags.build_arg, env),
            cache_dir: env.absolute(&flags.cache_dir),
            ttl: flags.cache_ttl,
            force: flags.force,
            platform,
            registry: resolve_registry(&flags.registry, &kaniko_dir, env)?,
        })
    }
}
