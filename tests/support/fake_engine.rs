//! A fake Docker Engine on a temporary unix socket, for what a real one
//! cannot do on demand: record exactly what reached it, stream forever,
//! answer slowly or hugely, refuse or force upgrades, and report how many
//! connections and streams it still has open.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Body, Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;

/// One request as the fake Engine received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query exactly as on the wire.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
pub struct Stats {
    pub requests: Mutex<Vec<Recorded>>,
    pub connections: AtomicUsize,
    pub open_connections: AtomicUsize,
    pub open_streams: AtomicUsize,
}

pub struct FakeEngine {
    pub socket: PathBuf,
    pub stats: Arc<Stats>,
    _dir: tempfile::TempDir,
    runtime: Option<tokio::runtime::Runtime>,
}

impl FakeEngine {
    pub fn start() -> FakeEngine {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("engine.sock");
        let stats = Arc::new(Stats::default());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(async { UnixListener::bind(&socket) })
            .unwrap();
        let task_stats = Arc::clone(&stats);
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let stats = Arc::clone(&task_stats);
                stats.connections.fetch_add(1, Ordering::SeqCst);
                stats.open_connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let svc_stats = Arc::clone(&stats);
                    let service = service_fn(move |req| answer(req, Arc::clone(&svc_stats)));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                    stats.open_connections.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        FakeEngine {
            socket,
            stats,
            _dir: dir,
            runtime: Some(runtime),
        }
    }

    pub fn path(&self) -> &Path {
        &self.socket
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.stats.requests.lock().unwrap().clone()
    }

    pub fn request_count(&self) -> usize {
        self.stats.requests.lock().unwrap().len()
    }

    pub fn open_streams(&self) -> usize {
        self.stats.open_streams.load(Ordering::SeqCst)
    }

    /// Connections accepted since the start.
    pub fn connections(&self) -> usize {
        self.stats.connections.load(Ordering::SeqCst)
    }

    pub fn open_connections(&self) -> usize {
        self.stats.open_connections.load(Ordering::SeqCst)
    }
}

