//! Registry maps and mirrors: where else an image may be pulled from, and in which order.
//!
//! Owns: [`RegistryMap`], filled from `--registry-map` (`index.docker.io=mirror.gcr.io;other=...`,
//! a value may carry a repository prefix: `reg=mirror.example/prefix`) and `--registry-mirror`
//! (Docker Hub only, as Kaniko does), and [`RegistryMap::candidates`], the ordered list of
//! repositories to try. Kaniko's rules (`pkg/image/remote`): the mapped registries in the order
//! given, then the original unless `--skip-default-registry-fallback`.
//!
//! Does not own: the fetching itself (`pull`). Mirrors apply to pulls only, never to pushes.

use std::collections::BTreeMap;

use crate::repository::{DOCKER_HUB_API, Repository};

/// Why a `--registry-map` value does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MapError {
    #[error("registry map entry {0:?} is not `registry=mirror[/prefix]`")]
    NotKeyValue(String),
}

/// Registry name → mirrors, in the order they are tried.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryMap {
    entries: BTreeMap<String, Vec<String>>,
}

fn canonical_registry(name: &str) -> String {
    match name {
        "docker.io" | "registry-1.docker.io" => DOCKER_HUB_API.to_owned(),
        other => other.to_owned(),
    }
}

impl RegistryMap {
    /// Adds one flag value: `reg=mirror` pairs separated by `;` (Kaniko's multi-key syntax).
    pub fn add_map(&mut self, value: &str) -> Result<(), MapError> {
        for pair in value.split(';').filter(|p| !p.is_empty()) {
            let (key, mirror) = pair
                .split_once('=')
                .filter(|(k, m)| !k.is_empty() && !m.is_empty())
                .ok_or_else(|| MapError::NotKeyValue(pair.to_owned()))?;
            self.add(key, mirror);
        }
        Ok(())
    }

    /// Adds one mirror for `registry` (`docker.io` and `index.docker.io` are the same), after
    /// those it already has: the form for settings already split into pairs.
    pub fn add(&mut self, registry: &str, mirror: &str) {
        self.entries
            .entry(canonical_registry(registry))
            .or_default()
            .push(mirror.to_owned());
    }

    /// Adds a `--registry-mirror`: a mirror of Docker Hub.
    pub fn add_mirror(&mut self, mirror: &str) {
        self.entries
            .entry(DOCKER_HUB_API.to_owned())
            .or_default()
            .push(mirror.trim_end_matches('/').to_owned());
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The mapped repositories for `repo`, in order; empty when its registry has no entry.
    pub fn mapped(&self, repo: &Repository) -> Vec<Repository> {
        let Some(mirrors) = self.entries.get(repo.registry()) else {
            return Vec::new();
        };
        mirrors
            .iter()
            .map(|m| {
                let m = m
                    .strip_prefix("https://")
                    .or_else(|| m.strip_prefix("http://"))
                    .unwrap_or(m);
                match m.split_once('/') {
                    Some((host, prefix)) if !prefix.trim_matches('/').is_empty() => {
                        let name = format!("{}/{}", prefix.trim_matches('/'), repo.name());
                        Repository::new(host, &name)
                    }
                    Some((host, _)) => Repository::new(host, repo.name()),
                    None => Repository::new(m, repo.name()),
                }
            })
            .collect()
    }

    /// Every repository to try for `repo`: mapped ones first, then `repo` itself unless
    /// `skip_default` and at least one mirror was mapped.
    pub fn candidates(&self, repo: &Repository, skip_default: bool) -> Vec<Repository> {
        let mut out = self.mapped(repo);
        if out.is_empty() || !skip_default {
            out.push(repo.clone());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub(name: &str) -> Repository {
        Repository::new("docker.io", name)
    }

    #[test]
    fn candidates_follow_map_order_then_the_original() {
        let mut m = RegistryMap::default();
        m.add_map("docker.io=mirror.gcr.io;index.docker.io=m2.example/hub")
            .unwrap();
        m.add_mirror("m3.example:5000/");
        m.add("quay.io", "q.example");
        let got: Vec<String> = m
            .candidates(&hub("library/busybox"), false)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            got,
            [
                "mirror.gcr.io/library/busybox",
                "m2.example/hub/library/busybox",
                "m3.example:5000/library/busybox",
                "index.docker.io/library/busybox",
            ]
        );
    }

    #[test]
    fn skip_default_fallback_drops_the_original_only_when_mapped() {
        let mut m = RegistryMap::default();
        m.add_map("quay.io=q.example").unwrap();
        let quay = Repository::new("quay.io", "a/b");
        assert_eq!(
            m.candidates(&quay, true),
            [Repository::new("q.example", "a/b")]
        );
        let other = Repository::new("ghcr.io", "a/b");
        assert_eq!(m.candidates(&other, true), vec![other]);
    }

    #[test]
    fn malformed_map_entries_are_refused() {
        let mut m = RegistryMap::default();
        for bad in ["no-equals", "=mirror", "reg=", "a=b;broken"] {
            assert!(m.add_map(bad).is_err(), "{bad}");
        }
    }
}
