//! Image references (`registry/repository[:tag][@digest]`), parsed and normalised the way the
//! Docker CLI does (`github.com/distribution/reference`, `ParseNormalizedNamed`), which is also what
//! go-containerregistry's `pkg/name` accepts for every name a user would type.
//!
//! Owns: the grammar (domain, path components, tag, digest), Docker Hub defaults (`docker.io`,
//! `library/`, tag `latest`), the `index.docker.io` alias and the canonical `Display` form.
//! Does not own: which host serves a registry's API or its credentials (`kiln-registry`).
//!
//! Grammar: <https://github.com/distribution/reference/blob/main/reference.go>.

use std::fmt;
use std::str::FromStr;

use crate::digest::{Digest, DigestError};

/// The registry that a name without a domain refers to.
pub const DOCKER_HUB: &str = "docker.io";
/// An older spelling of [`DOCKER_HUB`], rewritten to it when parsing.
pub const DOCKER_HUB_ALIAS: &str = "index.docker.io";
/// The tag a reference gets when it names neither a tag nor a digest.
pub const DEFAULT_TAG: &str = "latest";
/// Longest `registry/repository` that Docker accepts.
pub const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// Why a string is not an image reference. Every variant carries the input as typed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    #[error("image reference is empty")]
    Empty,
    #[error("invalid reference {0:?}: repository name must be lowercase")]
    UpperCase(String),
    #[error("invalid reference {0:?}: cannot specify 64-byte hexadecimal strings as a name")]
    HexName(String),
    #[error("invalid reference {input:?}: repository name {repository:?} is not valid")]
    Repository { input: String, repository: String },
    #[error("invalid reference {input:?}: registry {registry:?} is not a valid host[:port]")]
    Registry { input: String, registry: String },
    #[error(
        "invalid reference {input:?}: tag {tag:?} is not valid (at most 128 of [A-Za-z0-9_.-], not starting with . or -)"
    )]
    Tag { input: String, tag: String },
    #[error("invalid reference {input:?}: bad digest")]
    Digest {
        input: String,
        #[source]
        source: DigestError,
    },
    #[error("invalid reference {0:?}: repository name must not be longer than 255 characters")]
    NameTooLong(String),
}

/// A parsed, normalised image reference.
///
/// Always has a tag or a digest (or both): a bare name gets the tag `latest`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses and normalises `s`; the same as `s.parse()`.
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        s.parse()
    }

    /// The registry host, with its port if any; `docker.io` for Docker Hub.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path inside the registry, e.g. `library/busybox`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// Whether the registry is Docker Hub.
    pub fn is_docker_hub(&self) -> bool {
        self.registry == DOCKER_HUB
    }

    /// `registry/repository` without tag or digest: the repository a reference belongs to, the
    /// form to name in errors about the repository (auth scopes, blob uploads).
    pub fn context(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The short form Docker shows (`busybox:latest`, `user/app@sha256:…`, `quay.io/a/b:1`).
    pub fn familiar(&self) -> String {
        let name = if self.is_docker_hub() {
            self.repository
                .strip_prefix("library/")
                .filter(|rest| !rest.contains('/'))
                .unwrap_or(&self.repository)
                .to_owned()
        } else {
            self.context()
        };
        let mut out = name;
        push_suffix(&mut out, self.tag.as_deref(), self.digest.as_ref());
        out
    }

    /// The same repository with `tag` and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Self, ReferenceError> {
        if !is_tag(tag) {
            return Err(ReferenceError::Tag {
                input: format!("{}:{tag}", self.context()),
                tag: tag.to_owned(),
            });
        }
        Ok(Self {
            tag: Some(tag.to_owned()),
            digest: None,
            ..self.clone()
        })
    }

    /// The same repository pinned to `digest`, keeping the tag for display (`name:tag@digest`).
    pub fn with_digest(&self, digest: Digest) -> Self {
        Self {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// What to ask the registry for: the digest if there is one, else the tag.
    pub fn identifier(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => DEFAULT_TAG.to_owned(),
        }
    }
}

fn push_suffix(out: &mut String, tag: Option<&str>, digest: Option<&Digest>) {
    if let Some(tag) = tag {
        out.push(':');
        out.push_str(tag);
    }
    if let Some(digest) = digest {
        out.push('@');
        out.push_str(digest.as_str());
    }
}

