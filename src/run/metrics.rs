//! Prometheus metrics and the optional plain-HTTP listener that serves them
//! (`/metrics`) next to a health check (`/healthz`: does the log output
//! take lines, and does the Engine answer `/_ping`?).
//!
//! The metrics are process-wide, like the process they describe. Label
//! values come from closed sets (decisions, reasons, configured client
//! names), never from raw client input, so their number stays bounded: a
//! client is labelled by name only through [`ClientLabel`], which names
//! clients the configuration has and calls everyone else "unknown".
//!
//! The expiry gauges (seconds since the Unix epoch) describe the set in
//! force: the server certificate, each CA and each CRL are set from every
//! snapshot the daemon publishes ([`tls_in_force`]), and a client's
//! certificate from its handshake ([`client_certificate`]), for configured
//! clients only and dropped when a reload removes the client.

use std::collections::{BTreeSet, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, LazyLock, Mutex};
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
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::expiry::{CaValidity, CrlValidity};
use crate::config::tls::{HandshakeFailure, TlsFacts};
use crate::config::Config;
use crate::request::listener::RefusalLog;
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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CaLabels {
    ca: String,
    serial: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CrlLabels {
    file: String,
    issuer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClientLabels {
    client: String,
}

struct Metrics {
    registry: Registry,
    expiry: Expiry,
    requests: Family<RequestLabels, Counter>,
    handshake_failures: Family<ReasonLabels, Counter>,
    refused_connections: Family<ReasonLabels, Counter>,
    open: Family<KindLabels, Gauge>,
    upstream_errors: Counter,
    reverified: Counter,
    reloads: Family<OutcomeLabels, Counter>,
    latency: Histogram,
    log: LogCounters,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("dockgate");
    let requests = Family::<RequestLabels, Counter>::default();
    let handshake_failures = Family::<ReasonLabels, Counter>::default();
    let refused_connections = Family::<ReasonLabels, Counter>::default();
    let open = Family::<KindLabels, Gauge>::default();
    let upstream_errors = Counter::default();
    let reverified = Counter::default();
    let reloads = Family::<OutcomeLabels, Counter>::default();
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
        "certificate_reverifications",
        "Client certificates of open connections verified again after a reload changed the CA or CRL",
        reverified.clone(),
    );
    registry.register(
        "reloads",
        "Reloads by outcome: applied, or refused with the running configuration kept",
        reloads.clone(),
    );
    registry.register(
        "request_duration_seconds",
        "Time from request to the end of its response (streams: until closed)",
        latency.clone(),
    );
    let expiry = Expiry::default();
    registry.register(
        "server_certificate_not_after_seconds",
        "When the server certificate in force expires (notAfter), in seconds since the Unix epoch",
        expiry.server.clone(),
    );
    registry.register(
        "ca_certificate_not_after_seconds",
        "When each CA certificate in force expires (notAfter), by subject CN and serial, in seconds since the Unix epoch",
        expiry.cas.clone(),
    );
    registry.register(
        "crl_this_update_seconds",
        "When each CRL in force was issued (thisUpdate), by file and issuer CN, in seconds since the Unix epoch",
        expiry.crl_this.clone(),
    );
    registry.register(
        "crl_next_update_seconds",
        "When each CRL in force says it will be replaced (nextUpdate), by file and issuer CN, in seconds since the Unix epoch",
        expiry.crl_next.clone(),
    );
    registry.register(
        "client_certificate_not_after_seconds",
        "When the certificate a configured client last completed a handshake with expires (notAfter), in seconds since the Unix epoch",
        expiry.clients.clone(),
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
        expiry,
        log,
        requests,
        handshake_failures,
        refused_connections,
        open,
        upstream_errors,
        reverified,
        reloads,
        latency,
    }
});

