//! Go's `fmt` verbs as BuildKit's history lines use them.
//!
//! Owns the exact spelling of `%q` on strings, string lists and integers, `%v` on string lists
//! and `time.Duration`'s `String`, so `created_by` matches `docker build` byte for byte
//! (`CMD ["/bin/sh" "-c" "run"]`, `HEALTHCHECK &{["CMD" "x"] "30s" "0s" "0s" "0s" '\x03'}`).
//! Reference: <https://pkg.go.dev/fmt>, <https://pkg.go.dev/strconv#Quote>,
//! <https://pkg.go.dev/time#Duration.String>.

use std::fmt::Write;

fn escape_char(out: &mut String, c: char, quote: char) {
    match c {
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        '\\' => out.push_str("\\\\"),
        c if c == quote => {
            out.push('\\');
            out.push(c);
        }
        c if (c as u32) < 0x20 || c == '\u{7f}' => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if c.is_control() => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => out.push(c),
    }
}

/// `%q` of a string (`strconv.Quote`).
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        escape_char(&mut out, c, '"');
    }
    out.push('"');
    out
}

/// `%q` of a `[]string`: `["a" "b"]`.
pub(crate) fn quote_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", quoted.join(" "))
}

/// `%v` of a `[]string`: `[a b]`.
pub(crate) fn list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// `%q` of an integer: a quoted character literal (`'\x03'`, `'A'`).
pub(crate) fn quote_rune(n: i64) -> String {
    let Some(c) = u32::try_from(n).ok().and_then(char::from_u32) else {
        return "'\u{fffd}'".to_owned();
    };
    let mut out = String::from("'");
    escape_char(&mut out, c, '\'');
    out.push('\'');
    out
}

/// The fraction of `v` with `prec` digits, trailing zeros (and the point) dropped, and the
/// integer part.
fn frac(v: u64, prec: u32) -> (String, u64) {
    let scale = 10u64.pow(prec);
    let (int, mut f) = (v / scale, v % scale);
    if f == 0 {
        return (String::new(), int);
    }
    let mut digits = prec as usize;
    while f % 10 == 0 {
        f /= 10;
        digits -= 1;
    }
    (format!(".{f:0digits$}"), int)
}

/// `time.Duration(nanos).String()`: `0s`, `1.5µs`, `300ms`, `1m30s`, `1h0m0s`.
pub(crate) fn duration(nanos: i64) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    let u = nanos.unsigned_abs();
    if u == 0 {
        return "0s".to_owned();
    }
    if u < 1_000_000_000 {
        let (prec, unit) = match u {
            0..1_000 => (0, "ns"),
            1_000..1_000_000 => (3, "µs"),
            _ => (6, "ms"),
        };
        let (f, int) = frac(u, prec);
        return format!("{sign}{int}{f}{unit}");
    }
    let (f, secs) = frac(u, 9);
    let (mins, s) = (secs / 60, secs % 60);
    let (hours, m) = (mins / 60, mins % 60);
    if hours > 0 {
        format!("{sign}{hours}h{m}m{s}{f}s")
    } else if mins > 0 {
        format!("{sign}{m}m{s}{f}s")
    } else {
        format!("{sign}{s}{f}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_go_prints_them() {
        let cases = [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5µs"),
            (300_000_000, "300ms"),
            (1_000_000_000, "1s"),
            (1_500_000_000, "1.5s"),
            (90_000_000_000, "1m30s"),
            (300_000_000_000, "5m0s"),
            (3_600_000_000_000, "1h0m0s"),
            (5_400_000_000_001, "1h30m0.000000001s"),
            (-2_000_000_000, "-2s"),
        ];
        for (nanos, want) in cases {
            assert_eq!(duration(nanos), want, "{nanos}");
        }
    }

    #[test]
    fn quoting_escapes_as_strconv_does() {
        let cases = [
            ("plain", "\"plain\""),
            ("a \"b\"", "\"a \\\"b\\\"\""),
            ("tab\there\n", "\"tab\\there\\n\""),
            ("back\\slash", "\"back\\\\slash\""),
            ("\u{1}", "\"\\x01\""),
            ("héllo", "\"héllo\""),
        ];
        for (s, want) in cases {
            assert_eq!(quote(s), want, "{s}");
        }
        assert_eq!(
            quote_list(&["/bin/sh".into(), "-c".into(), "echo hi".into()]),
            "[\"/bin/sh\" \"-c\" \"echo hi\"]"
        );
        assert_eq!(quote_list(&[]), "[]");
        assert_eq!(list(&["/a".into(), "/b".into()]), "[/a /b]");
    }

    #[test]
    fn integers_quote_as_character_literals() {
        let cases = [
            (0, "'\\x00'"),
            (3, "'\\x03'"),
            (9, "'\\t'"),
            (39, "'\\''"),
            (65, "'A'"),
        ];
        for (n, want) in cases {
            assert_eq!(quote_rune(n), want, "{n}");
        }
    }
}
