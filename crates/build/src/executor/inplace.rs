//! Building in place (`--isolation=none`, Kaniko's way inside a dedicated container): a stage's
//! rootfs is `/` itself and RUN runs in it directly.
//!
//! Owns: the in-place ignore list (kiln's own directory and work directory, `/proc`, `/sys`,
//! `/dev`, every mount point of `/proc/self/mountinfo`, `/var/run` with `--ignore-var-run`,
//! `--ignore-path`, and what kiln still reads during the build: its executable, the context,
//! the Dockerfile, `--cache-dir`, the output paths); clearing `/` before a stage's base is
//! extracted into it, as Kaniko deletes the filesystem between stages; refusing `none` where
//! nothing says this is a container, unless `--force`; and fitting a RUN to the mode: the
//! container's own hostname and network files, a heredoc script written where BuildKit mounts
//! it (under `/dev`, ignored) and removed after the run, and any other mount refused by name.
//!
//! Does not own: extraction ([`super::base`]), snapshots (`kiln_fs::snapshot`), running the
//! process (`kiln-sandbox`, whose `none` mode starts it in place).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use kiln_fs::ignore_list::IgnoreList;
use kiln_sandbox::{Isolation, Mount, RunSpec};

use super::error::Error;
use crate::error::StageRef;
use crate::exec::run::SCRIPT_DIR;

/// What an in-place build leaves alone, from the flags.
#[derive(Debug, Clone, Default)]
pub struct InPlace {
    /// kiln's own directory (`--kaniko-dir`, `KANIKO_DIR`), which holds the work directory.
    pub kaniko_dir: PathBuf,
    /// `--ignore-var-run`.
    pub ignore_var_run: bool,
    /// Paths kiln reads or writes during the build outside its own directory: never deleted,
    /// never extracted over, never part of a layer.
    pub keep: Vec<PathBuf>,
    /// `--force`: build in place even where nothing says this is a container.
    pub force: bool,
}

/// The paths an in-place build in `/` skips.
pub fn ignore_list(
    in_place: &InPlace,
    work_dir: &Path,
    ignore_paths: &[PathBuf],
) -> Result<IgnoreList, Error> {
    let own_dir = std::path::absolute(&in_place.kaniko_dir).map_err(|source| Error::Io {
        path: in_place.kaniko_dir.clone(),
        source,
    })?;
    if own_dir.parent().is_none() {
        return Err(Error::InPlace {
            what: "the kaniko directory is /, which would keep all of / out of the image"
                .to_owned(),
            source: None,
        });
    }
    let mut list = IgnoreList::kaniko_defaults(&own_dir);
    list.add_path(work_dir);
    for path in ["/proc", "/sys", "/dev"] {
        list.add_path(Path::new(path));
    }
    list.add_own_mounts().map_err(|source| Error::InPlace {
        what: "cannot list the mount points to keep".to_owned(),
        source: Some(Box::new(source)),
    })?;
    if in_place.ignore_var_run {
        list.add_var_run();
    }
    for pattern in ignore_paths {
        list.add_glob(&pattern.to_string_lossy())
            .map_err(|source| Error::InPlace {
                what: format!("cannot keep --ignore-path {}", pattern.display()),
                source: Some(Box::new(source)),
            })?;
    }
    let exe = std::env::current_exe().ok();
    for path in in_place.keep.iter().chain(exe.as_ref()) {
        if let Ok(path) = std::path::absolute(path) {
            if path.parent().is_some() {
                list.add_path(&path);
            }
        }
    }
    Ok(list)
}

/// Fails for `none` chosen by flag where nothing says this process runs in a container, unless
/// `--force`: building in `/` deletes what is there.
pub fn check_container(in_place: &InPlace) -> Result<(), kiln_sandbox::Error> {
    if in_place.force || kiln_sandbox::probe::container_evidence().is_some() {
        return Ok(());
    }
    Err(kiln_sandbox::Error::Unsupported {
        isolation: Isolation::None,
        reason: "it builds in / itself, deleting what is there, and nothing says this process \
                 runs in a container (no /.dockerenv, /run/.containerenv, \
                 KUBERNETES_SERVICE_HOST, container variable or container cgroup); pass \
                 --force if / is a throwaway"
            .to_owned(),
    })
}

/// Deletes everything in `/` that `ignore` does not cover, entering the directories that hold
/// an ignored path and never crossing into another filesystem.
pub fn clear_root(ignore: &IgnoreList, stage: &StageRef) -> Result<usize, Error> {
    let root = Path::new("/");
    let device = std::fs::symlink_metadata(root)
        .map_err(|source| Error::Io {
            path: root.to_owned(),
            source,
        })?
        .dev();
    let mut removed = 0;
    clear_dir(root, device, ignore, &mut removed).map_err(|(path, source)| Error::InPlace {
        what: format!("cannot delete {} before {stage}", path.display()),
        source: Some(Box::new(source)),
    })?;
    Ok(removed)
}

