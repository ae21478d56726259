//! The request path, in the order a request meets it. Each module imports
//! only modules below it in this list (and the configuration and the
//! metrics and log sinks of [`crate::run`]), so the path reads top to bottom.
//!
//! * [`accept`] — the accept loops (TLS, and each local unix socket), which
//!   hand each connection to a worker.
//! * [`workers`] — the threads connections run on, one runtime per core.
//! * [`connection`] — one connection: the TLS handshake (none on a local
//!   socket), its client's connection limit, and HTTP/1.1 until it closes.
//! * [`linger`] — a closing connection reads what its client still sends, so
//!   a refusal reaches a client that writes its whole body first.
//! * [`gateway`] — read what the judge needs, then forward or refuse.
//! * [`ownership`] — ask the Engine whose the objects a confined client's
//!   request names are.
//! * [`judge`] — the one function that decides whether a request passes,
//!   with the Engine's route table.
//! * [`shared`] — what every connection and tunnel shares: the current
//!   configuration, the task tracker, the connection limits.
//! * [`tunnel`] — the byte tunnel behind exec, attach and BuildKit.
//! * [`audit`] — one structured event per request.
//! * [`refusal`] — every reason to refuse, and the response for each.
//! * [`tenant`] — what confines a client to its tenant's objects.
//! * [`path`] — the one canonical reading of a request target.
//! * [`headers`] — hop-by-hop headers and upgrade requests.
//! * [`inspect`] — request bodies and queries that could grant the host.
//! * [`upstream`] — each client connection's own connection to the Engine.
//! * [`identity`] — the client's name from its certificate, or from the
//!   local socket and credentials of its peer.
//! * [`listener`] — what every accept loop shares (the metrics listener's
//!   too): the pause after a failed accept, and the log of refused
//!   connections.
//! * [`local`] — a peer on a unix socket: the socket and its credentials.

pub mod accept;
pub mod audit;
pub mod connection;
pub mod gateway;
pub mod headers;
pub mod identity;
pub mod inspect;
pub mod judge;
pub mod linger;
pub mod listener;
pub mod local;
pub mod ownership;
pub mod path;
pub mod refusal;
pub mod shared;
pub mod tenant;
pub mod tunnel;
pub mod upstream;
pub mod workers;
