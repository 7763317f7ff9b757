//! Preparing a run in the caller: from a [`RunSpec`] to the plan the sandbox init executes.
//!
//! Owns: resolving the user in the rootfs, completing the environment (`HOME`), checking that
//! the spec fits the mode, creating the mount points the rootfs lacks (recorded in
//! [`MountStubs`] so they can be removed afterwards), and the list of mount steps with every
//! target resolved inside the rootfs.
//!
//! Does not own: executing the plan (`init`) or spawning the init (`run`).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::idmap::IdMapping;
use crate::mounts::{self, Step};
use crate::resolve::resolve_in_root;
use crate::spec::{Isolation, Mount, NetworkMode, RunSpec};
use crate::stubs::{Kind, MountStubs};
use crate::user;
use crate::wire::{Command, Plan};

/// A prepared run: the plan, and the stubs to remove when it is over.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub plan: Plan,
    pub stubs: Option<MountStubs>,
}

/// Prepares `spec` for `isolation` (never `Auto`). `idmap` is the rootless user namespace's.
pub(crate) fn prepare(
    spec: &RunSpec,
    isolation: Isolation,
    idmap: Option<IdMapping>,
) -> Result<Prepared> {
    if spec.argv.is_empty() {
        return Err(Error::EmptyCommand);
    }
    let unsupported = |reason: String| Error::Unsupported { isolation, reason };
    let rootfs = std::fs::canonicalize(&spec.rootfs).map_err(|source| Error::Io {
        action: "open the rootfs",
        path: spec.rootfs.clone(),
        source,
    })?;
    let mut user = user::resolve_in_rootfs(&rootfs, &spec.user)?;
    let mut env = spec.env.clone();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }
    if let Some(idmap) = &idmap {
        if !idmap.maps_uid(user.uid) || !idmap.maps_gid(user.gid) {
            return Err(unsupported(format!(
                "user {}:{} is not mapped in the user namespace (the invoking user has no \
                 subordinate ids in /etc/subuid and /etc/subgid, or newuidmap is missing)",
                user.uid, user.gid
            )));
        }
    }
    // A namespace whose maps were written from inside denies setgroups(2): the rootless
    // sandbox's own, or the one a build started without subordinate ids runs in.
    let groups_denied = crate::rootless::setgroups_denied();
    let set_groups = idmap.as_ref().is_none_or(IdMapping::allows_setgroups) && !groups_denied;
    if groups_denied {
        // Nothing in the namespace kiln itself runs in can set supplementary groups (a build
        // started without subordinate ids): RUN goes without them, as a rootless container
        // without subordinate ids does.
        user.additional_gids.clear();
    }
    // In place, RUN keeps what the dedicated container grants, as in Kaniko.
    let limit_capabilities = isolation != Isolation::None;
    let command = Command {
        argv: spec.argv.clone(),
        env,
        cwd: spec.cwd.clone(),
        user,
        set_groups,
        limit_capabilities,
    };

    let (steps, stubs) = match isolation {
        Isolation::None => {
            if rootfs != Path::new("/") {
                return Err(unsupported(format!(
                    "it runs in place and needs the rootfs to be /, not {}",
                    spec.rootfs.display()
                )));
            }
            if !spec.mounts.is_empty() || spec.hostname.is_some() {
                return Err(unsupported(
                    "bind mounts and a hostname need namespaces it does not create".into(),
                ));
            }
            if spec.network == NetworkMode::None {
                return Err(unsupported(
                    "RUN --network=none needs a network namespace it does not create".into(),
                ));
            }
            (Vec::new(), None)
        }
        Isolation::Chroot | Isolation::Rootless => {
            // Mount points would be created in the host's own tree, and nothing isolated.
            if rootfs == Path::new("/") {
                return Err(unsupported(
                    "the rootfs is the host's /; isolation none runs in place".into(),
                ));
            }
            let mut stubs = MountStubs::new(&rootfs);
            match steps(spec, &rootfs, isolation, idmap.as_ref(), &mut stubs) {
                Ok(steps) => (steps, Some(stubs)),
                Err(e) => {
                    // Whatever was created before the failure goes again.
                    let _ = stubs.remove();
                    return Err(e);
                }
            }
        }
        Isolation::Auto => return Err(unsupported("the caller must resolve it first".into())),
    };
    Ok(Prepared {
        plan: Plan {
            isolation,
            steps,
            idmap,
            network: spec.network,
            command,
        },
        stubs,
    })
}

