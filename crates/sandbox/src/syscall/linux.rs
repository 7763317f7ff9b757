//! [`Syscall`] on the running kernel.
//!
//! Most calls go through `rustix`; `mount(2)` goes through `libc` because it takes the full
//! `MS_*` flag word (recursive binds, propagation and remounts) in one call.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use rustix::fs::StatVfsMountFlags;
use rustix::process::{Gid, Uid};

use super::{MountFlags, Namespaces, Syscall};

/// The real system calls. The credential calls (`setgroups`, `setres[ug]id`) are the raw
/// per-thread ones: they are only made from the single-threaded sandbox init.
#[derive(Debug, Default, Clone, Copy)]
pub struct LinuxSyscall;

fn cstring(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

fn cstr_opt(s: Option<&[u8]>) -> io::Result<Option<CString>> {
    s.map(|s| {
        CString::new(s).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "argument contains a NUL byte")
        })
    })
    .transpose()
}

impl Syscall for LinuxSyscall {
    fn unshare(&self, namespaces: Namespaces) -> io::Result<()> {
        // SAFETY: only namespace flags reach here (the callers build them from `NEW*` flags);
        // `unshare_unsafe` is unsafe because of `CLONE_FILES`, which unshares the fd table
        // under other threads' feet, and that flag is never passed.
        unsafe { rustix::thread::unshare_unsafe(namespaces) }.map_err(io::Error::from)
    }

    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MountFlags,
        data: Option<&str>,
    ) -> io::Result<()> {
        let source = cstr_opt(source.map(|p| p.as_os_str().as_bytes()))?;
        let target = cstring(target)?;
        let fstype = cstr_opt(fstype.map(str::as_bytes))?;
        let data = cstr_opt(data.map(str::as_bytes))?;
        let ptr = |s: &Option<CString>| s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
        // SAFETY: every pointer is either null (allowed by mount(2) for source, fstype and data)
        // or points at a NUL-terminated string that outlives the call.
        let rc = unsafe {
            libc::mount(
                ptr(&source),
                target.as_ptr(),
                ptr(&fstype),
                flags,
                ptr(&data).cast::<libc::c_void>(),
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    fn detach(&self, target: &Path) -> io::Result<()> {
        rustix::mount::unmount(target, rustix::mount::UnmountFlags::DETACH).map_err(io::Error::from)
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> io::Result<()> {
        rustix::process::pivot_root(new_root, put_old).map_err(io::Error::from)
    }

    fn chroot(&self, path: &Path) -> io::Result<()> {
        rustix::process::chroot(path).map_err(io::Error::from)
    }

    fn chdir(&self, path: &Path) -> io::Result<()> {
        rustix::process::chdir(path).map_err(io::Error::from)
    }

    fn sethostname(&self, name: &str) -> io::Result<()> {
        rustix::system::sethostname(name.as_bytes()).map_err(io::Error::from)
    }

    fn setgroups(&self, gids: &[u32]) -> io::Result<()> {
        let gids: Vec<Gid> = gids.iter().map(|&g| Gid::from_raw(g)).collect();
        rustix::thread::set_thread_groups(&gids).map_err(io::Error::from)
    }

    fn setresgid(&self, gid: u32) -> io::Result<()> {
        let gid = Gid::from_raw(gid);
        rustix::thread::set_thread_res_gid(gid, gid, gid).map_err(io::Error::from)
    }

    fn setresuid(&self, uid: u32) -> io::Result<()> {
        let uid = Uid::from_raw(uid);
        rustix::thread::set_thread_res_uid(uid, uid, uid).map_err(io::Error::from)
    }

    fn locked_flags(&self, path: &Path) -> io::Result<MountFlags> {
        let vfs = rustix::fs::statvfs(path).map_err(io::Error::from)?;
        let table = [
            (StatVfsMountFlags::RDONLY, libc::MS_RDONLY),
            (StatVfsMountFlags::NOSUID, libc::MS_NOSUID),
            (StatVfsMountFlags::NODEV, libc::MS_NODEV),
            (StatVfsMountFlags::NOEXEC, libc::MS_NOEXEC),
            (StatVfsMountFlags::NOATIME, libc::MS_NOATIME),
            (StatVfsMountFlags::NODIRATIME, libc::MS_NODIRATIME),
            (StatVfsMountFlags::RELATIME, libc::MS_RELATIME),
        ];
        Ok(table
            .iter()
            .filter(|(vfs_flag, _)| vfs.f_flag.contains(*vfs_flag))
            .fold(0, |acc, (_, ms)| acc | ms))
    }

    fn mkdir(&self, path: &Path, mode: u32) -> io::Result<()> {
        std::fs::DirBuilder::new().mode(mode).create(path)
    }

    fn create_file(&self, path: &Path, mode: u32) -> io::Result<()> {
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(mode)
            .open(path)?;
        Ok(())
    }

    fn symlink(&self, target: &Path, link: &Path) -> io::Result<()> {
        std::os::unix::fs::symlink(target, link)
    }

    fn write_file(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
        std::fs::write(path, contents)
    }

    fn is_dir(&self, path: &Path) -> io::Result<bool> {
        std::fs::metadata(path).map(|m| m.is_dir())
    }

    fn drop_bounding_capability(&self, cap: u32) -> io::Result<()> {
        let (option, cap) = (libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap));
        // SAFETY: PR_CAPBSET_DROP takes a capability number and no pointers.
        let rc = unsafe {
            libc::prctl(
                option,
                cap,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    fn chown(&self, path: &Path, uid: u32, gid: u32) -> io::Result<()> {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid))
    }

    fn chmod(&self, path: &Path, mode: u32) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o7777))
    }

    fn remove(&self, path: &Path, dir: bool) -> io::Result<()> {
        if dir {
            std::fs::remove_dir(path)
        } else {
            std::fs::remove_file(path)
        }
    }

    fn owner(&self, path: &Path) -> io::Result<(u32, u32, u32)> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path)?;
        Ok((meta.uid(), meta.gid(), meta.mode() & 0o7777))
    }

    fn loopback_up(&self) -> io::Result<()> {
        // SAFETY: `socket` takes no pointers; the descriptor is owned at once.
        let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor nothing else owns.
        let socket = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
        let fd = std::os::fd::AsRawFd::as_raw_fd(&socket);
        // SAFETY: an all-zero `ifreq` is valid (a NUL name, zero flags).
        let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
        for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo") {
            *slot = *byte as libc::c_char;
        }
        // SAFETY: both ioctls read and write the `ifreq` they are given, which outlives them;
        // the name is NUL-terminated by the zeroed tail.
        unsafe {
            if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut request) < 0 {
                return Err(io::Error::last_os_error());
            }
            let up = (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            request.ifr_ifru.ifru_flags |= up;
            if libc::ioctl(fd, libc::SIOCSIFFLAGS, &request) < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}
