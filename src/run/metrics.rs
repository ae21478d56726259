//! Prometheus metrics and the optional plain-HTTP listener that serves them
//! (`/metrics`) next to a health check (`/healthz`: does the log output
//! take lines, and does the Engine answer `/_ping`?).
//!
//! The metrics are process-wide, like the process they describe. Label
//! values come from closed sets (decisions, reasons, configured client
//! names), never from raw client input, so their number stays bounded: a
//! client is labelled by name only through [`ClientLabel`], which names
//! clients the configuration has and calls everyone else "unknown".

use std::convert::Infallible;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::config::tls::HandshakeFailure;
use crate::config::Config;
use crate::request::refusal::Reason;
use crate::request::upstream::Upstream;
use crate::run::log_writer::LogCounters;
use crate::run::shutdown::Shutdown;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    client: String,
    decision: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    handshake_failures: Family<ReasonLabels, Counter>,
    refused_connections: Family<ReasonLabels, Counter>,
    open: Family<KindLabels, Gauge>,
    upstream_errors: Counter,
    latency: Histogram,
    log: LogCounters,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("dockgate");
    let requests = Family::<RequestLabels, Counter>::default();
    let handshake_failures = Family::<ReasonLabels, Counter>::default();
    let refused_connections = Family::<ReasonLabels, Counter>::default();
    let open = Family::<KindLabels, Gauge>::default();
    let upstream_errors = Counter::default();
    // 250 µs … ~8 s: a /_ping through the gateway up to a slow image inspect.
    let latency = Histogram::new(exponential_buckets(0.00025, 2.0, 16));
    registry.register(
        "requests",
        "Requests judged, by client, decision and refusal reason",
        requests.clone(),
    );
    registry.register(
        "handshake_failures",
        "Failed TLS handshakes by reason",
        handshake_failures.clone(),
    );
    registry.register(
        "refused_connections",
        "Connections refused by a connection limit",
        refused_connections.clone(),
    );
    registry.register(
        "open",
        "Open connections, tunnels and streams",
        open.clone(),
    );
    registry.register(
        "upstream_errors",
        "Requests the Engine could not be asked or failed",
        upstream_errors.clone(),
    );
    registry.register(
        "request_duration_seconds",
        "Time from request to the end of its response (streams: until closed)",
        latency.clone(),
    );
    let log = LogCounters::default();
    registry.register(
        "log_lines_dropped",
        "Log and audit lines dropped because the log output did not take them and the queue was full",
        log.dropped.clone(),
    );
    registry.register(
        "log_write_errors",
        "Writes the log output refused (EPIPE, ENOSPC, ...); each is retried",
        log.write_errors.clone(),
    );
    Metrics {
        registry,
        log,
        requests,
        handshake_failures,
        refused_connections,
        open,
        upstream_errors,
        latency,
    }
});

/// The `client` label of a request. Any certificate the CA signed can
/// carry any Common Name, and some refusals come before the name is looked
/// up, so the label is decided here, against the configuration the request
/// was judged by, and never taken from the certificate alone.
#[derive(Debug, Clone)]
pub struct ClientLabel(Option<Arc<str>>);

impl ClientLabel {
    /// The label for anyone the configuration does not name.
    pub const UNKNOWN: &'static str = "unknown";

    /// `name` when `config` has a client of that name; "unknown" otherwise.
    pub fn new(name: Option<&Arc<str>>, config: &Config) -> ClientLabel {
        ClientLabel(name.filter(|n| config.clients.contains_key(&***n)).cloned())
    }

    pub fn as_str(&self) -> &str {
        self.0.as_deref().unwrap_or(Self::UNKNOWN)
    }
}

/// Records one judged request.
pub fn observe_request(
    decision: &'static str,
    reason: Option<Reason>,
    client: &ClientLabel,
    status: u16,
    elapsed: Duration,
) {
    let m = &*METRICS;
    m.requests
        .get_or_create(&RequestLabels {
            client: client.as_str().to_owned(),
            decision,
            reason: reason.map_or("", Reason::as_str),
        })
        .inc();
    if reason == Some(Reason::UpstreamError) || status == 502 || status == 504 {
        m.upstream_errors.inc();
    }
    m.latency.observe(elapsed.as_secs_f64());
}

/// The counters the log writer increments, to hand to [`crate::run::logging::init`].
pub fn log_counters() -> LogCounters {
    METRICS.log.clone()
}

pub fn handshake_failed(reason: HandshakeFailure) {
    METRICS
        .handshake_failures
        .get_or_create(&ReasonLabels {
            reason: reason.as_str(),
        })
        .inc();
}

pub fn connection_refused(reason: &'static str) {
    METRICS
        .refused_connections
        .get_or_create(&ReasonLabels { reason })
        .inc();
}

/// Counts one open thing of a kind while it lives.
pub struct OpenGauge(&'static str);

impl OpenGauge {
    pub fn connection() -> OpenGauge {
        OpenGauge::new("connection")
    }

    pub fn tunnel() -> OpenGauge {
        OpenGauge::new("tunnel")
    }

    fn new(kind: &'static str) -> OpenGauge {
        METRICS.open.get_or_create(&KindLabels { kind }).inc();
        OpenGauge(kind)
    }
}

impl Drop for OpenGauge {
    fn drop(&mut self) {
        METRICS
            .open
            .get_or_create(&KindLabels { kind: self.0 })
            .dec();
    }
}

/// The Prometheus text exposition of every metric.
pub fn render() -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &METRICS.registry)
        .expect("writing to a String cannot fail");
    out
}

/// Serves `/metrics` and `/healthz` until shutdown starts draining.
pub async fn serve(
    listener: TcpListener,
    upstream: impl Fn() -> Upstream + Send + Sync + Clone + 'static,
    shutdown: Shutdown,
) {
    loop {
        let (tcp, _) = tokio::select! {
            () = shutdown.draining() => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(_) => continue,
            },
        };
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| answer(req, upstream()));
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
}

async fn answer(
    req: Request<hyper::body::Incoming>,
    upstream: Upstream,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let log_stall = crate::run::logging::stall().map(|stall| {
        format!(
            "unhealthy: the log output has taken nothing for {}s while {} bytes of log lines wait\n",
            stall.idle.as_secs(),
            stall.queued_bytes
        )
    });
    let (status, content_type, body) = match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => (
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            render(),
        ),
        // Reported before the Engine is asked: a gateway whose log has
        // stopped is unhealthy whatever the Engine says.
        (&Method::GET, "/healthz") if log_stall.is_some() => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            log_stall.unwrap_or_default(),
        ),
        (&Method::GET, "/healthz") => match upstream.ping().await {
            Ok(()) => (
                StatusCode::OK,
                "text/plain",
                "ok: the Docker Engine answers /_ping\n".to_owned(),
            ),
            Err(why) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                format!("unhealthy: {why}\n"),
            ),
        },
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /metrics or /healthz\n".to_owned(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    Ok(response)
}
