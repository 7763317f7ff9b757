//! Raw flags: the command line exactly as the user typed it, parsed by clap.
//!
//! Owns: the flag surface of `kiln build` (Kaniko's executor), `kiln warm` (Kaniko's warmer),
//! and the parsers for Kaniko's value syntaxes (Go booleans, integers and durations, `k=v`
//! pairs, `a=b;c=d` registry maps, `--git` options).
//!
//! Does not own: environment variables, defaults that depend on them, cross-flag validation or
//! path resolution; those turn raw flags into settings (`crate::settings`).
//!
//! Kaniko's reference: `cmd/executor/cmd/root.go`, `cmd/warmer/cmd/root.go` and
//! `pkg/config/args.go` in <https://github.com/GoogleContainerTools/kaniko>.

pub mod build;
pub mod common;
pub mod duration;
pub mod value;
pub mod warm;

pub use build::{BuildFlags, Compression, Isolation, SnapshotMode};
pub use common::{LogFlags, LogFormat, LogLevel, PullRegistryFlags};
pub use warm::WarmFlags;
