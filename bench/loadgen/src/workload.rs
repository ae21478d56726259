//! The workloads, and one measurement ("cell") of one workload against one
//! target: the result, plus the CPU the target's processes and the load
//! generator itself spent meanwhile.
//!
//! Every loop here ends by a deadline or a count; every cell runs under
//! the caller's timeout besides.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::client::conn::http1::SendRequest;
use hyper::{header, Request, StatusCode};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::body::BenchBody;
use crate::client::{
    Dialer, Engine, Stream, Target, DIRECT, DOCKGATE, DOCKGATE_AUDIT, DOCKGATE_SHARED,
    DOCKGATE_SOCKET, DOCKGATE_TENANT,
};
use crate::procfs;
use crate::raw;

/// Errors tolerated in one cell before it gives up instead of spinning.
const MAX_ERRORS: u64 = 1000;
/// Idle connections opened at once (handshakes in flight).
const IDLE_OPEN_PARALLEL: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Workload {
    /// 1000 idle `/events` streams: memory per connection. First, so the
    /// targets' heaps have not yet been grown by the other workloads.
    IdleEvents,
    PingC1,
    PingC32,
    Handshake,
    StreamDown,
    StreamUp,
    /// `GET /containers/{id}/json` of the bench container, c=1: what a
    /// confined client's ownership question adds to a request that names a
    /// container.
    ContainerInspect,
    /// Exec create, start (attached, no TTY, `true`) and inspect, one
    /// cycle after the other: what `docker exec` costs a confined client.
    ExecCycle,
}

impl Workload {
    pub const ALL: [Workload; 8] = [
        Workload::IdleEvents,
        Workload::PingC1,
        Workload::PingC32,
        Workload::Handshake,
        Workload::StreamDown,
        Workload::StreamUp,
        Workload::ContainerInspect,
        Workload::ExecCycle,
    ];

    pub fn parse(s: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.key() == s)
    }

    pub fn key(self) -> &'static str {
        match self {
            Workload::IdleEvents => "idle",
            Workload::PingC1 => "ping1",
            Workload::PingC32 => "ping32",
            Workload::Handshake => "handshake",
            Workload::StreamDown => "download",
            Workload::StreamUp => "upload",
            Workload::ContainerInspect => "inspect",
            Workload::ExecCycle => "exec",
        }
    }

    /// The workloads that name the bench container, which exists only in
    /// the host's Engine.
    pub fn needs_container(self) -> bool {
        matches!(self, Workload::ContainerInspect | Workload::ExecCycle)
    }

    /// Whether the workload runs against `target`. The streaming endpoints
    /// exist only in the fake engine. The container workloads compare the
    /// host Engine's socket with dockgate's clients (the second dockerd has
    /// no bench container, and nginx is not what they are about). The
    /// confined and the audit-mode client run nothing else, their other
    /// rows would repeat the unconfined ones; dockgate's unix sockets run
    /// the keep-alive and container workloads, what a program given a
    /// socket in place of the Engine's does.
    pub fn applies_to(self, target: &Target) -> bool {
        let name = target.name.as_str();
        if [DOCKGATE_SOCKET, DOCKGATE_SHARED].contains(&name) {
            return matches!(
                self,
                Workload::PingC1
                    | Workload::PingC32
                    | Workload::ContainerInspect
                    | Workload::ExecCycle
            );
        }
        match self {
            Workload::StreamDown | Workload::StreamUp => target.engine == Engine::Fake,
            Workload::ContainerInspect | Workload::ExecCycle => {
                target.engine == Engine::Real
                    && [DIRECT, DOCKGATE, DOCKGATE_TENANT, DOCKGATE_AUDIT].contains(&name)
            }
            _ => target.client.is_none(),
        }
    }
}

/// How long and how much.
#[derive(Debug, Clone)]
pub struct Settings {
    pub duration: Duration,
    pub stream_bytes: u64,
    pub idle_conns: usize,
    pub handshake_concurrency: usize,
    pub clk_tck: f64,
    /// The full ID of the running container the container workloads name.
    pub container: Option<String>,
}

