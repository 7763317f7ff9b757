//! Named blobs of an image on disk: an OCI layout directory, or a tarball (`docker save`, or
//! an OCI layout archived as one tar).
//!
//! Owns: opening a member by its name inside the layout or tarball. A tarball is indexed once
//! (name → offset, size) and members are read by seeking, so a layer is never copied out or
//! held in memory. Does not own: what the members mean (`source`).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::CompareError;

/// Where an image's files are.
#[derive(Debug)]
pub enum Store {
    Dir(PathBuf),
    Tar {
        path: PathBuf,
        members: BTreeMap<String, (u64, u64)>,
    },
}

impl Store {
    /// A directory is read as a layout; a file as a tarball.
    pub fn open(path: &Path) -> Result<Self, CompareError> {
        let io = |source| CompareError::Io {
            path: path.to_owned(),
            source,
        };
        if path.is_dir() {
            return Ok(Self::Dir(path.to_owned()));
        }
        let file = File::open(path).map_err(io)?;
        let mut archive = tar::Archive::new(BufReader::new(file));
        let mut members = BTreeMap::new();
        for entry in archive.entries().map_err(io)? {
            let entry = entry.map_err(io)?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = entry.path().map_err(io)?;
            let name = normalise(&name.to_string_lossy());
            members.insert(name, (entry.raw_file_position(), entry.size()));
        }
        Ok(Self::Tar {
            path: path.to_owned(),
            members,
        })
    }

    /// Whether the member exists.
    pub fn has(&self, name: &str) -> bool {
        match self {
            Self::Dir(dir) => dir.join(name).is_file(),
            Self::Tar { members, .. } => members.contains_key(&normalise(name)),
        }
    }

    /// A reader over one member.
    pub fn open_member(&self, name: &str) -> Result<Box<dyn Read>, CompareError> {
        match self {
            Self::Dir(dir) => {
                let path = dir.join(name);
                let file = File::open(&path).map_err(|source| CompareError::Io { path, source })?;
                Ok(Box::new(BufReader::new(file)))
            }
            Self::Tar { path, members } => {
                let &(offset, size) =
                    members
                        .get(&normalise(name))
                        .ok_or_else(|| CompareError::Missing {
                            image: path.clone(),
                            member: name.to_owned(),
                        })?;
                let io = |source| CompareError::Io {
                    path: path.clone(),
                    source,
                };
                let mut file = File::open(path).map_err(io)?;
                file.seek(SeekFrom::Start(offset)).map_err(io)?;
                Ok(Box::new(BufReader::new(file.take(size))))
            }
        }
    }

    /// One member as JSON.
    pub fn read_json(&self, name: &str) -> Result<serde_json::Value, CompareError> {
        let reader = self.open_member(name)?;
        serde_json::from_reader(reader).map_err(|source| CompareError::Json {
            image: self.path().to_owned(),
            member: name.to_owned(),
            source,
        })
    }

    /// The layout directory or tarball.
    pub fn path(&self) -> &Path {
        match self {
            Self::Dir(path) | Self::Tar { path, .. } => path,
        }
    }
}

fn normalise(name: &str) -> String {
    name.trim_start_matches("./")
        .trim_start_matches('/')
        .to_owned()
}
