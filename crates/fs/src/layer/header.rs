//! One tar entry's header blocks: a ustar header, preceded by a PAX extended header when a
//! field does not fit.
//!
//! Owns: field encoding and the choice of PAX records. Does not own: where the values come from
//! (`super::source`) or the order of entries (`super::changes`).
//!
//! Follows POSIX.1-2001 `pax` (<https://pubs.opengroup.org/onlinepubs/9699919799/utilities/pax.html#tag_20_92_13_03>)
//! as Go's `archive/tar` writes it: records sorted by key, `path`/`linkpath` for names that do
//! not fit ustar's 100+155 bytes, `uid`/`gid`/`size` for values past the octal fields, `mtime`
//! with nanoseconds when the time is not a whole second, and `SCHILY.xattr.<name>` for extended
//! attributes. User and group names are never written: ids are numeric only.

use std::collections::BTreeMap;
use std::io::{self, Write};

/// Largest value of an 8-byte octal field (uid, gid, device numbers).
const MAX_OCTAL_8: u64 = 0o7_777_777;
/// Largest value of a 12-byte octal field (size, mtime).
const MAX_OCTAL_12: u64 = 0o77_777_777_777;

/// The kind of a tar entry kiln writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Char,
    Block,
    Fifo,
}

impl Kind {
    fn entry_type(self) -> tar::EntryType {
        match self {
            Kind::File => tar::EntryType::Regular,
            Kind::Dir => tar::EntryType::Directory,
            Kind::Symlink => tar::EntryType::Symlink,
            Kind::Hardlink => tar::EntryType::Link,
            Kind::Char => tar::EntryType::Char,
            Kind::Block => tar::EntryType::Block,
            Kind::Fifo => tar::EntryType::Fifo,
        }
    }
}

/// Everything written for one entry, before its content.
#[derive(Debug, Clone)]
pub(crate) struct EntryHeader {
    /// Name in the archive: relative, `/`-separated, directories end with `/`.
    pub name: Vec<u8>,
    pub kind: Kind,
    /// Permission bits with setuid, setgid and sticky (`0o7777`).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime_sec: i64,
    pub mtime_nsec: u32,
    /// Content bytes that follow (regular files only).
    pub size: u64,
    /// Symlink target, or the archive name of a hardlink's first occurrence.
    pub link: Vec<u8>,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
}

