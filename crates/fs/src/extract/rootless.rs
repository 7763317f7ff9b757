//! The side table of rootless extraction: what a layer says that an unprivileged process cannot
//! make real, kept so that a layer written later from this rootfs still carries it.
//!
//! Without root (and outside a user namespace that maps them), `mknod` of a device and `chown`
//! to a foreign owner fail. The extraction then creates what it can (an empty regular file in
//! place of a device, the file owned by the caller) and records the truth here, keyed by the
//! path inside the rootfs; the layer writer looks paths up in it.

use std::path::PathBuf;

use super::EntryKind;

/// One path whose real type or owner lives only in this table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// Absolute path inside the rootfs.
    pub path: PathBuf,
    /// What could not be created.
    pub what: Unrepresentable,
}

/// What could not be created as the layer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unrepresentable {
    /// A character or block device; an empty regular file with `mode` stands in its place.
    Device {
        kind: EntryKind,
        major: u32,
        minor: u32,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    /// A node whose owner could not be set.
    Owner { uid: u32, gid: u32 },
}
