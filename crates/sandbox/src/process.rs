//! Process primitives for the sandbox init: fork, exec, wait, kill.
//!
//! Owns: the few calls that create, replace, wait for and signal processes. They are only ever
//! used inside the sandbox init, which is a freshly exec'd process with one thread (checked by
//! [`ensure_single_threaded`] before anything else), so `fork` there is as safe as in C: the
//! child gets a copy of a process with no other thread that could hold a lock.
//!
//! Does not own: mounts and credentials (`syscall`), what to run (`init`).

use std::ffi::CString;
use std::io;
use std::path::{Path, PathBuf};

use rustix::process::{Pid, WaitOptions};

use crate::spec::ExitStatus;

/// Docker's `PATH` when the environment has none.
pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Fails unless the process has exactly one thread (read from `/proc/self/status`).
pub(crate) fn ensure_single_threaded() -> io::Result<()> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse::<u32>().ok());
    match threads {
        Some(1) => Ok(()),
        // Without a readable /proc the count is unknown; the init is single-threaded by design.
        None => Ok(()),
        Some(n) => Err(io::Error::other(format!(
            "the sandbox init has {n} threads, fork needs exactly one"
        ))),
    }
}

/// `fork(2)`: `Some(child)` in the parent, `None` in the child.
pub(crate) fn fork() -> io::Result<Option<Pid>> {
    // SAFETY: only called from the sandbox init, which `ensure_single_threaded` verified has one
    // thread, so the child cannot inherit a lock or allocator state held by another thread.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(None),
        pid => Ok(Pid::from_raw(pid)),
    }
}

/// Ends the current (forked) process at once, without running `atexit` handlers or flushing
/// buffers it shares with its parent.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` has no preconditions; it never returns.
    unsafe { libc::_exit(code) }
}

/// Restores the signal state a program expects to start with: every signal unblocked and at
/// its default disposition. An ignored disposition survives `execve`, and Rust programs ignore
/// `SIGPIPE` (a caller started under `nohup` also ignores `SIGHUP`).
///
/// The raw `rt_sigaction` is used because the C library refuses the signals it reserves for
/// itself (32 and 33 in glibc), which a caller may still have ignored. Only called right
/// before `execve`, when nothing of the C library's signal use is left to disturb.
pub(crate) fn reset_signals() {
    // An all-zero kernel `sigaction` on every architecture: handler SIG_DFL (0), no flags,
    // no restorer, empty mask. Four words cover the largest layout.
    let default_action = [0usize; 4];
    // SAFETY: `sigemptyset` initialises the set before `sigprocmask` reads it. `rt_sigaction`
    // reads at most four words from `default_action` and writes nothing (null old action); it
    // installs no handler code, and fails harmlessly for SIGKILL, SIGSTOP and unknown numbers.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        for signal in 1..=64 {
            libc::syscall(
                libc::SYS_rt_sigaction,
                signal,
                default_action.as_ptr(),
                std::ptr::null_mut::<libc::c_void>(),
                8usize,
            );
        }
    }
}

/// Asks the kernel to SIGKILL this process when its parent dies, so a killed caller leaves no
/// sandbox behind.
pub(crate) fn die_with_parent() -> io::Result<()> {
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
    Ok(())
}

/// Closes every descriptor from `first` on (whatever a caller leaked into the init).
pub(crate) fn close_fds_from(first: u32) {
    // SAFETY: `close_range` only closes descriptors; the ones from `first` on are not owned by
    // any Rust object in the freshly started init.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0u32) };
    if rc != 0 {
        // Kernels before 5.9: close what /proc lists.
        if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
            let fds: Vec<i32> = entries
                .flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
                .collect();
            for fd in fds.into_iter().filter(|&fd| fd >= first as i32) {
                // SAFETY: as above, nothing in the init owns these descriptors.
                unsafe { libc::close(fd) };
            }
        }
    }
}

/// Finds `program` the way `execvp` would, in `path` (a `PATH` value), looking at the current
/// root: a name with a `/` is used as it is.
pub(crate) fn find_executable(program: &str, path: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    path.split(':')
        .map(|dir| {
            if dir.is_empty() {
                Path::new(".")
            } else {
                Path::new(dir)
            }
            .join(program)
        })
        .find(|candidate| {
            rustix::fs::access(candidate, rustix::fs::Access::EXEC_OK).is_ok()
                && std::fs::metadata(candidate).is_ok_and(|m| m.is_file())
        })
}