/// One cell's numbers.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// req/s, handshakes/s, cycles/s, MiB/s, or KiB of RSS per idle connection.
    pub value: f64,
    pub mean_us: Option<f64>,
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    /// The exec cycle's creates alone.
    pub create_p50_us: Option<f64>,
    /// Target processes' CPU per request/handshake (µs), or per MiB streamed.
    pub server_cpu_us: Option<f64>,
    /// The load generator's CPU time over wall time, in cores.
    pub loadgen_cores: f64,
    pub errors: u64,
}

/// What a workload itself reports, before CPU accounting.
struct Outcome {
    value: f64,
    /// Operations the server CPU is divided by.
    ops: f64,
    latencies_ns: Vec<u64>,
    /// The exec cycle's creates alone: the one step of it a confined
    /// client's ownership question lengthens.
    create_latencies_ns: Vec<u64>,
    errors: u64,
}

impl Outcome {
    /// `bytes` moved in `secs`: MiB/s, with server CPU charged per MiB.
    fn throughput(bytes: u64, secs: f64) -> Outcome {
        Outcome {
            value: bytes as f64 / MIB / secs,
            ops: bytes as f64 / MIB,
            latencies_ns: Vec::new(),
            create_latencies_ns: Vec::new(),
            errors: 0,
        }
    }
}

pub async fn measure(
    workload: Workload,
    target: &Target,
    dialer: &Dialer,
    settings: &Settings,
) -> Result<Sample, String> {
    let server_before = procfs::cpu_ticks_sum(&target.pids);
    let self_before = procfs::cpu_ticks("self").unwrap_or(0);
    let started = Instant::now();
    let container = || {
        settings
            .container
            .as_deref()
            .ok_or_else(|| format!("{} needs --container", workload.key()))
    };
    let outcome = match workload {
        Workload::PingC1 => keepalive(dialer, target, 1, settings.duration, "/_ping").await?,
        Workload::PingC32 => keepalive(dialer, target, 32, settings.duration, "/_ping").await?,
        Workload::ContainerInspect => {
            let path = format!("/v1.41/containers/{}/json", container()?);
            keepalive(dialer, target, 1, settings.duration, &path).await?
        }
        Workload::ExecCycle => exec_cycles(dialer, target, container()?, settings.duration).await?,
        Workload::Handshake => {
            handshakes(
                dialer,
                target,
                settings.handshake_concurrency,
                settings.duration,
            )
            .await?
        }
        Workload::StreamDown => download(dialer, target, settings.stream_bytes).await?,
        Workload::StreamUp => upload(dialer, target, settings.stream_bytes).await?,
        Workload::IdleEvents => idle(dialer, target, settings.idle_conns).await?,
    };
    let wall = started.elapsed().as_secs_f64();
    let server_ticks = procfs::cpu_ticks_sum(&target.pids).saturating_sub(server_before) as f64;
    let self_ticks = procfs::cpu_ticks("self")
        .unwrap_or(0)
        .saturating_sub(self_before) as f64;

    let mut latencies = outcome.latencies_ns;
    latencies.sort_unstable();
    let mut creates = outcome.create_latencies_ns;
    creates.sort_unstable();
    let pct = |of: &[u64], p: f64| {
        (!of.is_empty()).then(|| of[((of.len() - 1) as f64 * p) as usize] as f64 / 1000.0)
    };
    let mean_us = (!latencies.is_empty())
        .then(|| latencies.iter().sum::<u64>() as f64 / latencies.len() as f64 / 1000.0);
    let server_cpu_us = (workload != Workload::IdleEvents && outcome.ops > 0.0)
        .then(|| server_ticks / settings.clk_tck * 1e6 / outcome.ops);
    Ok(Sample {
        value: outcome.value,
        mean_us,
        p50_us: pct(&latencies, 0.50),
        p99_us: pct(&latencies, 0.99),
        create_p50_us: pct(&creates, 0.50),
        server_cpu_us,
        loadgen_cores: self_ticks / settings.clk_tck / wall,
        errors: outcome.errors,
    })
}

