//! The uid and gid maps of a rootless sandbox's user namespace.
//!
//! Owns: choosing the maps and how they are written, from the invoking user, `/etc/subuid`,
//! `/etc/subgid` and whether `newuidmap`/`newgidmap` are installed:
//! - the invoking user always becomes root (uid and gid 0) inside;
//! - with the helpers and a subordinate range for the user in both files, the ranges follow
//!   from id 1 on (so `USER 1000` works), written by the setuid helpers from outside;
//! - run as root, every id maps to itself, written directly from outside;
//! - otherwise the namespace maps only root, and `setgroups` is denied as the kernel requires
//!   for an unprivileged single-id map.
//!
//! Format: `subuid(5)`; the map files and the `setgroups` rule are in `user_namespaces(7)`.
//! Does not own: entering the namespace (`init`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// `count` ids from `container` on map to host ids from `host` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdRange {
    pub container: u32,
    pub host: u32,
    pub count: u32,
}

/// Who writes the maps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MapWriter {
    /// The process itself, from inside: a single id, `setgroups` denied.
    Inside,
    /// A helper process left outside the namespace writes `/proc/PID/{uid,gid}_map`
    /// (the invoker is root there).
    Outside,
    /// `newuidmap` and `newgidmap`, run by a helper outside the namespace.
    Helpers {
        newuidmap: PathBuf,
        newgidmap: PathBuf,
    },
}

/// The maps of one user namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMapping {
    pub uids: Vec<IdRange>,
    pub gids: Vec<IdRange>,
    pub writer: MapWriter,
}

/// One `/etc/subuid` or `/etc/subgid` range.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SubRange {
    owner: String,
    start: u32,
    count: u32,
}

fn parse_subid(text: &str) -> Vec<SubRange> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let mut fields = line.split(':');
            let owner = fields.next()?.to_owned();
            let start = fields.next()?.trim().parse().ok()?;
            let count = fields.next()?.trim().parse().ok()?;
            (count > 0).then_some(SubRange {
                owner,
                start,
                count,
            })
        })
        .collect()
}

/// The user's ranges, listed by name or by uid, placed from container id 1 on.
fn ranges_for(text: Option<&str>, name: Option<&str>, id: u32) -> Vec<IdRange> {
    let id = id.to_string();
    let mut next = 1u32;
    let mut out = Vec::new();
    for range in parse_subid(text.unwrap_or_default()) {
        if Some(range.owner.as_str()) == name || range.owner == id {
            out.push(IdRange {
                container: next,
                host: range.start,
                count: range.count,
            });
            next = next.saturating_add(range.count);
        }
    }
    out
}

/// What the host offers a rootless sandbox.
#[derive(Debug, Clone, Default)]
pub struct HostIds<'a> {
    pub uid: u32,
    pub gid: u32,
    pub user_name: Option<&'a str>,
    pub subuid: Option<&'a str>,
    pub subgid: Option<&'a str>,
    pub newuidmap: Option<PathBuf>,
    pub newgidmap: Option<PathBuf>,
}

/// Chooses the maps (see the module doc for the rules).
pub fn plan(host: &HostIds<'_>) -> IdMapping {
    let own_uid = IdRange {
        container: 0,
        host: host.uid,
        count: 1,
    };
    let own_gid = IdRange {
        container: 0,
        host: host.gid,
        count: 1,
    };
    if host.uid == 0 {
        let identity = IdRange {
            container: 0,
            host: 0,
            count: u32::MAX,
        };
        return IdMapping {
            uids: vec![identity],
            gids: vec![identity],
            writer: MapWriter::Outside,
        };
    }
    let sub_uids = ranges_for(host.subuid, host.user_name, host.uid);
    let sub_gids = ranges_for(host.subgid, host.user_name, host.uid);
    if let (Some(newuidmap), Some(newgidmap), false, false) = (
        &host.newuidmap,
        &host.newgidmap,
        sub_uids.is_empty(),
        sub_gids.is_empty(),
    ) {
        return IdMapping {
            uids: std::iter::once(own_uid).chain(sub_uids).collect(),
            gids: std::iter::once(own_gid).chain(sub_gids).collect(),
            writer: MapWriter::Helpers {
                newuidmap: newuidmap.clone(),
                newgidmap: newgidmap.clone(),
            },
        };
    }
    IdMapping {
        uids: vec![own_uid],
        gids: vec![own_gid],
        writer: MapWriter::Inside,
    }
}

