//! Reading what a test registry logged, to observe requests a client made (a cross-repo
//! mount, a retried upload) from the server's side.
//!
//! Owns: following a registry log file from a point in time and parsing its
//! `msg="response completed"` lines, which the distribution server writes in logfmt with
//! `http.request.method`, `http.request.uri` and `http.response.status` fields (the log level
//! `scripts/testenv` configures). Does not own: the registry's configuration.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Why the log could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the registry log {path}")]
pub struct LogError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// A request the registry answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    pub method: String,
    /// Path and query, as the registry saw them.
    pub uri: String,
    pub status: u16,
}

/// A cross-repo mount request: `POST /v2/<repository>/blobs/uploads/?mount=<digest>&from=<from>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub repository: String,
    pub digest: String,
    pub from: String,
    /// 201 when the registry mounted the blob, 202 when it fell back to an upload.
    pub status: u16,
}

/// A registry log, read from the point where it was opened.
#[derive(Debug, Clone)]
pub struct RegistryLog {
    path: PathBuf,
    start: u64,
}

impl RegistryLog {
    /// Starts following the log at its current end: later calls see only newer lines.
    pub fn from_now(path: &Path) -> Result<Self, LogError> {
        let start = std::fs::metadata(path)
            .map_err(|source| LogError {
                path: path.to_owned(),
                source,
            })?
            .len();
        Ok(Self {
            path: path.to_owned(),
            start,
        })
    }

    /// Requests answered since the log was opened, in order.
    pub fn requests(&self) -> Result<Vec<LoggedRequest>, LogError> {
        let io = |source| LogError {
            path: self.path.clone(),
            source,
        };
        let mut file = std::fs::File::open(&self.path).map_err(io)?;
        file.seek(SeekFrom::Start(self.start)).map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let text = String::from_utf8_lossy(&bytes);
        // A line still being written has no newline yet.
        let complete = text.rsplit_once('\n').map_or("", |(done, _)| done);
        Ok(complete.lines().filter_map(parse_line).collect())
    }

    /// Cross-repo mount requests since the log was opened.
    pub fn mounts(&self) -> Result<Vec<Mount>, LogError> {
        Ok(self
            .requests()?
            .into_iter()
            .filter(|r| r.method == "POST")
            .filter_map(|r| mount(&r))
            .collect())
    }
}

fn mount(request: &LoggedRequest) -> Option<Mount> {
    let (path, query) = request.uri.split_once('?')?;
    let repository = path.strip_prefix("/v2/")?.strip_suffix("/blobs/uploads/")?;
    let mut digest = None;
    let mut from = None;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("mount", v)) => digest = Some(v.replace("%3A", ":")),
            Some(("from", v)) => from = Some(v.replace("%2F", "/")),
            _ => {}
        }
    }
    Some(Mount {
        repository: repository.to_owned(),
        digest: digest?,
        from: from?,
        status: request.status,
    })
}

/// Parses a `msg="response completed"` line; `None` for every other line.
fn parse_line(line: &str) -> Option<LoggedRequest> {
    let fields = logfmt(line);
    let get = |key: &str| {
        fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    if get("msg") != Some("response completed") {
        return None;
    }
    Some(LoggedRequest {
        method: get("http.request.method")?.to_owned(),
        uri: get("http.request.uri")?.to_owned(),
        status: get("http.response.status")?.parse().ok()?,
    })
}

/// `key=value key="quoted \"value\""` → pairs.
fn logfmt(line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ' ') {
                value.push(c);
            }
        }
        out.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPLETED: &str = r#"time="2026-11-26T19:12:02Z" level=info msg="response completed" http.request.method=POST http.request.uri="/v2/team/app/blobs/uploads/?mount=sha256:abc&from=library%2Fbusybox" http.response.status=201 http.response.written=0"#;

    #[test]
    fn logfmt_reads_plain_and_quoted_values() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("a=1 b=two", &[("a", "1"), ("b", "two")]),
            (r#"msg="x y" z="q\"r""#, &[("msg", "x y"), ("z", r#"q"r"#)]),
            ("", &[]),
            ("  a=", &[("a", "")]),
        ];
        for (line, want) in cases {
            let got = logfmt(line);
            let got: Vec<(&str, &str)> =
                got.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            assert_eq!(&got, want, "{line}");
        }
    }

    #[test]
    fn only_completed_responses_are_requests() {
        let cases = [
            (
                COMPLETED,
                Some(LoggedRequest {
                    method: "POST".into(),
                    uri: "/v2/team/app/blobs/uploads/?mount=sha256:abc&from=library%2Fbusybox"
                        .into(),
                    status: 201,
                }),
            ),
            (
                r#"level=info msg="authorized request" http.request.method=GET"#,
                None,
            ),
            (
                r#"127.0.0.1 - - [26/Nov/2026] "GET /v2/ HTTP/1.1" 200 2 "" """#,
                None,
            ),
        ];
        for (line, want) in cases {
            assert_eq!(parse_line(line), want, "{line}");
        }
    }

    #[test]
    fn mounts_are_read_from_upload_posts() {
        let request = parse_line(COMPLETED).expect("a request");
        assert_eq!(
            mount(&request),
            Some(Mount {
                repository: "team/app".into(),
                digest: "sha256:abc".into(),
                from: "library/busybox".into(),
                status: 201,
            })
        );
        let plain_upload = LoggedRequest {
            method: "POST".into(),
            uri: "/v2/team/app/blobs/uploads/".into(),
            status: 202,
        };
        assert_eq!(mount(&plain_upload), None);
    }

    #[test]
    fn following_starts_at_the_end_and_skips_partial_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log");
        std::fs::write(&path, format!("{COMPLETED}\n")).expect("write");
        let log = RegistryLog::from_now(&path).expect("open");
        assert!(log.requests().expect("read").is_empty());
        let mut text = std::fs::read_to_string(&path).expect("read");
        text.push_str(&format!("{COMPLETED}\n{}", &COMPLETED[..40]));
        std::fs::write(&path, text).expect("write");
        assert_eq!(log.mounts().expect("read").len(), 1);
    }
}
