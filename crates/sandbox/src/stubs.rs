//! Mount points a rootfs lacks: created before a run, removed after it.
//!
//! Owns: making sure each mount target exists (resolved inside the rootfs, so an image's symlink
//! cannot point a mount at the host), remembering exactly what was created, and undoing it: the
//! stubs are removed in reverse order and the times of the directory they were created in are
//! put back when the run itself did not change that directory. BuildKit does the same for its
//! mount stubs, so a RUN in a rootfs without `/etc/hosts` does not leave an empty one in the
//! layer.
//!
//! Does not own: the mounts themselves (`mounts`).

use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, CWD, Timestamps};

use crate::error::{Error, Result};
use crate::resolve::resolve_in_root;

/// What a mount point must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Dir => "directory",
            Kind::File => "file",
        }
    }
}

#[derive(Debug)]
struct Created {
    host: PathBuf,
    kind: Kind,
}

/// An existing directory that a stub was created in, with its times before and right after.
#[derive(Debug)]
struct Parent {
    dir: PathBuf,
    before: Timestamps,
    after_create: Timestamps,
}

/// The stubs created in one rootfs for one run.
#[derive(Debug)]
pub struct MountStubs {
    root: PathBuf,
    created: Vec<Created>,
    parents: Vec<Parent>,
}

/// What [`MountStubs::remove`] did, as rootfs paths (`/etc/hosts`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Removal {
    pub removed: Vec<PathBuf>,
    pub kept: Vec<PathBuf>,
}

fn times(path: &Path) -> Result<Timestamps> {
    let meta = std::fs::symlink_metadata(path).map_err(|source| Error::Io {
        action: "inspect",
        path: path.to_owned(),
        source,
    })?;
    use std::os::unix::fs::MetadataExt;
    let ts = |sec, nsec| rustix::fs::Timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    };
    Ok(Timestamps {
        last_access: ts(meta.atime(), meta.atime_nsec()),
        last_modification: ts(meta.mtime(), meta.mtime_nsec()),
    })
}

fn same(a: &Timestamps, b: &Timestamps) -> bool {
    a.last_modification.tv_sec == b.last_modification.tv_sec
        && a.last_modification.tv_nsec == b.last_modification.tv_nsec
}

