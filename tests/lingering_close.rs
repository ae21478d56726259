//! Refusals that reach a client still sending its body: a client that
//! writes its whole request before reading (Python's `requests`, and so
//! docker-py, does) must get dockgate's JSON refusal, not a broken pipe.
//!
//! dockgate answers a refused request as soon as it has decided, often long
//! before the body has arrived. Closing the socket with unread bytes in it
//! makes the kernel send a reset, which can destroy the answer before the
//! client reads it; so dockgate keeps reading and discarding the body for a
//! bounded time and amount before it closes ("lingering close").

mod support;

use std::io::{ErrorKind, Write};
use std::time::Duration;

use support::fake_engine::FakeEngine;
use support::raw::{self, Conn};
use support::{Gateway, Pki};

const CONFIG: &str = r#"
[clients.alice]
policies = ["ops"]

[clients.bob]
policies = ["read"]

[policies.ops]
allow = ["* /**"]

[policies.read]
allow = ["GET /_ping"]

[limits]
shutdown_grace = "2s"
max_inspected_body_bytes = 65536
"#;

/// Larger than every socket buffer between the client and dockgate, and
/// below the amount dockgate discards before giving up.
const BODY_BYTES: usize = 6 << 20;
const _: () = assert!((BODY_BYTES as u64) < dockgate::request::linger::LINGER_BYTES);

const POLICY_REFUSED: &str =
    "POST /v1.41/build?t=x HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-tar\r\n";

/// How far a client got that writes a whole request before reading.
enum Outcome {
    /// Everything was sent; this is what came back.
    Answered(String),
    /// Writing failed after this many body bytes.
    Cut(usize, std::io::Error),
}

/// Sends `head` and then `body_bytes` of body as `client` without reading
/// anything, then reads the answer.
fn send_whole_body_then_read(
    gateway: &Gateway,
    pki: &Pki,
    client: &str,
    head: &str,
    body_bytes: usize,
) -> Outcome {
    let mut conn = Conn::open(gateway.addr, raw::client_config(pki, Some(client))).unwrap();
    // A bound, not a timing assertion: a gateway that neither reads nor
    // closes fails the test instead of hanging it.
    conn.tls
        .sock
        .set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let head = format!("{head}Content-Length: {body_bytes}\r\n\r\n");
    conn.send(head.as_bytes()).expect("the head is sent");
    let chunk = vec![b'{'; 64 * 1024];
    let mut sent = 0;
    while sent < body_bytes {
        let n = chunk.len().min(body_bytes - sent);
        if let Err(e) = conn.tls.write_all(&chunk[..n]) {
            return Outcome::Cut(sent, e);
        }
        sent += n;
    }
    if let Err(e) = conn.tls.flush() {
        return Outcome::Cut(sent, e);
    }
    Outcome::Answered(conn.read_to_close())
}

fn answered(outcome: Outcome) -> String {
    match outcome {
        Outcome::Answered(response) => response,
        Outcome::Cut(sent, e) => panic!("writing the body failed after {sent} bytes: {e}"),
    }
}

/// The JSON message of a refusal, or a panic naming what came instead.
fn message(response: &str) -> String {
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body)
        .unwrap_or_else(|| panic!("no HTTP response: {response}"));
    let json: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"));
    json["message"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn an_oversized_inspected_body_still_gets_its_413() {
    let pki = Pki::new(&["alice", "bob"]);
    let engine = FakeEngine::start();
    let gateway = Gateway::start(&pki, engine.path(), CONFIG);
    let response = answered(send_whole_body_then_read(
        &gateway,
        &pki,
        "alice",
        "POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n",
        BODY_BYTES,
    ));
    assert_eq!(raw::status(&response), 413, "{response}");
    assert!(
        message(&response).contains("over the 65536-byte limit"),
        "{response}"
    );
    assert_eq!(engine.request_count(), 0, "{:?}", engine.requests());
}

#[test]
fn a_refusal_decided_from_the_head_still_reaches_the_client() {
    let pki = Pki::new(&["alice", "bob"]);
    let engine = FakeEngine::start();
    let gateway = Gateway::start(&pki, engine.path(), CONFIG);
    let response = answered(send_whole_body_then_read(
        &gateway,
        &pki,
        "bob",
        POLICY_REFUSED,
        BODY_BYTES,
    ));
    assert_eq!(raw::status(&response), 403, "{response}");
    assert!(
        message(&response).contains("may not POST /v1.41/build"),
        "{response}"
    );
    assert_eq!(engine.request_count(), 0, "{:?}", engine.requests());
}

#[test]
fn a_client_cannot_keep_a_refused_connection_open_by_sending() {
    let pki = Pki::new(&["alice", "bob"]);
    let engine = FakeEngine::start();
    let gateway = Gateway::start(&pki, engine.path(), CONFIG);
    // Far more than dockgate discards and than the socket buffers hold.
    let body = 4 * dockgate::request::linger::LINGER_BYTES as usize;
    match send_whole_body_then_read(&gateway, &pki, "bob", POLICY_REFUSED, body) {
        Outcome::Cut(sent, e) => {
            assert!(sent < body, "{sent}");
            assert!(
                matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset),
                "the gateway closed the connection: {e}"
            );
        }
        Outcome::Answered(response) => {
            panic!("dockgate read a {body}-byte refused body to its end: {response}")
        }
    }
    assert_eq!(engine.request_count(), 0, "{:?}", engine.requests());
}