impl fmt::Display for Reference {
    /// The canonical form: `docker.io/library/busybox:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = self.context();
        push_suffix(&mut out, self.tag.as_deref(), self.digest.as_ref());
        f.write_str(&out)
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({self})")
    }
}

impl serde::Serialize for Reference {
    /// As its canonical string.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(input: &str) -> Result<Self, ReferenceError> {
        if input.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if input.len() == 64 && input.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ReferenceError::HexName(input.to_owned()));
        }
        let (name_and_tag, digest) = match input.split_once('@') {
            Some((n, d)) => {
                let digest = d
                    .parse::<Digest>()
                    .map_err(|source| ReferenceError::Digest {
                        input: input.to_owned(),
                        source,
                    })?;
                (n, Some(digest))
            }
            None => (input, None),
        };
        let (registry, rest) = split_registry(name_and_tag);
        // After the registry is split off, a colon can only introduce the tag.
        let (path, tag) = match rest.rsplit_once(':') {
            Some((p, t)) => (p, Some(t)),
            None => (rest, None),
        };
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(ReferenceError::UpperCase(input.to_owned()));
        }
        if !is_domain(registry) {
            return Err(ReferenceError::Registry {
                input: input.to_owned(),
                registry: registry.to_owned(),
            });
        }
        if !is_path(path) {
            return Err(ReferenceError::Repository {
                input: input.to_owned(),
                repository: path.to_owned(),
            });
        }
        if let Some(tag) = tag.filter(|t| !is_tag(t)) {
            return Err(ReferenceError::Tag {
                input: input.to_owned(),
                tag: tag.to_owned(),
            });
        }
        let (registry, repository) = normalise(registry, path);
        if registry.len() + 1 + repository.len() > MAX_NAME_LEN {
            return Err(ReferenceError::NameTooLong(input.to_owned()));
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_owned()),
            (None, Some(_)) => None,
            (None, None) => Some(DEFAULT_TAG.to_owned()),
        };
        Ok(Self {
            registry,
            repository,
            tag,
            digest,
        })
    }
}

/// Splits `name[:tag]` into (registry, rest) as Docker's `splitDockerDomain` does: the first
/// component is a registry only if it looks like a host (has `.` or `:`, is `localhost`, or has
/// an upper-case letter, which a repository never may).
fn split_registry(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (first, rest)
        }
        _ => (DOCKER_HUB, name),
    }
}

fn normalise(registry: &str, path: &str) -> (String, String) {
    let registry = if registry == DOCKER_HUB_ALIAS {
        DOCKER_HUB
    } else {
        registry
    };
    let repository = if registry == DOCKER_HUB && !path.contains('/') {
        format!("library/{path}")
    } else {
        path.to_owned()
    };
    (registry.to_owned(), repository)
}

/// `[\w][\w.-]{0,127}`
fn is_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_TAG_LEN
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-')
}

/// Path components `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` joined by `/`.
fn is_path(path: &str) -> bool {
    !path.is_empty() && path.split('/').all(is_path_component)
}

fn is_path_component(c: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = c.as_bytes();
    let mut i = 0;
    let mut first = true;
    while i < bytes.len() {
        if !first {
            // A separator between two alphanumeric runs.
            let start = i;
            while i < bytes.len() && !alnum(bytes[i]) {
                i += 1;
            }
            let sep = &c[start..i];
            let dashes = !sep.is_empty() && sep.bytes().all(|b| b == b'-');
            if !(sep == "." || sep == "_" || sep == "__" || dashes) {
                return false;
            }
        }
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        first = false;
    }
    !bytes.is_empty()
}

/// A host name or `[ipv6]`, with an optional `:port`.
fn is_domain(domain: &str) -> bool {
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        let Some((addr, after)) = rest.split_once(']') else {
            return false;
        };
        if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => ("", Some(port)),
                None => return false,
            },
        }
    } else {
        match domain.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (domain, None),
        }
    };
    let bad_port = port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()));
    if bad_port {
        return false;
    }
    if domain.starts_with('[') {
        return true;
    }
    !host.is_empty() && host.split('.').all(is_domain_component)
}

/// `[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`
fn is_domain_component(c: &str) -> bool {
    let bytes = c.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        }
        _ => false,
    }
}

#[cfg(test)]
#[path = "reference_tests.rs"]
mod tests;
