//! Integration tests of the registry client against real registries, all marked `ignore`:
//! run with `cargo test -p kiln-registry -- --include-ignored`.
//!
//! - `local`: `docker-registry` instances each test starts for itself (plain, TLS + htpasswd).
//! - `fault`: a scripted fake registry for dropped connections, 503 and 429.
//! - `proxy`: kiln-testsupport's fault-injecting proxy in front of a local registry.
//! - `shared`: the test environment of `scripts/testenv up` (`KILN_TEST_*` variables).
//! - `token`: bearer-token behaviour against the same fake.

mod fake;
mod fault;
mod harness;
mod local;
mod proxy;
mod shared;
mod token;
