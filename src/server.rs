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
    /// Bounds open connections in total (handshakes included).
    connections: Arc<Semaphore>,
    /// Open connections per client name.
    per_client: Mutex<HashMap<Arc<str>, usize>>,
}

impl Shared {
    pub fn new(state: watch::Receiver<Arc<Snapshot>>, shutdown: Shutdown) -> Arc<Shared> {
        let max = state.borrow().config.limits.max_connections;
        Arc::new(Shared {
            state,
            shutdown,
            tasks: TaskTracker::new(),
            connections: Arc::new(Semaphore::new(max)),
            per_client: Mutex::default(),
        })
    }

    /// Runs the tunnel for an upgraded request as a task of its own: it
    /// outlives the HTTP connection that asked for it.
    pub fn spawn_tunnel(
        self: &Arc<Self>,
        identity: Option<Identity>,
        client: OnUpgrade,
        engine: OnUpgrade,
        mut record: Record,
    ) {
        let shared = Arc::clone(self);
        self.tasks.spawn(async move {
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

    fn enter_client(&self, name: &Arc<str>, limit: usize) -> Option<ClientSlot<'_>> {
        let mut counts = self.per_client.lock().expect("per-client counts lock");
        let count = counts.entry(Arc::clone(name)).or_default();
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            shared: self,
            name: Arc::clone(name),
        })
    }
}

/// One counted connection of a client; released on drop.
struct ClientSlot<'a> {
    shared: &'a Shared,
    name: Arc<str>,
}

impl Drop for ClientSlot<'_> {
    fn drop(&mut self) {
        let mut counts = self
            .shared
            .per_client
            .lock()
            .expect("per-client counts lock");
        if let Some(count) = counts.get_mut(&self.name) {
            *count -= 1;
            if *count == 0 {
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
    _permit: OwnedSemaphorePermit,
) {
    let _open = metrics::OpenGauge::connection();
    let limits = shared.state.borrow().config.limits.clone();
    // The handshake's state and the served connection never live at the
    // same time, and the stream moves into a boxed hyper connection: the
    // task of a connection that idles on a stream for hours stays small.
    let serving = match handshake(tcp, peer, &shared, &limits).await {
        Some(tls) => serve_http(tls, peer, &shared, &limits),
        None => return,
    };
    serving.await;
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
/// closes, shutdown ends it, or a reload revokes its client. Not an async
/// fn on purpose: the connection is built and boxed here, so the returned
/// future holds a pointer to it rather than the stream and its buffers
/// inline.
fn serve_http<'a>(
    tls: TlsStream<TcpStream>,
    peer: SocketAddr,
    shared: &'a Arc<Shared>,
    limits: &Limits,
) -> impl Future<Output = ()> + Send + 'a {
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
    let slot = identity
        .as_ref()
        .ok()
        .map(|id| shared.enter_client(&id.name, limits.max_connections_per_client));
    let over_limit = matches!(slot, Some(None)).then_some(limits.max_connections_per_client);
    if over_limit.is_some() {
        metrics::connection_refused("max_connections_per_client");
    }

    let gateway = Gateway {
        shared: Arc::clone(shared),
        peer: peer.to_string().into(),
        identity: identity.clone(),
        over_limit,
        link: Arc::default(),
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

    async move {
        let _slot = slot;
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
    }
}
