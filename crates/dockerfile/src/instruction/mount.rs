//! `RUN --mount` values, parsed into a typed [`Mount`].
//!
//! Owns the option grammar (comma-separated `key=value` fields, CSV quoting, bare `ro`, `rw`
//! and `required`), the keys each mount type takes, the value types (octal `mode`, numeric
//! `uid`/`gid`, byte sizes with `k`/`m`/`g` suffixes) and the defaults that follow from the
//! type. Field values are expanded through a callback before they are interpreted, as
//! BuildKit does; the `type` is read as written. Does not own where mounts come from (cache
//! storage, secrets, SSH agents).
//! Reference: <https://docs.docker.com/reference/dockerfile/#run---mount>.

use std::fmt;

use crate::expand::ExpandError;

/// The kind of a mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountType {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

impl fmt::Display for MountType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MountType::Bind => "bind",
            MountType::Cache => "cache",
            MountType::Tmpfs => "tmpfs",
            MountType::Secret => "secret",
            MountType::Ssh => "ssh",
        })
    }
}

/// How concurrent builds share a cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sharing {
    #[default]
    Shared,
    Private,
    Locked,
}

/// One `--mount`, with the type's defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub kind: MountType,
    /// Where the mount appears. For secrets it defaults to `/run/secrets/<id>`; for SSH it is
    /// `None` unless given (the executor picks `/run/buildkit/ssh_agent.N`).
    pub target: Option<String>,
    /// Path inside `from` (bind, cache).
    pub source: Option<String>,
    /// Stage name, stage index or image to take the source from (bind, cache).
    pub from: Option<String>,
    /// Bind mounts are read-only unless `rw`; the others are writable unless `ro`.
    pub readonly: bool,
    /// Cache id (defaults to the target), secret id (defaults to the target's file name), or
    /// SSH agent id (defaults to `default`).
    pub id: Option<String>,
    pub sharing: Sharing,
    /// Octal mode of the mount point (cache, secret, ssh).
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Size limit of a tmpfs, in bytes.
    pub size: Option<u64>,
    /// Whether a missing secret or SSH agent fails the step.
    pub required: bool,
    /// Environment variable a secret is exposed as.
    pub env: Option<String>,
}

/// Why a `--mount` value is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MountError {
    #[error("malformed option list: {0}")]
    Syntax(String),
    #[error("unsupported mount type {0:?}")]
    UnknownType(String),
    #[error("invalid field {0:?}: it must be a key=value pair")]
    NotKeyValue(String),
    #[error("unexpected key {key:?} in {field:?}")]
    UnknownKey { key: String, field: String },
    #[error("key {key:?} is not valid for mount type {kind}")]
    KeyNotForType { key: String, kind: MountType },
    #[error("invalid value {value:?} for {key}: {reason}")]
    InvalidValue {
        key: String,
        value: String,
        reason: String,
    },
    #[error("cannot expand the value of {key}")]
    Expand {
        key: String,
        #[source]
        source: ExpandError,
    },
    #[error("mount type {0} needs a target")]
    MissingTarget(MountType),
    #[error("secret mount needs an id or a target")]
    MissingSecretId,
}

/// Keys (canonical spelling first) and the types that accept them.
const KEYS: &[(&[&str], &[MountType])] = {
    use MountType::*;
    &[
        (
            &["target", "dst", "destination"],
            &[Bind, Cache, Tmpfs, Secret, Ssh],
        ),
        (&["source", "src"], &[Bind, Cache]),
        (&["from"], &[Bind, Cache]),
        (&["readonly", "ro"], &[Bind, Cache, Tmpfs, Secret, Ssh]),
        (&["readwrite", "rw"], &[Bind, Cache, Tmpfs, Secret, Ssh]),
        (&["id"], &[Cache, Secret, Ssh]),
        (&["sharing"], &[Cache]),
        (&["mode"], &[Cache, Secret, Ssh]),
        (&["uid"], &[Cache, Secret, Ssh]),
        (&["gid"], &[Cache, Secret, Ssh]),
        (&["size"], &[Tmpfs]),
        (&["required"], &[Secret, Ssh]),
        (&["env"], &[Secret]),
    ]
};

