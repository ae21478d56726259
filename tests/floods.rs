//! Floods that cost their sender nothing are cheap to refuse and do not
//! keep authenticated clients out: connections that never start a TLS
//! handshake hold only handshake slots, one source address only its share
//! of them, and their refusals are logged as counts while the metrics
//! count each; a made-up chain longer than the CA set allows is refused
//! before any signature is checked; a reload that changes no TLS file
//! does not verify open connections again; a burst of SIGHUPs is at most
//! two reloads.

mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::FromRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use support::fake_engine::FakeEngine;
use support::process::{self, Served};
use support::raw::{self, Conn};
use support::{config_text, eventually, free_port, Gateway, Pki};

const PING: &[u8] = b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n";
const PING_CLOSE: &[u8] = b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

const CLIENTS: &str = "[clients.alice]\npolicies = [\"p\"]\n[clients.bob]\npolicies = [\"p\"]\n\
                       [policies.p]\nallow = [\"GET /_ping\"]\n";

/// A TCP connection to `to` from `source` (any 127.0.0.x is this machine),
/// that sends nothing.
fn connect_from(source: Ipv4Addr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let SocketAddr::V4(to) = to else {
        panic!("IPv4 only")
    };
    let sockaddr = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let (from, to) = (sockaddr(source, 0), sockaddr(*to.ip(), to.port()));
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: plain socket calls on a descriptor this function owns; the
    // addresses live on this stack frame for the calls' duration.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let tcp = TcpStream::from_raw_fd(fd);
        if libc::bind(fd, (&raw const from).cast(), len) != 0
            || libc::connect(fd, (&raw const to).cast(), len) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
        Ok(tcp)
    }
}

/// Whether the gateway closed `tcp` (it was refused); `false` while open.
fn closed(tcp: &TcpStream) -> bool {
    tcp.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    match (&*tcp).read(&mut byte) {
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
        Ok(n) => n == 0,
    }
}

/// The metrics listener's answer to `GET path`.
fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut tcp = TcpStream::connect(addr).expect("metrics listener");
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = tcp.read_to_string(&mut out);
    out
}

/// A counter's value in a Prometheus text exposition (0 when absent).
fn counter(exposition: &str, series: &str) -> u64 {
    exposition
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

fn refused(exposition: &str, reason: &str) -> u64 {
    counter(
        exposition,
        &format!("dockgate_refused_connections_total{{reason=\"{reason}\"}} "),
    )
}

/// The refusal lines of a log for `reason`, and the counts they carry.
fn refusal_lines(log: &str, reason: &str) -> (usize, u64) {
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.contains("connections in the last") && l.contains(&format!("reason=\"{reason}\""))
        })
        .collect();
    let total = lines
        .iter()
        .map(|l| {
            let n = l
                .split("refused=")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap();
            n.parse::<u64>().unwrap()
        })
        .sum();
    (lines.len(), total)
}

#[test]
fn silent_connections_hold_only_their_addresses_share_of_handshakes_and_refusals_are_counted() {
    const ADDRESSES: u8 = 6;
    const EACH: usize = 400;
    const PER_ADDRESS: usize = 16;
    support::raise_open_file_limit(ADDRESSES as u64 * EACH as u64 + 1024);
    let pki = Pki::new(&["alice", "bob"]);
    let engine = FakeEngine::start();
    let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let text = config_text(
        &pki,
        engine.path(),
        &format!(
            "{CLIENTS}[limits]\nshutdown_grace = \"1s\"\nhandshake_timeout = \"300s\"\n\
             max_connections = 600\nmax_handshakes = 128\nmax_handshakes_per_address = {PER_ADDRESS}\n\
             [metrics]\nlisten = \"{metrics}\"\n"
        ),
    );
    let mut served: Served = process::serve(&text);
    let addr = served.addr;

    // Without a flood: served, and nothing refused or logged as refused.
    let mut alice = Conn::open(addr, raw::client_config(&pki, Some("alice"))).unwrap();
    alice.send(PING).unwrap();
    assert_eq!(raw::status(&alice.read_response()), 200);
    assert_eq!(
        refused(&http_get(metrics, "/metrics"), "max_handshakes_per_address"),
        0
    );
    assert!(!served.log().contains("connections in the last"));

    let started = Instant::now();
    let mut flood = Vec::new();
    for a in 2..2 + ADDRESSES {
        let source = Ipv4Addr::new(127, 0, 0, a);
        for _ in 0..EACH {
            flood.push(connect_from(source, addr).expect("connect"));
        }
    }
    // Each address holds its share; every other connection is closed.
    let held = ADDRESSES as usize * PER_ADDRESS;
    let expected_refused = flood.len() - held;
    eventually("the flood's excess is closed", || {
        flood.iter().filter(|t| closed(t)).count() == expected_refused
    });
    let exposition = http_get(metrics, "/metrics");
    assert_eq!(
        refused(&exposition, "max_handshakes_per_address") as usize,
        expected_refused,
        "{exposition}"
    );
    assert_eq!(refused(&exposition, "max_connections"), 0);

    // Meanwhile, alice is served on her open connection and on new ones.
    alice.send(PING).unwrap();
    assert_eq!(raw::status(&alice.read_response()), 200);
    for _ in 0..5 {
        let response = raw::exchange(addr, &pki, "alice", PING_CLOSE);
        assert_eq!(raw::status(&response), 200, "{response}");
    }
    // The held ones are still open, each still a handshake in progress.
    assert_eq!(flood.iter().filter(|t| !closed(t)).count(), held);

    drop(alice);
    let (status, log) = served.stop();
    let elapsed = started.elapsed();
    assert!(status.success(), "{status}\n{log}");
    // A line at the first refusal, one per interval, and one at the stop:
    // the counts in them add up to every refusal.
    let (lines, total) = refusal_lines(&log, "max_handshakes_per_address");
    let bound = 2 + elapsed.as_secs() as usize / 10 + 1;
    eprintln!(
        "floods: {} silent connections from {ADDRESSES} addresses, {held} held, \
         {expected_refused} refused; {lines} refusal log lines counting {total}",
        flood.len()
    );
    assert_eq!(total as usize, expected_refused, "{log}");
    assert!(
        lines <= bound,
        "{lines} refusal lines (bound {bound}):\n{log}"
    );
    assert_eq!(
        engine.request_count(),
        7,
        "only alice's pings reached the Engine"
    );
}

