//! Registry settings shared by `kiln build` and `kiln warm`: TLS and plain-HTTP choices,
//! certificates, mirrors and registry maps, and where credentials and CA roots are read from.
//!
//! Environment variables, as Kaniko reads them: `KANIKO_REGISTRY_MIRROR` (one more mirror),
//! `KANIKO_REGISTRY_MAP` (more `a=b;c=d` pairs), `DOCKER_CONFIG` (the directory of
//! `config.json`), and `SSL_CERT_FILE` / `SSL_CERT_DIR` (extra CA roots, as Go's `crypto/x509`
//! reads them; Kaniko's image sets `SSL_CERT_DIR=/kaniko/ssl/certs`).
//!
//! Mirrors become registry-map entries for `index.docker.io`, after the maps, as in Kaniko's
//! `validateFlags`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::environment::Environment;
use super::error::SettingsError;
use crate::flags::PullRegistryFlags;
use crate::flags::value::parse_registry_map;

/// The registry that `--registry-mirror` stands in for.
pub const DOCKER_HUB_REGISTRY: &str = "index.docker.io";

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegistrySettings {
    /// `--insecure`: push over plain HTTP.
    pub insecure_push: bool,
    /// `--skip-tls-verify`: push without verifying TLS certificates.
    pub skip_tls_verify_push: bool,
    /// `--insecure-pull`.
    pub insecure_pull: bool,
    /// `--skip-tls-verify-pull`.
    pub skip_tls_verify_pull: bool,
    /// `--insecure-registry`: registries spoken to over plain HTTP.
    pub insecure_registries: Vec<String>,
    /// `--skip-tls-verify-registry`.
    pub skip_tls_verify_registries: Vec<String>,
    /// `--registry-certificate`: registry → CA certificate file.
    pub certificates: BTreeMap<String, PathBuf>,
    /// `--registry-client-cert`: registry → client certificate and key for mTLS.
    pub client_certificates: BTreeMap<String, ClientCertificate>,
    /// `--registry-map`, `KANIKO_REGISTRY_MAP`, then the mirrors: registry → replacements,
    /// tried in order.
    pub maps: BTreeMap<String, Vec<String>>,
    /// `--skip-default-registry-fallback`.
    pub skip_default_registry_fallback: bool,
    /// `--image-download-retry` (executor only; 0 for the warmer).
    pub download_retry: u32,
    /// The directory holding `config.json` for credentials.
    pub docker_config_dir: PathBuf,
    /// Extra CA roots.
    pub ca_file: Option<PathBuf>,
    pub ca_dirs: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Resolves the pull-side flags; the executor sets its push-side fields afterwards.
pub fn resolve_registry(
    flags: &PullRegistryFlags,
    kaniko_dir: &Path,
    env: &Environment,
) -> Result<RegistrySettings, SettingsError> {
    let mut maps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let env_map = match env.var("KANIKO_REGISTRY_MAP") {
        Some(value) => {
            Some(
                parse_registry_map(value).map_err(|expected| SettingsError::InvalidEnv {
                    name: "KANIKO_REGISTRY_MAP",
                    value: value.to_owned(),
                    expected,
                })?,
            )
        }
        None => None,
    };
    for (from, to) in flags
        .registry_map
        .iter()
        .chain(env_map.iter())
        .flat_map(|m| &m.0)
    {
        maps.entry(from.clone()).or_default().push(to.clone());
    }
    let env_mirror = env.non_empty("KANIKO_REGISTRY_MIRROR");
    for mirror in flags
        .registry_mirror
        .iter()
        .map(String::as_str)
        .chain(env_mirror)
    {
        maps.entry(DOCKER_HUB_REGISTRY.to_owned())
            .or_default()
            .push(mirror.to_owned());
    }

    let certificates = flags
        .registry_certificate
        .iter()
        .map(|(registry, path)| (registry.clone(), env.absolute(path)))
        .collect();
    let client_certificates = flags
        .registry_client_cert
        .iter()
        .map(|(registry, paths)| {
            let pair = paths
                .split_once(',')
                .filter(|(cert, key)| !cert.is_empty() && !key.is_empty() && !key.contains(','));
            let Some((cert, key)) = pair else {
                return Err(SettingsError::InvalidValue {
                    flag: "--registry-client-cert",
                    value: format!("{registry}={paths}"),
                    expected: "expected REGISTRY=/path/to/cert,/path/to/key".to_owned(),
                });
            };
            let cert = ClientCertificate {
                cert: env.absolute(cert),
                key: env.absolute(key),
            };
            Ok((registry.clone(), cert))
        })
        .collect::<Result<_, _>>()?;

    Ok(RegistrySettings {
        insecure_pull: flags.insecure_pull,
        skip_tls_verify_pull: flags.skip_tls_verify_pull,
        insecure_registries: flags.insecure_registry.clone(),
        skip_tls_verify_registries: flags.skip_tls_verify_registry.clone(),
        certificates,
        client_certificates,
        maps,
        skip_default_registry_fallback: flags.skip_default_registry_fallback,
        docker_config_dir: docker_config_dir(kaniko_dir, env),
        ca_file: env.non_empty("SSL_CERT_FILE").map(|f| env.absolute(f)),
        ca_dirs: env
            .non_empty("SSL_CERT_DIR")
            .map(|dirs| {
                dirs.split(':')
                    .filter(|d| !d.is_empty())
                    .map(|d| env.absolute(d))
                    .collect()
            })
            .unwrap_or_default(),
        ..RegistrySettings::default()
    })
}

/// `DOCKER_CONFIG` when set (Kaniko's image sets `/kaniko/.docker/`); else `$HOME/.docker`
/// as Docker's CLI has it; else `.docker` in kaniko's directory.
fn docker_config_dir(kaniko_dir: &Path, env: &Environment) -> PathBuf {
    if let Some(dir) = env.non_empty("DOCKER_CONFIG") {
        return env.absolute(dir);
    }
    match env.non_empty("HOME") {
        Some(home) => Path::new(home).join(".docker"),
        None => kaniko_dir.join(".docker"),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Probe {
        #[command(flatten)]
        flags: PullRegistryFlags,
    }

    fn resolve(args: &[&str], vars: &[(&str, &str)]) -> Result<RegistrySettings, SettingsError> {
        let probe = Probe::try_parse_from(std::iter::once("probe").chain(args.iter().copied()))
            .expect("flags parse");
        let env = Environment::new(vars.iter().copied(), "/work");
        resolve_registry(&probe.flags, Path::new("/kaniko"), &env)
    }

    fn map(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.iter().map(|s| (*s).to_owned()).collect()))
            .collect()
    }

    #[test]
    fn maps_come_from_flags_then_environment_then_mirrors() {
        type Case<'a> = (
            &'a [&'a str],
            &'a [(&'a str, &'a str)],
            &'a [(&'a str, &'a [&'a str])],
        );
        let cases: [Case<'_>; 4] = [
            (&[], &[], &[]),
            (
                &[
                    "--registry-map=gcr.io=a.io;gcr.io=b.io",
                    "--registry-map",
                    "quay.io=c.io",
                ],
                &[],
                &[("gcr.io", &["a.io", "b.io"]), ("quay.io", &["c.io"])],
            ),
            (
                &[
                    "--registry-mirror=m1.io",
                    "--registry-map=index.docker.io=first.io",
                ],
                &[
                    ("KANIKO_REGISTRY_MIRROR", "m2.io"),
                    ("KANIKO_REGISTRY_MAP", "gcr.io=g.io"),
                ],
                &[
                    ("index.docker.io", &["first.io", "m1.io", "m2.io"]),
                    ("gcr.io", &["g.io"]),
                ],
            ),
            (&[], &[("KANIKO_REGISTRY_MIRROR", "")], &[]),
        ];
        for (args, vars, want) in cases {
            let got = resolve(args, vars).map(|s| s.maps).ok();
            assert_eq!(got, Some(map(want)), "args {args:?} vars {vars:?}");
        }
    }

    #[test]
    fn bad_registry_map_in_the_environment_names_the_variable() {
        let err = resolve(&[], &[("KANIKO_REGISTRY_MAP", "gcr.io")]).unwrap_err();
        assert!(err.to_string().contains("KANIKO_REGISTRY_MAP"), "{err}");
    }

    #[test]
    fn client_certificate_needs_a_cert_and_a_key() {
        let ok = resolve(&["--registry-client-cert=r.io=c.pem,/k.pem"], &[]).ok();
        let want = ClientCertificate {
            cert: "/work/c.pem".into(),
            key: "/k.pem".into(),
        };
        assert_eq!(
            ok.map(|s| s.client_certificates["r.io"].clone()),
            Some(want)
        );
        for bad in [
            "r.io=/c.pem",
            "r.io=/c.pem,",
            "r.io=,/k.pem",
            "r.io=/a,/b,/c",
        ] {
            let flag = format!("--registry-client-cert={bad}");
            assert!(resolve(&[&flag], &[]).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn docker_config_and_ca_roots_come_from_the_environment() {
        let cases: [(&[(&str, &str)], &str); 3] = [
            (
                &[("DOCKER_CONFIG", "/kaniko/.docker/"), ("HOME", "/root")],
                "/kaniko/.docker/",
            ),
            (&[("HOME", "/root")], "/root/.docker"),
            (&[], "/kaniko/.docker"),
        ];
        for (vars, want) in cases {
            let got = resolve(&[], vars).map(|s| s.docker_config_dir).ok();
            assert_eq!(got, Some(PathBuf::from(want)), "vars {vars:?}");
        }
        let got = resolve(
            &[],
            &[("SSL_CERT_DIR", "/a:/b"), ("SSL_CERT_FILE", "/c.pem")],
        )
        .ok();
        let (file, dirs) = got.map(|s| (s.ca_file, s.ca_dirs)).unwrap_or_default();
        assert_eq!(file, Some(PathBuf::from("/c.pem")));
        assert_eq!(dirs, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
    }
}
