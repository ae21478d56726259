//! The gateway against a fake Engine on a temporary unix socket: what
//! reaches the Engine, what is refused before it, streaming, upgrades and
//! the faults a real Engine cannot produce on demand.

mod support;

use std::io::{Read, Write};

use support::fake_engine::FakeEngine;
use support::raw::{self, Conn};
use support::{eventually, Gateway, Pki};

const POLICY: &str = r#"
[clients.alice]
policies = ["ops"]

[clients.bob]
policies = ["read"]

[policies.read]
allow = ["GET /_ping", "GET /containers/json", "GET /events", "GET /fake/**"]
grants = { unknown_routes = true }

[policies.ops]
allow = ["* /**"]
# The fake Engine's fault routes are not Engine API routes.
grants = { unknown_routes = true }
"#;

fn setup() -> (Pki, FakeEngine, Gateway) {
    let pki = Pki::new(&["alice", "bob", "mallory"]);
    let engine = FakeEngine::start();
    let gateway = Gateway::start(&pki, engine.path(), POLICY);
    (pki, engine, gateway)
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").into_bytes()
}

fn json_message(response: &str) -> String {
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    let value: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {response}"));
    value["message"].as_str().expect("message field").to_owned()
}

/// Each client connection has one Engine connection, reused request after
/// request; when the Engine closes it, the next request gets a new one.
#[test]
fn a_client_connection_keeps_one_engine_connection_and_redials_when_it_closes() {
    let (pki, engine, gateway) = setup();
    let mut conn = Conn::open(gateway.addr, raw::client_config(&pki, Some("bob"))).unwrap();
    let keep_alive = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes();
    for (path, engine_connections) in [
        ("/_ping", 1),
        ("/_ping", 1),
        ("/fake/close", 1),
        ("/_ping", 2),
        ("/v1.41/_ping", 2),
    ] {
        conn.send(&keep_alive(path)).unwrap();
        let response = conn.read_response();
        assert_eq!(raw::status(&response), 200, "{path}: {response}");
        assert_eq!(engine.connections(), engine_connections, "after {path}");
    }
    assert_eq!(engine.request_count(), 5);
    // A second client connection does not share the first one's.
    raw::exchange(gateway.addr, &pki, "bob", &get("/_ping"));
    assert_eq!(engine.connections(), 3);
}

#[test]
fn allowed_requests_reach_the_engine_with_the_target_as_sent() {
    let (pki, engine, gateway) = setup();
    let response = raw::exchange(
        gateway.addr,
        &pki,
        "bob",
        &get("/v1.41/containers/json?all=1&filters=%7B%7D"),
    );
    assert_eq!(raw::status(&response), 200, "{response}");
    let seen = engine.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(
        seen[0].target,
        "/v1.41/containers/json?all=1&filters=%7B%7D"
    );
    assert_eq!(seen[0].header("host"), Some("docker"));
}

#[test]
fn refused_requests_name_client_method_and_path_and_never_reach_the_engine() {
    let (pki, engine, gateway) = setup();
    let response = raw::exchange(
        gateway.addr,
        &pki,
        "bob",
        b"POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    );
    assert_eq!(raw::status(&response), 403, "{response}");
    assert!(
        response.contains("content-type: application/json"),
        "{response}"
    );
    let message = json_message(&response);
    assert!(
        message.contains("\"bob\"")
            && message.contains("POST /v1.41/containers/create")
            && message.contains("read"),
        "{message}"
    );
    assert_eq!(engine.request_count(), 0);
}

#[test]
fn a_valid_certificate_whose_name_is_not_configured_gets_403() {
    let (pki, engine, gateway) = setup();
    let response = raw::exchange(gateway.addr, &pki, "mallory", &get("/_ping"));
    assert_eq!(raw::status(&response), 403, "{response}");
    assert!(json_message(&response).contains("is known by its CN \"mallory\""));
    assert_eq!(engine.request_count(), 0);
}

#[test]
fn engine_unreachable_is_a_502_naming_the_socket() {
    let pki = Pki::new(&["alice"]);
    let missing = pki.path().join("no-engine.sock");
    let gateway = Gateway::start(&pki, &missing, POLICY);
    let response = raw::exchange(gateway.addr, &pki, "alice", &get("/_ping"));
    assert_eq!(raw::status(&response), 502, "{response}");
    assert!(
        json_message(&response).contains(&missing.display().to_string()),
        "{response}"
    );
}

#[test]
fn hop_by_hop_headers_do_not_cross() {
    let (pki, engine, gateway) = setup();
    let request = b"GET /_ping HTTP/1.1\r\nHost: evil\r\nConnection: close, X-Drop-Me\r\nX-Drop-Me: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\nProxy-Authorization: x\r\nX-Registry-Auth: keep\r\n\r\n";
    let response = raw::exchange(gateway.addr, &pki, "alice", request);
    assert_eq!(raw::status(&response), 200, "{response}");
    let seen = &engine.requests()[0];
    for gone in ["x-drop-me", "keep-alive", "te", "proxy-authorization"] {
        assert_eq!(seen.header(gone), None, "{gone} reached the Engine");
    }
    assert_eq!(seen.header("x-registry-auth"), Some("keep"));
    assert_eq!(seen.header("host"), Some("docker"));
}

#[test]
fn huge_responses_stream_through_whole() {
    let (pki, _engine, gateway) = setup();
    let mut conn = Conn::open(gateway.addr, raw::client_config(&pki, Some("bob"))).unwrap();
    conn.send(&get("/fake/huge?bytes=67108864")).unwrap();
    let mut total = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let mut head_seen = false;
    loop {
        match conn.tls.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let chunk = &buf[..n];
                if !head_seen {
                    let text = String::from_utf8_lossy(chunk);
                    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
                    head_seen = true;
                }
                total += chunk.iter().filter(|&&b| b == b'x').count();
            }
        }
    }
    assert_eq!(total, 64 << 20);
}

