//! `kiln warm` / `warmer`: every flag of Kaniko's cache warmer, as the user typed it.
//!
//! The warmer has short forms of its own (`-c` cache dir, `-d` Dockerfile, `-f` force, `-i`
//! image), unlike the executor's, and spells the platform flag only in camelCase
//! (`--customPlatform`); kiln adds the kebab-case spelling the executor uses. Follows Kaniko's
//! `cmd/warmer/cmd/root.go`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args};

use super::common::{LogFlags, PullRegistryFlags};
use super::duration::parse_go_duration;
use super::value::{BuildArgFlag, parse_build_arg, parse_go_bool};

#[derive(Debug, Clone, Args)]
#[command(args_override_self = true)]
pub struct WarmFlags {
    /// Image to cache. Set it repeatedly for multiple images.
    #[arg(short = 'i', long, action = ArgAction::Append, value_name = "IMAGE",
          help_heading = "Cache")]
    pub image: Vec<String>,
    /// Path to the dockerfile to be cached: the warmer caches the base image of each of its
    /// stages
    #[arg(short = 'd', long, value_name = "PATH", help_heading = "Cache")]
    pub dockerfile: Option<String>,
    /// Used with --dockerfile, for base images named by an ARG. Set it repeatedly for multiple
    /// values.
    #[arg(long, action = ArgAction::Append, value_parser = parse_build_arg,
          value_name = "NAME[=VALUE]", help_heading = "Cache")]
    pub build_arg: Vec<BuildArgFlag>,
    /// Directory of the cache
    #[arg(
        short = 'c',
        long,
        value_name = "PATH",
        default_value = "/cache",
        help_heading = "Cache"
    )]
    pub cache_dir: PathBuf,
    /// Force cache overwriting
    #[arg(short = 'f', long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false",
          value_parser = parse_go_bool, value_name = "BOOL", help_heading = "Cache")]
    pub force: bool,
    /// Cache timeout, a Go duration such as 6h or 1h30m
    #[arg(long, value_parser = parse_go_duration, default_value = "336h",
          value_name = "DURATION", help_heading = "Cache")]
    pub cache_ttl: Duration,
    /// Specify the build platform if different from the current host (os/arch[/variant])
    #[arg(
        long = "customPlatform",
        value_name = "PLATFORM",
        help_heading = "Cache"
    )]
    pub custom_platform_camel: Option<String>,
    /// kiln: the executor's spelling of --customPlatform
    #[arg(
        long = "custom-platform",
        value_name = "PLATFORM",
        help_heading = "kiln"
    )]
    pub custom_platform: Option<String>,

    #[command(flatten)]
    pub registry: PullRegistryFlags,

    #[command(flatten)]
    pub log: LogFlags,
}
