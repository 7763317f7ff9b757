//! Overlay mounts of a stage's rootfs, in a mount namespace of kiln's own.
//!
//! Owns: moving the kiln process into a private mount namespace before it starts any thread
//! ([`enter_private_namespace`]), mounting an overlayfs from unpacked layer directories
//! ([`mount`]), and unmounting ([`unmount`]).
//! Does not own: unpacking layers into the directories (`kiln-fs`), or deciding when an
//! overlay is used (`kiln-build`).
//!
//! Mounts made in the private namespace are invisible to the host and disappear with the
//! process, even one killed by `SIGKILL`: no stale mount is ever left behind.
//! Reference: <https://docs.kernel.org/filesystems/overlayfs.html>.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::syscall::{LinuxSyscall, Namespaces, Syscall};

/// The kernel's limit on the number of lower layers of one overlay (`OVL_MAX_STACK`).
pub const MAX_LOWER_LAYERS: usize = 500;

static PRIVATE: AtomicBool = AtomicBool::new(false);

/// Moves this process into a new mount namespace whose mounts are private, so that nothing it
/// mounts reaches the host. Namespaces belong to threads: call this first thing in `main`,
/// before any thread exists, or the other threads stay in the old namespace. Needs
/// `CAP_SYS_ADMIN`; without it (a container with default capabilities) it fails with `EPERM`
/// and changes nothing.
pub fn enter_private_namespace() -> io::Result<()> {
    let sys = LinuxSyscall;
    sys.unshare(Namespaces::NEWNS)?;
    sys.mount(
        None,
        Path::new("/"),
        None,
        libc::MS_REC | libc::MS_PRIVATE,
        None,
    )?;
    PRIVATE.store(true, Ordering::Relaxed);
    Ok(())
}

/// Whether [`enter_private_namespace`] succeeded: only then may kiln mount anything.
pub fn in_private_namespace() -> bool {
    PRIVATE.load(Ordering::Relaxed)
}

/// An overlay to mount: `lowers` from the topmost layer down, `upper` and `work` empty
/// directories of one filesystem.
#[derive(Debug, Clone)]
pub struct Overlay<'a> {
    pub lowers: &'a [PathBuf],
    pub upper: &'a Path,
    pub work: &'a Path,
    /// A directory for one short symlink per lower layer: the mount options must fit in a
    /// page, and naming each layer by a short link keeps them there for any layer count.
    pub links: &'a Path,
}

/// Mounts `overlay` on `target` (an existing directory). Fails unless kiln is in its private
/// mount namespace.
pub fn mount(overlay: &Overlay<'_>, target: &Path) -> io::Result<()> {
    if !in_private_namespace() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "kiln is not in a mount namespace of its own",
        ));
    }
    if overlay.lowers.is_empty() || overlay.lowers.len() > MAX_LOWER_LAYERS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "an overlay takes 1 to {MAX_LOWER_LAYERS} lower layers, not {}",
                overlay.lowers.len()
            ),
        ));
    }
    std::fs::create_dir_all(overlay.links)?;
    let mut lowerdir = String::new();
    for (i, lower) in overlay.lowers.iter().enumerate() {
        let link = overlay.links.join(i.to_string());
        std::os::unix::fs::symlink(lower, &link)?;
        if i > 0 {
            lowerdir.push(':');
        }
        lowerdir.push_str(&escape(&link)?);
    }
    let data = format!(
        "lowerdir={lowerdir},upperdir={},workdir={}",
        escape(overlay.upper)?,
        escape(overlay.work)?
    );
    LinuxSyscall.mount(
        Some(Path::new("overlay")),
        target,
        Some("overlay"),
        0,
        Some(&data),
    )
}

/// A path as an overlay mount option takes it: `\`, `,` and `:` escaped with a backslash.
fn escape(path: &Path) -> io::Result<String> {
    let text = path.to_str().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not UTF-8", path.display()),
        )
    })?;
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | ',' | ':') {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(out)
}

/// Detaches the mount on `target`.
pub fn unmount(target: &Path) -> io::Result<()> {
    LinuxSyscall.detach(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_paths_are_escaped() {
        assert_eq!(
            escape(Path::new("/a,b:c\\d")).expect("utf-8"),
            "/a\\,b\\:c\\\\d"
        );
    }

    #[test]
    fn mounting_outside_the_private_namespace_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lowers = [dir.path().join("l")];
        let overlay = Overlay {
            lowers: &lowers,
            upper: &dir.path().join("u"),
            work: &dir.path().join("w"),
            links: &dir.path().join("links"),
        };
        // Tests never enter the private namespace: the test harness runs threads already.
        let err = mount(&overlay, dir.path()).expect_err("refused");
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
    }
}
