//! Log output: `-v/--verbosity`, `--log-format` and `--log-timestamp`, as Kaniko's
//! `pkg/logging` offers them, on `tracing-subscriber`. Logs go to stderr.
//!
//! Kaniko's levels map onto tracing's; `fatal` and `panic` have no tracing level and silence
//! log lines altogether (the final error is printed by `crate::report`, not logged). `color`
//! forces ANSI colours even when stderr is not a terminal, as Kaniko's does; `json` writes one
//! object per line and always carries a timestamp.
//!
//! In JSON, the library's log lines that repeat one of its events (a step header, `pulling base
//! image`, ...) are left out: `crate::progress` writes the event itself, with its fields, so
//! each shows once. Text keeps the library's lines and the progress sink does not repeat them.
//!
//! When progress bars are drawn (text or color on a terminal, see `crate::progress`), log
//! lines are written with the bars lifted, so that a line never lands inside a bar.

use std::io::{IsTerminal as _, Write};
use std::sync::OnceLock;

use indicatif::{MultiProgress, ProgressDrawTarget};
use tracing::Metadata;
use tracing_subscriber::filter::{LevelFilter, filter_fn};
use tracing_subscriber::prelude::*;
use tracing_subscriber::{Layer, Registry, fmt};

use crate::flags::{LogFlags, LogFormat, LogLevel};

/// The tracing filter for a Kaniko log level.
pub fn level_filter(level: LogLevel) -> LevelFilter {
    match level {
        LogLevel::Trace => LevelFilter::TRACE,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Fatal | LogLevel::Panic => LevelFilter::OFF,
    }
}

/// The progress bars of this process, when [`init`] chose to draw them.
static BARS: OnceLock<MultiProgress> = OnceLock::new();

/// The bars to draw progress on: `None` unless logs are text or color on a terminal at a
/// level that shows `info`.
pub fn bars() -> Option<&'static MultiProgress> {
    BARS.get()
}

/// Whether progress is drawn as bars: text or color on a terminal, at `info` or more.
fn draws_bars(flags: &LogFlags, terminal: bool) -> bool {
    terminal
        && flags.log_format != LogFormat::Json
        && level_filter(flags.verbosity) >= LevelFilter::INFO
}

/// Whether a log line is not one that repeats a build event (JSON writes the event instead).
fn not_an_event(metadata: &Metadata<'_>) -> bool {
    metadata.target() != kiln_build::events::LOG_TARGET
}

/// Writes one log line to stderr with the bars lifted.
struct AboveBars(MultiProgress);

impl Write for AboveBars {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.suspend(|| std::io::stderr().write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Installs the global subscriber. A second call (there is none outside tests) is a no-op.
pub fn init(flags: &LogFlags) {
    let bars = draws_bars(flags, std::io::stderr().is_terminal()).then(|| {
        BARS.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
            .clone()
    });
    let layer: Box<dyn Layer<Registry> + Send + Sync> = match flags.log_format {
        LogFormat::Json => fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_filter(filter_fn(not_an_event))
            .boxed(),
        format => {
            let base = fmt::layer()
                .with_writer(move || -> Box<dyn Write> {
                    match &bars {
                        Some(bars) => Box::new(AboveBars(bars.clone())),
                        None => Box::new(std::io::stderr()),
                    }
                })
                .with_target(false)
                .with_ansi(format == LogFormat::Color);
            if flags.log_timestamp {
                base.boxed()
            } else {
                base.without_time().boxed()
            }
        }
    };
    let subscriber = tracing_subscriber::registry()
        .with(layer)
        .with(level_filter(flags.verbosity));
    // Only fails when a subscriber is already installed, which leaves logging working.
    let _ = subscriber.try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fatal_and_panic_silence_logs() {
        let cases = [
            (LogLevel::Trace, LevelFilter::TRACE),
            (LogLevel::Info, LevelFilter::INFO),
            (LogLevel::Warn, LevelFilter::WARN),
            (LogLevel::Fatal, LevelFilter::OFF),
            (LogLevel::Panic, LevelFilter::OFF),
        ];
        for (level, want) in cases {
            assert_eq!(level_filter(level), want, "{level:?}");
        }
    }

    #[test]
    fn bars_only_on_a_terminal_in_text_formats_at_info() {
        let flags = |log_format, verbosity| LogFlags {
            verbosity,
            log_format,
            log_timestamp: false,
        };
        let cases = [
            (LogFormat::Color, LogLevel::Info, true, true),
            (LogFormat::Text, LogLevel::Debug, true, true),
            (LogFormat::Text, LogLevel::Info, false, false),
            (LogFormat::Json, LogLevel::Info, true, false),
            (LogFormat::Color, LogLevel::Warn, true, false),
        ];
        for (format, level, terminal, want) in cases {
            let got = draws_bars(&flags(format, level), terminal);
            assert_eq!(got, want, "{format:?} {level:?} terminal={terminal}");
        }
    }
}
