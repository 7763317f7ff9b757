//! What a RUN process may do: its capabilities, groups, gid and uid.
//!
//! Owns: the last steps before `execve` that change credentials. In chroot and rootless modes
//! the bounding set is cut to Docker's default capabilities (moby `oci/caps/defaults.go`), so a
//! RUN as root can chown, bind low ports and mknod as under `docker build`, but cannot mount,
//! load modules or trace processes. Then the user of `USER` is taken on as runc does:
//! supplementary groups, gid, uid.
//!
//! Does not own: resolving `USER` (`user`).

use std::path::Path;

use crate::mounts::StepError;
use crate::syscall::Syscall;
use crate::user::ExecUser;

/// Docker's default capabilities, by number (`capabilities(7)`): CHOWN, DAC_OVERRIDE,
/// FOWNER, FSETID, KILL, SETGID, SETUID, SETPCAP, NET_BIND_SERVICE, NET_RAW, SYS_CHROOT,
/// MKNOD, AUDIT_WRITE, SETFCAP.
pub const DEFAULT_CAPABILITIES: [u32; 14] = [0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31];

/// The highest capability number this kernel knows.
pub(crate) fn last_capability() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// Removes every capability but Docker's defaults from the bounding set. Root's next `execve`
/// then gets no more than those. Needs `CAP_SETPCAP`, so it comes before the user switch.
pub(crate) fn limit_capabilities(sys: &dyn Syscall, last: u32) -> Result<(), StepError> {
    for cap in (0..=last).filter(|c| !DEFAULT_CAPABILITIES.contains(c)) {
        match sys.drop_bounding_capability(cap) {
            Ok(()) => {}
            // A number the kernel does not know is not in the set either.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
            Err(source) => {
                let path = Path::new("/proc/self/status").to_path_buf();
                return Err(StepError {
                    action: "drop capabilities listed in",
                    path,
                    source,
                });
            }
        }
    }
    Ok(())
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
    fn only_capabilities_outside_dockers_defaults_are_dropped() {
        let sys = RecordingSyscall::new();
        limit_capabilities(&sys, 40).expect("limit");
        let dropped: Vec<u32> = sys
            .calls()
            .into_iter()
            .map(|c| match c {
                Call::DropBoundingCapability(cap) => cap,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        // SYS_ADMIN (21), SYS_PTRACE (19), SYS_MODULE (16), NET_ADMIN (12) go; MKNOD (27) stays.
        for cap in [12, 16, 19, 21, 40] {
            assert!(dropped.contains(&cap), "{cap} kept");
        }
        for cap in DEFAULT_CAPABILITIES {
            assert!(!dropped.contains(&cap), "{cap} dropped");
        }
        assert_eq!(dropped.len(), 41 - DEFAULT_CAPABILITIES.len());
    }

    #[test]
    fn unknown_capability_numbers_are_skipped() {
        let sys = RecordingSyscall::new().fail_when(
            |c| matches!(c, Call::DropBoundingCapability(40)),
            libc::EINVAL,
        );
        limit_capabilities(&sys, 40).expect("EINVAL is fine");
        let sys = RecordingSyscall::new().fail_when(
            |c| matches!(c, Call::DropBoundingCapability(2)),
            libc::EPERM,
        );
        let err = limit_capabilities(&sys, 40).expect_err("EPERM is not");
        assert_eq!(err.source.raw_os_error(), Some(libc::EPERM));
    }
}
