//! Differences between two flattened images, and the report that lists them.
//!
//! Owns: comparing two filesystems path by path (type, mode, uid, gid, size, content hash,
//! symlink target, xattrs, hardlink group) and two configs key by key, and rendering what
//! differs, one line each. Objects are compared per key and arrays of objects per index
//! (`history[3].created_by`); arrays of scalars (`Env`, `Cmd`) are compared whole, since their
//! order matters and a per-index diff of a shifted list reads badly.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use super::allow::AllowList;
use super::flatten::{Entry, Filesystem, Kind};

/// A compared property of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    Type,
    Mode,
    Uid,
    Gid,
    Size,
    Content,
    Link,
    Xattrs,
    Hardlinks,
}

impl Field {
    pub const ALL: [Field; 9] = [
        Field::Type,
        Field::Mode,
        Field::Uid,
        Field::Gid,
        Field::Size,
        Field::Content,
        Field::Link,
        Field::Xattrs,
        Field::Hardlinks,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Field::Type => "type",
            Field::Mode => "mode",
            Field::Uid => "uid",
            Field::Gid => "gid",
            Field::Size => "size",
            Field::Content => "content",
            Field::Link => "link",
            Field::Xattrs => "xattrs",
            Field::Hardlinks => "hardlinks",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The field of an entry, rendered.
    fn render(self, entry: &Entry) -> String {
        match self {
            Field::Type => kind_name(entry.kind),
            Field::Mode => format!("{:04o}", entry.mode),
            Field::Uid => entry.uid.to_string(),
            Field::Gid => entry.gid.to_string(),
            Field::Size => entry.size.to_string(),
            Field::Content => entry.content.clone().unwrap_or_else(|| "-".into()),
            Field::Link => entry.link.clone().unwrap_or_else(|| "-".into()),
            Field::Xattrs => {
                let items: Vec<String> = entry
                    .xattrs
                    .iter()
                    .map(|(k, v)| match std::str::from_utf8(v) {
                        Ok(text) if !text.contains('\0') => format!("{k}={text:?}"),
                        _ => format!("{k}=0x{}", hex::encode(v)),
                    })
                    .collect();
                format!("{{{}}}", items.join(", "))
            }
            Field::Hardlinks => {
                let items: Vec<&str> = entry.hardlinks.iter().map(String::as_str).collect();
                format!("[{}]", items.join(", "))
            }
        }
    }
}

fn kind_name(kind: Kind) -> String {
    match kind {
        Kind::File => "file".into(),
        Kind::Dir => "dir".into(),
        Kind::Symlink => "symlink".into(),
        Kind::Char { major, minor } => format!("char {major}:{minor}"),
        Kind::Block { major, minor } => format!("block {major}:{minor}"),
        Kind::Fifo => "fifo".into(),
    }
}

/// Which of the two images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Left,
    Right,
}

/// One difference.
#[derive(Debug, Clone, PartialEq)]
pub enum Difference {
    /// A path present in one image only.
    Missing {
        path: String,
        /// The image that has the path.
        side: Side,
        /// What the path is there (`file 0644 0:0`).
        summary: String,
    },
    /// A path present in both with a field that differs.
    File {
        path: String,
        field: Field,
        left: String,
        right: String,
    },
    /// A config key whose values differ; `None` where a side lacks it.
    Config {
        key: String,
        left: Option<Value>,
        right: Option<Value>,
    },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::Missing {
                path,
                side,
                summary,
            } => {
                let side = match side {
                    Side::Left => "left",
                    Side::Right => "right",
                };
                write!(f, "only in {side}: {path} ({summary})")
            }
            Difference::File {
                path,
                field,
                left,
                right,
            } => write!(f, "{path}: {} {left} != {right}", field.name()),
            Difference::Config { key, left, right } => {
                let show =
                    |v: &Option<Value>| v.as_ref().map_or("<absent>".into(), Value::to_string);
                write!(f, "config {key}: {} != {}", show(left), show(right))
            }
        }
    }
}

/// The outcome of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub left: String,
    pub right: String,
    /// Differences no allowance covers.
    pub differences: Vec<Difference>,
    /// Differences an allowance covers, with its reason.
    pub allowed: Vec<(Difference, String)>,
}

impl Report {
    /// Whether the images match, up to allowed differences.
    pub fn is_match(&self) -> bool {
        self.differences.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "left:  {}", self.left)?;
        writeln!(f, "right: {}", self.right)?;
        if self.differences.is_empty() {
            writeln!(f, "no differences")?;
        } else {
            writeln!(f, "{} differences:", self.differences.len())?;
            for d in &self.differences {
                writeln!(f, "  {d}")?;
            }
        }
        if !self.allowed.is_empty() {
            writeln!(f, "{} allowed differences:", self.allowed.len())?;
            for (d, reason) in &self.allowed {
                writeln!(f, "  {d}  [allowed: {reason}]")?;
            }
        }
        Ok(())
    }
}

