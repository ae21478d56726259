//! The accept loop: it only accepts, counts each connection against
//! `max_connections` and hands it to a worker thread ([`crate::request::workers`]);
//! the handshake and everything after it run in the connection's own task,
//! so a slow or silent client never stalls anyone else.

use std::sync::Arc;

use tokio::net::TcpListener;

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
    loop {
        let accepted = tokio::select! {
            () = shared.shutdown.draining() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::error!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&shared.connections).try_acquire_owned() else {
            tracing::warn!(%peer, "connection limit reached; closing new connection");
            metrics::connection_refused("max_connections");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        workers.dispatch(tcp, peer, permit);
    }
    tracing::info!("stopped accepting connections");
}
