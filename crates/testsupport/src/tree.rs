//! What a directory tree holds, for comparing trees in tests.
//!
//! Owns: walking a tree on disk without following symlinks and describing each path by what
//! the OCI layer spec says a layer carries
//! (<https://github.com/opencontainers/image-spec/blob/main/layer.md>): type, permission bits,
//! owner, content, link target, device numbers, modification time, extended attributes and
//! hardlink groups ([`walk`], [`tree`]), and a one-line-per-path dump of that for assertions
//! on small trees ([`dump`]).
//!
//! Does not own: reading layers or images (`crate::compare` flattens those).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use aws_lc_rs::digest::{SHA256, digest};

/// The type of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    Char,
    Block,
    Fifo,
    /// A socket, which no layer can hold.
    Other,
}

impl Kind {
    /// The kind of `file_type`.
    pub fn of(file_type: fs::FileType) -> Kind {
        if file_type.is_dir() {
            Kind::Dir
        } else if file_type.is_symlink() {
            Kind::Symlink
        } else if file_type.is_file() {
            Kind::File
        } else if file_type.is_char_device() {
            Kind::Char
        } else if file_type.is_block_device() {
            Kind::Block
        } else if file_type.is_fifo() {
            Kind::Fifo
        } else {
            Kind::Other
        }
    }

    /// The name [`dump`] prints.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Dir => "dir",
            Kind::File => "file",
            Kind::Symlink => "link",
            Kind::Char => "char",
            Kind::Block => "block",
            Kind::Fifo => "fifo",
            Kind::Other => "other",
        }
    }
}

/// What the tests compare about one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: Kind,
    /// Permission bits with setuid, setgid and sticky (`0o7777`); 0 for symlinks, whose mode
    /// means nothing on Linux.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// `sha256:<hex>` of a regular file's content.
    pub content: Option<String>,
    /// A symlink's target.
    pub link: Option<String>,
    /// A device's number; 0 for other kinds.
    pub rdev: u64,
    /// Modification time (seconds, nanoseconds) of what is neither a directory (its time
    /// changes as its entries are made) nor a symlink.
    pub mtime: Option<(i64, i64)>,
    /// Extended attributes, without `security.selinux` (the host's labelling, not the tree's).
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// For a non-directory with several links: the first of its paths in walk order.
    pub group: Option<String>,
}

/// Every path under `root` (not the root itself), relative to it, and what the tests compare
/// about it, in walk order: depth first, each directory's names sorted. Panics naming the path
/// that cannot be read.
pub fn walk(root: &Path) -> Vec<(String, Node)> {
    let mut out = Vec::new();
    let mut groups: HashMap<(u64, u64), String> = HashMap::new();
    for entry in walkdir::WalkDir::new(root).min_depth(1).sort_by_file_name() {
        let entry = entry.unwrap_or_else(|e| panic!("walking {}: {e}", root.display()));
        let path = entry.path();
        let rel = path
            .strip_prefix(root)
            .expect("walked paths are under the root")
            .to_string_lossy()
            .into_owned();
        let meta =
            fs::symlink_metadata(path).unwrap_or_else(|e| panic!("lstat {}: {e}", path.display()));
        let kind = Kind::of(meta.file_type());
        let content = (kind == Kind::File).then(|| {
            let data = fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            format!("sha256:{}", hex::encode(digest(&SHA256, &data)))
        });
        let link = (kind == Kind::Symlink).then(|| {
            let target =
                fs::read_link(path).unwrap_or_else(|e| panic!("readlink {}: {e}", path.display()));
            String::from_utf8_lossy(target.as_os_str().as_bytes()).into_owned()
        });
        let group = (kind != Kind::Dir && meta.nlink() > 1).then(|| {
            groups
                .entry((meta.dev(), meta.ino()))
                .or_insert_with(|| rel.clone())
                .clone()
        });
        let node = Node {
            kind,
            mode: if kind == Kind::Symlink {
                0
            } else {
                meta.mode() & 0o7777
            },
            uid: meta.uid(),
            gid: meta.gid(),
            content,
            link,
            rdev: if matches!(kind, Kind::Char | Kind::Block) {
                meta.rdev()
            } else {
                0
            },
            mtime: (kind != Kind::Dir && kind != Kind::Symlink)
                .then(|| (meta.mtime(), meta.mtime_nsec())),
            xattrs: xattrs(path),
            group,
        };
        out.push((rel, node));
    }
    out
}

