//! Canonical JSON bytes for manifests, indexes and configs, and bounded reading of them.
//!
//! Owns: how a value becomes bytes (and so its digest), and the size limits for documents read
//! from a registry, a layout or an archive. Does not own: the documents' shapes.
//!
//! A given value always gives the same bytes: struct fields in declaration order, maps sorted
//! (`BTreeMap`), no insignificant white space. Unknown fields kept as `serde_json::Value` keep
//! the order they were read in, so a document kiln only passes through keeps its bytes. Strings are escaped the way Go's `encoding/json`
//! escapes them (`<`, `>`, `&`, U+2028 and U+2029 as `\u` sequences), so a config kiln writes
//! has the same bytes, hence the same digest, as one written by Docker, BuildKit or Kaniko with
//! the same fields in the same order.

use std::io::{self, Read, Write};

use serde::Serialize;

/// The largest manifest or index kiln reads: 4 MiB, the limit that the distribution registry
/// enforces on manifest PUTs and that containerd applies on fetch.
pub const MAX_MANIFEST_SIZE: u64 = 4 * 1024 * 1024;
/// The largest image config kiln reads. Configs carry history and labels, never file data.
pub const MAX_CONFIG_SIZE: u64 = 8 * 1024 * 1024;

/// Serialises `value` as canonical JSON.
pub fn to_canonical_json<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GoEscapes);
    // Every type kiln serialises has string map keys and no fallible `Serialize` impl, and
    // writing into a Vec cannot fail, so this cannot return an error.
    value
        .serialize(&mut ser)
        .expect("image documents always serialise to JSON");
    out
}

/// Why a document could not be read within its limit.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{what} is {size} bytes, larger than the {limit}-byte limit")]
    TooLarge { what: String, size: u64, limit: u64 },
    #[error("reading {what}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
}

/// Reads all of `reader`, refusing more than `limit` bytes. `declared` (a `Content-Length`, a
/// descriptor's `size`, a tar header's size) is checked before anything is allocated; the
/// stream itself is cut at `limit + 1` bytes in case the declaration lies. `what` names the
/// document in errors (`manifest for docker.io/library/busybox:latest`).
pub fn read_bounded(
    reader: impl Read,
    declared: Option<u64>,
    limit: u64,
    what: &str,
) -> Result<Vec<u8>, ReadError> {
    let too_large = |size| ReadError::TooLarge {
        what: what.to_owned(),
        size,
        limit,
    };
    if let Some(size) = declared.filter(|&s| s > limit) {
        return Err(too_large(size));
    }
    let capacity = declared.unwrap_or(0).min(limit);
    let mut buf = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
    reader
        .take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|source| ReadError::Io {
            what: what.to_owned(),
            source,
        })?;
    if buf.len() as u64 > limit {
        return Err(too_large(buf.len() as u64));
    }
    Ok(buf)
}

/// `serde_json`'s compact formatter, plus the escapes Go's encoder adds by default.
struct GoEscapes;

impl serde_json::ser::Formatter for GoEscapes {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let escape = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..i])?;
            writer.write_all(escape.as_bytes())?;
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn strings_are_escaped_as_go_does() {
        let cases = [
            ("plain", r#""plain""#),
            ("a && b", r#""a \u0026\u0026 b""#),
            ("<x>", r#""\u003cx\u003e""#),
            ("line\nnext\t\"q\"\\", r#""line\nnext\t\"q\"\\""#),
            ("\u{2028}\u{2029}é", "\"\\u2028\\u2029é\""),
            ("\u{1}", r#""\u0001""#),
        ];
        for (input, want) in cases {
            assert_eq!(String::from_utf8(to_canonical_json(input)).unwrap(), want);
        }
    }

    #[test]
    fn maps_are_sorted_and_compact() {
        let mut m = BTreeMap::new();
        m.insert("b", vec![1, 2]);
        m.insert("a", vec![]);
        assert_eq!(to_canonical_json(&m), br#"{"a":[],"b":[1,2]}"#);
    }

    #[test]
    fn read_bounded_refuses_a_declared_size_over_the_limit_without_reading() {
        struct Exploding;
        impl Read for Exploding {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                panic!("read although the declared size was too large");
            }
        }
        let err = read_bounded(Exploding, Some(11), 10, "manifest x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "manifest x is 11 bytes, larger than the 10-byte limit"
        );
    }

    #[test]
    fn read_bounded_refuses_a_stream_longer_than_the_limit() {
        let data = vec![b'x'; 11];
        assert!(matches!(
            read_bounded(&data[..], Some(3), 10, "m"),
            Err(ReadError::TooLarge { size: 11, .. })
        ));
        assert!(matches!(
            read_bounded(&data[..], None, 10, "m"),
            Err(ReadError::TooLarge { .. })
        ));
        assert_eq!(read_bounded(&data[..], None, 11, "m").unwrap(), data);
    }
}
