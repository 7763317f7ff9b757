//! The time a cache entry was written, as an RFC 3339 UTC timestamp
//! (<https://www.rfc-editor.org/rfc/rfc3339#section-5.6>) with millisecond precision:
//! `2026-11-26T19:51:08.123Z`.
//!
//! Owns: formatting a [`SystemTime`] that way and reading it back. Only the form kiln writes is
//! read (UTC, `Z`, optional fraction); anything else is refused, so an entry edited by hand into
//! another shape counts as unreadable rather than as fresh.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `time` as `YYYY-MM-DDTHH:MM:SS.mmmZ`. Times before 1970 are written as the epoch.
pub fn format(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Reads what [`format`] writes (the fraction may have 0 to 9 digits).
pub fn parse(text: &str) -> Option<SystemTime> {
    let rest = text.strip_suffix('Z')?;
    let (date, time) = rest.split_once('T')?;
    let mut date = date.split('-');
    let (y, m, d) = (date.next()?, date.next()?, date.next()?);
    if date.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (hms, fraction) = match time.split_once('.') {
        Some((hms, f)) => (hms, Some(f)),
        None => (time, None),
    };
    let mut hms = hms.split(':');
    let (h, mi, s) = (hms.next()?, hms.next()?, hms.next()?);
    if hms.next().is_some() || [h, mi, s].iter().any(|p| p.len() != 2) {
        return None;
    }
    let num = |p: &str| -> Option<u64> {
        p.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| p.parse().ok())?
    };
    let (y, m, d, h, mi, s) = (num(y)?, num(m)?, num(d)?, num(h)?, num(mi)?, num(s)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let nanos = match fraction {
        None => 0,
        Some(f) if !f.is_empty() && f.len() <= 9 => {
            num(f)? * 10u64.pow(9 - u32::try_from(f.len()).ok()?)
        }
        Some(_) => return None,
    };
    let int = |v: u64| i64::try_from(v).ok();
    let days = days_from_civil(int(y)?, int(m)?, int(d)?);
    let secs = u64::try_from(days).ok()? * 86_400 + h * 3600 + mi * 60 + s;
    UNIX_EPOCH.checked_add(Duration::new(secs, u32::try_from(nanos).ok()?))
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
pub(crate) fn civil_from_days(days: i64) -> (i64, u64, u64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m.unsigned_abs(), d.unsigned_abs())
}

/// The inverse of [`civil_from_days`].
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(secs * 1000 + millis)
    }

    #[test]
    fn timestamps_round_trip_through_rfc3339() {
        let cases = [
            (at(0, 0), "1970-01-01T00:00:00.000Z"),
            (at(951_782_400, 5), "2000-02-29T00:00:00.005Z"),
            (at(1_704_067_200, 0), "2024-01-01T00:00:00.000Z"),
            (at(1_795_722_668, 123), "2026-11-26T19:51:08.123Z"),
            (at(4_102_444_799, 999), "2099-12-31T23:59:59.999Z"),
        ];
        for (time, text) in cases {
            assert_eq!(format(time), text);
            assert_eq!(parse(text), Some(time), "{text}");
        }
    }

    #[test]
    fn other_spellings_are_refused_or_read_exactly() {
        let cases = [
            ("2024-01-01T00:00:00Z", Some(at(1_704_067_200, 0))),
            ("2024-01-01T00:00:00.5Z", Some(at(1_704_067_200, 500))),
            (
                "2024-01-01T00:00:00.000000001Z",
                Some(UNIX_EPOCH + Duration::new(1_704_067_200, 1)),
            ),
            ("2024-01-01T00:00:00+00:00", None),
            ("2024-01-01 00:00:00Z", None),
            ("2024-13-01T00:00:00Z", None),
            ("2024-01-01T24:00:00Z", None),
            ("2024-01-01T00:00:00.Z", None),
            ("24-01-01T00:00:00Z", None),
            ("2024-01-01T00:00:+0Z", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text), want, "{text:?}");
        }
    }
}
