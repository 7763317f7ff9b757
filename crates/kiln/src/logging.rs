//! Log output: `-v/--verbosity`, `--log-format` and `--log-timestamp`, as Kaniko's
//! `pkg/logging` offers them, on `tracing-subscriber`. Logs go to stderr.
//!
//! Kaniko's levels map onto tracing's; `fatal` and `panic` have no tracing level and silence
//! log lines altogether (the final error is printed by `crate::report`, not logged). `color`
//! forces ANSI colours even when stderr is not a terminal, as Kaniko's does; `json` writes one
//! object per line and always carries a timestamp.

use tracing_subscriber::filter::LevelFilter;
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

/// Installs the global subscriber. A second call (there is none outside tests) is a no-op.
pub fn init(flags: &LogFlags) {
    let layer: Box<dyn Layer<Registry> + Send + Sync> = match flags.log_format {
        LogFormat::Json => fmt::layer().json().with_writer(std::io::stderr).boxed(),
        format => {
            let base = fmt::layer()
                .with_writer(std::io::stderr)
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
}
