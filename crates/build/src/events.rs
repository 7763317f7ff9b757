//! Progress events of a build, for a caller that shows them.
//!
//! Owns: [`Event`], what a build reports as it goes (steps started and finished, layers
//! written, blob bytes pulled and pushed, rootfs extraction, what each push did), and
//! [`Events`], the sink a caller passes in [`crate::executor::BuildOptions`]. Events are
//! emitted from the thread that runs the build and from the runtime's workers (downloads,
//! uploads), so a sink is `Send + Sync` and must not block for long.
//!
//! Does not own: drawing bars, writing JSON or plain lines (the `kiln` binary), or log lines,
//! which stay `tracing` events. The log lines that say what an event says (a step header,
//! `pulling base image`, `extracting N layers`, `pushed DEST`) carry the target
//! [`LOG_TARGET`], so that a caller writing the events in a form of its own drops them.

use std::sync::Arc;
use std::time::Duration;

use kiln_oci::Digest;
use kiln_registry::{BlobPushed, Direction, RegistryClient};

use crate::error::StageRef;

/// The `tracing` target of the log lines that repeat an event: a caller that writes every
/// event itself (as JSON) filters this target out so that each shows once.
pub const LOG_TARGET: &str = "kiln_build::events";

/// One thing that happened during a build.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A step begins; `header` is `[stage 1/2] step 3/7: RUN make`.
    StepStarted {
        /// 1-based position of the stage among those built, and how many are built.
        stage: usize,
        stages: usize,
        step: usize,
        steps: usize,
        header: String,
    },
    /// The step of `header` succeeded after `elapsed`.
    StepFinished { header: String, elapsed: Duration },
    /// A step wrote a layer blob of `size` bytes.
    LayerWritten {
        stage: StageRef,
        step: usize,
        digest: Digest,
        size: u64,
    },
    /// A stage's base image is about to be fetched.
    PullStarted { image: String },
    /// Bytes of a blob moved to or from `repository`: `bytes` so far of `total`.
    Transfer {
        direction: Direction,
        repository: String,
        digest: Digest,
        bytes: u64,
        total: Option<u64>,
    },
    /// A stage's rootfs is being made from `layers` layers.
    ExtractStarted { stage: StageRef, layers: usize },
    /// Layer `layer` (1-based) of the `layers` of `stage`'s rootfs is applied, `elapsed` after
    /// the one before it (or the start); `size` is its blob's.
    LayerExtracted {
        stage: StageRef,
        layer: usize,
        layers: usize,
        digest: Digest,
        size: u64,
        elapsed: Duration,
    },
    /// The rootfs of `stage` is ready.
    ExtractFinished {
        stage: StageRef,
        layers: usize,
        elapsed: Duration,
    },
    /// A blob is in `repository`: found there, mounted from another one, or uploaded.
    BlobPushed {
        repository: String,
        digest: Digest,
        size: u64,
        outcome: BlobPushed,
    },
    /// The manifest `digest` is in the registry under `destination`.
    ManifestPushed { destination: String, digest: Digest },
}

/// Receives a build's events.
pub trait EventSink: Send + Sync {
    fn event(&self, event: &Event);
}

/// The sink of a build, or none. Cheap to clone.
#[derive(Clone, Default)]
pub struct Events(Option<Arc<dyn EventSink>>);

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = if self.0.is_some() { "sink" } else { "none" };
        f.debug_tuple("Events").field(&state).finish()
    }
}

impl Events {
    pub fn new(sink: Arc<dyn EventSink>) -> Self {
        Self(Some(sink))
    }

    /// No sink: events are dropped.
    pub fn none() -> Self {
        Self(None)
    }

    pub fn emit(&self, event: Event) {
        if let Some(sink) = &self.0 {
            sink.event(&event);
        }
    }

    /// `registry` reporting its blob transfers as [`Event::Transfer`]; `registry` itself when
    /// there is no sink.
    pub fn client(&self, registry: &RegistryClient) -> RegistryClient {
        let Some(sink) = self.0.clone() else {
            return registry.clone();
        };
        registry.with_progress(Arc::new(move |t: &kiln_registry::Transfer<'_>| {
            sink.event(&Event::Transfer {
                direction: t.direction,
                repository: t.repository.to_string(),
                digest: t.digest.clone(),
                bytes: t.bytes,
                total: t.total,
            });
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<Event>>);

    impl EventSink for Recorder {
        fn event(&self, event: &Event) {
            self.0.lock().expect("lock").push(event.clone());
        }
    }

    #[test]
    fn events_reach_the_sink_in_order_and_none_drops_them() {
        let recorder = Arc::new(Recorder::default());
        let events = Events::new(recorder.clone());
        let started = Event::PullStarted {
            image: "busybox".to_owned(),
        };
        let pushed = Event::ManifestPushed {
            destination: "r/app:1".to_owned(),
            digest: Digest::of(b"m"),
        };
        events.emit(started.clone());
        events.emit(pushed.clone());
        Events::none().emit(started.clone());
        assert_eq!(*recorder.0.lock().expect("lock"), [started, pushed]);
        assert_eq!(format!("{:?}", Events::none()), "Events(\"none\")");
    }
}