/// `execve(2)`; returns only on failure.
pub(crate) fn exec(program: &Path, argv: &[String], env: &[String]) -> io::Error {
    use std::os::unix::ffi::OsStrExt;
    let cstrings = |items: &[String]| -> io::Result<Vec<CString>> {
        items
            .iter()
            .map(|s| CString::new(s.as_bytes()).map_err(|_| io::ErrorKind::InvalidInput.into()))
            .collect()
    };
    let (Ok(program), Ok(argv), Ok(env)) = (
        CString::new(program.as_os_str().as_bytes()),
        cstrings(argv),
        cstrings(env),
    ) else {
        return io::Error::new(
            io::ErrorKind::InvalidInput,
            "an argument contains a NUL byte",
        );
    };
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|s| s.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut env_ptrs: Vec<*const libc::c_char> = env.iter().map(|s| s.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());
    // SAFETY: both arrays are NULL-terminated and point at NUL-terminated strings that live
    // until after the call.
    unsafe { libc::execve(program.as_ptr(), argv_ptrs.as_ptr(), env_ptrs.as_ptr()) };
    io::Error::last_os_error()
}

fn exit_status(status: rustix::process::WaitStatus) -> ExitStatus {
    match (status.exit_status(), status.terminating_signal()) {
        (Some(code), _) => ExitStatus::Exited(code),
        (None, Some(signal)) => ExitStatus::Signaled(signal),
        // Stopped or continued are not reported without WUNTRACED/WCONTINUED.
        (None, None) => ExitStatus::Exited(0),
    }
}

/// Waits for any child. `None` when there are no children left.
pub(crate) fn wait_any() -> io::Result<Option<(Pid, ExitStatus)>> {
    loop {
        match rustix::process::wait(WaitOptions::empty()) {
            Ok(Some((pid, status))) => return Ok(Some((pid, exit_status(status)))),
            Ok(None) => return Ok(None),
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::CHILD) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Reaps children until `pid` exits and returns its status; other children (orphans handed to
/// the reaper) are reaped on the way.
pub(crate) fn wait_for(pid: Pid) -> io::Result<ExitStatus> {
    loop {
        match wait_any()? {
            Some((reaped, status)) if reaped == pid => return Ok(status),
            Some(_) => continue,
            None => return Err(io::Error::from_raw_os_error(libc::ECHILD)),
        }
    }
}

/// SIGKILL to every process this one may signal except itself: as PID 1 of a PID namespace,
/// exactly the other processes of the namespace.
pub(crate) fn kill_namespace() {
    // SAFETY: `kill` has no memory-safety preconditions.
    unsafe { libc::kill(-1, libc::SIGKILL) };
}

/// SIGKILL to a process group; a group that is already gone is fine.
pub(crate) fn kill_group(pgid: Pid) {
    let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
}

/// The pids whose parent is this process, from `/proc/*/stat`.
pub(crate) fn children() -> Vec<Pid> {
    let me = rustix::process::getpid().as_raw_nonzero().get();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // The command name may hold spaces and parentheses: fields start after the last ')'.
            let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            after
                .split_whitespace()
                .nth(1)
                .and_then(|ppid| ppid.parse::<i32>().ok())
                == Some(me)
        })
        .filter_map(Pid::from_raw)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executables_are_found_in_path_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        for d in [&a, &b] {
            std::fs::create_dir(d).expect("mkdir");
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(a.join("tool"), "").expect("write");
        std::fs::set_permissions(a.join("tool"), std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
        std::fs::write(b.join("tool"), "").expect("write");
        std::fs::set_permissions(b.join("tool"), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let path = format!("{}:{}", a.display(), b.display());
        // Not executable in a (unless run as root, where access(X_OK) needs one x bit anyway).
        assert_eq!(find_executable("tool", &path), Some(b.join("tool")));
        assert_eq!(find_executable("missing", &path), None);
        assert_eq!(
            find_executable("./rel/tool", &path),
            Some(PathBuf::from("./rel/tool"))
        );
    }
}
