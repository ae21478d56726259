//! The accept loops, one per listener (the TLS one, and each local unix
//! socket): each only accepts, lets each connection in under
//! `max_connections` and, on TLS, the handshake limits (`Shared::arrive`)
//! and hands it to a worker thread ([`crate::request::workers`]); the
//! handshake and everything after it run in the connection's own task, so
//! a slow or silent client never stalls anyone else. A refused connection
//! is closed at once, counted in the metrics, and logged only as a count
//! ([`RefusalLog`]): refusals cost their sender a `connect` each.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use tokio::net::{TcpListener, UnixListener};

use crate::request::connection::Accepted;
use crate::request::listener::{self, RefusalLog};
use crate::request::local::LocalPeer;
use crate::request::shared::{Shared, REFUSALS_PER_CLIENT};
use crate::request::workers::Handoff;
use crate::run::metrics;

/// What an accept loop accepts on.
pub enum Listener {
    Tls(TcpListener),
    /// A unix socket, with its path as configured (how its peers are known).
    Local(UnixListener, Arc<Path>),
}

impl Listener {
    /// How the log names it.
    fn name(&self) -> &'static str {
        match self {
            Listener::Tls(_) => "tls",
            Listener::Local(..) => "local",
        }
    }

    /// The next connection, with its peer.
    async fn accept(&self) -> Accepted {
        match self {
            Listener::Tls(tcp) => {
                let (stream, peer) = listener::accept("tls", || tcp.accept()).await;
                Accepted::Tls(stream, peer)
            }
            Listener::Local(unix, path) => loop {
                let (stream, _) = listener::accept("local", || unix.accept()).await;
                match LocalPeer::of(&stream, path) {
                    Ok(peer) => return Accepted::Local(stream, peer),
                    // Without credentials the peer could be anyone.
                    Err(error) => {
                        tracing::warn!(socket = %path.display(), %error, "cannot read the peer's credentials; closing")
                    }
                }
            },
        }
    }
}

/// Warns when one client can hold every connection.
pub fn warn_on_limits(shared: &Shared) {
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
}

/// Accepts connections on `listener` until shutdown starts draining or
/// `closed` resolves (a reload dropped its socket), handing each to a
/// worker.
pub async fn serve(
    listener: Listener,
    shared: Arc<Shared>,
    workers: Arc<Handoff>,
    closed: impl Future<Output = ()>,
) {
    let mut refusals = RefusalLog::new(listener.name());
    tokio::pin!(closed);
    loop {
        let accepted = tokio::select! {
            () = shared.shutdown.draining() => break,
            () = &mut closed => break,
            () = refusals.until_due() => {
                refusals.flush();
                continue;
            }
            accepted = listener.accept() => accepted,
        };
        let arrival = match &accepted {
            Accepted::Tls(_, peer) => shared.arrive(*peer),
            Accepted::Local(..) => shared.arrive_local(),
        };
        match arrival {
            Ok(arrival) => {
                if let Accepted::Tls(tcp, _) = &accepted {
                    let _ = tcp.set_nodelay(true);
                }
                workers.dispatch(accepted, arrival);
            }
            Err(reason) => {
                drop(accepted);
                metrics::connection_refused(reason);
                refusals.refused(reason);
            }
        }
    }
    refusals.flush();
    match &listener {
        Listener::Tls(_) => tracing::info!("stopped accepting connections"),
        Listener::Local(_, path) => {
            tracing::info!(socket = %path.display(), "stopped accepting connections")
        }
    }
}
