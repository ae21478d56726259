//! Log output: readable text by default, one JSON object per line with
//! `[log] format = "json"`. `RUST_LOG`, when set, overrides `[log] level`.
//! Set once at start; a reload does not change it.
//!
//! Lines are handed to a writer thread rather than written on the request
//! path: every request emits an audit event, and a `write(2)` per event
//! between the Engine's answer and the client's response showed up as the
//! largest single cost in the keep-alive benchmark. The writer blocks
//! (never drops lines) if it falls far behind; audit events are not optional.

use std::io::IsTerminal;

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber. Keep the guard until the process exits:
/// dropping it flushes the lines still queued.
pub fn init(settings: &LogSettings) -> WorkerGuard {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::stderr().is_terminal();
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    let _ = match settings.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
    guard
}
