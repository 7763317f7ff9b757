//! The registry client's settings, as a plain struct the CLI's resolved settings map onto.
//!
//! Owns: [`RegistryOptions`] (plain-HTTP and TLS-verification sets per direction, certificates,
//! mirrors and registry maps, retry counts, concurrency, upload chunking) and the rules that
//! derive one registry's effective settings from them ([`RegistryOptions::endpoint`]).
//!
//! The flags mirror Kaniko's: `--insecure`/`--insecure-pull`/`--insecure-registry`,
//! `--skip-tls-verify`/`--skip-tls-verify-pull`/`--skip-tls-verify-registry`,
//! `--registry-certificate`, `--registry-client-cert`, `--registry-mirror`, `--registry-map`,
//! `--skip-default-registry-fallback`, `--push-retry`, `--image-download-retry`,
//! `--push-ignore-immutable-tag-errors`. Parsing the flags is the binary's job.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use crate::mirror::RegistryMap;

/// Which way bytes flow; the insecure and skip-verify flags differ per direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    Pull,
    Push,
}

/// A client certificate and its private key, both PEM files (`--registry-client-cert`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientCertificate {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Every setting of the registry client. `Default` is a secure client: TLS verified against
/// the system roots, https only (except go-containerregistry's loopback heuristic, see
/// [`Endpoint::allow_http`]), no mirrors.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// `--insecure`: plain HTTP allowed when pushing, to every registry.
    pub insecure_push: bool,
    /// `--insecure-pull`: plain HTTP allowed when pulling, from every registry.
    pub insecure_pull: bool,
    /// `--insecure-registry`: plain HTTP allowed for these registries, both ways.
    pub insecure_registries: BTreeSet<String>,
    /// `--skip-tls-verify`: no certificate verification when pushing.
    pub skip_tls_verify_push: bool,
    /// `--skip-tls-verify-pull`: no certificate verification when pulling.
    pub skip_tls_verify_pull: bool,
    /// `--skip-tls-verify-registry`: no certificate verification for these registries.
    pub skip_tls_verify_registries: BTreeSet<String>,
    /// `--registry-certificate reg=path`: extra CA certificates (PEM) trusted for a registry.
    pub certificates: BTreeMap<String, PathBuf>,
    /// `--registry-client-cert reg=cert,key`.
    pub client_certificates: BTreeMap<String, ClientCertificate>,
    /// `SSL_CERT_DIR` (colon-separated, split by the caller): every PEM file in these
    /// directories is trusted in addition to the system roots.
    pub ssl_cert_dirs: Vec<PathBuf>,
    /// `SSL_CERT_FILE`: a PEM bundle trusted in addition to the system roots.
    pub ssl_cert_file: Option<PathBuf>,
    /// `--registry-map` and `--registry-mirror` (the latter filed under `index.docker.io`).
    pub registry_map: RegistryMap,
    /// `--skip-default-registry-fallback`: fail when no mirror has the image.
    pub skip_default_registry_fallback: bool,
    /// Retries after the first attempt of a pull request (`--image-download-retry`).
    pub pull_retries: u32,
    /// Retries after the first attempt of a push request (`--push-retry`).
    pub push_retries: u32,
    /// First backoff delay; doubled each retry, with jitter, capped at `retry_max_delay`.
    pub retry_min_delay: Duration,
    pub retry_max_delay: Duration,
    /// `--push-ignore-immutable-tag-errors`.
    pub push_ignore_immutable_tag_errors: bool,
    /// Blobs transferred at once.
    pub concurrency: usize,
    /// Blobs up to this size are uploaded in one PUT; larger ones in PATCH chunks.
    pub monolithic_upload_limit: u64,
    /// Size of one PATCH chunk.
    pub chunk_size: u64,
    /// Largest manifest or config accepted, bounding what is read into memory.
    pub max_manifest_size: u64,
    pub user_agent: String,
    pub connect_timeout: Duration,
    /// Longest silence on an open connection before it counts as dropped.
    pub read_timeout: Duration,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        Self {
            insecure_push: false,
            insecure_pull: false,
            insecure_registries: BTreeSet::new(),
            skip_tls_verify_push: false,
            skip_tls_verify_pull: false,
            skip_tls_verify_registries: BTreeSet::new(),
            certificates: BTreeMap::new(),
            client_certificates: BTreeMap::new(),
            ssl_cert_dirs: Vec::new(),
            ssl_cert_file: None,
            registry_map: RegistryMap::default(),
            skip_default_registry_fallback: false,
            pull_retries: 3,
            push_retries: 3,
            retry_min_delay: Duration::from_millis(500),
            retry_max_delay: Duration::from_secs(30),
            push_ignore_immutable_tag_errors: false,
            concurrency: 4,
            monolithic_upload_limit: 32 << 20,
            chunk_size: 32 << 20,
            max_manifest_size: kiln_oci::MAX_MANIFEST_SIZE,
            user_agent: concat!("kiln/", env!("CARGO_PKG_VERSION")).to_owned(),
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(120),
        }
    }
}

