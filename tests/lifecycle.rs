//! Running as a service: reloads under load, revocation closing live
//! connections, broken reloads that change nothing, graceful stop, and the
//! systemd notification protocol spoken by the real binary.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::fake_engine::FakeEngine;
use support::raw::{self, Conn};
use support::{eventually, Gateway, Pki};

fn policy(watcher_rules: &str) -> String {
    format!(
        r#"
[clients.watcher]
policies = ["watch"]

[clients.worker]
policies = ["work"]

[policies.watch]
allow = [{watcher_rules}]
# The fake Engine's fault routes are not Engine API routes.
grants = {{ unknown_routes = true }}

[policies.work]
allow = ["GET /_ping", "GET /info", "GET /version"]
"#
    )
}

fn open_events(gateway: &Gateway, pki: &Pki, client: &str) -> Conn {
    let mut conn = Conn::open(gateway.addr, raw::client_config(pki, Some(client))).unwrap();
    conn.send(b"GET /v1.41/events HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 512];
    let n = conn.tls.read(&mut buf).unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "events stream did not open"
    );
    conn
}

/// Whether the server closed `conn` (EOF or error) within a generous bound.
fn closed_by_server(conn: &mut Conn) -> bool {
    conn.tls
        .sock
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.closed_by_server()
}

