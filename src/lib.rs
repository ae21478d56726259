//! dockgate: a mutual-TLS gateway for the Docker Engine API.
//!
//! Whoever can talk to `/var/run/docker.sock` is root on the host. dockgate
//! listens on TLS, requires a client certificate, knows each client by its
//! certificate's Common Name, applies that client's allowlist policy to
//! every Engine API request (method, path, and the request bodies that could
//! grant the host), and forwards what is allowed to the Engine's unix socket,
//! streams and hijacked connections included.
//!
//! # Layout
//!
//! Configuration, parsed then validated then compiled:
//! * [`config`] — the TOML file ([`config::raw`]) and its checked form.
//! * [`policy`] — allow rules and the glob matcher compiled from them.
//! * [`tls`] — certificates, CRL and the rustls server configuration.
//! * [`snapshot`] — everything a reload swaps at once.
//!
//! The request path, in the order a request meets it:
//! * [`server`] — accept loop, TLS handshake, one task per connection.
//! * [`linger`] — a closing connection reads what its client still sends.
//! * [`identity`] — the client's name from its certificate.
//! * [`gateway`] — read what the judge needs, then forward or refuse.
//! * [`judge`] — the one function that decides whether a request passes,
//!   with the Engine's route table ([`judge::route`]).
//! * [`path`] — the one canonical reading of a request target.
//! * [`headers`] — hop-by-hop headers and upgrade requests.
//! * [`upstream`] — each client connection's own connection to the Engine.
//! * [`tunnel`] — the byte tunnel behind exec, attach and BuildKit.
//! * [`workers`] — the threads connections run on, one runtime per core.
//! * [`inspect`] — request bodies and queries that could grant the host.
//! * [`refusal`] — every reason to refuse, and the response for each.
//! * [`audit`] — one structured event per request.
//!
//! Running it:
//! * [`daemon`] — bind, serve, reload, drain.
//! * [`shutdown`] — the stop signal passed to every task.
//! * [`notify`] — systemd readiness and socket activation.
//! * [`open_files`] — the open-file limit, raised at start.
//! * [`metrics`] — Prometheus metrics and the health check.
//! * [`logging`] — text or JSON logs; [`log_writer`] — the bounded queue
//!   and the thread that writes them to [`log_output`], which never blocks
//!   anyone else.
//! * [`check`], [`explain`] — validate a configuration; explain a verdict.
//! * [`quickstart`] — from nothing to a serving gateway in one command.
//! * [`pki`] — `dockgate pki`: the CA, server and client certificates.

pub mod audit;
pub mod check;
pub mod config;
pub mod daemon;
pub mod explain;
pub mod gateway;
pub mod headers;
pub mod identity;
pub mod inspect;
pub mod judge;
pub mod linger;
pub mod log_output;
pub mod log_writer;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod open_files;
pub mod path;
pub mod pki;
pub mod policy;
pub mod quickstart;
pub mod refusal;
pub mod server;
pub mod shutdown;
pub mod snapshot;
pub mod tls;
pub mod tunnel;
pub mod upstream;
pub mod workers;
