//! The filesystem a chroot or rootless RUN sees, as a plan of steps and their application.
//!
//! Owns: which mounts a sandbox gets and in what order: the rootfs bound onto itself, a fresh
//! `/proc`, a tmpfs `/dev` with the standard device nodes bound from the host plus `/dev/pts`
//! and `/dev/shm`, a read-only `/sys`, the caller's bind mounts, the hostname, and finally
//! `pivot_root` so nothing of the host's tree stays reachable. Docker's masked and read-only
//! kernel interfaces under `/proc` and `/sys` are hidden or made read-only as in `docker build`. The list matches what runc gives
//! a container by default (OCI runtime spec, "Default Filesystems" and "Default Devices":
//! <https://github.com/opencontainers/runtime-spec/blob/main/config-linux.md>), without the
//! cgroup and mqueue mounts a RUN step does not need.
//!
//! Does not own: creating mount points in the rootfs (`stubs`, done before the plan runs, so
//! the plan only holds resolved host paths) or the namespaces themselves (`init`).

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::spec::SecretBytes;
use crate::syscall::{MountFlags, Syscall};

/// Kernel interfaces a container does not see, as Docker's defaults (moby `oci/defaults.go`),
/// relative to the rootfs.
pub const MASKED_PATHS: [&str; 12] = [
    "proc/asound",
    "proc/acpi",
    "proc/interrupts",
    "proc/kcore",
    "proc/keys",
    "proc/latency_stats",
    "proc/timer_list",
    "proc/timer_stats",
    "proc/sched_debug",
    "proc/scsi",
    "sys/firmware",
    "sys/devices/virtual/powercap",
];

/// Kernel interfaces a container sees read-only: without this, root in a RUN could change the
/// host's sysctls through `/proc/sys`, which is not namespaced.
pub const READ_ONLY_PATHS: [&str; 5] = [
    "proc/bus",
    "proc/fs",
    "proc/irq",
    "proc/sys",
    "proc/sysrq-trigger",
];

/// The device nodes every container gets, bound from the host's `/dev`.
pub const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// One step of the plan. Targets are host paths under the rootfs, already resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// Stop mount events from propagating back to the host.
    MakePrivate,
    /// Bind the rootfs onto itself so it is a mount point `pivot_root` accepts.
    BindRoot {
        rootfs: PathBuf,
    },
    Proc {
        target: PathBuf,
    },
    /// tmpfs `/dev`, its device nodes, `pts`, `shm` and the standard symlinks. `pts_gid`
    /// is the `tty` group for devpts, left out in a user namespace where gid 5 may not exist.
    Dev {
        target: PathBuf,
        pts_gid: Option<u32>,
    },
    Bind {
        source: PathBuf,
        target: PathBuf,
        recursive: bool,
        read_only: bool,
    },
    /// A mount point inside a tmpfs the plan mounted (`/dev`), with its missing parents: a
    /// directory, or an empty file when `dir` is false.
    MountPoint {
        target: PathBuf,
        dir: bool,
    },
    /// An empty tmpfs, world-writable with the sticky bit, `size` bytes at most when set.
    Tmpfs {
        target: PathBuf,
        size: Option<u64>,
    },
    /// Hide a kernel interface: `/dev/null` over a file, an empty read-only tmpfs over a
    /// directory. A path this kernel lacks has nothing to hide.
    Mask {
        target: PathBuf,
    },
    /// Make a kernel interface read-only (bound onto itself, remounted read-only). A path this
    /// kernel lacks is skipped.
    ReadOnly {
        target: PathBuf,
    },
    Hostname {
        name: String,
    },
    /// `lower` at `target` through an overlay whose upper and work directories live in a
    /// tmpfs mounted at `staging` (a new directory in the `/dev` tmpfs, detached and removed
    /// again once the overlay holds it): writes go to memory and vanish with the namespace.
    /// `user_xattr` selects the `user.overlay.*` attributes a user namespace needs.
    Overlay {
        lower: PathBuf,
        target: PathBuf,
        staging: PathBuf,
        user_xattr: bool,
    },
    /// `contents` written at `staging` (in the `/dev` tmpfs) with this owner and mode, bound
    /// read-only at `target`, and unlinked from `staging`.
    File {
        staging: PathBuf,
        target: PathBuf,
        contents: SecretBytes,
        uid: u32,
        gid: u32,
        mode: u32,
    },
    /// Owner and mode of what is mounted at `target`.
    Owner {
        target: PathBuf,
        uid: u32,
        gid: u32,
        mode: u32,
    },
    /// Bring up `lo` in the run's own network namespace.
    Loopback,
    PivotRoot {
        rootfs: PathBuf,
    },
}

