//! Token scopes (`repository:<name>:<actions>`), from Docker's token auth spec
//! (<https://distribution.github.io/distribution/spec/auth/scope/>).
//!
//! Owns: [`Scopes`], the set one token must cover. A push asks for `pull,push` on its target
//! plus `pull` on every repository it mounts from, all in one token, so that a cross-repo mount
//! needs no second token.

use std::collections::BTreeMap;
use std::fmt;

/// Repository → actions (sorted), the scopes one token must cover.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scopes(BTreeMap<String, Vec<String>>);

impl Scopes {
    /// `pull` on `repository`.
    pub fn pull(repository: &str) -> Self {
        let mut s = Self::default();
        s.add(repository, "pull");
        s
    }

    /// `pull,push` on `repository`.
    pub fn push(repository: &str) -> Self {
        let mut s = Self::pull(repository);
        s.add(repository, "push");
        s
    }

    /// Adds `action` on `repository`.
    pub fn add(&mut self, repository: &str, action: &str) {
        let actions = self.0.entry(repository.to_owned()).or_default();
        if !actions.iter().any(|a| a == action) {
            actions.push(action.to_owned());
            actions.sort();
        }
    }

    /// Adds a scope string as a challenge's `scope` parameter carries it (space-separated
    /// `repository:name:a,b` items); others (`registry:catalog:*`) are ignored.
    pub fn add_challenge_scope(&mut self, scope: &str) {
        for item in scope.split(' ') {
            let mut parts = item.splitn(3, ':');
            if let (Some("repository"), Some(name), Some(actions)) =
                (parts.next(), parts.next(), parts.next())
            {
                for a in actions.split(',').filter(|a| !a.is_empty()) {
                    self.add(name, a);
                }
            }
        }
    }

    /// Whether every scope in `other` is in `self`.
    pub fn covers(&self, other: &Scopes) -> bool {
        other.0.iter().all(|(repo, actions)| {
            self.0
                .get(repo)
                .is_some_and(|mine| actions.iter().all(|a| mine.contains(a)))
        })
    }

    pub fn merge(&mut self, other: &Scopes) {
        for (repo, actions) in &other.0 {
            for a in actions {
                self.add(repo, a);
            }
        }
    }

    /// One `repository:name:actions` string per repository, for `scope=` query parameters.
    pub fn items(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|(repo, actions)| format!("repository:{repo}:{}", actions.join(",")))
            .collect()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.items().join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_with_mount_source_is_one_scope_set() {
        let mut s = Scopes::push("team/app");
        s.add("base/img", "pull");
        assert_eq!(
            s.items(),
            ["repository:base/img:pull", "repository:team/app:pull,push"]
        );
    }

    #[test]
    fn challenge_scopes_are_merged() {
        let mut s = Scopes::pull("a");
        s.add_challenge_scope("repository:a:push repository:b:pull registry:catalog:*");
        assert_eq!(s.to_string(), "repository:a:pull,push repository:b:pull");
    }

    #[test]
    fn covers_checks_every_action() {
        let push = Scopes::push("a");
        assert!(push.covers(&Scopes::pull("a")));
        assert!(!Scopes::pull("a").covers(&push));
        assert!(!push.covers(&Scopes::pull("b")));
    }
}
