//! Build contexts: the directory COPY and ADD read from, as Kaniko's `--context` names it.
//!
//! Owns the context URL syntaxes of Kaniko (<https://github.com/GoogleContainerTools/kaniko#kaniko-build-contexts>):
//! a plain path or `dir://PATH`; `tar://PATH`, a local tar archive (plain, gzip or zstd, by
//! content) and `tar://stdin`, both extracted first into a private temporary directory as
//! context archives (absolute paths, `..`, devices and writes through the archive's own
//! symlinks are refused by [`crate::extract`]); `--context-sub-path`; and the `.dockerignore`
//! of the build (`<Dockerfile>.dockerignore` winning over the context's, as
//! [`kiln_dockerfile::ignore::find_ignore_file`] picks it), which [`Context::source`] applies
//! to every path COPY reads.
//!
//! Remote contexts (`git://`, `https://`, `s3://`, `gs://`, `az://`) are refused by name.
//! Does not own the copy rules themselves ([`crate::copy`]).

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use kiln_dockerfile::ignore::{IgnoreError, Matcher, find_ignore_file, read_patterns};
use tempfile::TempDir;

use crate::copy::Source;
use crate::extract;
use crate::resolve::{self, Root};

/// A context error, naming the path or (redacted) URL it is about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{kind} build contexts are not supported yet: {url}")]
    Unsupported { kind: &'static str, url: String },
    #[error("build context {path} is not a directory")]
    NotADirectory { path: PathBuf },
    #[error("--context-sub-path {sub_path:?} {reason}")]
    SubPath {
        sub_path: String,
        reason: &'static str,
    },
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot extract the build context archive {name}")]
    Extract {
        name: String,
        #[source]
        source: extract::Error,
    },
    #[error("invalid ignore file {path}")]
    Ignore {
        path: PathBuf,
        #[source]
        source: IgnoreError,
    },
    #[error("cannot open the build context")]
    Root(#[source] resolve::Error),
}

/// How to open a context.
#[derive(Debug, Clone, Default)]
pub struct ContextOptions {
    /// `--context-sub-path`: the directory inside the context the build uses.
    pub sub_path: Option<String>,
    /// Where archive contexts are extracted (a fresh directory is made inside); the system's
    /// temporary directory when `None`.
    pub work_dir: Option<PathBuf>,
}

/// An opened build context: a directory on the host, removed on drop when it was extracted.
#[derive(Debug)]
pub struct Context {
    dir: PathBuf,
    _extracted: Option<TempDir>,
}

impl Context {
    /// Opens the context `spec` (a path, `dir://`, `tar://PATH` or `tar://stdin`).
    pub fn open(spec: &str, options: &ContextOptions) -> Result<Context, Error> {
        if let Some(rest) = spec.strip_prefix("tar://") {
            return if rest == "stdin" {
                Self::from_tar(std::io::stdin(), "stdin", options)
            } else {
                let file = std::fs::File::open(rest).map_err(|source| Error::Io {
                    path: PathBuf::from(rest),
                    source,
                })?;
                Self::from_tar(file, rest, options)
            };
        }
        if let Some(kind) = remote_kind(spec) {
            return Err(Error::Unsupported {
                kind,
                url: redact_url(spec),
            });
        }
        let dir = PathBuf::from(spec.strip_prefix("dir://").unwrap_or(spec));
        Self::from_dir(dir, None, options)
    }

    /// Extracts the tar stream `reader` (plain, gzip or zstd) and opens it as the context;
    /// `name` names it in errors.
    pub fn from_tar(
        reader: impl Read + Send,
        name: &str,
        options: &ContextOptions,
    ) -> Result<Context, Error> {
        let base = options.work_dir.clone().unwrap_or_else(std::env::temp_dir);
        let temp = tempfile::Builder::new()
            .prefix("kiln-context-")
            .tempdir_in(&base)
            .map_err(|source| Error::Io { path: base, source })?;
        let root = Root::open(temp.path()).map_err(Error::Root)?;
        let extract_options = extract::Options {
            source: extract::Source::Context,
            rootless: !rustix::process::geteuid().is_root(),
            ..extract::Options::default()
        };
        extract::extract_layer(&root, reader, &extract_options).map_err(|source| {
            Error::Extract {
                name: name.to_owned(),
                source,
            }
        })?;
        let dir = temp.path().to_owned();
        Self::from_dir(dir, Some(temp), options)
    }

    fn from_dir(
        dir: PathBuf,
        extracted: Option<TempDir>,
        options: &ContextOptions,
    ) -> Result<Context, Error> {
        let dir = match &options.sub_path {
            Some(sub) => sub_dir(&dir, sub)?,
            None => dir,
        };
        let meta = std::fs::metadata(&dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(Error::NotADirectory { path: dir });
        }
        Ok(Context {
            dir,
            _extracted: extracted,
        })
    }

    /// The context directory on the host.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The ignore patterns of a build whose Dockerfile is `dockerfile`, if it has an ignore file.
    pub fn ignore_for(&self, dockerfile: &Path) -> Result<Option<Matcher>, Error> {
        let Some(path) = find_ignore_file(dockerfile, &self.dir) else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        Matcher::new(read_patterns(&text))
            .map(Some)
            .map_err(|source| Error::Ignore { path, source })
    }

    /// The context as a COPY source, hiding what `ignore` excludes.
    pub fn source(&self, ignore: Option<Matcher>) -> Result<Source, Error> {
        let root = Root::open(&self.dir).map_err(Error::Root)?;
        Ok(Source::context(root, ignore))
    }
}

/// `dir/sub`, refusing a sub path that leaves `dir` or goes through a symlink.
fn sub_dir(dir: &Path, sub: &str) -> Result<PathBuf, Error> {
    let refuse = |reason| Error::SubPath {
        sub_path: sub.to_owned(),
        reason,
    };
    let mut out = dir.to_owned();
    for comp in Path::new(sub).components() {
        match comp {
            Component::Normal(name) => {
                out.push(name);
                if out
                    .symlink_metadata()
                    .is_ok_and(|m| m.file_type().is_symlink())
                {
                    return Err(refuse("goes through a symlink"));
                }
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) | Component::ParentDir => {
                return Err(refuse("must be a relative path inside the context"));
            }
        }
    }
    Ok(out)
}

/// The kind of a remote context URL kiln recognises but does not fetch.
fn remote_kind(spec: &str) -> Option<&'static str> {
    const KINDS: [(&str, &str); 6] = [
        ("git://", "git"),
        ("https://", "https"),
        ("http://", "http"),
        ("s3://", "s3"),
        ("gs://", "gs"),
        ("az://", "az"),
    ];
    KINDS
        .iter()
        .find(|(prefix, _)| spec.starts_with(prefix))
        .map(|(_, kind)| *kind)
}

/// `url` without its user information (`scheme://user:password@host/...` → `scheme://host/...`)
/// or query string, which may carry tokens.
pub(crate) fn redact_url(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or(url);
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority
                .rsplit_once('@')
                .map_or(authority, |(_, host)| host);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_credentials_and_queries() {
        let cases = [
            (
                "https://u:p@example.com/ctx.tar.gz?token=x",
                "https://example.com/ctx.tar.gz",
            ),
            ("s3://bucket/key", "s3://bucket/key"),
            ("git://user@host/repo.git#main", "git://host/repo.git"),
            ("https://example.com/a@b", "https://example.com/a@b"),
        ];
        for (url, expected) in cases {
            assert_eq!(redact_url(url), expected, "{url}");
        }
    }
}
