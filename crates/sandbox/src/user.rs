//! Users and groups, read from the rootfs' own `/etc/passwd` and `/etc/group`.
//!
//! Owns: parsing both files and resolving a Dockerfile `USER` value (`name`, `uid`,
//! `name:group`, `uid:gid`, `name:gid`, `uid:group`) to the numeric identity a RUN process gets:
//! uid, primary gid, supplementary gids and `HOME`.
//!
//! Does not own: reading the host's databases. NSS is never consulted; an image's users are the
//! image's files. Applying the identity to a process is `init`'s job.
//!
//! The rules are the ones Docker, BuildKit and runc share (`moby/sys/user` `GetExecUser`):
//! - a name must be in passwd, a number need not be (then gid 0 and `HOME=/`);
//! - a number is matched against uids only, a name against names only; the first entry wins;
//! - an explicit group replaces the primary gid and turns supplementary groups off; without one,
//!   the supplementary groups are every group whose member list names the matched user;
//! - `HOME` is the home of the first passwd entry with the resulting uid, `/` when there is none.
//!
//! Format: passwd(5) and group(5). Malformed numeric fields read as 0, as in runc.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::resolve;

/// The largest uid or gid a `USER` value may name (runc keeps ids within `i32`).
pub const MAX_ID: i64 = i32::MAX as i64;

/// The most bytes read from either database file; a larger file is refused.
const MAX_FILE_BYTES: u64 = 10 << 20;

/// The identity a RUN process runs as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups, in `/etc/group` order, without duplicates.
    pub additional_gids: Vec<u32>,
    /// The value for `HOME` when the environment does not set it.
    pub home: String,
}

/// Why a `USER` value could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("unable to find user {name}: no matching entries in passwd file")]
    NoSuchUser { name: String },
    #[error("unable to find group {name}: no matching entries in group file")]
    NoSuchGroup { name: String },
    #[error("uids and gids must be in range 0-{MAX_ID}, got {value}")]
    OutOfRange { value: String },
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is larger than {MAX_FILE_BYTES} bytes", path.display())]
    TooLarge { path: PathBuf },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PasswdEntry {
    name: String,
    uid: i64,
    gid: i64,
    home: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct GroupEntry {
    name: String,
    gid: i64,
    members: Vec<String>,
}

/// One side of a `USER` value: a name, or a number within range.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Id {
    Name(String),
    Number(i64),
}

/// Resolves `spec` against the passwd and group files of `rootfs`, following symlinks inside
/// the rootfs. A missing file counts as empty, as in Docker.
pub fn resolve_in_rootfs(rootfs: &Path, spec: &str) -> Result<ExecUser, UserError> {
    let passwd = read_database(rootfs, "/etc/passwd")?;
    let group = read_database(rootfs, "/etc/group")?;
    resolve(spec, passwd.as_deref(), group.as_deref())
}

