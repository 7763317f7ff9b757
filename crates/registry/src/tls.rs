//! HTTP clients, one per distinct TLS setting, built once and shared.
//!
//! Owns: turning [`TlsSettings`] into a `reqwest::Client` (system roots through rustls'
//! platform verifier, plus `SSL_CERT_FILE` and the PEM files of `SSL_CERT_DIR`, plus a registry's own CA; a client
//! certificate; verification off only when a flag says so) and the [`ClientPool`] that keeps one
//! client per setting so that connections are reused.
//!
//! Redirects are not followed automatically: blob GETs are redirected to storage hosts, and the
//! registry's `Authorization` header must not travel there, so `pull` follows them itself.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use reqwest::{Certificate, Client, Identity};

use crate::options::{RegistryOptions, TlsSettings};

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading certificate file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} holds no usable PEM certificate")]
    BadCertificate {
        path: PathBuf,
        #[source]
        source: reqwest::Error,
    },
    #[error("client certificate {cert} with key {key} is not usable")]
    BadIdentity {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: reqwest::Error,
    },
    #[error("building the http client")]
    Build(#[source] reqwest::Error),
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

fn certificates(path: &Path) -> Result<Vec<Certificate>, TlsError> {
    let pem = read(path)?;
    Certificate::from_pem_bundle(&pem).map_err(|source| TlsError::BadCertificate {
        path: path.to_owned(),
        source,
    })
}

/// The PEM files in `SSL_CERT_DIR`; files that are not certificates are skipped, as OpenSSL's
/// hashed directories hold other things too.
fn cert_dir(dir: &Path) -> Vec<Certificate> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    paths
        .iter()
        .filter(|p| p.is_file())
        .filter_map(|p| certificates(p).ok())
        .flatten()
        .collect()
}

/// Builds the client for one TLS setting.
pub fn build_client(options: &RegistryOptions, tls: &TlsSettings) -> Result<Client, TlsError> {
    let mut builder = Client::builder()
        .user_agent(options.user_agent.clone())
        .connect_timeout(options.connect_timeout)
        .read_timeout(options.read_timeout)
        .redirect(reqwest::redirect::Policy::none());
    let mut extra = Vec::new();
    for dir in &options.ssl_cert_dirs {
        extra.extend(cert_dir(dir));
    }
    if let Some(file) = &options.ssl_cert_file {
        extra.extend(certificates(file)?);
    }
    if let Some(ca) = &tls.ca_certificate {
        extra.extend(certificates(ca)?);
    }
    if !extra.is_empty() {
        builder = builder.tls_certs_merge(extra);
    }
    if let Some(cc) = &tls.client_certificate {
        let mut pem = read(&cc.cert)?;
        pem.push(b'\n');
        pem.extend(read(&cc.key)?);
        let identity = Identity::from_pem(&pem).map_err(|source| TlsError::BadIdentity {
            cert: cc.cert.clone(),
            key: cc.key.clone(),
            source,
        })?;
        builder = builder.identity(identity);
    }
    if tls.skip_verify {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    builder.build().map_err(TlsError::Build)
}

/// One client per distinct [`TlsSettings`], built on first use.
#[derive(Debug, Default)]
pub struct ClientPool {
    clients: Mutex<HashMap<TlsSettings, Client>>,
}

impl ClientPool {
    pub fn get(&self, options: &RegistryOptions, tls: &TlsSettings) -> Result<Client, TlsError> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = clients.get(tls) {
            return Ok(c.clone());
        }
        let c = build_client(options, tls)?;
        clients.insert(tls.clone(), c.clone());
        Ok(c)
    }

    /// How many clients were built; one per distinct setting.
    pub fn len(&self) -> usize {
        self.clients.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_settings_share_one_client() {
        let opts = RegistryOptions::default();
        let pool = ClientPool::default();
        let plain = TlsSettings::default();
        let skip = TlsSettings {
            skip_verify: true,
            ..Default::default()
        };
        pool.get(&opts, &plain).unwrap();
        pool.get(&opts, &skip).unwrap();
        pool.get(&opts, &plain).unwrap();
        assert_eq!(pool.len(), 2);
    }

    #[test]
    fn missing_ca_file_is_an_error_naming_it() {
        let tls = TlsSettings {
            ca_certificate: Some(PathBuf::from("/nonexistent/ca.pem")),
            ..Default::default()
        };
        let err = build_client(&RegistryOptions::default(), &tls).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn garbage_ca_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(
            &path,
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let tls = TlsSettings {
            ca_certificate: Some(path.clone()),
            ..Default::default()
        };
        assert!(build_client(&RegistryOptions::default(), &tls).is_err());
    }
}