fn steps(
    spec: &RunSpec,
    rootfs: &Path,
    isolation: Isolation,
    idmap: Option<&IdMapping>,
    stubs: &mut MountStubs,
) -> Result<Vec<Step>> {
    let in_userns = in_user_namespace(isolation);
    let mut steps = vec![
        Step::MakePrivate,
        Step::BindRoot {
            rootfs: rootfs.to_path_buf(),
        },
    ];
    steps.push(Step::Proc {
        target: stubs.ensure(Path::new("/proc"), Kind::Dir)?,
    });
    // devpts takes the tty group only where gid 5 exists: in the run's user namespace, and in
    // the one this process may already be in (a whole build started without root).
    let pts_gid = mapped(idmap, "gid_map", 5).then_some(5);
    let dev = stubs.ensure(Path::new("/dev"), Kind::Dir)?;
    steps.push(Step::Dev {
        target: dev.clone(),
        pts_gid,
    });
    // In a user namespace the host's sub-mounts of /sys are locked to it: only a recursive
    // bind is allowed there.
    steps.push(Step::Bind {
        source: PathBuf::from("/sys"),
        target: stubs.ensure(Path::new("/sys"), Kind::Dir)?,
        recursive: in_userns,
        read_only: true,
    });
    // /proc and /sys are mounted only inside, so these targets are checked when applied.
    steps.extend(mounts::MASKED_PATHS.iter().map(|p| Step::Mask {
        target: rootfs.join(p),
    }));
    steps.extend(mounts::READ_ONLY_PATHS.iter().map(|p| Step::ReadOnly {
        target: rootfs.join(p),
    }));
    let dev_target = |target: &Path, kind: Kind, steps: &mut Vec<Step>, stubs: &mut MountStubs| {
        let under_dev = target
            .strip_prefix("/dev")
            .ok()
            .filter(|rel| !rel.as_os_str().is_empty());
        match under_dev {
            // /dev is the tmpfs mounted above: a stub in the rootfs would be hidden by it, so
            // the mount point is made inside the tmpfs when the plan runs (a heredoc script at
            // /dev/pipes/NAME).
            Some(rel) => {
                let target = dev.join(rel);
                steps.push(Step::MountPoint {
                    target: target.clone(),
                    dir: kind == Kind::Dir,
                });
                Ok(target)
            }
            None => stubs.ensure(target, kind),
        }
    };
    for (n, mount) in spec.mounts.iter().enumerate() {
        if let Mount::File { uid, gid, .. } | Mount::Owner { uid, gid, .. } = mount {
            for (map, name, id) in [("uid_map", "uid", *uid), ("gid_map", "gid", *gid)] {
                if !mapped(idmap, map, id) {
                    return Err(Error::Unsupported {
                        isolation,
                        reason: format!(
                            "a mount is owned by {name} {id}, which the user namespace does not \
                             map (the invoking user has no subordinate ids in /etc/subuid and \
                             /etc/subgid, or newuidmap is missing)"
                        ),
                    });
                }
            }
        }
        let step = match mount {
            Mount::Bind(bind) => {
                let meta = std::fs::metadata(&bind.source).map_err(|source| Error::Io {
                    action: "inspect bind source",
                    path: bind.source.clone(),
                    source,
                })?;
                let kind = if meta.is_dir() { Kind::Dir } else { Kind::File };
                Step::Bind {
                    source: bind.source.clone(),
                    target: dev_target(&bind.target, kind, &mut steps, stubs)?,
                    recursive: kind == Kind::Dir,
                    read_only: bind.read_only,
                }
            }
            Mount::Tmpfs { target, size } => Step::Tmpfs {
                target: dev_target(target, Kind::Dir, &mut steps, stubs)?,
                size: *size,
            },
            Mount::Scratch { lower, target } => Step::Overlay {
                lower: lower.clone(),
                target: dev_target(target, Kind::Dir, &mut steps, stubs)?,
                staging: dev.join(format!(".kiln-rw-{n}")),
                user_xattr: in_userns,
            },
            Mount::File {
                target,
                contents,
                uid,
                gid,
                mode,
            } => Step::File {
                staging: dev.join(format!(".kiln-file-{n}")),
                target: dev_target(target, Kind::File, &mut steps, stubs)?,
                contents: contents.clone(),
                uid: *uid,
                gid: *gid,
                mode: *mode,
            },
            Mount::Owner {
                target,
                uid,
                gid,
                mode,
            } => Step::Owner {
                target: resolve_in_root(rootfs, target)?,
                uid: *uid,
                gid: *gid,
                mode: *mode,
            },
        };
        steps.push(step);
    }
    if spec.network == NetworkMode::None {
        steps.push(Step::Loopback);
    }
    if let Some(name) = &spec.hostname {
        steps.push(Step::Hostname { name: name.clone() });
    }
    steps.push(Step::PivotRoot {
        rootfs: rootfs.to_path_buf(),
    });
    Ok(steps)
}

/// Whether `id` is mapped where the run's namespaces are made: by the run's own user
/// namespace (`idmap`), else by the one this process is in, which a whole build started
/// without root has entered (`/proc/self/uid_map` or `gid_map`; every id without one).
fn mapped(idmap: Option<&IdMapping>, map: &str, id: u32) -> bool {
    match idmap {
        Some(m) if map == "uid_map" => m.maps_uid(id),
        Some(m) => m.maps_gid(id),
        None => std::fs::read_to_string(format!("/proc/self/{map}"))
            .map_or(true, |text| map_contains(&text, id)),
    }
}

/// Whether the `uid_map`/`gid_map` text `map` maps the id `id` (inside the namespace).
fn map_contains(map: &str, id: u32) -> bool {
    map.lines().any(|line| {
        let mut fields = line.split_whitespace().map(str::parse::<u64>);
        match (fields.next(), fields.next(), fields.next()) {
            (Some(Ok(inside)), Some(Ok(_)), Some(Ok(count))) => {
                (inside..inside.saturating_add(count)).contains(&u64::from(id))
            }
            _ => false,
        }
    })
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;

/// Whether the run happens in a user namespace: its own (rootless), or the one a build started
/// without root runs in. Mounts the host made are locked there, and overlayfs keeps its
/// metadata in `user.*` xattrs.
fn in_user_namespace(isolation: Isolation) -> bool {
    isolation == Isolation::Rootless || crate::rootless::in_user_namespace()
}
