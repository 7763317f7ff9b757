//! The distribution-protocol client.
//!
//! Owns: credentials (`config.json`, credential helpers), the bearer and basic challenges,
//! mirrors and registry maps, TLS options, pulling (lazy, verified blobs) and pushing (HEAD,
//! cross-repo mount, upload, manifest), and retries. Follows the OCI distribution spec
//! (<https://github.com/opencontainers/distribution-spec/blob/main/spec.md>) and Docker's token
//! auth spec (<https://distribution.github.io/distribution/spec/auth/token/>).
//!
//! Does not own: the image data model (`kiln-oci`) or what is done with layer bytes (`kiln-fs`).
//!
//! Secrets (passwords, tokens, `Authorization` headers) never reach a log line, an error or a
//! file: credentials have redacting `Debug`, headers are marked sensitive, and every URL in an
//! error goes through [`redact`].

pub mod auth;
mod client;
pub mod credentials;
mod error;
pub mod mirror;
mod options;
pub mod pull;
pub mod push;
pub mod redact;
mod repository;
mod retry;
mod tls;
mod transport;

pub use client::RegistryClient;
pub use credentials::{ConfigLocations, Credential, Keychain};
pub use error::{Diagnostic, Error, ResponseError};
pub use mirror::RegistryMap;
pub use options::{ClientCertificate, Direction, Endpoint, RegistryOptions, TlsSettings, is_local};
pub use pull::{BlobReader, FetchedManifest, ManifestHead, RemoteImage};
pub use push::{BlobPushed, BlobSource, BlobUpload, ManifestPushed};
pub use repository::Repository;
pub use tls::TlsError;
