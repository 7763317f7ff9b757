//! The OCI and Docker image model: pure data, no network.
//!
//! Owns: references, [`Digest`] (a compressed blob) and [`DiffId`] (an uncompressed layer),
//! media types, manifests, indexes, image configs, platform matching, and OCI layout and
//! `docker save` tarball I/O. Follows the OCI image spec
//! (<https://github.com/opencontainers/image-spec/blob/main/spec.md>) and Docker's image
//! manifest v2 schema 2 (<https://distribution.github.io/distribution/spec/manifest-v2-2/>).
//!
//! Does not own: fetching or pushing anything (`kiln-registry`), making layers (`kiln-fs`).
//!
//! | module | what it holds |
//! |---|---|
//! | `reference` | [`Reference`]: Docker's name grammar and normalisation |
//! | `digest`, `blob` | [`Digest`], [`DiffId`], [`Sha256`]; [`VerifyingReader`] checks a blob as it streams |
//! | `media_type` | [`MediaType`] of both families, [`Compression`], [`Family`] |
//! | `descriptor`, `manifest`, `config` | [`Descriptor`], [`Manifest`], [`Index`], [`ConfigFile`] as own serde structs |
//! | `json` | canonical bytes ([`to_canonical_json`]) and bounded reads ([`read_bounded`]) |
//! | `platform` | [`Platform`] parsing, containerd-style normalisation and fallbacks |
//! | `image`, `layout`, `tarball` | [`LocalImage`]; [`Layout`] read/write; `docker save` writer |
//! | `outputs` | Kaniko's digest and image-name files, `BUILDER_OUTPUT` |
//!
//! Why own structs rather than the `oci-spec` crate: it drops Docker-only config fields and
//! serialises maps in random order, which changes digests (see `DEPENDENCIES.md`). Here every
//! map is a `BTreeMap`, unknown fields are kept through `#[serde(flatten)]`, and a value always
//! serialises to the same bytes.

mod atomic;
mod blob;
mod config;
mod descriptor;
mod digest;
#[cfg(test)]
mod fixture;
mod image;
mod json;
mod layout;
mod manifest;
mod media_type;
mod outputs;
mod platform;
mod reference;
mod tarball;

pub use blob::{BlobMismatch, VerifyingReader};
pub use config::{Config, ConfigFile, Empty, HealthConfig, History, RootFs};
pub use descriptor::{ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, Descriptor};
pub use digest::{DiffId, Digest, DigestError, Sha256};
pub use image::{ImageError, LocalImage};
pub use json::{MAX_CONFIG_SIZE, MAX_MANIFEST_SIZE, ReadError, read_bounded, to_canonical_json};
pub use layout::{Layout, LayoutError, OCI_LAYOUT_FILE};
pub use manifest::{Index, Manifest, ManifestError, ManifestOrIndex};
pub use media_type::{ACCEPTED_MANIFEST_TYPES, Compression, Family, MediaType};
pub use outputs::{
    BUILDER_OUTPUT_FILE, OutputError, format_builder_output_images, format_digest_file,
    format_image_name_tag_with_digest_file, format_image_name_with_digest_file, write_output_file,
};
pub use platform::{Platform, PlatformError};
pub use reference::{DEFAULT_TAG, DOCKER_HUB, DOCKER_HUB_ALIAS, Reference, ReferenceError};
pub use tarball::{TarballError, write_docker_archive, write_docker_archive_file};
