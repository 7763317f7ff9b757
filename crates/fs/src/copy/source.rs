//! Where COPY reads from: the build context or another stage's rootfs, and how a source
//! argument becomes the list of paths it names.
//!
//! Paths are resolved inside the source root as if it were `/`: `..` stops at the root and
//! symlinks are followed inside it (BuildKit resolves sources with `fs.RootPath`), so no source
//! can name a file outside the context. The context's `.dockerignore` hides paths as if they
//! had never been sent; a stage's rootfs has no ignore file.

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use kiln_dockerfile::ignore::Matcher;
use rustix::fs::{FileType, Stat};

use super::Error;
use super::pattern;
use crate::resolve::{self, Root};

/// Symlinks followed while resolving one source before giving up, as Linux's `MAXSYMLINKS`.
const MAX_SYMLINKS: usize = 40;

/// A tree COPY reads from.
#[derive(Debug)]
pub struct Source {
    root: Root,
    ignore: Option<Matcher>,
}

/// One path a source argument named, resolved.
#[derive(Debug)]
pub(super) struct Found {
    /// The in-root path after following symlinks (absolute, clean).
    pub path: PathBuf,
    /// The last component as the source named it (before following a symlink).
    pub name: OsString,
    /// The in-root path as the source named it, wildcards expanded (absolute, clean).
    pub named: PathBuf,
    /// `lstat` of `path`, which is not a symlink.
    pub stat: Stat,
}

impl Source {
    /// A build context directory, whose `.dockerignore` matcher (if any) hides paths.
    pub fn context(root: Root, ignore: Option<Matcher>) -> Source {
        Source { root, ignore }
    }

    /// Another stage's rootfs (`COPY --from`): nothing is hidden.
    pub fn stage(root: Root) -> Source {
        Source { root, ignore: None }
    }

    /// The root the sources are read from.
    pub fn root(&self) -> &Root {
        &self.root
    }

    /// Whether the `.dockerignore` hides the in-root path `path`.
    pub(super) fn ignored(&self, path: &Path) -> bool {
        let Some(matcher) = &self.ignore else {
            return false;
        };
        let rel = path.strip_prefix("/").unwrap_or(path);
        !rel.as_os_str().is_empty() && matcher.matches(&rel.to_string_lossy())
    }

    /// Whether some ignore pattern is a `!` exception, so hidden directories must be walked.
    pub(super) fn has_exceptions(&self) -> bool {
        self.ignore.as_ref().is_some_and(Matcher::has_exclusions)
    }

    /// Whether anything below the hidden directory `dir` is brought back by an exception, so
    /// that the directory exists in the context as a parent of what is kept.
    pub(super) fn keeps_anything_under(&self, dir: &Path) -> Result<bool, Error> {
        let names = self.root.read_dir(dir).map_err(|source| Error::Read {
            path: dir.to_owned(),
            source,
        })?;
        for name in names {
            let child = dir.join(name);
            if !self.ignored(&child) {
                return Ok(true);
            }
            let is_dir = self
                .lstat(&child)?
                .is_some_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory);
            if is_dir && self.keeps_anything_under(&child)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The paths `src` names: one for a literal path (an error when missing or hidden), any
    /// number for a wildcard (none is not an error, as BuildKit's `AllowEmptyWildcard`).
    pub(super) fn resolve(&self, src: &str) -> Result<Vec<Found>, Error> {
        let wildcard = pattern::has_wildcards(src);
        let mut candidates = vec![PathBuf::from("/")];
        for comp in resolve::clean(Path::new(src)) {
            if !wildcard || !pattern::has_wildcards(&comp.to_string_lossy()) {
                candidates.iter_mut().for_each(|c| c.push(comp));
                continue;
            }
            let mut next = Vec::new();
            for dir in &candidates {
                let Ok(mut names) = self.root.read_dir(dir) else {
                    continue;
                };
                names.sort();
                for name in names {
                    let hit =
                        pattern::matches(comp.as_bytes(), name.as_bytes()).ok_or_else(|| {
                            Error::BadPattern {
                                path: src.to_owned(),
                            }
                        })?;
                    let path = dir.join(&name);
                    if hit && !self.ignored(&path) {
                        next.push(path);
                    }
                }
            }
            candidates = next;
        }
        let mut found = Vec::new();
        for candidate in candidates {
            let resolved = if self.ignored(&candidate) {
                None
            } else {
                self.follow(&candidate)?
            };
            match resolved {
                Some((path, stat)) => found.push(Found {
                    name: candidate
                        .file_name()
                        .map(ToOwned::to_owned)
                        .unwrap_or_default(),
                    named: normal(&candidate),
                    path,
                    stat,
                }),
                None if wildcard => {}
                None => {
                    return Err(Error::NotFound {
                        path: src.to_owned(),
                    });
                }
            }
        }
        Ok(found)
    }

    /// `lstat` of the in-root `path`, without following its last component.
    pub(super) fn lstat(&self, path: &Path) -> Result<Option<Stat>, Error> {
        let read = |source| Error::Read {
            path: path.to_owned(),
            source,
        };
        match self.root.open_parent(path) {
            Ok(parent) => parent.stat().map_err(read),
            Err(resolve::Error::IsRoot { .. }) => {
                rustix::fs::fstat(self.root.as_fd()).map(Some).map_err(|e| {
                    read(resolve::Error::Io {
                        op: "stat",
                        path: PathBuf::from("/"),
                        source: e.into(),
                    })
                })
            }
            Err(resolve::Error::Io { source, .. }) if is_missing(&source) => Ok(None),
            Err(e) => Err(read(e)),
        }
    }

    /// The target of the symlink at the in-root `path`.
    pub(super) fn read_link(&self, path: &Path) -> Result<PathBuf, Error> {
        let parent = self.root.open_parent(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        rustix::fs::readlinkat(parent.dir(), parent.name(), Vec::new())
            .map(|target| PathBuf::from(OsString::from_vec(target.into_bytes())))
            .map_err(|e| Error::Read {
                path: path.to_owned(),
                source: resolve::Error::Io {
                    op: "read the symlink",
                    path: path.to_owned(),
                    source: e.into(),
                },
            })
    }

    /// Follows symlinks at `path` inside the root; `None` when it (or a target) is missing.
    fn follow(&self, path: &Path) -> Result<Option<(PathBuf, Stat)>, Error> {
        let mut current = normal(path);
        for _ in 0..MAX_SYMLINKS {
            let Some(stat) = self.lstat(&current)? else {
                return Ok(None);
            };
            if FileType::from_raw_mode(stat.st_mode) != FileType::Symlink {
                return Ok(Some((current, stat)));
            }
            let target = self.read_link(&current)?;
            let base = current.parent().unwrap_or(Path::new("/")).to_owned();
            current = normal(&base.join(target));
        }
        Err(Error::SymlinkLoop {
            path: path.to_owned(),
        })
    }
}

/// `path` as an absolute, lexically clean in-root path.
fn normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    out.extend(resolve::clean(path));
    out
}

fn is_missing(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR)
}

/// Opens the source file `src` for reading, inside `root`; an error names the path.
pub(super) fn open_file(root: &Root, src: &Path) -> Result<std::fs::File, Error> {
    root.open_file(src).map_err(|source| Error::Read {
        path: src.to_owned(),
        source,
    })
}
