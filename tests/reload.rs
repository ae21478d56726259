//! Reloads fail closed, on the real binary: whatever `dockgate check`
//! calls an error makes `serve` refuse to start (exit 64) and a reload
//! keep the running set, with the reason in the log; a reload that would
//! drop every client or the CRL must be asked for in the config; a config
//! read half-written never applies; SIGHUP, SIGTERM and SIGINT are handled
//! from before the configuration is read.

mod support;

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::Command;

use support::fake_engine::FakeEngine;
use support::process::{self, Reloaded, Served};
use support::raw::{self, Conn};
use support::{config_text, eventually, Pki};
use time::{Duration, OffsetDateTime};

const BODY: &str = r#"
[clients.alice]
policies = ["p"]

[clients.bob]
policies = ["p"]

[policies.p]
allow = ["GET /_ping", "GET /events"]
"#;

const PING: &[u8] = b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/// A PKI with alice and bob where bob is revoked, a fake Engine, and the
/// binary serving them.
fn start() -> (Pki, FakeEngine, Served) {
    let pki = Pki::new(&["alice", "bob"]);
    pki.revoke("bob");
    let engine = FakeEngine::start();
    let served = process::serve(&config_text(&pki, engine.path(), BODY));
    (pki, engine, served)
}

/// bob's revoked certificate is refused at the handshake and nothing
/// reaches the Engine; alice is served.
fn assert_revocation_holds(pki: &Pki, engine: &FakeEngine, served: &Served) {
    let before = engine.request_count();
    assert!(
        raw::refused_at_handshake(served.addr, raw::client_config(pki, Some("bob"))),
        "the revoked client was served"
    );
    assert_eq!(
        engine.request_count(),
        before,
        "the Engine saw bob's request"
    );
    assert_alice_served(pki, engine, served);
}

fn assert_alice_served(pki: &Pki, engine: &FakeEngine, served: &Served) {
    let before = engine.request_count();
    let response = raw::exchange(served.addr, pki, "alice", PING);
    assert_eq!(raw::status(&response), 200, "{response}");
    assert_eq!(engine.request_count(), before + 1);
}

fn refused(outcome: Reloaded, why: &str) {
    match outcome {
        Reloaded::Refused(line) => assert!(line.contains(why), "{why:?} not in: {line}"),
        Reloaded::Applied => panic!("the reload was applied; expected a refusal naming {why:?}"),
    }
}

/// A CRL signed by a CA other than the PKI's.
fn foreign_crl() -> Vec<u8> {
    let other = Pki::new(&[]);
    std::fs::read(other.path().join("crl.pem")).unwrap()
}

#[test]
fn a_crl_file_without_a_crl_is_refused_on_reload_and_the_old_crl_kept() {
    let (pki, engine, mut served) = start();
    assert_revocation_holds(&pki, &engine, &served);
    let crl = pki.path().join("crl.pem");
    let good = std::fs::read(&crl).unwrap();
    let server_cert = std::fs::read(pki.path().join("server-cert.pem")).unwrap();
    for (what, contents) in [("empty", &b""[..]), ("a certificate", &server_cert[..])] {
        std::fs::write(&crl, contents).unwrap();
        refused(served.reload(), "no CRL in");
        assert_revocation_holds(&pki, &engine, &served);
        assert!(served.alive(), "{what}");
    }
    std::fs::write(&crl, good).unwrap();
    assert_eq!(served.reload(), Reloaded::Applied);
    assert_revocation_holds(&pki, &engine, &served);
}

#[test]
fn a_crl_from_another_ca_is_refused_on_reload() {
    let (pki, engine, mut served) = start();
    std::fs::write(pki.path().join("crl.pem"), foreign_crl()).unwrap();
    refused(served.reload(), "is not signed by the CA");
    assert_revocation_holds(&pki, &engine, &served);
}

#[test]
fn a_server_certificate_that_cannot_serve_is_refused_on_reload() {
    let (pki, engine, mut served) = start();
    let cert = pki.path().join("server-cert.pem");
    let key = pki.path().join("server-key.pem");
    let good = (std::fs::read(&cert).unwrap(), std::fs::read(&key).unwrap());
    let now = OffsetDateTime::now_utc();
    let cases: [(&str, &dyn Fn()); 4] = [
        ("expired", &|| {
            pki.replace_server_cert(now - Duration::days(30), now - Duration::days(1))
        }),
        ("is not valid before", &|| {
            pki.replace_server_cert(now + Duration::days(1), now + Duration::days(30))
        }),
        ("private key", &|| {
            std::fs::copy(pki.client_dir("alice").join("key.pem"), &key).unwrap();
        }),
        ("is not signed by the CA", &|| {
            let other = Pki::new(&[]);
            std::fs::copy(other.path().join("server-cert.pem"), &cert).unwrap();
            std::fs::copy(other.path().join("server-key.pem"), &key).unwrap();
        }),
    ];
    for (why, break_it) in cases {
        break_it();
        refused(served.reload(), why);
        // Still the old certificate: a client that checks it connects.
        assert_revocation_holds(&pki, &engine, &served);
        std::fs::write(&cert, &good.0).unwrap();
        std::fs::write(&key, &good.1).unwrap();
    }
    assert_eq!(served.reload(), Reloaded::Applied);
}

