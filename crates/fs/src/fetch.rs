//! ADD's remote sources: downloading an `http://` or `https://` URL into a file that COPY
//! semantics then place ([`crate::copy`]).
//!
//! Follows the Dockerfile reference (<https://docs.docker.com/reference/dockerfile/#adding-files-from-a-url>)
//! as BuildKit's HTTP source (`source/http`) implements it: the file is named after the last
//! segment of the URL path (`__unnamed__` when there is none), written with mode 0600 and an
//! mtime from the `Last-Modified` header (the Unix epoch without one); a downloaded archive is
//! never extracted; `--checksum` is the sha256 of the body and a mismatch fails the step.
//! The body streams to disk while it is hashed, never held in memory. Proxies come from
//! `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY`, as reqwest reads them. Credentials in a URL are
//! sent but never printed: every error names the URL without its userinfo, query or fragment.
//!
//! Git sources are [`git`]'s. Does not own: where the file lands (`crate::copy`).

pub mod git;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use kiln_oci::{Digest, Sha256};

/// The file name BuildKit gives a URL whose path has no last segment.
const UNNAMED: &str = "__unnamed__";

/// A downloaded file.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The file on disk, `dir/<name>`.
    pub path: PathBuf,
    /// Its name: the last segment of the URL path.
    pub name: String,
    /// The sha256 of the body.
    pub digest: Digest,
    /// The mtime given to the file: `Last-Modified`, else the epoch.
    pub mtime: SystemTime,
}

/// A download error, naming the redacted URL.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot set up the HTTP client for ADD")]
    Client(#[source] reqwest::Error),
    #[error("invalid URL {url}")]
    BadUrl {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("GET {url} failed")]
    Request {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("GET {url}: HTTP status {status}")]
    Status {
        url: String,
        status: reqwest::StatusCode,
    },
    #[error("cannot write the download of {url} to {path}")]
    Write {
        url: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("checksum mismatch for {url}: expected {expected}, got {actual}")]
    Checksum {
        url: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("checksum {checksum} of {url}: only sha256 checksums are supported yet")]
    ChecksumAlgorithm { url: String, checksum: Digest },
    #[error(transparent)]
    Git(#[from] git::Error),
}

/// Whether `src` is a URL ADD downloads (`http://` or `https://`, not a Git repository).
pub fn is_http(src: &str) -> bool {
    (src.starts_with("http://") || src.starts_with("https://")) && !is_git(src)
}

/// Whether `src` names a Git repository as BuildKit recognises one: `git@host:path`,
/// `git://`, `ssh://`, or an http(s) URL whose path ends in `.git` (before any `#ref`).
pub fn is_git(src: &str) -> bool {
    if src.starts_with("git@") || src.starts_with("git://") || src.starts_with("ssh://") {
        return true;
    }
    if !(src.starts_with("http://") || src.starts_with("https://")) {
        return false;
    }
    let path = src.split(['#', '?']).next().unwrap_or(src);
    path.trim_end_matches('/').ends_with(".git")
}

/// `url` without userinfo, query or fragment, for messages.
pub fn redact(url: &str) -> String {
    crate::context::redact_url(url)
}

/// `text` (an instruction as written, a log line) with the userinfo of every URL in it
/// removed: `https://user:pw@host/x` becomes `https://host/x`.
pub fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let authority_end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..authority_end];
        match authority.rfind('@') {
            Some(at) => out.push_str(&authority[at + 1..]),
            None => out.push_str(authority),
        }
        rest = &tail[authority_end..];
    }
    out.push_str(rest);
    out
}

/// The name of the file `url` downloads to: the last segment of the percent-decoded path,
/// as Go's `path.Base(url.Path)` gives BuildKit.
pub fn file_name(url: &str) -> String {
    let path = reqwest::Url::parse(url)
        .map(|u| percent_decode(u.path()))
        .unwrap_or_default();
    match path.rsplit('/').next() {
        Some(last) if !last.is_empty() && last != "." && last != ".." => last.to_owned(),
        _ => UNNAMED.to_owned(),
    }
}

