//! Flags that Kaniko's executor and warmer share: logging, and the registry options used to
//! pull (TLS, plain HTTP, certificates, mirrors and registry maps).
//!
//! Spelled and typed as in Kaniko's `cmd/executor/cmd/root.go` and `cmd/warmer/cmd/root.go`.

use clap::{ArgAction, Args, ValueEnum};

use super::value::{RegistryMapFlag, parse_go_bool, parse_key_value, parse_registry_map};

/// `-v`: Kaniko's logrus levels. `panic` and `fatal` silence every log line; the final error is
/// still printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    #[value(alias = "warning")]
    Warn,
    Error,
    Fatal,
    Panic,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Plain text, no colours.
    Text,
    /// Text with ANSI colours, even when stderr is not a terminal (Kaniko's default).
    Color,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Logging")]
pub struct LogFlags {
    /// Log level
    #[arg(
        short = 'v',
        long,
        value_enum,
        ignore_case = true,
        default_value = "info",
        value_name = "LEVEL"
    )]
    pub verbosity: LogLevel,
    /// Log format
    #[arg(long, value_enum, default_value = "color", value_name = "FORMAT")]
    pub log_format: LogFormat,
    /// Timestamp in log output (text and color formats; json lines always carry one)
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false",
          value_parser = parse_go_bool, value_name = "BOOL")]
    pub log_timestamp: bool,
}

/// Registry options for pulling, shared by `kiln build` and `kiln warm`.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Registries")]
pub struct PullRegistryFlags {
    /// Pull from insecure registry using plain HTTP
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false",
          value_parser = parse_go_bool, value_name = "BOOL")]
    pub insecure_pull: bool,
    /// Pull from insecure registry ignoring TLS verify
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false",
          value_parser = parse_go_bool, value_name = "BOOL")]
    pub skip_tls_verify_pull: bool,
    /// Insecure registry using plain HTTP. Set it repeatedly for multiple registries.
    #[arg(long, action = ArgAction::Append, value_name = "REGISTRY")]
    pub insecure_registry: Vec<String>,
    /// Insecure registry ignoring TLS verify. Set it repeatedly for multiple registries.
    #[arg(long, action = ArgAction::Append, value_name = "REGISTRY")]
    pub skip_tls_verify_registry: Vec<String>,
    /// Use the provided certificate for TLS communication with the given registry. Expected
    /// format is 'my.registry.url=/path/to/the/server/certificate'.
    #[arg(long, action = ArgAction::Append, value_parser = parse_key_value,
          value_name = "REGISTRY=PATH")]
    pub registry_certificate: Vec<(String, String)>,
    /// Use the provided client certificate for mutual TLS (mTLS) communication with the given
    /// registry. Expected format is 'my.registry.url=/path/to/client/cert,/path/to/client/key'.
    #[arg(long, action = ArgAction::Append, value_parser = parse_key_value,
          value_name = "REGISTRY=CERT,KEY")]
    pub registry_client_cert: Vec<(String, String)>,
    /// Registry map of mirror to use as pull-through cache instead. Expected format is
    /// 'original.registry=new.registry;other-original.registry=other-remap.registry'.
    /// Also read from KANIKO_REGISTRY_MAP.
    #[arg(long, action = ArgAction::Append, value_parser = parse_registry_map,
          value_name = "FROM=TO[;FROM=TO]")]
    pub registry_map: Vec<RegistryMapFlag>,
    /// Registry mirror to use as pull-through cache instead of docker.io. Set it repeatedly for
    /// multiple mirrors. Also read from KANIKO_REGISTRY_MIRROR.
    #[arg(long, action = ArgAction::Append, value_name = "MIRROR")]
    pub registry_mirror: Vec<String>,
    /// If an image is not found on any mirrors (defined with registry-mirror or registry-map) do
    /// not fallback to the default registry
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false",
          value_parser = parse_go_bool, value_name = "BOOL")]
    pub skip_default_registry_fallback: bool,
}
