//! The system calls that set up a sandbox, behind one trait.
//!
//! Owns: the [`Syscall`] trait, its real implementation ([`LinuxSyscall`]) and a recording double
//! ([`RecordingSyscall`]) that lets the mount and namespace setup be tested without root. The
//! shape follows youki's `libcontainer/src/syscall/` module.
//!
//! Does not own: process creation, waiting and signals (`process`), which cannot be replayed by
//! a double in any useful way and are covered by the integration tests instead.

mod linux;
mod recording;

use std::io;
use std::path::Path;

pub use linux::LinuxSyscall;
pub use recording::{Call, RecordingSyscall};
pub use rustix::thread::UnshareFlags as Namespaces;

/// Mount flags, as `mount(2)` takes them (`MS_*`).
pub type MountFlags = libc::c_ulong;

/// What a mount or namespace step needs from the kernel. Every method maps to one system call
/// (or one file operation) and reports the kernel's error unchanged.
pub trait Syscall {
    fn unshare(&self, namespaces: Namespaces) -> io::Result<()>;
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MountFlags,
        data: Option<&str>,
    ) -> io::Result<()>;
    /// `umount2(target, MNT_DETACH)`.
    fn detach(&self, target: &Path) -> io::Result<()>;
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> io::Result<()>;
    fn chroot(&self, path: &Path) -> io::Result<()>;
    fn chdir(&self, path: &Path) -> io::Result<()>;
    fn sethostname(&self, name: &str) -> io::Result<()>;
    fn setgroups(&self, gids: &[u32]) -> io::Result<()>;
    fn setresgid(&self, gid: u32) -> io::Result<()>;
    fn setresuid(&self, uid: u32) -> io::Result<()>;
    /// The mount flags of the filesystem holding `path` that a bind remount must keep (`MS_NOSUID`,
    /// `MS_NODEV`, `MS_NOEXEC`, `MS_RDONLY`, atime flags): in a user namespace the kernel refuses
    /// a remount that would clear them.
    fn locked_flags(&self, path: &Path) -> io::Result<MountFlags>;
    fn mkdir(&self, path: &Path, mode: u32) -> io::Result<()>;
    /// Creates an empty file (a mount point for a bind-mounted file).
    fn create_file(&self, path: &Path, mode: u32) -> io::Result<()>;
    fn symlink(&self, target: &Path, link: &Path) -> io::Result<()>;
    fn write_file(&self, path: &Path, contents: &[u8]) -> io::Result<()>;
    /// Whether `path` is a directory (following symlinks); `NotFound` when it does not exist.
    fn is_dir(&self, path: &Path) -> io::Result<bool>;
    /// `prctl(PR_CAPBSET_DROP, cap)`: removes `cap` from the bounding set for good.
    fn drop_bounding_capability(&self, cap: u32) -> io::Result<()>;
    /// `lchown(2)`.
    fn chown(&self, path: &Path, uid: u32, gid: u32) -> io::Result<()>;
    /// `chmod(2)` with the permission and special bits of `mode`.
    fn chmod(&self, path: &Path, mode: u32) -> io::Result<()>;
    /// `unlink(2)` of a file, or `rmdir(2)` of an empty directory when `dir`.
    fn remove(&self, path: &Path, dir: bool) -> io::Result<()>;
    /// The owner and permission bits of `path` (following symlinks): `(uid, gid, mode)`.
    fn owner(&self, path: &Path) -> io::Result<(u32, u32, u32)>;
    /// Brings the loopback interface of the current network namespace up.
    fn loopback_up(&self) -> io::Result<()>;
}