/// Reads the host's side of [`plan`] and plans: the invoking user, its name from the host's
/// `/etc/passwd`, its ranges, and the helpers in `/usr/bin` or `/bin`.
pub fn detect() -> IdMapping {
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    let passwd = std::fs::read_to_string("/etc/passwd").ok();
    let name = passwd
        .as_deref()
        .and_then(|p| crate::user::name_of_uid(p, uid));
    let subuid = std::fs::read_to_string("/etc/subuid").ok();
    let subgid = std::fs::read_to_string("/etc/subgid").ok();
    let find = |tool: &str| {
        ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]
            .iter()
            .map(|d| Path::new(d).join(tool))
            .find(|p| p.is_file())
    };
    plan(&HostIds {
        uid,
        gid,
        user_name: name.as_deref(),
        subuid: subuid.as_deref(),
        subgid: subgid.as_deref(),
        newuidmap: find("newuidmap"),
        newgidmap: find("newgidmap"),
    })
}

impl IdMapping {
    /// `setgroups(2)` works only when the maps were not written from inside.
    pub fn allows_setgroups(&self) -> bool {
        self.writer != MapWriter::Inside
    }

    pub fn maps_uid(&self, id: u32) -> bool {
        covers(&self.uids, id)
    }

    pub fn maps_gid(&self, id: u32) -> bool {
        covers(&self.gids, id)
    }
}

fn covers(ranges: &[IdRange], id: u32) -> bool {
    ranges
        .iter()
        .any(|r| id >= r.container && id - r.container < r.count)
}

/// The content of a `uid_map` or `gid_map` file.
pub fn map_file(ranges: &[IdRange]) -> String {
    ranges
        .iter()
        .map(|r| format!("{} {} {}\n", r.container, r.host, r.count))
        .collect()
}

/// The arguments of `newuidmap PID ...` after the pid.
pub fn helper_args(ranges: &[IdRange]) -> Vec<String> {
    ranges
        .iter()
        .flat_map(|r| [r.container, r.host, r.count])
        .map(|n| n.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBUID: &str =
        "alice:100000:65536\n# comment\n1001:300000:10\nbob:200000:65536\nalice:500000:5\n";

    fn host(uid: u32, name: Option<&'static str>, helpers: bool) -> HostIds<'static> {
        HostIds {
            uid,
            gid: uid,
            user_name: name,
            subuid: Some(SUBUID),
            subgid: Some(SUBUID),
            newuidmap: helpers.then(|| "/usr/bin/newuidmap".into()),
            newgidmap: helpers.then(|| "/usr/bin/newgidmap".into()),
        }
    }

    #[test]
    fn maps_follow_the_host() {
        let r = |container, host, count| IdRange {
            container,
            host,
            count,
        };
        let cases = [
            // Subordinate ranges by name, several of them, placed one after the other.
            (
                host(1000, Some("alice"), true),
                vec![r(0, 1000, 1), r(1, 100000, 65536), r(65537, 500000, 5)],
                true,
            ),
            // Ranges listed by uid.
            (
                host(1001, Some("carol"), true),
                vec![r(0, 1001, 1), r(1, 300000, 10)],
                true,
            ),
            // No helpers: only the user itself, written from inside.
            (host(1000, Some("alice"), false), vec![r(0, 1000, 1)], false),
            // No range for the user.
            (host(1002, Some("dave"), true), vec![r(0, 1002, 1)], false),
            // Root maps every id to itself.
            (host(0, Some("root"), false), vec![r(0, 0, u32::MAX)], true),
        ];
        for (input, want, setgroups) in cases {
            let got = plan(&input);
            assert_eq!(got.uids, want, "uid {}", input.uid);
            assert_eq!(got.gids, want, "uid {}", input.uid);
            assert_eq!(got.allows_setgroups(), setgroups, "uid {}", input.uid);
        }
    }

    #[test]
    fn map_files_and_helper_arguments_list_every_range() {
        let ranges = [
            IdRange {
                container: 0,
                host: 1000,
                count: 1,
            },
            IdRange {
                container: 1,
                host: 100000,
                count: 65536,
            },
        ];
        assert_eq!(map_file(&ranges), "0 1000 1\n1 100000 65536\n");
        assert_eq!(
            helper_args(&ranges),
            ["0", "1000", "1", "1", "100000", "65536"]
        );
        let mapping = IdMapping {
            uids: ranges.to_vec(),
            gids: ranges[..1].to_vec(),
            writer: MapWriter::Inside,
        };
        assert!(mapping.maps_uid(0) && mapping.maps_uid(65536) && !mapping.maps_uid(65537));
        assert!(mapping.maps_gid(0) && !mapping.maps_gid(1));
    }
}
