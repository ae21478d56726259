//! The listener side: accepting TCP connections, the TLS handshake, one task
//! per connection serving HTTP/1.1 (on a worker thread), and the tunnels
//! upgrades turn into.
//!
//! The accept loop only accepts and spawns; the handshake runs inside the
//! connection's own task under a timeout, so a slow or silent client never
//! stalls anyone else. Every task (connection or tunnel) is owned by one
//! [`TaskTracker`] so shutdown can wait for all of them, and every task
//! watches the current [`Snapshot`]: when a reload publishes one that no
//! longer admits its client, the task ends and its connection closes.
//!
//! A connection counts against `max_connections` from its accept and, once
//! its client is known, against `max_connections_per_client`, until its
//! socket closes: when an upgrade turns it into a tunnel, the tunnel takes
//! over its [`Lease`]. A client at its limit is refused with 429 on new
//! connections, and only a few of those refusals are kept waiting for their
//! request at once, so that a client at its limit cannot fill the global
//! limit with connections that are only waiting to be refused.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::upgrade::OnUpgrade;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

use crate::audit::Record;
use crate::config::Limits;
use crate::gateway::Gateway;
use crate::identity::Identity;
use crate::linger::{LingeringStream, UnreadBody};
use crate::metrics;
use crate::shutdown::Shutdown;
use crate::snapshot::Snapshot;
use crate::tls::HandshakeFailure;
use crate::workers::Handoff;

/// State shared by the accept loop, every connection and every tunnel.
pub struct Shared {
    /// The current configuration; replaced whole on reload.
    pub state: watch::Receiver<Arc<Snapshot>>,
    pub shutdown: Shutdown,
    /// Owns every connection and tunnel task.
    pub tasks: TaskTracker,
    /// Bounds open connections in total (handshakes and tunnels included).
    connections: Arc<Semaphore>,
    /// Open connections (tunnels included) and refusals per client name.
    per_client: Arc<Mutex<HashMap<Arc<str>, ClientCount>>>,
}

/// How many connections of a client at its limit are answered 429 at once.
/// More are closed as soon as their handshake names the client: each waits
/// up to `request_header_timeout` for a request to refuse, and without this
/// bound a client at its limit could hold the rest of `max_connections`
/// with them.
pub const REFUSALS_PER_CLIENT: usize = 16;

/// One client's place under `max_connections_per_client`.
#[derive(Default)]
struct ClientCount {
    /// Connections and tunnels counted against the limit.
    open: usize,
    /// Connections over the limit that are being answered 429.
    refusing: usize,
}

/// What one client connection holds of the limits: its permit under
/// `max_connections` and, once its client is named, its place under
/// `max_connections_per_client`. The connection and the tunnel an upgrade
/// turns it into share it, so it is released when the socket closes, not
/// when hyper hands the socket over.
pub struct Lease {
    _permit: OwnedSemaphorePermit,
    _client: Option<ClientSlot>,
}

/// How a connection whose client is named is let in.
enum Admission {
    Counted(ClientSlot),
    /// Over the limit: every request is answered 429.
    Refused(ClientSlot),
    /// Over the limit with enough refusals under way: closed unanswered.
    Closed,
}

impl Shared {
    pub fn new(state: watch::Receiver<Arc<Snapshot>>, shutdown: Shutdown) -> Arc<Shared> {
        let max = state.borrow().config.limits.max_connections;
        Arc::new(Shared {
            state,
            shutdown,
            tasks: TaskTracker::new(),
            connections: Arc::new(Semaphore::new(max)),
            per_client: Arc::default(),
        })
    }

