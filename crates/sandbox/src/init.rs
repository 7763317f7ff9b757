//! The sandbox init: the hidden entry point of a re-executed binary.
//!
//! Owns: everything between `execve` of the init and `execve` of the command: taking over the
//! status pipe, reading the plan, entering the user namespace (rootless), creating the mount,
//! PID, UTS and IPC namespaces (and a network namespace for `--network=none`), applying the mount plan as PID 1 of the new PID namespace,
//! forking the command into its own session, dropping it to its user, and reaping: when the
//! command exits, every process left in the namespace (or, without one, every descendant) is
//! killed and reaped, and the command's status is reported.
//!
//! Process tree in chroot and rootless modes:
//!
//! ```text
//! caller ── init (outside, waits) ── reaper (PID 1 inside: mounts, reaps) ── command (PID 2)
//! ```
//!
//! In `none` mode the init is a child subreaper and the command its child.
//!
//! Does not own: preparing the plan (`run`, in the caller) or the probes' logic (`probe`).

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

use rustix::process::Pid;

use crate::mounts::{self, StepError};
use crate::spec::{ExitStatus, Isolation, NetworkMode};
use crate::syscall::{LinuxSyscall, Namespaces, Syscall};
use crate::wire::{self, Command, Plan, Report, Request};
use crate::{credentials, process, userns};

/// The first argument that turns a binary into the sandbox init.
pub const INIT_ARG: &str = "__kiln-sandbox-init";

/// The exit code of an init that failed before the command ran (as `docker run`'s 125).
const SETUP_FAILED: i32 = 125;

/// Runs the sandbox init and exits if this process was started as one; returns at once
/// otherwise. A binary using [`crate::Sandbox`] calls this first thing in `main`, before any
/// thread (an async runtime, a logger) is started.
pub fn main_if_requested() {
    if std::env::args_os().nth(1).as_deref() != Some(OsStr::new(INIT_ARG)) {
        return;
    }
    std::process::exit(init_main());
}

fn init_main() -> i32 {
    // SAFETY: `fcntl(F_GETFD)` on a number only inspects the descriptor table.
    if unsafe { libc::fcntl(wire::STATUS_FD, libc::F_GETFD) } == -1 {
        eprintln!(
            "kiln sandbox init: no status pipe on fd {}; this entry point is internal",
            wire::STATUS_FD
        );
        return SETUP_FAILED;
    }
    // SAFETY: fd 3 is open (checked above) and was put there for this process alone by the
    // caller's spawn; nothing else in this fresh process owns it.
    let status = unsafe { OwnedFd::from_raw_fd(wire::STATUS_FD) };
    // The command must not inherit it; the forked children still write to it until they exec.
    let _ = rustix::io::fcntl_setfd(&status, rustix::io::FdFlags::CLOEXEC);
    process::close_fds_from(wire::STATUS_FD as u32 + 1);
    let status = status.as_fd();
    if let Err(e) = process::ensure_single_threaded() {
        return fail(status, "check the sandbox init", None, e);
    }
    if let Err(e) = process::die_with_parent() {
        return fail(status, "set the parent death signal", None, e);
    }
    let request = match wire::read_request(std::io::stdin().as_fd()) {
        Ok(request) => request,
        Err(e) => return fail(status, "read the sandbox request", None, e),
    };
    match request {
        Request::Probe => {
            wire::send(status, &Report::Probe(crate::probe::run_probes()));
            0
        }
        Request::Run(plan) => run(&plan, status),
    }
}

fn fail(status: BorrowedFd<'_>, step: &str, path: Option<&Path>, err: std::io::Error) -> i32 {
    let (errno, message) = match err.raw_os_error() {
        Some(errno) => (errno, None),
        None => (libc::EIO, Some(err.to_string())),
    };
    let path = path.map(Path::to_path_buf);
    wire::send(
        status,
        &Report::Failed {
            step: step.to_owned(),
            path,
            errno,
            message,
        },
    );
    SETUP_FAILED
}

pub(crate) fn fail_step(status: BorrowedFd<'_>, err: StepError) -> i32 {
    fail(status, err.action, Some(&err.path), err.source)
}

