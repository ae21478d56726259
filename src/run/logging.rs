//! Log output: readable text by default, one JSON object per line with
//! `[log] format = "json"`. `RUST_LOG`, when set, overrides `[log] level`.
//! Set once at start; a reload does not change it.
//!
//! Lines go through a bounded [`LogWriter`] queue rather than a `write(2)`
//! each, so a log output that stops draining never stops the gateway.
//! Under systemd (stderr is the stream `JOURNAL_STREAM` names) each line
//! starts with its syslog priority, which journald strips and records.
//!
//! Audit events, one per request, bypass tracing's formatter: the gateway
//! writes them itself ([`crate::request::audit`]) in the same layout, because
//! formatting them through tracing cost as much as forwarding the request.
//! Whether they are written is still decided by the filter, so
//! `RUST_LOG=dockgate::request::audit=off` silences them like any other target.

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use tracing_subscriber::EnvFilter;

use crate::config::{AuditMode, LogFormat, LogSettings};
use crate::run::log_output::Output;
use crate::run::log_writer::{Flusher, LogCounters, LogWriter, Options, Stall};

/// How long the output may take nothing while lines wait before `/healthz`
/// reports it: longer than journald's own pauses (a journal file rotating,
/// a flush to disk), short enough for a health check to notice.
pub const STALL_AFTER: Duration = Duration::from_secs(5);

/// The log as set up at start.
pub struct Installed {
    pub writer: LogWriter,
    pub format: LogFormat,
    pub audit: AuditMode,
}

static LOG: OnceLock<Installed> = OnceLock::new();

/// Installs the global subscriber, counting lost lines and failed writes in
/// `counters`. Keep the flusher until the process exits: dropping it writes
/// the lines still queued, waiting a bounded time.
pub fn init(settings: &LogSettings, counters: LogCounters) -> Flusher {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::stderr().is_terminal();
    // Without a stderr there is nowhere to log; the lines then go nowhere
    // rather than the gateway not starting.
    let output = Output::stderr().or_else(|_| {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .map(|f| Output::new(f.into()))
    });
    let output = output.expect("neither stderr nor /dev/null can be opened");
    let priority_prefix = output.is_journal();
    let format = settings.format;
    let (writer, flusher) = LogWriter::spawn(
        output,
        Options {
            capacity: settings.queue_bytes,
            priority_prefix,
            report: Box::new(move |lost, at_exit| lost_line(format, lost, at_exit)),
            dropped: counters.dropped,
            write_errors: counters.write_errors,
        },
    );
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
        let _ = LOG.set(Installed {
            writer,
            format,
            audit: settings.audit,
        });
    }
    flusher
}

/// The audit output, when logging is set up and the filter lets audit
/// events through.
pub fn audit_output() -> Option<&'static Installed> {
    if tracing::enabled!(target: "dockgate::request::audit", tracing::Level::INFO) {
        LOG.get()
    } else {
        None
    }
}

/// The log writer, when `[log] audit = "required"` and the filter lets
/// audit events through. The mode is looked at first: in the default mode
/// this costs a request nothing more.
pub fn required_audit() -> Option<&'static LogWriter> {
    let log = LOG.get().filter(|log| log.audit == AuditMode::Required)?;
    tracing::enabled!(target: "dockgate::request::audit", tracing::Level::INFO)
        .then_some(&log.writer)
}

/// Whether the log output has taken nothing for [`STALL_AFTER`] while
/// lines wait.
pub fn stall() -> Option<Stall> {
    LOG.get().and_then(|log| log.writer.stall(STALL_AFTER))
}

/// The line that says how many lines were lost, in the configured layout
/// and with the keys tracing's own lines have.
fn lost_line(format: LogFormat, lost: u64, at_exit: bool) -> Vec<u8> {
    let message = if at_exit {
        "log lines not written: the log output did not take them before exit"
    } else {
        "log lines lost: the log output did not take them in time"
    };
    let mut timestamp = Vec::new();
    crate::request::audit::line::timestamp(SystemTime::now(), &mut timestamp);
    let timestamp = String::from_utf8_lossy(&timestamp);
    let mut line = match format {
        LogFormat::Text => format!("{timestamp}  WARN dockgate::log: {message} lost={lost}"),
        LogFormat::Json => serde_json::json!({
            "timestamp": timestamp,
            "level": "WARN",
            "message": message,
            "lost": lost,
            "target": "dockgate::log",
        })
        .to_string(),
    };
    line.push('\n');
    line.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lost_line_is_one_line_in_either_layout() {
        let json = lost_line(LogFormat::Json, 12, false);
        let text = String::from_utf8(json).unwrap();
        assert_eq!(text.matches('\n').count(), 1);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (value["lost"].as_u64(), value["level"].as_str()),
            (Some(12), Some("WARN"))
        );
        let text = String::from_utf8(lost_line(LogFormat::Text, 3, true)).unwrap();
        assert!(
            text.ends_with("not written: the log output did not take them before exit lost=3\n"),
            "{text}"
        );
        assert_eq!(text.matches('\n').count(), 1);
    }
}
