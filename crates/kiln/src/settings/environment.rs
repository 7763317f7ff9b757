//! The process environment that settings are resolved against: environment variables and the
//! working directory, captured once so that resolution is a pure function of flags and
//! [`Environment`] and tests can supply their own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::SettingsError;

/// Environment variables and the working directory.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    vars: BTreeMap<String, String>,
    cwd: PathBuf,
}

impl Environment {
    /// The current process's environment. Variables whose name or value is not UTF-8 are left
    /// out: none that kiln reads can be such.
    pub fn from_process() -> Result<Self, SettingsError> {
        let cwd = std::env::current_dir().map_err(|source| SettingsError::CurrentDir { source })?;
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Ok(Self { vars, cwd })
    }

    /// An environment made of the given variables and working directory.
    #[cfg(test)]
    pub fn new<K, V>(vars: impl IntoIterator<Item = (K, V)>, cwd: impl Into<PathBuf>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            cwd: cwd.into(),
        }
    }

    /// The value of an environment variable, set (even to an empty string) or not.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// The value of an environment variable, treating an empty value as unset.
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.var(name).filter(|v| !v.is_empty())
    }

    /// `path` made absolute against the working directory, without touching the filesystem
    /// (as Go's `filepath.Abs`, which Kaniko uses, but keeping `..` components).
    pub fn absolute(&self, path: impl AsRef<Path>) -> PathBuf {
        let path = path.as_ref();
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.cwd.join(path)
        }
    }
}

/// Go's `strconv.ParseBool`, for boolean environment variables such as `KANIKO_NO_PUSH`.
pub fn parse_env_bool(name: &'static str, value: &str) -> Result<bool, SettingsError> {
    crate::flags::value::parse_go_bool(value).map_err(|expected| SettingsError::InvalidEnv {
        name,
        value: value.to_owned(),
        expected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_resolved_against_the_working_directory() {
        let env = Environment::new([("A", "1")], "/work");
        let cases = [
            ("Dockerfile", "/work/Dockerfile"),
            ("sub/x", "/work/sub/x"),
            ("/abs/x", "/abs/x"),
        ];
        for (input, want) in cases {
            assert_eq!(env.absolute(input), PathBuf::from(want));
        }
    }

    #[test]
    fn empty_variables_are_set_but_not_non_empty() {
        let env = Environment::new([("EMPTY", ""), ("FULL", "x")], "/");
        assert_eq!(env.var("EMPTY"), Some(""));
        assert_eq!(env.non_empty("EMPTY"), None);
        assert_eq!(env.non_empty("FULL"), Some("x"));
        assert_eq!(env.var("MISSING"), None);
    }
}