/// Compares two filesystems and configs, sorting differences by the allow-list.
pub fn compare(
    (left_name, left_fs, left_config): (&str, &Filesystem, &Value),
    (right_name, right_fs, right_config): (&str, &Filesystem, &Value),
    allow: &AllowList,
) -> Report {
    let mut all = files(left_fs, right_fs);
    all.extend(configs(left_config, right_config));
    let mut report = Report {
        left: left_name.to_owned(),
        right: right_name.to_owned(),
        differences: Vec::new(),
        allowed: Vec::new(),
    };
    for difference in all {
        match allow.reason(&difference) {
            Some(reason) => {
                let reason = reason.to_owned();
                report.allowed.push((difference, reason));
            }
            None => report.differences.push(difference),
        }
    }
    report
}

/// File-by-file differences, in path order.
pub fn files(left: &Filesystem, right: &Filesystem) -> Vec<Difference> {
    let mut paths: Vec<&String> = left.keys().chain(right.keys()).collect();
    paths.sort();
    paths.dedup();
    let mut out = Vec::new();
    for path in paths {
        match (left.get(path), right.get(path)) {
            (Some(l), Some(r)) => {
                for field in Field::ALL {
                    let (a, b) = (field.render(l), field.render(r));
                    if a != b {
                        out.push(Difference::File {
                            path: path.clone(),
                            field,
                            left: a,
                            right: b,
                        });
                    }
                }
            }
            (Some(e), None) => out.push(missing(path, Side::Left, e)),
            (None, Some(e)) => out.push(missing(path, Side::Right, e)),
            (None, None) => {}
        }
    }
    out
}

fn missing(path: &str, side: Side, entry: &Entry) -> Difference {
    Difference::Missing {
        path: path.to_owned(),
        side,
        summary: format!(
            "{} {:04o} {}:{}",
            kind_name(entry.kind),
            entry.mode,
            entry.uid,
            entry.gid
        ),
    }
}

/// Key-by-key config differences, in key order.
pub fn configs(left: &Value, right: &Value) -> Vec<Difference> {
    let mut l = BTreeMap::new();
    let mut r = BTreeMap::new();
    leaves(left, String::new(), &mut l);
    leaves(right, String::new(), &mut r);
    // Layer bytes differ between builders, so `rootfs.diff_ids` is usually allowed; how many
    // layers there are still matters.
    for (config, out) in [(left, &mut l), (right, &mut r)] {
        if let Some(ids) = config["rootfs"]["diff_ids"].as_array() {
            out.insert("rootfs.layer_count".to_owned(), Value::from(ids.len()));
        }
    }
    let mut keys: Vec<&String> = l.keys().chain(r.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| l.get(*k) != r.get(*k))
        .map(|k| Difference::Config {
            key: k.clone(),
            left: l.get(k).cloned(),
            right: r.get(k).cloned(),
        })
        .collect()
}

fn leaves(value: &Value, key: String, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                leaves(v, child_key(&key, k), out);
            }
        }
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_object) => {
            for (i, v) in items.iter().enumerate() {
                leaves(v, format!("{key}[{i}]"), out);
            }
        }
        _ => {
            out.insert(key, value.clone());
        }
    }
}

/// `a.b` for identifier-like keys, `a["80/tcp"]` for the rest.
fn child_key(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (parent.is_empty(), plain) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{parent}.{key}"),
        (_, false) => format!("{parent}[{key:?}]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn config_keys_render_objects_per_key_and_scalar_arrays_whole() {
        let left = json!({
            "architecture": "amd64",
            "config": {"Env": ["A=1"], "Labels": {"org.x": "1"}, "ExposedPorts": {"80/tcp": {}}},
            "history": [{"created_by": "RUN a"}, {"created_by": "RUN b"}]
        });
        let right = json!({
            "architecture": "amd64",
            "config": {"Env": ["A=1", "B=2"], "Labels": {"org.x": "2"}},
            "history": [{"created_by": "RUN a"}, {"created_by": "RUN c", "empty_layer": true}]
        });
        let rendered: Vec<String> = configs(&left, &right)
            .iter()
            .map(|d| d.to_string())
            .collect();
        assert_eq!(
            rendered,
            [
                r#"config config.Env: ["A=1"] != ["A=1","B=2"]"#,
                r#"config config.ExposedPorts["80/tcp"]: {} != <absent>"#,
                r#"config config.Labels["org.x"]: "1" != "2""#,
                r#"config history[1].created_by: "RUN b" != "RUN c""#,
                r#"config history[1].empty_layer: <absent> != true"#,
            ]
        );
    }

    #[test]
    fn layer_counts_are_compared_even_when_diff_ids_are_allowed() {
        let left = json!({"rootfs": {"type": "layers", "diff_ids": ["sha256:a", "sha256:b"]}});
        let right = json!({"rootfs": {"type": "layers", "diff_ids": ["sha256:c"]}});
        let allow = AllowList::builder_metadata();
        let unexpected: Vec<String> = configs(&left, &right)
            .into_iter()
            .filter(|d| allow.reason(d).is_none())
            .map(|d| d.to_string())
            .collect();
        assert_eq!(unexpected, ["config rootfs.layer_count: 2 != 1"]);
    }

    #[test]
    fn equal_configs_have_no_differences() {
        let config = json!({"config": {"Cmd": ["sh"]}, "rootfs": {"diff_ids": []}});
        assert!(configs(&config, &config.clone()).is_empty());
    }
}
