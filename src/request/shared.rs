//! What every connection and tunnel shares: the current [`Snapshot`], the
//! [`TaskTracker`] that owns every task so shutdown can wait for them, the
//! shutdown signal, and the connection limits.
//!
//! Until its TLS handshake is done, a connection also holds a handshake
//! slot under `max_handshakes`, and one of its source address's share
//! (`max_handshakes_per_address`): a connection that never starts its
//! handshake costs its sender nothing, so such connections may take only
//! these slots and never the rest of `max_connections`, and no one address
//! may take all of them.
//!
//! A connection counts against `max_connections` from its accept and, once
//! its client is known, against `max_connections_per_client`, until its
//! socket closes: when an upgrade turns it into a tunnel, the tunnel takes
//! over its [`Lease`]. A client at its limit is refused with 429 on new
//! connections, and only a few of those refusals are kept waiting for their
//! request at once, so that a client at its limit cannot fill the global
//! limit with connections that are only waiting to be refused. Every task
//! watches the snapshot: when a reload publishes one that no longer admits
//! its client, the task ends and its connection closes.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use hyper::upgrade::OnUpgrade;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_util::task::TaskTracker;

use crate::config::snapshot::Snapshot;
use crate::config::tls::TrustDigest;
use crate::request::audit::Record;
use crate::request::identity::Identity;
use crate::request::tenant::ExecOwners;
use crate::run::metrics;
use crate::run::shutdown::Shutdown;

/// State shared by the accept loop, every connection and every tunnel.
pub struct Shared {
    /// The current configuration; replaced whole on reload.
    pub state: watch::Receiver<Arc<Snapshot>>,
    pub shutdown: Shutdown,
    /// Owns every connection and tunnel task.
    pub tasks: TaskTracker,
    /// Bounds open connections in total (handshakes and tunnels included).
    pub(super) connections: Arc<Semaphore>,
    /// Bounds connections that have not finished their handshake.
    handshakes: Arc<Semaphore>,
    /// Handshakes in progress per source ([`source`]).
    per_address: Arc<Mutex<HashMap<IpAddr, usize>>>,
    /// Open connections (tunnels included) and refusals per client name.
    per_client: Arc<Mutex<HashMap<Arc<str>, ClientCount>>>,
    /// The tenants of exec instances confined clients created.
    pub exec_owners: ExecOwners,
}

/// How many connections of a client at its limit are answered 429 at once.
/// More are closed as soon as their handshake names the client: each waits
/// up to `request_header_timeout` for a request to refuse, and without this
/// bound a client at its limit could hold the rest of `max_connections`
/// with them.
pub const REFUSALS_PER_CLIENT: usize = 16;

/// What an accepted connection holds until its handshake is done: its
/// permit under `max_connections`, kept for the connection's whole life,
/// and its handshake slot, given back as soon as the handshake ends (none
/// on a local socket, which has no handshake).
pub struct Arrival {
    pub(super) permit: OwnedSemaphorePermit,
    pub(super) handshake: Option<HandshakeSlot>,
}

/// A connection's place under `max_handshakes` and its source address's
/// share of it; released on drop.
pub(super) struct HandshakeSlot {
    _permit: OwnedSemaphorePermit,
    per_address: Arc<Mutex<HashMap<IpAddr, usize>>>,
    source: IpAddr,
}

impl Drop for HandshakeSlot {
    fn drop(&mut self) {
        let mut counts = self.per_address.lock().expect("per-address counts lock");
        if let Some(count) = counts.get_mut(&self.source) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.source);
            }
        }
    }
}

/// The source a connection counts against: its IPv4 address, or the /64
/// of its IPv6 address (one host is usually given a whole /64).
fn source(peer: SocketAddr) -> IpAddr {
    match peer.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
        v4 => v4,
    }
}

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
    pub(super) _permit: OwnedSemaphorePermit,
    pub(super) _client: Option<ClientSlot>,
    /// The CA and CRL the client's certificate passed under at the
    /// handshake; see [`revoked`]. A local peer's is the snapshot's at its
    /// accept, and never looked at.
    pub(super) trusted: TrustDigest,
}

/// How a connection whose client is named is let in.
pub(super) enum Admission {
    Counted(ClientSlot),
    /// Over the limit: every request is answered 429.
    Refused(ClientSlot),
    /// Over the limit with enough refusals under way: closed unanswered.
    Closed,
}

