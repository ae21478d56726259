//! `dockgate serve` as a value: load and validate everything, bind, then
//! run until told to stop. Reloads and shutdown come in as method calls
//! (signals in production, direct calls in tests), so the same code path is
//! exercised either way.
//!
//! Signals are taken from the first line of `main` on ([`HeldSignals`]):
//! SIGHUP's default action ends the process, and systemd counts an end by
//! SIGHUP as clean, so one that arrived while the gateway was still
//! loading or binding would stop it for good.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use tokio::net::TcpListener;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::watch;

use crate::config::snapshot::{LoadError, Snapshot};
use crate::request::accept::{self, Listener};
use crate::request::shared::Shared;
use crate::request::workers::Workers;
use crate::run::notify;
use crate::run::shutdown::Shutdown;
use crate::run::sockets::{Serving, SocketError, Sockets};

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
    #[error("{0}")]
    Socket(#[from] SocketError),
}

/// Why a reload was refused; the running configuration stays.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReloadError {
    #[error("{0}")]
    Load(#[from] LoadError),
    #[error("{0}")]
    Socket(#[from] SocketError),
}

/// A loaded and bound gateway, ready to run.
pub struct Daemon {
    config_path: PathBuf,
    state: watch::Sender<Arc<Snapshot>>,
    shared: Arc<Shared>,
    listener: TcpListener,
    metrics: Option<TcpListener>,
    /// The local unix sockets, which reloads change.
    sockets: Arc<Mutex<Sockets>>,
    /// Runs reloads one at a time, and a burst of them as at most two.
    reloading: Arc<Coalesce>,
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
        let mut sockets = Sockets::default();
        let bound = sockets.bind(&snapshot.config)?;
        sockets.commit(bound, &snapshot.config);
        crate::run::metrics::tls_in_force(&snapshot.config, &snapshot.tls.facts);
        let (state, rx) = watch::channel(Arc::new(snapshot));
        let shared = Shared::new(rx, Shutdown::new());
        Ok(Daemon {
            config_path: config_path.to_owned(),
            state,
            shared,
            listener,
            metrics,
            sockets: Arc::new(Mutex::new(sockets)),
            reloading: Arc::default(),
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
            sockets: Arc::clone(&self.sockets),
            reloading: Arc::clone(&self.reloading),
        }
    }

    /// Serves until shutdown, then drains: requests in flight get the grace
    /// period, then whatever is still open (streams, tunnels) is ended.
    pub async fn run(self) -> Result<(), StartError> {
        let control = self.control();
        let Daemon {
            state,
            shared,
            listener,
            metrics,
            sockets,
            ..
        } = self;
        if let Some(metrics) = metrics {
            let rx = shared.state.clone();
            // Owned by the daemon's tracker: the drain below waits for it,
            // and it ends its own connections when draining starts.
            shared.tasks.spawn(crate::run::metrics::serve(
                metrics,
                move || rx.borrow().upstream.clone(),
                shared.shutdown.clone(),
            ));
        }
        // Owned by the tracker too: it ends when draining starts.
        let (watched, reloader) = (control.clone(), control);
        shared.tasks.spawn(crate::run::watch::tls_files(
            move || watched.current().config.tls.clone(),
            move || {
                let _ = reloader.reload();
            },
            shared.shutdown.clone(),
        ));
        let addr = listener.local_addr().ok();
        tracing::info!(listen = ?addr, clients = state.borrow().config.clients.len(), "dockgate serving");
        let fit = crate::run::open_files::raise_for(&state.borrow().config.limits);
        shared.fit_connections(fit);
        let threads = worker_threads(&state.borrow());
        let (handoff, workers) = Workers::start(threads, &shared).map_err(StartError::Workers)?;
        tracing::debug!(threads, "worker threads started");
        let handoff = Arc::new(handoff);
        accept::warn_on_limits(&shared);
        lock(&sockets).serve(Serving {
            runtime: tokio::runtime::Handle::current(),
            shared: Arc::clone(&shared),
            handoff: Arc::clone(&handoff),
        });
        notify::notify("READY=1");
        accept::serve(
            Listener::Tls(listener),
            Arc::clone(&shared),
            handoff,
            std::future::pending(),
        )
        .await;
        // New connections fail at once from here on: the files are gone.
        lock(&sockets).close();

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

fn lock(sockets: &Mutex<Sockets>) -> MutexGuard<'_, Sockets> {
    sockets
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Reload and stop, from a signal handler or a test.
#[derive(Clone)]
pub struct Control {
    config_path: PathBuf,
    state: watch::Sender<Arc<Snapshot>>,
    shutdown: Shutdown,
    sockets: Arc<Mutex<Sockets>>,
    reloading: Arc<Coalesce>,
}

impl Control {
    /// Reads config, policies, certificates and CRL again and swaps them in
    /// at once, if they pass everything `check` checks and drop nothing the
    /// config does not say it drops ([`Snapshot::load`]). On any error the
    /// running configuration stays as it was and the log says why. The
    /// local sockets follow: those the new configuration adds are created
    /// first (a reload that cannot create one is refused), those it drops
    /// are closed and removed once it is in force. Blocks (files are read
    /// until they stop changing): call it off the runtime.
    pub fn reload(&self) -> Result<(), ReloadError> {
        self.reloading.run(|| self.reload_now())
    }

    fn reload_now(&self) -> Result<(), ReloadError> {
        notify::reloading();
        let current = self.state.borrow().clone();
        let mut sockets = lock(&self.sockets);
        let result = Snapshot::load(&self.config_path, Some(&current))
            .map_err(ReloadError::from)
            .and_then(|next| Ok((sockets.bind(&next.config)?, next)));
        match &result {
            Ok((_, next)) => {
                if next.config.listen != current.config.listen {
                    tracing::warn!(old = %current.config.listen, new = %next.config.listen, "listen address changes take effect on restart");
                }
                if next.config.limits.max_connections != current.config.limits.max_connections {
                    tracing::warn!("limits.max_connections changes take effect on restart");
                }
                if next.config.limits.worker_threads != current.config.limits.worker_threads {
                    tracing::warn!("limits.worker_threads changes take effect on restart");
                }
                if next.config.limits.max_handshakes != current.config.limits.max_handshakes {
                    tracing::warn!("limits.max_handshakes changes take effect on restart");
                }
                self.state.send_replace(Arc::new(next.clone()));
                crate::run::metrics::tls_in_force(&next.config, &next.tls.facts);
                // Logged once in effect: the line marks when the next
                // request sees the new set.
                tracing::info!(
                    clients = next.config.clients.len(),
                    policies = next.config.policies.len(),
                    "configuration reloaded"
                );
                crate::run::metrics::reloaded(true);
            }
            Err(e) => {
                tracing::error!(error = %e, "reload failed; keeping the running configuration");
                crate::run::metrics::reloaded(false);
            }
        }
        let result = result.map(|(bound, next)| sockets.commit(bound, &next.config));
        notify::notify("READY=1");
        result
    }

    pub fn shutdown(&self) {
        self.shutdown.start_drain();
    }

    pub fn current(&self) -> Arc<Snapshot> {
        self.state.borrow().clone()
    }
}

/// Reloads one at a time, with a burst coalesced: a reload asked for while
/// one runs waits and then runs once for every request that arrived
/// meanwhile. Whatever was asked for during a reload is applied by a
/// reload that reads the files after it was asked for, and a burst of N
/// costs at most two reloads (the running one and one more) instead of N
/// reads of every file, CRL included.
#[derive(Default)]
struct Coalesce {
    queue: Mutex<Queue>,
    turn: Condvar,
}

#[derive(Default)]
struct Queue {
    running: bool,
    /// A reload is promised to run after the running one.
    queued: bool,
    /// Reloads finished, and how the last one ended.
    finished: u64,
    last: Option<Result<(), ReloadError>>,
    /// Callers waiting for a reload to run or end.
    waiting: usize,
}

impl Coalesce {
    fn run(&self, reload: impl FnOnce() -> Result<(), ReloadError>) -> Result<(), ReloadError> {
        let mut queue = self.lock();
        if queue.queued {
            // The queued reload starts after this call and serves it too.
            let target = queue.finished + if queue.running { 2 } else { 1 };
            queue = self.wait(queue, |q| q.finished >= target);
            return queue
                .last
                .clone()
                .expect("a finished reload left its result");
        }
        if queue.running {
            queue.queued = true;
            queue = self.wait(queue, |q| !q.running);
            queue.queued = false;
        }
        queue.running = true;
        drop(queue);
        let result = reload();
        let mut queue = self.lock();
        queue.running = false;
        queue.finished += 1;
        queue.last = Some(result.clone());
        self.turn.notify_all();
        result
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn wait<'a>(
        &self,
        mut queue: MutexGuard<'a, Queue>,
        until: impl Fn(&Queue) -> bool,
    ) -> MutexGuard<'a, Queue> {
        queue.waiting += 1;
        while !until(&queue) {
            queue = self
                .turn
                .wait(queue)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        queue.waiting -= 1;
        queue
    }
}

/// SIGHUP, SIGTERM and SIGINT, blocked for the whole process from the first
/// line of `main` until [`HeldSignals::handle`] installs their handlers:
/// one that arrives in between waits, then reaches the handler. Dropping
/// it unblocks them as they were (for commands that do not serve).
pub struct HeldSignals {
    previous: libc::sigset_t,
}

impl HeldSignals {
    /// Blocks the three signals. Call it before any thread starts: threads
    /// inherit the mask of the thread that starts them.
    pub fn now() -> HeldSignals {
        // SAFETY: sigemptyset, sigaddset and pthread_sigmask only write the
        // sets passed to them, which live on this stack frame.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            let mut previous: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for sig in [libc::SIGHUP, libc::SIGTERM, libc::SIGINT] {
                libc::sigaddset(&mut set, sig);
            }
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut previous);
            HeldSignals { previous }
        }
    }

    /// Installs the handlers (inside the control runtime), then unblocks:
    /// whatever arrived while the signals were held is delivered to them.
    pub fn handle(self) -> std::io::Result<Signals> {
        let signals = Signals {
            hup: signal(SignalKind::hangup())?,
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        };
        drop(self);
        Ok(signals)
    }
}