fn get(path: &str) -> Request<BenchBody> {
    Request::get(path)
        .header(header::HOST, "docker")
        .body(BenchBody::Empty)
        .expect("a valid request")
}

/// Sends one request and reads the whole response body; returns the status.
async fn exchange(
    sender: &mut SendRequest<BenchBody>,
    req: Request<BenchBody>,
) -> Result<StatusCode, String> {
    sender.ready().await.map_err(|e| e.to_string())?;
    let response = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = response.status();
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        frame.map_err(|e| e.to_string())?;
    }
    Ok(status)
}

/// A response read to its end.
struct Answer {
    status: StatusCode,
    body: Bytes,
    /// Neither a length nor chunks: the body ended with the connection.
    until_close: bool,
}

/// Sends one request and reads the whole response.
async fn exchange_body(
    sender: &mut SendRequest<BenchBody>,
    req: Request<BenchBody>,
) -> Result<Answer, String> {
    sender.ready().await.map_err(|e| e.to_string())?;
    let response = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = response.status();
    let until_close = ![header::CONTENT_LENGTH, header::TRANSFER_ENCODING]
        .iter()
        .any(|h| response.headers().contains_key(h));
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok(Answer {
        status,
        body: body.to_bytes(),
        until_close,
    })
}

fn post_json(path: &str, json: &'static str) -> Request<BenchBody> {
    Request::post(path)
        .header(header::HOST, "docker")
        .header(header::CONTENT_TYPE, "application/json")
        .body(BenchBody::text(json.to_owned()))
        .expect("a valid request")
}

/// `concurrency` keep-alive connections, each sending `GET path` back to
/// back until the deadline. A connection the server closes is reopened.
async fn keepalive(
    dialer: &Dialer,
    target: &Target,
    concurrency: usize,
    duration: Duration,
    path: &str,
) -> Result<Outcome, String> {
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = JoinSet::new();
    for _ in 0..concurrency {
        let (dialer, target, path) = (dialer.clone(), target.clone(), path.to_owned());
        workers.spawn(async move {
            let mut sender = dialer.http(&target).await?;
            let mut latencies = Vec::with_capacity(1 << 16);
            let mut errors = 0u64;
            while Instant::now() < deadline && errors < MAX_ERRORS {
                if sender.is_closed() {
                    sender = dialer.http(&target).await?;
                }
                let sent = Instant::now();
                match exchange(&mut sender, get(&path)).await {
                    Ok(StatusCode::OK) => latencies.push(sent.elapsed().as_nanos() as u64),
                    Ok(_) | Err(_) => errors += 1,
                }
            }
            Ok::<_, String>((latencies, errors))
        });
    }
    collect(workers, started).await
}