/// One registry's TLS settings; equal settings share one `reqwest::Client`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TlsSettings {
    pub skip_verify: bool,
    pub ca_certificate: Option<PathBuf>,
    pub client_certificate: Option<ClientCertificate>,
}

/// The effective settings for one registry in one direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub registry: String,
    pub tls: TlsSettings,
    /// Whether plain HTTP may be tried after https fails.
    pub allow_http: bool,
}

impl RegistryOptions {
    /// The settings that apply to `registry` when moving bytes in `direction`.
    pub fn endpoint(&self, registry: &str, direction: Direction) -> Endpoint {
        let listed = |set: &BTreeSet<String>| set.contains(registry);
        let insecure = listed(&self.insecure_registries)
            || match direction {
                Direction::Pull => self.insecure_pull,
                Direction::Push => self.insecure_push,
            };
        let skip_verify = listed(&self.skip_tls_verify_registries)
            || match direction {
                Direction::Pull => self.skip_tls_verify_pull,
                Direction::Push => self.skip_tls_verify_push,
            };
        Endpoint {
            registry: registry.to_owned(),
            tls: TlsSettings {
                skip_verify,
                ca_certificate: self.certificates.get(registry).cloned(),
                client_certificate: self.client_certificates.get(registry).cloned(),
            },
            allow_http: insecure || is_local(registry),
        }
    }

    /// Retries allowed in `direction`.
    pub fn retries(&self, direction: Direction) -> u32 {
        match direction {
            Direction::Pull => self.pull_retries,
            Direction::Push => self.push_retries,
        }
    }
}

/// go-containerregistry's heuristic (`name.Registry.Scheme`): loopback, `localhost`,
/// `*.localhost` and RFC 1918 addresses may fall back to plain HTTP without a flag.
pub fn is_local(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => registry.rsplit_once(':').map_or(registry, |(h, _)| h),
    };
    if host == "localhost" || host.ends_with(".localhost") || host == "::1" {
        return true;
    }
    match host.parse::<std::net::Ipv4Addr>() {
        Ok(ip) => ip == std::net::Ipv4Addr::LOCALHOST || ip.is_private(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_heuristic_matches_go_containerregistry() {
        let cases = [
            ("localhost", true),
            ("localhost:5000", true),
            ("reg.localhost:5000", true),
            ("127.0.0.1:5000", true),
            ("127.0.0.2:5000", false),
            ("[::1]:5000", true),
            ("10.1.2.3", true),
            ("172.16.0.1:443", true),
            ("172.32.0.1:443", false),
            ("192.168.1.1:5000", true),
            ("gcr.io", false),
            ("index.docker.io", false),
        ];
        for (reg, want) in cases {
            assert_eq!(is_local(reg), want, "{reg}");
        }
    }

    #[test]
    fn insecure_and_skip_verify_flags_apply_per_direction() {
        let opts = RegistryOptions {
            insecure_pull: true,
            skip_tls_verify_push: true,
            insecure_registries: ["both.example".to_owned()].into(),
            skip_tls_verify_registries: ["both.example".to_owned()].into(),
            ..Default::default()
        };
        let cases = [
            ("reg.example", Direction::Pull, true, false),
            ("reg.example", Direction::Push, false, true),
            ("both.example", Direction::Pull, true, true),
            ("both.example", Direction::Push, true, true),
        ];
        for (reg, dir, http, skip) in cases {
            let e = opts.endpoint(reg, dir);
            assert_eq!(
                (e.allow_http, e.tls.skip_verify),
                (http, skip),
                "{reg} {dir:?}"
            );
        }
    }

    #[test]
    fn certificates_apply_only_to_their_registry() {
        let opts = RegistryOptions {
            certificates: [("reg.example".to_owned(), PathBuf::from("/ca.pem"))].into(),
            ..Default::default()
        };
        let e = opts.endpoint("reg.example", Direction::Pull);
        assert_eq!(e.tls.ca_certificate, Some(PathBuf::from("/ca.pem")));
        assert_eq!(
            opts.endpoint("other.example", Direction::Pull).tls,
            TlsSettings::default()
        );
    }
}