impl Drop for FakeEngine {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

type FakeBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn answer(
    req: Request<Incoming>,
    stats: Arc<Stats>,
) -> Result<Response<FakeBody>, Infallible> {
    let (mut parts, body) = req.into_parts();
    let upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let wants_upgrade = parts.headers.contains_key(hyper::header::UPGRADE);
    // Bodies of upgrade requests and streaming endpoints are not read whole.
    let body_bytes = if wants_upgrade || path.ends_with("/fake/upload") {
        Vec::new()
    } else {
        body.collect()
            .await
            .map(|b| b.to_bytes().to_vec())
            .unwrap_or_default()
    };
    stats.requests.lock().unwrap().push(Recorded {
        method: parts.method.to_string(),
        target: target.clone(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body_bytes,
    });
    let query = parts.uri.query().unwrap_or("");
    let route = strip_version(&path);
    Ok(match route {
        "/_ping" => text(StatusCode::OK, "OK"),
        "/events" | "/fake/stream" => {
            stats.open_streams.fetch_add(1, Ordering::SeqCst);
            let guard = StreamGuard(Arc::clone(&stats));
            let interval = if route == "/events" {
                Duration::from_secs(3600)
            } else {
                Duration::from_millis(20)
            };
            let stream = futures_stream(guard, interval);
            Response::new(BodyExt::boxed(StreamBody::new(stream)))
        }
        "/fake/huge" => {
            let total: u64 = query
                .strip_prefix("bytes=")
                .and_then(|n| n.parse().ok())
                .unwrap_or(1 << 20);
            Response::new(BodyExt::boxed(Repeat { left: total }))
        }
        "/fake/close" => {
            // Answers, then closes the connection: as an Engine restarting would.
            let mut r = text(StatusCode::OK, "closing");
            r.headers_mut()
                .insert("connection", "close".parse().unwrap());
            r
        }
        "/fake/slow" => {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            text(StatusCode::OK, "slow done")
        }
        r if parts.method == hyper::Method::GET
            && r.starts_with("/containers/owned-by-")
            && r.ends_with("/json") =>
        {
            // `owned-by-TENANT--NAME`: a container of that tenant.
            let name = &r["/containers/".len()..r.len() - "/json".len()];
            let tenant = name["owned-by-".len()..].split("--").next().unwrap_or("");
            let body = serde_json::json!({
                "Id": fake_id(name),
                "Name": format!("/{name}"),
                "Config": { "Labels": { "dockgate.tenant": tenant } },
            })
            .to_string();
            text(StatusCode::OK, &body)
        }
        // Exec create in a container named by a full ID (as the gateway
        // forwards a confined client's): the Engine's 201 with the new ID.
        r if parts.method == hyper::Method::POST
            && r.strip_prefix("/containers/")
                .and_then(|r| r.strip_suffix("/exec"))
                .is_some_and(|id| id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())) =>
        {
            let container = &r["/containers/".len()..r.len() - "/exec".len()];
            let body = serde_json::json!({ "Id": fake_id(&format!("exec-{container}")) });
            text(StatusCode::CREATED, &body.to_string())
        }
        r if parts.method == hyper::Method::GET
            && (r.starts_with("/containers/dockgate-missing-")
                || r.starts_with("/containers/missing-"))
            && r.ends_with("/json") =>
        {
            let name = &r["/containers/".len()..r.len() - "/json".len()];
            let body = serde_json::json!({ "message": format!("No such container: {name}") });
            text(StatusCode::NOT_FOUND, &body.to_string())
        }
        "/fake/unasked-101" => {
            let mut r = text(StatusCode::SWITCHING_PROTOCOLS, "");
            r.headers_mut().insert("upgrade", "tcp".parse().unwrap());
            r.headers_mut()
                .insert("connection", "Upgrade".parse().unwrap());
            r
        }
        r if wants_upgrade && !r.starts_with("/fake/no-upgrade") => {
            tokio::spawn(async move {
                if let Some(Ok(upgraded)) = match upgrade {
                    Some(u) => Some(u.await),
                    None => None,
                } {
                    echo_upper(upgraded).await;
                }
            });
            let mut r = Response::new(BodyExt::boxed(Full::new(Bytes::new())));
            *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            r.headers_mut().insert("upgrade", "tcp".parse().unwrap());
            r.headers_mut()
                .insert("connection", "Upgrade".parse().unwrap());
            r.headers_mut().insert(
                "content-type",
                "application/vnd.docker.raw-stream".parse().unwrap(),
            );
            r
        }
        _ => {
            let body = serde_json::json!({ "fake": true, "method": parts.method.as_str(), "target": target }).to_string();
            let mut r = text(StatusCode::OK, &body);
            r.headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            r
        }
    })
}

/// The full ID the fake Engine gives the container named `name`.
pub fn fake_id(name: &str) -> String {
    let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{hex:0<64}")[..64].to_owned()
}

fn strip_version(path: &str) -> &str {
    match path[1..].split_once('/') {
        Some((first, rest)) if dockgate::request::path::is_version_segment(first) => {
            &path[first.len() + 1..][..rest.len() + 1]
        }
        _ => path,
    }
}

fn text(status: StatusCode, body: &str) -> Response<FakeBody> {
    let mut r = Response::new(BodyExt::boxed(Full::new(Bytes::from(body.to_owned()))));
    *r.status_mut() = status;
    r
}

/// Tunnel behaviour: upper-cases what it reads; after the client's EOF it
/// writes "BYE\n" and closes. Proves half-close travels both ways.
async fn echo_upper(upgraded: hyper::upgrade::Upgraded) {
    let mut io = TokioIo::new(upgraded);
    let mut buf = [0u8; 4096];
    loop {
        match io.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let upper: Vec<u8> = buf[..n].to_ascii_uppercase();
                if io.write_all(&upper).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = io.write_all(b"BYE\n").await;
    let _ = io.shutdown().await;
}

/// Decrements the open-stream count when the response body is dropped,
/// which is when hyper gives up on the connection that carried it.
struct StreamGuard(Arc<Stats>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.open_streams.fetch_sub(1, Ordering::SeqCst);
    }
}

fn futures_stream(
    guard: StreamGuard,
    interval: Duration,
) -> impl futures_core::Stream<Item = Result<Frame<Bytes>, Infallible>> + Send {
    TickStream {
        guard,
        interval,
        sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
        n: 0,
    }
}

struct TickStream {
    guard: StreamGuard,
    interval: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
    n: u64,
}

impl futures_core::Stream for TickStream {
    type Item = Result<Frame<Bytes>, Infallible>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let _ = &self.guard;
        match self.sleep.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                let next = tokio::time::Instant::now() + self.interval;
                self.sleep.as_mut().reset(next);
                self.n += 1;
                let line = format!("{{\"event\":{}}}\n", self.n);
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(line)))))
            }
        }
    }
}

use std::future::Future;

/// A body of `left` bytes, produced in 64 KiB frames.
struct Repeat {
    left: u64,
}

impl Body for Repeat {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        static CHUNK: [u8; 65536] = [b'x'; 65536];
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = self.left.min(CHUNK.len() as u64) as usize;
        self.left -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&CHUNK[..n])))))
    }
}