    /// Runs the tunnel for an upgraded request as a task of its own: it
    /// outlives the HTTP connection that asked for it, and holds that
    /// connection's `lease` until it ends.
    pub fn spawn_tunnel(
        self: &Arc<Self>,
        identity: Option<Identity>,
        client: OnUpgrade,
        engine: OnUpgrade,
        mut record: Record,
        lease: Arc<Lease>,
    ) {
        let shared = Arc::clone(self);
        self.tasks.spawn(async move {
            let _lease = lease;
            let _open = metrics::OpenGauge::tunnel();
            let mut state = shared.state.clone();
            let work = async {
                let (client, engine) = tokio::try_join!(client, engine).map_err(|e| e.to_string())?;
                crate::tunnel::splice(client, engine, &record.meter).await.map_err(|e| e.to_string())
            };
            tokio::select! {
                result = work => {
                    if let Err(error) = result {
                        tracing::debug!(error, "tunnel ended with an error");
                    }
                }
                reason = revoked(&mut state, identity.as_ref()) => {
                    tracing::warn!(client = identity.as_ref().map(|i| &*i.name).unwrap_or(""), reason, "closing tunnel");
                }
                () = shared.shutdown.aborted() => {}
            }
            record.emit();
        });
    }

    fn admit(&self, name: &Arc<str>, limit: usize) -> Admission {
        let mut counts = self.per_client.lock().expect("per-client counts lock");
        let count = counts.entry(Arc::clone(name)).or_default();
        let refusing = if count.open < limit {
            count.open += 1;
            false
        } else if count.refusing < REFUSALS_PER_CLIENT {
            count.refusing += 1;
            true
        } else {
            return Admission::Closed;
        };
        let slot = ClientSlot {
            counts: Arc::clone(&self.per_client),
            name: Arc::clone(name),
            refusing,
        };
        if refusing {
            Admission::Refused(slot)
        } else {
            Admission::Counted(slot)
        }
    }
}

/// One connection of a client on its count; released on drop.
struct ClientSlot {
    counts: Arc<Mutex<HashMap<Arc<str>, ClientCount>>>,
    name: Arc<str>,
    /// Counted as a refusal rather than an open connection.
    refusing: bool,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().expect("per-client counts lock");
        if let Some(count) = counts.get_mut(&self.name) {
            if self.refusing {
                count.refusing -= 1;
            } else {
                count.open -= 1;
            }
            if count.open == 0 && count.refusing == 0 {
                counts.remove(&self.name);
            }
        }
    }
}

/// Resolves when a published snapshot no longer admits `identity`, with
/// the reason. Never resolves for connections without an identity: those
/// are refused request by request anyway.
async fn revoked(
    state: &mut watch::Receiver<Arc<Snapshot>>,
    identity: Option<&Identity>,
) -> String {
    let Some(identity) = identity else {
        return std::future::pending().await;
    };
    loop {
        if state.changed().await.is_err() {
            return std::future::pending().await;
        }
        let snapshot = state.borrow_and_update().clone();
        if let Err(reason) = snapshot.still_admits(identity) {
            return reason;
        }
    }
}

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

/// One client connection, from handshake to close.
pub(crate) async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    permit: OwnedSemaphorePermit,
) {
    let _open = metrics::OpenGauge::connection();
    let limits = shared.state.borrow().config.limits.clone();
    // The handshake's state and the served connection never live at the
    // same time, and the stream moves into a boxed hyper connection: the
    // task of a connection that idles on a stream for hours stays small.
    let serving = match handshake(tcp, peer, &shared, &limits).await {
        Some(tls) => serve_http(tls, peer, &shared, &limits, permit),
        None => return,
    };
    if let Some(serving) = serving {
        serving.await;
    }
}

