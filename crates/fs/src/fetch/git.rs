//! ADD's Git sources: a repository URL resolved to one commit and checked out into a
//! directory that COPY semantics then place.
//!
//! Follows the Dockerfile reference (<https://docs.docker.com/reference/dockerfile/#adding-files-from-a-git-repository>)
//! as BuildKit's Git source (`source/git`) implements it: the URL is `git@host:path`,
//! `git://`, `ssh://`, or an http(s) URL whose path ends in `.git`, with an optional fragment
//! `#ref` or `#ref:subdir`; the ref is a branch, a tag or a full commit id, default the
//! remote's HEAD. The commit is fetched shallow (`--depth=1`) where the server allows it,
//! submodules are checked out recursively, and `.git` is removed unless `--keep-git-dir`.
//! Modes are git's (0644, 0755 for executables, 0755 directories) whatever the process umask.
//! Mtimes are the checkout's time, as BuildKit leaves them, or the commit's time when the
//! build is reproducible (BuildKit's `git.mtime=commit`, which `SOURCE_DATE_EPOCH` turns on).
//!
//! [`resolve`] gives the commit a URL stands for now (`git ls-remote`) without fetching
//! anything: the ADD's cache key must include it, so that the same ADD line keys differently
//! once the branch moves. [`checkout`] takes that commit, never the ref again.
//!
//! The work is done by the `git` program on `PATH`, with `GIT_TERMINAL_PROMPT=0` so that a
//! credential prompt fails instead of waiting; `SSH_AUTH_SOCK` is the build's `--ssh default`
//! agent when there is one. Credentials in a URL are passed to git but never printed.
//!
//! Does not own: where the files land (`crate::copy`), the cache key (`kiln-build`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

/// A Git source as ADD names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitUrl {
    /// The repository URL, without the fragment.
    pub remote: String,
    /// The branch, tag or commit after `#`; `None` is the remote's HEAD.
    pub reference: Option<String>,
    /// The directory of the repository after `#ref:`; `None` is all of it.
    pub subdir: Option<String>,
}

/// A Git source checked out.
#[derive(Debug, Clone)]
pub struct Checkout {
    /// The directory whose contents ADD copies (the subdir applied).
    pub dir: PathBuf,
    /// The commit checked out.
    pub commit: String,
}

