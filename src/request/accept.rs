//! The accept loop: it only accepts, lets each connection in under
//! `max_connections` and the handshake limits (`Shared::arrive`) and
//! hands it to a worker thread ([`crate::request::workers`]); the handshake
//! and everything after it run in the connection's own task, so a slow or
//! silent client never stalls anyone else. A refused connection is closed
//! at once, counted in the metrics, and logged only as a count
//! ([`RefusalLog`]): refusals cost their sender a `connect` each.

use std::sync::Arc;

use tokio::net::TcpListener;

use crate::request::listener::{self, RefusalLog};
use crate::request::shared::{Shared, REFUSALS_PER_CLIENT};
use crate::request::workers::Handoff;
use crate::run::metrics;

/// Accepts connections until shutdown starts draining, handing each to a
/// worker.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, workers: Handoff) {
    let (total, per_client) = {
        let limits = &shared.state.borrow().config.limits;
        (limits.max_connections, limits.max_connections_per_client)
    };
    if per_client + REFUSALS_PER_CLIENT >= total {
        tracing::warn!(
            max_connections = total,
            max_connections_per_client = per_client,
            refusals_per_client = REFUSALS_PER_CLIENT,
            "one client can hold every connection: max_connections_per_client \
             and the refusals in progress leave other clients no room under max_connections"
        );
    }
    let mut refusals = RefusalLog::new("tls");
    loop {
        let (tcp, peer) = tokio::select! {
            () = shared.shutdown.draining() => break,
            () = refusals.until_due() => {
                refusals.flush();
                continue;
            }
            accepted = listener::accept(&listener, "tls") => accepted,
        };
        match shared.arrive(peer) {
            Ok(arrival) => {
                let _ = tcp.set_nodelay(true);
                workers.dispatch(tcp, peer, arrival);
            }
            Err(reason) => {
                drop(tcp);
                metrics::connection_refused(reason);
                refusals.refused(reason);
            }
        }
    }
    refusals.flush();
    tracing::info!("stopped accepting connections");
}
