//! One client connection on its worker thread: the TLS handshake under a
//! timeout (a local socket has none: its peer's credentials are known at
//! the accept), the client's identity and its place under
//! `max_connections_per_client`, then HTTP/1.1 served by the gateway until
//! the connection closes, shutdown drains it, or a reload no longer admits
//! its client. Both kinds end in one `serve_http` over their stream.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::OwnedSemaphorePermit;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::config::tls::{HandshakeFailure, TrustDigest};
use crate::config::Limits;
use crate::request::gateway::Gateway;
use crate::request::identity::{Identity, IdentityError, Proof};
use crate::request::linger::{LingeringStream, Transport, UnreadBody};
use crate::request::local::LocalPeer;
use crate::request::shared::{revoked, Admission, Arrival, Lease, Shared};
use crate::run::metrics;

/// A connection as an accept loop took it.
pub enum Accepted {
    /// On the TLS listener, from this address.
    Tls(TcpStream, SocketAddr),
    /// On a local socket, from this peer.
    Local(UnixStream, LocalPeer),
}

/// Who is served on a connection, once its stream is ready.
struct Peer {
    /// As the audit line shows it.
    shown: Arc<str>,
    identity: Result<Identity, IdentityError>,
    /// The CA and CRL a certificate passed under ([`Lease::trusted`]).
    trusted: TrustDigest,
}

/// One client connection, from handshake (or accept) to close.
pub(crate) async fn serve(accepted: Accepted, shared: Arc<Shared>, arrival: Arrival) {
    let _open = metrics::OpenGauge::connection();
    let limits = shared.state.borrow().config.limits.clone();
    let Arrival {
        permit,
        handshake: slot,
    } = arrival;
    match accepted {
        Accepted::Tls(tcp, address) => {
            // The handshake's state and the served connection never live at
            // the same time, and the stream moves into a boxed hyper
            // connection: the task of a connection that idles on a stream
            // for hours stays small.
            let done = handshake(tcp, address, &shared, &limits).await;
            // Done or failed, it is no longer a handshake in progress.
            drop(slot);
            let Some((tls, trusted)) = done else { return };
            let peer = certificate_peer(&tls, address, trusted, &shared);
            if let Some(serving) = serve_http(tls, peer, &shared, &limits, permit) {
                serving.await;
            }
        }
        Accepted::Local(unix, local) => {
            let (identity, trusted) = {
                let snapshot = shared.state.borrow();
                (
                    Identity::local(local.clone(), &snapshot.config),
                    snapshot.tls.trust,
                )
            };
            if let Err(e) = &identity {
                tracing::warn!(peer = %local, error = %e, "local peer names no client");
            }
            let peer = Peer {
                shown: local.to_string().into(),
                identity,
                trusted,
            };
            if let Some(serving) = serve_http(unix, peer, &shared, &limits, permit) {
                serving.await;
            }
        }
    }
}

/// The client the certificate of a finished handshake names, resolved
/// against the configuration current now; a reload resolves it again
/// ([`revoked`]).
fn certificate_peer(
    tls: &TlsStream<TcpStream>,
    address: SocketAddr,
    trusted: TrustDigest,
    shared: &Shared,
) -> Peer {
    let chain: Vec<_> = tls
        .get_ref()
        .1
        .peer_certificates()
        .unwrap_or_default()
        .iter()
        .map(|c| c.clone().into_owned())
        .collect();
    let identity = Identity::resolve(&chain, &shared.state.borrow().config);
    match &identity {
        Ok(Identity {
            name,
            proof: Proof::Certificate { not_after, .. },
            ..
        }) => metrics::client_certificate(
            || metrics::ClientLabel::new(Some(name), &shared.state.borrow().config),
            *not_after,
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(peer = %address, error = %e, "client certificate names no client"),
    }
    Peer {
        shown: address.to_string().into(),
        identity,
        trusted,
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

/// Takes the client's place under its connection limit, then serves
/// HTTP/1.1 on the connection until it closes, shutdown ends it, or a
/// reload revokes its client; `None` when the client is over its limit
/// with enough refusals under way. Not an async fn on purpose: the
/// connection is built and boxed here, so the returned future holds a
/// pointer to it rather than the stream and its buffers inline.
fn serve_http<'a, S: Transport>(
    stream: S,
    peer: Peer,
    shared: &'a Arc<Shared>,
    limits: &Limits,
    permit: OwnedSemaphorePermit,
) -> Option<impl Future<Output = ()> + Send + 'a> {
    let Peer {
        shown: peer,
        identity,
        trusted,
    } = peer;
    let limit = limits.max_connections_per_client;
    // A local peer no client lists is refused request by request, yet
    // could hold connections without asking anything, and any local user
    // can be one: it is counted by its uid as a client is by its name
    // (under a name starting with NUL, which no real client's has), so it
    // never takes every connection either.
    // Anyone else who names no client passed the TLS handshake limits.
    let counted = match identity.as_ref() {
        Ok(id) => Some(Arc::clone(&id.name)),
        Err(IdentityError::UnknownPeer { uid, .. }) => {
            Some(Arc::from(format!("\0unlisted local uid {uid}")))
        }
        Err(_) => None,
    };
    let (client, over_limit) = match counted {
        None => (None, None),
        Some(name) => match shared.admit(&name, limit) {
            Admission::Counted(slot) => (Some(slot), None),
            Admission::Refused(slot) => {
                metrics::connection_refused("max_connections_per_client");
                (Some(slot), Some(limit))
            }
            Admission::Closed => {
                // Released before it is counted, so whoever watches the
                // count sees the permit back.
                drop((stream, permit));
                metrics::connection_refused("max_connections_per_client");
                tracing::debug!(%peer, client = name.trim_start_matches('\0'), limit, "client over its connection limit with refusals under way; closing new connection");
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
        peer: Arc::clone(&peer),
        identity: identity.clone(),
        over_limit,
        link: Arc::default(),
        lease: Arc::clone(&lease),
    };
    let unread = UnreadBody::default();
    let io = TokioIo::new(LingeringStream::new(stream, unread.clone()));
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