/// What the Git source needs besides the URL.
#[derive(Debug, Clone, Default)]
pub struct GitOptions {
    /// Keep `.git` in the checkout (`ADD --keep-git-dir`).
    pub keep_git_dir: bool,
    /// Give every file the commit's time instead of the checkout's.
    pub commit_mtime: bool,
    /// The agent git's ssh talks to (`SSH_AUTH_SOCK`); `None` leaves kiln's environment.
    pub ssh_auth_sock: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "ADD from a Git repository needs the git program, which is not on PATH \
         (install git, or ADD the files from the build context)"
    )]
    GitMissing(#[source] std::io::Error),
    #[error("cannot run git for {url}")]
    Spawn {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("git {action} of {url} failed: {stderr}")]
    Git {
        action: &'static str,
        url: String,
        stderr: String,
    },
    #[error("{url} has no branch or tag {reference:?}")]
    UnknownRef { url: String, reference: String },
    #[error("invalid Git reference {reference:?} in {url}: {reason}")]
    BadRef {
        url: String,
        reference: String,
        reason: &'static str,
    },
    #[error("the subdirectory {subdir:?} of {url} at {commit} is not a directory")]
    SubdirMissing {
        url: String,
        subdir: String,
        commit: String,
    },
    #[error("cannot prepare the checkout of {url} in {}", path.display())]
    Io {
        url: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl GitUrl {
    /// Splits `src` (a source [`super::is_git`] accepts) into the remote, ref and subdir.
    pub fn parse(src: &str) -> Result<Self, Error> {
        let (remote, fragment) = match src.split_once('#') {
            Some((remote, fragment)) => (remote, Some(fragment)),
            None => (src, None),
        };
        let (reference, subdir) = match fragment {
            None => (None, None),
            Some(fragment) => match fragment.split_once(':') {
                Some((r, s)) => (Some(r), Some(s)),
                None => (Some(fragment), None),
            },
        };
        let reference = reference.filter(|r| !r.is_empty()).map(str::to_owned);
        let subdir = subdir
            .map(|s| s.trim_matches('/'))
            .filter(|s| !s.is_empty() && *s != ".")
            .map(str::to_owned);
        if let Some(r) = &reference {
            let reason = if r.starts_with('-') {
                Some("it starts with '-'")
            } else if r.chars().any(|c| c.is_whitespace() || c.is_control()) {
                Some("it holds a space or control character")
            } else if r.contains("..") {
                Some("it holds '..'")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(Error::BadRef {
                    url: super::redact(remote),
                    reference: r.clone(),
                    reason,
                });
            }
        }
        Ok(Self {
            remote: remote.to_owned(),
            reference,
            subdir,
        })
    }

    /// The URL for messages: no userinfo, query or fragment.
    pub fn shown(&self) -> String {
        super::redact(&self.remote)
    }
}

/// Whether `reference` is a full commit id (SHA-1 or SHA-256), which needs no lookup.
fn is_commit(reference: &str) -> bool {
    matches!(reference.len(), 40 | 64) && reference.chars().all(|c| c.is_ascii_hexdigit())
}

/// A `git` command with the build's environment for it.
fn git(options: &GitOptions) -> Command {
    let mut command = Command::new("git");
    command
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .stdin(Stdio::null());
    if let Some(sock) = &options.ssh_auth_sock {
        command.env("SSH_AUTH_SOCK", sock);
    }
    command
}

/// Runs `command`; its stdout, or its stderr (credentials removed) as the error.
fn run(mut command: Command, action: &'static str, url: &GitUrl) -> Result<String, Error> {
    let out = command.output().map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => Error::GitMissing(source),
        _ => Error::Spawn {
            url: url.shown(),
            source,
        },
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stderr = super::redact_userinfo(stderr.trim()).replace(&url.remote, &url.shown());
        return Err(Error::Git {
            action,
            url: url.shown(),
            stderr,
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The commit `url` stands for now: its ref looked up with `git ls-remote` (a peeled tag is
/// its commit), or the ref itself when it is a commit id.
pub fn resolve(url: &GitUrl, options: &GitOptions) -> Result<String, Error> {
    if let Some(reference) = url.reference.as_deref().filter(|r| is_commit(r)) {
        return Ok(reference.to_ascii_lowercase());
    }
    let mut command = git(options);
    command.args(["ls-remote", "--", &url.remote]);
    let wanted = url.reference.as_deref().unwrap_or("HEAD");
    // A pattern matches the end of a ref name: the peeled line of a tag needs its own.
    command.arg(wanted).arg(format!("{wanted}^{{}}"));
    let listing = run(command, "ls-remote", url)?;
    pick(&listing, wanted).ok_or_else(|| Error::UnknownRef {
        url: url.shown(),
        reference: wanted.to_owned(),
    })
}

/// The commit of `wanted` in `git ls-remote` output, as git itself resolves a ref name:
/// the name as given, then a tag, then a branch; a tag's peeled `^{}` line wins.
fn pick(listing: &str, wanted: &str) -> Option<String> {
    let lines: Vec<(&str, &str)> = listing.lines().filter_map(|l| l.split_once('\t')).collect();
    let candidates = [
        wanted.to_owned(),
        format!("refs/tags/{wanted}"),
        format!("refs/heads/{wanted}"),
    ];
    candidates.iter().find_map(|name| {
        let peeled = format!("{name}^{{}}");
        lines
            .iter()
            .find(|(_, r)| *r == peeled)
            .or_else(|| lines.iter().find(|(_, r)| r == name))
            .map(|(commit, _)| (*commit).to_owned())
    })
}

/// Checks `commit` of `url` out into `dir` (a new directory), as [`GitOptions`] say.
pub fn checkout(
    url: &GitUrl,
    commit: &str,
    dir: &Path,
    options: &GitOptions,
) -> Result<Checkout, Error> {
    let io = |path: &Path| {
        let path = path.to_owned();
        let url = url.shown();
        move |source| Error::Io { url, path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let in_dir = |args: &[&str]| {
        let mut command = git(options);
        command.arg("-C").arg(dir).args(args);
        command
    };
    run(in_dir(&["init", "-q"]), "init", url)?;
    run(
        in_dir(&["remote", "add", "origin", "--", &url.remote]),
        "remote add",
        url,
    )?;
    // By the ref's name when there is one (every server serves those shallow), else by the
    // commit id, which a server may refuse; then everything.
    let by_name = url.reference.as_deref().filter(|r| !is_commit(r));
    let shallow = match by_name {
        Some(name) => in_dir(&["fetch", "-q", "--depth=1", "origin", "--", name]),
        None => in_dir(&["fetch", "-q", "--depth=1", "origin", "--", commit]),
    };
    let fetched = run(shallow, "fetch", url).is_ok()
        && run(
            in_dir(&["cat-file", "-e", &format!("{commit}^{{commit}}")]),
            "cat-file",
            url,
        )
        .is_ok();
    if !fetched {
        run(
            in_dir(&[
                "fetch",
                "-q",
                "--tags",
                "origin",
                "+refs/heads/*:refs/remotes/origin/*",
            ]),
            "fetch",
            url,
        )?;
    }
    run(
        in_dir(&["-c", "advice.detachedHead=false", "checkout", "-q", commit]),
        "checkout",
        url,
    )?;
    if dir.join(".gitmodules").exists() {
        run(
            in_dir(&[
                "submodule",
                "update",
                "-q",
                "--init",
                "--recursive",
                "--depth=1",
            ]),
            "submodule update",
            url,
        )?;
    }
    let mtime = if options.commit_mtime {
        let out = run(in_dir(&["log", "-1", "--format=%ct", commit]), "log", url)?;
        let secs: u64 = out.trim().parse().unwrap_or(0);
        Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs))
    } else {
        None
    };
    if !options.keep_git_dir {
        let git_dir = dir.join(".git");
        std::fs::remove_dir_all(&git_dir).map_err(io(&git_dir))?;
    }
    normalize(dir, mtime).map_err(|(path, source)| Error::Io {
        url: url.shown(),
        path,
        source,
    })?;
    let source = match &url.subdir {
        None => dir.to_owned(),
        Some(subdir) => {
            let path = dir.join(subdir);
            // The subdir is a path of the checkout: no component may leave it.
            let inside = Path::new(subdir)
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
            let real = std::fs::symlink_metadata(&path).map(|m| m.is_dir());
            if !inside || !matches!(real, Ok(true)) {
                return Err(Error::SubdirMissing {
                    url: url.shown(),
                    subdir: subdir.clone(),
                    commit: commit.to_owned(),
                });
            }
            path
        }
    };
    Ok(Checkout {
        dir: source,
        commit: commit.to_owned(),
    })
}

/// Gives the tree at `root` git's modes whatever the umask (directories 0755, files 0644, or
/// 0755 when git made them executable) and, when given, one mtime.
fn normalize(root: &Path, mtime: Option<SystemTime>) -> Result<(), (PathBuf, std::io::Error)> {
    use std::os::unix::fs::PermissionsExt;
    let mut dirs = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| (dir.clone(), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| (dir.clone(), e))?;
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).map_err(|e| (path.clone(), e))?;
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                let mode = if meta.permissions().mode() & 0o111 != 0 {
                    0o755
                } else {
                    0o644
                };
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                    .map_err(|e| (path.clone(), e))?;
                if let Some(t) = mtime {
                    filetime::set_symlink_file_times(&path, t.into(), t.into())
                        .map_err(|e| (path.clone(), e))?;
                }
            } else if let Some(t) = mtime {
                filetime::set_symlink_file_times(&path, t.into(), t.into())
                    .map_err(|e| (path.clone(), e))?;
            }
        }
        dirs.push(dir);
    }
    // Directories last, deepest first, so that setting a child's time leaves theirs alone.
    for dir in dirs.iter().rev() {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| (dir.clone(), e))?;
        if let Some(t) = mtime {
            filetime::set_file_times(dir, t.into(), t.into()).map_err(|e| (dir.clone(), e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_remote_ref_and_subdir() {
        let cases = [
            ("git://h/r.git", "git://h/r.git", None, None),
            (
                "https://h/r.git#main",
                "https://h/r.git",
                Some("main"),
                None,
            ),
            (
                "https://h/r.git#v1.0:docs/",
                "https://h/r.git",
                Some("v1.0"),
                Some("docs"),
            ),
            ("git@h:o/r.git#:sub", "git@h:o/r.git", None, Some("sub")),
            ("ssh://git@h/r#", "ssh://git@h/r", None, None),
        ];
        for (src, remote, reference, subdir) in cases {
            let url = GitUrl::parse(src).expect(src);
            assert_eq!(url.remote, remote, "{src}");
            assert_eq!(url.reference.as_deref(), reference, "{src}");
            assert_eq!(url.subdir.as_deref(), subdir, "{src}");
        }
        for bad in [
            "git://h/r#--upload-pack=x",
            "git://h/r#a..b",
            "git://h/r#a b",
        ] {
            assert!(
                matches!(GitUrl::parse(bad), Err(Error::BadRef { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn refs_resolve_as_git_names_them_and_tags_peel() {
        let listing = "\
1111111111111111111111111111111111111111\tHEAD
2222222222222222222222222222222222222222\trefs/heads/main
3333333333333333333333333333333333333333\trefs/tags/v1
4444444444444444444444444444444444444444\trefs/tags/v1^{}
5555555555555555555555555555555555555555\trefs/heads/v2
6666666666666666666666666666666666666666\trefs/tags/v2
";
        let cases = [
            ("HEAD", Some('1')),
            ("main", Some('2')),
            ("v1", Some('4')),
            ("refs/heads/v2", Some('5')),
            ("v2", Some('6')),
            ("nope", None),
        ];
        for (wanted, want) in cases {
            let got = pick(listing, wanted);
            assert_eq!(got, want.map(|c| c.to_string().repeat(40)), "{wanted}");
        }
        assert!(is_commit(&"a".repeat(40)) && !is_commit("main"));
    }
}
