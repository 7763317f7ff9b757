//! The two ways of walking a path inside a rootfs: the kernel's `openat2(RESOLVE_IN_ROOT)` and a
//! component walk on directory fds for kernels without it.
//!
//! Both give the semantics of path resolution for a process chrooted into the rootfs
//! (<https://man7.org/linux/man-pages/man7/path_resolution.7.html>): an absolute symlink restarts
//! at the rootfs, `..` at the rootfs stays there, and at most 40 symlinks are followed.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};

/// Linux's `MAXSYMLINKS`: the number of symlinks followed before `ELOOP`.
const MAX_SYMLINKS: usize = 40;

/// How often a walk is retried when `openat2` reports a concurrent rename (`EAGAIN`).
const MAX_RETRIES: usize = 16;

/// Opens `comps` below `root` with `flags`, resolved by the kernel inside `root`.
pub(super) fn open_in_root(root: &OwnedFd, comps: &[&OsStr], flags: OFlags) -> io::Result<OwnedFd> {
    let mut joined = Vec::new();
    for comp in comps {
        if !joined.is_empty() {
            joined.push(b'/');
        }
        joined.extend_from_slice(comp.as_bytes());
    }
    if joined.is_empty() {
        joined.push(b'.');
    }
    let path = OsString::from_vec(joined);
    let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    let mut attempt = 0;
    loop {
        match rustix::fs::openat2(root, &path, flags, Mode::empty(), resolve) {
            Err(rustix::io::Errno::AGAIN) if attempt < MAX_RETRIES => attempt += 1,
            other => return other.map_err(io::Error::from),
        }
    }
}

/// Opens `comps` below `root` with `flags`, walking one component at a time: each component is
/// opened `O_PATH | O_NOFOLLOW` relative to the directory fd before it, and symlinks are
/// expanded by hand, restarting at `root` when absolute.
pub(super) fn open_by_components(
    root: &OwnedFd,
    comps: &[&OsStr],
    flags: OFlags,
) -> io::Result<OwnedFd> {
    let mut pending: VecDeque<OsString> = comps.iter().map(|c| (*c).to_owned()).collect();
    // The directories entered so far; the current directory is the last one, or `root`.
    let mut stack: Vec<OwnedFd> = Vec::new();
    let mut links = 0;
    while let Some(name) = pending.pop_front() {
        let current = current(root, &stack);
        match name.as_bytes() {
            b"" | b"." => {
                if pending.is_empty() {
                    return reopen(current, flags);
                }
                continue;
            }
            b".." => {
                stack.pop();
                if pending.is_empty() {
                    return reopen(self::current(root, &stack), flags);
                }
                continue;
            }
            _ => {}
        }
        let fd = rustix::fs::openat(
            current,
            &name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let kind = FileType::from_raw_mode(rustix::fs::fstat(&fd)?.st_mode);
        if kind == FileType::Symlink {
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(io::Error::from_raw_os_error(libc::ELOOP));
            }
            let target = rustix::fs::readlinkat(&fd, "", Vec::new())?;
            let target = target.as_bytes();
            if target.first() == Some(&b'/') {
                stack.clear();
            }
            for part in target.split(|b| *b == b'/').rev() {
                pending.push_front(OsString::from_vec(part.to_vec()));
            }
            if pending.iter().all(|p| p.is_empty()) {
                // A link to "/" (or to "" which the kernel refuses, like here).
                if target.is_empty() {
                    return Err(io::Error::from_raw_os_error(libc::ENOENT));
                }
                return reopen(self::current(root, &stack), flags);
            }
            continue;
        }
        if pending.is_empty() {
            return rustix::fs::openat(current, &name, flags | OFlags::NOFOLLOW, Mode::empty())
                .map_err(io::Error::from);
        }
        if kind != FileType::Directory {
            return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
        }
        stack.push(fd);
    }
    reopen(current(root, &stack), flags)
}

fn current<'a>(root: &'a OwnedFd, stack: &'a [OwnedFd]) -> BorrowedFd<'a> {
    stack.last().unwrap_or(root).as_fd()
}

fn reopen(dir: BorrowedFd<'_>, flags: OFlags) -> io::Result<OwnedFd> {
    rustix::fs::openat(dir, ".", flags, Mode::empty()).map_err(io::Error::from)
}
