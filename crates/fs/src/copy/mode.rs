//! `--chmod` values: an octal mode, or a symbolic one as chmod(1) writes it
//! (<https://pubs.opengroup.org/onlinepubs/9699919799/utilities/chmod.html>), which BuildKit's
//! Dockerfile frontend accepts since 1.14.
//!
//! A symbolic mode is a comma-separated list of clauses `[ugoa]*[-+=][rwxXst]*` (several
//! operations may follow one `who`, as in `u+r-w`). It is applied to each node's own source
//! mode; `X` adds execute only for directories or nodes already executable by someone. An
//! empty `who` means `a`, as with the zero umask builds run with.

use super::Error;

/// A parsed `--chmod`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chmod {
    /// Replaces the permission bits, setuid, setgid and sticky included.
    Octal(u32),
    /// Edits the node's own mode.
    Symbolic(Vec<Clause>),
}

/// One `who op perms` clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    who: u32,
    op: u8,
    perms: Vec<u8>,
}

impl Chmod {
    /// Parses `value`.
    pub fn parse(value: &str) -> Result<Chmod, Error> {
        let bad = || Error::BadChmod {
            value: value.to_owned(),
        };
        if !value.is_empty() && value.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return match u32::from_str_radix(value, 8) {
                Ok(mode) if mode <= 0o7777 => Ok(Chmod::Octal(mode)),
                _ => Err(bad()),
            };
        }
        let mut clauses = Vec::new();
        for part in value.split(',') {
            let bytes = part.as_bytes();
            let ops_at = bytes
                .iter()
                .position(|b| matches!(b, b'+' | b'-' | b'='))
                .ok_or_else(bad)?;
            let mut who = 0;
            for &w in &bytes[..ops_at] {
                who |= match w {
                    b'u' => 0o4700,
                    b'g' => 0o2070,
                    b'o' => 0o1007,
                    b'a' => 0o7777,
                    _ => return Err(bad()),
                };
            }
            if who == 0 {
                who = 0o7777;
            }
            let mut rest = &bytes[ops_at..];
            while let Some((&op, tail)) = rest.split_first() {
                if !matches!(op, b'+' | b'-' | b'=') {
                    return Err(bad());
                }
                let end = tail
                    .iter()
                    .position(|b| matches!(b, b'+' | b'-' | b'='))
                    .unwrap_or(tail.len());
                let perms = tail[..end].to_vec();
                if !perms.iter().all(|p| b"rwxXst".contains(p)) {
                    return Err(bad());
                }
                clauses.push(Clause { who, op, perms });
                rest = &tail[end..];
            }
        }
        Ok(Chmod::Symbolic(clauses))
    }

    /// The mode a node whose own mode is `mode` gets.
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        let clauses = match self {
            Chmod::Octal(octal) => return *octal,
            Chmod::Symbolic(clauses) => clauses,
        };
        let mut mode = mode & 0o7777;
        for clause in clauses {
            let mut bits = 0;
            for perm in &clause.perms {
                bits |= match perm {
                    b'r' => 0o444,
                    b'w' => 0o222,
                    b'x' => 0o111,
                    b'X' if is_dir || mode & 0o111 != 0 => 0o111,
                    b's' => 0o6000,
                    b't' => 0o1000,
                    _ => 0,
                };
            }
            let bits = bits & clause.who;
            mode = match clause.op {
                b'+' => mode | bits,
                b'-' => mode & !bits,
                _ => (mode & !clause.who) | bits,
            };
        }
        mode
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octal_and_symbolic_modes_apply_like_chmod() {
        // (value, source mode, is a directory, expected)
        let cases: &[(&str, u32, bool, u32)] = &[
            ("644", 0o755, true, 0o644),
            ("4755", 0o600, false, 0o4755),
            ("u+x", 0o644, false, 0o744),
            ("go-w", 0o666, false, 0o644),
            ("a=rX", 0o640, true, 0o555),
            ("a=rX", 0o640, false, 0o444),
            ("a=rX", 0o740, false, 0o555),
            ("u=rwx,go=rx", 0o600, false, 0o755),
            ("+x", 0o644, false, 0o755),
            ("u+r-w", 0o200, false, 0o400),
            ("g+s", 0o755, true, 0o2755),
            ("o+t", 0o777, true, 0o1777),
        ];
        for (value, mode, is_dir, expected) in cases {
            let chmod = Chmod::parse(value).unwrap_or_else(|e| panic!("{value}: {e}"));
            assert_eq!(
                chmod.apply(*mode, *is_dir),
                *expected,
                "{value} on {mode:o}"
            );
        }
    }

    #[test]
    fn malformed_modes_are_refused() {
        for value in ["", "999", "17777", "u", "z+x", "u+q", "rwx"] {
            assert!(
                matches!(Chmod::parse(value), Err(Error::BadChmod { .. })),
                "{value}"
            );
        }
    }
}