/// The expiry gauges and the label sets they hold now, so that whatever
/// the set in force no longer has is removed rather than left at its last
/// value.
#[derive(Default)]
struct Expiry {
    server: Gauge,
    cas: Family<CaLabels, Gauge>,
    crl_this: Family<CrlLabels, Gauge>,
    crl_next: Family<CrlLabels, Gauge>,
    clients: Family<ClientLabels, Gauge>,
    /// Held while a snapshot's values are set and while a client's are, so
    /// that a client the snapshot just published dropped is not set again
    /// after the drop.
    shown: Mutex<Shown>,
}

#[derive(Default)]
struct Shown {
    cas: Vec<CaLabels>,
    crls: Vec<CrlLabels>,
    clients: BTreeSet<String>,
}

/// Sets the expiry gauges to the set just put in force: the server
/// certificate, every CA and every CRL of `facts`, and no client that
/// `config` does not have. Called once the snapshot is in force: at start
/// before any connection, on reload after it is published, so a handshake
/// recorded later is judged against it ([`client_certificate`]).
pub fn tls_in_force(config: &Config, facts: &TlsFacts) {
    let expiry = &METRICS.expiry;
    let mut shown = expiry.shown.lock().expect("expiry gauges lock");
    expiry.server.set(facts.cert_not_after.timestamp());

    let cas: Vec<CaLabels> = facts.ca_validity.iter().map(ca_labels).collect();
    for (labels, ca) in cas.iter().zip(&facts.ca_validity) {
        expiry.cas.get_or_create(labels).set(ca.not_after);
    }
    for gone in shown.cas.iter().filter(|l| !cas.contains(l)) {
        expiry.cas.remove(gone);
    }
    shown.cas = cas;

    let crls: Vec<CrlLabels> = facts.crl_validity.iter().map(crl_labels).collect();
    for (labels, crl) in crls.iter().zip(&facts.crl_validity) {
        expiry.crl_this.get_or_create(labels).set(crl.this_update);
        match crl.next_update {
            Some(next) => {
                expiry.crl_next.get_or_create(labels).set(next);
            }
            None => {
                expiry.crl_next.remove(labels);
            }
        }
    }
    for gone in shown.crls.iter().filter(|l| !crls.contains(l)) {
        expiry.crl_this.remove(gone);
        expiry.crl_next.remove(gone);
    }
    shown.crls = crls;

    shown.clients.retain(|client| {
        let kept = config.clients.contains_key(client);
        if !kept {
            expiry.clients.remove(&ClientLabels {
                client: client.clone(),
            });
        }
        kept
    });
}

fn ca_labels(ca: &CaValidity) -> CaLabels {
    CaLabels {
        ca: ca.name.clone(),
        serial: ca.serial.clone(),
    }
}

fn crl_labels(crl: &CrlValidity) -> CrlLabels {
    CrlLabels {
        file: crl.file.clone(),
        issuer: crl.issuer.clone(),
    }
}

/// Records the notAfter of the certificate a client completed its
/// handshake with. The series is the client's latest handshake, so a
/// renewed certificate replaces the old one as soon as the client uses it.
/// `label` is asked under the lock [`tls_in_force`] holds, against the
/// snapshot current then: only a client the configuration in force names
/// gets a series, so no certificate can add one.
pub fn client_certificate(label: impl FnOnce() -> ClientLabel, not_after: i64) {
    let expiry = &METRICS.expiry;
    let mut shown = expiry.shown.lock().expect("expiry gauges lock");
    let label = label();
    let Some(client) = label.configured() else {
        return;
    };
    expiry
        .clients
        .get_or_create(&ClientLabels {
            client: client.to_owned(),
        })
        .set(not_after);
    if !shown.clients.contains(client) {
        shown.clients.insert(client.to_owned());
    }
}

