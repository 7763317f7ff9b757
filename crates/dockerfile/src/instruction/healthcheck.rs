//! HEALTHCHECK: `NONE`, or `CMD` with `--interval`, `--timeout`, `--start-period`,
//! `--start-interval` and `--retries`.
//!
//! Owns the option values (Go duration syntax, at least 1ms when not zero; a non-negative
//! retry count) and the test command in Docker's config form (`["CMD", ...]` for exec form,
//! `["CMD-SHELL", cmd]` for shell form, `["NONE"]`).
//! Reference: <https://docs.docker.com/reference/dockerfile/#healthcheck>.

use std::time::Duration;

use super::flags::{Flags, Kind};
use crate::ast::Node;
use crate::error::Error;
use crate::span::Span;

/// A HEALTHCHECK instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthcheck {
    /// The `Test` of the image config: `["NONE"]`, `["CMD", ...]` or `["CMD-SHELL", cmd]`.
    pub test: Vec<String>,
    /// Zero (or absent) means "inherit the default".
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub start_period: Option<Duration>,
    pub start_interval: Option<Duration>,
    pub retries: Option<u32>,
    pub span: Span,
}

const FLAGS: &[(&str, Kind)] = &[
    ("interval", Kind::String),
    ("timeout", Kind::String),
    ("start-period", Kind::String),
    ("start-interval", Kind::String),
    ("retries", Kind::String),
];

impl Healthcheck {
    pub(crate) fn from_node(node: &Node) -> Result<Self, Error> {
        let flags = Flags::parse(node, FLAGS)?;
        let args = node.args.list();
        let invalid = |reason: String| Error::InvalidArguments {
            span: node.span,
            instruction: "HEALTHCHECK".to_owned(),
            reason,
        };
        let Some(kind) = args.first() else {
            return Err(invalid("HEALTHCHECK requires an argument".to_owned()));
        };
        let mut check = Healthcheck {
            test: Vec::new(),
            interval: None,
            timeout: None,
            start_period: None,
            start_interval: None,
            retries: None,
            span: node.span,
        };
        match kind.to_ascii_uppercase().as_str() {
            "NONE" => {
                if args.len() > 1 {
                    return Err(invalid("HEALTHCHECK NONE takes no arguments".to_owned()));
                }
                if !node.flags.is_empty() {
                    return Err(invalid("HEALTHCHECK NONE takes no flags".to_owned()));
                }
                check.test = vec!["NONE".to_owned()];
                return Ok(check);
            }
            "CMD" => {}
            other => {
                return Err(invalid(format!(
                    "unknown type {other:?} in HEALTHCHECK (try CMD)"
                )));
            }
        }
        let command = &args[1..];
        if command.is_empty() {
            return Err(invalid("missing command after HEALTHCHECK CMD".to_owned()));
        }
        check.test = if node.json {
            std::iter::once("CMD".to_owned())
                .chain(command.iter().cloned())
                .collect()
        } else {
            vec!["CMD-SHELL".to_owned(), command[0].clone()]
        };
        let duration = |name: &str| -> Result<Option<Duration>, Error> {
            let Some(value) = flags.string(name) else {
                return Ok(None);
            };
            let flag_err = |reason: String| Error::InvalidFlag {
                span: node.span,
                instruction: "HEALTHCHECK".to_owned(),
                flag: name.to_owned(),
                reason,
            };
            let d = parse_duration(&value).map_err(flag_err)?;
            if !d.is_zero() && d < Duration::from_millis(1) {
                return Err(flag_err(format!("{value:?} cannot be less than 1ms")));
            }
            Ok(Some(d))
        };
        check.interval = duration("interval")?;
        check.timeout = duration("timeout")?;
        check.start_period = duration("start-period")?;
        check.start_interval = duration("start-interval")?;
        if let Some(value) = flags.string("retries") {
            let n: i64 = value.parse().map_err(|_| Error::InvalidFlag {
                span: node.span,
                instruction: "HEALTHCHECK".to_owned(),
                flag: "retries".to_owned(),
                reason: format!("{value:?} is not a number"),
            })?;
            check.retries = Some(u32::try_from(n).map_err(|_| Error::InvalidFlag {
                span: node.span,
                instruction: "HEALTHCHECK".to_owned(),
                flag: "retries".to_owned(),
                reason: format!("{value:?} cannot be negative or that large"),
            })?);
        }
        Ok(check)
    }
}