impl Drop for HeldSignals {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved by `now` on this thread.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.previous, std::ptr::null_mut());
        }
    }
}

/// The installed handlers: signals received since are queued in them (a
/// burst of one kind coalesces) until [`handle_signals`] takes them.
pub struct Signals {
    hup: Signal,
    term: Signal,
    int: Signal,
}

/// Turns SIGHUP into reloads and SIGTERM/SIGINT into a graceful stop.
/// Reloads run one after another on a blocking thread, so reading files
/// never stalls the accept loop on the control runtime.
pub async fn handle_signals(mut signals: Signals, control: Control) {
    loop {
        tokio::select! {
            _ = signals.hup.recv() => {
                tracing::info!("SIGHUP: reloading");
                let control = control.clone();
                let _ = tokio::task::spawn_blocking(move || control.reload()).await;
            }
            _ = signals.term.recv() => break,
            _ = signals.int.recv() => break,
        }
    }
    tracing::info!("stop requested");
    control.shutdown();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_burst_of_reloads_during_one_is_one_more() {
        let coalesce = Arc::new(Coalesce::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started, running) = std::sync::mpsc::channel::<()>();
        let first = {
            let (coalesce, runs) = (Arc::clone(&coalesce), Arc::clone(&runs));
            std::thread::spawn(move || {
                coalesce.run(|| {
                    runs.fetch_add(1, Ordering::SeqCst);
                    started.send(()).unwrap();
                    held.recv().unwrap();
                    Ok(())
                })
            })
        };
        running.recv().unwrap();
        let burst: Vec<_> = (0..50)
            .map(|_| {
                let (coalesce, runs) = (Arc::clone(&coalesce), Arc::clone(&runs));
                std::thread::spawn(move || {
                    coalesce.run(|| {
                        runs.fetch_add(1, Ordering::SeqCst);
                        Ok(())
                    })
                })
            })
            .collect();
        // Every one of them has asked before the running reload ends.
        while coalesce.lock().waiting < 50 {
            std::thread::yield_now();
        }
        release.send(()).unwrap();
        first.join().unwrap().unwrap();
        for caller in burst {
            caller.join().unwrap().unwrap();
        }
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        // A later reload runs on its own.
        coalesce.run(|| Ok(())).unwrap();
        assert_eq!(coalesce.lock().finished, 3);
    }
}
