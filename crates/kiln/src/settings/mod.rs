//! Resolved settings: raw flags plus Kaniko's environment variables, defaults and validation,
//! turned into plain typed structs ([`BuildSettings`], [`WarmSettings`]) that the library
//! crates take.
//!
//! Owns: where each value comes from (flag, deprecated alias, environment variable, default),
//! Kaniko's validation rules, and path resolution against the working directory. Every rule
//! that Kaniko applies in `cmd/executor/cmd/root.go` and `cmd/warmer/cmd/root.go` is here,
//! with messages that name the flag and say what was expected.
//!
//! Does not own: parsing the command line (`crate::flags`), or doing anything with the
//! settings (the library crates).

pub mod build;
pub mod context;
pub mod environment;
pub mod error;
pub mod platform;
pub mod registry;
pub mod registry_options;
pub mod warm;

pub use build::BuildSettings;
pub use environment::Environment;
pub use error::SettingsError;
pub use warm::WarmSettings;

/// Picks the value of a flag that Kaniko also spells in deprecated camelCase: the two must
/// agree when both are given; using the deprecated one earns a warning.
fn prefer_current<T: PartialEq + std::fmt::Debug>(
    current: (&'static str, Option<T>),
    deprecated: (&'static str, Option<T>),
    warnings: &mut Vec<String>,
) -> Result<Option<T>, SettingsError> {
    let (flag, value) = current;
    let (old_flag, old_value) = deprecated;
    if old_value.is_some() {
        warnings.push(format!("flag {old_flag} is deprecated, use {flag}"));
    }
    match (value, old_value) {
        (Some(a), Some(b)) if a != b => Err(SettingsError::Conflicting {
            flag,
            value: format!("{a:?}"),
            deprecated: old_flag,
            deprecated_value: format!("{b:?}"),
        }),
        (Some(a), _) => Ok(Some(a)),
        (None, b) => Ok(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deprecated_alias_agrees_or_conflicts() {
        let cases = [
            (None, None, Ok(None), 0),
            (Some(1), None, Ok(Some(1)), 0),
            (None, Some(2), Ok(Some(2)), 1),
            (Some(3), Some(3), Ok(Some(3)), 1),
            (Some(1), Some(2), Err(()), 1),
        ];
        for (current, deprecated, want, warning_count) in cases {
            let mut warnings = Vec::new();
            let got = prefer_current(("--new", current), ("--old", deprecated), &mut warnings)
                .map_err(|_| ());
            assert_eq!(got, want, "current {current:?}, deprecated {deprecated:?}");
            assert_eq!(warnings.len(), warning_count);
        }
    }
}
