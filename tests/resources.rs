//! The bounded-resource measurement: under 1000 stalled TLS handshakes and
//! 1000 slowloris connections the gateway keeps serving other clients, and
//! its memory grows by a bounded amount per connection. And the open-file
//! limit: the gateway raises its soft limit to the hard one at start, and
//! says so when `max_connections` does not fit.
//!
//! The gateway runs as the real `dockgate serve` binary so that its resident
//! memory (`VmRSS` in `/proc/PID/status`) is its own and not the test's. The
//! assertion is a memory bound, not a timing one; the numbers are printed so
//! they can be quoted.

mod support;

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::fake_engine::FakeEngine;
use support::raw::{self, Conn};
use support::Pki;

/// Connections of each kind held open at once.
const EACH: usize = 1000;
/// Generous: a TLS session, an HTTP/1.1 read buffer and a task per connection fit well under this.
const MAX_BYTES_PER_CONNECTION: u64 = 64 * 1024;

/// The gateway process; killed and reaped when the test ends either way.
struct Served(std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Resident memory of `pid` in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS line");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Runs `dockgate serve --config CONFIG` and waits until it listens on `addr`.
fn serve(mut command: Command, config: &Path, addr: SocketAddr) -> Served {
    let mut served = Served(
        command
            .arg("serve")
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn dockgate serve"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(addr).is_err() {
        assert!(
            served.0.try_wait().unwrap().is_none(),
            "dockgate serve exited"
        );
        assert!(
            Instant::now() < deadline,
            "dockgate serve never listened on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    served
}

fn ping(addr: SocketAddr, pki: &Pki) -> u16 {
    raw::status(&raw::exchange(
        addr,
        pki,
        "alice",
        b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ))
}

#[test]
fn thousands_of_stalled_clients_leave_others_served_and_memory_bounded() {
    let files = support::raise_open_file_limit(4 * EACH as u64 + 1024);
    assert!(
        files >= 2 * EACH as u64 + 256,
        "the open-file limit ({files}) is too low for this test"
    );
    let pki = Pki::new(&["alice", "slow"]);
    let engine = FakeEngine::start();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("dockgate.toml");
    // Timeouts far beyond the test, so every attacker is still open when measured.
    let text = format!(
        "listen = \"{addr}\"\nupstream = \"{}\"\n{}\n\
         [clients.alice]\npolicies = [\"read\"]\n[clients.slow]\npolicies = [\"read\"]\n\
         [policies.read]\nallow = [\"GET /_ping\"]\n\
         [limits]\nhandshake_timeout = \"300s\"\nrequest_header_timeout = \"300s\"\nshutdown_grace = \"1s\"\n\
         max_connections = {}\nmax_connections_per_client = {}\n\
         max_handshakes = {}\nmax_handshakes_per_address = {}\n\
         [log]\nlevel = \"error\"\n",
        engine.path().display(),
        pki.tls_table(),
        4 * EACH,
        4 * EACH,
        // Every stalled handshake comes from this one address; here they
        // are to be held, to measure what each costs.
        2 * EACH,
        2 * EACH,
    );
    std::fs::write(&config, text).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_dockgate"));
    command.stderr(Stdio::inherit());
    let mut served = serve(command, &config, addr);
    let pid = served.0.id();

    // Warm up allocator arenas and the upstream pool before the baseline.
    for _ in 0..20 {
        assert_eq!(ping(addr, &pki), 200);
    }
    std::thread::sleep(Duration::from_millis(300));
    let baseline = rss_kib(pid);

    let started = Instant::now();
    let stalled: Vec<TcpStream> = (0..EACH)
        .map(|_| TcpStream::connect(addr).expect("stalled connection"))
        .collect();
    let tls = raw::client_config(&pki, Some("slow"));
    let mut slow: Vec<Conn> = (0..EACH)
        .map(|i| {
            let mut conn = Conn::open(addr, tls.clone())
                .unwrap_or_else(|e| panic!("slowloris connection {i}: {e}"));
            conn.send(b"GET /_ping HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
            conn
        })
        .collect();
    let opened = started.elapsed();
    // Slowloris: a byte at a time, to every connection, a few times over.
    for _ in 0..5 {
        for conn in &mut slow {
            conn.send(b"a")
                .expect("a slowloris connection was closed early");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Meanwhile, others are served.
    let status = ping(addr, &pki);
    std::thread::sleep(Duration::from_millis(300));
    let loaded = rss_kib(pid);

    // Every attacker is still open (none was dropped to make room).
    for conn in &mut slow {
        conn.send(b"a").expect("a slowloris connection was closed");
    }
    let mut probe = [0u8; 1];
    let mut still_open = 0;
    for tcp in &stalled {
        tcp.set_read_timeout(Some(Duration::from_millis(1)))
            .unwrap();
        if let Err(e) = (&*tcp).read(&mut probe) {
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) {
                still_open += 1;
            }
        }
    }

    let connections = 2 * EACH as u64;
    let growth = loaded.saturating_sub(baseline);
    let per_connection = growth * 1024 / connections;
    eprintln!(
        "resources: {EACH} stalled handshakes + {EACH} slowloris connections opened in {opened:.1?}; \
         gateway VmRSS {baseline} KiB before, {loaded} KiB with all open: +{growth} KiB, \
         {per_connection} bytes per connection (bound {MAX_BYTES_PER_CONNECTION}); \
         /_ping meanwhile: {status}; stalled still open: {still_open}/{EACH}"
    );
    assert_eq!(status, 200, "a legitimate client was not served under load");
    assert_eq!(
        still_open, EACH,
        "stalled handshakes were closed before their timeout"
    );
    assert!(
        per_connection < MAX_BYTES_PER_CONNECTION,
        "{per_connection} bytes of gateway memory per idle connection (bound {MAX_BYTES_PER_CONNECTION})"
    );
    assert_eq!(
        engine.request_count(),
        21,
        "only the legitimate pings reached the Engine"
    );
    drop(slow);
    drop(stalled);
    assert_eq!(ping(addr, &pki), 200);
    served.0.kill().unwrap();
}

/// The soft and hard open-file limits of `pid`, from /proc/PID/limits.
fn open_file_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a Max open files line");
    let mut fields = line["Max open files".len()..].split_whitespace();
    (
        fields.next().unwrap().to_owned(),
        fields.next().unwrap().to_owned(),
    )
}

/// Starts the gateway with its open-file limit set to `soft` and `hard`
/// before it runs, its log in a file; returns the process and the log path.
fn serve_with_open_files(
    soft: u64,
    hard: u64,
    max_connections: usize,
    more: &str,
) -> (Served, tempfile::TempDir, Pki, FakeEngine, SocketAddr) {
    let pki = Pki::new(&["alice"]);
    let engine = FakeEngine::start();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dockgate.toml");
    let text = format!(
        "listen = \"{addr}\"\nupstream = \"{}\"\n{}\n\
         [clients.alice]\npolicies = [\"read\"]\n[policies.read]\nallow = [\"GET /_ping\"]\n\
         [log]\nlevel = \"info\"\n\
         [limits]\nshutdown_grace = \"1s\"\nmax_connections = {max_connections}\n{more}",
        engine.path().display(),
        pki.tls_table(),
    );
    std::fs::write(&config, text).unwrap();
    let log = std::fs::File::create(dir.path().join("stderr")).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_dockgate"));
    command.stderr(log);
    // SAFETY: setrlimit is async-signal-safe and touches only the child.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: soft,
                rlim_max: hard,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let served = serve(command, &config, addr);
    (served, dir, pki, engine, addr)
}

/// Waits until the gateway's log (written in batches) holds `text`.
fn log_shows(dir: &Path, text: &str) -> String {
    let mut log = String::new();
    support::eventually(&format!("the log shows {text:?}"), || {
        log = std::fs::read_to_string(dir.join("stderr")).unwrap();
        log.contains(text)
    });
    log
}

#[test]
fn the_soft_open_file_limit_is_raised_to_the_hard_one_at_start() {
    let mut hard = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct passed.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut hard) },
        0
    );
    let hard = hard.rlim_max.min(1 << 20);
    assert!(
        hard > 256,
        "the hard open-file limit ({hard}) leaves nothing to raise"
    );
    let (served, dir, pki, _engine, addr) = serve_with_open_files(256, hard, 64, "");
    let (soft, reported_hard) = open_file_limits(served.0.id());
    assert_eq!(reported_hard, hard.to_string());
    assert_eq!(soft, reported_hard, "the soft limit was not raised");
    let log = log_shows(dir.path(), "open-file limit");
    assert!(!log.contains("below what max_connections needs"), "{log}");
    assert_eq!(ping(addr, &pki), 200);
}

#[test]
fn a_max_connections_the_open_file_limit_cannot_hold_is_warned_about() {
    let (served, dir, pki, _engine, addr) = serve_with_open_files(512, 512, 4096, "");
    assert_eq!(
        open_file_limits(served.0.id()),
        ("512".to_owned(), "512".to_owned())
    );
    let log = log_shows(dir.path(), "below what max_connections needs");
    assert!(log.contains("needed=8256"), "{log}");
    // (512 - 64 kept aside) / 2 per connection.
    assert!(log.contains("accepting=224"), "{log}");
    // It still serves, within what it has.
    assert_eq!(ping(addr, &pki), 200);
}

/// CPU time `pid` has used, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// A plain TCP connection to `to` from `source` (a 127.0.0.x address).
fn connect_from(source: std::net::Ipv4Addr, to: SocketAddr) -> TcpStream {
    let SocketAddr::V4(to) = to else {
        panic!("IPv4 only")
    };
    let sockaddr = |ip: std::net::Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let (from, to) = (sockaddr(source, 0), sockaddr(*to.ip(), to.port()));
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: plain socket calls on a descriptor this function owns.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let tcp = <TcpStream as std::os::fd::FromRawFd>::from_raw_fd(fd);
        assert_eq!(libc::bind(fd, (&raw const from).cast(), len), 0);
        assert_eq!(libc::connect(fd, (&raw const to).cast(), len), 0);
        tcp
    }
}

fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    std::io::Write::write_all(
        &mut tcp,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let mut out = String::new();
    let _ = tcp.read_to_string(&mut out);
    out
}

#[test]
fn floods_within_a_small_open_file_limit_neither_exhaust_it_nor_spin() {
    const FLOOD: usize = 600;
    support::raise_open_file_limit(4 * FLOOD as u64 + 1024);
    let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    // 300 descriptors hold (300 - 64) / 2 = 118 connections, far below
    // max_connections, and handshakes in proportion (59): the flood's 50
    // addresses, one handshake each, leave room for alice's.
    let (served, dir, pki, _engine, addr) = serve_with_open_files(
        300,
        300,
        4096,
        &format!("max_handshakes = 2048\nmax_handshakes_per_address = 1\n[metrics]\nlisten = \"{metrics}\"\n"),
    );
    let pid = served.0.id();
    log_shows(dir.path(), "accepting=118");
    assert!(http_get(metrics, "/healthz").starts_with("HTTP/1.1 200"));

    // The baseline: what the gateway uses holding nothing, for a while.
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(1));
    let idle = cpu_ticks(pid) - before;

    // Idle connections to both listeners, each flood twice what the
    // descriptors could hold, from several addresses.
    let mut flood = Vec::new();
    for i in 0..FLOOD {
        flood.push(TcpStream::connect(metrics).unwrap());
        let source = std::net::Ipv4Addr::new(127, 0, 1, (i % 50) as u8 + 2);
        flood.push(connect_from(source, addr));
    }
    // While they are held: one more client is answered on each listener.
    let health = http_get(metrics, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert_eq!(ping(addr, &pki), 200);
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(1));
    let flooded = cpu_ticks(pid) - before;

    let exposition = http_get(metrics, "/metrics");
    let log = std::fs::read_to_string(dir.path().join("stderr")).unwrap();
    eprintln!(
        "resources: {FLOOD} idle connections to each listener under a 300-descriptor limit: \
         CPU ticks over a second held {flooded} (idle baseline {idle}); \
         {} metrics connections closed for newer ones",
        exposition
            .lines()
            .find(|l| l.contains("reason=\"metrics_idle_closed\""))
            .unwrap_or("none")
    );
    assert!(
        !log.contains("accept failed"),
        "the descriptors ran out:\n{log}"
    );
    // A loop retrying a failed accept at once would use the whole second.
    assert!(flooded <= idle + 20, "{flooded} ticks held, {idle} idle");
    drop(flood);
}
