//! Log output: readable text by default, one JSON object per line with
//! `[log] format = "json"`. `RUST_LOG`, when set, overrides `[log] level`.
//! Set once at start; a reload does not change it.
//!
//! Lines go through a [`LogWriter`] batch rather than a `write(2)` each.
//! Audit events, one per request, bypass tracing's formatter: the gateway
//! writes them itself ([`crate::audit`]) in the same layout, because
//! formatting them through tracing cost as much as forwarding the request.
//! Whether they are written is still decided by the filter, so
//! `RUST_LOG=dockgate::audit=off` silences them like any other target.

use std::io::IsTerminal;
use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};
use crate::log_writer::{Flusher, LogWriter};

/// Where audit lines go once logging is set up, and in which layout.
static AUDIT: OnceLock<(LogWriter, LogFormat)> = OnceLock::new();

/// Installs the global subscriber. Keep the flusher until the process
/// exits: dropping it writes the lines still pending.
pub fn init(settings: &LogSettings) -> Flusher {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::stderr().is_terminal();
    let (writer, flusher) = LogWriter::spawn(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer.clone())
        .with_ansi(ansi);
    let installed = match settings.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
    if installed.is_ok() {
        let _ = AUDIT.set((writer, settings.format));
    }
    flusher
}

/// The audit output, when logging is set up and the filter lets audit
/// events through.
pub fn audit_output() -> Option<&'static (LogWriter, LogFormat)> {
    if tracing::enabled!(target: "dockgate::audit", tracing::Level::INFO) {
        AUDIT.get()
    } else {
        None
    }
}