#[test]
fn serve_refuses_to_start_on_tls_material_check_rejects() {
    let pki = Pki::new(&["alice"]);
    let engine = FakeEngine::start();
    let config = pki.path().join("dockgate.toml");
    std::fs::write(&config, config_text(&pki, engine.path(), BODY)).unwrap();
    let crl = pki.path().join("crl.pem");
    let cert = pki.path().join("server-cert.pem");
    let key = pki.path().join("server-key.pem");
    let good = [&crl, &cert, &key].map(|p| std::fs::read(p).unwrap());
    let now = OffsetDateTime::now_utc();
    let cases: [(&str, &dyn Fn()); 6] = [
        ("no CRL in", &|| std::fs::write(&crl, "").unwrap()),
        ("is not signed by the CA", &|| {
            std::fs::write(&crl, foreign_crl()).unwrap()
        }),
        ("expired", &|| {
            pki.replace_server_cert(now - Duration::days(30), now - Duration::days(1))
        }),
        ("is not valid before", &|| {
            pki.replace_server_cert(now + Duration::days(1), now + Duration::days(30))
        }),
        ("private key", &|| {
            std::fs::copy(pki.client_dir("alice").join("key.pem"), &key).unwrap();
        }),
        ("no subject alternative names", &|| {
            let other = Pki::new(&[]);
            let ca_pem = std::fs::read_to_string(pki.path().join("ca.pem")).unwrap();
            let ca_key = rcgen::KeyPair::from_pem(
                &std::fs::read_to_string(pki.path().join("ca-key.pem")).unwrap(),
            )
            .unwrap();
            let issuer = rcgen::Issuer::from_ca_cert_pem(&ca_pem, ca_key).unwrap();
            let server_key = rcgen::KeyPair::generate().unwrap();
            let no_san = rcgen::CertificateParams::new(Vec::<String>::new())
                .unwrap()
                .signed_by(&server_key, &issuer)
                .unwrap();
            std::fs::write(&cert, no_san.pem()).unwrap();
            std::fs::write(&key, server_key.serialize_pem()).unwrap();
            drop(other);
        }),
    ];
    let cases_run = cases.len();
    for (why, break_it) in cases {
        break_it();
        let mut serve = Command::new(env!("CARGO_BIN_EXE_dockgate"));
        serve.args(["serve", "--config"]).arg(&config);
        // A deadline, not a measurement: a gateway that starts serving
        // would otherwise hold the test forever.
        let out = support::run(serve, std::time::Duration::from_secs(60));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{why}: {stderr}");
        assert!(stderr.contains(why), "{why:?} not in: {stderr}");
        let check = Command::new(env!("CARGO_BIN_EXE_dockgate"))
            .args(["check", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&check.stdout);
        assert_eq!(check.status.code(), Some(64), "check: {why}: {report}");
        assert!(report.contains(why), "check: {why:?} not in: {report}");
        for (path, bytes) in [&crl, &cert, &key].iter().zip(&good) {
            std::fs::write(path, bytes).unwrap();
        }
    }
    // `check` asks the Engine for /_ping once a run; serve sent nothing.
    let seen = engine.requests();
    assert_eq!(seen.len(), cases_run, "{seen:?}");
    assert!(seen.iter().all(|r| r.target == "/_ping"), "{seen:?}");
}

fn open_events(served: &Served, pki: &Pki) -> Conn {
    let mut conn = Conn::open(served.addr, raw::client_config(pki, Some("alice"))).unwrap();
    conn.send(b"GET /v1.41/events HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 512];
    let n = std::io::Read::read(&mut conn.tls, &mut buf).unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    conn
}

#[test]
fn a_config_read_half_written_never_applies() {
    let (pki, engine, mut served) = start();
    let full = config_text(&pki, engine.path(), BODY);
    let stream = open_events(&served, &pki);
    let clients = full.find("[clients.alice]").unwrap();
    // Cut where the rest is whole tables (parses, with no clients), and
    // mid-line (does not parse).
    for cut in [clients, clients + 10, full.find("allow = [").unwrap() + 12] {
        std::fs::write(&served.config, &full[..cut]).unwrap();
        match served.reload() {
            Reloaded::Refused(_) => {}
            Reloaded::Applied => panic!("half a config applied: {:?}", &full[..cut]),
        }
        assert_revocation_holds(&pki, &engine, &served);
        assert_eq!(engine.open_streams(), 1, "a refused reload closed a stream");
    }
    std::fs::write(&served.config, &full[..clients]).unwrap();
    let refusal = served.reload();
    refused(refusal, "allow_no_clients");
    std::fs::write(&served.config, &full).unwrap();
    assert_eq!(served.reload(), Reloaded::Applied);
    assert_eq!(engine.open_streams(), 1);
    drop(stream);
}

#[test]
fn dropping_every_client_or_the_crl_takes_an_explicit_setting() {
    let (pki, engine, mut served) = start();
    let full = config_text(&pki, engine.path(), BODY);
    let crl_line = full
        .lines()
        .find(|l| l.starts_with("crl = "))
        .unwrap()
        .to_owned();

    // The CRL line gone: refused, revocation holds.
    std::fs::write(&served.config, full.replace(&crl_line, "")).unwrap();
    refused(served.reload(), "allow_no_crl");
    assert_revocation_holds(&pki, &engine, &served);
    // Both at once is a contradiction the config check names.
    std::fs::write(
        &served.config,
        full.replace(&crl_line, &format!("{crl_line}\nallow_no_crl = true")),
    )
    .unwrap();
    refused(served.reload(), "tls.allow_no_crl");
    assert_revocation_holds(&pki, &engine, &served);
    // Asked for: revocation is off, bob gets in.
    std::fs::write(
        &served.config,
        full.replace(&crl_line, "allow_no_crl = true"),
    )
    .unwrap();
    assert_eq!(served.reload(), Reloaded::Applied);
    let response = raw::exchange(served.addr, &pki, "bob", PING);
    assert_eq!(raw::status(&response), 200, "{response}");

    // Every client gone, asked for: applied, and alice's stream is closed.
    std::fs::write(&served.config, &full).unwrap();
    assert_eq!(served.reload(), Reloaded::Applied);
    let mut stream = open_events(&served, &pki);
    let no_clients = full.replace("listen =", "allow_no_clients = true\nlisten =");
    let no_clients = &no_clients[..no_clients.find("[clients.alice]").unwrap()];
    std::fs::write(&served.config, no_clients).unwrap();
    assert_eq!(served.reload(), Reloaded::Applied);
    assert!(stream.closed_by_server());
    let before = engine.request_count();
    // Refused: a 403, or (the connection watching for removed clients
    // sees the reload) closed before an answer.
    let response = raw::exchange(served.addr, &pki, "alice", PING);
    assert!(matches!(raw::status(&response), 0 | 403), "{response}");
    assert_eq!(engine.request_count(), before);
}

/// Makes `path` a FIFO: `dockgate serve` blocks reading its config until a
/// test writes it, which holds the process inside its start for as long as
/// the test needs.
fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo only reads the NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// Waits until the process opened its config FIFO for reading (it is then
/// inside its start, before binding), runs `during`, then hands it
/// `text` and puts a regular file with the same text in the FIFO's place
/// for every later read.
fn hold_start(served: &mut Served, text: &str, during: impl FnOnce(libc::pid_t)) {
    let mut fifo = None;
    eventually("dockgate opens its config", || {
        assert!(served.alive(), "dockgate exited: {}", served.log());
        fifo = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&served.config)
            .ok();
        fifo.is_some()
    });
    let mut fifo = fifo.unwrap();
    during(served.pid());
    let file = served.config.with_extension("new");
    std::fs::write(&file, text).unwrap();
    fifo.write_all(text.as_bytes()).unwrap();
    std::fs::rename(&file, &served.config).unwrap();
}

#[test]
fn sighup_from_the_start_never_kills_and_becomes_one_reload() {
    let pki = Pki::new(&["alice", "bob"]);
    let engine = FakeEngine::start();
    let text = config_text(&pki, engine.path(), BODY);
    let mut served = process::spawn(mkfifo);
    hold_start(&mut served, &text, |pid| {
        for _ in 0..50 {
            process::kill(pid, libc::SIGHUP);
        }
    });
    served.ready();
    // The signals sent while it started are one reload after it started.
    eventually("the start's SIGHUPs are reloaded", || {
        served.log().contains("configuration reloaded")
    });
    assert_alice_served(&pki, &engine, &served);

    // And once serving, a burst of them is survived as well.
    for _ in 0..200 {
        process::kill(served.pid(), libc::SIGHUP);
    }
    assert_eq!(served.reload(), Reloaded::Applied);
    assert!(served.alive());
    assert_alice_served(&pki, &engine, &served);
    let (status, log) = served.stop();
    assert!(status.success(), "{status}\n{log}");
}

#[test]
fn sigterm_during_the_start_stops_it_cleanly() {
    let pki = Pki::new(&["alice"]);
    let engine = FakeEngine::start();
    let text = config_text(&pki, engine.path(), BODY);
    let mut served = process::spawn(mkfifo);
    hold_start(&mut served, &text, |pid| process::kill(pid, libc::SIGTERM));
    let (status, log) = served.exit();
    assert!(status.success(), "{status}\n{log}");
    assert!(log.contains("stop requested"), "{log}");
    assert_eq!(engine.request_count(), 0);
}
