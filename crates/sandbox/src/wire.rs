//! What the caller and the sandbox init say to each other.
//!
//! The request goes on the init's stdin as an 8-byte little-endian length and that many bytes of
//! JSON; whatever follows is the command's stdin, left unread in the pipe for it. Reports come
//! back as JSON lines on file descriptor 3 (the status pipe), each written with one `write(2)`
//! of less than `PIPE_BUF` bytes so that writers in different processes never interleave.

use std::io;
use std::os::fd::AsFd;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::idmap::IdMapping;
use crate::mounts::Step;
use crate::probe::ProbeReport;
use crate::spec::{ExitStatus, Isolation, NetworkMode};
use crate::user::ExecUser;

/// The largest request the init accepts.
const MAX_REQUEST: u64 = 16 << 20;

/// The file descriptor the init reports on.
pub(crate) const STATUS_FD: i32 = 3;

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Request {
    Run(Box<Plan>),
    Probe,
}

/// Everything the init needs, already resolved by the caller.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Plan {
    pub isolation: Isolation,
    pub steps: Vec<Step>,
    pub idmap: Option<IdMapping>,
    /// Whether the run gets a network namespace of its own.
    pub network: NetworkMode,
    pub command: Command,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Command {
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub cwd: PathBuf,
    pub user: ExecUser,
    /// Whether `setgroups(2)` may be called (not in a user namespace mapped from inside).
    pub set_groups: bool,
    /// Whether to cut the bounding set to Docker's default capabilities.
    pub limit_capabilities: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Report {
    Exited(ExitStatus),
    /// A setup step failed: the kernel's errno, or a message for errors that have none.
    Failed {
        step: String,
        path: Option<PathBuf>,
        errno: i32,
        message: Option<String>,
    },
    ExecFailed {
        program: String,
        errno: i32,
    },
    Probe(ProbeReport),
}

/// Frames `request` for the init's stdin.
pub(crate) fn encode_request(request: &Request) -> serde_json::Result<Vec<u8>> {
    let body = serde_json::to_vec(request)?;
    let mut out = (body.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&body);
    Ok(out)
}

/// Reads exactly one framed request from `fd` without reading past it (no buffering), so the
/// rest of the stream stays for the command.
pub(crate) fn read_request(fd: impl AsFd) -> io::Result<Request> {
    let mut len = [0u8; 8];
    read_exact(fd.as_fd(), &mut len)?;
    let len = u64::from_le_bytes(len);
    if len > MAX_REQUEST {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("request of {len} bytes is too large"),
        ));
    }
    let mut body = vec![0u8; len as usize];
    read_exact(fd.as_fd(), &mut body)?;
    serde_json::from_slice(&body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn read_exact(fd: std::os::fd::BorrowedFd<'_>, mut buf: &mut [u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match rustix::io::read(fd, &mut *buf) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => buf = &mut buf[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Writes one report line with a single `write(2)`.
pub(crate) fn send(fd: impl AsFd, report: &Report) {
    if let Ok(mut line) = serde_json::to_vec(report) {
        line.push(b'\n');
        // Nothing sensible is left to do when the caller stopped listening.
        let _ = rustix::io::write(fd, &line);
    }
}

/// Parses the report lines the init wrote.
pub(crate) fn parse_reports(bytes: &[u8]) -> serde_json::Result<Vec<Report>> {
    bytes
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(serde_json::from_slice)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_read_without_consuming_the_stdin_after_it() {
        let (reader, writer) = rustix::pipe::pipe().expect("pipe");
        let mut bytes = encode_request(&Request::Probe).expect("encode");
        bytes.extend_from_slice(b"heredoc body");
        rustix::io::write(&writer, &bytes).expect("write");
        drop(writer);
        assert!(matches!(
            read_request(&reader).expect("read"),
            Request::Probe
        ));
        let mut rest = [0u8; 64];
        let n = rustix::io::read(&reader, &mut rest).expect("read rest");
        assert_eq!(&rest[..n], b"heredoc body");
    }

    #[test]
    fn an_oversized_request_is_refused() {
        let (reader, writer) = rustix::pipe::pipe().expect("pipe");
        rustix::io::write(&writer, &u64::MAX.to_le_bytes()).expect("write");
        let err = read_request(&reader).expect_err("too large");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn report_lines_round_trip() {
        let (reader, writer) = rustix::pipe::pipe().expect("pipe");
        send(
            &writer,
            &Report::ExecFailed {
                program: "nope".into(),
                errno: libc::ENOENT,
            },
        );
        send(&writer, &Report::Exited(ExitStatus::Signaled(9)));
        drop(writer);
        let mut buf = [0u8; 512];
        let n = rustix::io::read(&reader, &mut buf).expect("read");
        let reports = parse_reports(&buf[..n]).expect("parse");
        assert!(matches!(
            reports[0],
            Report::ExecFailed {
                errno: libc::ENOENT,
                ..
            }
        ));
        assert!(matches!(
            reports[1],
            Report::Exited(ExitStatus::Signaled(9))
        ));
    }
}