fn clear_dir(
    dir: &Path,
    device: u64,
    ignore: &IgnoreList,
    removed: &mut usize,
) -> Result<(), (PathBuf, std::io::Error)> {
    let at = |path: &Path| {
        let path = path.to_owned();
        move |e| (path, e)
    };
    for entry in std::fs::read_dir(dir).map_err(at(dir))? {
        let path = entry.map_err(at(dir))?.path();
        if ignore.is_ignored(&path) {
            continue;
        }
        let meta = std::fs::symlink_metadata(&path).map_err(at(&path))?;
        if meta.is_dir() {
            if meta.dev() != device {
                // A mount the table did not list when the list was made: not ours to delete.
                continue;
            }
            if ignore.holds_ignored(&path) {
                clear_dir(&path, device, ignore, removed)?;
                continue;
            }
            std::fs::remove_dir_all(&path).map_err(at(&path))?;
        } else {
            std::fs::remove_file(&path).map_err(at(&path))?;
        }
        *removed += 1;
    }
    Ok(())
}

/// A heredoc script written in place for one RUN, removed when dropped.
#[derive(Debug, Default)]
pub struct Placed {
    files: Vec<PathBuf>,
}

impl Drop for Placed {
    fn drop(&mut self) {
        for file in &self.files {
            if let Err(e) = std::fs::remove_file(file) {
                tracing::warn!("cannot remove {}: {e}", file.display());
            }
        }
    }
}

/// Fits `spec` to `none`: no hostname and no network files (the container's own are in force),
/// the heredoc script written at its path under `/dev`; other mounts are refused by name.
/// Leaves a spec for another mode as it is.
pub fn fit_run(
    spec: &mut RunSpec,
    stage: &StageRef,
    span: kiln_dockerfile::Span,
) -> Result<Placed, Error> {
    let mut placed = Placed::default();
    if spec.isolation != Isolation::None {
        return Ok(placed);
    }
    spec.hostname = None;
    let network_files = ["/etc/hosts", "/etc/resolv.conf", "/etc/hostname"];
    for mount in std::mem::take(&mut spec.mounts) {
        let Mount::Bind(bind) = &mount else {
            spec.mounts.push(mount);
            continue;
        };
        if network_files.iter().any(|f| bind.target == Path::new(f)) {
            continue;
        }
        if bind.target.starts_with(SCRIPT_DIR) {
            let io = |path: &Path| {
                let path = path.to_owned();
                move |source| Error::Io { path, source }
            };
            if let Some(parent) = bind.target.parent() {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
            }
            std::fs::copy(&bind.source, &bind.target).map_err(io(&bind.target))?;
            placed.files.push(bind.target.clone());
            continue;
        }
        spec.mounts.push(mount);
    }
    if !spec.mounts.is_empty() {
        return Err(Error::NotSupported {
            span,
            stage: stage.clone(),
            feature: "RUN --mount with --isolation=none (no mount namespace to mount it in)"
                .to_owned(),
        });
    }
    Ok(placed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_in_place_list_keeps_kiln_mounts_and_what_the_flags_name() {
        let in_place = InPlace {
            kaniko_dir: PathBuf::from("/kaniko"),
            ignore_var_run: true,
            keep: vec![PathBuf::from("/workspace"), PathBuf::from("/")],
            force: false,
        };
        let work = Path::new("/srv/kiln-work");
        let list = ignore_list(&in_place, work, &[PathBuf::from("/cache/*.log")]).expect("list");
        let cases = [
            ("/kaniko/executor", true),
            ("/srv/kiln-work/layers", true),
            ("/proc/self", true),
            ("/sys/kernel", true),
            ("/dev/null", true),
            ("/var/run/x", true),
            ("/cache/a.log", true),
            ("/workspace/Dockerfile", true),
            ("/etc/passwd", false),
            ("/bin/sh", false),
            ("/cache/a.txt", false),
        ];
        for (path, ignored) in cases {
            assert_eq!(list.is_ignored(Path::new(path)), ignored, "{path}");
        }
        let exe = std::env::current_exe().expect("exe");
        assert!(list.is_ignored(&exe), "{}", exe.display());

        let root = InPlace {
            kaniko_dir: PathBuf::from("/"),
            ..in_place
        };
        let err = ignore_list(&root, work, &[]).expect_err("/ as the kaniko dir");
        assert!(err.to_string().contains("kaniko directory is /"), "{err}");
    }

    #[test]
    fn a_run_in_place_keeps_the_containers_network_files_and_refuses_other_mounts() {
        let stage = StageRef {
            index: 0,
            name: None,
        };
        let span = kiln_dockerfile::Span::default();
        let bind = |target: &str| {
            Mount::Bind(kiln_sandbox::BindMount {
                source: PathBuf::from("/nonexistent/source"),
                target: PathBuf::from(target),
                read_only: true,
            })
        };
        let mut spec = RunSpec::new("/", vec!["true".into()]);
        spec.isolation = Isolation::None;
        spec.hostname = Some("kiln".into());
        spec.mounts = vec![
            bind("/etc/hosts"),
            bind("/etc/resolv.conf"),
            bind("/etc/hostname"),
        ];
        fit_run(&mut spec, &stage, span).expect("fits");
        assert_eq!(spec.hostname, None);
        assert!(spec.mounts.is_empty());

        spec.mounts = vec![bind("/root/.cache")];
        let err = fit_run(&mut spec, &stage, span).expect_err("a cache mount");
        assert!(err.to_string().contains("RUN --mount"), "{err}");

        let mut chroot = RunSpec::new("/rootfs", vec!["true".into()]);
        chroot.hostname = Some("kiln".into());
        chroot.mounts = vec![bind("/etc/hosts")];
        fit_run(&mut chroot, &stage, span).expect("untouched");
        assert_eq!(chroot.mounts.len(), 1);
        assert_eq!(chroot.hostname.as_deref(), Some("kiln"));
    }
}
