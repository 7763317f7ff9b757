//! `--isolation=auto`: what this process may do, and the safest mode that follows.
//!
//! Owns: the probes and the choice. Each probe runs in throwaway child processes of the sandbox
//! init (namespaces cannot be created in a multi-threaded caller, and a probe must leave
//! nothing behind): chroot needs to unshare mount, PID, UTS and IPC namespaces and mount a fresh
//! `/proc` as PID 1 of the new namespace; rootless needs the same inside a user namespace
//! mapping the invoking user. A default Docker or Kubernetes container allows neither (its
//! seccomp profile refuses `unshare`, and its masked `/proc` forbids a fresh one), which
//! leaves `none`, Kaniko's in-place mode.
//!
//! Does not own: acting on the choice (the caller decides where the rootfs lives).

use std::fmt::Write as _;
use std::os::fd::AsFd;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::idmap::{HostIds, IdMapping, IdRange, MapWriter};
use crate::mounts::{self, Step};
use crate::process;
use crate::spec::{ExitStatus, Isolation};
use crate::syscall::{LinuxSyscall, Namespaces, Syscall};

/// What each probe found: `Err` holds the failing step and the kernel's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeReport {
    pub chroot: Result<(), String>,
    pub rootless: Result<(), String>,
}

/// The chosen mode and why, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub isolation: Isolation,
    pub reason: String,
}

/// The safest mode the report allows.
pub fn choose(report: &ProbeReport) -> Probe {
    match (&report.chroot, &report.rootless) {
        (Ok(()), _) => Probe {
            isolation: Isolation::Chroot,
            reason: "mount, PID, UTS and IPC namespaces and a fresh /proc are allowed".into(),
        },
        (Err(chroot), Ok(())) => Probe {
            isolation: Isolation::Rootless,
            reason: format!("chroot isolation is not allowed ({chroot}), a user namespace is"),
        },
        (Err(chroot), Err(rootless)) => Probe {
            isolation: Isolation::None,
            reason: format!(
                "no namespace isolation is allowed (chroot: {chroot}; rootless: {rootless}), \
                 so RUN runs in place"
            ),
        },
    }
}

/// Runs both probes (in the sandbox init).
pub(crate) fn run_probes() -> ProbeReport {
    let sys = LinuxSyscall;
    let chroot = in_child(|| unshare_and_mount_proc(&sys));
    let rootless = in_child(|| {
        let host = (
            rustix::process::getuid().as_raw(),
            rustix::process::getgid().as_raw(),
        );
        let host = HostIds {
            uid: host.0,
            gid: host.1,
            ..Default::default()
        };
        // The least a rootless sandbox needs: a single-id map written from inside.
        let single = IdMapping {
            uids: vec![IdRange {
                container: 0,
                host: host.uid,
                count: 1,
            }],
            gids: vec![IdRange {
                container: 0,
                host: host.gid,
                count: 1,
            }],
            writer: MapWriter::Inside,
        };
        let (_r, status) = rustix::pipe::pipe().map_err(|e| format!("pipe: {e}"))?;
        crate::userns::enter_user_namespace(&sys, &single, status.as_fd()).map_err(describe)?;
        unshare_and_mount_proc(&sys)
    });
    ProbeReport { chroot, rootless }
}

fn describe(e: mounts::StepError) -> String {
    format!("{e}: {}", e.source)
}

fn unshare_and_mount_proc(sys: &dyn Syscall) -> Result<(), String> {
    let namespaces =
        Namespaces::NEWNS | Namespaces::NEWPID | Namespaces::NEWUTS | Namespaces::NEWIPC;
    sys.unshare(namespaces)
        .map_err(|e| format!("unshare of mount, PID, UTS and IPC namespaces: {e}"))?;
    // /proc is only this throwaway namespace's: mounting over it changes nothing outside.
    in_child(|| {
        let steps = [
            Step::MakePrivate,
            Step::Proc {
                target: PathBuf::from("/proc"),
            },
        ];
        mounts::apply(sys, &steps).map_err(describe)
    })
}

/// Runs `probe` in a forked child and brings back its result.
fn in_child(probe: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    let (reader, writer) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| format!("pipe: {e}"))?;
    let child = process::fork().map_err(|e| format!("fork: {e}"))?;
    let Some(child) = child else {
        drop(reader);
        let code = match probe() {
            Ok(()) => 0,
            Err(message) => {
                let _ = rustix::io::write(&writer, message.as_bytes());
                1
            }
        };
        process::exit_now(code);
    };
    drop(writer);
    let mut message = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n @ 1..) = rustix::io::read(&reader, &mut buf) {
        message.extend_from_slice(&buf[..n]);
    }
    match process::wait_for(child) {
        Ok(ExitStatus::Exited(0)) => Ok(()),
        Ok(status) => {
            let mut text = String::from_utf8_lossy(&message).into_owned();
            if text.is_empty() {
                let _ = write!(text, "the probe ended with {status}");
            }
            Err(text)
        }
        Err(e) => Err(format!("wait for the probe: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_safest_allowed_mode_is_chosen() {
        let denied = || {
            Err("unshare of mount, PID, UTS and IPC namespaces: Operation not permitted".to_owned())
        };
        let cases = [
            (
                ProbeReport {
                    chroot: Ok(()),
                    rootless: Ok(()),
                },
                Isolation::Chroot,
            ),
            (
                ProbeReport {
                    chroot: Ok(()),
                    rootless: denied(),
                },
                Isolation::Chroot,
            ),
            (
                ProbeReport {
                    chroot: denied(),
                    rootless: Ok(()),
                },
                Isolation::Rootless,
            ),
            (
                ProbeReport {
                    chroot: denied(),
                    rootless: denied(),
                },
                Isolation::None,
            ),
        ];
        for (report, want) in cases {
            let probe = choose(&report);
            assert_eq!(probe.isolation, want, "{report:?}");
            if want != Isolation::Chroot {
                assert!(
                    probe.reason.contains("Operation not permitted"),
                    "{}",
                    probe.reason
                );
            }
        }
    }
}
