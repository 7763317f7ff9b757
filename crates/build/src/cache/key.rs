//! Cache keys: what a step's result depends on, hashed, so that a later build (on this machine
//! or another) finds the layer a step made before instead of running it again.
//!
//! A key is the sha256 of [`VERSION`] and six named components, always in this order and always
//! present (an absent one hashes as `none`), each held as the digest of its value:
//!
//! | component | value |
//! |---|---|
//! | `parent` | the base image's manifest digest, or the key of the step before |
//! | `instruction` | the instruction as written, normalised (`normalise.rs`), and its heredoc bodies |
//! | `variables` | the ARG and ENV values the step can see, sorted by name |
//! | `sources` | for COPY/ADD, the content digest of the sources ([`super::sources`]); for ADD of a URL, its checksum or the download's digest |
//! | `from` | for `--from`, the source stage's key or the source image's digest |
//! | `platform` | the target platform (`linux/amd64`) |
//!
//! Values never appear in a key, its `Debug` or its `Display`: only their digests do, so a
//! build arg holding a password is not printed with the key (BuildKit hashes them the same
//! way). Keeping the components lets [`explain`] say which one made a key differ.
//!
//! Does not own: deciding what a step can see (the executor passes it), or storing keys.

use std::fmt;

use kiln_oci::{Digest, Sha256};

use super::normalise::normalise;

/// The format of keys; bumped when a change makes old keys mean something else.
pub const VERSION: &str = "kiln-cache-v1";

/// The component names, in the order they are hashed.
pub const COMPONENTS: [&str; 6] = [
    "parent",
    "instruction",
    "variables",
    "sources",
    "from",
    "platform",
];

/// What a step starts from.
#[derive(Debug, Clone, Copy)]
pub enum Parent<'a> {
    /// The stage's base image, by manifest digest.
    Image(&'a Digest),
    /// The step before, or the stage this one is `FROM`.
    Step(&'a CacheKey),
    /// `FROM scratch`.
    Scratch,
}

/// What `--from` names.
#[derive(Debug, Clone, Copy)]
pub enum FromSource<'a> {
    Stage(&'a CacheKey),
    Image(&'a Digest),
    /// A stage `FROM scratch` with no instruction.
    Scratch,
}

/// An instruction as written: the logical line (continuations joined or not) and the bodies of
/// its heredocs.
#[derive(Debug, Clone, Copy)]
pub struct Instruction<'a> {
    pub text: &'a str,
    /// The Dockerfile's escape character.
    pub escape: char,
    pub heredocs: &'a [String],
}

/// Everything a step's key is made of.
#[derive(Debug, Clone, Copy)]
pub struct StepInput<'a> {
    pub parent: Parent<'a>,
    pub instruction: Instruction<'a>,
    /// The ARG and ENV names and values the step sees, in any order; a name given twice keeps
    /// its last value, as ENV after ARG does.
    pub variables: &'a [(String, String)],
    pub sources: Option<&'a Digest>,
    pub from: Option<FromSource<'a>>,
    pub platform: &'a str,
}

/// A step's cache key, with the digest of each of its components.
#[derive(Clone, PartialEq, Eq)]
pub struct CacheKey {
    digest: Digest,
    components: Vec<(&'static str, Digest)>,
}

impl CacheKey {
    /// The key of the step `input` describes.
    pub fn compute(input: &StepInput<'_>) -> CacheKey {
        let parent = match input.parent {
            Parent::Image(d) => value(&[b"image", d.as_str().as_bytes()]),
            Parent::Step(k) => value(&[b"step", k.digest.as_str().as_bytes()]),
            Parent::Scratch => value(&[b"scratch"]),
        };
        let text = normalise(input.instruction.text, input.instruction.escape);
        let mut parts: Vec<&[u8]> = vec![text.as_bytes()];
        parts.extend(input.instruction.heredocs.iter().map(|h| h.as_bytes()));
        let instruction = value(&parts);
        let mut vars = std::collections::BTreeMap::new();
        for (name, val) in input.variables {
            vars.insert(name.as_str(), val.as_str());
        }
        let vars: Vec<&[u8]> = vars
            .iter()
            .flat_map(|(n, v)| [n.as_bytes(), v.as_bytes()])
            .collect();
        let variables = value(&vars);
        let sources = match input.sources {
            Some(d) => value(&[d.as_str().as_bytes()]),
            None => value(&[b"none"]),
        };
        let from = match input.from {
            Some(FromSource::Stage(k)) => value(&[b"stage", k.digest.as_str().as_bytes()]),
            Some(FromSource::Image(d)) => value(&[b"image", d.as_str().as_bytes()]),
            Some(FromSource::Scratch) => value(&[b"scratch"]),
            None => value(&[b"none"]),
        };
        let platform = value(&[input.platform.as_bytes()]);
        let components: Vec<_> = COMPONENTS
            .into_iter()
            .zip([parent, instruction, variables, sources, from, platform])
            .collect();
        let mut h = Sha256::new();
        h.update(VERSION.as_bytes());
        h.update(b"\0");
        for (name, digest) in &components {
            h.update(name.as_bytes());
            h.update(b"\0");
            h.update(digest.as_str().as_bytes());
            h.update(b"\0");
        }
        CacheKey {
            digest: h.finish_as(),
            components,
        }
    }

    /// A key known only by its digest, as a cache entry names another key: it can be the
    /// parent or `from` of later keys, and explains nothing.
    pub fn chained(digest: Digest) -> CacheKey {
        CacheKey {
            digest,
            components: Vec::new(),
        }
    }

    /// The key as `sha256:<hex>`.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The 64 hex digits: a valid tag and file name.
    pub fn hex(&self) -> &str {
        self.digest.hex()
    }

    /// Each component's name and the digest of its value, in hashing order.
    pub fn components(&self) -> &[(&'static str, Digest)] {
        &self.components
    }
}

/// Hashes `parts`, each length-prefixed so that no two lists of parts hash alike.
fn value(parts: &[&[u8]]) -> Digest {
    let mut h = Sha256::new();
    for part in parts {
        h.update(format!("{}:", part.len()).as_bytes());
        h.update(part);
    }
    h.finish_as()
}

/// The first component in which `new` differs from `old`, or `None` when they are equal.
pub fn explain(old: &CacheKey, new: &CacheKey) -> Option<&'static str> {
    old.components
        .iter()
        .zip(&new.components)
        .find(|(a, b)| a != b)
        .map(|(_, (name, _))| *name)
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.digest.as_str())
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("CacheKey");
        s.field("key", &self.digest.as_str());
        for (name, digest) in &self.components {
            s.field(name, &digest.as_str());
        }
        s.finish()
    }
}

#[cfg(test)]
#[path = "key_tests.rs"]
mod tests;
