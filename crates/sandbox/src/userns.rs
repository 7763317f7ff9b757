//! Entering a rootless sandbox's user namespace and getting its id maps written.
//!
//! Owns: the order that `user_namespaces(7)` demands. A map written from inside covers only
//! the process's own ids and needs `setgroups` denied first; any other map must be written by
//! a process that stays in the parent namespace, so a helper is forked before the namespace
//! exists and released through a pipe once it does. The helper writes the files itself when
//! the invoker is root there, and otherwise runs `newuidmap`/`newgidmap`, the setuid tools
//! that check `/etc/subuid` and `/etc/subgid`.
//!
//! Does not own: choosing the maps (`idmap`).

use std::os::fd::BorrowedFd;
use std::path::Path;

use rustix::process::Pid;

use crate::idmap::{self, IdMapping, MapWriter};
use crate::mounts::StepError;
use crate::process;
use crate::spec::ExitStatus;
use crate::syscall::{Namespaces, Syscall};

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
            Err(e) => crate::init::fail_step(status, e),
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
    use std::os::fd::AsFd;

    use super::*;
    use crate::syscall::{Call, RecordingSyscall};

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