/// Counts a reload: `applied`, or `refused` when the running configuration stays.
pub fn reloaded(applied: bool) {
    let outcome = if applied { "applied" } else { "refused" };
    METRICS
        .reloads
        .get_or_create(&OutcomeLabels { outcome })
        .inc();
}

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

    /// The client's name when the configuration has it.
    pub fn configured(&self) -> Option<&str> {
        self.0.as_deref()
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

pub fn certificate_reverified() {
    METRICS.reverified.inc();
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

/// Connections the metrics listener serves at once. A scraper and a
/// health check need one or two; the rest bound what a flood of them holds
/// (file descriptors, tasks), within the descriptors the open-file limit
/// keeps aside ([`crate::run::open_files::RESERVE`]).
pub const MAX_CONNECTIONS: usize = 16;

/// How long a metrics connection may take to send its request header.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The metrics listener's open connections. At [`MAX_CONNECTIONS`], a new
/// connection closes the one that has waited longest without sending a
/// request, so that idle connections cannot keep a scraper or a health
/// check out; when every connection is answering, the new one is refused.
#[derive(Clone, Default)]
struct Slots(Arc<Mutex<SlotList>>);

#[derive(Default)]
struct SlotList {
    next_id: u64,
    /// Open connections, oldest first: an id, what ends the connection, and
    /// whether it still waits for its request.
    open: VecDeque<(u64, CancellationToken, bool)>,
}

/// One connection's place among the [`Slots`]; given back on drop.
struct Slot {
    slots: Slots,
    id: u64,
    ended: CancellationToken,
}

impl Slots {
    /// A place for a new connection, closing the longest-waiting idle one
    /// if that is what makes room; `None` when every place is answering.
    fn take(&self) -> Option<Slot> {
        let mut list = self.0.lock().expect("metrics slots lock");
        if list.open.len() >= MAX_CONNECTIONS {
            let idle = list.open.iter().position(|(_, _, waiting)| *waiting)?;
            let (_, ended, _) = list.open.remove(idle).expect("position is in range");
            ended.cancel();
            connection_refused("metrics_idle_closed");
        }
        let id = list.next_id;
        list.next_id += 1;
        let ended = CancellationToken::new();
        list.open.push_back((id, ended.clone(), true));
        Some(Slot {
            slots: self.clone(),
            id,
            ended,
        })
    }

    /// The connection's request has arrived: it is no longer idle.
    fn answering(&self, id: u64) {
        let mut list = self.0.lock().expect("metrics slots lock");
        if let Some(entry) = list.open.iter_mut().find(|(i, _, _)| *i == id) {
            entry.2 = false;
        }
    }

    fn close_all(&self) {
        for (_, ended, _) in &self.0.lock().expect("metrics slots lock").open {
            ended.cancel();
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut list = self.slots.0.lock().expect("metrics slots lock");
        list.open.retain(|(i, _, _)| *i != self.id);
    }
}

/// Serves `/metrics` and `/healthz` until shutdown starts draining, then
/// closes its connections and returns once their tasks have ended. One
/// request per connection, at most [`MAX_CONNECTIONS`] connections.
pub async fn serve(
    listener: TcpListener,
    upstream: impl Fn() -> Upstream + Send + Sync + Clone + 'static,
    shutdown: Shutdown,
) {
    let tasks = TaskTracker::new();
    let slots = Slots::default();
    let mut refusals = RefusalLog::new("metrics");
    loop {
        let (tcp, _) = tokio::select! {
            () = shutdown.draining() => break,
            () = refusals.until_due() => {
                refusals.flush();
                continue;
            }
            accepted = crate::request::listener::accept("metrics", || listener.accept()) => accepted,
        };
        let Some(slot) = slots.take() else {
            drop(tcp);
            connection_refused("metrics_max_connections");
            refusals.refused("metrics_max_connections");
            continue;
        };
        let upstream = upstream.clone();
        tasks.spawn(async move {
            let (slots, id) = (slot.slots.clone(), slot.id);
            let service = service_fn(move |req| {
                slots.answering(id);
                answer(req, upstream())
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .keep_alive(false)
                .serve_connection(TokioIo::new(tcp), service);
            tokio::select! {
                _ = connection => {}
                () = slot.ended.cancelled() => {}
            }
        });
    }
    refusals.flush();
    slots.close_all();
    tasks.close();
    tasks.wait().await;
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
