//! A repository on a registry, as the wire protocol addresses it.
//!
//! Owns: [`Repository`] (registry host and repository path) and the host that serves a
//! registry's API: Docker Hub's `docker.io` is reached at `index.docker.io`, as
//! go-containerregistry does. Parsing and normalising names is `kiln_oci::Reference`'s job.

use std::fmt;

use kiln_oci::Reference;

/// The host that serves Docker Hub's registry API.
pub const DOCKER_HUB_API: &str = "index.docker.io";

/// `registry/name`, the unit of auth scopes, blob uploads and cross-repo mounts.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Repository {
    registry: String,
    name: String,
}

impl Repository {
    /// `registry` as a reference names it (`docker.io` is accepted for Docker Hub).
    pub fn new(registry: &str, name: &str) -> Self {
        let registry = match registry {
            "docker.io" | "registry-1.docker.io" => DOCKER_HUB_API,
            other => other,
        };
        Self {
            registry: registry.to_owned(),
            name: name.to_owned(),
        }
    }

    pub fn of(reference: &Reference) -> Self {
        Self::new(reference.registry(), reference.repository())
    }

    /// The registry host (with port) that serves the API.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path, e.g. `library/busybox`.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.name)
    }
}

impl fmt::Debug for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Repository({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_is_reached_at_index_docker_io() {
        let r = Repository::of(&Reference::parse("busybox").unwrap());
        assert_eq!(r.to_string(), "index.docker.io/library/busybox");
        let r = Repository::of(&Reference::parse("127.0.0.1:5000/a/b:1").unwrap());
        assert_eq!((r.registry(), r.name()), ("127.0.0.1:5000", "a/b"));
    }
}
