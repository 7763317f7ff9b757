//! Test harness shared by kiln's integration tests; never shipped.
//!
//! Owns: reading the test environment that `scripts/testenv up` starts ([`env()`]), running
//! the `kiln` binary and `docker`/`skopeo` in end-to-end tests ([`cli`]), a
//! fault-injecting proxy in front of a registry ([`FaultProxy`]), the image comparison of the
//! oracle suite ([`compare`]), what a registry logged ([`RegistryLog`]), the
//! bearer-token server behind the token registry ([`token`], run as `kiln-token-server`), and
//! what a directory tree on disk holds ([`tree`]).
//!
//! Does not own: starting the registries or building the base images (`scripts/testenv`), or
//! anything shipped in kiln itself. See `docs/testing.md`.

pub mod cli;
pub mod compare;
mod env;
pub mod log;
pub mod proxy;
pub mod token;
pub mod tree;

pub use env::{DEFAULT_TESTENV_DIR, EnvError, TestEnv, env};
pub use log::RegistryLog;
pub use proxy::{FaultProxy, Rule, Target};
