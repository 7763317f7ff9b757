//! The summary printed after a successful build: where the image went and under which
//! digest, its size, its layers (new and total), the total time and the time of each step,
//! slowest first (steps that took as long keep the order they ran in), so that what to speed
//! up is on top; with `--cache`, how many steps hit, missed or were not cached, and why each
//! one that did not hit did not.
//!
//! As text it is a few `info` lines; with `--log-format=json` it is one object
//! (`"event": "build_summary"`) carrying the same facts as numbers.
//!
//! Does not own: the numbers (`kiln_build::executor::BuiltImage`) or how lines reach stderr
//! (`crate::progress`).

use std::time::Duration;

use indicatif::HumanBytes;
use kiln_build::executor::{BuiltImage, CacheOutcome};
use serde_json::json;
use tracing::Level;

use crate::progress::Line;

/// What a finished build reports.
#[derive(Debug)]
pub struct Summary {
    pub digest: String,
    pub size: u64,
    pub layers: usize,
    pub new_layers: usize,
    /// Where the image was pushed; empty when it was not.
    pub destinations: Vec<String>,
    pub elapsed: Duration,
    /// Each step's header and time, in the order they ran.
    pub steps: Vec<(String, Duration)>,
    /// With `--cache`: each step that writes layers and how it went with the cache.
    pub cache: Vec<(String, CacheOutcome)>,
}

impl Summary {
    pub fn new(image: &BuiltImage, destinations: Vec<String>, elapsed: Duration) -> Self {
        Self {
            digest: image.digest().to_string(),
            size: image.size(),
            layers: image.layers.len(),
            new_layers: image.new_layers,
            destinations,
            elapsed,
            steps: image.timings.clone(),
            cache: image.cache.clone(),
        }
    }

    /// The steps, slowest first; equal times keep their order.
    fn slowest_first(&self) -> Vec<&(String, Duration)> {
        let mut steps: Vec<_> = self.steps.iter().collect();
        steps.sort_by_key(|(_, took)| std::cmp::Reverse(*took));
        steps
    }

