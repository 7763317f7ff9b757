//! The sandbox init: the hidden entry point of a re-executed binary.
//!
//! Owns: everything between `execve` of the init and `execve` of the command: taking over the
//! status pipe, reading the plan, entering the user namespace (rootless), creating the mount,
//! PID, UTS and IPC namespaces, applying the mount plan as PID 1 of the new PID namespace,
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

use crate::idmap::{self, IdMapping, MapWriter};
use crate::mounts::{self, StepError};
use crate::process;
use crate::spec::{ExitStatus, Isolation};
use crate::syscall::{LinuxSyscall, Namespaces, Syscall};
use crate::user::ExecUser;
use crate::wire::{self, Command, Plan, Report, Request};

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

fn fail_step(status: BorrowedFd<'_>, err: StepError) -> i32 {
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
                if let Err(e) = enter_user_namespace(&sys, idmap, status) {
                    return fail_step(status, e);
                }
            }
            let namespaces =
                Namespaces::NEWNS | Namespaces::NEWPID | Namespaces::NEWUTS | Namespaces::NEWIPC;
            if let Err(e) = sys.unshare(namespaces) {
                return fail(
                    status,
                    "unshare mount, PID, UTS and IPC namespaces",
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
    if let Err(e) = become_user(sys, &command.user, command.set_groups) {
        process::exit_now(fail_step(status, e));
    }
    if let Err(e) = sys.chdir(&command.cwd) {
        process::exit_now(fail(
            status,
            "change to the working directory",
            Some(&command.cwd),
            e,
        ));
    }
    let program = command.argv.first().map(String::as_str).unwrap_or_default();
    let path = command
        .env
        .iter()
        .rev()
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

/// Supplementary groups, then the gid, then the uid: after `setresuid` to a non-root uid the
/// other two would no longer be allowed.
pub(crate) fn become_user(
    sys: &dyn Syscall,
    user: &ExecUser,
    set_groups: bool,
) -> Result<(), StepError> {
    let at = |action: &'static str| {
        move |source| StepError {
            action,
            path: Path::new("/etc/passwd").to_path_buf(),
            source,
        }
    };
    if set_groups {
        sys.setgroups(&user.additional_gids)
            .map_err(at("set supplementary groups from"))?;
    } else if !user.additional_gids.is_empty() {
        return Err(at("set supplementary groups from")(
            std::io::Error::from_raw_os_error(libc::EPERM),
        ));
    }
    sys.setresgid(user.gid).map_err(at("set the gid from"))?;
    sys.setresuid(user.uid).map_err(at("set the uid from"))
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

/// Unshares a user namespace and has its maps written. With a writer outside the namespace,
/// a helper is forked first (it must stay in the parent namespace) and released through a
/// pipe once the namespace exists.
pub(crate) fn enter_user_namespace(
    sys: &dyn Syscall,
    idmap: &IdMapping,
    status: BorrowedFd<'_>,
) -> Result<(), StepError> {
    let err = |action: &'static str, path: &str| {
        let path = Path::new(path).to_path_buf();
        move |source| StepError {
            action,
            path,
            source,
        }
    };
    if idmap.writer == MapWriter::Inside {
        sys.unshare(Namespaces::NEWUSER)
            .map_err(err("unshare", "user namespace"))?;
        sys.write_file(Path::new("/proc/self/setgroups"), b"deny")
            .map_err(err("write", "/proc/self/setgroups"))?;
        let uid_map = idmap::map_file(&idmap.uids);
        sys.write_file(Path::new("/proc/self/uid_map"), uid_map.as_bytes())
            .map_err(err("write", "/proc/self/uid_map"))?;
        let gid_map = idmap::map_file(&idmap.gids);
        return sys
            .write_file(Path::new("/proc/self/gid_map"), gid_map.as_bytes())
            .map_err(err("write", "/proc/self/gid_map"));
    }
    let (ready_r, ready_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| err("create a pipe for", "the id map helper")(e.into()))?;
    let target = rustix::process::getpid();
    let helper = process::fork().map_err(err("fork", "the id map helper"))?;
    let Some(helper) = helper else {
        drop(ready_w);
        let mut byte = [0u8; 1];
        // EOF means the namespace was never created: nothing to map.
        if !matches!(rustix::io::read(&ready_r, &mut byte), Ok(1)) {
            process::exit_now(1);
        }
        let code = match write_maps_from_outside(idmap, target) {
            Ok(()) => 0,
            Err(e) => fail_step(status, e),
        };
        process::exit_now(code);
    };
    drop(ready_r);
    let unshared = sys
        .unshare(Namespaces::NEWUSER)
        .map_err(err("unshare", "user namespace"));
    if unshared.is_ok() {
        let _ = rustix::io::write(&ready_w, &[1]);
    }
    drop(ready_w);
    let helped = process::wait_for(helper).map_err(err("wait for", "the id map helper"))?;
    unshared?;
    if helped != ExitStatus::Exited(0) {
        let e = std::io::Error::other(format!("the id map helper failed ({helped})"));
        return Err(err("write the id maps of", "user namespace")(e));
    }
    Ok(())
}

fn write_maps_from_outside(idmap: &IdMapping, pid: Pid) -> Result<(), StepError> {
    let pid = pid.as_raw_nonzero().get();
    let step = |action: &'static str, path: String| {
        move |source| StepError {
            action,
            path: path.into(),
            source,
        }
    };
    match &idmap.writer {
        MapWriter::Helpers {
            newuidmap,
            newgidmap,
        } => {
            for (tool, ranges) in [(newuidmap, &idmap.uids), (newgidmap, &idmap.gids)] {
                let name = tool.display().to_string();
                let out = std::process::Command::new(tool)
                    .arg(pid.to_string())
                    .args(idmap::helper_args(ranges))
                    .stdin(std::process::Stdio::null())
                    .output()
                    .map_err(step("run", name.clone()))?;
                if !out.status.success() {
                    let msg = String::from_utf8_lossy(&out.stderr).trim().to_owned();
                    return Err(step("run", name)(std::io::Error::other(msg)));
                }
            }
            Ok(())
        }
        MapWriter::Outside | MapWriter::Inside => {
            for (file, ranges) in [("uid_map", &idmap.uids), ("gid_map", &idmap.gids)] {
                let path = format!("/proc/{pid}/{file}");
                std::fs::write(&path, idmap::map_file(ranges))
                    .map_err(step("write", path.clone()))?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscall::{Call, RecordingSyscall};

    fn user(uid: u32, gid: u32, sgids: &[u32]) -> ExecUser {
        ExecUser {
            uid,
            gid,
            additional_gids: sgids.to_vec(),
            home: "/".into(),
        }
    }

    #[test]
    fn becoming_a_user_sets_groups_then_gid_then_uid() {
        let sys = RecordingSyscall::new();
        become_user(&sys, &user(1000, 100, &[10, 50]), true).expect("become");
        assert_eq!(
            sys.calls(),
            [
                Call::Setgroups(vec![10, 50]),
                Call::Setresgid(100),
                Call::Setresuid(1000)
            ]
        );
    }

    #[test]
    fn root_drops_inherited_supplementary_groups() {
        let sys = RecordingSyscall::new();
        become_user(&sys, &user(0, 0, &[]), true).expect("become");
        assert_eq!(
            sys.calls(),
            [
                Call::Setgroups(vec![]),
                Call::Setresgid(0),
                Call::Setresuid(0)
            ]
        );
    }

    #[test]
    fn without_setgroups_supplementary_groups_are_an_error() {
        let sys = RecordingSyscall::new();
        become_user(&sys, &user(0, 0, &[]), false).expect("no groups needed");
        assert_eq!(sys.calls(), [Call::Setresgid(0), Call::Setresuid(0)]);
        let err = become_user(&sys, &user(0, 0, &[10]), false).expect_err("groups needed");
        assert_eq!(err.source.raw_os_error(), Some(libc::EPERM));
    }

    #[test]
    fn a_self_mapped_user_namespace_denies_setgroups_before_mapping() {
        let sys = RecordingSyscall::new();
        let idmap = idmap::plan(&idmap::HostIds {
            uid: 1000,
            gid: 1000,
            ..Default::default()
        });
        let (_r, w) = rustix::pipe::pipe().expect("pipe");
        enter_user_namespace(&sys, &idmap, w.as_fd()).expect("enter");
        assert_eq!(
            sys.calls(),
            [
                Call::Unshare(Namespaces::NEWUSER),
                Call::WriteFile("/proc/self/setgroups".into(), b"deny".to_vec()),
                Call::WriteFile("/proc/self/uid_map".into(), b"0 1000 1\n".to_vec()),
                Call::WriteFile("/proc/self/gid_map".into(), b"0 1000 1\n".to_vec()),
            ]
        );
    }
}
