//! History entries as BuildKit writes them.
//!
//! Owns the shape of one [`History`] entry (`created_by`, `comment: buildkit.dockerfile.v0`,
//! `empty_layer` for instructions that make no layer, and ` # buildkit` after the text of the
//! ones that do, RUN, COPY and ADD) and the [`Clock`] that gives `created`: a fixed time from
//! `SOURCE_DATE_EPOCH` or the caller, or the build's start. The `created_by` text of each
//! instruction is built next to the instruction (`metadata.rs`, `command.rs`, `run.rs`),
//! following `commitToHistory` and its callers in BuildKit's
//! `frontend/dockerfile/dockerfile2llb/convert.go`.
//!
//! ONBUILD writes no entry, as in BuildKit. Build-arg values in history: see `run.rs`.

use std::time::{SystemTime, UNIX_EPOCH};

use kiln_oci::History;

use crate::error::Error;

/// The `comment` BuildKit's Dockerfile frontend puts on every entry.
pub const HISTORY_COMMENT: &str = "buildkit.dockerfile.v0";

/// Where history's `created` comes from: one instant for the whole build, as BuildKit uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clock {
    created: String,
}

impl Clock {
    /// A clock fixed at `secs` seconds since the epoch.
    pub fn at_unix(secs: u64) -> Self {
        Self {
            created: rfc3339(secs, 0),
        }
    }

    /// The value of `SOURCE_DATE_EPOCH`.
    pub fn from_source_date_epoch(value: &str) -> Result<Self, Error> {
        value
            .trim()
            .parse::<u64>()
            .map(Self::at_unix)
            .map_err(|_| Error::InvalidSourceDateEpoch {
                value: value.to_owned(),
            })
    }

    /// `SOURCE_DATE_EPOCH` when `lookup` has it, else the current time.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        match lookup("SOURCE_DATE_EPOCH").filter(|v| !v.is_empty()) {
            Some(v) => Self::from_source_date_epoch(&v),
            None => Ok(Self::now()),
        }
    }

    /// The current time, with nanoseconds.
    pub fn now() -> Self {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Self {
            created: rfc3339(d.as_secs(), d.subsec_nanos()),
        }
    }

    /// The RFC 3339 time every entry gets.
    pub fn created(&self) -> &str {
        &self.created
    }

    /// An entry for a step that made no layer.
    pub fn metadata(&self, created_by: String) -> History {
        self.entry(created_by, false)
    }

    /// An entry for a step; those that made a layer from a filesystem operation (RUN, COPY,
    /// ADD) get BuildKit's ` # buildkit` suffix.
    pub(crate) fn entry(&self, created_by: String, layer: bool) -> History {
        History {
            created: Some(self.created.clone()),
            created_by: Some(created_by),
            comment: Some(HISTORY_COMMENT.to_owned()),
            empty_layer: !layer,
            ..History::default()
        }
    }

    /// The entry of RUN, COPY or ADD: a layer, and ` # buildkit` after the text.
    pub fn layer(&self, created_by: &str) -> History {
        self.entry(format!("{created_by} # buildkit"), true)
    }
}

/// `secs.nanos` since the epoch as Go's RFC 3339 with nanoseconds, trailing zeros dropped.
fn rfc3339(secs: u64, nanos: u32) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX);
    let rem = secs % 86_400;
    let (year, month, day) = crate::warm::stamp::civil_from_days(days);
    let mut out = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if nanos > 0 {
        let f = format!("{nanos:09}");
        out.push('.');
        out.push_str(f.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_rfc3339_with_trimmed_nanoseconds() {
        let cases = [
            ((0, 0), "1970-01-01T00:00:00Z"),
            ((1_700_000_000, 0), "2023-11-14T22:13:20Z"),
            ((951_782_400, 500_000_000), "2000-02-29T00:00:00.5Z"),
            ((4_102_444_799, 123), "2099-12-31T23:59:59.000000123Z"),
        ];
        for ((secs, nanos), want) in cases {
            assert_eq!(rfc3339(secs, nanos), want);
        }
    }

    #[test]
    fn source_date_epoch_fixes_created() {
        let lookup = |k: &str| (k == "SOURCE_DATE_EPOCH").then(|| "1700000000".to_owned());
        let clock = Clock::from_env(lookup).unwrap();
        assert_eq!(clock.created(), "2023-11-14T22:13:20Z");
        assert_eq!(
            Clock::from_source_date_epoch("yesterday")
                .unwrap_err()
                .to_string(),
            "invalid SOURCE_DATE_EPOCH \"yesterday\": expected seconds since 1970-01-01"
        );
    }

    #[test]
    fn layer_entries_get_the_buildkit_suffix() {
        let clock = Clock::at_unix(0);
        let h = clock.layer("RUN /bin/sh -c make");
        assert_eq!(
            h.created_by.as_deref(),
            Some("RUN /bin/sh -c make # buildkit")
        );
        assert!(!h.empty_layer);
        let h = clock.metadata("ENV A=b".into());
        assert!(h.empty_layer);
        assert_eq!(h.comment.as_deref(), Some(HISTORY_COMMENT));
    }
}