    /// The summary as text lines.
    pub fn text(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "built {} in {:.2}s: {} ({} bytes), {} layers ({} new)",
            self.digest,
            self.elapsed.as_secs_f64(),
            HumanBytes(self.size),
            self.size,
            self.layers,
            self.new_layers,
        )];
        if self.destinations.is_empty() {
            lines.push("not pushed".to_owned());
        }
        for dest in &self.destinations {
            lines.push(format!("pushed {dest}@{}", self.digest));
        }
        if !self.steps.is_empty() {
            lines.push("steps, slowest first:".to_owned());
        }
        for (step, took) in self.slowest_first() {
            lines.push(format!("{:>8.2}s  {step}", took.as_secs_f64()));
        }
        if !self.cache.is_empty() {
            let count =
                |f: fn(&CacheOutcome) -> bool| self.cache.iter().filter(|(_, o)| f(o)).count();
            lines.push(format!(
                "layer cache: {} hit, {} missed, {} not cached",
                count(|o| matches!(o, CacheOutcome::Hit { .. })),
                count(|o| matches!(o, CacheOutcome::Miss { .. })),
                count(|o| matches!(o, CacheOutcome::Skipped { .. })),
            ));
        }
        for (step, outcome) in &self.cache {
            match outcome {
                CacheOutcome::Hit { .. } => {}
                other => lines.push(format!("    {step}: {other}")),
            }
        }
        lines
    }

    /// The summary as one JSON event.
    pub fn line(&self) -> Line {
        let steps: Vec<_> = self
            .slowest_first()
            .into_iter()
            .map(|(step, took)| json!({"step": step, "seconds": took.as_secs_f64()}))
            .collect();
        let cache: Vec<_> = self
            .cache
            .iter()
            .map(|(step, outcome)| match outcome {
                CacheOutcome::Hit { store } => {
                    json!({"step": step, "outcome": "hit", "store": store})
                }
                CacheOutcome::Miss { reason } => {
                    json!({"step": step, "outcome": "miss", "reason": reason})
                }
                CacheOutcome::Skipped { reason } => {
                    json!({"step": step, "outcome": "not cached", "reason": reason})
                }
            })
            .collect();
        Line {
            level: Level::INFO,
            name: "build_summary",
            message: self.text().swap_remove(0),
            fields: vec![
                ("digest", json!(self.digest)),
                ("size", json!(self.size)),
                ("layers", json!(self.layers)),
                ("new_layers", json!(self.new_layers)),
                ("destinations", json!(self.destinations)),
                ("seconds", json!(self.elapsed.as_secs_f64())),
                ("steps", json!(steps)),
                ("cache", json!(cache)),
            ],
            logged: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(destinations: &[&str]) -> Summary {
        let secs = Duration::from_millis;
        Summary {
            digest: "sha256:abc".to_owned(),
            size: 5_400_000,
            layers: 3,
            new_layers: 2,
            destinations: destinations.iter().map(|d| (*d).to_owned()).collect(),
            elapsed: secs(4_321),
            steps: vec![
                ("[stage 1/1] step 1/4: COPY big /big".to_owned(), secs(120)),
                ("[stage 1/1] step 2/4: ENV A=1".to_owned(), secs(0)),
                ("[stage 1/1] step 3/4: RUN sleep 3".to_owned(), secs(3_050)),
                ("[stage 1/1] step 4/4: ENV B=2".to_owned(), secs(0)),
            ],
            cache: Vec::new(),
        }
    }

    #[test]
    fn text_names_the_digest_destinations_and_steps_slowest_first() {
        let text = summary(&["r.example/app:1", "r.example/app:latest"]).text();
        insta::assert_snapshot!(text.join("\n"), @r"
        built sha256:abc in 4.32s: 5.15 MiB (5400000 bytes), 3 layers (2 new)
        pushed r.example/app:1@sha256:abc
        pushed r.example/app:latest@sha256:abc
        steps, slowest first:
            3.05s  [stage 1/1] step 3/4: RUN sleep 3
            0.12s  [stage 1/1] step 1/4: COPY big /big
            0.00s  [stage 1/1] step 2/4: ENV A=1
            0.00s  [stage 1/1] step 4/4: ENV B=2
        ");
    }

    #[test]
    fn an_image_not_pushed_says_so() {
        let text = summary(&[]).text();
        assert_eq!(text[1], "not pushed");
    }

    #[test]
    fn json_carries_the_same_facts_as_numbers() {
        let line = crate::progress::json_line(&summary(&["r.example/app:1"]).line(), "T");
        let value: serde_json::Value = serde_json::from_str(&line).expect("json");
        insta::assert_json_snapshot!(value, @r#"
        {
          "timestamp": "T",
          "level": "INFO",
          "fields": {
            "message": "built sha256:abc in 4.32s: 5.15 MiB (5400000 bytes), 3 layers (2 new)",
            "event": "build_summary",
            "digest": "sha256:abc",
            "size": 5400000,
            "layers": 3,
            "new_layers": 2,
            "destinations": [
              "r.example/app:1"
            ],
            "seconds": 4.321,
            "steps": [
              {
                "step": "[stage 1/1] step 3/4: RUN sleep 3",
                "seconds": 3.05
              },
              {
                "step": "[stage 1/1] step 1/4: COPY big /big",
                "seconds": 0.12
              },
              {
                "step": "[stage 1/1] step 2/4: ENV A=1",
                "seconds": 0.0
              },
              {
                "step": "[stage 1/1] step 4/4: ENV B=2",
                "seconds": 0.0
              }
            ],
            "cache": []
          },
          "target": "kiln::progress"
        }
        "#);
    }

    #[test]
    fn with_the_cache_it_counts_hits_and_says_why_the_others_missed() {
        let mut summary = summary(&[]);
        summary.cache = vec![
            (
                "[stage 1/1] step 1/4: COPY big /big".to_owned(),
                CacheOutcome::Hit {
                    store: "cache dir /cache/v1".to_owned(),
                },
            ),
            (
                "[stage 1/1] step 3/4: RUN sleep 3".to_owned(),
                CacheOutcome::Miss {
                    reason: "an ARG or ENV value it sees changed".to_owned(),
                },
            ),
        ];
        let text = summary.text();
        let tail = &text[text.len() - 2..];
        assert_eq!(
            tail,
            [
                "layer cache: 1 hit, 1 missed, 0 not cached",
                "    [stage 1/1] step 3/4: RUN sleep 3: cache miss: an ARG or ENV value it sees \
                 changed",
            ]
        );
    }
}
