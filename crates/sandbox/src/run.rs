//! [`Sandbox`]: the caller's side of a run.
//!
//! Owns: spawning the sandbox init (a re-exec of a binary that calls
//! [`crate::init::main_if_requested`]) with the status pipe on fd 3, feeding it the plan and the
//! command's stdin, streaming stdout and stderr line by line to the caller, collecting the
//! report, and removing the mount stubs. Safe to call from any thread, including an async
//! runtime's blocking pool: nothing here forks (see the crate doc).
//!
//! Does not own: what happens inside the init (`init`), or preparing the plan (`plan`).

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;
use std::sync::mpsc;

use crate::error::{Error, Result};
use crate::idmap;
use crate::init::INIT_ARG;
use crate::output::LineSplitter;
use crate::plan;
use crate::probe::{self, Probe};
use crate::spec::{ExitStatus, Isolation, RunOutcome, RunSpec, Stream};
use crate::wire::{self, Report, Request};

/// Runs RUN processes through a sandbox init program.
#[derive(Debug)]
pub struct Sandbox {
    program: PathBuf,
    /// The init's `argv[0]` when it differs from `program`.
    arg0: Option<String>,
    probed: OnceLock<Probe>,
}

impl Sandbox {
    /// A sandbox whose init is the running binary, which must call
    /// [`crate::init::main_if_requested`] first thing in `main`. It is started through
    /// `/proc/self/exe`, so a binary replaced or deleted on disk since it started (an upgrade,
    /// a rebuild) still re-executes itself, under its own name in `ps`.
    pub fn current_exe() -> Self {
        let name = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "kiln".to_owned());
        let mut sandbox = Self::with_program("/proc/self/exe");
        sandbox.arg0 = Some(name);
        sandbox
    }

    /// A sandbox whose init is `program` (a binary calling
    /// [`crate::init::main_if_requested`]), for tests and tools.
    pub fn with_program(program: impl Into<PathBuf>) -> Self {
        Sandbox {
            program: program.into(),
            arg0: None,
            probed: OnceLock::new(),
        }
    }

    /// Probes once what this process may do and returns the safest mode with the reason; fails
    /// when no namespace isolation is allowed outside a container (see [`probe::choose`]).
    pub fn probe(&self) -> Result<Probe> {
        if let Some(probe) = self.probed.get() {
            return Ok(probe.clone());
        }
        let reports = self.execute(&Request::Probe, None, &mut |_, _| {})?.0;
        let report = reports
            .into_iter()
            .find_map(|r| match r {
                Report::Probe(report) => Some(report),
                _ => None,
            })
            .ok_or_else(|| Error::Channel(std::io::Error::other("the probe sent no result")))?;
        let chosen = probe::choose(&report, probe::container_evidence().as_deref())?;
        Ok(self.probed.get_or_init(|| chosen).clone())
    }

    /// The mode a run with `requested` uses, and why.
    pub fn choose(&self, requested: Isolation) -> Result<Probe> {
        match requested {
            Isolation::Auto => self.probe(),
            other => Ok(Probe {
                isolation: other,
                reason: "requested".into(),
            }),
        }
    }

    /// Runs `spec` and waits for it. Each line of output (without its newline; an over-long
    /// line in pieces) goes to `on_output` as it arrives. A command that ran and failed is an
    /// `Ok` with its [`ExitStatus`]; an `Err` means it could not run at all.
    ///
    /// Runs may go on in parallel from any threads, each in its own rootfs: a rootfs gets mount
    /// points for the duration of a run, so two runs in the same one must not overlap.
    pub fn run(
        &self,
        spec: &RunSpec,
        on_output: &mut dyn FnMut(Stream, &[u8]),
    ) -> Result<RunOutcome> {
        let isolation = self.choose(spec.isolation)?.isolation;
        let idmap = (isolation == Isolation::Rootless).then(idmap::detect);
        let prepared = plan::prepare(spec, isolation, idmap)?;
        let request = Request::Run(Box::new(prepared.plan));
        let result = self.execute(&request, spec.stdin.as_deref(), on_output);
        let removal = prepared.stubs.map(|stubs| stubs.remove()).transpose();
        let (reports, init_status) = result?;
        let removal = removal?.unwrap_or_default();
        let status = interpret(&self.program, reports, init_status)?;
        Ok(RunOutcome {
            status,
            isolation,
            removed_mount_points: removal.removed,
            kept_mount_points: removal.kept,
        })
    }

    /// Starts the init, feeds it, streams its output and returns its reports and exit status.
    fn execute(
        &self,
        request: &Request,
        stdin: Option<&[u8]>,
        on_output: &mut dyn FnMut(Stream, &[u8]),
    ) -> Result<(Vec<Report>, std::process::ExitStatus)> {
        let mut input = wire::encode_request(request).map_err(|e| Error::Channel(e.into()))?;
        input.extend_from_slice(stdin.unwrap_or_default());
        let (status_r, status_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| Error::Channel(e.into()))?;
        let mut child = self.spawn(&status_w)?;
        drop(status_w);

        let mut child_stdin = child.stdin.take();
        let writer = std::thread::spawn(move || {
            // A broken pipe means the init stopped reading: its report says why.
            if let Some(pipe) = child_stdin.as_mut() {
                let _ = pipe.write_all(&input);
            }
        });
        let status_reader = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = std::fs::File::from(status_r).read_to_end(&mut bytes);
            bytes
        });
        let (tx, rx) = mpsc::sync_channel::<(Stream, Vec<u8>)>(64);
        let mut readers = Vec::new();
        for (stream, pipe) in [
            (Stream::Stdout, child.stdout.take().map(OwnedFd::from)),
            (Stream::Stderr, child.stderr.take().map(OwnedFd::from)),
        ] {
            let (Some(pipe), tx) = (pipe, tx.clone()) else {
                continue;
            };
            readers.push(std::thread::spawn(move || forward_lines(stream, pipe, &tx)));
        }
        drop(tx);
        for (stream, line) in rx {
            on_output(stream, &line);
        }
        for reader in readers {
            let _ = reader.join();
        }
        let _ = writer.join();
        let report_bytes = status_reader.join().unwrap_or_default();
        let init_status = child.wait().map_err(Error::Channel)?;
        let reports = wire::parse_reports(&report_bytes).map_err(Error::BadReport)?;
        Ok((reports, init_status))
    }

    fn spawn(&self, status_w: &OwnedFd) -> Result<std::process::Child> {
        let mut command = std::process::Command::new(&self.program);
        if let Some(arg0) = &self.arg0 {
            command.arg0(arg0);
        }
        command
            .arg(INIT_ARG)
            .env_clear()
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let raw = status_w.as_raw_fd();
        // SAFETY: the closure runs in the forked child before `execve` and only makes
        // async-signal-safe calls (`dup2`, `fcntl`) on descriptor numbers.
        unsafe {
            command.pre_exec(move || {
                if raw == wire::STATUS_FD {
                    // Already in place: only the close-on-exec flag has to go.
                    if libc::fcntl(raw, libc::F_SETFD, 0) == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                } else if libc::dup2(raw, wire::STATUS_FD) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        command.spawn().map_err(|source| Error::Spawn {
            program: self.program.clone(),
            source,
        })
    }
}

fn forward_lines(stream: Stream, pipe: OwnedFd, tx: &mpsc::SyncSender<(Stream, Vec<u8>)>) {
    let mut file = std::fs::File::from(pipe);
    let mut splitter = LineSplitter::default();
    let mut buf = vec![0u8; 16 * 1024];
    let mut send = |line: Vec<u8>| {
        let _ = tx.send((stream, line));
    };
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => splitter.push(&buf[..n], &mut send),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    splitter.finish(&mut send);
}

/// Turns the init's reports into the command's status or the reason it did not run.
fn interpret(
    program: &std::path::Path,
    reports: Vec<Report>,
    init_status: std::process::ExitStatus,
) -> Result<ExitStatus> {
    let mut exited = None;
    for report in reports {
        match report {
            Report::Failed {
                step,
                path,
                errno,
                message,
            } => {
                let source = match message {
                    Some(message) => std::io::Error::other(message),
                    None => std::io::Error::from_raw_os_error(errno),
                };
                return Err(Error::Setup { step, path, source });
            }
            Report::ExecFailed { program, errno } => {
                return Err(Error::Exec {
                    program,
                    not_found: errno == libc::ENOENT,
                    source: std::io::Error::from_raw_os_error(errno),
                });
            }
            Report::Exited(status) => exited = Some(status),
            Report::Probe(_) => {}
        }
    }
    exited.ok_or_else(|| Error::NoReport {
        program: program.to_path_buf(),
        status: init_status,
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::path::Path;

    use super::*;

    fn interpret_reports(reports: Vec<Report>) -> Result<ExitStatus> {
        interpret(
            Path::new("/bin/kiln"),
            reports,
            std::process::ExitStatus::from_raw(0),
        )
    }

    #[test]
    fn reports_become_a_status_or_the_reason_the_command_did_not_run() {
        let exited = interpret_reports(vec![Report::Exited(ExitStatus::Exited(3))]);
        assert_eq!(exited.ok(), Some(ExitStatus::Exited(3)));

        let failed = Report::Failed {
            step: "mount proc on".into(),
            path: Some("/r/proc".into()),
            errno: libc::EPERM,
            message: None,
        };
        // A setup failure wins over the exit status reported after it.
        let err = interpret_reports(vec![failed, Report::Exited(ExitStatus::Exited(125))])
            .expect_err("failed");
        assert_eq!(
            err.to_string(),
            "sandbox setup failed: mount proc on /r/proc"
        );
        let Error::Setup { source, .. } = err else {
            panic!("not a setup error")
        };
        assert_eq!(source.raw_os_error(), Some(libc::EPERM));

        let helper = Report::Failed {
            step: "run".into(),
            path: Some("/usr/bin/newuidmap".into()),
            errno: libc::EIO,
            message: Some("newuidmap: write to uid_map failed".into()),
        };
        let Err(Error::Setup { source, .. }) = interpret_reports(vec![helper]) else {
            panic!("not a setup error")
        };
        assert_eq!(source.to_string(), "newuidmap: write to uid_map failed");

        let denied = Report::ExecFailed {
            program: "/script".into(),
            errno: libc::EACCES,
        };
        let err = interpret_reports(vec![denied, Report::Exited(ExitStatus::Exited(126))])
            .expect_err("exec");
        assert_eq!(err.to_string(), "exec: \"/script\": cannot execute");

        let err = interpret_reports(Vec::new()).expect_err("no report");
        assert!(
            err.to_string()
                .starts_with("the sandbox init /bin/kiln ended without reporting"),
            "{err}"
        );
    }
}