/// `%XX` escapes decoded; invalid ones and non-UTF-8 results are kept as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_owned())
}

/// A client for downloads: proxies from the environment, rustls.
pub fn client() -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .build()
        .map_err(Error::Client)
}

/// Downloads `url` into `dir/<name>` (mode 0600, mtime from `Last-Modified`), verifying
/// `checksum` when given.
pub async fn fetch(
    client: &reqwest::Client,
    url: &str,
    dir: &Path,
    checksum: Option<&Digest>,
) -> Result<Fetched, Error> {
    let shown = redact(url);
    if let Some(want) = checksum.filter(|c| c.algorithm() != "sha256") {
        return Err(Error::ChecksumAlgorithm {
            url: shown,
            checksum: want.clone(),
        });
    }
    let request = client.get(url).build().map_err(|source| Error::BadUrl {
        url: shown.clone(),
        source: source.without_url(),
    })?;
    let request_error = |source: reqwest::Error| Error::Request {
        url: shown.clone(),
        source: source.without_url(),
    };
    let mut response = client.execute(request).await.map_err(request_error)?;
    // BuildKit fails on statuses below 200 and from 400 (redirects are followed).
    let status = response.status().as_u16();
    if !(200..400).contains(&status) {
        return Err(Error::Status {
            url: shown,
            status: response.status(),
        });
    }
    let mtime = response
        .headers()
        .get(reqwest::header::LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let name = file_name(url);
    let path = dir.join(&name);
    let write_error = |source| Error::Write {
        url: shown.clone(),
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(write_error)?;
    let mut file = std::fs::File::create(&path).map_err(write_error)?;
    let mut hash = Sha256::new();
    while let Some(chunk) = response.chunk().await.map_err(request_error)? {
        hash.update(&chunk);
        file.write_all(&chunk).map_err(write_error)?;
    }
    file.flush().map_err(write_error)?;
    drop(file);
    let digest: Digest = hash.finish_as();
    if let Some(want) = checksum.filter(|want| **want != digest) {
        return Err(Error::Checksum {
            url: shown,
            expected: want.clone(),
            actual: digest,
        });
    }
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(write_error)?;
    }
    filetime::set_file_mtime(&path, filetime::FileTime::from_system_time(mtime))
        .map_err(write_error)?;
    Ok(Fetched {
        path,
        name,
        digest,
        mtime,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_told_from_git_repositories() {
        let cases = [
            ("https://example.com/a.tar.gz", true, false),
            ("http://example.com/", true, false),
            ("https://github.com/o/r.git", false, true),
            ("https://github.com/o/r.git#main", false, true),
            ("git@github.com:o/r.git", false, true),
            ("ssh://git@example.com/r", false, true),
            ("dir/file", false, false),
        ];
        for (src, http, git) in cases {
            assert_eq!((is_http(src), is_git(src)), (http, git), "{src}");
        }
    }

    #[test]
    fn userinfo_is_removed_from_every_url_in_a_line() {
        let cases = [
            (
                "ADD https://u:p@h.example/a http://x@h2/b /d/",
                "ADD https://h.example/a http://h2/b /d/",
            ),
            ("ADD a@b /c", "ADD a@b /c"),
            ("ADD https://h/p@q /c", "ADD https://h/p@q /c"),
        ];
        for (line, want) in cases {
            assert_eq!(redact_userinfo(line), want, "{line}");
        }
    }

    #[test]
    fn the_file_is_named_after_the_last_path_segment() {
        let cases = [
            ("https://example.com/dir/a.tar.gz?x=1", "a.tar.gz"),
            ("https://example.com/", UNNAMED),
            ("https://example.com", UNNAMED),
            ("https://u:p@example.com/f", "f"),
            ("https://example.com/a%20b.txt", "a b.txt"),
            ("https://example.com/a%2Fb", "b"),
            ("https://example.com/x/%2e%2e", UNNAMED),
        ];
        for (url, want) in cases {
            assert_eq!(file_name(url), want, "{url}");
        }
    }
}
