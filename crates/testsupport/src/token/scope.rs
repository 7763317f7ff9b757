//! Scopes as clients request them and access as tokens grant it.
//!
//! Owns: parsing `type:name:actions` scope strings (several per request, as repeated `scope`
//! query parameters or space-separated in an OAuth2 form) and deciding what a subject gets.
//! Follows the distribution token scope grammar
//! (<https://distribution.github.io/distribution/spec/auth/scope/>).

use serde::Serialize;

/// One resource's granted actions, the `access` claim entry of a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Access {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

/// Parses one scope string; `None` when it is not `type:name:actions`.
///
/// The name may itself hold colons (a registry host with a port in a plugin name), so the type
/// ends at the first colon and the actions start after the last one.
pub fn parse(scope: &str) -> Option<Access> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    if kind.is_empty() || name.is_empty() {
        return None;
    }
    // `repository(plugin)` is a type with a class; the class does not change access here.
    let kind = kind.split('(').next().unwrap_or(kind);
    let actions = actions
        .split(',')
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect();
    Some(Access {
        kind: kind.to_owned(),
        name: name.to_owned(),
        actions,
    })
}

/// What a subject is granted of the requested scopes: an authenticated user gets every action it
/// asks for; an anonymous one gets nothing, so the registry answers it 401 as a private
/// repository on a public registry would.
pub fn grant(requested: &[String], authenticated: bool) -> Vec<Access> {
    if !authenticated {
        return Vec::new();
    }
    requested.iter().filter_map(|s| parse(s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(kind: &str, name: &str, actions: &[&str]) -> Access {
        Access {
            kind: kind.into(),
            name: name.into(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
        }
    }

    #[test]
    fn parse_scopes() {
        let cases: &[(&str, Option<Access>)] = &[
            (
                "repository:busybox:pull",
                Some(access("repository", "busybox", &["pull"])),
            ),
            (
                "repository:team/app:pull,push",
                Some(access("repository", "team/app", &["pull", "push"])),
            ),
            (
                "repository(plugin):host:5000/x:pull",
                Some(access("repository", "host:5000/x", &["pull"])),
            ),
            (
                "registry:catalog:*",
                Some(access("registry", "catalog", &["*"])),
            ),
            ("repository:busybox", None),
            ("busybox", None),
            (":busybox:pull", None),
        ];
        for (input, want) in cases {
            assert_eq!(&parse(input), want, "scope {input}");
        }
    }

    #[test]
    fn anonymous_subjects_get_no_access() {
        let requested = vec!["repository:busybox:pull".to_owned()];
        assert!(grant(&requested, false).is_empty());
        assert_eq!(
            grant(&requested, true),
            vec![access("repository", "busybox", &["pull"])]
        );
    }
}
