//! Test support for extraction: a tar writer that can write any header, hostile ones included
//! (the `tar` crate's builder refuses `..` and absolute names). Extracted trees are dumped with
//! `kiln_testsupport::tree::dump`.

#![allow(dead_code)]

use std::io::Write;

/// One member to write.
#[derive(Debug, Clone)]
pub struct Member {
    pub path: Vec<u8>,
    pub kind: u8,
    pub link: Vec<u8>,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub data: Vec<u8>,
    /// The size written in the header, when it must differ from `data.len()`.
    pub size: Option<u64>,
    pub device: (u32, u32),
    pub pax: Vec<(String, Vec<u8>)>,
    /// Write the name in a GNU `L` entry instead of the header.
    pub gnu_long_name: bool,
}

impl Member {
    pub fn new(kind: u8, path: impl AsRef<[u8]>) -> Member {
        Member {
            path: path.as_ref().to_vec(),
            kind,
            link: Vec::new(),
            mode: if kind == b'5' { 0o755 } else { 0o644 },
            uid: 0,
            gid: 0,
            mtime: 1_600_000_000,
            data: Vec::new(),
            size: None,
            device: (0, 0),
            pax: Vec::new(),
            gnu_long_name: false,
        }
    }
}

pub fn file(path: impl AsRef<[u8]>, data: impl AsRef<[u8]>) -> Member {
    let mut m = Member::new(b'0', path);
    m.data = data.as_ref().to_vec();
    m
}

pub fn dir(path: impl AsRef<[u8]>) -> Member {
    Member::new(b'5', path)
}

pub fn symlink(path: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Member {
    let mut m = Member::new(b'2', path);
    m.link = target.as_ref().to_vec();
    m.mode = 0o777;
    m
}

pub fn hardlink(path: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Member {
    let mut m = Member::new(b'1', path);
    m.link = target.as_ref().to_vec();
    m
}

pub fn device(kind: u8, path: impl AsRef<[u8]>, major: u32, minor: u32) -> Member {
    let mut m = Member::new(kind, path);
    m.device = (major, minor);
    m.mode = 0o660;
    m
}

/// A tar stream under construction.
#[derive(Debug, Default)]
pub struct Tar {
    bytes: Vec<u8>,
}

impl Tar {
    pub fn new() -> Tar {
        Tar::default()
    }

    pub fn with(members: impl IntoIterator<Item = Member>) -> Vec<u8> {
        let mut tar = Tar::new();
        for m in members {
            tar.add(&m);
        }
        tar.finish()
    }

    pub fn add(&mut self, m: &Member) -> &mut Tar {
        let mut pax = m.pax.clone();
        if m.path.len() > 100 && !m.gnu_long_name {
            pax.push(("path".into(), m.path.clone()));
        }
        if m.link.len() > 100 {
            pax.push(("linkpath".into(), m.link.clone()));
        }
        if !pax.is_empty() {
            let mut body = Vec::new();
            for (key, value) in &pax {
                body.extend_from_slice(&pax_record(key, value));
            }
            self.raw(
                &header(
                    b"PaxHeaders/x",
                    b'x',
                    b"",
                    0o644,
                    0,
                    0,
                    0,
                    body.len() as u64,
                    (0, 0),
                ),
                &body,
            );
        }
        if m.gnu_long_name {
            let mut name = m.path.clone();
            name.push(0);
            self.raw(
                &header(
                    b"././@LongLink",
                    b'L',
                    b"",
                    0o644,
                    0,
                    0,
                    0,
                    name.len() as u64,
                    (0, 0),
                ),
                &name,
            );
        }
        let size = m.size.unwrap_or(m.data.len() as u64);
        let h = header(
            &m.path, m.kind, &m.link, m.mode, m.uid, m.gid, m.mtime, size, m.device,
        );
        self.raw(&h, &m.data)
    }

    /// Appends a header block and `data` padded to 512 bytes.
    pub fn raw(&mut self, header: &[u8; 512], data: &[u8]) -> &mut Tar {
        self.bytes.extend_from_slice(header);
        self.bytes.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.bytes.extend(std::iter::repeat_n(0, pad));
        self
    }

    /// Appends bytes as they are.
    pub fn bytes(&mut self, bytes: &[u8]) -> &mut Tar {
        self.bytes.extend_from_slice(bytes);
        self
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.bytes.extend(std::iter::repeat_n(0, 1024));
        self.bytes
    }
}

fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body_len = key.len() + value.len() + 3;
    let mut len = body_len + 1;
    while len.to_string().len() + body_len != len {
        len = len.to_string().len() + body_len;
    }
    let mut rec = format!("{len} {key}=").into_bytes();
    rec.extend_from_slice(value);
    rec.push(b'\n');
    rec
}

fn octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let digits = format!("{value:0width$o}");
    let digits = digits.as_bytes();
    let start = digits.len().saturating_sub(width);
    field[..width].copy_from_slice(&digits[start..]);
    field[width] = 0;
}

/// A ustar header with the name and link copied byte for byte (truncated to their fields).
#[allow(clippy::too_many_arguments)]
pub fn header(
    name: &[u8],
    kind: u8,
    link: &[u8],
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    size: u64,
    device: (u32, u32),
) -> [u8; 512] {
    let mut h = [0u8; 512];
    let n = name.len().min(100);
    h[..n].copy_from_slice(&name[..n]);
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], uid);
    octal(&mut h[116..124], gid);
    if size >= 1 << 33 {
        // base-256, as GNU tar writes sizes beyond 8 GiB
        h[124] = 0x80;
        h[128..136].copy_from_slice(&size.to_be_bytes());
    } else {
        octal(&mut h[124..136], size);
    }
    octal(&mut h[136..148], mtime);
    h[156] = kind;
    let l = link.len().min(100);
    h[157..157 + l].copy_from_slice(&link[..l]);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    octal(&mut h[329..337], u64::from(device.0));
    octal(&mut h[337..345], u64::from(device.1));
    set_checksum(&mut h);
    h
}

pub fn set_checksum(h: &mut [u8; 512]) {
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    let text = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(text.as_bytes());
}

pub fn gzip(tar: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(tar).expect("gzip");
    gz.finish().expect("gzip")
}

pub fn zstd(tar: &[u8]) -> Vec<u8> {
    zstd::encode_all(tar, 3).expect("zstd")
}

/// Fails the test with a clear message unless it runs as root.
pub fn require_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test creates devices and foreign owners: run it as root (scripts/check does)"
    );
}