/// Go's `time.ParseDuration`: a sequence of decimal numbers with units `ns`, `us`/`µs`, `ms`,
/// `s`, `m`, `h` (`"1m30s"`, `"1.5h"`), or a bare `0`. Negative durations are refused.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.starts_with('-') {
        return Err(format!("{s:?} cannot be negative"));
    }
    let body = s.strip_prefix('+').unwrap_or(s);
    if body.is_empty() {
        return Err(format!("invalid duration {s:?}"));
    }
    let mut total = 0f64;
    let mut rest = body;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..num_len];
        if number.is_empty() || number == "." {
            return Err(format!("invalid duration {s:?}"));
        }
        let value: f64 = number
            .parse()
            .map_err(|_| format!("invalid duration {s:?}"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("missing unit in duration {s:?}")),
            u => return Err(format!("unknown unit {u:?} in duration {s:?}")),
        };
        total += value * nanos;
        rest = &rest[unit_len..];
    }
    if !total.is_finite() || total > i64::MAX as f64 {
        return Err(format!("invalid duration {s:?}"));
    }
    Ok(Duration::from_nanos(total as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    fn check(src: &str) -> Result<Healthcheck, Error> {
        Healthcheck::from_node(&parse(src).unwrap().instructions[0])
    }

    #[test]
    fn parses_go_durations() {
        let cases = [
            ("30s", Some(Duration::from_secs(30))),
            ("1m30s", Some(Duration::from_secs(90))),
            ("1.5h", Some(Duration::from_secs(5400))),
            ("300ms", Some(Duration::from_millis(300))),
            ("10us", Some(Duration::from_micros(10))),
            ("0", Some(Duration::ZERO)),
            ("5", None),
            ("-1s", None),
            ("1d", None),
            ("", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_duration(s).ok(), want, "{s}");
        }
    }

    #[test]
    fn cmd_forms_become_config_tests() {
        let c = check("HEALTHCHECK --interval=5m --timeout=3s --start-period=1s --start-interval=2s --retries=3 CMD curl -f http://x/ || exit 1").unwrap();
        assert_eq!(c.test, ["CMD-SHELL", "curl -f http://x/ || exit 1"]);
        assert_eq!(c.interval, Some(Duration::from_secs(300)));
        assert_eq!(c.timeout, Some(Duration::from_secs(3)));
        assert_eq!(c.start_period, Some(Duration::from_secs(1)));
        assert_eq!(c.start_interval, Some(Duration::from_secs(2)));
        assert_eq!(c.retries, Some(3));
        let c = check("HEALTHCHECK CMD [\"/bin/check\", \"-v\"]").unwrap();
        assert_eq!(c.test, ["CMD", "/bin/check", "-v"]);
        assert_eq!(check("HEALTHCHECK none").unwrap().test, ["NONE"]);
    }

    #[test]
    fn invalid_healthchecks_are_errors() {
        let cases = [
            (
                "HEALTHCHECK NONE x",
                "1:1: HEALTHCHECK: HEALTHCHECK NONE takes no arguments",
            ),
            (
                "HEALTHCHECK --retries=1 NONE",
                "1:1: HEALTHCHECK: HEALTHCHECK NONE takes no flags",
            ),
            (
                "HEALTHCHECK CMD",
                "1:1: HEALTHCHECK: missing command after HEALTHCHECK CMD",
            ),
            (
                "HEALTHCHECK RUN x",
                "1:1: HEALTHCHECK: unknown type \"RUN\" in HEALTHCHECK (try CMD)",
            ),
            (
                "HEALTHCHECK --interval=1us CMD x",
                "1:1: HEALTHCHECK --interval: \"1us\" cannot be less than 1ms",
            ),
            (
                "HEALTHCHECK --retries=-1 CMD x",
                "1:1: HEALTHCHECK --retries: \"-1\" cannot be negative or that large",
            ),
            (
                "HEALTHCHECK --interval=5 CMD x",
                "1:1: HEALTHCHECK --interval: missing unit in duration \"5\"",
            ),
            (
                "HEALTHCHECK --intervl=5s CMD x",
                "1:13: unknown flag --intervl for HEALTHCHECK (did you mean --interval?)",
            ),
        ];
        for (src, want) in cases {
            assert_eq!(check(src).unwrap_err().to_string(), want, "{src}");
        }
    }
}
