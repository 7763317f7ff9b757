//! The image configuration blob: what a container runs with and how its root filesystem is made.
//! The OCI image config (<https://github.com/opencontainers/image-spec/blob/main/config.md>)
//! plus every field Docker writes
//! (<https://github.com/moby/docker-image-spec/blob/main/specs-go/v1/image.go>).
//!
//! Owns: [`ConfigFile`], its container [`Config`], [`HealthConfig`], [`History`], [`RootFs`].
//! Field names, order and omission follow go-containerregistry's `v1.ConfigFile`, which is what
//! Kaniko writes; fields kiln does not model are kept in `extra` and written back unchanged.
//! Does not own: deciding any value (`kiln-build`).
//!
//! Lists that Docker distinguishes when empty (`Cmd: []` after `CMD []` is not the same as no
//! `Cmd`) are `Option<Vec<_>>`; `None` is omitted, `Some(vec![])` is written as `[]`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::{DiffId, Digest};
use crate::json::to_canonical_json;
use crate::platform::Platform;

/// The empty JSON object that Docker uses as the value of set-like maps (`Volumes`,
/// `ExposedPorts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Empty {}

/// The image config blob.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ConfigFile {
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// The build container's ID; Docker's classic builder set it, BuildKit does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// RFC 3339 creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_version: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    pub os: String,
    pub rootfs: RootFs,
    #[serde(default)]
    pub config: Config,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    /// Fields kiln does not model (`container_config`, `comment`, `id`, …), kept verbatim.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// The layers' uncompressed digests, bottom first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<DiffId>,
}

impl Default for RootFs {
    fn default() -> Self {
        Self {
            kind: "layers".to_owned(),
            diff_ids: Vec::new(),
        }
    }
}

/// One step of the image's history. Steps that made no layer have `empty_layer: true`, so the
/// non-empty entries line up with `rootfs.diff_ids`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// What a container of this image runs with (Docker's `container.Config` as kept in images).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, Empty>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Empty>>,
    /// Set by Docker for Windows images and for a shell-form `CMD`/`ENTRYPOINT` elsewhere.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub args_escaped: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    /// `Hostname`, `AttachStdin`, `Image`, … : kept verbatim.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// `HEALTHCHECK`: durations are nanoseconds, as Go's `time.Duration` serialises them; zero or
/// absent means "inherit" (and `Test: ["NONE"]` disables a check).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_period: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl ConfigFile {
    /// An empty config for `platform` (its os, architecture, variant and os.version).
    pub fn new(platform: &Platform) -> Self {
        Self {
            architecture: platform.architecture.clone(),
            os: platform.os.clone(),
            variant: platform.variant.clone(),
            os_version: platform.os_version.clone(),
            os_features: platform.os_features.clone(),
            ..Self::default()
        }
    }

    /// Parses a config blob (bound its size first with [`crate::read_bounded`] and
    /// [`crate::MAX_CONFIG_SIZE`]).
    pub fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The canonical bytes, which the manifest's `config` descriptor names.
    pub fn to_json(&self) -> Vec<u8> {
        to_canonical_json(self)
    }

    pub fn digest(&self) -> Digest {
        Digest::of(&self.to_json())
    }

    /// Records a step that made a layer: its diff ID goes to `rootfs.diff_ids` and `history`
    /// gets the step, marked as not empty, so the two stay aligned.
    pub fn push_layer(&mut self, diff_id: DiffId, history: History) {
        self.rootfs.diff_ids.push(diff_id);
        self.history.push(History {
            empty_layer: false,
            ..history
        });
    }

    /// Records a step that made no layer (`ENV`, `CMD`, a `RUN` that changed nothing).
    pub fn push_empty_step(&mut self, history: History) {
        self.history.push(History {
            empty_layer: true,
            ..history
        });
    }

    /// Whether the history's non-empty steps are as many as the layers, as Docker expects when
    /// there is a history at all (images without history are valid).
    pub fn history_matches_layers(&self) -> bool {
        self.history.is_empty()
            || self.history.iter().filter(|h| !h.empty_layer).count() == self.rootfs.diff_ids.len()
    }

    /// The platform this image is for.
    pub fn platform(&self) -> Platform {
        Platform {
            architecture: self.architecture.clone(),
            os: self.os.clone(),
            os_version: self.os_version.clone(),
            os_features: self.os_features.clone(),
            variant: self.variant.clone(),
            ..Platform::default()
        }
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
