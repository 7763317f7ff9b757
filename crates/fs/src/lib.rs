//! Files to layers and back.
//!
//! Owns: build contexts, the rootfs path resolver, layer extraction into a rootfs, COPY/ADD
//! file operations, snapshots (what a step changed), the deterministic tar writer and
//! compression. Follows the OCI image layer spec
//! (<https://github.com/opencontainers/image-spec/blob/main/layer.md>).
//!
//! Does not own: namespaces, mounts or processes (`kiln-sandbox`), or registries.

pub mod context;
pub mod copy;
pub mod extract;
pub mod fetch;
pub mod ignore_list;
pub mod layer;
pub mod resolve;
pub mod snapshot;
