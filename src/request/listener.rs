//! What every accept loop shares, the gateway's and the metrics
//! listener's: one policy for failed accepts, and one log of refused
//! connections.
//!
//! A failed `accept` that says the process is out of something (file
//! descriptors, memory, socket buffers) leaves the connection queued in
//! the kernel, so the listener is ready again at once: trying again
//! without a pause spins a core until something closes. And a connection
//! refused by a limit costs its sender one `connect`, so refusals are
//! logged as counts at a bounded rate, never a line each.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::time::Duration;

use tokio::time::Instant;

/// How long an accept loop pauses after an accept that failed for want of
/// a resource. Long enough that a loop out of descriptors costs nothing,
/// short enough that it serves again soon after one closes.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How often refused connections are logged, as counts.
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// How long to pause after `error` before accepting again; `None` for an
/// error that concerned only the one connection (it was reset before it
/// was taken), after which the next is accepted at once.
pub fn backoff(error: &io::Error) -> Option<Duration> {
    match error.kind() {
        io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::Interrupted => None,
        _ => Some(ACCEPT_BACKOFF),
    }
}

/// Accepts the next connection with `next` (a listener's `accept`),
/// pausing after failures as [`backoff`] says; `name` tells the listeners
/// apart in the log.
pub async fn accept<T, F>(name: &'static str, mut next: impl FnMut() -> F) -> T
where
    F: Future<Output = io::Result<T>>,
{
    loop {
        match next().await {
            Ok(pair) => return pair,
            Err(error) => {
                if let Some(pause) = backoff(&error) {
                    tracing::error!(listener = name, %error, ?pause, "accept failed; pausing");
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }
}

/// Connections refused by a limit, logged as one line per reason at most
/// every [`REFUSAL_LOG_INTERVAL`]: the first refusal after a quiet
/// interval at once, the rest as a count when the interval ends.
#[derive(Debug)]
pub struct RefusalLog {
    /// `name` of the listener, as in [`accept`].
    name: &'static str,
    /// Refusals not yet logged, by reason.
    pending: BTreeMap<&'static str, u64>,
    /// When the last lines were written.
    last: Option<Instant>,
}

impl RefusalLog {
    pub fn new(name: &'static str) -> RefusalLog {
        RefusalLog {
            name,
            pending: BTreeMap::new(),
            last: None,
        }
    }

    /// Counts one refused connection; logs now if no line was written in
    /// the last interval.
    pub fn refused(&mut self, reason: &'static str) {
        *self.pending.entry(reason).or_default() += 1;
        if self
            .last
            .is_none_or(|last| last.elapsed() >= REFUSAL_LOG_INTERVAL)
        {
            self.flush();
        }
    }

    /// When the refusals held back are due to be logged, if any are.
    pub fn due(&self) -> Option<Instant> {
        if self.pending.is_empty() {
            return None;
        }
        Some(
            self.last
                .map_or_else(Instant::now, |last| last + REFUSAL_LOG_INTERVAL),
        )
    }

    /// Resolves when [`RefusalLog::due`] says; never when nothing is held back.
    pub async fn until_due(&self) {
        match self.due() {
            Some(when) => tokio::time::sleep_until(when).await,
            None => std::future::pending().await,
        }
    }

    /// Logs every count held back, one line per reason.
    pub fn flush(&mut self) {
        let interval = REFUSAL_LOG_INTERVAL.as_secs();
        for (reason, refused) in std::mem::take(&mut self.pending) {
            tracing::warn!(
                listener = self.name,
                refused,
                reason,
                "refused {refused} connections in the last {interval}s: {reason}"
            );
        }
        self.last = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_descriptors_pauses_and_a_reset_connection_does_not() {
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(backoff(&emfile), Some(ACCEPT_BACKOFF));
        let enfile = io::Error::from_raw_os_error(libc::ENFILE);
        assert_eq!(backoff(&enfile), Some(ACCEPT_BACKOFF));
        let aborted = io::Error::from_raw_os_error(libc::ECONNABORTED);
        assert_eq!(backoff(&aborted), None);
    }

    #[test]
    fn a_flood_of_refusals_is_one_line_per_interval() {
        let mut log = RefusalLog::new("test");
        log.refused("max_handshakes");
        // The first was written at once; the rest wait for the interval.
        assert!(log.pending.is_empty());
        for _ in 0..1000 {
            log.refused("max_handshakes");
        }
        assert_eq!(log.pending.get("max_handshakes"), Some(&1000));
        let due = log.due().unwrap();
        assert_eq!(due - log.last.unwrap(), REFUSAL_LOG_INTERVAL);
        log.flush();
        assert!(log.pending.is_empty());
        assert_eq!(log.due(), None);
    }
}