/// Appends one PAX record, `"<len> <key>=<value>\n"`, where `len` counts the whole record.
fn pax_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let body = key.len() + value.len() + 3; // space, '=', newline
    let mut len = body + 1;
    // The length includes its own digits: grow until it is self-consistent.
    while body + len.to_string().len() != len {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// Splits `name` into ustar `prefix` and `name` fields, if it fits.
fn split_ustar(name: &[u8]) -> Option<(&[u8], &[u8])> {
    if name.len() <= 100 {
        return Some((&[], name));
    }
    // The split happens at a '/', whose byte is dropped; the name part must not be empty.
    let trimmed = name.strip_suffix(b"/").unwrap_or(name);
    (0..trimmed.len())
        .rev()
        .filter(|&i| trimmed[i] == b'/')
        .find(|&i| i <= 155 && name.len() - i - 1 <= 100)
        .map(|i| (&name[..i], &name[i + 1..]))
}

fn format_pax_time(sec: i64, nsec: u32) -> String {
    if nsec == 0 {
        return sec.to_string();
    }
    let frac = format!("{nsec:09}");
    let frac = frac.trim_end_matches('0');
    if sec < 0 {
        // -1.5 s is written as "-1.5": the fraction keeps the sign of the whole.
        let total = i128::from(sec) * 1_000_000_000 + i128::from(nsec);
        let abs = total.unsigned_abs();
        let frac = format!("{:09}", abs % 1_000_000_000);
        return format!("-{}.{}", abs / 1_000_000_000, frac.trim_end_matches('0'));
    }
    format!("{sec}.{frac}")
}

fn fill(field: &mut [u8], value: &[u8]) {
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
}

/// Builds the ustar header and the PAX records it needs.
fn build(h: &EntryHeader) -> (tar::Header, Vec<u8>) {
    let mut pax: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(h.kind.entry_type());
    header.set_mode(h.mode & 0o7777);

    let split = split_ustar(&h.name);
    let mut add = |key: &[u8], value: Vec<u8>| pax.push((key.to_vec(), value));
    if split.is_none() {
        add(b"path", h.name.clone());
    }
    if h.link.len() > 100 {
        add(b"linkpath", h.link.clone());
    }
    let mtime_fits = h.mtime_sec >= 0 && (h.mtime_sec as u64) <= MAX_OCTAL_12;
    if !mtime_fits || h.mtime_nsec != 0 {
        add(
            b"mtime",
            format_pax_time(h.mtime_sec, h.mtime_nsec).into_bytes(),
        );
    }
    if h.size > MAX_OCTAL_12 {
        add(b"size", h.size.to_string().into_bytes());
    }
    if h.uid > MAX_OCTAL_8 {
        add(b"uid", h.uid.to_string().into_bytes());
    }
    if h.gid > MAX_OCTAL_8 {
        add(b"gid", h.gid.to_string().into_bytes());
    }
    for (name, value) in &h.xattrs {
        let mut key = b"SCHILY.xattr.".to_vec();
        key.extend_from_slice(name);
        pax.push((key, value.clone()));
    }
    // Records sorted by key, as Go writes them, so the bytes depend only on the values.
    pax.sort();
    let mut records = Vec::new();
    for (key, value) in &pax {
        pax_record(&mut records, key, value);
    }

    header.set_uid(if h.uid > MAX_OCTAL_8 { 0 } else { h.uid });
    header.set_gid(if h.gid > MAX_OCTAL_8 { 0 } else { h.gid });
    header.set_size(h.size.min(MAX_OCTAL_12));
    header.set_mtime(if mtime_fits { h.mtime_sec as u64 } else { 0 });
    if matches!(h.kind, Kind::Char | Kind::Block) {
        // Device numbers above 2^21 cannot be written in ustar; Linux has none in practice.
        let _ = header.set_device_major(h.dev_major);
        let _ = header.set_device_minor(h.dev_minor);
    }
    if let Some(ustar) = header.as_ustar_mut() {
        match split {
            Some((prefix, name)) => {
                fill(&mut ustar.prefix, prefix);
                fill(&mut ustar.name, name);
            }
            None => fill(&mut ustar.name, &h.name),
        }
        fill(&mut ustar.linkname, &h.link);
    }
    header.set_cksum();
    (header, records)
}

/// Writes `n` zero bytes to pad a record to the 512-byte block size.
pub(crate) fn write_padding(out: &mut impl Write, written: u64) -> io::Result<()> {
    let rem = (written % 512) as usize;
    if rem != 0 {
        out.write_all(&[0u8; 512][..512 - rem])?;
    }
    Ok(())
}

/// Writes the header blocks of one entry (its content, if any, follows).
pub(crate) fn write_header(out: &mut impl Write, h: &EntryHeader) -> io::Result<()> {
    let (header, pax) = build(h);
    if !pax.is_empty() {
        let mut ext = tar::Header::new_ustar();
        ext.set_entry_type(tar::EntryType::XHeader);
        ext.set_mode(0o644);
        ext.set_uid(0);
        ext.set_gid(0);
        ext.set_mtime(0);
        ext.set_size(pax.len() as u64);
        // Named like Go's writer does: "PaxHeaders.0/<base name>", cut to fit.
        let base = h
            .name
            .strip_suffix(b"/")
            .unwrap_or(&h.name)
            .rsplit(|&b| b == b'/')
            .next()
            .unwrap_or(&[]);
        let mut ext_name = b"PaxHeaders.0/".to_vec();
        ext_name.extend_from_slice(base);
        ext_name.truncate(100);
        if let Some(ustar) = ext.as_ustar_mut() {
            fill(&mut ustar.name, &ext_name);
        }
        ext.set_cksum();
        out.write_all(ext.as_bytes())?;
        out.write_all(&pax)?;
        write_padding(out, pax.len() as u64)?;
    }
    out.write_all(header.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(name: &str) -> EntryHeader {
        EntryHeader {
            name: name.as_bytes().to_vec(),
            kind: Kind::File,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime_sec: 1_700_000_000,
            mtime_nsec: 0,
            size: 0,
            link: Vec::new(),
            dev_major: 0,
            dev_minor: 0,
            xattrs: BTreeMap::new(),
        }
    }

    fn pax_of(h: &EntryHeader) -> String {
        String::from_utf8_lossy(&build(h).1).into_owned()
    }

    #[test]
    fn pax_record_length_counts_itself() {
        let cases: &[(&str, &str, &str)] = &[
            ("path", "a", "9 path=a\n"),
            ("mtime", "1.5", "13 mtime=1.5\n"),
            // 99 bytes with a two-digit length; one more byte needs three digits, so 101.
            ("k", &"v".repeat(93), &format!("99 k={}\n", "v".repeat(93))),
            ("k", &"v".repeat(94), &format!("101 k={}\n", "v".repeat(94))),
        ];
        for (k, v, want) in cases {
            let mut out = Vec::new();
            pax_record(&mut out, k.as_bytes(), v.as_bytes());
            assert_eq!(String::from_utf8(out).unwrap(), *want);
        }
    }

    #[test]
    fn plain_entries_need_no_pax() {
        assert_eq!(pax_of(&base("etc/passwd")), "");
    }

    #[test]
    fn fields_that_do_not_fit_go_to_pax() {
        let long = format!("{}/{}", "d".repeat(200), "f".repeat(120));
        let cases: Vec<(EntryHeader, &str)> = vec![
            (base(&long), "path="),
            (
                EntryHeader {
                    link: vec![b'l'; 101],
                    kind: Kind::Symlink,
                    ..base("a")
                },
                "linkpath=",
            ),
            (
                EntryHeader {
                    uid: 3_000_000,
                    ..base("a")
                },
                "uid=3000000",
            ),
            (
                EntryHeader {
                    gid: 1 << 32,
                    ..base("a")
                },
                "gid=4294967296",
            ),
            (
                EntryHeader {
                    size: 1 << 34,
                    ..base("a")
                },
                "size=17179869184",
            ),
            (
                EntryHeader {
                    mtime_nsec: 500_000_000,
                    ..base("a")
                },
                "mtime=1700000000.5\n",
            ),
            (
                EntryHeader {
                    mtime_sec: -2,
                    ..base("a")
                },
                "mtime=-2\n",
            ),
        ];
        for (h, want) in cases {
            assert!(pax_of(&h).contains(want), "{want}: {}", pax_of(&h));
        }
    }

    #[test]
    fn long_names_that_split_stay_ustar() {
        let name = format!("{}/{}", "d".repeat(150), "f".repeat(99));
        assert_eq!(
            split_ustar(name.as_bytes()).map(|(p, _)| p.len()),
            Some(150)
        );
        assert_eq!(pax_of(&base(&name)), "");
    }

    #[test]
    fn xattrs_are_schily_records_sorted_with_the_rest() {
        let mut h = EntryHeader {
            mtime_nsec: 1,
            ..base("a")
        };
        h.xattrs.insert(b"user.b".to_vec(), b"2".to_vec());
        h.xattrs
            .insert(b"security.capability".to_vec(), vec![1, 0, 0, 2]);
        let pax = pax_of(&h);
        let at = |k: &str| pax.find(k).unwrap();
        assert!(at("SCHILY.xattr.security.capability=") < at("SCHILY.xattr.user.b=2"));
        assert!(at("SCHILY.xattr.user.b=2") < at("mtime=1700000000.000000001"));
    }

    #[test]
    fn negative_sub_second_times_keep_their_sign() {
        assert_eq!(format_pax_time(-1, 500_000_000), "-0.5");
        assert_eq!(format_pax_time(3, 120_000_000), "3.12");
    }

    #[test]
    fn header_has_no_user_names_and_valid_checksum() {
        let (h, _) = build(&EntryHeader {
            uid: 1000,
            gid: 1000,
            ..base("a")
        });
        assert_eq!(h.username_bytes(), Some(&b""[..]));
        assert_eq!(h.groupname_bytes(), Some(&b""[..]));
        assert_eq!(h.uid().unwrap(), 1000);
        assert_eq!(h.cksum().unwrap(), {
            let mut c = h.clone();
            c.set_cksum();
            c.cksum().unwrap()
        });
    }
}
