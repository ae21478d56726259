//! The threads that serve client connections: one single-threaded tokio
//! runtime per core, each owning the connections handed to it for their
//! whole life.
//!
//! A work-stealing runtime moves tasks between threads, and a request
//! crosses several tasks (the client connection, the Engine connection,
//! the body between them); whenever a wake lands on another thread, it
//! costs an eventfd write, a context switch and cold caches. Pinning a
//! client connection and everything it spawns to one thread keeps each
//! request on one core from TLS record in to TLS record out. Connections
//! go to the worker with the fewest open, so long-lived streams do not
//! pile up on one thread.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::mpsc;

use crate::request::connection::{self, Accepted};
use crate::request::local::LocalPeer;
use crate::request::shared::{Arrival, Shared};

/// An accepted connection on its way to a worker: out of the accept
/// loop's runtime, to be registered with the worker's.
enum Socket {
    Tls(std::net::TcpStream, SocketAddr),
    Local(std::os::unix::net::UnixStream, LocalPeer),
}

impl Socket {
    fn take(accepted: Accepted) -> std::io::Result<Socket> {
        Ok(match accepted {
            Accepted::Tls(tcp, peer) => Socket::Tls(tcp.into_std()?, peer),
            Accepted::Local(unix, peer) => Socket::Local(unix.into_std()?, peer),
        })
    }

    fn register(self) -> std::io::Result<Accepted> {
        Ok(match self {
            Socket::Tls(tcp, peer) => Accepted::Tls(tokio::net::TcpStream::from_std(tcp)?, peer),
            Socket::Local(unix, peer) => {
                Accepted::Local(tokio::net::UnixStream::from_std(unix)?, peer)
            }
        })
    }
}

/// An accepted connection on its way to a worker.
struct Job {
    socket: Socket,
    arrival: Arrival,
}

/// One worker as the accept loop sees it.
struct Lane {
    jobs: mpsc::UnboundedSender<Job>,
    /// Connections handed to this worker and not yet closed.
    open: Arc<AtomicUsize>,
}

/// The accept loops' end of the workers: where connections are handed
/// over. Dropping it (every accept loop's share) tells the workers no more
/// come.
pub struct Handoff {
    lanes: Vec<Lane>,
}

/// The running worker threads. Each keeps serving its own connections
/// after the [`Handoff`] is gone, until every task of the daemon has ended.
pub struct Workers {
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts `count` worker threads (at least one).
    pub fn start(count: usize, shared: &Arc<Shared>) -> std::io::Result<(Handoff, Workers)> {
        let count = count.max(1);
        let mut lanes = Vec::with_capacity(count);
        let mut threads = Vec::with_capacity(count);
        // Each thread reports once it runs, so that a caller told "started"
        // (and systemd, told READY=1) finds every worker thread in place.
        let (running, started) = std::sync::mpsc::channel::<()>();
        for index in 0..count {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (jobs, inbox) = mpsc::unbounded_channel();
            let open = Arc::new(AtomicUsize::new(0));
            let worker = Worker {
                shared: Arc::clone(shared),
                inbox,
                open: Arc::clone(&open),
            };
            let thread = std::thread::Builder::new()
                // `dockgate-w0`...: short enough for the kernel's 15-byte
                // thread names, so `top -H` and /proc show them whole.
                .name(format!("dockgate-w{index}"))
                .spawn({
                    let running = running.clone();
                    move || {
                        let _ = running.send(());
                        drop(running);
                        runtime.block_on(worker.run())
                    }
                })?;
            lanes.push(Lane { jobs, open });
            threads.push(thread);
        }
        drop(running);
        for _ in 0..count {
            // A thread that died before reporting closes its sender; the
            // join reports its panic.
            if started.recv().is_err() {
                break;
            }
        }
        Ok((Handoff { lanes }, Workers { threads }))
    }

    /// Waits until every worker thread has finished, which is after every
    /// connection and tunnel ended. Call it once the [`Handoff`] is gone.
    pub async fn join(self) {
        let threads = self.threads;
        let joined = tokio::task::spawn_blocking(move || {
            for thread in threads {
                if thread.join().is_err() {
                    tracing::error!("a worker thread panicked");
                }
            }
        });
        let _ = joined.await;
    }
}

impl Handoff {
    /// Hands an accepted connection to the worker with the fewest open.
    pub fn dispatch(&self, accepted: Accepted, arrival: Arrival) {
        let socket = match Socket::take(accepted) {
            Ok(socket) => socket,
            Err(e) => {
                tracing::warn!(error = %e, "cannot hand the connection to a worker");
                return;
            }
        };
        let lane = self
            .lanes
            .iter()
            .min_by_key(|lane| lane.open.load(Ordering::Relaxed))
            .expect("at least one worker");
        lane.open.fetch_add(1, Ordering::Relaxed);
        // A worker only stops receiving once every sender is gone.
        let _ = lane.jobs.send(Job { socket, arrival });
    }
}

/// One connection on a worker's count, from its arrival until its task ends.
struct OpenCount(Arc<AtomicUsize>);

impl Drop for OpenCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The worker thread's side.
struct Worker {
    shared: Arc<Shared>,
    inbox: mpsc::UnboundedReceiver<Job>,
    open: Arc<AtomicUsize>,
}

impl Worker {
    async fn run(mut self) {
        // Counts as a task of the daemon while connections may still
        // arrive, so the daemon cannot see "all done" while one is in the
        // channel.
        let accepting = self.shared.tasks.token();
        while let Some(Job { socket, arrival }) = self.inbox.recv().await {
            let open = OpenCount(Arc::clone(&self.open));
            let accepted = match socket.register() {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot register the connection");
                    continue;
                }
            };
            let shared = Arc::clone(&self.shared);
            self.shared.tasks.spawn(async move {
                let _open = open;
                connection::serve(accepted, shared, arrival).await;
            });
        }
        drop(accepting);
        // The connections and tunnels this thread runs need it to keep
        // turning until they are done.
        self.shared.tasks.wait().await;
    }
}
