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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Probe {
        #[command(flatten)]
        flags: WarmFlags,
    }

    fn resolve(args: &[&str], vars: &[(&str, &str)]) -> Result<WarmSettings, SettingsError> {
        let probe = Probe::try_parse_from(std::iter::once("probe").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        WarmSettings::resolve(
            &probe.flags,
            &Environment::new(vars.iter().copied(), "/work"),
        )
    }

    #[test]
    fn something_must_be_named_to_warm() {
        let cases: [(&[&str], bool); 5] = [
            (&[], false),
            (&["--dockerfile="], false),
            (&["-i", "busybox"], true),
            (&["-d", "https://example.com/Dockerfile"], true),
            (&["-d", "/nonexistent/Dockerfile"], false),
        ];
        for (args, ok) in cases {
            assert_eq!(resolve(args, &[]).is_ok(), ok, "{args:?}");
        }
    }

    #[test]
    fn both_platform_spellings_are_taken_and_must_agree() {
        let cases: [(&[&str], Option<&str>); 4] = [
            (
                &["-i", "a", "--customPlatform=linux/arm64"],
                Some("linux/arm64"),
            ),
            (
                &["-i", "a", "--custom-platform=linux/arm/v7"],
                Some("linux/arm/v7"),
            ),
            (
                &[
                    "-i",
                    "a",
                    "--custom-platform=linux/s390x",
                    "--customPlatform=linux/s390x",
                ],
                Some("linux/s390x"),
            ),
            (
                &[
                    "-i",
                    "a",
                    "--custom-platform=linux/s390x",
                    "--customPlatform=linux/amd64",
                ],
                None,
            ),
        ];
        for (args, want) in cases {
            let got = resolve(args, &[]).ok().map(|s| s.platform.to_string());
            assert_eq!(got.as_deref(), want, "{args:?}");
        }
    }

    #[test]
    fn paths_build_args_and_registry_maps_are_resolved() {
        let settings = resolve(
            &[
                "-i",
                "a",
                "-i",
                "b",
                "-c",
                "cache",
                "--build-arg",
                "BASE",
                "--cache-ttl=90m",
            ],
            &[
                ("BASE", "debian"),
                ("KANIKO_REGISTRY_MAP", "gcr.io=m.example"),
            ],
        )
        .expect("valid settings");
        assert_eq!(settings.images, ["a", "b"]);
        assert_eq!(settings.cache_dir, PathBuf::from("/work/cache"));
        assert_eq!(settings.ttl, Duration::from_secs(5400));
        assert_eq!(settings.build_args[0].value, "debian");
        assert_eq!(settings.registry.maps["gcr.io"], ["m.example"]);
    }
}
