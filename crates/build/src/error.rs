//! Errors of the build plan and of applying instructions to an image config.
//!
//! Owns [`Error`]: every variant that comes from a Dockerfile line carries its [`Span`] and the
//! stage it is in, so the binary can point at the line. Errors of the front end
//! ([`kiln_dockerfile::Error`]) pass through unchanged: they already carry their span.

use std::fmt;

use kiln_dockerfile::{ExpandError, Span};
use kiln_oci::{PlatformError, ReferenceError};

/// A stage as users name it: `AS` name, else its index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageRef {
    pub index: usize,
    pub name: Option<String>,
}

impl fmt::Display for StageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "stage {name}"),
            None => write!(f, "stage {}", self.index),
        }
    }
}

/// Everything that can go wrong while planning a build or applying an instruction.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The Dockerfile itself is invalid (parse, typing, ARG defaults).
    #[error(transparent)]
    Dockerfile(Box<kiln_dockerfile::Error>),
    /// `--target` names no stage.
    #[error("target stage {target:?} could not be found (stages: {stages})")]
    UnknownTarget { target: String, stages: String },
    /// `--build-arg` without a name.
    #[error("invalid build arg {arg:?}: expected KEY=VALUE or KEY")]
    InvalidBuildArg { arg: String },
    /// A word that cannot be expanded.
    #[error("{span}: {stage}: cannot expand {word:?}")]
    Expand {
        span: Span,
        stage: StageRef,
        word: String,
        #[source]
        source: Box<ExpandError>,
    },
    /// A FROM line whose image expands to nothing.
    #[error("{span}: {stage}: base name ({word}) should not be blank")]
    BlankBase {
        span: Span,
        stage: StageRef,
        word: String,
    },
    /// A FROM image or `--from` image that is no valid reference.
    #[error("{span}: {stage}: invalid image reference {name:?}")]
    InvalidReference {
        span: Span,
        stage: StageRef,
        name: String,
        #[source]
        source: Box<ReferenceError>,
    },
    /// `FROM --platform` that is no platform once expanded.
    #[error("{span}: {stage}: invalid platform {value:?}")]
    InvalidPlatform {
        span: Span,
        stage: StageRef,
        value: String,
        #[source]
        source: Box<PlatformError>,
    },
    /// An instruction whose value the image config cannot hold (a port, a signal, ...).
    #[error("{span}: {stage}: {instruction}: {reason}")]
    InvalidValue {
        span: Span,
        stage: StageRef,
        instruction: &'static str,
        reason: String,
    },
    /// An instruction this module does not apply (RUN, COPY, ADD change the filesystem).
    #[error("{span}: {stage}: {instruction} is not a metadata instruction")]
    NotMetadata {
        span: Span,
        stage: StageRef,
        instruction: &'static str,
    },
    /// An ONBUILD trigger of the base image that is no single valid instruction.
    #[error("{span}: {stage}: invalid ONBUILD trigger {trigger:?} in the base image: {reason}")]
    InvalidTrigger {
        span: Span,
        stage: StageRef,
        trigger: String,
        reason: String,
        #[source]
        source: Option<Box<kiln_dockerfile::Error>>,
    },
    /// `SOURCE_DATE_EPOCH` that is no number of seconds.
    #[error("invalid SOURCE_DATE_EPOCH {value:?}: expected seconds since 1970-01-01")]
    InvalidSourceDateEpoch { value: String },
}

impl From<kiln_dockerfile::Error> for Error {
    fn from(e: kiln_dockerfile::Error) -> Self {
        Error::Dockerfile(Box::new(e))
    }
}
