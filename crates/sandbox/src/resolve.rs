//! Path resolution inside a rootfs, as if the rootfs were `/`.
//!
//! Owns: turning a container path (`/etc/resolv.conf`) into the host path it names under the
//! rootfs, following symlinks the way the kernel would after a chroot: absolute targets restart
//! at the rootfs, `..` never climbs above it. The sandbox uses it for the files it reads
//! (`/etc/passwd`) and for every mount point it creates, so that an image's symlink can never
//! send a bind mount or a read outside the rootfs.
//!
//! Does not own: the resolver `kiln-fs` uses for COPY and extraction. This one only runs while
//! nothing else is changing the rootfs (before a RUN starts), so a plain walk is enough.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// How many symlinks one resolution may follow, as the kernel's `MAXSYMLINKS`.
const MAX_SYMLINKS: usize = 40;

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("too many levels of symbolic links resolving {} in the rootfs", path.display())]
    Loop { path: PathBuf },
    #[error("cannot inspect {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Resolves `path` (absolute or relative to `/`) inside `root`. Every symlink on the way is
/// followed, the last component's too. Missing components are kept as they are, so the result
/// may not exist yet; it is always `root` or below it.
pub fn resolve_in_root(root: &Path, path: &Path) -> Result<PathBuf, ResolveError> {
    let mut resolved: Vec<OsString> = Vec::new();
    let mut pending: VecDeque<OsString> = components(path).collect();
    let mut followed = 0;
    while let Some(name) = pending.pop_front() {
        if name == ".." {
            resolved.pop();
            continue;
        }
        let candidate = join(root, &resolved).join(&name);
        let meta = match std::fs::symlink_metadata(&candidate) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Nothing below a missing component can be a symlink: keep the rest literally,
                // still without letting `..` climb out.
                resolved.push(name);
                for rest in pending.drain(..) {
                    if rest == ".." {
                        resolved.pop();
                    } else {
                        resolved.push(rest);
                    }
                }
                break;
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
                resolved.push(name);
                resolved.extend(pending.drain(..));
                break;
            }
            Err(source) => {
                return Err(ResolveError::Io {
                    path: candidate,
                    source,
                });
            }
        };
        if !meta.file_type().is_symlink() {
            resolved.push(name);
            continue;
        }
        followed += 1;
        if followed > MAX_SYMLINKS {
            return Err(ResolveError::Loop {
                path: path.to_owned(),
            });
        }
        let target = std::fs::read_link(&candidate).map_err(|source| ResolveError::Io {
            path: candidate.clone(),
            source,
        })?;
        if target.is_absolute() {
            resolved.clear();
        }
        for (i, part) in components(&target).enumerate() {
            pending.insert(i, part);
        }
    }
    Ok(join(root, &resolved))
}

/// The normal and `..` components of `path`; the root and `.` say nothing here.
fn components(path: &Path) -> impl Iterator<Item = OsString> + '_ {
    path.components().filter_map(|c| match c {
        Component::Normal(name) => Some(name.to_owned()),
        Component::ParentDir => Some(OsString::from("..")),
        Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
    })
}

fn join(root: &Path, parts: &[OsString]) -> PathBuf {
    let mut out = root.to_path_buf();
    out.extend(parts);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc")).expect("mkdir");
        std::fs::create_dir_all(root.join("run/real")).expect("mkdir");
        symlink("/run/real/resolv.conf", root.join("etc/resolv.conf")).expect("symlink");
        symlink("../../../../../../etc", root.join("run/up")).expect("symlink");
        symlink("/", root.join("run/slash")).expect("symlink");
        symlink("loop2", root.join("loop1")).expect("symlink");
        symlink("loop1", root.join("loop2")).expect("symlink");
        symlink("real", root.join("run/rel")).expect("symlink");

        let cases: &[(&str, &str)] = &[
            ("/etc/hosts", "etc/hosts"),
            ("etc/hosts", "etc/hosts"),
            ("/etc/resolv.conf", "run/real/resolv.conf"),
            ("/../../etc/passwd", "etc/passwd"),
            ("/run/up/passwd", "etc/passwd"),
            ("/run/slash/etc", "etc"),
            ("/run/rel/x", "run/real/x"),
            ("/missing/../../etc", "etc"),
            ("/", ""),
        ];
        for (input, want) in cases {
            let got = resolve_in_root(root, Path::new(input)).expect(input);
            assert_eq!(got, root.join(want), "{input}");
        }
        assert!(matches!(
            resolve_in_root(root, Path::new("/loop1")),
            Err(ResolveError::Loop { .. })
        ));
    }
}
