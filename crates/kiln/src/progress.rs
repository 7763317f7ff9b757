//! Progress of a build as the user sees it: the binary's [`EventSink`].
//!
//! Owns rendering the build's [`Event`]s in one of three ways, chosen from the log flags
//! (`crate::logging` decides whether bars are drawn):
//! - **bars**, when logs are text or color on a terminal: an `indicatif` bar per blob pulled
//!   or pushed and one per rootfs extracted, counting its layers, each replaced by a log line
//!   when done;
//! - **lines** otherwise: plain log lines, one per blob pulled or pushed, per layer extracted
//!   and per rootfs extracted, never one per chunk and never an escape code of a bar;
//! - **json** with `--log-format=json`: one object per event on stderr, shaped as the JSON log
//!   lines are (`timestamp`, `level`, `fields` with `message` and `event`, `target`).
//!
//! `-v` applies to every form: each event has a level, and bars are drawn only at `info` or
//! more. Events the library already logs as text (a step header, `pulling base image`,
//! `extracting N layers`, `pushed DEST`) are not repeated as text lines; in JSON the library's
//! lines are left out instead (`crate::logging`), so each is one object with its fields.
//!
//! Does not own: the events (`kiln_build::events`) or the final summary (`crate::summary`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressStyle};
use kiln_build::events::{Event, EventSink};
use kiln_registry::{BlobPushed, Direction};
use serde_json::{Value, json};
use tracing::Level;
use tracing_subscriber::filter::LevelFilter;

use crate::flags::{LogFlags, LogFormat};

/// How events reach the user.
enum Mode {
    Bars(MultiProgress),
    Lines,
    Json,
}

/// The sink a build's events go to.
pub struct Progress {
    mode: Mode,
    filter: LevelFilter,
    /// Bars being drawn, by what they show (a blob transfer, an extraction).
    bars: Mutex<HashMap<String, ProgressBar>>,
}

/// One event as a log line: its level, its name in JSON, the text and the JSON fields.
#[derive(Debug, PartialEq)]
pub(crate) struct Line {
    pub level: Level,
    pub name: &'static str,
    pub message: String,
    pub fields: Vec<(&'static str, Value)>,
    /// The library logs this one itself; text output does not repeat it.
    pub logged: bool,
}

impl Progress {
    pub fn new(flags: &LogFlags) -> Self {
        let mode = match (flags.log_format, crate::logging::bars()) {
            (LogFormat::Json, _) => Mode::Json,
            (_, Some(bars)) => Mode::Bars(bars.clone()),
            (_, None) => Mode::Lines,
        };
        Self {
            mode,
            filter: crate::logging::level_filter(flags.verbosity),
            bars: Mutex::new(HashMap::new()),
        }
    }

    /// Writes a line in the form chosen, if `-v` lets it through.
    pub(crate) fn line(&self, line: &Line) {
        if self.filter < line.level {
            return;
        }
        match self.mode {
            Mode::Json => eprintln!("{}", json_line(line, &timestamp())),
            Mode::Bars(_) | Mode::Lines if !line.logged => log(line.level, &line.message),
            Mode::Bars(_) | Mode::Lines => {}
        }
    }

    /// Prints the summary of a successful build.
    pub fn summary(&self, summary: &crate::summary::Summary) {
        match self.mode {
            Mode::Json => self.line(&summary.line()),
            Mode::Bars(_) | Mode::Lines => {
                for text in summary.text() {
                    tracing::info!("{text}");
                }
            }
        }
    }