#[test]
fn without_a_handshake_share_silent_connections_lock_clients_out() {
    // The fault the shares remove: when silent connections may take every
    // connection, an authenticated client gets a bare close.
    let pki = Pki::new(&["alice"]);
    let engine = FakeEngine::start();
    let limits = |handshakes: usize, per_address: usize| {
        format!(
            "{}[limits]\nshutdown_grace = \"1s\"\nhandshake_timeout = \"300s\"\n\
             max_connections = 32\nmax_handshakes = {handshakes}\nmax_handshakes_per_address = {per_address}\n",
            CLIENTS.replace("[clients.bob]\npolicies = [\"p\"]\n", "")
        )
    };
    for (handshakes, per_address, locked_out) in [(32, 32, true), (16, 8, false)] {
        let gateway = Gateway::start(&pki, engine.path(), &limits(handshakes, per_address));
        let silent: Vec<TcpStream> = (0..32)
            .map(|_| connect_from(Ipv4Addr::new(127, 0, 0, 2), gateway.addr).unwrap())
            .collect();
        eventually("the silent connections are taken or closed", || {
            silent.iter().filter(|t| closed(t)).count() == 32 - per_address
        });
        assert_eq!(
            raw::refused_at_handshake(gateway.addr, raw::client_config(&pki, Some("alice"))),
            locked_out,
            "max_handshakes = {handshakes}"
        );
        gateway.stop();
    }
    assert_eq!(engine.request_count(), 1);
}

/// Ten self-signed certificates, the first presented as the leaf.
fn made_up_chain() -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let mut chain = Vec::new();
    let mut leaf_key = None;
    for i in 0..10 {
        let certified = rcgen::generate_simple_self_signed(vec![format!("c{i}.example")]).unwrap();
        chain.push(certified.cert.der().clone());
        if i == 0 {
            leaf_key = Some(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                certified.signing_key.serialize_der(),
            )));
        }
    }
    (chain, leaf_key.unwrap())
}

