//! What an operator sees of a running gateway: the audit log, the metrics
//! and health listener, connection limits, and full handshakes only.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use support::fake_engine::FakeEngine;
use support::raw::{self, Conn};
use support::{http_get, Gateway, Pki};

const POLICY: &str =
    "[clients.ops]\npolicies = [\"p\"]\n[policies.p]\nallow = [\"GET /_ping\", \"GET /events\"]\n";

#[test]
fn json_audit_events_carry_the_stable_fields() {
    let pki = Pki::new(&["ops"]);
    let engine = FakeEngine::start();
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("dockgate.toml");
    std::fs::write(
        &config,
        format!("listen = \"127.0.0.1:{port}\"\nupstream = \"{}\"\n{}\n[log]\nformat = \"json\"\n{POLICY}", engine.path().display(), pki.tls_table()),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dockgate"))
        .args(["serve", "--config"])
        .arg(&config)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    support::eventually("the gateway listens", || TcpStream::connect(addr).is_ok());
    raw::exchange(
        addr,
        &pki,
        "ops",
        b"GET /v1.41/_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    raw::exchange(
        addr,
        &pki,
        "ops",
        b"GET /v1.41/info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let lines: Vec<serde_json::Value> = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .map(|l| {
            serde_json::from_str(&l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"))
        })
        .collect();
    assert!(child.wait().unwrap().success());
    let audit: Vec<_> = lines
        .iter()
        .filter(|l| l["target"] == "dockgate::request::audit")
        .collect();
    assert_eq!(audit.len(), 2, "{lines:#?}");
    let allow = audit
        .iter()
        .find(|l| l["decision"] == "allow")
        .expect("an allow event");
    for field in [
        "client",
        "serial",
        "peer",
        "method",
        "path",
        "decision",
        "policy",
        "rule",
        "status",
        "bytes_in",
        "bytes_out",
        "duration_ms",
    ] {
        assert!(
            allow.get(field).is_some(),
            "allow event lacks {field}: {allow}"
        );
    }
    assert_eq!(allow["client"], "ops");
    assert_eq!(allow["rule"], "GET /_ping");
    assert_eq!(allow["status"], 200);
    assert_eq!(allow["serial"].as_str().unwrap().len(), 32);
    let deny = audit
        .iter()
        .find(|l| l["decision"] == "deny")
        .expect("a deny event");
    assert_eq!(
        (
            deny["path"].as_str(),
            deny["reason"].as_str(),
            deny["status"].as_u64()
        ),
        (Some("/v1.41/info"), Some("no_rule"), Some(403))
    );
}

#[test]
fn metrics_and_healthz_report_on_the_gateway_and_the_engine() {
    let pki = Pki::new(&["ops"]);
    let engine = FakeEngine::start();
    let body = format!("[metrics]\nlisten = \"127.0.0.1:0\"\n{POLICY}");
    let gateway = Gateway::start(&pki, engine.path(), &body);
    let metrics = gateway.metrics.expect("metrics listener");
    raw::exchange(
        gateway.addr,
        &pki,
        "ops",
        b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(raw::refused_at_handshake(
        gateway.addr,
        raw::client_config(&pki, None)
    ));
    support::eventually("the failed handshake is counted", || {
        http_get(metrics, "/metrics")
            .contains(r#"dockgate_handshake_failures_total{reason="no_client_certificate"}"#)
    });
    let text = http_get(metrics, "/metrics");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    for family in [
        "dockgate_requests_total",
        "dockgate_handshake_failures",
        "dockgate_open",
        "dockgate_upstream_errors_total",
        "dockgate_request_duration_seconds_bucket",
    ] {
        assert!(text.contains(family), "missing {family}:\n{text}");
    }
    assert!(http_get(metrics, "/healthz").starts_with("HTTP/1.1 200"));

    let down = Gateway::start(&pki, &pki.path().join("missing.sock"), &body);
    let health = http_get(down.metrics.unwrap(), "/healthz");
    assert!(
        health.starts_with("HTTP/1.1 503") && health.contains("missing.sock"),
        "{health}"
    );
}

#[test]
fn a_client_over_its_connection_limit_is_told_so_and_others_are_not() {
    let pki = Pki::new(&["ops", "other"]);
    let engine = FakeEngine::start();
    let body = format!(
        "[limits]\nmax_connections_per_client = 2\n{POLICY}[clients.other]\npolicies = [\"p\"]\n"
    );
    let gateway = Gateway::start(&pki, engine.path(), &body);
    let ping = b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut open = Vec::new();
    for client in ["ops", "ops", "other"] {
        let mut conn = Conn::open(gateway.addr, raw::client_config(&pki, Some(client))).unwrap();
        // An answer means the gateway has counted the connection.
        conn.send(ping).unwrap();
        assert_eq!(raw::status(&conn.read_response()), 200, "{client}");
        open.push(conn);
    }
    let third = raw::exchange(gateway.addr, &pki, "ops", ping);
    assert_eq!(raw::status(&third), 429, "{third}");
    assert!(
        third.contains("has 2 connections open, its limit"),
        "{third}"
    );
    drop(open);
    support::eventually("a slot frees when a connection closes", || {
        raw::status(&raw::exchange(
            gateway.addr,
            &pki,
            "ops",
            b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )) == 200
    });
}

#[test]
fn every_connection_is_a_full_handshake_even_for_clients_that_try_to_resume() {
    let pki = Pki::new(&["ops"]);
    let engine = FakeEngine::start();
    let gateway = Gateway::start(&pki, engine.path(), POLICY);
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let config = Arc::new(resuming_client(&pki, version));
        for attempt in 0..3 {
            let mut tcp = TcpStream::connect(gateway.addr).unwrap();
            let mut conn = rustls::ClientConnection::new(
                Arc::clone(&config),
                ServerName::try_from("localhost").unwrap(),
            )
            .unwrap();
            let mut stream = rustls::Stream::new(&mut conn, &mut tcp);
            stream
                .write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut out = String::new();
            let _ = stream.read_to_string(&mut out);
            assert!(out.starts_with("HTTP/1.1 200"), "{out}");
            assert_eq!(conn.protocol_version(), Some(version.version));
            assert_eq!(
                conn.handshake_kind(),
                Some(rustls::HandshakeKind::Full),
                "{version:?} attempt {attempt} resumed a session"
            );
        }
    }
}

/// A client pinned to one TLS version that caches sessions and tries to resume.
fn resuming_client(
    pki: &Pki,
    version: &'static rustls::SupportedProtocolVersion,
) -> rustls::ClientConfig {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(pki.path().join("ca.pem")).unwrap())
        .unwrap();
    let dir = pki.client_dir("ops");
    let chain = vec![CertificateDer::from_pem_file(dir.join("cert.pem")).unwrap()];
    let key = PrivateKeyDer::from_pem_file(dir.join("key.pem")).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[version])
    .unwrap()
    .with_root_certificates(roots)
    .with_client_auth_cert(chain, key)
    .unwrap();
    config.resumption = rustls::client::Resumption::in_memory_sessions(16);
    config
}