/// One connection running `docker exec`'s requests in `container` until
/// the deadline: create an exec instance of `true`, start it attached
/// without a TTY and without an upgrade (the Engine sends a 200 and the
/// output, and ends the response when the process ends), inspect it. A
/// cycle counts when the inspect shows exit code 0.
///
/// The Engine ends the start's response by closing the connection, so on
/// the direct socket each cycle opens a new unix connection after it (as
/// hyper would only find out by failing the next request, the framing
/// decides). dockgate sends the response chunked and keeps the client's
/// connection; it dials the Engine again for the next request, as it does
/// after an upgrade.
async fn exec_cycles(
    dialer: &Dialer,
    target: &Target,
    container: &str,
    duration: Duration,
) -> Result<Outcome, String> {
    const CREATE: &str = r#"{"AttachStdout":true,"AttachStderr":true,"Cmd":["true"]}"#;
    const START: &str = r#"{"Detach":false,"Tty":false}"#;
    let started = Instant::now();
    let deadline = started + duration;
    let create = format!("/v1.41/containers/{container}/exec");
    let mut sender = dialer.http(target).await?;
    let mut latencies = Vec::with_capacity(1 << 12);
    let mut creates = Vec::with_capacity(1 << 12);
    let mut errors = 0u64;
    let mut first_error = None;
    while Instant::now() < deadline && errors < MAX_ERRORS {
        let begun = Instant::now();
        let cycle = async {
            if sender.is_closed() {
                sender = dialer.http(target).await?;
            }
            let sent = Instant::now();
            let created = exchange_body(&mut sender, post_json(&create, CREATE)).await?;
            let create_ns = sent.elapsed().as_nanos() as u64;
            let id = match (created.status, json_string(&created.body, "Id")) {
                (StatusCode::CREATED, Some(id)) => id,
                (status, _) => {
                    return Err(format!("exec create answered {status}: {:?}", created.body))
                }
            };
            let start = format!("/v1.41/exec/{id}/start");
            let ran = exchange_body(&mut sender, post_json(&start, START)).await?;
            if ran.status != StatusCode::OK {
                return Err(format!("exec start answered {}", ran.status));
            }
            if ran.until_close {
                sender = dialer.http(target).await?;
            }
            let inspect = format!("/v1.41/exec/{id}/json");
            let inspected = exchange_body(&mut sender, get(&inspect)).await?;
            if inspected.status != StatusCode::OK || !contains(&inspected.body, br#""ExitCode":0"#)
            {
                return Err(format!(
                    "exec inspect answered {}: {:?}",
                    inspected.status, inspected.body
                ));
            }
            Ok(create_ns)
        };
        match cycle.await {
            Ok(create_ns) => {
                latencies.push(begun.elapsed().as_nanos() as u64);
                creates.push(create_ns);
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = &first_error {
        eprintln!(
            "{} exec: {errors} failed cycles, the first: {e}",
            target.name
        );
    }
    if latencies.is_empty() {
        return Err(format!("no exec cycle succeeded ({errors} errors)"));
    }
    let ops = latencies.len() as f64;
    Ok(Outcome {
        value: ops / started.elapsed().as_secs_f64(),
        ops,
        latencies_ns: latencies,
        create_latencies_ns: creates,
        errors,
    })
}

/// The string value of `"key":"..."` in a JSON object the Engine wrote
/// (compact, no escapes in IDs).
fn json_string(body: &[u8], key: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find(&format!("\"{key}\":\""))? + key.len() + 4;
    let len = text[start..].find('"')?;
    Some(text[start..start + len].to_owned())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `concurrency` workers, each opening a new connection (a full TLS
/// handshake for TLS targets) per `GET /_ping` with `Connection: close`.
async fn handshakes(
    dialer: &Dialer,
    target: &Target,
    concurrency: usize,
    duration: Duration,
) -> Result<Outcome, String> {
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = JoinSet::new();
    for _ in 0..concurrency {
        let (dialer, target) = (dialer.clone(), target.clone());
        workers.spawn(async move {
            let mut latencies = Vec::with_capacity(1 << 14);
            let mut errors = 0u64;
            while Instant::now() < deadline && errors < MAX_ERRORS {
                let opened = Instant::now();
                let once = async {
                    let mut sender = dialer.http(&target).await?;
                    let mut req = get("/_ping");
                    req.headers_mut().insert(
                        header::CONNECTION,
                        header::HeaderValue::from_static("close"),
                    );
                    exchange(&mut sender, req).await
                };
                match once.await {
                    Ok(StatusCode::OK) => latencies.push(opened.elapsed().as_nanos() as u64),
                    Ok(_) | Err(_) => errors += 1,
                }
            }
            Ok::<_, String>((latencies, errors))
        });
    }
    collect(workers, started).await
}

async fn collect(
    mut workers: JoinSet<Result<(Vec<u64>, u64), String>>,
    started: Instant,
) -> Result<Outcome, String> {
    let mut latencies_ns = Vec::new();
    let mut errors = 0;
    while let Some(joined) = workers.join_next().await {
        let (l, e) = joined.map_err(|e| e.to_string())??;
        latencies_ns.extend(l);
        errors += e;
    }
    let ops = latencies_ns.len() as f64;
    if ops == 0.0 {
        return Err(format!("no request succeeded ({errors} errors)"));
    }
    Ok(Outcome {
        value: ops / started.elapsed().as_secs_f64(),
        ops,
        latencies_ns,
        create_latencies_ns: Vec::new(),
        errors,
    })
}

const MIB: f64 = 1024.0 * 1024.0;

/// One `GET /bench/stream?bytes=N`, read to the end.
async fn download(dialer: &Dialer, target: &Target, bytes: u64) -> Result<Outcome, String> {
    let mut stream = dial(dialer, target).await?;
    let head = format!("GET /bench/stream?bytes={bytes} HTTP/1.1\r\nHost: docker\r\n\r\n");
    let started = Instant::now();
    let answer = raw::exchange(&mut stream, &head, 0)
        .await
        .map_err(|e| format!("download: {e}"))?;
    let secs = started.elapsed().as_secs_f64();
    if answer.status != 200 || answer.body_bytes != bytes {
        return Err(format!(
            "download: status {}, {} of {bytes} bytes",
            answer.status, answer.body_bytes
        ));
    }
    Ok(Outcome::throughput(bytes, secs))
}

/// One `POST /bench/upload` with an N-byte body; the engine answers with the count.
async fn upload(dialer: &Dialer, target: &Target, bytes: u64) -> Result<Outcome, String> {
    let mut stream = dial(dialer, target).await?;
    let head = format!(
        "POST /bench/upload HTTP/1.1\r\nHost: docker\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {bytes}\r\n\r\n"
    );
    let started = Instant::now();
    let answer = raw::exchange(&mut stream, &head, bytes)
        .await
        .map_err(|e| format!("upload: {e}"))?;
    let secs = started.elapsed().as_secs_f64();
    let counted = String::from_utf8_lossy(&answer.prefix)
        .trim()
        .parse::<u64>()
        .ok();
    if answer.status != 200 || counted != Some(bytes) {
        return Err(format!(
            "upload: status {}, engine counted {counted:?} of {bytes} bytes",
            answer.status
        ));
    }
    Ok(Outcome::throughput(bytes, secs))
}

async fn dial(dialer: &Dialer, target: &Target) -> Result<Stream, String> {
    dialer
        .stream(target)
        .await
        .map_err(|e| format!("{}: connect: {e}", target.name))
}

/// Opens `count` `GET /events` streams, waits for every response header,
/// then charges the growth of the target's RSS to them.
async fn idle(dialer: &Dialer, target: &Target, count: usize) -> Result<Outcome, String> {
    let before = procfs::rss_kib_sum(&target.pids);
    let gate = Arc::new(Semaphore::new(IDLE_OPEN_PARALLEL));
    let mut opening = JoinSet::new();
    for _ in 0..count {
        let (dialer, target, gate) = (dialer.clone(), target.clone(), Arc::clone(&gate));
        opening.spawn(async move {
            let permit = gate.acquire_owned().await.map_err(|e| e.to_string())?;
            let mut sender = dialer.http(&target).await?;
            sender.ready().await.map_err(|e| e.to_string())?;
            let response = sender
                .send_request(get("/events"))
                .await
                .map_err(|e| e.to_string())?;
            drop(permit);
            if response.status() != StatusCode::OK {
                return Err(format!("/events answered {}", response.status()));
            }
            Ok::<_, String>((sender, response))
        });
    }
    let mut open = Vec::with_capacity(count);
    let mut errors = 0u64;
    let mut first_error = None;
    while let Some(joined) = opening.join_next().await {
        match joined.map_err(|e| e.to_string())? {
            Ok(stream) => open.push(stream),
            Err(e) => {
                errors += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    if open.len() < count {
        return Err(format!(
            "only {} of {count} streams opened: {}",
            open.len(),
            first_error.unwrap_or_default()
        ));
    }
    // Let the servers settle (buffers allocated on first read, and so on).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = procfs::rss_kib_sum(&target.pids);
    drop(open);
    // Give the servers time to close their side before the next cell.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let per_conn = (after as f64 - before as f64) / count as f64;
    Ok(Outcome {
        value: per_conn,
        ops: count as f64,
        latencies_ns: Vec::new(),
        create_latencies_ns: Vec::new(),
        errors,
    })
}
