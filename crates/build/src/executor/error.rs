//! Errors of running a build: every variant names the step, path, image or blob it is about.
//!
//! Errors of planning and of metadata instructions stay [`crate::Error`] and pass through
//! [`Error::Plan`]; a RUN that exits non-zero is [`Error::RunFailed`], whose exit code the
//! binary makes its own, as Kaniko does.

use std::path::PathBuf;

use kiln_dockerfile::Span;

use crate::error::StageRef;

/// Everything that can stop a build once it is planned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Planning or a metadata instruction failed; the inner error names the line.
    #[error(transparent)]
    Plan(#[from] Box<crate::Error>),
    /// An instruction or flag that the executor does not run yet.
    #[error("{span}: {stage}: {feature} is not supported yet")]
    NotSupported {
        span: Span,
        stage: StageRef,
        feature: String,
    },
    /// Something the plan guarantees did not hold: a bug in kiln, reported instead of a panic.
    #[error("internal error: {what}")]
    Invariant { what: String },
    /// A RUN command exited with a non-zero status or was killed.
    #[error("{span}: {stage}: step {step}: {command} returned a non-zero code: {code}")]
    RunFailed {
        span: Span,
        stage: StageRef,
        step: usize,
        command: String,
        code: i32,
    },
    /// The sandbox could not start or supervise a RUN.
    #[error("{span}: {stage}: cannot run {command}")]
    Sandbox {
        span: Span,
        stage: StageRef,
        command: String,
        #[source]
        source: Box<kiln_sandbox::error::Error>,
    },
    /// A `RUN --mount` could not be prepared (a missing secret, a bind source that does not
    /// exist, a cache directory that cannot be made).
    #[error("{span}: {stage}: invalid RUN --mount")]
    RunMount {
        span: Span,
        stage: StageRef,
        #[source]
        source: Box<super::run_mount::MountError>,
    },
    /// COPY or ADD failed.
    #[error("{span}: {stage}: cannot copy")]
    Copy {
        span: Span,
        stage: StageRef,
        #[source]
        source: Box<kiln_fs::copy::Error>,
    },
    /// `--chown` names a user or group the rootfs does not have.
    #[error("{span}: {stage}: invalid --chown {value:?}")]
    Chown {
        span: Span,
        stage: StageRef,
        value: String,
        #[source]
        source: Box<kiln_sandbox::user::UserError>,
    },
    /// The build context could not be opened.
    #[error("cannot open the build context {dir}")]
    Context {
        dir: PathBuf,
        #[source]
        source: Box<kiln_fs::context::Error>,
    },
    /// A base image could not be resolved or read from its registry.
    #[error("cannot pull base image {image}")]
    Pull {
        image: String,
        #[source]
        source: Box<kiln_registry::Error>,
    },
    /// The base-image cache (`--cache-dir`) holds a broken entry.
    #[error("cannot read base image {image} from the cache directory")]
    Cache {
        image: String,
        #[source]
        source: Box<crate::warm::CacheError>,
    },
    /// A base image's config is not valid JSON.
    #[error("the config of base image {image} is invalid")]
    BaseConfig {
        image: String,
        #[source]
        source: serde_json::Error,
    },
    /// Extracting a layer into the stage's rootfs failed.
    #[error("cannot extract the layers of {stage} into {rootfs}")]
    Extract {
        stage: StageRef,
        rootfs: PathBuf,
        #[source]
        source: Box<kiln_fs::extract::Error>,
    },
    /// Opening or changing a path in the rootfs failed.
    #[error("cannot change {path} in the rootfs of {stage}")]
    Rootfs {
        stage: StageRef,
        path: PathBuf,
        #[source]
        source: Box<kiln_fs::resolve::Error>,
    },
    /// Walking or comparing the rootfs after a step failed.
    #[error("cannot snapshot the rootfs of {stage} after step {step}")]
    Snapshot {
        stage: StageRef,
        step: usize,
        #[source]
        source: Box<kiln_fs::snapshot::Error>,
    },
    /// Writing a layer blob failed.
    #[error("cannot write the layer of {stage}, step {step}")]
    Layer {
        stage: StageRef,
        step: usize,
        #[source]
        source: Box<kiln_fs::layer::Error>,
    },
    /// Building in place in `/` (`--isolation=none`) cannot start or clear `/` for a stage.
    #[error("cannot build in place in /: {what}")]
    InPlace {
        what: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A file or directory of the work area could not be created or read.
    #[error("cannot use {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Pushing a blob or the manifest failed.
    #[error("cannot push the image to {destination}")]
    Push {
        destination: String,
        #[source]
        source: Box<kiln_registry::Error>,
    },
    /// Writing `--tar-path` failed.
    #[error("cannot write the image tarball {path}")]
    Tarball {
        path: PathBuf,
        #[source]
        source: Box<kiln_oci::TarballError>,
    },
    /// Writing `--oci-layout-path` failed.
    #[error("cannot write the image to the OCI layout {path}")]
    Layout {
        path: PathBuf,
        #[source]
        source: Box<kiln_oci::LayoutError>,
    },
    /// The assembled image is inconsistent (a bug, reported rather than pushed).
    #[error("the assembled image is invalid")]
    Image(#[source] Box<kiln_oci::ImageError>),
}

impl From<crate::Error> for Error {
    fn from(e: crate::Error) -> Self {
        Error::Plan(Box::new(e))
    }
}

impl Error {
    /// The exit code of the failed command, for a RUN that failed.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            Error::RunFailed { code, .. } => Some(*code),
            _ => None,
        }
    }
}
