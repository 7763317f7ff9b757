//! The set of entries one layer will hold, in the order they are written.
//!
//! Owns: the layer's list of paths to copy from the rootfs, whiteouts and opaque markers, the
//! parent directories that go with them, and the entry order. Does not own: finding out what
//! changed (`crate::snapshot`) or reading the files (`super::source`).
//!
//! Whiteouts follow the OCI layer spec
//! (<https://github.com/opencontainers/image-spec/blob/main/layer.md#whiteouts>): a deleted
//! `a/b` is the empty file `a/.wh.b`, and a directory whose lower contents are all hidden
//! carries `a/.wh..wh..opq`.
//!
//! Order: component by component (so a directory's entries follow it directly), and inside one
//! directory the opaque marker first, then whiteouts, then everything else by byte order. A
//! reader that applies entries in stream order therefore sees a directory before its contents
//! and a whiteout before any sibling written by the same layer.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use super::Error;

/// Prefix that marks a whiteout entry.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// Name of the opaque-directory marker.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// What a layer says about one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Copy the path from the rootfs as it is now.
    Write,
    /// The key is `dir/.wh.name`: `dir/name` is deleted.
    Whiteout,
    /// The key is `dir/.wh..wh..opq`: everything below `dir` from lower layers is hidden.
    Opaque,
}

/// A relative path ordered as entries are written to a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerPath(PathBuf);

impl LayerPath {
    /// The path, relative to the rootfs, without a leading `/`.
    pub fn as_path(&self) -> &Path {
        &self.0
    }
}

fn rank(name: &OsStr) -> u8 {
    let b = name.as_bytes();
    if b == OPAQUE_MARKER.as_bytes() {
        0
    } else if b.starts_with(WHITEOUT_PREFIX.as_bytes()) {
        1
    } else {
        2
    }
}

impl Ord for LayerPath {
    fn cmp(&self, other: &Self) -> Ordering {
        let mut a = self.0.iter();
        let mut b = other.0.iter();
        loop {
            match (a.next(), b.next()) {
                (None, None) => return Ordering::Equal,
                (None, Some(_)) => return Ordering::Less,
                (Some(_), None) => return Ordering::Greater,
                (Some(x), Some(y)) => {
                    let ord = rank(x)
                        .cmp(&rank(y))
                        .then_with(|| x.as_bytes().cmp(y.as_bytes()));
                    if ord != Ordering::Equal {
                        return ord;
                    }
                }
            }
        }
    }
}

impl PartialOrd for LayerPath {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The entries of one layer, kept in layer order and without duplicates.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    entries: BTreeMap<LayerPath, Change>,
}

/// Turns `/usr/./bin` or `usr/bin/` into `usr/bin`; refuses `..` and reserved names.
fn normalize(path: &Path) -> Result<PathBuf, Error> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(name) => {
                if name.as_bytes().starts_with(WHITEOUT_PREFIX.as_bytes()) {
                    return Err(Error::ReservedName(path.to_owned()));
                }
                out.push(name);
            }
            Component::ParentDir | Component::Prefix(_) => {
                return Err(Error::NotInRootfs(path.to_owned()));
            }
        }
    }
    Ok(out)
}

impl Changes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `path` (relative to the rootfs; a leading `/` is ignored) to be copied from the
    /// rootfs, with every parent directory, as Docker includes them.
    pub fn write(&mut self, path: impl AsRef<Path>) -> Result<(), Error> {
        let path = normalize(path.as_ref())?;
        self.add_parents(&path);
        if !path.as_os_str().is_empty() {
            self.entries.insert(LayerPath(path), Change::Write);
        }
        Ok(())
    }

    /// Records that `path` was deleted: writes `parent/.wh.name` and the parent directories.
    pub fn whiteout(&mut self, path: impl AsRef<Path>) -> Result<(), Error> {
        let path = normalize(path.as_ref())?;
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(Error::NotInRootfs(path));
        };
        self.add_parents(&path);
        let mut marker = WHITEOUT_PREFIX.as_bytes().to_vec();
        marker.extend_from_slice(name.as_bytes());
        let key = parent.join(OsStr::from_bytes(&marker));
        self.entries.insert(LayerPath(key), Change::Whiteout);
        Ok(())
    }

    /// Marks directory `dir` opaque (it replaced whatever lower layers had there) and writes it.
    pub fn opaque(&mut self, dir: impl AsRef<Path>) -> Result<(), Error> {
        let dir = normalize(dir.as_ref())?;
        if dir.as_os_str().is_empty() {
            return Err(Error::NotInRootfs(dir));
        }
        self.add_parents(&dir);
        self.entries
            .insert(LayerPath(dir.join(OPAQUE_MARKER)), Change::Opaque);
        self.entries.insert(LayerPath(dir), Change::Write);
        Ok(())
    }

    fn add_parents(&mut self, path: &Path) {
        let mut parent = path.parent();
        while let Some(p) = parent {
            if p.as_os_str().is_empty() {
                break;
            }
            let key = LayerPath(p.to_owned());
            if self.entries.contains_key(&key) {
                // Its own parents were added with it.
                break;
            }
            self.entries.insert(key, Change::Write);
            parent = p.parent();
        }
    }

    /// Entries in the order they are written.
    pub fn iter(&self) -> impl Iterator<Item = (&Path, Change)> {
        self.entries.iter().map(|(k, v)| (k.as_path(), *v))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(c: &Changes) -> Vec<String> {
        c.iter()
            .map(|(p, k)| format!("{k:?} {}", p.display()))
            .collect()
    }

    #[test]
    fn parents_come_first_and_whiteouts_lead_their_directory() {
        let mut c = Changes::new();
        c.write("/etc/a-b").unwrap();
        c.write("etc/a/b").unwrap();
        c.write("etc/+x").unwrap();
        c.whiteout("etc/zz").unwrap();
        c.opaque("etc/opq").unwrap();
        c.write("etc/opq/new").unwrap();
        assert_eq!(
            listing(&c),
            [
                "Write etc",
                "Whiteout etc/.wh.zz",
                "Write etc/+x",
                "Write etc/a",
                "Write etc/a/b",
                "Write etc/a-b",
                "Write etc/opq",
                "Opaque etc/opq/.wh..wh..opq",
                "Write etc/opq/new",
            ]
        );
    }

    #[test]
    fn paths_are_normalized_and_deduplicated() {
        let mut c = Changes::new();
        c.write("/a/./b/").unwrap();
        c.write("a/b").unwrap();
        c.write("/").unwrap();
        assert_eq!(listing(&c), ["Write a", "Write a/b"]);
    }

    #[test]
    fn escaping_and_reserved_paths_are_refused() {
        let mut c = Changes::new();
        assert!(matches!(c.write("a/../b"), Err(Error::NotInRootfs(_))));
        assert!(matches!(c.write("a/.wh.b"), Err(Error::ReservedName(_))));
        assert!(matches!(c.whiteout("/"), Err(Error::NotInRootfs(_))));
        assert!(matches!(c.opaque(""), Err(Error::NotInRootfs(_))));
        assert!(c.is_empty());
    }
}
