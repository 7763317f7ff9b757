//! The distribution-protocol client.
//!
//! Owns: credentials (`config.json`, credential helpers), the bearer and basic challenges,
//! mirrors and registry maps, TLS options, pulling (lazy, verified blobs) and pushing (HEAD,
//! cross-repo mount, upload, manifest), and retries. Follows the OCI distribution spec
//! (<https://github.com/opencontainers/distribution-spec/blob/main/spec.md>).
//!
//! Does not own: the image data model (`kiln-oci`) or what is done with layer bytes (`kiln-fs`).