fn client_with_chain(
    pki: &Pki,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(pki.path().join("ca.pem")).unwrap();
    for der in rustls_pemfile_certs(&ca) {
        roots.add(der).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

fn rustls_pemfile_certs(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem)
        .map(Result::unwrap)
        .collect()
}

fn handshake_failures(reason: &str) -> u64 {
    counter(
        &dockgate::run::metrics::render(),
        &format!("dockgate_handshake_failures_total{{reason=\"{reason}\"}} "),
    )
}

#[test]
fn a_long_made_up_chain_is_refused_as_too_long() {
    let pki = Pki::new(&["alice"]);
    let engine = FakeEngine::start();
    let gateway = Gateway::start(&pki, engine.path(), CLIENTS);
    let before = handshake_failures("chain_too_long");

    let (chain, key) = made_up_chain();
    assert!(raw::refused_at_handshake(
        gateway.addr,
        client_with_chain(&pki, chain, key)
    ));
    eventually("the refusal is counted", || {
        handshake_failures("chain_too_long") == before + 1
    });
    assert_eq!(
        engine.request_count(),
        0,
        "the Engine saw the made-up client"
    );

    // alice's own chain passes, and so does alice's with the CA sent along.
    let dir = pki.client_dir("alice");
    let alice = rustls_pemfile_certs(&std::fs::read(dir.join("cert.pem")).unwrap());
    let ca = rustls_pemfile_certs(&std::fs::read(pki.path().join("ca.pem")).unwrap());
    let key = || {
        use rustls::pki_types::pem::PemObject;
        PrivateKeyDer::from_pem_file(dir.join("key.pem")).unwrap()
    };
    for chain in [alice.clone(), [alice.clone(), ca.clone()].concat()] {
        let mut conn = Conn::open(gateway.addr, client_with_chain(&pki, chain, key())).unwrap();
        conn.send(PING_CLOSE).unwrap();
        assert_eq!(raw::status(&conn.read_to_close()), 200);
    }
    // One certificate more than that is too long, valid or not.
    let chain = [alice, ca.clone(), ca].concat();
    assert!(raw::refused_at_handshake(
        gateway.addr,
        client_with_chain(&pki, chain, key())
    ));
    eventually("the refusal is counted", || {
        handshake_failures("chain_too_long") == before + 2
    });
    assert_eq!(engine.request_count(), 2);
}

fn reverifications() -> u64 {
    counter(
        &dockgate::run::metrics::render(),
        "dockgate_certificate_reverifications_total ",
    )
}

#[test]
fn a_reload_that_changes_no_tls_file_does_not_verify_open_connections_again() {
    let pki = Pki::new(&["alice", "bob"]);
    let engine = FakeEngine::start();
    let gateway = Gateway::start(&pki, engine.path(), CLIENTS);
    let mut conns: Vec<Conn> = (0..4)
        .map(|_| Conn::open(gateway.addr, raw::client_config(&pki, Some("alice"))).unwrap())
        .collect();
    let mut bob = Conn::open(gateway.addr, raw::client_config(&pki, Some("bob"))).unwrap();
    for conn in conns.iter_mut().chain([&mut bob]) {
        conn.send(PING).unwrap();
        assert_eq!(raw::status(&conn.read_response()), 200);
    }
    let before = reverifications();

    for _ in 0..5 {
        gateway.control.reload().expect("reload");
    }
    for conn in conns.iter_mut().chain([&mut bob]) {
        conn.send(PING).unwrap();
        assert_eq!(raw::status(&conn.read_response()), 200);
    }
    assert_eq!(
        reverifications(),
        before,
        "an unchanged CA and CRL were verified against again"
    );

    // A new CRL: every open connection is verified again, and bob's closes.
    pki.revoke("bob");
    gateway.control.reload().expect("reload");
    eventually("every open connection is verified again", || {
        reverifications() == before + 4
    });
    assert!(bob.closed_by_server());
    for conn in &mut conns {
        conn.send(PING).unwrap();
        assert_eq!(raw::status(&conn.read_response()), 200);
    }
    assert_eq!(engine.request_count(), 5 + 5 + 4);
}

/// Whether `pid` has signal `sig` pending, i.e. not yet delivered.
fn signal_pending(pid: libc::pid_t, sig: libc::c_int) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .filter(|l| l.starts_with("ShdPnd:") || l.starts_with("SigPnd:"))
        .any(|l| {
            let mask = u64::from_str_radix(l.split_whitespace().nth(1).unwrap(), 16).unwrap();
            mask & (1 << (sig - 1)) != 0
        })
}

#[test]
fn a_burst_of_sighups_during_a_reload_is_one_more_reload() {
    let pki = Pki::new(&["alice", "bob"]);
    let engine = FakeEngine::start();
    let text = config_text(&pki, engine.path(), CLIENTS);
    let mut served = process::serve(&text);
    let pid = served.pid();
    let reloads = |log: &str| log.matches("configuration reloaded").count();

    // The config becomes a FIFO, so the first reload waits inside its read
    // until the test writes it, while the burst arrives.
    let fifo = served.config.with_extension("fifo");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo only reads the NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    std::fs::rename(&fifo, &served.config).unwrap();
    process::kill(pid, libc::SIGHUP);
    let mut writer = None;
    eventually("the reload opens the config", || {
        writer = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&served.config)
            .ok();
        writer.is_some()
    });
    for _ in 0..49 {
        process::kill(pid, libc::SIGHUP);
    }
    eventually("the burst is delivered", || {
        !signal_pending(pid, libc::SIGHUP)
    });
    let file = served.config.with_extension("new");
    std::fs::write(&file, &text).unwrap();
    writer.unwrap().write_all(text.as_bytes()).unwrap();
    std::fs::rename(&file, &served.config).unwrap();

    // Each reload ends with READY=1; wait for the burst's to end.
    let mut ready = 0;
    eventually("the reloads end", || {
        ready += served
            .notifications()
            .iter()
            .filter(|n| *n == "READY=1")
            .count();
        ready >= 2 && reloads(&served.log()) >= 2
    });
    // One more reload after the burst is its own.
    assert_eq!(served.reload(), process::Reloaded::Applied);
    let (status, log) = served.stop();
    assert!(status.success(), "{status}\n{log}");
    assert_eq!(reloads(&log), 3, "50 SIGHUPs, then one:\n{log}");
}
