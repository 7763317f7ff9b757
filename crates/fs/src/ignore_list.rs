//! The ignore list: paths inside the rootfs that extraction skips (and snapshots leave out).
//!
//! Owns the rules Kaniko users rely on: its defaults (its own directory, `/etc/mtab`, and any
//! path starting with `/tmp/apt-key-gpghome`), every mount point listed in
//! `/proc/self/mountinfo` (fields decoded from their `\NNN` octal escapes, see
//! <https://man7.org/linux/man-pages/man5/proc_pid_mountinfo.5.html>), `--ignore-path` values
//! (globs with `*`, `?` and `[...]` as Go's `filepath.Match` has them), and `/var/run` for
//! `--ignore-var-run`. An ignored path hides everything below it. Also which directories hold
//! an ignored path (clearing `/` for an in-place build enters them instead of removing them),
//! and the list as a snapshot walk's predicate.
//!
//! Does not own: flag parsing (the `kiln` crate) or deciding which mounts apply to a rootfs that
//! is not `/` (the build decides; in chroot isolation the host's mounts are not in the rootfs).

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Where the mount table is read from.
pub const MOUNTINFO: &str = "/proc/self/mountinfo";

/// An error building the ignore list.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read the mount table {path}")]
    ReadMounts {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("malformed line {line} in the mount table: {text:?}")]
    Mountinfo { line: usize, text: String },
    #[error("invalid --ignore-path pattern {pattern:?}: unterminated character class")]
    Glob { pattern: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    /// The path and everything below it.
    Path(Vec<u8>),
    /// Every path whose text starts with this (Kaniko's `PrefixMatchOnly`).
    Prefix(Vec<u8>),
    /// Paths matching the glob, and everything below them.
    Glob(Vec<u8>),
}

/// Paths inside the rootfs to skip, all absolute.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgnoreList {
    rules: Vec<Rule>,
}

impl IgnoreList {
    /// An empty list.
    pub fn new() -> IgnoreList {
        IgnoreList::default()
    }

    /// Kaniko's defaults with `own_dir` (`/kaniko`, or `KANIKO_DIR`) as the builder's directory.
    pub fn kaniko_defaults(own_dir: &Path) -> IgnoreList {
        let mut list = IgnoreList::new();
        list.add_path(own_dir);
        // Mounted by the runtime, or a symlink to /proc: never the image's.
        list.add_path(Path::new("/etc/mtab"));
        // apt-key's temporary keyrings, named /tmp/apt-key-gpghome.XXXXXX.
        list.rules
            .push(Rule::Prefix(b"/tmp/apt-key-gpghome".to_vec()));
        list
    }

    /// Ignores `path` and everything below it.
    pub fn add_path(&mut self, path: &Path) {
        self.rules
            .push(Rule::Path(normalize(path.as_os_str().as_bytes())));
    }

    /// Ignores what `/var/run` holds (`--ignore-var-run`).
    pub fn add_var_run(&mut self) {
        self.add_path(Path::new("/var/run"));
    }

    /// Ignores paths matching `pattern` (`--ignore-path`); a pattern without glob characters is
    /// a plain path.
    pub fn add_glob(&mut self, pattern: &str) -> Result<(), Error> {
        let bytes = normalize(pattern.as_bytes());
        if !bytes
            .iter()
            .any(|b| matches!(b, b'*' | b'?' | b'[' | b'\\'))
        {
            self.rules.push(Rule::Path(bytes));
            return Ok(());
        }
        // Validate the classes once, so matching never meets a broken pattern.
        if glob_match(&bytes, &bytes).is_none() {
            return Err(Error::Glob {
                pattern: pattern.to_owned(),
            });
        }
        self.rules.push(Rule::Glob(bytes));
        Ok(())
    }

    /// Ignores every mount point in the mount table text `mountinfo` except `/`.
    pub fn add_mounts(&mut self, mountinfo: &str) -> Result<(), Error> {
        for point in parse_mountinfo(mountinfo)? {
            if point != b"/" {
                self.rules.push(Rule::Path(normalize(&point)));
            }
        }
        Ok(())
    }

    /// Ignores every mount point of this process ([`MOUNTINFO`]) except `/`.
    pub fn add_own_mounts(&mut self) -> Result<(), Error> {
        let text = std::fs::read_to_string(MOUNTINFO).map_err(|source| Error::ReadMounts {
            path: PathBuf::from(MOUNTINFO),
            source,
        })?;
        self.add_mounts(&text)
    }

    /// Whether `path` (absolute, inside the rootfs) is ignored.
    pub fn is_ignored(&self, path: &Path) -> bool {
        if self.rules.is_empty() {
            return false;
        }
        let path = normalize(path.as_os_str().as_bytes());
        self.rules.iter().any(|rule| match rule {
            Rule::Path(p) => is_within(&path, p),
            Rule::Prefix(p) => path.starts_with(p),
            Rule::Glob(g) => {
                // The path itself or one of its ancestors.
                let ends = path
                    .iter()
                    .enumerate()
                    .filter(|(i, b)| **b == b'/' && *i > 0)
                    .map(|(i, _)| i)
                    .chain([path.len()]);
                ends.into_iter()
                    .any(|end| glob_match(g, &path[..end]) == Some(true))
            }
        })
    }

