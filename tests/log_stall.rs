//! A log output that stops draining never stops the gateway. The real
//! binary runs with stderr on a one-page pipe that the test reads only when
//! it chooses, in front of the fake Engine: clients keep being served (or,
//! with `[log] audit = "required"`, are told why not), `/healthz` reports
//! the stall, SIGTERM still stops the process, what was dropped is counted
//! and then reported, and every line that reaches the pipe is whole.

mod support;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use support::fake_engine::FakeEngine;
use support::raw::{self, Conn};
use support::Pki;

const POLICY: &str = "[clients.ops]\npolicies = [\"p\"]\n[clients.other]\npolicies = [\"p\"]\n[policies.p]\nallow = [\"GET /_ping\"]\n";
const PING: &[u8] = b"GET /v1.41/_ping HTTP/1.1\r\nHost: x\r\n\r\n";
/// The smallest queue the config accepts, so a few dozen lines fill it.
const SMALL_QUEUE: &str = "queue_bytes = 16384\n";
/// Far more than the one-page pipe and the small queue hold; reaching it
/// without a drop means appending waits for the output.
const AT_MOST: usize = 20_000;

/// The real binary with its stderr on a pipe of one page.
struct Gateway {
    child: Child,
    addr: SocketAddr,
    metrics: SocketAddr,
    /// The pipe's read end, until the test starts reading it.
    log: Option<std::fs::File>,
    _dir: tempfile::TempDir,
}

/// Lines read from the log pipe so far, and the reader thread.
struct Reader {
    lines: Arc<Mutex<Vec<Vec<u8>>>>,
    thread: JoinHandle<()>,
}

impl Gateway {
    fn start(pki: &Pki, engine: &FakeEngine, log: &str, nonblocking: bool) -> Gateway {
        let (read, write) = pipe(nonblocking);
        Gateway::start_with(pki, engine, log, read, write, None)
    }

    /// Starts the binary with `write` as its stderr and `journal_stream`
    /// as its `JOURNAL_STREAM`.
    fn start_with(
        pki: &Pki,
        engine: &FakeEngine,
        log: &str,
        read: std::fs::File,
        write: OwnedFd,
        journal_stream: Option<String>,
    ) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let port = support::free_port();
        let metrics_port = loop {
            let p = support::free_port();
            if p != port {
                break p;
            }
        };
        let config = dir.path().join("dockgate.toml");
        std::fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:{port}\"\nupstream = \"{}\"\n{}\n[limits]\nshutdown_grace = \"2s\"\n[metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n[log]\nformat = \"json\"\n{log}{POLICY}",
                engine.path().display(),
                pki.tls_table()
            ),
        )
        .unwrap();
        // The command owns our copy of the write end; it goes when the
        // command does, so the reader sees EOF once the process exits.
        let mut command = Command::new(env!("CARGO_BIN_EXE_dockgate"));
        command
            .args(["serve", "--config"])
            .arg(&config)
            .env_remove("JOURNAL_STREAM")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(write));
        if let Some(stream) = journal_stream {
            command.env("JOURNAL_STREAM", stream);
        }
        let child = command.spawn().unwrap();
        drop(command);
        let gateway = Gateway {
            child,
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
            metrics: format!("127.0.0.1:{metrics_port}").parse().unwrap(),
            log: Some(read),
            _dir: dir,
        };
        support::eventually("the gateway listens", || {
            TcpStream::connect(gateway.addr).is_ok() && TcpStream::connect(gateway.metrics).is_ok()
        });
        gateway
    }

    fn http_get(&self, path: &str) -> String {
        support::http_get(self.metrics, path)
    }

    /// The value of an unlabelled counter on `/metrics`.
    fn counter(&self, name: &str) -> u64 {
        let text = self.http_get("/metrics");
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
            .trim()
            .parse()
            .unwrap()
    }

    fn dropped(&self) -> u64 {
        self.counter("dockgate_log_lines_dropped_total")
    }

    /// Starts reading the log pipe on a thread of its own.
    fn read_log(&mut self) -> Reader {
        let read = self.log.take().expect("read once");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let thread = std::thread::spawn({
            let lines = Arc::clone(&lines);
            move || {
                let mut read = BufReader::new(read);
                loop {
                    let mut line = Vec::new();
                    match read.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) => lines.lock().unwrap().push(line),
                    }
                }
            }
        });
        Reader { lines, thread }
    }

    /// SIGTERM, then waits (boundedly) for the process to exit.
    fn stop(&mut self) -> ExitStatus {
        // SAFETY: signals our own child.
        assert_eq!(
            unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) },
            0
        );
        let mut status = None;
        support::eventually_within(
            "the gateway exits on SIGTERM",
            Duration::from_secs(60),
            || {
                status = self.child.try_wait().unwrap();
                status.is_some()
            },
        );
        status.unwrap()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Reader {
    fn has_line(&self, needle: &str) -> bool {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| String::from_utf8_lossy(l).contains(needle))
    }

    /// Every line, once the process has exited and the pipe is closed;
    /// each must be whole (newline-terminated) JSON.
    fn finish(self) -> Vec<serde_json::Value> {
        self.thread.join().unwrap();
        let lines = Arc::try_unwrap(self.lines).unwrap().into_inner().unwrap();
        lines
            .iter()
            .map(|line| {
                let text = String::from_utf8_lossy(line);
                assert!(text.ends_with('\n'), "a torn line: {text:?}");
                serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("not a whole JSON line ({e}): {text:?}"))
            })
            .collect()
    }
}

