//! The Engine side: a pooled HTTP/1.1 client over the Engine's unix socket.
//!
//! This is hyper-util's pooling client with a connector of our own rather
//! than hyperlocal's. The connector always dials the one configured socket
//! with a connect timeout, and requests carry a fixed `Host: docker` instead
//! of hyperlocal's hex-encoded socket path, so the Engine sees exactly the
//! method, target and headers the gateway judged and nothing derived from
//! its own configuration. Upgrades (exec, attach, BuildKit sessions) work
//! because the pool hands hijacked connections over and never reuses them.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::{Request, Response, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::UnixStream;

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

/// Pooled connections to one Engine socket.
#[derive(Clone)]
pub struct Upstream {
    socket: Arc<Path>,
    connect_timeout: Duration,
    client: Client<Connector, UpstreamBody>,
}

impl Upstream {
    pub fn new(socket: &Path, connect_timeout: Duration) -> Upstream {
        let connector = Connector {
            socket: socket.into(),
            timeout: connect_timeout,
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .set_host(false)
            .build(connector);
        Upstream {
            socket: socket.into(),
            connect_timeout,
            client,
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The URI the pool keys on; only its path and query go on the wire.
    pub fn uri(path_and_query: &str) -> Uri {
        format!("http://docker{path_and_query}")
            .parse()
            .expect("a canonical path is a valid URI path")
    }

    /// Sends one request to the Engine.
    pub async fn send(
        &self,
        req: Request<UpstreamBody>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        self.client.request(req).await.map_err(|e| self.classify(e))
    }

    /// Asks the Engine for `/_ping`: the health check behind `/healthz` and `check`.
    pub async fn ping(&self) -> Result<(), String> {
        let mut req = Request::new(
            Empty::<Bytes>::new()
                .map_err(|never| match never {})
                .boxed_unsync(),
        );
        *req.uri_mut() = Upstream::uri("/_ping");
        req.headers_mut().insert(
            hyper::header::HOST,
            hyper::header::HeaderValue::from_static("docker"),
        );
        let response = tokio::time::timeout(Duration::from_secs(5), self.send(req))
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

    fn classify(&self, err: hyper_util::client::legacy::Error) -> UpstreamError {
        let socket = self.socket.to_path_buf();
        if err.is_connect() {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
            while let Some(e) = source {
                if let Some(io) = e.downcast_ref::<io::Error>() {
                    if io.kind() == io::ErrorKind::TimedOut {
                        return UpstreamError::ConnectTimeout {
                            socket,
                            timeout: self.connect_timeout,
                        };
                    }
                    return UpstreamError::Unreachable {
                        socket,
                        source: io::Error::new(io.kind(), io.to_string()),
                    };
                }
                source = e.source();
            }
        }
        let mut message = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(e) = source {
            message = format!("{message}: {e}");
            source = e.source();
        }
        UpstreamError::Failed { socket, message }
    }
}

/// Dials the configured socket, whatever the URI says.
#[derive(Clone)]
struct Connector {
    socket: Arc<Path>,
    timeout: Duration,
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<UnixStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let socket = Arc::clone(&self.socket);
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, UnixStream::connect(&*socket)).await {
                Ok(stream) => stream.map(TokioIo::new),
                Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
            }
        })
    }
}
