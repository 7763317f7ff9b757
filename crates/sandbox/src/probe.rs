//! `--isolation=auto`: what this process may do, and the safest mode that follows.
//!
//! Owns: the probes and the choice. Each probe runs in throwaway child processes of the sandbox
//! init (namespaces cannot be created in a multi-threaded caller, and a probe must leave
//! nothing behind): chroot needs to unshare mount, PID, UTS and IPC namespaces and mount a fresh
//! `/proc` as PID 1 of the new namespace; rootless needs the same inside a user namespace
//! mapping the invoking user. A default Docker or Kubernetes container allows neither (its
//! seccomp profile refuses `unshare`, and its masked `/proc` forbids a fresh one), which
//! leaves `none`, Kaniko's in-place mode. `none` builds in `/` itself, so `auto` picks it only
//! when something says this process runs in a container ([`container_evidence`]); elsewhere
//! it fails rather than risk the host's `/`.
//!
//! Does not own: acting on the choice (the caller decides where the rootfs lives).

use std::fmt::Write as _;
use std::os::fd::AsFd;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::Error;
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

/// The safest mode the report allows. `container` is why this process runs in a container
/// ([`container_evidence`]): only there is `none` a choice, since it builds in `/` itself.
pub fn choose(report: &ProbeReport, container: Option<&str>) -> Result<Probe, Error> {
    match (&report.chroot, &report.rootless) {
        (Ok(()), _) => Ok(Probe {
            isolation: Isolation::Chroot,
            reason: "mount, PID, UTS and IPC namespaces and a fresh /proc are allowed".into(),
        }),
        (Err(chroot), Ok(())) => Ok(Probe {
            isolation: Isolation::Rootless,
            reason: format!("chroot isolation is not allowed ({chroot}), a user namespace is"),
        }),
        (Err(chroot), Err(rootless)) => match container {
            Some(evidence) => Ok(Probe {
                isolation: Isolation::None,
                reason: format!(
                    "no namespace isolation is allowed (chroot: {chroot}; rootless: {rootless}) \
                     and this is a container ({evidence}), so RUN runs in place in /"
                ),
            }),
            None => Err(Error::Unsupported {
                isolation: Isolation::Auto,
                reason: format!(
                    "no namespace isolation is allowed (chroot: {chroot}; rootless: {rootless}), \
                     and nothing says this process runs in a container (no /.dockerenv, \
                     /run/.containerenv, KUBERNETES_SERVICE_HOST, container variable or \
                     container cgroup), where building in place in / would be safe"
                ),
            }),
        },
    }
}

/// Why this process runs in a container, or `None` when nothing says so: Docker's
/// `/.dockerenv`, Podman's `/run/.containerenv`, a Kubernetes pod's `KUBERNETES_SERVICE_HOST`,
/// the `container` variable of systemd's container interface, or a container runtime's cgroup.
pub fn container_evidence() -> Option<String> {
    let cgroups = ["/proc/self/cgroup", "/proc/1/cgroup"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok().map(|text| (*path, text)))
        .collect::<Vec<_>>();
    evidence(
        &|path| std::path::Path::new(path).exists(),
        &|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()),
        &cgroups,
    )
}

/// [`container_evidence`] over what the system shows.
fn evidence(
    exists: &dyn Fn(&str) -> bool,
    variable: &dyn Fn(&str) -> bool,
    cgroups: &[(&str, String)],
) -> Option<String> {
    let files = [("/.dockerenv", "Docker"), ("/run/.containerenv", "Podman")];
    if let Some((path, runtime)) = files.iter().find(|(path, _)| exists(path)) {
        return Some(format!("{path} exists ({runtime})"));
    }
    if variable("KUBERNETES_SERVICE_HOST") {
        return Some("KUBERNETES_SERVICE_HOST is set (a Kubernetes pod)".into());
    }
    if variable("container") {
        return Some("the container variable is set".into());
    }
    cgroups.iter().find_map(|(path, text)| {
        text.lines()
            .filter_map(|l| l.splitn(3, ':').nth(2))
            .find_map(container_cgroup)
            .map(|runtime| format!("{path} names {runtime}"))
    })
}

