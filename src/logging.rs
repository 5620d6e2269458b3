//! Logging setup: `tracing` to stderr, as text or JSON, at the level `-v`/`-q` or `RUST_LOG`
//! asks for. Other crates stay at `warn` unless RUST_LOG names them: their debug output is
//! about HTTP internals, and it is the one place a header could be printed. `-q` turns logging
//! off altogether: what a quiet run prints is its failures, one line each (`run/quiet.rs`),
//! and every error that ends a run is in those lines or in the one `error:` line.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

use crate::cli::LogArgs;
use crate::settings::LogFormat;

/// Installs the global subscriber. Safe to call once per process.
pub fn init(args: &LogArgs) {
    let quiet = args.quiet > 0;
    let ours = match (args.quiet, args.verbose) {
        _ if quiet => LevelFilter::OFF,
        (_, 0) => LevelFilter::INFO,
        (_, 1) => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    let mut filter = Targets::new()
        .with_default(if quiet {
            LevelFilter::OFF
        } else {
            LevelFilter::WARN
        })
        .with_target("tts_batch", ours);
    if let Ok(spec) = std::env::var("RUST_LOG")
        && let Ok(parsed) = spec.parse::<Targets>()
    {
        let level = parsed
            .iter()
            .find(|(target, _)| *target == "tts_batch")
            .map(|(_, level)| level)
            .or(parsed.default_level())
            .unwrap_or(ours);
        filter = filter.with_target("tts_batch", level);
        for (target, level) in parsed.iter() {
            if target != "tts_batch" {
                filter = filter.with_target(target, level);
            }
        }
    }
    let json = args.log_format == Some(LogFormat::Json);
    let registry = tracing_subscriber::registry().with(filter);
    let result = if json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .try_init()
    } else {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_target(false)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
            )
            .try_init()
    };
    let _ = result;
}
