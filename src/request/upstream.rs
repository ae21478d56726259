//! The Engine side: HTTP/1.1 over the Engine's unix socket.
//!
//! Each client connection gets an Engine connection of its own
//! ([`EngineLink`]), dialed on its first request and reused for the next
//! ones, as the client reuses its connection to the gateway. This is
//! hyper's own connection-level client over `tokio::net::UnixStream`,
//! not hyperlocal's or hyper-util's pooled client: the link needs no pool
//! (requests on one client connection come one at a time), and a pool's
//! checkout, return and idle bookkeeping cost more per request than the
//! rest of the Engine side. It also means the Engine sees exactly the
//! target and headers the gateway judged: origin-form targets as the client
//! sent them, a fixed `Host: docker`, nothing derived from the socket path.
//! Upgrades (exec, attach, BuildKit sessions) take the link's connection
//! over; the next request dials a new one.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderValue, HOST};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tokio_util::task::TaskTracker;

/// Request bodies sent upstream: the client's stream, or the bytes an
/// inspector read and judged.
pub type UpstreamBody = UnsyncBoxBody<Bytes, hyper::Error>;

/// Why the Engine could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot reach the Docker Engine at {}: {source}", socket.display())]
    Unreachable { socket: PathBuf, source: io::Error },
    #[error("the Docker Engine at {} did not accept a connection within {timeout:?}", socket.display())]
    ConnectTimeout { socket: PathBuf, timeout: Duration },
    #[error("the Docker Engine at {} failed the request: {message}", socket.display())]
    Failed { socket: PathBuf, message: String },
}

/// Where the Engine is and how long to wait for it to accept.
#[derive(Clone)]
pub struct Upstream {
    socket: Arc<Path>,
    connect_timeout: Duration,
}

impl Upstream {
    pub fn new(socket: &Path, connect_timeout: Duration) -> Upstream {
        Upstream {
            socket: socket.into(),
            connect_timeout,
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Connects to the Engine; the caller drives the connection.
    async fn connect(
        &self,
    ) -> Result<
        (
            SendRequest<UpstreamBody>,
            http1::Connection<TokioIo<UnixStream>, UpstreamBody>,
        ),
        UpstreamError,
    > {
        let stream = tokio::time::timeout(self.connect_timeout, UnixStream::connect(&*self.socket))
            .await
            .map_err(|_| UpstreamError::ConnectTimeout {
                socket: self.socket.to_path_buf(),
                timeout: self.connect_timeout,
            })?
            .map_err(|source| UpstreamError::Unreachable {
                socket: self.socket.to_path_buf(),
                source,
            })?;
        http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.failed(&e))
    }

    /// Connects to the Engine and runs the connection as a task of `tasks`,
    /// which ends when the connection closes or is upgraded.
    async fn dial(&self, tasks: &TaskTracker) -> Result<SendRequest<UpstreamBody>, UpstreamError> {
        let (sender, connection) = self.connect().await?;
        tasks.spawn(async move {
            if let Err(e) = connection.with_upgrades().await {
                tracing::debug!(error = %e, "Engine connection ended with an error");
            }
        });
        Ok(sender)
    }

    /// Asks the Engine for `/_ping` on a connection of its own: the health
    /// check behind `/healthz`, `check` and `quickstart`.
    pub async fn ping(&self) -> Result<(), String> {
        let ask = async {
            // The connection is driven here, beside the request, and ends with it.
            let (mut sender, connection) = self.connect().await?;
            let mut req = Request::new(
                Empty::<Bytes>::new()
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            );
            *req.uri_mut() = Uri::from_static("/_ping");
            req.headers_mut()
                .insert(HOST, HeaderValue::from_static("docker"));
            tokio::select! {
                response = sender.send_request(req) => response.map_err(|e| self.failed(&e)),
                ended = connection => Err(match ended {
                    Err(e) => self.failed(&e),
                    Ok(()) => UpstreamError::Failed {
                        socket: self.socket.to_path_buf(),
                        message: "the connection closed before the answer to /_ping".into(),
                    },
                }),
            }
        };
        let response = tokio::time::timeout(Duration::from_secs(5), ask)
            .await
            .map_err(|_| {
                format!(
                    "the Docker Engine at {} did not answer /_ping within 5s",
                    self.socket.display()
                )
            })?
            .map_err(|e| e.to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!(
                "the Docker Engine at {} answered /_ping with {}",
                self.socket.display(),
                response.status()
            ))
        }
    }

    fn failed(&self, err: &hyper::Error) -> UpstreamError {
        let mut message = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(e) = source {
            message = format!("{message}: {e}");
            source = e.source();
        }
        UpstreamError::Failed {
            socket: self.socket.to_path_buf(),
            message,
        }
    }
}

/// The Engine connection behind one client connection.
#[derive(Default)]
pub struct EngineLink {
    /// The connection waiting for the client's next request, and the
    /// socket it was dialed to (a reload may name another).
    idle: Mutex<Option<(Arc<Path>, SendRequest<UpstreamBody>)>>,
}

impl EngineLink {
    /// Sends one request to the Engine: on the link's connection when it
    /// is still open, else on a new one. A request the old connection
    /// closed before sending is sent again on a new connection; one it
    /// may have sent is not (the Engine may have acted on it).
    /// A new connection runs as a task of `tasks`.
    pub async fn send(
        &self,
        upstream: &Upstream,
        req: Request<UpstreamBody>,
        tasks: &TaskTracker,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let mut req = req;
        if let Some(mut sender) = self.take(upstream) {
            if sender.ready().await.is_ok() {
                match sender.try_send_request(req).await {
                    Ok(response) => return Ok(self.keep(upstream, sender, response)),
                    Err(mut e) => match e.take_message() {
                        Some(unsent) => req = unsent,
                        None => return Err(upstream.failed(e.error())),
                    },
                }
            }
        }
        let mut sender = upstream.dial(tasks).await?;
        let response = sender
            .send_request(req)
            .await
            .map_err(|e| upstream.failed(&e))?;
        Ok(self.keep(upstream, sender, response))
    }

    fn take(&self, upstream: &Upstream) -> Option<SendRequest<UpstreamBody>> {
        let (socket, sender) = self.lock().take()?;
        (socket == upstream.socket && !sender.is_closed()).then_some(sender)
    }

    /// Keeps the connection for the next request, unless this response
    /// upgrades it into a tunnel.
    fn keep(
        &self,
        upstream: &Upstream,
        sender: SendRequest<UpstreamBody>,
        response: Response<Incoming>,
    ) -> Response<Incoming> {
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            *self.lock() = Some((Arc::clone(&upstream.socket), sender));
        }
        response
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Arc<Path>, SendRequest<UpstreamBody>)>> {
        // Only ever a take or a store: a panic elsewhere cannot tear it.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}