    /// Whether something below the directory `dir` (absolute, inside the rootfs) is ignored, so
    /// that clearing the rootfs must go into `dir` instead of removing it whole.
    pub fn holds_ignored(&self, dir: &Path) -> bool {
        let dir = normalize(dir.as_os_str().as_bytes());
        let below = |path: &[u8]| path.len() > dir.len() && is_within(path, &dir);
        self.rules.iter().any(|rule| match rule {
            Rule::Path(p) => below(p),
            // `/tmp/apt-key-gpghome` covers `/tmp/apt-key-gpghome.X`, a child of `/tmp`.
            Rule::Prefix(p) => match p.iter().rposition(|b| *b == b'/') {
                Some(0) => dir == b"/",
                Some(slash) => is_within(&p[..slash], &dir),
                None => false,
            },
            Rule::Glob(g) => {
                // The directory's components match the pattern's first ones.
                let ours: Vec<&[u8]> = components(&dir).collect();
                let theirs: Vec<&[u8]> = components(g).collect();
                ours.len() < theirs.len()
                    && ours
                        .iter()
                        .zip(&theirs)
                        .all(|(name, pattern)| glob_match(pattern, name) == Some(true))
            }
        })
    }

    /// The list as a snapshot walk's predicate (paths relative to the rootfs).
    pub fn to_snapshot_ignore(&self) -> crate::snapshot::Ignore {
        let list = self.clone();
        std::sync::Arc::new(move |path| list.is_ignored(path))
    }
}

/// The non-empty components of a normalised path.
fn components(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    path.split(|b| *b == b'/').filter(|c| !c.is_empty())
}

/// The mount points in the text of a `mountinfo` file, octal escapes decoded.
pub fn parse_mountinfo(text: &str) -> Result<Vec<Vec<u8>>, Error> {
    let mut points = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        // id parent major:minor root mount-point options ...
        let point = line.split(' ').nth(4).ok_or_else(|| Error::Mountinfo {
            line: i + 1,
            text: line.to_owned(),
        })?;
        points.push(unescape(point.as_bytes()));
    }
    Ok(points)
}

/// Decodes the kernel's `\NNN` octal escapes (space, tab, newline, backslash).
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal = field
            .get(i + 1..i + 4)
            .filter(|d| field[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                let value =
                    (d[0] - b'0') as u32 * 64 + (d[1] - b'0') as u32 * 8 + (d[2] - b'0') as u32;
                out.push(value as u8);
                i += 4;
            }
            None => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    out
}

