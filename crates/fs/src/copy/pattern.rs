//! Wildcards in COPY/ADD sources, with Go's `filepath.Match` syntax as BuildKit uses it
//! (<https://pkg.go.dev/path/filepath#Match>): `*` is any run of non-`/` bytes, `?` one
//! non-`/` byte, `[...]` a class (`^` negates, `a-z` ranges), `\` escapes the next byte.
//!
//! Patterns are matched one path component at a time, so `/` never needs special handling.

/// Whether `pattern` contains a wildcard, as BuildKit's `containsWildcards` decides.
pub fn has_wildcards(pattern: &str) -> bool {
    let bytes = pattern.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'*' | b'?' | b'[' => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

/// Whether the component `name` matches the component `pattern`; `None` for a malformed
/// pattern (an unclosed class or a trailing `\`), which Go reports as `ErrBadPattern`.
pub fn matches(pattern: &[u8], name: &[u8]) -> Option<bool> {
    match pattern.split_first() {
        None => Some(name.is_empty()),
        Some((b'*', rest)) => {
            for skip in 0..=name.len() {
                if matches(rest, &name[skip..])? {
                    return Some(true);
                }
            }
            Some(false)
        }
        Some((b'?', rest)) => match name.split_first() {
            Some((_, tail)) => matches(rest, tail),
            None => check(rest).map(|()| false),
        },
        Some((b'[', rest)) => {
            let (hit, after) = class(rest, name.first().copied())?;
            if hit {
                matches(after, &name[1..])
            } else {
                check(after).map(|()| false)
            }
        }
        Some((b'\\', rest)) => {
            let (&lit, after) = rest.split_first()?;
            match name.split_first() {
                Some((&c, tail)) if c == lit => matches(after, tail),
                _ => check(after).map(|()| false),
            }
        }
        Some((&lit, rest)) => match name.split_first() {
            Some((&c, tail)) if c == lit => matches(rest, tail),
            _ => check(rest).map(|()| false),
        },
    }
}

/// Validates the rest of a pattern, so a malformed one is reported even when the name already
/// failed to match, as Go does.
fn check(pattern: &[u8]) -> Option<()> {
    let mut p = pattern;
    while let Some((&c, rest)) = p.split_first() {
        p = match c {
            b'\\' => rest.split_first()?.1,
            b'[' => class(rest, None)?.1,
            _ => rest,
        };
    }
    Some(())
}

/// Matches the class starting after `[` against `c`; returns the verdict and the pattern after
/// the closing `]`.
fn class(pattern: &[u8], c: Option<u8>) -> Option<(bool, &[u8])> {
    let (negated, mut p) = match pattern.split_first() {
        Some((b'^', rest)) => (true, rest),
        _ => (false, pattern),
    };
    let mut hit = false;
    let mut first = true;
    loop {
        let (&lo, rest) = p.split_first()?;
        if lo == b']' && !first {
            p = rest;
            break;
        }
        first = false;
        let (lo, rest) = literal(lo, rest)?;
        let (hi, rest) = match rest.split_first() {
            Some((b'-', after)) if after.first() != Some(&b']') => {
                let (&h, after) = after.split_first()?;
                literal(h, after)?
            }
            _ => (lo, rest),
        };
        if let Some(c) = c {
            hit |= lo <= c && c <= hi;
        }
        p = rest;
    }
    Some((hit != negated && c.is_some(), p))
}

fn literal(c: u8, rest: &[u8]) -> Option<(u8, &[u8])> {
    if c == b'\\' {
        let (&e, after) = rest.split_first()?;
        Some((e, after))
    } else {
        Some((c, rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_match_like_go_filepath_match() {
        let cases: &[(&str, &str, Option<bool>)] = &[
            ("*.txt", "a.txt", Some(true)),
            ("*.txt", ".txt", Some(true)),
            ("*.txt", "a.txt.bak", Some(false)),
            ("a?c", "abc", Some(true)),
            ("a?c", "ac", Some(false)),
            ("[a-c]x", "bx", Some(true)),
            ("[^a-c]x", "bx", Some(false)),
            ("[^a-c]x", "dx", Some(true)),
            ("[]]", "]", Some(true)),
            ("\\*", "*", Some(true)),
            ("\\*", "a", Some(false)),
            ("[a-", "a", None),
            ("ab\\", "ab", None),
            ("", "", Some(true)),
        ];
        for (pattern, name, expected) in cases {
            assert_eq!(
                matches(pattern.as_bytes(), name.as_bytes()),
                *expected,
                "{pattern} ~ {name}"
            );
        }
    }

    #[test]
    fn wildcards_are_detected_unless_escaped() {
        for (pattern, expected) in [
            ("a*", true),
            ("a?", true),
            ("[ab]", true),
            ("a\\*", false),
            ("plain", false),
        ] {
            assert_eq!(has_wildcards(pattern), expected, "{pattern}");
        }
    }
}