/// [`walk`] as a map from relative path to node.
pub fn tree(root: &Path) -> BTreeMap<String, Node> {
    walk(root).into_iter().collect()
}

/// One line per path below `root`, in walk order: path, type, mode (`777` for symlinks, as
/// `ls` shows them), `uid:gid`, then a file's first 40 bytes, a symlink's target or a device's
/// `major:minor`.
pub fn dump(root: &Path) -> Vec<String> {
    walk(root)
        .into_iter()
        .map(|(rel, node)| {
            let detail = match node.kind {
                Kind::Symlink => format!("-> {}", node.link.unwrap_or_default()),
                Kind::File => {
                    let path = root.join(&rel);
                    let data = fs::read(&path)
                        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
                    format!("{:?}", String::from_utf8_lossy(&data[..data.len().min(40)]))
                }
                Kind::Char | Kind::Block => format!(
                    "{}:{}",
                    rustix::fs::major(node.rdev),
                    rustix::fs::minor(node.rdev)
                ),
                Kind::Dir | Kind::Fifo | Kind::Other => String::new(),
            };
            let mode = if node.kind == Kind::Symlink {
                0o777
            } else {
                node.mode
            };
            let line = format!(
                "{rel} {} {mode:o} {}:{} {detail}",
                node.kind.name(),
                node.uid,
                node.gid
            );
            line.trim_end().to_owned()
        })
        .collect()
}

fn xattrs(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let names =
        xattr::list(path).unwrap_or_else(|e| panic!("listing xattrs of {}: {e}", path.display()));
    names
        .filter(|name| name.as_bytes() != b"security.selinux")
        .map(|name| {
            let value = xattr::get(path, &name)
                .unwrap_or_else(|e| panic!("reading xattr of {}: {e}", path.display()))
                .unwrap_or_default();
            (String::from_utf8_lossy(name.as_bytes()).into_owned(), value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{PermissionsExt, symlink};

    use super::*;

    #[test]
    fn dump_is_in_walk_order_with_the_kind_mode_owner_and_detail_of_each_path() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        fs::create_dir(root.join("a")).expect("mkdir");
        fs::write(root.join("a/b"), "content of b").expect("write");
        fs::write(root.join("a-c"), "x".repeat(50)).expect("write");
        symlink("a/b", root.join("link")).expect("symlink");
        fs::hard_link(root.join("a/b"), root.join("z")).expect("hard link");
        for (path, mode) in [("a", 0o750), ("a/b", 0o640), ("a-c", 0o604)] {
            fs::set_permissions(root.join(path), fs::Permissions::from_mode(mode)).expect("chmod");
        }
        let owner = format!(
            "{}:{}",
            rustix::process::geteuid().as_raw(),
            rustix::process::getegid().as_raw()
        );
        let x40 = "x".repeat(40);
        // `a/b` before `a-c`: each directory's names are sorted, not the whole paths.
        assert_eq!(
            dump(root),
            [
                format!("a dir 750 {owner}"),
                format!("a/b file 640 {owner} \"content of b\""),
                format!("a-c file 604 {owner} \"{x40}\""),
                format!("link link 777 {owner} -> a/b"),
                format!("z file 640 {owner} \"content of b\""),
            ]
        );
        let nodes = tree(root);
        assert_eq!(nodes["a/b"].group.as_deref(), Some("a/b"));
        assert_eq!(nodes["z"].group.as_deref(), Some("a/b"));
        assert_eq!(nodes["a/b"].content, nodes["z"].content);
        assert_eq!(nodes["link"].mode, 0);
        assert_eq!(nodes["a"].mtime, None);
    }
}