    /// Updates the bars for `event`; the bar is removed when its work is done.
    fn draw(&self, bars: &MultiProgress, event: &Event) {
        let mut drawn = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            Event::Transfer {
                direction,
                repository,
                digest,
                bytes,
                total,
            } => {
                let key = format!("{direction:?} {repository} {digest}");
                let done = total.is_some_and(|t| *bytes >= t);
                if done && *direction == Direction::Pull {
                    if let Some(bar) = drawn.remove(&key) {
                        bar.finish_and_clear();
                    }
                    return;
                }
                let bar = drawn.entry(key).or_insert_with(|| {
                    let verb = match direction {
                        Direction::Pull => "pulling",
                        Direction::Push => "pushing",
                    };
                    let bar = bars.add(ProgressBar::new(total.unwrap_or(0)));
                    bar.set_style(bytes_style());
                    bar.set_prefix(format!("{verb} {}", short(digest)));
                    bar
                });
                bar.set_position(*bytes);
            }
            Event::BlobPushed {
                repository, digest, ..
            } => {
                let key = format!("{:?} {repository} {digest}", Direction::Push);
                if let Some(bar) = drawn.remove(&key) {
                    bar.finish_and_clear();
                }
            }
            Event::ExtractStarted { stage, layers } => {
                let bar = bars.add(ProgressBar::new(*layers as u64));
                bar.set_style(extract_style());
                bar.set_prefix(format!("extracting {stage}"));
                bar.enable_steady_tick(Duration::from_millis(120));
                drawn.insert(format!("extract {stage}"), bar);
            }
            Event::LayerExtracted {
                stage,
                layer,
                digest,
                ..
            } => {
                if let Some(bar) = drawn.get(&format!("extract {stage}")) {
                    bar.set_position(*layer as u64);
                    bar.set_message(short(digest));
                }
            }
            Event::ExtractFinished { stage, .. } => {
                if let Some(bar) = drawn.remove(&format!("extract {stage}")) {
                    bar.finish_and_clear();
                }
            }
            _ => {}
        }
    }
}

impl Drop for Progress {
    /// A build that failed leaves no half-drawn bar above its error.
    fn drop(&mut self) {
        let bars = self.bars.get_mut().unwrap_or_else(|p| p.into_inner());
        for (_, bar) in bars.drain() {
            bar.finish_and_clear();
        }
    }
}

impl EventSink for Progress {
    fn event(&self, event: &Event) {
        if let Mode::Bars(bars) = &self.mode {
            self.draw(bars, event);
        }
        if let Some(line) = describe(event) {
            self.line(&line);
        }
    }
}

/// A log line at `level` through `tracing`, so that it has the format, colours and
/// timestamps of every other line.
fn log(level: Level, message: &str) {
    match level {
        Level::ERROR => tracing::error!("{message}"),
        Level::WARN => tracing::warn!("{message}"),
        Level::INFO => tracing::info!("{message}"),
        Level::DEBUG => tracing::debug!("{message}"),
        Level::TRACE => tracing::trace!("{message}"),
    }
}

fn bytes_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix:.bold} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}

/// A rootfs being extracted: how many of its layers are applied, the last one's digest.
fn extract_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{spinner} {prefix:.bold} [{bar:30}] {pos}/{len} layers {elapsed} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}

/// The first 12 hex digits of a digest, as Docker shows layers.
fn short(digest: &kiln_oci::Digest) -> String {
    digest.hex().chars().take(12).collect()
}

