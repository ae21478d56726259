//! `dockgate serve` as a value: load and validate everything, bind, then
//! run until told to stop. Reloads and shutdown come in as method calls
//! (signals in production, direct calls in tests), so the same code path is
//! exercised either way.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::notify;
use crate::server::{self, Shared};
use crate::shutdown::Shutdown;
use crate::snapshot::{LoadError, Snapshot};
use crate::workers::Workers;

/// How many threads serve connections: as configured, or one per core
/// this process may run on (its CPU affinity and cgroup quota count).
fn worker_threads(snapshot: &Snapshot) -> usize {
    snapshot.config.limits.worker_threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    })
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Load(#[from] LoadError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot use the socket systemd passed: {0}")]
    Inherited(std::io::Error),
    #[error("cannot start the worker threads: {0}")]
    Workers(std::io::Error),
}

/// A loaded and bound gateway, ready to run.
pub struct Daemon {
    config_path: PathBuf,
    state: watch::Sender<Arc<Snapshot>>,
    shared: Arc<Shared>,
    listener: TcpListener,
    metrics: Option<TcpListener>,
}

impl Daemon {
    /// Loads the configuration and binds its listeners (or takes the
    /// socket systemd passed). Nothing is served yet.
    pub async fn bind(config_path: &Path) -> Result<Daemon, StartError> {
        let snapshot = Snapshot::load(config_path, None)?;
        let listener = match notify::inherited_listener().map_err(StartError::Inherited)? {
            Some(std) => TcpListener::from_std(std).map_err(StartError::Inherited)?,
            None => {
                let addr = snapshot.config.listen;
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartError::Bind { addr, source })?
            }
        };
        let metrics = match snapshot.config.metrics {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartError::Bind { addr, source })?,
            ),
            None => None,
        };
        let (state, rx) = watch::channel(Arc::new(snapshot));
        let shared = Shared::new(rx, Shutdown::new());
        Ok(Daemon {
            config_path: config_path.to_owned(),
            state,
            shared,
            listener,
            metrics,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// A handle for reloading and stopping the daemon while it runs.
    pub fn control(&self) -> Control {
        Control {
            config_path: self.config_path.clone(),
            state: self.state.clone(),
            shutdown: self.shared.shutdown.clone(),
        }
    }

    /// Serves until shutdown, then drains: requests in flight get the grace
    /// period, then whatever is still open (streams, tunnels) is ended.
    pub async fn run(self) -> Result<(), StartError> {
        let Daemon {
            state,
            shared,
            listener,
            metrics,
            ..
        } = self;
        if let Some(metrics) = metrics {
            let rx = shared.state.clone();
            tokio::spawn(crate::metrics::serve(
                metrics,
                move || rx.borrow().upstream.clone(),
                shared.shutdown.clone(),
            ));
        }
        let addr = listener.local_addr().ok();
        tracing::info!(listen = ?addr, clients = state.borrow().config.clients.len(), "dockgate serving");
        crate::open_files::raise_for(&state.borrow().config.limits);
        let threads = worker_threads(&state.borrow());
        let (handoff, workers) = Workers::start(threads, &shared).map_err(StartError::Workers)?;
        tracing::debug!(threads, "worker threads started");
        notify::notify("READY=1");
        server::serve(listener, Arc::clone(&shared), handoff).await;

        notify::notify("STOPPING=1");
        let grace = state.borrow().config.limits.shutdown_grace;
        shared.tasks.close();
        tracing::info!(open = shared.tasks.len(), ?grace, "draining connections");
        if tokio::time::timeout(grace, shared.tasks.wait())
            .await
            .is_err()
        {
            tracing::info!(
                open = shared.tasks.len(),
                "grace period over; closing the remaining streams and tunnels"
            );
            shared.shutdown.abort();
            shared.tasks.wait().await;
        }
        workers.join().await;
        tracing::info!("dockgate stopped");
        Ok(())
    }
}

/// Reload and stop, from a signal handler or a test.
#[derive(Clone)]
pub struct Control {
    config_path: PathBuf,
    state: watch::Sender<Arc<Snapshot>>,
    shutdown: Shutdown,
}

impl Control {
    /// Reads config, policies, certificates and CRL again and swaps them in
    /// at once. On any error the running configuration stays as it was.
    pub fn reload(&self) -> Result<(), LoadError> {
        notify::reloading();
        let current = self.state.borrow().clone();
        let result = Snapshot::load(&self.config_path, Some(&current));
        match &result {
            Ok(next) => {
                if next.config.listen != current.config.listen {
                    tracing::warn!(old = %current.config.listen, new = %next.config.listen, "listen address changes take effect on restart");
                }
                if next.config.limits.max_connections != current.config.limits.max_connections {
                    tracing::warn!("limits.max_connections changes take effect on restart");
                }
                if next.config.limits.worker_threads != current.config.limits.worker_threads {
                    tracing::warn!("limits.worker_threads changes take effect on restart");
                }
                self.state.send_replace(Arc::new(next.clone()));
                // Logged once in effect: the line marks when the next
                // request sees the new set.
                tracing::info!(
                    clients = next.config.clients.len(),
                    policies = next.config.policies.len(),
                    "configuration reloaded"
                );
            }
            Err(e) => {
                tracing::error!(error = %e, "reload failed; keeping the running configuration")
            }
        }
        notify::notify("READY=1");
        result.map(|_| ())
    }

    pub fn shutdown(&self) {
        self.shutdown.start_drain();
    }

    pub fn current(&self) -> Arc<Snapshot> {
        self.state.borrow().clone()
    }
}

/// Turns SIGHUP into reloads and SIGTERM/SIGINT into a graceful stop.
pub async fn handle_signals(control: Control) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    loop {
        tokio::select! {
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading");
                let _ = control.reload();
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    tracing::info!("stop requested");
    control.shutdown();
    Ok(())
}