fn read_database(rootfs: &Path, path: &str) -> Result<Option<String>, UserError> {
    use std::io::Read;
    let read_err = |source| UserError::Read {
        path: PathBuf::from(path),
        source,
    };
    let host = match resolve::resolve_in_root(rootfs, Path::new(path)) {
        Ok(host) => host,
        Err(resolve::ResolveError::Io { source, .. }) => return Err(read_err(source)),
        Err(e) => return Err(read_err(std::io::Error::other(e))),
    };
    let file = match std::fs::File::open(&host) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_err(e)),
    };
    // Like runc, something that is not a regular file (a FIFO, a device) is not a database.
    if !file.metadata().map_err(read_err)?.is_file() {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(UserError::TooLarge {
            path: PathBuf::from(path),
        });
    }
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// Resolves a `USER` value against the given file contents (`None`: the file does not exist).
pub fn resolve(
    spec: &str,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ExecUser, UserError> {
    let (user_part, group_part) = spec.split_once(':').unwrap_or((spec, ""));
    let user_arg = parse_id(user_part)?;
    let group_arg = parse_id(group_part)?;
    let users = passwd.map(parse_passwd).unwrap_or_default();

    let (mut uid, mut gid, mut matched_name) = (0i64, 0i64, None);
    let found = users.iter().find(|u| match &user_arg {
        None => u.uid == 0,
        Some(Id::Number(n)) => u.uid == *n,
        Some(Id::Name(name)) => &u.name == name,
    });
    match (found, &user_arg) {
        (Some(entry), _) => {
            uid = entry.uid;
            gid = entry.gid;
            matched_name = Some(entry.name.as_str());
        }
        (None, Some(Id::Number(n))) => uid = *n,
        (None, Some(Id::Name(name))) => return Err(UserError::NoSuchUser { name: name.clone() }),
        (None, None) => {}
    }

    let mut additional = Vec::new();
    if group_arg.is_some() || matched_name.is_some() {
        let groups = group.map(parse_group).unwrap_or_default();
        match &group_arg {
            Some(arg) => {
                let found = groups.iter().find(|g| match arg {
                    Id::Number(n) => g.gid == *n,
                    Id::Name(name) => &g.name == name,
                });
                gid = match (found, arg) {
                    (Some(entry), _) => entry.gid,
                    (None, Id::Number(n)) => *n,
                    (None, Id::Name(name)) => {
                        return Err(UserError::NoSuchGroup { name: name.clone() });
                    }
                };
            }
            None => {
                let name = matched_name.unwrap_or_default();
                for entry in groups
                    .iter()
                    .filter(|g| g.members.iter().any(|m| m == name))
                {
                    let id = to_id(entry.gid)?;
                    if !additional.contains(&id) {
                        additional.push(id);
                    }
                }
            }
        }
    }

    let home = users
        .iter()
        .find(|u| u.uid == uid)
        .map_or("/", |u| u.home.as_str());
    Ok(ExecUser {
        uid: to_id(uid)?,
        gid: to_id(gid)?,
        additional_gids: additional,
        home: home.into(),
    })
}

/// The name of the first passwd entry with `uid` (for the host's own database, where the
/// rootless setup looks up the invoking user's subordinate ids).
pub(crate) fn name_of_uid(passwd: &str, uid: u32) -> Option<String> {
    parse_passwd(passwd)
        .into_iter()
        .find(|u| u.uid == i64::from(uid))
        .map(|u| u.name)
}

/// `""` is no argument, a string `str::parse` reads as an integer is a number (in range, or an
/// error), anything else is a name.
fn parse_id(part: &str) -> Result<Option<Id>, UserError> {
    if part.is_empty() {
        return Ok(None);
    }
    let digits = part.strip_prefix(['+', '-']).unwrap_or(part);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Some(Id::Name(part.to_owned())));
    }
    match part.parse::<i64>() {
        Ok(n) if (0..=MAX_ID).contains(&n) => Ok(Some(Id::Number(n))),
        _ => Err(UserError::OutOfRange {
            value: part.to_owned(),
        }),
    }
}

fn to_id(n: i64) -> Result<u32, UserError> {
    if (0..=MAX_ID).contains(&n) {
        Ok(n as u32)
    } else {
        Err(UserError::OutOfRange {
            value: n.to_string(),
        })
    }
}

/// A numeric field as runc reads it: anything unparsable is 0.
fn lenient_number(field: &str) -> i64 {
    field.parse().unwrap_or(0)
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| {
            // name:password:UID:GID:GECOS:directory:shell
            let mut fields = line.split(':');
            let name = fields.next().unwrap_or_default().to_owned();
            let _password = fields.next();
            let uid = lenient_number(fields.next().unwrap_or_default());
            let gid = lenient_number(fields.next().unwrap_or_default());
            let _gecos = fields.next();
            let home = fields.next().unwrap_or_default().to_owned();
            PasswdEntry {
                name,
                uid,
                gid,
                home,
            }
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            // group_name:password:GID:user_list
            let mut fields = line.split(':');
            let name = fields.next().unwrap_or_default().to_owned();
            let _password = fields.next();
            let gid = lenient_number(fields.next().unwrap_or_default());
            let members = match fields.next() {
                Some(list) if !list.is_empty() => list.split(',').map(str::to_owned).collect(),
                _ => Vec::new(),
            };
            GroupEntry { name, gid, members }
        })
        .collect()
}

#[cfg(test)]
#[path = "user_tests.rs"]
mod tests;