impl Shared {
    pub fn new(state: watch::Receiver<Arc<Snapshot>>, shutdown: Shutdown) -> Arc<Shared> {
        let (max, handshakes) = {
            let limits = &state.borrow().config.limits;
            (limits.max_connections, limits.max_handshakes)
        };
        Arc::new(Shared {
            state,
            shutdown,
            tasks: TaskTracker::new(),
            connections: Arc::new(Semaphore::new(max)),
            handshakes: Arc::new(Semaphore::new(handshakes)),
            per_address: Arc::default(),
            per_client: Arc::default(),
            exec_owners: ExecOwners::default(),
        })
    }

    /// Lowers the number of connections taken at once to `fit` (when the
    /// open-file limit holds fewer than `max_connections`), and the
    /// handshake slots in proportion, before any connection is accepted.
    pub fn fit_connections(&self, fit: usize) {
        let (max, handshakes) = {
            let limits = &self.state.borrow().config.limits;
            (limits.max_connections, limits.max_handshakes)
        };
        if fit >= max {
            return;
        }
        self.connections.forget_permits(max - fit);
        let handshakes_fit = (handshakes * fit / max).max(1);
        self.handshakes
            .forget_permits(handshakes.saturating_sub(handshakes_fit));
    }

    /// Lets a connection from `peer` in, or names the limit that refuses
    /// it: `max_connections`, `max_handshakes` or
    /// `max_handshakes_per_address`.
    pub(super) fn arrive(&self, peer: SocketAddr) -> Result<Arrival, &'static str> {
        let permit = Arc::clone(&self.connections)
            .try_acquire_owned()
            .map_err(|_| "max_connections")?;
        let per_address = self.state.borrow().config.limits.max_handshakes_per_address;
        let source = source(peer);
        let mut counts = self.per_address.lock().expect("per-address counts lock");
        let count = counts.entry(source).or_default();
        if *count >= per_address {
            return Err("max_handshakes_per_address");
        }
        let Ok(slot) = Arc::clone(&self.handshakes).try_acquire_owned() else {
            if *count == 0 {
                counts.remove(&source);
            }
            return Err("max_handshakes");
        };
        *count += 1;
        drop(counts);
        Ok(Arrival {
            permit,
            handshake: Some(HandshakeSlot {
                _permit: slot,
                per_address: Arc::clone(&self.per_address),
                source,
            }),
        })
    }

    /// Lets a connection on a local socket in, or names the limit that
    /// refuses it (`max_connections`). It has no handshake to bound, and
    /// every peer of a socket shares one address.
    pub(super) fn arrive_local(&self) -> Result<Arrival, &'static str> {
        let permit = Arc::clone(&self.connections)
            .try_acquire_owned()
            .map_err(|_| "max_connections")?;
        Ok(Arrival {
            permit,
            handshake: None,
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
            let trusted = lease.trusted;
            let _lease = lease;
            let _open = metrics::OpenGauge::tunnel();
            let mut state = shared.state.clone();
            let work = async {
                let (client, engine) = tokio::try_join!(client, engine).map_err(|e| e.to_string())?;
                crate::request::tunnel::splice(client, engine, &record.meter).await.map_err(|e| e.to_string())
            };
            tokio::select! {
                result = work => {
                    if let Err(error) = result {
                        tracing::debug!(error, "tunnel ended with an error");
                    }
                }
                reason = revoked(&mut state, identity.as_ref(), trusted) => {
                    tracing::warn!(client = identity.as_ref().map(|i| &*i.name).unwrap_or(""), reason, "closing tunnel");
                }
                () = shared.shutdown.aborted() => {}
            }
            record.emit();
        });
    }

    pub(super) fn admit(&self, name: &Arc<str>, limit: usize) -> Admission {
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
pub(super) struct ClientSlot {
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
/// the reason; `trusted` is the CA and CRL its certificate passed under at
/// the handshake ([`Snapshot::still_admits`]). Never resolves for
/// connections without an identity: those are refused request by request
/// anyway.
pub(super) async fn revoked(
    state: &mut watch::Receiver<Arc<Snapshot>>,
    identity: Option<&Identity>,
    mut trusted: TrustDigest,
) -> String {
    let Some(identity) = identity else {
        return std::future::pending().await;
    };
    loop {
        if state.changed().await.is_err() {
            return std::future::pending().await;
        }
        let snapshot = state.borrow_and_update().clone();
        match snapshot.still_admits(identity, &mut trusted) {
            Ok(true) => metrics::certificate_reverified(),
            Ok(false) => {}
            Err(reason) => return reason,
        }
    }
}