/// The log line of `event`; `None` for what only a bar shows (bytes of a blob on their way).
pub(crate) fn describe(event: &Event) -> Option<Line> {
    let line = |level, name, message: String, fields, logged| {
        Some(Line {
            level,
            name,
            message,
            fields,
            logged,
        })
    };
    match event {
        Event::StepStarted {
            stage,
            stages,
            step,
            steps,
            header,
        } => line(
            Level::INFO,
            "step_started",
            header.clone(),
            vec![
                ("stage", json!(stage)),
                ("stages", json!(stages)),
                ("step", json!(step)),
                ("steps", json!(steps)),
            ],
            true,
        ),
        Event::StepFinished { header, elapsed } => line(
            Level::DEBUG,
            "step_finished",
            format!("{header}: done in {:.2}s", elapsed.as_secs_f64()),
            vec![
                ("step", json!(header)),
                ("seconds", json!(elapsed.as_secs_f64())),
            ],
            false,
        ),
        Event::LayerWritten {
            stage,
            step,
            digest,
            size,
        } => line(
            Level::DEBUG,
            "layer_written",
            format!(
                "{stage}, step {step}: wrote layer {} ({})",
                short(digest),
                HumanBytes(*size)
            ),
            vec![
                ("stage", json!(stage.to_string())),
                ("step", json!(step)),
                ("digest", json!(digest.to_string())),
                ("size", json!(size)),
            ],
            false,
        ),
        Event::PullStarted { image } => line(
            Level::INFO,
            "pull_started",
            format!("pulling base image {image}"),
            vec![("image", json!(image))],
            true,
        ),
        Event::Transfer {
            direction: Direction::Pull,
            repository,
            digest,
            bytes,
            total: Some(total),
        } if bytes >= total => line(
            Level::INFO,
            "blob_pulled",
            format!(
                "pulled {} ({}) from {repository}",
                short(digest),
                HumanBytes(*total)
            ),
            vec![
                ("repository", json!(repository)),
                ("digest", json!(digest.to_string())),
                ("size", json!(total)),
            ],
            false,
        ),
        Event::Transfer { .. } => None,
        Event::ExtractStarted { stage, layers } => line(
            Level::INFO,
            "extract_started",
            format!("extracting {layers} layers for {stage}"),
            vec![
                ("stage", json!(stage.to_string())),
                ("layers", json!(layers)),
            ],
            true,
        ),
        Event::LayerExtracted {
            stage,
            layer,
            layers,
            digest,
            size,
            elapsed,
        } => line(
            Level::INFO,
            "layer_extracted",
            format!(
                "extracted layer {layer}/{layers} {} ({}) for {stage} in {:.2}s",
                short(digest),
                HumanBytes(*size),
                elapsed.as_secs_f64()
            ),
            vec![
                ("stage", json!(stage.to_string())),
                ("layer", json!(layer)),
                ("layers", json!(layers)),
                ("digest", json!(digest.to_string())),
                ("size", json!(size)),
                ("seconds", json!(elapsed.as_secs_f64())),
            ],
            false,
        ),
        Event::ExtractFinished {
            stage,
            layers,
            elapsed,
        } => line(
            Level::INFO,
            "extract_finished",
            format!(
                "extracted {layers} layers for {stage} in {:.2}s",
                elapsed.as_secs_f64()
            ),
            vec![
                ("stage", json!(stage.to_string())),
                ("layers", json!(layers)),
                ("seconds", json!(elapsed.as_secs_f64())),
            ],
            false,
        ),
        Event::BlobPushed {
            repository,
            digest,
            size,
            outcome,
        } => {
            let (blob, size) = (short(digest), HumanBytes(*size));
            let (word, message) = match outcome {
                BlobPushed::Uploaded => (
                    "uploaded",
                    format!("uploaded {blob} ({size}) to {repository}"),
                ),
                BlobPushed::Mounted => (
                    "mounted",
                    format!("mounted {blob} ({size}) into {repository}"),
                ),
                BlobPushed::AlreadyPresent => (
                    "skipped",
                    format!("skipped {blob} ({size}): already in {repository}"),
                ),
            };
            line(
                Level::INFO,
                "blob_pushed",
                message,
                vec![
                    ("repository", json!(repository)),
                    ("digest", json!(digest.to_string())),
                    ("size", json!(size.0)),
                    ("outcome", json!(word)),
                ],
                false,
            )
        }
        Event::ManifestPushed {
            destination,
            digest,
        } => line(
            Level::INFO,
            "manifest_pushed",
            format!("pushed {destination}"),
            vec![
                ("destination", json!(destination)),
                ("digest", json!(digest.to_string())),
            ],
            true,
        ),
        _ => None,
    }
}

/// `line` as one JSON object, in the shape of `tracing-subscriber`'s JSON lines.
pub(crate) fn json_line(line: &Line, timestamp: &str) -> String {
    let mut fields = serde_json::Map::new();
    fields.insert("message".to_owned(), json!(line.message));
    fields.insert("event".to_owned(), json!(line.name));
    for (key, value) in &line.fields {
        fields.insert((*key).to_owned(), value.clone());
    }
    json!({
        "timestamp": timestamp,
        "level": line.level.as_str(),
        "fields": fields,
        "target": "kiln::progress",
    })
    .to_string()
}