/// A step that failed, with the call and the path it failed on.
#[derive(Debug, thiserror::Error)]
#[error("{action} {}", path.display())]
pub struct StepError {
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

fn at(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StepError {
    let path = path.to_path_buf();
    move |source| StepError {
        action,
        path,
        source,
    }
}

/// Applies `steps` in order, stopping at the first failure.
pub fn apply(sys: &dyn Syscall, steps: &[Step]) -> Result<(), StepError> {
    for step in steps {
        apply_step(sys, step)?;
    }
    Ok(())
}

const NOSUID_NODEV_NOEXEC: MountFlags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;

fn apply_step(sys: &dyn Syscall, step: &Step) -> Result<(), StepError> {
    let root = Path::new("/");
    match step {
        Step::MakePrivate => sys
            .mount(None, root, None, libc::MS_REC | libc::MS_PRIVATE, None)
            .map_err(at("make private", root)),
        Step::BindRoot { rootfs } => sys
            .mount(
                Some(rootfs),
                rootfs,
                None,
                libc::MS_BIND | libc::MS_REC,
                None,
            )
            .map_err(at("bind the rootfs onto", rootfs)),
        Step::Proc { target } => sys
            .mount(
                Some(Path::new("proc")),
                target,
                Some("proc"),
                NOSUID_NODEV_NOEXEC,
                None,
            )
            .map_err(at("mount proc on", target)),
        Step::Dev { target, pts_gid } => apply_dev(sys, target, *pts_gid),
        Step::Bind {
            source,
            target,
            recursive,
            read_only,
        } => {
            let rec = if *recursive { libc::MS_REC } else { 0 };
            sys.mount(Some(source), target, None, libc::MS_BIND | rec, None)
                .map_err(at("bind mount onto", target))?;
            if *read_only {
                remount_read_only(sys, target)?;
            }
            Ok(())
        }
        Step::MountPoint { target, dir } => {
            let mut missing = Vec::new();
            let mut parent = target.parent();
            while let Some(p) = parent {
                match sys.is_dir(p) {
                    Ok(_) => break,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => missing.push(p),
                    Err(e) => return Err(at("inspect", p)(e)),
                }
                parent = p.parent();
            }
            for p in missing.into_iter().rev() {
                sys.mkdir(p, 0o755).map_err(at("create mount point", p))?;
            }
            if *dir {
                sys.mkdir(target, 0o755)
            } else {
                sys.create_file(target, 0o644)
            }
            .map_err(at("create mount point", target))
        }
        Step::Tmpfs { target, size } => {
            let size = size.map(|s| format!(",size={s}")).unwrap_or_default();
            let data = format!("mode=1777{size}");
            sys.mount(
                Some(Path::new("tmpfs")),
                target,
                Some("tmpfs"),
                libc::MS_NOSUID | libc::MS_NODEV,
                Some(&data),
            )
            .map_err(at("mount tmpfs on", target))
        }
        Step::Mask { target } => match sys.is_dir(target) {
            Ok(true) => sys
                .mount(
                    Some(Path::new("tmpfs")),
                    target,
                    Some("tmpfs"),
                    libc::MS_RDONLY,
                    None,
                )
                .map_err(at("mask", target)),
            Ok(false) => sys
                .mount(
                    Some(Path::new("/dev/null")),
                    target,
                    None,
                    libc::MS_BIND,
                    None,
                )
                .map_err(at("mask", target)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(at("inspect", target)(e)),
        },
        Step::ReadOnly { target } => match sys.is_dir(target) {
            Ok(_) => {
                sys.mount(
                    Some(target),
                    target,
                    None,
                    libc::MS_BIND | libc::MS_REC,
                    None,
                )
                .map_err(at("bind mount onto", target))?;
                remount_read_only(sys, target)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(at("inspect", target)(e)),
        },
        Step::Hostname { name } => sys
            .sethostname(name)
            .map_err(at("set hostname", Path::new(name))),
        Step::Overlay {
            lower,
            target,
            staging,
            user_xattr,
        } => apply_overlay(sys, lower, target, staging, *user_xattr),
        Step::File {
            staging,
            target,
            contents,
            uid,
            gid,
            mode,
        } => {
            sys.create_file(staging, 0o600)
                .map_err(at("create", staging))?;
            sys.write_file(staging, &contents.0)
                .map_err(at("write", staging))?;
            sys.chown(staging, *uid, *gid)
                .map_err(at("change the owner of", staging))?;
            sys.chmod(staging, *mode)
                .map_err(at("change the mode of", staging))?;
            sys.mount(Some(staging), target, None, libc::MS_BIND, None)
                .map_err(at("bind mount onto", target))?;
            remount_read_only(sys, target)?;
            sys.remove(staging, false).map_err(at("remove", staging))
        }
        Step::Owner {
            target,
            uid,
            gid,
            mode,
        } => {
            sys.chown(target, *uid, *gid)
                .map_err(at("change the owner of", target))?;
            sys.chmod(target, *mode)
                .map_err(at("change the mode of", target))
        }
        Step::Loopback => sys
            .loopback_up()
            .map_err(at("bring up the loopback interface", Path::new("lo"))),
        Step::PivotRoot { rootfs } => pivot(sys, rootfs),
    }
}

/// An overlay option value: backslashes, commas and colons escaped for the kernel's parser.
fn overlay_path(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        if matches!(c, '\\' | ',' | ':') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn apply_overlay(
    sys: &dyn Syscall,
    lower: &Path,
    target: &Path,
    staging: &Path,
    user_xattr: bool,
) -> Result<(), StepError> {
    sys.mkdir(staging, 0o700).map_err(at("create", staging))?;
    sys.mount(
        Some(Path::new("tmpfs")),
        staging,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
        Some("mode=700"),
    )
    .map_err(at("mount tmpfs on", staging))?;
    let upper = staging.join("upper");
    let work = staging.join("work");
    // The overlay's root takes the upper directory's owner and mode: give it the lower's.
    let (uid, gid, mode) = sys.owner(lower).map_err(at("inspect", lower))?;
    sys.mkdir(&upper, 0o755).map_err(at("create", &upper))?;
    match sys.chown(&upper, uid, gid) {
        // An owner the user namespace does not map: the directory stays root's.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
        other => other.map_err(at("change the owner of", &upper))?,
    }
    sys.chmod(&upper, mode)
        .map_err(at("change the mode of", &upper))?;
    sys.mkdir(&work, 0o700).map_err(at("create", &work))?;
    let xattr = if user_xattr { ",userxattr" } else { "" };
    let data = format!(
        "lowerdir={},upperdir={},workdir={}{xattr}",
        overlay_path(lower),
        overlay_path(&upper),
        overlay_path(&work)
    );
    sys.mount(
        Some(Path::new("overlay")),
        target,
        Some("overlay"),
        0,
        Some(&data),
    )
    .map_err(at("mount an overlay on", target))?;
    sys.detach(staging).map_err(at("detach", staging))?;
    sys.remove(staging, true).map_err(at("remove", staging))
}

/// A bind mount takes the source mount's flags; making it read-only is a second, remount call
/// that must repeat the flags the kernel locks in a user namespace.
fn remount_read_only(sys: &dyn Syscall, target: &Path) -> Result<(), StepError> {
    let locked = sys
        .locked_flags(target)
        .map_err(at("inspect mount", target))?;
    let flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | locked;
    sys.mount(None, target, None, flags, None)
        .map_err(at("remount read-only", target))
}

fn apply_dev(sys: &dyn Syscall, dev: &Path, pts_gid: Option<u32>) -> Result<(), StepError> {
    sys.mount(
        Some(Path::new("tmpfs")),
        dev,
        Some("tmpfs"),
        libc::MS_NOSUID,
        Some("mode=755,size=65536k"),
    )
    .map_err(at("mount tmpfs on", dev))?;
    for name in DEVICES {
        let host = Path::new("/dev").join(name);
        // A minimal host (a container without a terminal device) may lack one: so does the RUN.
        match sys.is_dir(&host) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(at("inspect", &host)(e)),
        }
        let node = dev.join(name);
        sys.create_file(&node, 0o666).map_err(at("create", &node))?;
        sys.mount(Some(&host), &node, None, libc::MS_BIND, None)
            .map_err(at("bind mount onto", &node))?;
    }
    let pts = dev.join("pts");
    sys.mkdir(&pts, 0o755).map_err(at("create", &pts))?;
    let gid = pts_gid.map(|g| format!(",gid={g}")).unwrap_or_default();
    let data = format!("newinstance,ptmxmode=0666,mode=0620{gid}");
    sys.mount(
        Some(Path::new("devpts")),
        &pts,
        Some("devpts"),
        libc::MS_NOSUID | libc::MS_NOEXEC,
        Some(&data),
    )
    .map_err(at("mount devpts on", &pts))?;
    let shm = dev.join("shm");
    sys.mkdir(&shm, 0o1777).map_err(at("create", &shm))?;
    sys.mount(
        Some(Path::new("shm")),
        &shm,
        Some("tmpfs"),
        NOSUID_NODEV_NOEXEC,
        Some("mode=1777,size=65536k"),
    )
    .map_err(at("mount tmpfs on", &shm))?;
    let links = [
        ("pts/ptmx", "ptmx"),
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    for (target, name) in links {
        let link = dev.join(name);
        sys.symlink(Path::new(target), &link)
            .map_err(at("create symlink", &link))?;
    }
    Ok(())
}

/// `pivot_root(".", ".")` then detaching the old root leaves only the rootfs, without needing a
/// directory for the old root. Where the current root cannot be pivoted (an initramfs), the
/// rootfs is moved over `/` and chrooted into instead, as runc's `no_pivot` does.
fn pivot(sys: &dyn Syscall, rootfs: &Path) -> Result<(), StepError> {
    let dot = Path::new(".");
    let slash = Path::new("/");
    sys.chdir(rootfs)
        .map_err(at("change directory to", rootfs))?;
    match sys.pivot_root(dot, dot) {
        Ok(()) => {
            // The old root is now stacked on `/`; make it private so the detach cannot
            // propagate anywhere, then drop it.
            sys.mount(None, dot, None, libc::MS_REC | libc::MS_SLAVE, None)
                .map_err(at("make the old root private", rootfs))?;
            sys.detach(dot)
                .map_err(at("detach the old root from", rootfs))?;
        }
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            sys.mount(Some(rootfs), slash, None, libc::MS_MOVE, None)
                .map_err(at("move the rootfs onto /", rootfs))?;
            sys.chroot(dot).map_err(at("chroot into", rootfs))?;
        }
        Err(e) => return Err(at("pivot_root into", rootfs)(e)),
    }
    sys.chdir(slash).map_err(at("change directory to", slash))
}

#[cfg(test)]
#[path = "mounts_tests.rs"]
mod tests;
