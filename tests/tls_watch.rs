//! Revocation without a manual reload: when the CRL file changes on disk,
//! the gateway reloads as it would on SIGHUP. A revoked client is cut off,
//! open connections of others stay, and a broken CRL written in place keeps
//! the old one. No signal is sent anywhere in this file.
//! (Its own binary: the reload counter is process-wide.)

mod support;

use std::io::Read;
use std::time::Duration;

use support::fake_engine::FakeEngine;
use support::raw::{self, Conn};
use support::{eventually, Gateway, Pki};

const POLICY: &str = r#"
[clients.alice]
policies = ["p"]

[clients.bob]
policies = ["p"]

[policies.p]
allow = ["GET /_ping", "GET /events"]
"#;

/// The value of `dockgate_reloads_total{outcome}` in this process.
fn reloads(outcome: &str) -> u64 {
    let text = dockgate::run::metrics::render();
    let prefix = format!("dockgate_reloads_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |v| v.trim().parse().unwrap())
}

fn ping() -> Vec<u8> {
    b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()
}

#[test]
fn a_crl_changed_on_disk_cuts_the_revoked_client_off_and_a_broken_one_is_refused() {
    let pki = Pki::new(&["alice", "bob"]);
    let engine = FakeEngine::start();
    let gateway = Gateway::start(&pki, engine.path(), POLICY);

    // alice holds a stream open; bob holds a keep-alive connection.
    let mut stream = Conn::open(gateway.addr, raw::client_config(&pki, Some("alice"))).unwrap();
    stream
        .send(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut head = [0u8; 64];
    let n = stream.tls.read(&mut head).unwrap();
    assert!(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"));
    let mut keep_alive = Conn::open(gateway.addr, raw::client_config(&pki, Some("bob"))).unwrap();
    keep_alive.send(&ping()).unwrap();
    assert_eq!(raw::status(&keep_alive.read_response()), 200);

    let applied = reloads("applied");
    pki.revoke("bob");
    eventually("the changed CRL is applied without a signal", || {
        reloads("applied") > applied
    });
    let before = engine.request_count();
    assert!(raw::refused_at_handshake(
        gateway.addr,
        raw::client_config(&pki, Some("bob"))
    ));
    keep_alive
        .tls
        .sock
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert!(
        keep_alive.closed_by_server(),
        "bob's open connection is cut"
    );
    assert_eq!(
        engine.request_count(),
        before,
        "nothing of bob's reached the Engine"
    );
    assert!(stream.still_open(), "alice's stream was closed");

    // A CRL file rewritten with no CRL in it is refused; the old CRL stays.
    let refused = reloads("refused");
    std::fs::write(pki.path().join("crl.pem"), "not a CRL\n").unwrap();
    eventually("the broken CRL is refused", || reloads("refused") > refused);
    assert!(raw::refused_at_handshake(
        gateway.addr,
        raw::client_config(&pki, Some("bob"))
    ));
    let response = raw::exchange(gateway.addr, &pki, "alice", &ping_close());
    assert_eq!(raw::status(&response), 200, "{response}");
}

fn ping_close() -> Vec<u8> {
    b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec()
}
