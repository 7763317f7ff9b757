//! Reading tar entries from a layer stream, with every size bounded before it is allocated.
//!
//! The `tar` crate parses headers and checksums; this module reads it in raw mode and applies the
//! extension records itself, because the crate would read a GNU long name or a PAX header of any
//! size into memory. It follows POSIX pax (`path`, `linkpath`, `uid`, `gid`, `mtime`, `size`,
//! `SCHILY.xattr.*`, <https://pubs.opengroup.org/onlinepubs/9799919799/utilities/pax.html>) and
//! GNU tar's `L`/`K` long names.
//!
//! Does not own: what an entry means for the rootfs (see [`super::apply`]).

use std::ffi::OsString;
use std::io::{self, Read};
use std::os::unix::ffi::OsStringExt;

use tar::EntryType;

use super::{Error, Refusal};

/// The largest GNU long name or long link accepted (Linux's `PATH_MAX` is 4 KiB).
pub const MAX_LONG_NAME: u64 = 64 * 1024;

/// The largest PAX extended header accepted (it may carry xattrs of up to 64 KiB each).
pub const MAX_PAX_HEADER: u64 = 1024 * 1024;

/// What an entry creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Hardlink,
    CharDevice,
    BlockDevice,
    Fifo,
}

/// One archive member with its extension records applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The path as stored, without the NUL terminator.
    pub path: Vec<u8>,
    pub kind: EntryKind,
    /// Symlink or hardlink target as stored.
    pub link: Option<Vec<u8>>,
    /// Permission bits with setuid, setgid and sticky.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Seconds and nanoseconds since the epoch.
    pub mtime: (i64, u32),
    /// Bytes of content that follow the header.
    pub size: u64,
    /// Device major and minor numbers.
    pub device: (u32, u32),
    /// Extended attributes from `SCHILY.xattr.*` records.
    pub xattrs: Vec<(OsString, Vec<u8>)>,
}

impl Entry {
    /// The path for messages.
    pub fn display(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }
}

/// Extension records waiting for the member they describe.
#[derive(Debug, Default)]
struct Pending {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Option<Vec<u8>>,
}

/// Calls `visit` with each member of the tar stream `reader` and a reader over its content.
/// Content the visitor does not read is skipped. Stops at the end-of-archive blocks.
pub fn for_each_entry<R, F>(reader: R, mut visit: F) -> Result<(), Error>
where
    R: Read,
    F: FnMut(&Entry, &mut dyn Read) -> Result<(), Error>,
{
    let mut archive = tar::Archive::new(reader);
    let mut last: Option<String> = None;
    let malformed = |last: &Option<String>, source: io::Error| Error::Archive {
        after: last.clone(),
        source,
    };
    let entries = archive.entries().map_err(|e| malformed(&last, e))?;
    let mut pending = Pending::default();
    for raw in entries.raw(true) {
        let mut raw = raw.map_err(|e| malformed(&last, e))?;
        let header = raw.header().clone();
        let kind = header.entry_type();
        let size = header.entry_size().map_err(|e| malformed(&last, e))?;
        match kind {
            EntryType::GNULongName => {
                pending.long_name = Some(read_bounded(&mut raw, size, MAX_LONG_NAME, &last)?);
                continue;
            }
            EntryType::GNULongLink => {
                pending.long_link = Some(read_bounded(&mut raw, size, MAX_LONG_NAME, &last)?);
                continue;
            }
            EntryType::XHeader => {
                pending.pax = Some(read_bounded(&mut raw, size, MAX_PAX_HEADER, &last)?);
                continue;
            }
            EntryType::XGlobalHeader => {
                // Global records (a `git archive` comment, for one) carry nothing a rootfs
                // needs; they are read to bound them and then dropped.
                read_bounded(&mut raw, size, MAX_PAX_HEADER, &last)?;
                continue;
            }
            _ => {}
        }
        let entry = assemble(&header, size, std::mem::take(&mut pending))?;
        last = Some(entry.display());
        visit(&entry, &mut raw)?;
    }
    if pending.long_name.is_some() || pending.long_link.is_some() || pending.pax.is_some() {
        return Err(malformed(
            &last,
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "extension header without a member after it",
            ),
        ));
    }
    Ok(())
}

fn read_bounded(
    raw: &mut impl Read,
    size: u64,
    max: u64,
    last: &Option<String>,
) -> Result<Vec<u8>, Error> {
    if size > max {
        // The member it describes is not known yet: name its position instead.
        let entry = match last {
            Some(last) => format!("(extension header after {last})"),
            None => "(extension header at the start)".to_owned(),
        };
        return Err(Error::Refused {
            entry,
            reason: Refusal::ExtensionTooLarge { size, max },
        });
    }
    let mut buf = Vec::with_capacity(size as usize);
    raw.take(size)
        .read_to_end(&mut buf)
        .map_err(|source| Error::Archive {
            after: last.clone(),
            source,
        })?;
    if (buf.len() as u64) < size {
        return Err(Error::Archive {
            after: last.clone(),
            source: io::Error::new(io::ErrorKind::UnexpectedEof, "truncated extension header"),
        });
    }
    Ok(buf)
}

