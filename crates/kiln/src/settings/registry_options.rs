//! The resolved [`RegistrySettings`] as the registry client takes them:
//! [`kiln_registry::RegistryOptions`] and where `config.json` is looked for.
//!
//! Owns: the field-by-field mapping. Nothing resolved is dropped on the way: `SSL_CERT_FILE`
//! and every `SSL_CERT_DIR` directory, the registry maps with the mirrors already filed under
//! `index.docker.io`, both directions' TLS and plain-HTTP choices.
//!
//! `--image-download-retry N` adds N retries to the client's own default for transient pull
//! errors: Kaniko retries the whole image N times on top of go-containerregistry's transport
//! retries.

use kiln_registry::{
    ConfigLocations, Keychain, RegistryClient, RegistryMap, RegistryOptions,
    credentials::CredentialError,
};

use super::registry::RegistrySettings;

/// The registry client's options and where its credentials are looked for.
#[derive(Debug)]
pub struct ClientSettings {
    pub options: RegistryOptions,
    pub config_locations: ConfigLocations,
}

impl ClientSettings {
    pub fn new(settings: &RegistrySettings) -> Self {
        let defaults = RegistryOptions::default();
        let mut registry_map = RegistryMap::default();
        for (from, targets) in &settings.maps {
            for to in targets {
                registry_map.add(from, to);
            }
        }
        let options = RegistryOptions {
            insecure_push: settings.insecure_push,
            insecure_pull: settings.insecure_pull,
            insecure_registries: settings.insecure_registries.iter().cloned().collect(),
            skip_tls_verify_push: settings.skip_tls_verify_push,
            skip_tls_verify_pull: settings.skip_tls_verify_pull,
            skip_tls_verify_registries: settings
                .skip_tls_verify_registries
                .iter()
                .cloned()
                .collect(),
            certificates: settings.certificates.clone(),
            client_certificates: settings
                .client_certificates
                .iter()
                .map(|(registry, c)| {
                    let cert = kiln_registry::ClientCertificate {
                        cert: c.cert.clone(),
                        key: c.key.clone(),
                    };
                    (registry.clone(), cert)
                })
                .collect(),
            ssl_cert_dirs: settings.ca_dirs.clone(),
            ssl_cert_file: settings.ca_file.clone(),
            registry_map,
            skip_default_registry_fallback: settings.skip_default_registry_fallback,
            pull_retries: defaults
                .pull_retries
                .saturating_add(settings.download_retry),
            ..defaults
        };
        Self {
            options,
            config_locations: ConfigLocations {
                docker_config: Some(settings.docker_config_dir.clone()),
                home: None,
                kaniko: None,
            },
        }
    }

    /// A registry client with these options and the credentials of the `config.json` they
    /// locate.
    pub fn connect(&self) -> Result<RegistryClient, CredentialError> {
        let keychain = Keychain::load(&self.config_locations)?;
        Ok(RegistryClient::new(self.options.clone(), keychain))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use kiln_registry::{Direction, Repository};

    use super::*;
    use crate::settings::registry::ClientCertificate;

    #[test]
    fn every_pull_setting_reaches_the_client() {
        let settings = RegistrySettings {
            insecure_pull: true,
            skip_tls_verify_registries: vec!["skip.example".into()],
            insecure_registries: vec!["plain.example".into()],
            certificates: BTreeMap::from([("ca.example".into(), PathBuf::from("/ca.pem"))]),
            client_certificates: BTreeMap::from([(
                "mtls.example".into(),
                ClientCertificate {
                    cert: "/c.pem".into(),
                    key: "/k.pem".into(),
                },
            )]),
            maps: BTreeMap::from([(
                "index.docker.io".into(),
                vec!["mirror.example/hub".into(), "m2.example".into()],
            )]),
            skip_default_registry_fallback: true,
            download_retry: 2,
            docker_config_dir: "/kaniko/.docker".into(),
            ..RegistrySettings::default()
        };
        let client = ClientSettings::new(&settings);
        let o = &client.options;
        let pull = |r: &str| o.endpoint(r, Direction::Pull);
        let push = |r: &str| o.endpoint(r, Direction::Push);
        let cases = [
            (
                "insecure-pull allows http when pulling",
                pull("a.example").allow_http,
                true,
            ),
            ("but not when pushing", push("a.example").allow_http, false),
            ("insecure registry", push("plain.example").allow_http, true),
            (
                "skip-verify registry",
                pull("skip.example").tls.skip_verify,
                true,
            ),
            (
                "verification stays on elsewhere",
                pull("a.example").tls.skip_verify,
                false,
            ),
            (
                "registry certificate",
                pull("ca.example").tls.ca_certificate.is_some(),
                true,
            ),
            (
                "client certificate",
                pull("mtls.example").tls.client_certificate.is_some(),
                true,
            ),
            ("no fallback", o.skip_default_registry_fallback, true),
        ];
        for (what, got, want) in cases {
            assert_eq!(got, want, "{what}");
        }
        assert_eq!(o.pull_retries, RegistryOptions::default().pull_retries + 2);
        let hub = Repository::new("index.docker.io", "library/busybox");
        let candidates: Vec<String> = o
            .registry_map
            .candidates(&hub, true)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            candidates,
            [
                "mirror.example/hub/library/busybox",
                "m2.example/library/busybox"
            ]
        );
        assert_eq!(
            client.config_locations.find(),
            None,
            "only the resolved config dir is searched"
        );
        assert_eq!(
            client.config_locations.docker_config.as_deref(),
            Some(Path::new("/kaniko/.docker"))
        );
    }
}