/// A pipe of one page; its write end non-blocking when asked.
fn pipe(nonblocking: bool) -> (std::fs::File, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors that we then own.
    unsafe {
        assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0);
        assert!(libc::fcntl(fds[1], libc::F_SETPIPE_SZ, 4096) >= 4096);
        if nonblocking {
            assert_eq!(libc::fcntl(fds[1], libc::F_SETFL, libc::O_NONBLOCK), 0);
        }
        (
            std::fs::File::from_raw_fd(fds[0]),
            OwnedFd::from_raw_fd(fds[1]),
        )
    }
}

fn ping(conn: &mut Conn) -> u16 {
    conn.send(PING).expect("send");
    raw::status(&conn.read_response())
}

/// One request on a new connection (a full handshake) as `client`.
fn ping_new(gateway: &Gateway, pki: &Pki, client: &str) -> String {
    let mut conn = Conn::open(gateway.addr, raw::client_config(pki, Some(client))).expect("TLS");
    conn.send(PING).expect("send");
    conn.read_response()
}

/// Sends pings on one keep-alive connection, each answered 200, until the
/// log has dropped a line; returns how many were sent.
fn fill(gateway: &Gateway, conn: &mut Conn) -> usize {
    for sent in 1..=AT_MOST {
        assert_eq!(ping(conn), 200, "request {sent}");
        if sent % 50 == 0 && gateway.dropped() > 0 {
            return sent;
        }
    }
    panic!("{AT_MOST} requests and no log line dropped");
}

fn audit_lines(lines: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    lines
        .iter()
        .filter(|l| l["target"] == "dockgate::request::audit")
        .collect()
}

fn lost(lines: &[serde_json::Value]) -> u64 {
    lines.iter().filter_map(|l| l["lost"].as_u64()).sum()
}

#[test]
fn a_stalled_log_output_drops_and_counts_lines_while_clients_are_served() {
    let pki = Pki::new(&["ops", "other"]);
    let engine = FakeEngine::start();
    let mut gateway = Gateway::start(&pki, &engine, SMALL_QUEUE, false);
    let mut conn = Conn::open(gateway.addr, raw::client_config(&pki, Some("ops"))).unwrap();
    let mut sent = fill(&gateway, &mut conn);

    // Served on, on the same connection and on new ones (handshakes).
    for _ in 0..100 {
        assert_eq!(ping(&mut conn), 200);
    }
    for _ in 0..20 {
        let response = ping_new(&gateway, &pki, "other");
        assert_eq!(raw::status(&response), 200, "{response}");
    }
    sent += 120;
    support::eventually_within(
        "/healthz reports the stalled log",
        Duration::from_secs(60),
        || {
            let health = gateway.http_get("/healthz");
            health.starts_with("HTTP/1.1 503")
                && health.contains("the log output has taken nothing")
        },
    );
    assert!(gateway.dropped() > 0);

    let reader = gateway.read_log();
    support::eventually_within(
        "the lost lines are reported",
        Duration::from_secs(30),
        || reader.has_line("log lines lost"),
    );
    support::eventually("/healthz is healthy again", || {
        gateway.http_get("/healthz").starts_with("HTTP/1.1 200")
    });
    let dropped = gateway.dropped();
    assert_eq!(ping(&mut conn), 200);
    sent += 1;
    drop(conn);
    assert!(gateway.stop().success());
    let lines = reader.finish();
    // Nothing went missing unsaid: each request's line was written or
    // counted in a "lost" line, and those add up to the counter.
    assert_eq!(lost(&lines), dropped);
    assert_eq!(audit_lines(&lines).len() as u64 + dropped, sent as u64);
}

#[test]
fn sigterm_stops_the_gateway_while_its_log_output_is_stalled() {
    let pki = Pki::new(&["ops", "other"]);
    let engine = FakeEngine::start();
    let mut gateway = Gateway::start(&pki, &engine, SMALL_QUEUE, false);
    let mut conn = Conn::open(gateway.addr, raw::client_config(&pki, Some("ops"))).unwrap();
    fill(&gateway, &mut conn);
    drop(conn);
    assert!(gateway.stop().success());
    // The pipe holds what the output took before exit: whole lines only
    // (`finish` checks), the first of them from the start.
    let lines = gateway.read_log().finish();
    assert!(lines.iter().any(|l| l["message"] == "dockgate serving"));
}

