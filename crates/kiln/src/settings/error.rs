//! Why a set of flags and environment variables does not make valid settings.
//!
//! Messages name the flag or variable and say what was expected; [`SettingsError::hint`] adds
//! what to do about it, printed by the binary as `hint:` lines.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("you must provide --destination, or use --no-push")]
    MissingDestination,

    #[error("{flag} needs at least one --destination to name the image")]
    NeedsDestination { flag: &'static str },

    #[error(
        "--cache with --no-push needs --cache-repo: no cache repository can be inferred \
         without a --destination"
    )]
    CacheRepoRequired,

    #[error("invalid value {value:?} for {flag}: {expected}")]
    InvalidValue {
        flag: &'static str,
        value: String,
        expected: String,
    },

    #[error("invalid value {value:?} for the environment variable {name}: {expected}")]
    InvalidEnv {
        name: &'static str,
        value: String,
        expected: String,
    },

    #[error("{flag} {value} and its deprecated spelling {deprecated} {deprecated_value} disagree")]
    Conflicting {
        flag: &'static str,
        value: String,
        deprecated: &'static str,
        deprecated_value: String,
    },

    #[error("invalid --destination {value:?}")]
    InvalidDestination {
        value: String,
        #[source]
        source: kiln_oci::ReferenceError,
    },

    #[error("--destination {value:?} names a digest; a destination is a tag")]
    DigestDestination { value: String },

    #[error("invalid --cache-repo {value:?}")]
    InvalidCacheRepo {
        value: String,
        #[source]
        source: kiln_oci::ReferenceError,
    },

    #[error("--cache-repo {value:?} names a tag or digest; kiln tags cache images itself")]
    TaggedCacheRepo { value: String },

    #[error("--bucket and --context both name the build context")]
    BucketAndContext,

    #[error("unknown build context prefix in --context {context:?}")]
    UnknownContextPrefix { context: String },

    #[error("the build context {path} does not exist")]
    ContextNotFound { path: PathBuf },

    #[error("--context-sub-path {sub_path:?} is not a directory in the build context {context}")]
    ContextSubPathNotFound { sub_path: String, context: PathBuf },

    #[error(
        "the Dockerfile {path:?} was found neither as given nor in the build context {context}"
    )]
    DockerfileNotFound { path: String, context: PathBuf },

    #[error("the Dockerfile {path} does not exist")]
    WarmDockerfileNotFound { path: PathBuf },

    #[error("nothing to warm: give at least one --image or a --dockerfile")]
    NothingToWarm,

    #[error("cannot determine the current directory")]
    CurrentDir {
        #[source]
        source: io::Error,
    },
}

impl SettingsError {
    /// What the user can do about it, when there is more to say than the message.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Self::MissingDestination => Some(
                "pass --no-push (or set KANIKO_NO_PUSH=true) to build without pushing, \
                 e.g. with --tar-path or --oci-layout-path",
            ),
            Self::NeedsDestination { .. } => {
                Some("add --destination=NAME[:TAG]; with --no-push it only names the image")
            }
            Self::CacheRepoRequired => Some(
                "name the cache with --cache-repo=REGISTRY/REPO, or --cache-repo=oci:/path for \
                 a local OCI layout",
            ),
            Self::UnknownContextPrefix { .. } => Some(
                "use a directory, or one of dir://, tar://, tar://stdin, git://, https://, \
                 s3://, gs://",
            ),
            Self::DockerfileNotFound { .. } => Some(
                "--dockerfile is looked up as given (relative to the working directory) first, \
                 then relative to --context",
            ),
            Self::Conflicting { .. } => Some("drop the deprecated spelling"),
            Self::DigestDestination { .. } => Some("push to a tag: REGISTRY/REPOSITORY[:TAG]"),
            Self::TaggedCacheRepo { .. } => Some("name the repository only: REGISTRY/REPOSITORY"),
            Self::BucketAndContext => Some("use --context gs://BUCKET/PATH alone"),
            _ => None,
        }
    }
}
