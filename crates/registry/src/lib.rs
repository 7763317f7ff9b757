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
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use kiln_oci::{Platform, Reference};
//! use kiln_registry::{
//!     BlobSource, BlobUpload, ConfigLocations, Keychain, RegistryClient, RegistryOptions,
//!     Repository,
//! };
//!
//! let keychain = Keychain::load(&ConfigLocations::from_env())?;
//! let client = RegistryClient::new(RegistryOptions::default(), keychain);
//!
//! // Pull: mirrors first, then the platform's manifest from an index; blobs stream lazily.
//! let base = Reference::parse("busybox:latest")?;
//! let image = client.resolve_image(&base, &Platform::host()).await?;
//! let mut layer = image.open_layer(&client, 0).await?;
//! while let Some(bytes) = layer.next_chunk().await? {
//!     let _ = bytes; // verified against the layer's digest by the end of the stream
//! }
//!
//! // Push: HEAD, then a mount from the base's repository when on the same registry, else an
//! // upload streamed from the file; then the manifest to every destination.
//! let dest = Reference::parse("registry.example/team/app:1")?;
//! client.check_push_permission(&Repository::of(&dest)).await?;
//! let layer = BlobUpload {
//!     digest: image.layers()[0].digest.clone(),
//!     size: image.layers()[0].size,
//!     source: BlobSource::File("/tmp/layer.tar.gz".into()),
//!     mount_from: vec![image.source.clone()],
//! };
//! client.push_blobs(&Repository::of(&dest), &[layer]).await?;
//! # let (media_type, manifest_bytes) = ("", Vec::new());
//! client.push_manifest(&[dest], media_type, &manifest_bytes).await?;
//! # Ok(())
//! # }
//! ```

pub mod auth;
mod client;
pub mod credentials;
mod error;
pub mod mirror;
mod options;
pub mod progress;
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
pub use progress::{ProgressFn, Transfer};
pub use pull::{BlobReader, FetchedManifest, ManifestHead, RemoteImage};
pub use push::{BlobPushed, BlobSource, BlobUpload, ManifestPushed};
pub use repository::Repository;
pub use tls::TlsError;
