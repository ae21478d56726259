//! One client connection on its worker thread: the TLS handshake under a
//! timeout, the client's identity and its place under
//! `max_connections_per_client`, then HTTP/1.1 served by the gateway until
//! the connection closes, shutdown drains it, or a reload no longer admits
//! its client.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::config::tls::{HandshakeFailure, TrustDigest};
use crate::config::Limits;
use crate::request::gateway::Gateway;
use crate::request::identity::Identity;
use crate::request::linger::{LingeringStream, UnreadBody};
use crate::request::shared::{revoked, Admission, Arrival, Lease, Shared};
use crate::run::metrics;

/// One client connection, from handshake to close.
pub(crate) async fn serve(tcp: TcpStream, peer: SocketAddr, shared: Arc<Shared>, arrival: Arrival) {
    let _open = metrics::OpenGauge::connection();
    let limits = shared.state.borrow().config.limits.clone();
    let Arrival {
        permit,
        handshake: slot,
    } = arrival;
    // The handshake's state and the served connection never live at the
    // same time, and the stream moves into a boxed hyper connection: the
    // task of a connection that idles on a stream for hours stays small.
    let done = handshake(tcp, peer, &shared, &limits).await;
    // Done or failed, it is no longer a handshake in progress.
    drop(slot);
    let serving = match done {
        Some((tls, trusted)) => serve_http(tls, trusted, peer, &shared, &limits, permit),
        None => return,
    };
    if let Some(serving) = serving {
        serving.await;
    }
}

/// The TLS handshake under its timeout, and the CA and CRL it verified the
/// client's certificate against; failures are logged and counted.
async fn handshake(
    tcp: TcpStream,
    peer: SocketAddr,
    shared: &Shared,
    limits: &Limits,
) -> Option<(TlsStream<TcpStream>, TrustDigest)> {
    let (acceptor, trusted) = {
        let snapshot = shared.state.borrow();
        (
            TlsAcceptor::from(Arc::clone(&snapshot.tls.server)),
            snapshot.tls.trust,
        )
    };
    let handshake = tokio::select! {
        result = tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)) => result,
        () = shared.shutdown.draining() => return None,
    };
    match handshake {
        Ok(Ok(tls)) => Some((tls, trusted)),
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
    trusted: TrustDigest,
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
    // Resolved once, against the configuration current now; a reload
    // resolves it again ([`revoked`]).
    let identity = Identity::resolve(&chain, &shared.state.borrow().config);
    match &identity {
        Ok(id) => metrics::client_certificate(
            || metrics::ClientLabel::new(Some(&id.name), &shared.state.borrow().config),
            id.not_after,
        ),
        Err(e) => tracing::warn!(%peer, error = %e, "client certificate names no client"),
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
        trusted,
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
                reason = revoked(&mut state, identity.as_ref().ok(), trusted) => {
                    tracing::warn!(%peer, client = identity.as_ref().map(|i| &*i.name).unwrap_or(""), reason, "closing connection");
                    break;
                }
            }
        }
    })
}