/// The runtime whose container the cgroup path is, as runtimes name them: `/docker/ID`,
/// `/lxc/NAME`, `docker-ID.scope` (and Podman's, CRI-O's, containerd's CRI), `kubepods...`.
/// A service of the host (`/system.slice/docker.service`) is not a container.
fn container_cgroup(path: &str) -> Option<&'static str> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    parts.iter().enumerate().find_map(|(i, part)| {
        if part.starts_with("kubepods") {
            return Some("kubepods");
        }
        let scopes = [
            ("docker-", "docker"),
            ("libpod-", "libpod"),
            ("crio-", "crio"),
            ("cri-containerd-", "containerd"),
        ];
        if part.ends_with(".scope") {
            if let Some((_, runtime)) = scopes.iter().find(|(p, _)| part.starts_with(p)) {
                return Some(runtime);
            }
        }
        let parents = [
            ("docker", "docker"),
            ("lxc", "lxc"),
            ("libpod_parent", "libpod"),
        ];
        let has_child = i + 1 < parts.len();
        parents
            .iter()
            .find(|(name, _)| has_child && part == name)
            .map(|(_, runtime)| *runtime)
    })
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
        let docker = Some("/.dockerenv exists (Docker)");
        for (report, want) in cases {
            let probe = choose(&report, docker).expect("a mode");
            assert_eq!(probe.isolation, want, "{report:?}");
            if want != Isolation::Chroot {
                assert!(
                    probe.reason.contains("Operation not permitted"),
                    "{}",
                    probe.reason
                );
            }
            if want == Isolation::None {
                assert!(probe.reason.contains("/.dockerenv"), "{}", probe.reason);
            }
        }
    }

    #[test]
    fn outside_a_container_auto_never_builds_in_place() {
        let denied = || Err("unshare: Operation not permitted".to_owned());
        let report = ProbeReport {
            chroot: denied(),
            rootless: denied(),
        };
        let err = choose(&report, None).expect_err("no mode outside a container");
        let text = err.to_string();
        assert!(text.contains("isolation auto"), "{text}");
        assert!(text.contains("/.dockerenv"), "{text}");
        assert!(text.contains("Operation not permitted"), "{text}");
        let allowed = ProbeReport {
            chroot: denied(),
            rootless: Ok(()),
        };
        let probe = choose(&allowed, None).expect("rootless");
        assert_eq!(probe.isolation, Isolation::Rootless);
    }

    #[test]
    fn container_evidence_comes_from_files_variables_and_cgroups() {
        let host_cgroup = "0::/user.slice/user-1000.slice/session-2.scope\n".to_owned();
        // Files that exist, variables that are set, /proc/self/cgroup, the evidence.
        type Case = (
            &'static [&'static str],
            &'static [&'static str],
            String,
            Option<&'static str>,
        );
        let cases: [Case; 9] = [
            (&[], &[], host_cgroup.clone(), None),
            (
                &["/.dockerenv"],
                &[],
                host_cgroup.clone(),
                Some("/.dockerenv exists (Docker)"),
            ),
            (
                &["/run/.containerenv"],
                &[],
                host_cgroup.clone(),
                Some("/run/.containerenv exists (Podman)"),
            ),
            (
                &[],
                &["KUBERNETES_SERVICE_HOST"],
                host_cgroup.clone(),
                Some("KUBERNETES_SERVICE_HOST is set (a Kubernetes pod)"),
            ),
            (
                &[],
                &["container"],
                host_cgroup.clone(),
                Some("the container variable is set"),
            ),
            (
                &[],
                &[],
                "12:memory:/kubepods/besteffort/pod1a2b/0123abcd\n".to_owned(),
                Some("/proc/self/cgroup names kubepods"),
            ),
            (
                &[],
                &[],
                "0::/system.slice/docker-0123abcd.scope\n".to_owned(),
                Some("/proc/self/cgroup names docker"),
            ),
            (
                &[],
                &[],
                "4:memory:/docker/0123abcd\n0::/\n".to_owned(),
                Some("/proc/self/cgroup names docker"),
            ),
            (
                &[],
                &[],
                "0::/system.slice/docker.service\n".to_owned(),
                None,
            ),
        ];
        for (files, variables, cgroup, want) in cases {
            let got = evidence(
                &|p| files.contains(&p),
                &|v| variables.contains(&v),
                &[("/proc/self/cgroup", cgroup.clone())],
            );
            assert_eq!(got.as_deref(), want, "{files:?} {variables:?} {cgroup:?}");
        }
    }
}
