//! Go duration syntax, as `time.ParseDuration` reads it, for `--cache-ttl`.
//!
//! A duration is a sequence of decimal numbers, each with an optional fraction and a unit:
//! `336h`, `1h30m`, `1.5h`, `300ms`. Units are `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h`; a
//! bare `0` needs none. Spec: <https://pkg.go.dev/time#ParseDuration>.
//!
//! Go also accepts negative durations; kiln refuses them, since no flag that takes a duration
//! has a meaning for one.

use std::time::Duration;

const NANOS_PER_UNIT: [(&str, u128); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),
    ("\u{3bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Go's largest duration: `i64::MAX` nanoseconds (about 2562047 hours).
const MAX_NANOS: u128 = i64::MAX as u128;

/// Parses a Go duration such as `336h` or `1h30m`.
pub fn parse_go_duration(input: &str) -> Result<Duration, String> {
    let invalid = || format!("expected a duration such as 336h, 90m or 1h30m, got {input:?}");
    let mut rest = input;
    if let Some(stripped) = rest.strip_prefix('+') {
        rest = stripped;
    } else if rest.starts_with('-') {
        return Err("a duration must not be negative".to_owned());
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after_int) = rest.split_at(int_len);
        let (frac_part, after_number) = match after_int.strip_prefix('.') {
            Some(after_dot) => {
                let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
                after_dot.split_at(frac_len)
            }
            None => ("", after_int),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = after_number
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after_number.len());
        let (unit, after_unit) = after_number.split_at(unit_len);
        let Some(&(_, per_unit)) = NANOS_PER_UNIT.iter().find(|(name, _)| *name == unit) else {
            return Err(if unit.is_empty() {
                format!("missing unit in duration {input:?} (expected ns, us, ms, s, m or h)")
            } else {
                format!(
                    "unknown unit {unit:?} in duration {input:?} (expected ns, us, ms, s, m or h)"
                )
            });
        };
        total = total
            .checked_add(component_nanos(int_part, frac_part, per_unit).ok_or_else(invalid)?)
            .filter(|t| *t <= MAX_NANOS)
            .ok_or_else(|| format!("duration {input:?} is too long"))?;
        rest = after_unit;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| invalid())?;
    let nanos = u32::try_from(total % 1_000_000_000).map_err(|_| invalid())?;
    Ok(Duration::new(secs, nanos))
}

/// `int.frac` of a unit in nanoseconds, truncating below one nanosecond as Go does.
fn component_nanos(int_part: &str, frac_part: &str, per_unit: u128) -> Option<u128> {
    let int: u128 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().ok()?
    };
    let mut nanos = int.checked_mul(per_unit)?;
    let mut scale = per_unit;
    for digit in frac_part.bytes() {
        scale /= 10;
        if scale == 0 {
            break;
        }
        nanos = nanos.checked_add(u128::from(digit - b'0') * scale)?;
    }
    (nanos <= MAX_NANOS).then_some(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn parses_what_go_parses() {
        let cases: [(&str, u64); 16] = [
            ("0", 0),
            ("336h", 336 * 3600 * SEC),
            ("6h", 6 * 3600 * SEC),
            ("1h30m", 5400 * SEC),
            ("1.5h", 5400 * SEC),
            ("90m", 5400 * SEC),
            ("10s", 10 * SEC),
            ("+5s", 5 * SEC),
            ("300ms", 300_000_000),
            ("2us", 2_000),
            ("2\u{b5}s", 2_000),
            ("2\u{3bc}s", 2_000),
            ("7ns", 7),
            (".5s", 500_000_000),
            ("1.s", SEC),
            ("1h1m1s1ms1us1ns", 3661 * SEC + 1_001_001),
        ];
        for (input, nanos) in cases {
            let got = parse_go_duration(input).map(|d| d.as_nanos());
            assert_eq!(got, Ok(u128::from(nanos)), "input {input:?}");
        }
    }

    #[test]
    fn refuses_what_go_refuses_and_negative_durations() {
        let cases = [
            "",
            "h",
            "336",
            "1x",
            "1d",
            ".s",
            "1..5s",
            "-1h",
            "1h-1m",
            "s1",
            "9999999999h",
        ];
        for input in cases {
            assert!(
                parse_go_duration(input).is_err(),
                "input {input:?} was accepted"
            );
        }
    }

    #[test]
    fn error_names_the_unknown_unit() {
        let err = parse_go_duration("14d").unwrap_err();
        assert!(err.contains("unknown unit \"d\""), "{err}");
    }
}