impl MountStubs {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        MountStubs {
            root: root.into(),
            created: Vec::new(),
            parents: Vec::new(),
        }
    }

    /// Resolves `target` (a rootfs path) and makes sure a `kind` exists there, creating it and
    /// its missing parents. Returns the host path to mount on.
    pub fn ensure(&mut self, target: &Path, kind: Kind) -> Result<PathBuf> {
        let host = resolve_in_root(&self.root, target)?;
        match std::fs::metadata(&host) {
            Ok(meta) if meta.is_dir() == (kind == Kind::Dir) => return Ok(host),
            Ok(_) => {
                return Err(Error::MountPointType {
                    path: target.to_owned(),
                    expected: kind.name(),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(Error::Io {
                    action: "inspect",
                    path: host,
                    source,
                });
            }
        }
        // The nearest existing ancestor; resolution keeps the result under the root, so the
        // walk ends at the root at the latest.
        let mut missing = vec![host.clone()];
        let mut existing = host
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.root.clone());
        while !existing.exists() && existing.starts_with(&self.root) && existing != self.root {
            missing.push(existing.clone());
            existing = existing
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| self.root.clone());
        }
        let before = times(&existing)?;
        for (i, path) in missing.iter().rev().enumerate() {
            let is_last = i + 1 == missing.len();
            let this_kind = if is_last { kind } else { Kind::Dir };
            // Whatever the caller's umask, the modes Docker gives mount points it creates: a
            // directory the run fills stays in the layer.
            use std::os::unix::fs::PermissionsExt;
            let (created, mode) = match this_kind {
                Kind::Dir => (std::fs::create_dir(path), 0o755),
                Kind::File => (std::fs::File::create_new(path).map(drop), 0o644),
            };
            let created = created.and_then(|()| {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            });
            created.map_err(|source| Error::Io {
                action: "create mount point",
                path: path.clone(),
                source,
            })?;
            self.created.push(Created {
                host: path.clone(),
                kind: this_kind,
            });
        }
        let after_create = times(&existing)?;
        match self.parents.iter_mut().find(|p| p.dir == existing) {
            // A later stub in the same directory: keep the oldest times, the latest "after".
            Some(parent) => parent.after_create = after_create,
            None => self.parents.push(Parent {
                dir: existing,
                before,
                after_create,
            }),
        }
        Ok(host)
    }

    /// The rootfs paths created so far, in creation order.
    pub fn created(&self) -> Vec<PathBuf> {
        self.created
            .iter()
            .map(|c| self.in_rootfs(&c.host))
            .collect()
    }

    fn in_rootfs(&self, host: &Path) -> PathBuf {
        Path::new("/").join(host.strip_prefix(&self.root).unwrap_or(host))
    }

    /// Removes the stubs, newest first. A directory the run put files in is kept; a parent
    /// directory gets its times back unless the run modified it too.
    pub fn remove(self) -> Result<Removal> {
        // A parent that is itself a stub (`/dev` made for one mount, then `/dev/pipes` inside
        // it for another) goes away with the stubs: only directories of the rootfs get their
        // times back.
        let untouched: Vec<&Parent> = self
            .parents
            .iter()
            .filter(|p| !self.created.iter().any(|c| c.host == p.dir))
            .filter(|p| times(&p.dir).is_ok_and(|now| same(&now, &p.after_create)))
            .collect();
        let mut removal = Removal::default();
        for created in self.created.iter().rev() {
            let result = match created.kind {
                Kind::Dir => std::fs::remove_dir(&created.host),
                Kind::File => std::fs::remove_file(&created.host),
            };
            match result {
                Ok(()) => removal.removed.push(self.in_rootfs(&created.host)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => {
                    removal.kept.push(self.in_rootfs(&created.host));
                }
                Err(source) => {
                    return Err(Error::Io {
                        action: "remove mount point",
                        path: created.host.clone(),
                        source,
                    });
                }
            }
        }
        for parent in untouched {
            rustix::fs::utimensat(CWD, &parent.dir, &parent.before, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| Error::Io {
                    action: "restore the times of",
                    path: parent.dir.clone(),
                    source: e.into(),
                })?;
        }
        removal.removed.reverse();
        Ok(removal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mtime(path: &Path) -> (i64, i64) {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::symlink_metadata(path).expect("stat");
        (meta.mtime(), meta.mtime_nsec())
    }

    #[test]
    fn created_stubs_are_removed_and_parent_times_restored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir(root.join("etc")).expect("mkdir");
        std::fs::create_dir(root.join("proc")).expect("mkdir");
        let old = rustix::fs::Timespec {
            tv_sec: 1_000_000,
            tv_nsec: 5,
        };
        let stamp = Timestamps {
            last_access: old,
            last_modification: old,
        };
        for d in [root.to_path_buf(), root.join("etc")] {
            rustix::fs::utimensat(CWD, &d, &stamp, AtFlags::empty()).expect("utimensat");
        }

        let mut stubs = MountStubs::new(root);
        assert_eq!(
            stubs.ensure(Path::new("/proc"), Kind::Dir).expect("proc"),
            root.join("proc")
        );
        stubs
            .ensure(Path::new("/etc/hosts"), Kind::File)
            .expect("hosts");
        stubs
            .ensure(Path::new("/etc/hostname"), Kind::File)
            .expect("hostname");
        stubs.ensure(Path::new("/sys"), Kind::Dir).expect("sys");
        assert_eq!(
            stubs.created(),
            [
                Path::new("/etc/hosts"),
                Path::new("/etc/hostname"),
                Path::new("/sys")
            ]
        );
        assert!(root.join("etc/hosts").is_file());

        let removal = stubs.remove().expect("remove");
        assert_eq!(
            removal.removed,
            [
                Path::new("/etc/hosts"),
                Path::new("/etc/hostname"),
                Path::new("/sys")
            ]
        );
        assert!(removal.kept.is_empty());
        assert!(!root.join("etc/hosts").exists() && !root.join("sys").exists());
        assert_eq!(mtime(&root.join("etc")), (1_000_000, 5));
        assert_eq!(mtime(root), (1_000_000, 5));
    }

    #[test]
    fn a_stub_inside_another_stub_is_removed_without_restoring_its_parent() {
        // A heredoc script mounted at /dev/pipes/NAME in a rootfs without /dev: /dev is a stub
        // for the /dev mount, and /dev/pipes/NAME a stub inside it.
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let mut stubs = MountStubs::new(root);
        stubs.ensure(Path::new("/dev"), Kind::Dir).expect("dev");
        stubs
            .ensure(Path::new("/dev/pipes/EOF"), Kind::File)
            .expect("script");
        let removal = stubs.remove().expect("remove");
        assert_eq!(
            removal.removed,
            [
                Path::new("/dev"),
                Path::new("/dev/pipes"),
                Path::new("/dev/pipes/EOF")
            ]
        );
        assert!(!root.join("dev").exists());
    }

    #[test]
    fn stubs_get_fixed_modes_whatever_the_umask() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
        let mut stubs = MountStubs::new(dir.path());
        let made = stubs.ensure(Path::new("/etc/hosts"), Kind::File);
        rustix::process::umask(old);
        made.expect("ensure");
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &str| {
            std::fs::metadata(dir.path().join(p))
                .expect("stat")
                .permissions()
                .mode()
                & 0o7777
        };
        assert_eq!((mode("etc"), mode("etc/hosts")), (0o755, 0o644));
        stubs.remove().expect("remove");
    }

    #[test]
    fn a_stub_directory_the_run_filled_is_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let mut stubs = MountStubs::new(root);
        stubs
            .ensure(Path::new("/etc/resolv.conf"), Kind::File)
            .expect("resolv.conf");
        std::fs::write(root.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").expect("write");
        let removal = stubs.remove().expect("remove");
        assert_eq!(removal.removed, [Path::new("/etc/resolv.conf")]);
        assert_eq!(removal.kept, [Path::new("/etc")]);
        assert!(root.join("etc/passwd").exists());
    }

    #[test]
    fn a_symlinked_mount_point_is_created_inside_the_rootfs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir(root.join("etc")).expect("mkdir");
        std::os::unix::fs::symlink("/../../run/resolv.conf", root.join("etc/resolv.conf"))
            .expect("symlink");
        let mut stubs = MountStubs::new(root);
        let host = stubs
            .ensure(Path::new("/etc/resolv.conf"), Kind::File)
            .expect("ensure");
        assert_eq!(host, root.join("run/resolv.conf"));
        assert!(host.is_file());
    }

    #[test]
    fn a_mount_point_of_the_wrong_type_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("proc"), "").expect("write");
        let mut stubs = MountStubs::new(dir.path());
        let err = stubs
            .ensure(Path::new("/proc"), Kind::Dir)
            .expect_err("file at /proc");
        assert_eq!(
            err.to_string(),
            "mount point /proc exists in the rootfs and is not a directory"
        );
    }
}