#[test]
fn with_audit_required_requests_are_refused_while_audit_lines_cannot_be_queued() {
    let pki = Pki::new(&["ops", "other"]);
    let engine = FakeEngine::start();
    let log = format!("{SMALL_QUEUE}audit = \"required\"\n");
    let mut gateway = Gateway::start(&pki, &engine, &log, false);
    let mut conn = Conn::open(gateway.addr, raw::client_config(&pki, Some("ops"))).unwrap();
    let mut served = 0u64;
    let refusal = loop {
        conn.send(PING).unwrap();
        let response = conn.read_response();
        match raw::status(&response) {
            200 => served += 1,
            503 => break response,
            _ => panic!("{response}"),
        }
        assert!(served < AT_MOST as u64, "never refused");
    };
    let body = &refusal[refusal.find("\r\n\r\n").unwrap() + 4..];
    let message: serde_json::Value = serde_json::from_str(body).unwrap();
    assert!(
        message["message"]
            .as_str()
            .unwrap()
            .contains("audits every request and its audit log cannot take more lines"),
        "{refusal}"
    );
    // Refused before anything reaches the Engine, on new connections too.
    let reached = engine.request_count();
    assert_eq!(ping(&mut conn), 503);
    assert_eq!(raw::status(&ping_new(&gateway, &pki, "other")), 503);
    assert_eq!(engine.request_count(), reached);
    assert_eq!(reached as u64, served);

    let reader = gateway.read_log();
    support::eventually_within(
        "requests are served once the log drains",
        Duration::from_secs(30),
        || {
            let ok = ping(&mut conn) == 200;
            served += u64::from(ok);
            ok
        },
    );
    drop(conn);
    assert!(gateway.stop().success());
    let lines = reader.finish();
    // Every request that was forwarded has its audit line.
    let allowed = audit_lines(&lines)
        .iter()
        .filter(|l| l["decision"] == "allow")
        .count() as u64;
    assert_eq!(allowed, served);
    assert_eq!(engine.request_count() as u64, served);
}

#[test]
fn short_writes_to_a_nonblocking_pipe_read_late_lose_and_tear_nothing() {
    let pki = Pki::new(&["ops"]);
    let engine = FakeEngine::start();
    // The default queue holds every line; the one-page pipe does not, so
    // the gateway meets EAGAIN and short writes until the test reads.
    let mut gateway = Gateway::start(&pki, &engine, "", true);
    let mut conn = Conn::open(gateway.addr, raw::client_config(&pki, Some("ops"))).unwrap();
    let sent = 300;
    for _ in 0..sent {
        assert_eq!(ping(&mut conn), 200);
    }
    drop(conn);
    assert_eq!(gateway.dropped(), 0);
    let reader = gateway.read_log();
    assert!(gateway.stop().success());
    let lines = reader.finish();
    assert_eq!(audit_lines(&lines).len(), sent);
    assert_eq!(lost(&lines), 0);
    assert!(lines.iter().any(|l| l["message"] == "dockgate stopped"));
}

#[test]
fn under_journald_each_line_carries_its_priority() {
    use std::os::unix::fs::MetadataExt;
    let pki = Pki::new(&["ops"]);
    let engine = FakeEngine::start();
    // A stream socket, as systemd connects stderr to journald, named by
    // its device and inode in JOURNAL_STREAM.
    let (theirs, ours) = std::os::unix::net::UnixStream::pair().unwrap();
    let meta = std::fs::File::from(OwnedFd::from(theirs.try_clone().unwrap()))
        .metadata()
        .unwrap();
    let stream = format!("{}:{}", meta.dev(), meta.ino());
    let read = std::fs::File::from(OwnedFd::from(ours));
    let mut gateway =
        Gateway::start_with(&pki, &engine, "", read, OwnedFd::from(theirs), Some(stream));
    let reader = gateway.read_log();
    let response = ping_new(&gateway, &pki, "ops");
    assert_eq!(raw::status(&response), 200, "{response}");
    // No certificate: a failed handshake, logged as a warning.
    assert!(raw::refused_at_handshake(
        gateway.addr,
        raw::client_config(&pki, None)
    ));
    support::eventually("the audit line arrives", || {
        reader.has_line("dockgate::request::audit")
    });
    assert!(gateway.stop().success());
    reader.thread.join().unwrap();
    let lines: Vec<String> = reader
        .lines
        .lock()
        .unwrap()
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    let with = |prefix: &str, needle: &str| {
        lines
            .iter()
            .any(|l| l.starts_with(prefix) && l.contains(needle))
    };
    assert!(with("<6>{", "\"dockgate serving\""), "{lines:#?}");
    assert!(with("<6>{", "\"dockgate::request::audit\""), "{lines:#?}");
    assert!(with("<4>{", "TLS handshake failed"), "{lines:#?}");
    for line in &lines {
        let json = line
            .strip_prefix(|c| c == '<')
            .and_then(|rest| rest.split_once('>'))
            .map(|(_, json)| json)
            .unwrap_or_else(|| panic!("no priority: {line:?}"));
        serde_json::from_str::<serde_json::Value>(json).unwrap();
    }
}
