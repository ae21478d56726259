//! dockgate: a mutual-TLS gateway for the Docker Engine API.
//!
//! Whoever can talk to `/var/run/docker.sock` is root on the host. dockgate
//! listens on TLS, requires a client certificate, knows each client by its
//! certificate's Common Name (or a SAN, or its key) — or, on unix sockets for
//! processes on its host, by the socket or the peer's uid or gid — applies
//! that client's allowlist policy to every Engine API request (method, path,
//! and the request bodies that could grant the host), and forwards what is
//! allowed to the Engine's unix socket, streams and hijacked connections
//! included.
//!
//! # Layout
//!
//! The folders are the parts, and imports run from the later parts to the
//! earlier ones: the commands use the daemon, the daemon runs the request
//! path, and the request path reads the configuration.
//!
//! * [`config`] — what the admin wrote, parsed, validated and compiled: the
//!   TOML file, policies, the shipped presets and grants, TLS material, and
//!   the snapshot a reload swaps at once.
//! * [`request`] — the request path, in the order a request meets it: the
//!   accept loops, the worker threads, the connection and its identity (a
//!   TLS certificate, or a local socket peer's socket, uid or gid), the
//!   gateway, the one judge (with the Engine's route table and the body
//!   inspector), the Engine link and the tunnel, refusals and the audit event.
//! * [`run`] — running it: bind, serve, reload and drain; the local unix
//!   sockets' files; shutdown, systemd readiness, the open-file limit,
//!   metrics and the health check, and logs that never block serving.
//! * [`cli`] — the commands: their arguments, `check`, `explain`, `preset`,
//!   `quickstart`, and `policy learn` / `policy diff` over audit logs.
//! * [`pki`] — `dockgate pki`: the CA, server and client certificates.

pub mod cli;
pub mod config;
pub mod pki;
pub mod request;
pub mod run;