impl Mount {
    /// Parses a `--mount` value, expanding each field's value with `expand` first.
    pub fn parse(
        value: &str,
        expand: &mut dyn FnMut(&str) -> Result<String, ExpandError>,
    ) -> Result<Mount, MountError> {
        let fields = split_fields(value)?;
        let kind = kind_of(&fields)?;
        let mut m = Mount {
            kind,
            target: None,
            source: None,
            from: None,
            readonly: kind == MountType::Bind,
            id: None,
            sharing: Sharing::Shared,
            mode: None,
            uid: None,
            gid: None,
            size: None,
            required: false,
            env: None,
        };
        for field in &fields {
            let (key, raw) = match field.split_once('=') {
                Some((k, v)) => (k.to_ascii_lowercase(), Some(v)),
                None => (field.to_ascii_lowercase(), None),
            };
            if key == "type" {
                continue;
            }
            let Some((names, kinds)) = KEYS.iter().find(|(names, _)| names.contains(&key.as_str()))
            else {
                if raw.is_none() {
                    return Err(MountError::NotKeyValue(field.clone()));
                }
                return Err(MountError::UnknownKey {
                    key,
                    field: field.clone(),
                });
            };
            if !kinds.contains(&kind) {
                return Err(MountError::KeyNotForType { key, kind });
            }
            let canonical = names[0];
            let Some(raw) = raw else {
                match canonical {
                    "readonly" => m.readonly = true,
                    "readwrite" => m.readonly = false,
                    "required" => m.required = true,
                    _ => return Err(MountError::NotKeyValue(field.clone())),
                }
                continue;
            };
            let value = expand(raw).map_err(|source| MountError::Expand {
                key: key.clone(),
                source,
            })?;
            let invalid = |reason: &str| MountError::InvalidValue {
                key: key.clone(),
                value: value.clone(),
                reason: reason.to_owned(),
            };
            match canonical {
                "target" => m.target = Some(value.clone()),
                "source" => m.source = Some(value.clone()),
                "from" => m.from = Some(value.clone()),
                "id" => m.id = Some(value.clone()),
                "env" => m.env = Some(value.clone()),
                "readonly" => {
                    m.readonly = parse_bool(&value).ok_or_else(|| invalid("not a boolean"))?
                }
                "readwrite" => {
                    m.readonly = !parse_bool(&value).ok_or_else(|| invalid("not a boolean"))?
                }
                "required" => {
                    m.required = parse_bool(&value).ok_or_else(|| invalid("not a boolean"))?
                }
                "sharing" => {
                    m.sharing = match value.to_ascii_lowercase().as_str() {
                        "shared" => Sharing::Shared,
                        "private" => Sharing::Private,
                        "locked" => Sharing::Locked,
                        _ => return Err(invalid("expected shared, private or locked")),
                    }
                }
                "mode" => {
                    m.mode = Some(
                        u32::from_str_radix(&value, 8).map_err(|_| invalid("not an octal mode"))?,
                    )
                }
                "uid" => m.uid = Some(value.parse().map_err(|_| invalid("not a number"))?),
                "gid" => m.gid = Some(value.parse().map_err(|_| invalid("not a number"))?),
                "size" => m.size = Some(parse_size(&value).ok_or_else(|| invalid("not a size"))?),
                _ => {
                    return Err(MountError::UnknownKey {
                        key,
                        field: field.clone(),
                    });
                }
            }
        }
        m.apply_defaults()?;
        Ok(m)
    }

    fn apply_defaults(&mut self) -> Result<(), MountError> {
        match self.kind {
            MountType::Bind | MountType::Tmpfs if self.target.is_none() => {
                Err(MountError::MissingTarget(self.kind))
            }
            MountType::Cache => {
                let target = self
                    .target
                    .clone()
                    .ok_or(MountError::MissingTarget(self.kind))?;
                self.id.get_or_insert(target);
                Ok(())
            }
            MountType::Secret => {
                match (&self.id, &self.target) {
                    (None, None) => return Err(MountError::MissingSecretId),
                    (None, Some(t)) => {
                        let base = t.rsplit('/').find(|s| !s.is_empty()).unwrap_or(t);
                        self.id = Some(base.to_owned());
                    }
                    (Some(id), None) if self.env.is_none() => {
                        self.target = Some(format!("/run/secrets/{id}"));
                    }
                    _ => {}
                }
                Ok(())
            }
            MountType::Ssh => {
                self.id.get_or_insert_with(|| "default".to_owned());
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Splits on commas with CSV quoting: a field starting with `"` runs to the closing quote, and
/// `""` inside it is one quote.
fn split_fields(value: &str) -> Result<Vec<String>, MountError> {
    let mut fields = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => {
                        return Err(MountError::Syntax(format!(
                            "unterminated quote in {value:?}"
                        )));
                    }
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            match chars.next() {
                None | Some(',') => {}
                Some(c) => {
                    return Err(MountError::Syntax(format!(
                        "unexpected {c:?} after a quoted field"
                    )));
                }
            }
        } else {
            loop {
                match chars.next() {
                    None | Some(',') => break,
                    Some('"') => {
                        return Err(MountError::Syntax(format!("bare \" in field of {value:?}")));
                    }
                    Some(c) => field.push(c),
                }
            }
        }
        if !field.is_empty() {
            fields.push(field);
        }
        if chars.peek().is_none() {
            return Ok(fields);
        }
    }
}

fn kind_of(fields: &[String]) -> Result<MountType, MountError> {
    let mut kind = MountType::Bind;
    for field in fields {
        let Some((key, value)) = field.split_once('=') else {
            continue;
        };
        if key.eq_ignore_ascii_case("type") {
            kind = match value.to_ascii_lowercase().as_str() {
                "bind" => MountType::Bind,
                "cache" => MountType::Cache,
                "tmpfs" => MountType::Tmpfs,
                "secret" => MountType::Secret,
                "ssh" => MountType::Ssh,
                _ => return Err(MountError::UnknownType(value.to_owned())),
            };
        }
    }
    Ok(kind)
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// A byte size: a number with an optional `k`, `m`, `g`, `t` or `p` (binary multiples),
/// optionally followed by `i` and/or `b`, as Docker's `RAMInBytes`.
fn parse_size(s: &str) -> Option<u64> {
    let digits = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let number: f64 = s[..digits].parse().ok()?;
    let unit = s[digits..].trim_start_matches(' ').to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return None,
    };
    let bytes = number * (1u64 << shift) as f64;
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

#[cfg(test)]
mod tests;
