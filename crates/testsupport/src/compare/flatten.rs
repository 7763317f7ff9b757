//! Flattening layers into the filesystem a container would see.
//!
//! Owns: reading each layer (gzip, zstd or plain tar, told apart by magic bytes), applying it
//! over the layers below as the OCI image spec says
//! (<https://github.com/opencontainers/image-spec/blob/main/layer.md#whiteouts>): a `.wh.name`
//! removes `name` and what is under it from lower layers, a `.wh..wh..opq` empties its
//! directory of lower layers' entries, both before the layer's own entries are added. Hardlinks
//! share the target's metadata and content; the paths of a link group are recorded on each of
//! them, so the comparison does not depend on which path a builder wrote first. Parent
//! directories a layer implies but does not list are created as `0755 0:0`, as runtimes do.
//!
//! Contents are hashed while streaming; nothing is written to disk.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};

use aws_lc_rs::digest::{Context, SHA256};

/// The type of a filesystem entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Char { major: u32, minor: u32 },
    Block { major: u32, minor: u32 },
    Fifo,
}

/// One path of the flattened filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    /// Permission bits with setuid, setgid and sticky (`0o7777`).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    /// `sha256:<hex>` of a regular file's content.
    pub content: Option<String>,
    /// A symlink's target.
    pub link: Option<String>,
    /// Extended attributes from PAX `SCHILY.xattr.*` records.
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// The other paths of this entry's hardlink group.
    pub hardlinks: BTreeSet<String>,
    /// Which inode the entry is; equal for hardlinked paths.
    inode: u64,
}

/// Path (absolute, `/`-separated, no trailing slash) → entry.
pub type Filesystem = BTreeMap<String, Entry>;

/// Why a layer could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FlattenError {
    #[error("reading the layer tar failed")]
    Read(#[source] std::io::Error),
    #[error("hardlink {path} points at {target}, which no lower entry has")]
    DanglingHardlink { path: String, target: String },
}

/// Applies layers, bottom first.
#[derive(Debug, Default)]
pub struct Flattener {
    fs: Filesystem,
    next_inode: u64,
}

impl Flattener {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one layer, compressed or not.
    pub fn apply(&mut self, layer: impl Read) -> Result<(), FlattenError> {
        let reader = decompress(layer).map_err(FlattenError::Read)?;
        let mut archive = tar::Archive::new(reader);
        let mut whiteouts = Vec::new();
        let mut opaque = Vec::new();
        let mut added = Vec::new();
        for entry in archive.entries().map_err(FlattenError::Read)? {
            let mut entry = entry.map_err(FlattenError::Read)?;
            let path = normalise(&entry.path().map_err(FlattenError::Read)?.to_string_lossy());
            let (parent, name) = split(&path);
            if name == ".wh..wh..opq" {
                opaque.push(parent.to_owned());
                continue;
            }
            if let Some(hidden) = name.strip_prefix(".wh.") {
                whiteouts.push(join(parent, hidden));
                continue;
            }
            if path == "/" {
                continue;
            }
            added.push(read_entry(&mut entry, path)?);
        }
        for dir in opaque {
            self.remove_under(&dir, false);
        }
        for path in whiteouts {
            self.remove_under(&path, true);
        }
        for item in added {
            self.add(item)?;
        }
        Ok(())
    }

    /// The filesystem so far, with hardlink groups filled in.
    pub fn finish(mut self) -> Filesystem {
        let mut groups: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
        for (path, entry) in &self.fs {
            groups.entry(entry.inode).or_default().insert(path.clone());
        }
        for (path, entry) in self.fs.iter_mut() {
            if let Some(group) = groups.get(&entry.inode)
                && group.len() > 1
            {
                entry.hardlinks = group.iter().filter(|p| *p != path).cloned().collect();
            }
        }
        self.fs
    }

    fn remove_under(&mut self, path: &str, including_itself: bool) {
        let prefix = if path == "/" {
            "/".to_owned()
        } else {
            format!("{path}/")
        };
        self.fs
            .retain(|p, _| !(p.starts_with(&prefix) || (including_itself && p == path)));
    }

    fn add(&mut self, item: Item) -> Result<(), FlattenError> {
        self.make_parents(&item.path);
        let entry = match item.hardlink_to {
            Some(target) => {
                self.fs
                    .get(&target)
                    .cloned()
                    .ok_or(FlattenError::DanglingHardlink {
                        path: item.path.clone(),
                        target,
                    })?
            }
            None => {
                self.next_inode += 1;
                Entry {
                    inode: self.next_inode,
                    ..item.entry
                }
            }
        };
        // A directory over a directory keeps what is under it; anything else replaces.
        if entry.kind != Kind::Dir || self.fs.get(&item.path).is_some_and(|e| e.kind != Kind::Dir) {
            self.remove_under(&item.path, false);
        }
        self.fs.insert(item.path, entry);
        Ok(())
    }