#[test]
fn a_reload_under_load_drops_nothing_and_applies_to_the_next_request() {
    let pki = Pki::new(&["watcher", "worker"]);
    let engine = FakeEngine::start();
    let gateway = Gateway::start(&pki, engine.path(), &policy(r#""GET /events""#));
    let mut stream = open_events(&gateway, &pki, "watcher");

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load = {
        let (stop, ok, failed) = (Arc::clone(&stop), Arc::clone(&ok), Arc::clone(&failed));
        let config = raw::client_config(&pki, Some("worker"));
        let addr = gateway.addr;
        std::thread::spawn(move || {
            // One keep-alive connection, requests back to back.
            let mut conn = Conn::open(addr, config).unwrap();
            for _ in 0..100_000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let sent = conn.send(b"GET /v1.41/_ping HTTP/1.1\r\nHost: x\r\n\r\n");
                let response = conn.read_response();
                if sent.is_ok() && raw::status(&response) == 200 {
                    ok.fetch_add(1, Ordering::SeqCst);
                } else {
                    failed.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
    };
    eventually("load is flowing", || ok.load(Ordering::SeqCst) > 50);

    // The watcher's policy changes; the worker's does not.
    gateway
        .rewrite(
            &pki,
            engine.path(),
            &policy(r#""GET /events", "GET /info""#),
        )
        .unwrap();
    let before = ok.load(Ordering::SeqCst);
    eventually("load keeps flowing after the reload", || {
        ok.load(Ordering::SeqCst) > before + 50
    });
    stop.store(true, Ordering::SeqCst);
    load.join().unwrap();
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "requests failed across the reload"
    );

    // The open stream survived and still flows.
    assert!(
        stream.still_open(),
        "the event stream was closed by the reload"
    );
    assert_eq!(engine.open_streams(), 1);

    // The next request on an existing keep-alive connection sees the new policy.
    let mut conn = Conn::open(gateway.addr, raw::client_config(&pki, Some("watcher"))).unwrap();
    conn.send(b"GET /info HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(raw::status(&conn.read_response()), 200);
    gateway
        .rewrite(&pki, engine.path(), &policy(r#""GET /events""#))
        .unwrap();
    conn.send(b"GET /info HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(raw::status(&conn.read_response()), 403);
}

#[test]
fn revoking_a_client_closes_its_keep_alive_connection_and_its_stream() {
    let pki = Pki::new(&["watcher", "worker"]);
    let engine = FakeEngine::start();
    let gateway = Gateway::start(
        &pki,
        engine.path(),
        &policy(r#""GET /events", "GET /_ping""#),
    );
    let mut stream = open_events(&gateway, &pki, "watcher");
    let mut keep_alive =
        Conn::open(gateway.addr, raw::client_config(&pki, Some("watcher"))).unwrap();
    keep_alive
        .send(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(raw::status(&keep_alive.read_response()), 200);
    let mut bystander = Conn::open(gateway.addr, raw::client_config(&pki, Some("worker"))).unwrap();

    pki.revoke("watcher");
    gateway.control.reload().unwrap();

    assert!(
        closed_by_server(&mut stream),
        "the revoked client's stream stayed open"
    );
    assert!(
        closed_by_server(&mut keep_alive),
        "the revoked client's keep-alive connection stayed open"
    );
    eventually("the Engine's stream closed too", || {
        engine.open_streams() == 0
    });
    assert!(
        raw::refused_at_handshake(gateway.addr, raw::client_config(&pki, Some("watcher"))),
        "a revoked certificate was served"
    );
    bystander
        .send(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(
        raw::status(&bystander.read_response()),
        200,
        "another client's connection was disturbed"
    );
}

#[test]
fn removing_a_client_from_the_config_closes_its_connections() {
    let pki = Pki::new(&["watcher", "worker"]);
    let engine = FakeEngine::start();
    let gateway = Gateway::start(&pki, engine.path(), &policy(r#""GET /events""#));
    let mut stream = open_events(&gateway, &pki, "watcher");
    let without_watcher =
        "[clients.worker]\npolicies = [\"work\"]\n[policies.work]\nallow = [\"GET /_ping\"]\n";
    gateway
        .rewrite(&pki, engine.path(), without_watcher)
        .unwrap();
    assert!(closed_by_server(&mut stream));
}

#[test]
fn a_broken_config_on_reload_keeps_the_running_one() {
    let pki = Pki::new(&["watcher", "worker"]);
    let engine = FakeEngine::start();
    let gateway = Gateway::start(
        &pki,
        engine.path(),
        &policy(r#""GET /events", "GET /_ping""#),
    );
    let error = gateway
        .rewrite(
            &pki,
            engine.path(),
            "[clients.worker]\npolicies = [\"missing\"]\n",
        )
        .unwrap_err();
    assert!(error.contains("no policy named \"missing\""), "{error}");
    let response = raw::exchange(
        gateway.addr,
        &pki,
        "watcher",
        b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        raw::status(&response),
        200,
        "the old configuration was not kept: {response}"
    );
    // A key that does not match its certificate is refused as well.
    std::fs::copy(
        pki.path().join("clients/worker/key.pem"),
        pki.path().join("server-key.pem"),
    )
    .unwrap();
    let error = gateway
        .rewrite(&pki, engine.path(), &policy(r#""GET /_ping""#))
        .unwrap_err();
    assert!(error.contains("server-key.pem"), "{error}");
    let response = raw::exchange(
        gateway.addr,
        &pki,
        "watcher",
        b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(raw::status(&response), 200);
}

#[test]
fn stopping_lets_a_long_request_finish_and_cuts_streams_after_the_grace_period() {
    let pki = Pki::new(&["watcher", "worker"]);
    let engine = FakeEngine::start();
    let gateway = Gateway::start(
        &pki,
        engine.path(),
        &policy(r#""GET /events", "GET /fake/slow""#),
    );
    let mut stream = open_events(&gateway, &pki, "watcher");
    let mut slow = Conn::open(gateway.addr, raw::client_config(&pki, Some("watcher"))).unwrap();
    slow.send(b"GET /fake/slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    eventually("the slow request reached the Engine", || {
        engine.requests().iter().any(|r| r.target == "/fake/slow")
    });

    let addr = gateway.addr;
    let stopper = std::thread::spawn(move || gateway.stop());
    let response = slow.read_response();
    assert_eq!(
        raw::status(&response),
        200,
        "the request in flight did not finish: {response}"
    );
    assert!(response.ends_with("slow done"));
    assert!(
        closed_by_server(&mut stream),
        "the event stream held the gateway open"
    );
    stopper.join().unwrap();
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "still accepting after stop"
    );
}

#[test]
fn the_binary_speaks_the_systemd_notify_protocol_starts_its_workers_and_exits_zero_on_sigterm() {
    let pki = Pki::new(&["worker"]);
    let engine = FakeEngine::start();
    let dir = tempfile::tempdir().unwrap();
    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let config = dir.path().join("dockgate.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\nupstream = \"{}\"\n{}\n[clients.worker]\npolicies = [\"p\"]\n[policies.p]\nallow = [\"GET /_ping\"]\n[limits]\nworker_threads = 3\n",
            engine.path().display(),
            pki.tls_table()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dockgate"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("NOTIFY_SOCKET", &notify_path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let next = || {
        let mut buf = [0u8; 256];
        let n = notify.recv(&mut buf).expect("a notification from dockgate");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert_eq!(next(), "READY=1");
    let pid = child.id().to_string();
    // Ready means serving: the configured worker threads are up. Each
    // thread names itself once it runs, a moment after it exists, so the
    // names are waited for.
    let workers = || {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap()
            .filter_map(|task| std::fs::read_to_string(task.unwrap().path().join("comm")).ok())
            .filter(|comm| comm.starts_with("dockgate-w"))
            .count()
    };
    eventually("the 3 worker threads are named", || workers() == 3);
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    let reloading = next();
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="),
        "{reloading}"
    );
    assert_eq!(next(), "READY=1");
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    assert_eq!(next(), "STOPPING=1");
    let status = child.wait().unwrap();
    let log: Vec<_> = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .collect();
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        log.join("\n")
    );
    assert!(
        log.iter().any(|l| l.contains("configuration reloaded")),
        "{}",
        log.join("\n")
    );
}

#[test]
fn a_bad_config_refuses_to_start_with_exit_64_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:0\"\n[tls]\nca = \"a\"\ncert = \"b\"\nkey = \"c\"\nbogus = 1\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dockgate"))
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:6", config.display())) && stderr.contains("bogus"),
        "{stderr}"
    );
}

#[test]
fn socket_activation_serves_on_the_socket_systemd_passes() {
    let Ok(activate) = which("systemd-socket-activate") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install systemd (systemd-socket-activate)"
        );
        eprintln!("*** systemd-socket-activate missing: socket activation NOT tested ***");
        return;
    };
    let pki = Pki::new(&["worker"]);
    let engine = FakeEngine::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dockgate.toml");
    // An address this host cannot bind: only the inherited socket can serve.
    std::fs::write(
        &config,
        format!(
            "listen = \"192.0.2.1:2376\"\nupstream = \"{}\"\n{}\n[clients.worker]\npolicies = [\"p\"]\n[policies.p]\nallow = [\"GET /_ping\"]\n",
            engine.path().display(),
            pki.tls_table()
        ),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(activate)
        .args([
            "-l",
            &format!("127.0.0.1:{port}"),
            env!("CARGO_BIN_EXE_dockgate"),
            "serve",
            "--config",
        ])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    eventually("the activation socket listens", || {
        std::net::TcpStream::connect(addr).is_ok()
    });
    let mut response = String::new();
    eventually("dockgate answers on the inherited socket", || {
        response = raw::exchange(
            addr,
            &pki,
            "worker",
            b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        raw::status(&response) == 200
    });
    assert!(response.ends_with("OK"), "{response}");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

fn which(program: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|p| p.exists())
        .ok_or(())
}