#[test]
fn a_client_that_goes_away_takes_its_upstream_stream_with_it() {
    let (pki, engine, gateway) = setup();
    let mut conn = Conn::open(gateway.addr, raw::client_config(&pki, Some("bob"))).unwrap();
    conn.send(b"GET /v1.41/events HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 256];
    let n = conn.tls.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    eventually("the Engine holds one open event stream", || {
        engine.open_streams() == 1
    });
    drop(conn);
    eventually(
        "the Engine's event stream closed after the client left",
        || engine.open_streams() == 0,
    );
    eventually("the Engine connection closed", || {
        engine.open_connections() == 0
    });
}

#[test]
fn streams_flow_as_they_come() {
    let (pki, _engine, gateway) = setup();
    let mut conn = Conn::open(gateway.addr, raw::client_config(&pki, Some("bob"))).unwrap();
    conn.send(b"GET /fake/stream HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 1024];
    while !seen.contains("{\"event\":5}") {
        let n = conn.tls.read(&mut buf).expect("stream keeps flowing");
        assert!(n > 0, "stream ended early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

#[test]
fn upgrades_become_tunnels_that_carry_half_close_both_ways() {
    let (pki, engine, gateway) = setup();
    let mut conn = Conn::open(gateway.addr, raw::client_config(&pki, Some("alice"))).unwrap();
    conn.send(b"POST /v1.41/containers/abc/attach?stream=1&stdin=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n").unwrap();
    let head = read_head(&mut conn);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.to_ascii_lowercase().contains("upgrade: tcp"), "{head}");
    conn.send(b"hello tunnel\n").unwrap();
    // End of stdin as current docker clients send it: TLS close_notify.
    conn.tls.conn.send_close_notify();
    conn.tls.flush().unwrap();
    let rest = conn.read_to_close();
    assert_eq!(rest, "HELLO TUNNEL\nBYE\n");
    let seen = &engine.requests()[0];
    assert_eq!(seen.header("upgrade"), Some("tcp"));
}

#[test]
fn a_bare_tcp_fin_also_ends_tunnel_input() {
    let (pki, _engine, gateway) = setup();
    let mut conn = Conn::open(gateway.addr, raw::client_config(&pki, Some("alice"))).unwrap();
    conn.send(b"POST /exec/abc/start HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n").unwrap();
    assert!(read_head(&mut conn).starts_with("HTTP/1.1 101"));
    conn.send(b"old client\n").unwrap();
    // Older docker clients half-close the TCP connection without close_notify.
    conn.tls.sock.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(conn.read_to_close(), "OLD CLIENT\nBYE\n");
}

#[test]
fn an_upgrade_the_engine_declines_is_an_ordinary_response() {
    let (pki, _engine, gateway) = setup();
    let request = b"GET /fake/no-upgrade HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\nUpgrade: tcp\r\n\r\n";
    let response = raw::exchange(gateway.addr, &pki, "alice", request);
    assert_eq!(raw::status(&response), 200, "{response}");
}

#[test]
fn a_101_nobody_asked_for_is_not_tunnelled() {
    let (pki, _engine, gateway) = setup();
    let response = raw::exchange(gateway.addr, &pki, "alice", &get("/fake/unasked-101"));
    assert_eq!(raw::status(&response), 502, "{response}");
}

#[test]
fn inspected_bodies_are_forwarded_byte_for_byte_even_when_chunked() {
    let (pki, engine, gateway) = setup();
    let body = br#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"Binds":["data:/data"]}}"#;
    let mut request = b"POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    let (a, b) = body.split_at(10);
    for part in [a, b] {
        request.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        request.extend_from_slice(part);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let response = raw::exchange(gateway.addr, &pki, "alice", &request);
    assert_eq!(raw::status(&response), 200, "{response}");
    let seen = &engine.requests()[0];
    assert_eq!(seen.body, body);
    assert_eq!(
        seen.header("content-length"),
        Some(body.len().to_string().as_str())
    );
    assert_eq!(seen.header("transfer-encoding"), None);
}

#[test]
fn uninspected_request_bodies_stream_through() {
    let (pki, engine, gateway) = setup();
    let body = vec![b'z'; 3 << 20];
    let mut request = format!("POST /v1.41/images/load HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
    request.extend_from_slice(&body);
    let response = raw::exchange(gateway.addr, &pki, "alice", &request);
    assert_eq!(raw::status(&response), 200, "{response}");
    assert_eq!(engine.requests()[0].body.len(), body.len());
}

#[test]
fn the_audit_metrics_count_decisions() {
    let (pki, _engine, gateway) = setup();
    raw::exchange(gateway.addr, &pki, "bob", &get("/_ping"));
    raw::exchange(gateway.addr, &pki, "bob", &get("/info"));
    let text = dockgate::run::metrics::render();
    assert!(
        text.contains(r#"dockgate_requests_total{client="bob",decision="allow",reason=""}"#),
        "{text}"
    );
    assert!(
        text.contains(r#"dockgate_requests_total{client="bob",decision="deny",reason="no_rule"}"#),
        "{text}"
    );
}

fn read_head(conn: &mut Conn) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        conn.tls.read_exact(&mut byte).expect("response head");
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}