fn run(plan: &Plan, status: BorrowedFd<'_>) -> i32 {
    let sys = LinuxSyscall;
    match plan.isolation {
        Isolation::None => {
            let me = rustix::process::getpid();
            if let Err(e) = rustix::process::set_child_subreaper(Some(me)) {
                return fail(status, "become a child subreaper", None, e.into());
            }
            let pid = match start_command(&sys, &plan.command, status) {
                Ok(pid) => pid,
                Err(e) => return fail(status, "fork the command", None, e),
            };
            report_exit(status, supervise(pid, Scope::Descendants))
        }
        Isolation::Chroot | Isolation::Rootless => {
            if let Some(idmap) = &plan.idmap {
                if let Err(e) = userns::enter_user_namespace(&sys, idmap, status) {
                    return fail_step(status, e);
                }
            }
            let mut namespaces =
                Namespaces::NEWNS | Namespaces::NEWPID | Namespaces::NEWUTS | Namespaces::NEWIPC;
            if plan.network == NetworkMode::None {
                namespaces |= Namespaces::NEWNET;
            }
            if let Err(e) = sys.unshare(namespaces) {
                return fail(
                    status,
                    "unshare mount, PID, UTS, IPC (and network) namespaces",
                    None,
                    e,
                );
            }
            let reaper = match process::fork() {
                Ok(Some(pid)) => pid,
                Ok(None) => process::exit_now(reaper_main(&sys, plan, status)),
                Err(e) => return fail(status, "fork the namespace's init", None, e),
            };
            match process::wait_for(reaper) {
                Ok(ExitStatus::Exited(code)) => code,
                Ok(ExitStatus::Signaled(signal)) => {
                    let err = std::io::Error::other(format!("killed by signal {signal}"));
                    fail(status, "the namespace's init", None, err)
                }
                Err(e) => fail(status, "wait for the namespace's init", None, e),
            }
        }
        Isolation::Auto => {
            let err = std::io::Error::from_raw_os_error(libc::EINVAL);
            fail(
                status,
                "run with isolation auto (the caller resolves it)",
                None,
                err,
            )
        }
    }
}

/// PID 1 of the new PID namespace: mounts, pivots, starts the command and reaps.
fn reaper_main(sys: &dyn Syscall, plan: &Plan, status: BorrowedFd<'_>) -> i32 {
    if let Err(e) = process::die_with_parent() {
        return fail(status, "set the parent death signal", None, e);
    }
    if let Err(e) = mounts::apply(sys, &plan.steps) {
        return fail_step(status, e);
    }
    match start_command(sys, &plan.command, status) {
        Ok(pid) => report_exit(status, supervise(pid, Scope::Namespace)),
        Err(e) => fail(status, "fork the command", None, e),
    }
}

fn report_exit(status: BorrowedFd<'_>, exit: ExitStatus) -> i32 {
    wire::send(status, &Report::Exited(exit));
    exit.code()
}

/// Forks the command: a new session (so it and its children form one process group), the
/// user's credentials, the working directory, then `execve`. Failures are reported by the
/// child itself before it exits.
fn start_command(
    sys: &dyn Syscall,
    command: &Command,
    status: BorrowedFd<'_>,
) -> std::io::Result<Pid> {
    if let Some(pid) = process::fork()? {
        return Ok(pid);
    }
    process::reset_signals();
    let _ = rustix::process::setsid();
    // Docker's umask, whatever the caller's is: files a RUN creates get the same modes.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    if command.limit_capabilities {
        if let Err(e) = credentials::limit_capabilities(sys, credentials::last_capability()) {
            process::exit_now(fail_step(status, e));
        }
    }
    if let Err(e) = credentials::become_user(sys, &command.user, command.set_groups) {
        process::exit_now(fail_step(status, e));
    }
    // Set after the user switch, which clears it; in `none` mode this is all that ties the
    // command to a killed caller.
    let _ = process::die_with_parent();
    if let Err(e) = sys.chdir(&command.cwd) {
        process::exit_now(fail(
            status,
            "change to the working directory",
            Some(&command.cwd),
            e,
        ));
    }
    let program = command.argv.first().map(String::as_str).unwrap_or_default();
    // The first PATH, as getenv(3) in the command would find it.
    let path = command
        .env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(process::DEFAULT_PATH);
    let errno = match process::find_executable(program, path) {
        Some(found) => process::exec(&found, &command.argv, &command.env)
            .raw_os_error()
            .unwrap_or(libc::EIO),
        None => libc::ENOENT,
    };
    wire::send(
        status,
        &Report::ExecFailed {
            program: program.to_owned(),
            errno,
        },
    );
    process::exit_now(if errno == libc::ENOENT { 127 } else { 126 })
}

enum Scope {
    /// The reaper is PID 1: everything else in the namespace goes.
    Namespace,
    /// No PID namespace: the command's process group, then every process reparented to this
    /// subreaper.
    Descendants,
}

/// Waits for the command, then kills and reaps whatever it left behind.
fn supervise(command: Pid, scope: Scope) -> ExitStatus {
    let exit = process::wait_for(command).unwrap_or(ExitStatus::Exited(SETUP_FAILED));
    match scope {
        Scope::Namespace => {
            process::kill_namespace();
            while let Ok(Some(_)) = process::wait_any() {}
        }
        Scope::Descendants => {
            process::kill_group(command);
            loop {
                for child in process::children() {
                    let _ = rustix::process::kill_process(child, rustix::process::Signal::KILL);
                    process::kill_group(child);
                }
                match process::wait_any() {
                    Ok(Some(_)) => continue,
                    _ => break,
                }
            }
        }
    }
    exit
}