/// Builds the entry a header describes once its extension records are applied.
fn assemble(header: &tar::Header, size: u64, pending: Pending) -> Result<Entry, Error> {
    let mut path = match pending.long_name {
        Some(name) => trim_nul(name),
        None => header.path_bytes().into_owned(),
    };
    let mut link = match pending.long_link {
        Some(name) => Some(trim_nul(name)),
        None => header.link_name_bytes().map(|l| l.into_owned()),
    };
    let numeric = |r: io::Result<u64>, what: &'static str| -> Result<u64, Error> {
        r.map_err(|_| Error::Refused {
            entry: String::from_utf8_lossy(&header.path_bytes()).into_owned(),
            reason: Refusal::BadHeaderField { field: what },
        })
    };
    let mut uid = numeric(header.uid(), "uid")?;
    let mut gid = numeric(header.gid(), "gid")?;
    let mut mtime = (numeric(header.mtime(), "mtime")? as i64, 0u32);
    let mode = numeric(header.mode().map(u64::from), "mode")? as u32 & 0o7777;
    let mut xattrs = Vec::new();
    let mut pax_size = None;
    if let Some(pax) = &pending.pax {
        for record in tar::PaxExtensions::new(pax) {
            let record = record.map_err(|_| Error::Refused {
                entry: String::from_utf8_lossy(&path).into_owned(),
                reason: Refusal::BadPaxRecord,
            })?;
            let key = record.key_bytes();
            let value = record.value_bytes();
            match key {
                b"path" => path = value.to_vec(),
                b"linkpath" => link = Some(value.to_vec()),
                b"uid" => uid = parse_decimal(value).ok_or_else(|| bad_pax(&path))?,
                b"gid" => gid = parse_decimal(value).ok_or_else(|| bad_pax(&path))?,
                b"size" => pax_size = Some(parse_decimal(value).ok_or_else(|| bad_pax(&path))?),
                b"mtime" => mtime = parse_time(value).ok_or_else(|| bad_pax(&path))?,
                _ => {
                    if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                        xattrs.push((OsString::from_vec(name.to_vec()), value.to_vec()));
                    }
                }
            }
        }
    }
    let refuse = |reason: Refusal| Error::Refused {
        entry: String::from_utf8_lossy(&path).into_owned(),
        reason,
    };
    if path.contains(&0) || link.as_ref().is_some_and(|l| l.contains(&0)) {
        return Err(refuse(Refusal::NulInName));
    }
    match pax_size {
        Some(pax) if pax != size => {
            return Err(refuse(Refusal::PaxSizeMismatch { header: size, pax }));
        }
        _ => {}
    }
    let kind = match header.entry_type() {
        EntryType::Regular | EntryType::Continuous => EntryKind::File,
        EntryType::Directory => EntryKind::Dir,
        EntryType::Symlink => EntryKind::Symlink,
        EntryType::Link => EntryKind::Hardlink,
        EntryType::Char => EntryKind::CharDevice,
        EntryType::Block => EntryKind::BlockDevice,
        EntryType::Fifo => EntryKind::Fifo,
        other => return Err(refuse(Refusal::UnsupportedType(other.as_byte()))),
    };
    let uid = u32::try_from(uid).map_err(|_| refuse(Refusal::BadHeaderField { field: "uid" }))?;
    let gid = u32::try_from(gid).map_err(|_| refuse(Refusal::BadHeaderField { field: "gid" }))?;
    let device = match kind {
        EntryKind::CharDevice | EntryKind::BlockDevice => {
            let major = header.device_major().ok().flatten();
            let minor = header.device_minor().ok().flatten();
            match (major, minor) {
                (Some(major), Some(minor)) => (major, minor),
                _ => return Err(refuse(Refusal::BadHeaderField { field: "device" })),
            }
        }
        _ => (0, 0),
    };
    if matches!(kind, EntryKind::Symlink | EntryKind::Hardlink) && link.is_none() {
        return Err(refuse(Refusal::MissingLinkTarget));
    }
    Ok(Entry {
        path,
        kind,
        link,
        mode,
        uid,
        gid,
        mtime,
        size,
        device,
        xattrs,
    })
}

fn bad_pax(path: &[u8]) -> Error {
    Error::Refused {
        entry: String::from_utf8_lossy(path).into_owned(),
        reason: Refusal::BadPaxRecord,
    }
}

fn trim_nul(mut name: Vec<u8>) -> Vec<u8> {
    while name.last() == Some(&0) {
        name.pop();
    }
    name
}

fn parse_decimal(value: &[u8]) -> Option<u64> {
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// A PAX time: decimal seconds, optionally negative, with an optional fraction.
fn parse_time(value: &[u8]) -> Option<(i64, u32)> {
    let text = std::str::from_utf8(value).ok()?;
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    let secs: i64 = secs.parse().ok()?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
    let nanos: u32 = digits.parse().ok()?;
    if text.starts_with('-') && nanos > 0 {
        // "-5.25" is 5.25 s before the epoch: -6 s plus 0.75 s.
        return Some((secs.checked_sub(1)?, 1_000_000_000 - nanos));
    }
    Some((secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times_keep_nanoseconds() {
        let cases: [(&str, Option<(i64, u32)>); 6] = [
            ("1700000000", Some((1_700_000_000, 0))),
            ("1700000000.5", Some((1_700_000_000, 500_000_000))),
            (
                "1700000000.123456789123",
                Some((1_700_000_000, 123_456_789)),
            ),
            ("-5.25", Some((-6, 750_000_000))),
            ("abc", None),
            ("1.2x", None),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_time(input.as_bytes()), expected, "{input}");
        }
    }

    #[test]
    fn gnu_long_names_lose_their_nul_terminator() {
        assert_eq!(trim_nul(b"a/b\0\0".to_vec()), b"a/b");
        assert_eq!(trim_nul(b"a".to_vec()), b"a");
    }
}
