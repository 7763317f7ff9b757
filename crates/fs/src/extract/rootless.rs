//! The side table of rootless extraction: what a layer says that an unprivileged process cannot
//! make real, kept so that a layer written later from this rootfs still carries it.
//!
//! Without root (and outside a user namespace that maps them), `mknod` of a device and `chown`
//! to a foreign owner fail. The extraction then creates what it can (an empty regular file in
//! place of a device, the file owned by the caller) and records the truth here, keyed by the
//! path inside the rootfs; the layer writer looks paths up in it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

/// The recorded truth of every placeholder in one rootfs, for the layer writer: a path that
/// is still the placeholder extraction left is written as the layer said it was.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placeholders {
    /// Keyed by the path relative to the rootfs (`dev/null`), as layer entries are named.
    by_path: BTreeMap<PathBuf, Unrepresentable>,
    /// The owner a placeholder was left with: the extracting process's own ids.
    owner: (u32, u32),
}

impl Placeholders {
    /// Collects what extraction recorded, in layer order (a later record of a path wins).
    pub fn new(recorded: impl IntoIterator<Item = Recorded>) -> Self {
        let by_path = recorded
            .into_iter()
            .map(|r| {
                let rel = r.path.strip_prefix("/").unwrap_or(&r.path).to_path_buf();
                (rel, r.what)
            })
            .collect();
        let owner = (
            rustix::process::geteuid().as_raw(),
            rustix::process::getegid().as_raw(),
        );
        Self { by_path, owner }
    }

    /// What `rel` really is, if it was recorded.
    pub fn get(&self, rel: &Path) -> Option<&Unrepresentable> {
        self.by_path.get(rel)
    }

    /// The owner placeholders were created with; a placeholder whose owner differs was
    /// changed since (a RUN's `chown`) and that change wins.
    pub fn placeholder_owner(&self) -> (u32, u32) {
        self.owner
    }

    /// Adds what the extraction of later layers onto the same rootfs recorded: its records
    /// win over the earlier ones of the same path.
    pub fn extend(&mut self, later: Placeholders) {
        self.by_path.extend(later.by_path);
    }

    /// Forgets `rel` and what lies under it: a step replaced or removed it.
    pub fn forget(&mut self, rel: &Path) {
        self.by_path.retain(|p, _| !p.starts_with(rel));
    }
}