/// `/`-rooted, no trailing or repeated `/`, no `.` components.
fn normalize(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len() + 1);
    for comp in path.split(|b| *b == b'/') {
        if comp.is_empty() || comp == b"." {
            continue;
        }
        out.push(b'/');
        out.extend_from_slice(comp);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

fn is_within(path: &[u8], dir: &[u8]) -> bool {
    if dir == b"/" {
        return true;
    }
    path.starts_with(dir) && (path.len() == dir.len() || path[dir.len()] == b'/')
}

/// Go's `filepath.Match` on bytes: `*` and `?` do not match `/`, `[...]` classes with ranges
/// and `^`/`!` negation, `\` escapes. `None` for a malformed pattern.
fn glob_match(pattern: &[u8], name: &[u8]) -> Option<bool> {
    match pattern.split_first() {
        None => Some(name.is_empty()),
        Some((b'*', rest)) => {
            for skip in 0..=name.len() {
                if skip > 0 && name[skip - 1] == b'/' {
                    break;
                }
                if glob_match(rest, &name[skip..])? {
                    return Some(true);
                }
            }
            // Still check the rest of the pattern is well formed.
            glob_match(rest, b"").map(|_| false)
        }
        Some((b'?', rest)) => match name.split_first() {
            Some((c, tail)) if *c != b'/' => glob_match(rest, tail),
            _ => glob_match(rest, b"").map(|_| false),
        },
        Some((b'[', rest)) => {
            let close = rest.iter().skip(1).position(|b| *b == b']')? + 1;
            let (class, after) = (&rest[..close], &rest[close + 1..]);
            let (negate, class) = match class.first() {
                Some(b'^') | Some(b'!') => (true, &class[1..]),
                _ => (false, class),
            };
            let Some((c, tail)) = name.split_first() else {
                return glob_match(after, b"").map(|_| false);
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    hit |= (class[i]..=class[i + 2]).contains(c);
                    i += 3;
                } else {
                    hit |= class[i] == *c;
                    i += 1;
                }
            }
            if hit != negate && *c != b'/' {
                glob_match(after, tail)
            } else {
                glob_match(after, b"").map(|_| false)
            }
        }
        Some((b'\\', rest)) => {
            let (lit, rest) = rest.split_first()?;
            match name.split_first() {
                Some((c, tail)) if c == lit => glob_match(rest, tail),
                _ => glob_match(rest, b"").map(|_| false),
            }
        }
        Some((lit, rest)) => match name.split_first() {
            Some((c, tail)) if c == lit => glob_match(rest, tail),
            _ => glob_match(rest, b"").map(|_| false),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(build: impl FnOnce(&mut IgnoreList)) -> IgnoreList {
        let mut list = IgnoreList::new();
        build(&mut list);
        list
    }

    #[test]
    fn kaniko_defaults_cover_own_dir_mtab_and_apt_keyrings() {
        let list = IgnoreList::kaniko_defaults(Path::new("/kaniko"));
        let cases = [
            ("/kaniko", true),
            ("/kaniko/executor", true),
            ("/kanikofoo", false),
            ("/etc/mtab", true),
            ("/etc/mtab2", false),
            ("/tmp/apt-key-gpghome.Ab12cd", true),
            ("/tmp/apt-key-gpghome.Ab12cd/pubring.gpg", true),
            ("/tmp/other", false),
            ("/var/run/x", false),
        ];
        for (path, ignored) in cases {
            assert_eq!(list.is_ignored(Path::new(path)), ignored, "{path}");
        }
    }

    #[test]
    fn var_run_is_ignored_only_when_asked() {
        let list = list(|l| l.add_var_run());
        assert!(list.is_ignored(Path::new("/var/run/docker.sock")));
        assert!(!list.is_ignored(Path::new("/var/runner")));
        assert!(!IgnoreList::new().is_ignored(Path::new("/var/run/x")));
    }

    #[test]
    fn ignore_path_globs_match_paths_and_what_is_below_them() {
        let cases = [
            ("/data/*.log", "/data/a.log", true),
            ("/data/*.log", "/data/sub/a.log", false),
            ("/data/*", "/data/sub/a.log", true),
            ("/c?che", "/cache/x", true),
            ("/[a-c]ache", "/bache", true),
            ("/[!a-c]ache", "/bache", false),
            ("/plain/dir/", "/plain/dir/file", true),
            ("/plain/dir", "/plain/directory", false),
            ("/esc\\*", "/esc*", true),
        ];
        for (pattern, path, ignored) in cases {
            let list = list(|l| l.add_glob(pattern).expect(pattern));
            assert_eq!(
                list.is_ignored(Path::new(path)),
                ignored,
                "{pattern} {path}"
            );
        }
        let mut list = IgnoreList::new();
        let err = list.add_glob("/bad[").expect_err("unterminated class");
        assert!(err.to_string().contains("/bad["), "{err}");
    }

    #[test]
    fn mount_points_are_decoded_from_octal_escapes() {
        let text = "\
22 1 0:21 / / rw,relatime - ext4 /dev/sda1 rw
23 22 0:22 / /proc rw,nosuid - proc proc rw
24 22 0:23 / /mnt/with\\040space rw - tmpfs tmpfs rw
25 22 0:24 / /mnt/tab\\011and\\134back rw - tmpfs tmpfs rw
";
        let points = parse_mountinfo(text).expect("parse");
        assert_eq!(
            points,
            vec![
                b"/".to_vec(),
                b"/proc".to_vec(),
                b"/mnt/with space".to_vec(),
                b"/mnt/tab\tand\\back".to_vec(),
            ]
        );
        let list = list(|l| l.add_mounts(text).expect("mounts"));
        assert!(list.is_ignored(Path::new("/proc/1/status")));
        assert!(list.is_ignored(Path::new("/mnt/with space/f")));
        assert!(
            !list.is_ignored(Path::new("/etc/passwd")),
            "the / mount is not ignored"
        );
        assert!(matches!(
            parse_mountinfo("1 2 3\n"),
            Err(Error::Mountinfo { line: 1, .. })
        ));
    }

    #[test]
    fn directories_above_an_ignored_path_are_entered_not_removed() {
        let mut list = IgnoreList::kaniko_defaults(Path::new("/kaniko"));
        list.add_path(Path::new("/etc/hosts"));
        list.add_glob("/data/*/keep").expect("glob");
        let cases = [
            ("/", true),
            ("/etc", true),
            ("/etc/hosts", false),
            ("/etcetera", false),
            ("/tmp", true),
            ("/tmp/apt-key-gpghome.X", false),
            ("/usr", false),
            ("/data", true),
            ("/data/a", true),
            ("/data/a/keep", false),
            ("/kaniko", false),
        ];
        for (dir, holds) in cases {
            assert_eq!(list.holds_ignored(Path::new(dir)), holds, "{dir}");
        }
        let ignore = list.to_snapshot_ignore();
        assert!(ignore(Path::new("kaniko/executor")));
        assert!(ignore(Path::new("etc/hosts")));
        assert!(!ignore(Path::new("etc/passwd")));
    }

    #[test]
    fn own_mounts_include_proc() {
        let list = list(|l| l.add_own_mounts().expect("mountinfo"));
        assert!(list.is_ignored(Path::new("/proc/self")));
    }
}
