//! Test harness shared by kiln's integration tests.
//!
//! Owns: real registries on loopback (plain, and TLS with htpasswd), base images made from
//! Debian packages, and the file-by-file and config-by-config image comparison.
//!
//! Does not own: anything shipped in kiln itself.
