//! A whole build as root of a user namespace, when kiln is started by an unprivileged user.
//!
//! Owns: moving the current process, while it is still single-threaded, into a new user
//! namespace where the invoking user is root and its subordinate ids (`/etc/subuid`,
//! `/etc/subgid`, written by `newuidmap`/`newgidmap`) are the ids above it, as rootless
//! Buildah and Podman do (`buildah unshare`). Inside, extraction, COPY's `chown`, snapshots and
//! the layer writer all see the ids an image holds, and RUN can create mount and PID
//! namespaces of its own. What still needs the host's root (`mknod` of a device, an owner
//! outside the mapped ranges) is left to the callers to record.
//!
//! Does not own: choosing the maps ([`crate::idmap`]) or the order of `user_namespaces(7)`
//! (`userns`); RUN's own sandbox.

use std::io::Read;
use std::os::fd::AsFd;

use crate::error::{Error, Result};
use crate::idmap::{self, IdMapping};
use crate::syscall::LinuxSyscall;
use crate::userns;
use crate::wire::{self, Report};

/// Whether this process is root in the initial user namespace: the only place where `mknod`
/// of a device and `chown` to any id work.
pub fn is_host_root() -> bool {
    rustix::process::geteuid().is_root() && !in_user_namespace()
}

/// Whether this process runs in a user namespace other than the initial one, whose uid map
/// is the identity over every id.
pub fn in_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map").is_ok_and(|map| !is_identity_map(&map))
}

/// Whether `setgroups(2)` is denied in this process's user namespace (its maps were written
/// from inside, without subordinate ids): supplementary groups cannot be set there.
pub fn setgroups_denied() -> bool {
    std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny")
}

fn is_identity_map(map: &str) -> bool {
    let fields: Vec<&str> = map.split_whitespace().collect();
    fields == ["0", "0", "4294967295"]
}

/// Enters a new user namespace where the invoking user is root, with its subordinate ids
/// above it when it has some and `newuidmap` is installed. Returns the mapping.
///
/// Must be called while the process has one thread: `unshare(CLONE_NEWUSER)` fails otherwise.
pub fn enter() -> Result<IdMapping> {
    let mapping = idmap::detect();
    let (status_r, status_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| Error::Channel(e.into()))?;
    let entered = userns::enter_user_namespace(&LinuxSyscall, &mapping, status_w.as_fd());
    drop(status_w);
    let mut reported = Vec::new();
    // A failed read leaves the helper's message out; the error below still says what failed.
    let _ = std::fs::File::from(status_r).read_to_end(&mut reported);
    match entered {
        Ok(()) => Ok(mapping),
        Err(e) => {
            // The id-map helper reports its own failure (newuidmap's message) on the pipe.
            let helper = wire::parse_reports(&reported)
                .ok()
                .and_then(|reports| reports.into_iter().next());
            Err(match helper {
                Some(Report::Failed {
                    step,
                    path,
                    errno,
                    message,
                }) => Error::Setup {
                    step,
                    path,
                    source: message.map_or_else(
                        || std::io::Error::from_raw_os_error(errno),
                        std::io::Error::other,
                    ),
                },
                _ => Error::Setup {
                    step: e.action.to_owned(),
                    path: Some(e.path),
                    source: e.source,
                },
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_full_identity_map_is_the_initial_namespace() {
        for (map, identity) in [
            ("         0          0 4294967295\n", true),
            ("0 1000 1\n", false),
            ("0 1000 1\n1 100000 65536\n", false),
            ("0 0 65536\n", false),
        ] {
            assert_eq!(is_identity_map(map), identity, "{map:?}");
        }
    }
}