    fn make_parents(&mut self, path: &str) {
        let mut parent = split(path).0;
        while parent != "/" {
            if self.fs.get(parent).is_some_and(|e| e.kind == Kind::Dir) {
                return;
            }
            self.next_inode += 1;
            let dir = Entry {
                kind: Kind::Dir,
                mode: 0o755,
                uid: 0,
                gid: 0,
                size: 0,
                content: None,
                link: None,
                xattrs: BTreeMap::new(),
                hardlinks: BTreeSet::new(),
                inode: self.next_inode,
            };
            self.fs.insert(parent.to_owned(), dir);
            parent = split(parent).0;
        }
    }
}

/// An entry as read from a layer, before it is applied.
struct Item {
    path: String,
    entry: Entry,
    hardlink_to: Option<String>,
}

fn read_entry<R: Read>(entry: &mut tar::Entry<'_, R>, path: String) -> Result<Item, FlattenError> {
    let header = entry.header();
    let mode = header.mode().map_err(FlattenError::Read)? & 0o7777;
    let uid = header.uid().map_err(FlattenError::Read)?;
    let gid = header.gid().map_err(FlattenError::Read)?;
    let device = || -> Result<(u32, u32), FlattenError> {
        let major = header
            .device_major()
            .map_err(FlattenError::Read)?
            .unwrap_or(0);
        let minor = header
            .device_minor()
            .map_err(FlattenError::Read)?
            .unwrap_or(0);
        Ok((major, minor))
    };
    let entry_type = header.entry_type();
    let link_name = || -> Result<Option<String>, FlattenError> {
        Ok(entry
            .link_name()
            .map_err(FlattenError::Read)?
            .map(|l| l.to_string_lossy().into_owned()))
    };
    let (kind, link, hardlink_to) = match entry_type {
        tar::EntryType::Directory => (Kind::Dir, None, None),
        tar::EntryType::Symlink => (Kind::Symlink, link_name()?, None),
        tar::EntryType::Link => (Kind::File, None, link_name()?.map(|t| normalise(&t))),
        tar::EntryType::Char => {
            let (major, minor) = device()?;
            (Kind::Char { major, minor }, None, None)
        }
        tar::EntryType::Block => {
            let (major, minor) = device()?;
            (Kind::Block { major, minor }, None, None)
        }
        tar::EntryType::Fifo => (Kind::Fifo, None, None),
        _ => (Kind::File, None, None),
    };
    let mut xattrs = BTreeMap::new();
    if let Some(extensions) = entry.pax_extensions().map_err(FlattenError::Read)? {
        for extension in extensions {
            let extension = extension.map_err(FlattenError::Read)?;
            if let Ok(key) = extension.key()
                && let Some(name) = key.strip_prefix("SCHILY.xattr.")
            {
                xattrs.insert(name.to_owned(), extension.value_bytes().to_vec());
            }
        }
    }
    let (size, content) = if kind == Kind::File && hardlink_to.is_none() {
        let (size, digest) = hash(entry).map_err(FlattenError::Read)?;
        (size, Some(digest))
    } else {
        (0, None)
    };
    Ok(Item {
        path,
        entry: Entry {
            kind,
            mode,
            uid,
            gid,
            size,
            content,
            link,
            xattrs,
            hardlinks: BTreeSet::new(),
            inode: 0,
        },
        hardlink_to,
    })
}

fn hash(mut reader: impl Read) -> std::io::Result<(u64, String)> {
    let mut context = Context::new(&SHA256);
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        context.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, format!("sha256:{}", hex::encode(context.finish()))))
}

/// Wraps the layer in a decoder chosen by its first bytes.
fn decompress<'a>(layer: impl Read + 'a) -> std::io::Result<Box<dyn Read + 'a>> {
    let mut reader = BufReader::new(layer);
    let magic = reader.fill_buf()?;
    Ok(if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(reader))
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::with_buffer(reader)?)
    } else {
        Box::new(reader)
    })
}

/// `./a/b/`, `a/b` and `/a/b` are all `/a/b`; the root is `/`.
pub fn normalise(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

/// `/a/b` → (`/a`, `b`); `/a` → (`/`, `a`).
fn split(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some(("", name)) => ("/", name),
        Some((parent, name)) => (parent, name),
        None => ("/", path),
    }
}

fn join(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}