/// Now, as the JSON log lines write it.
fn timestamp() -> String {
    use tracing_subscriber::fmt::format::Writer;
    use tracing_subscriber::fmt::time::{FormatTime as _, SystemTime};
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = SystemTime.format_time(&mut Writer::new(&mut out));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_build::StageRef;
    use kiln_oci::Digest;

    fn stage() -> StageRef {
        StageRef {
            index: 0,
            name: Some("builder".to_owned()),
        }
    }

    /// One event of each kind a build emits, in an order a build could emit them.
    fn events() -> Vec<Event> {
        let layer = Digest::of(b"layer");
        let repo = "127.0.0.1:5000/app".to_owned();
        vec![
            Event::PullStarted {
                image: "127.0.0.1:5000/busybox:latest".to_owned(),
            },
            Event::Transfer {
                direction: Direction::Pull,
                repository: "127.0.0.1:5000/busybox".to_owned(),
                digest: layer.clone(),
                bytes: 65_536,
                total: Some(1_200_000),
            },
            Event::Transfer {
                direction: Direction::Pull,
                repository: "127.0.0.1:5000/busybox".to_owned(),
                digest: layer.clone(),
                bytes: 1_200_000,
                total: Some(1_200_000),
            },
            Event::ExtractStarted {
                stage: stage(),
                layers: 1,
            },
            Event::LayerExtracted {
                stage: stage(),
                layer: 1,
                layers: 1,
                digest: layer.clone(),
                size: 1_200_000,
                elapsed: Duration::from_millis(240),
            },
            Event::ExtractFinished {
                stage: stage(),
                layers: 1,
                elapsed: Duration::from_millis(250),
            },
            Event::StepStarted {
                stage: 1,
                stages: 2,
                step: 3,
                steps: 7,
                header: "[stage 1/2] step 3/7: RUN make".to_owned(),
            },
            Event::LayerWritten {
                stage: stage(),
                step: 3,
                digest: layer.clone(),
                size: 2048,
            },
            Event::StepFinished {
                header: "[stage 1/2] step 3/7: RUN make".to_owned(),
                elapsed: Duration::from_millis(1500),
            },
            Event::Transfer {
                direction: Direction::Push,
                repository: repo.clone(),
                digest: layer.clone(),
                bytes: 2048,
                total: Some(2048),
            },
            Event::BlobPushed {
                repository: repo.clone(),
                digest: layer.clone(),
                size: 2048,
                outcome: BlobPushed::Uploaded,
            },
            Event::BlobPushed {
                repository: repo.clone(),
                digest: layer.clone(),
                size: 1_200_000,
                outcome: BlobPushed::Mounted,
            },
            Event::BlobPushed {
                repository: repo,
                digest: layer.clone(),
                size: 512,
                outcome: BlobPushed::AlreadyPresent,
            },
            Event::ManifestPushed {
                destination: "127.0.0.1:5000/app:1".to_owned(),
                digest: Digest::of(b"manifest"),
            },
        ]
    }

    /// What text output shows at `filter`: the lines not logged by the library already.
    fn text_at(filter: Level) -> String {
        events()
            .iter()
            .filter_map(describe)
            .filter(|l| !l.logged && l.level <= filter)
            .map(|l| format!("{:>5} {}\n", l.level, l.message))
            .collect()
    }

    #[test]
    fn text_lines_are_one_per_finished_blob_layer_and_extraction() {
        insta::assert_snapshot!(text_at(Level::INFO), @r"
         INFO pulled dac1d7cfa950 (1.14 MiB) from 127.0.0.1:5000/busybox
         INFO extracted layer 1/1 dac1d7cfa950 (1.14 MiB) for stage builder in 0.24s
         INFO extracted 1 layers for stage builder in 0.25s
         INFO uploaded dac1d7cfa950 (2.00 KiB) to 127.0.0.1:5000/app
         INFO mounted dac1d7cfa950 (1.14 MiB) into 127.0.0.1:5000/app
         INFO skipped dac1d7cfa950 (512 B): already in 127.0.0.1:5000/app
        ");
    }

    #[test]
    fn debug_adds_layers_written_and_step_times() {
        let debug = text_at(Level::DEBUG);
        let extra: Vec<&str> = debug.lines().filter(|l| l.contains("DEBUG")).collect();
        assert_eq!(
            extra,
            [
                "DEBUG stage builder, step 3: wrote layer dac1d7cfa950 (2.00 KiB)",
                "DEBUG [stage 1/2] step 3/7: RUN make: done in 1.50s",
            ]
        );
    }

    #[test]
    fn json_has_one_object_per_event_but_none_for_bytes_in_flight() {
        let lines: Vec<String> = events()
            .iter()
            .filter_map(describe)
            .map(|l| json_line(&l, "2026-01-01T00:00:00.000000Z"))
            .collect();
        // Fourteen events, two of them bytes on their way (one pull, one push).
        assert_eq!(lines.len(), 12);
        let parsed: Vec<Value> = lines
            .iter()
            .map(|l| serde_json::from_str(l).expect("one JSON object"))
            .collect();
        insta::assert_json_snapshot!(parsed);
    }

    #[test]
    fn the_timestamp_has_the_log_lines_format() {
        let now = timestamp();
        assert!(now.ends_with('Z') && now.contains('T'), "{now}");
    }
}
