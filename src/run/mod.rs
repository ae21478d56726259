//! Running the gateway: everything around the request path.
//!
//! * [`daemon`] — bind, serve, reload, drain.
//! * [`sockets`] — the local unix sockets: created, followed on reload,
//!   removed.
//! * [`shutdown`] — the stop signal passed to every task.
//! * [`notify`] — systemd readiness and socket activation.
//! * [`watch`] — a reload when the TLS files change on disk.
//! * [`open_files`] — the open-file limit, raised at start.
//! * [`metrics`] — Prometheus metrics and the health check.
//! * [`logging`] — text or JSON logs; [`log_writer`] — the bounded queue and
//!   the thread that writes it to [`log_output`], which never blocks anyone
//!   else.

pub mod daemon;
pub mod log_output;
pub mod log_writer;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod open_files;
pub mod shutdown;
pub mod sockets;
pub mod watch;
