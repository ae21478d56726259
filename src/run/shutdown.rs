//! Shutdown as a value passed to everything that must stop: first *drain*
//! (stop accepting, let requests in flight finish), then, when the grace
//! period is over, *abort* (end whatever is still open: event streams,
//! log follows, tunnels). Nothing reads a global to learn it should stop.

use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    drain: CancellationToken,
    abort: CancellationToken,
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Stop accepting; finish what is in flight.
    pub fn start_drain(&self) {
        self.drain.cancel();
    }

    /// End everything still open.
    pub fn abort(&self) {
        self.drain.cancel();
        self.abort.cancel();
    }

    pub async fn draining(&self) {
        self.drain.cancelled().await
    }

    pub async fn aborted(&self) {
        self.abort.cancelled().await
    }
}