/// The TLS handshake under its timeout; failures are logged and counted.
async fn handshake(
    tcp: TcpStream,
    peer: SocketAddr,
    shared: &Shared,
    limits: &Limits,
) -> Option<TlsStream<TcpStream>> {
    let acceptor = TlsAcceptor::from(Arc::clone(&shared.state.borrow().tls.server));
    let handshake = tokio::select! {
        result = tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)) => result,
        () = shared.shutdown.draining() => return None,
    };
    match handshake {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(e)) => {
            let reason = HandshakeFailure::classify(&e);
            metrics::handshake_failed(reason);
            tracing::warn!(%peer, reason = reason.as_str(), error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            metrics::handshake_failed(HandshakeFailure::Timeout);
            tracing::warn!(%peer, reason = "timeout", timeout = ?limits.handshake_timeout, "TLS handshake failed");
            None
        }
    }
}

/// Names the client, then serves HTTP/1.1 on the connection until it
/// closes, shutdown ends it, or a reload revokes its client; `None` when
/// the client is over its limit with enough refusals under way. Not an
/// async fn on purpose: the connection is built and boxed here, so the
/// returned future holds a pointer to it rather than the stream and its
/// buffers inline.
fn serve_http<'a>(
    tls: TlsStream<TcpStream>,
    peer: SocketAddr,
    shared: &'a Arc<Shared>,
    limits: &Limits,
    permit: OwnedSemaphorePermit,
) -> Option<impl Future<Output = ()> + Send + 'a> {
    let chain: Vec<_> = tls
        .get_ref()
        .1
        .peer_certificates()
        .unwrap_or_default()
        .iter()
        .map(|c| c.clone().into_owned())
        .collect();
    let identity = Identity::from_chain(&chain);
    if let Err(e) = &identity {
        tracing::warn!(%peer, error = %e, "client certificate names no client");
    }
    let limit = limits.max_connections_per_client;
    let (client, over_limit) = match identity.as_ref() {
        // Refused request by request, as soon as one arrives.
        Err(_) => (None, None),
        Ok(id) => match shared.admit(&id.name, limit) {
            Admission::Counted(slot) => (Some(slot), None),
            Admission::Refused(slot) => {
                metrics::connection_refused("max_connections_per_client");
                (Some(slot), Some(limit))
            }
            Admission::Closed => {
                // Released before it is counted, so whoever watches the
                // count sees the permit back.
                drop((tls, permit));
                metrics::connection_refused("max_connections_per_client");
                tracing::debug!(%peer, client = &*id.name, limit, "client over its connection limit with refusals under way; closing new connection");
                return None;
            }
        },
    };
    let lease = Arc::new(Lease {
        _permit: permit,
        _client: client,
    });

    let gateway = Gateway {
        shared: Arc::clone(shared),
        peer: peer.to_string().into(),
        identity: identity.clone(),
        over_limit,
        link: Arc::default(),
        lease: Arc::clone(&lease),
    };
    let unread = UnreadBody::default();
    let io = TokioIo::new(LingeringStream::new(tls, unread.clone()));
    let service = service_fn(move |req: Request<Incoming>| {
        unread.request(req.body());
        let unread = unread.clone();
        let answer = gateway.clone().handle(req);
        async move {
            let response = answer.await?;
            unread.answered(response.status());
            Ok::<_, Infallible>(response)
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.request_header_timeout)
        .max_header_size(limits.max_header_bytes)
        // At most 100 header fields (hyper's default; 431 beyond). hyper
        // parses up to 100 into arrays on the stack; a larger limit makes it
        // allocate and fill them on the heap for every request.
        .keep_alive(over_limit.is_none());
    let mut conn = Box::pin(builder.serve_connection(io, service).with_upgrades());

    Some(async move {
        let _lease = lease;
        let mut state = shared.state.clone();
        let mut draining = false;
        loop {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                    break;
                }
                () = shared.shutdown.draining(), if !draining => {
                    draining = true;
                    conn.as_mut().graceful_shutdown();
                }
                () = shared.shutdown.aborted() => break,
                reason = revoked(&mut state, identity.as_ref().ok()) => {
                    tracing::warn!(%peer, client = identity.as_ref().map(|i| &*i.name).unwrap_or(""), reason, "closing connection");
                    break;
                }
            }
        }
    })
}
