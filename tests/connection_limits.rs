//! Connection limits that hold for tunnels: a connection that an upgrade
//! turns into a tunnel (attach, exec, BuildKit) counts against
//! `max_connections` and `max_connections_per_client` until the tunnel
//! ends, and a client at its limit cannot keep another client from being
//! served.
//!
//! Tunnels are the fake Engine's upgrades: it answers 101 to any upgrade
//! request and echoes what it is sent in upper case, so every tunnel here is
//! proven to carry bytes before it is counted on.

mod support;

use std::io::Read;

use support::fake_engine::FakeEngine;
use support::raw::{self, Conn};
use support::{eventually, Gateway, Pki};

const ATTACH: &[u8] = b"POST /v1.41/containers/abc/attach?stream=1&stdin=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n";
const PING: &[u8] = b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

fn config(max_connections: usize, per_client: usize) -> String {
    format!(
        "[clients.hog]\npolicies = [\"ops\"]\n[clients.other]\npolicies = [\"ops\"]\n\
         [policies.ops]\nallow = [\"* /**\"]\n\
         [limits]\nshutdown_grace = \"2s\"\nmax_connections = {max_connections}\n\
         max_connections_per_client = {per_client}\n"
    )
}

/// What an attach request got.
enum Attach {
    /// A tunnel that carried a round trip.
    Tunnel(Box<Conn>),
    /// Anything else: the response as read.
    Refused(String),
}

/// Asks for an attach tunnel as `client` on a new connection.
fn attach(gateway: &Gateway, pki: &Pki, client: &str) -> Attach {
    let mut conn = Conn::open(gateway.addr, raw::client_config(pki, Some(client))).unwrap();
    conn.send(ATTACH).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match conn.tls.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return Attach::Refused(String::from_utf8_lossy(&head).into_owned()),
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    if raw::status(&head) != 101 {
        return Attach::Refused(head + &conn.read_to_close());
    }
    conn.send(b"ping\n").unwrap();
    let mut echo = [0u8; 5];
    conn.tls.read_exact(&mut echo).expect("the tunnel echoes");
    assert_eq!(&echo, b"PING\n");
    Attach::Tunnel(Box::new(conn))
}

fn tunnel(gateway: &Gateway, pki: &Pki, client: &str) -> Conn {
    match attach(gateway, pki, client) {
        Attach::Tunnel(conn) => *conn,
        Attach::Refused(response) => panic!("{client}'s tunnel was refused: {response}"),
    }
}

/// A `/_ping` on a new connection: the response, or empty when the
/// connection was refused.
fn ping(gateway: &Gateway, pki: &Pki, client: &str) -> String {
    match Conn::open(gateway.addr, raw::client_config(pki, Some(client))) {
        Ok(mut conn) => match conn.send(PING) {
            Ok(()) => conn.read_to_close(),
            Err(_) => String::new(),
        },
        Err(_) => String::new(),
    }
}

/// Connections refused for `reason` since the process started (metrics are
/// process-wide; only one test here refuses for each reason).
fn refused_connections(reason: &str) -> u64 {
    let label = format!("dockgate_refused_connections_total{{reason=\"{reason}\"}} ");
    dockgate::run::metrics::render()
        .lines()
        .find_map(|line| line.strip_prefix(&label)?.trim().parse().ok())
        .unwrap_or(0)
}

fn attach_requests(engine: &FakeEngine) -> usize {
    engine
        .requests()
        .iter()
        .filter(|r| r.target.contains("/attach"))
        .count()
}

#[test]
fn a_client_holding_tunnels_up_to_its_limit_is_refused_more_and_others_are_served() {
    const PER_CLIENT: usize = 64;
    const EXTRA_TUNNELS: usize = 16;
    const IDLE_OVER_LIMIT: usize = dockgate::request::shared::REFUSALS_PER_CLIENT + 8;
    // Room for the client's tunnels, its refusals in progress and a few
    // more, but not for its idle connections over the limit had they all
    // been kept waiting for a request to refuse.
    const TOTAL: usize = PER_CLIENT + dockgate::request::shared::REFUSALS_PER_CLIENT + 8;
    const _: () = assert!(PER_CLIENT + IDLE_OVER_LIMIT >= TOTAL);

    let pki = Pki::new(&["hog", "other"]);
    let engine = FakeEngine::start();
    let gateway = Gateway::start(&pki, engine.path(), &config(TOTAL, PER_CLIENT));
    let refused_before = refused_connections("max_connections_per_client");
    let mut pings = 0;

    // Up to the limit, every tunnel opens; the other client is served all along.
    let mut tunnels = Vec::new();
    for i in 0..PER_CLIENT {
        tunnels.push(tunnel(&gateway, &pki, "hog"));
        if i % 8 == 0 {
            let response = ping(&gateway, &pki, "other");
            assert_eq!(raw::status(&response), 200, "{response}");
            pings += 1;
        }
    }

    // Past it, more tunnels are refused with 429, naming the limit.
    for _ in 0..EXTRA_TUNNELS {
        match attach(&gateway, &pki, "hog") {
            Attach::Tunnel(_) => {
                panic!("a tunnel past the limit of {PER_CLIENT} was opened")
            }
            Attach::Refused(response) => {
                assert_eq!(raw::status(&response), 429, "{response}");
                let body = response.split_once("\r\n\r\n").unwrap().1;
                let json: serde_json::Value = serde_json::from_str(body).unwrap();
                let message = json["message"].as_str().unwrap();
                assert!(
                    message.contains(&format!("has {PER_CLIENT} connections open"))
                        && message.contains("max_connections_per_client"),
                    "{message}"
                );
            }
        }
        let response = ping(&gateway, &pki, "other");
        assert_eq!(raw::status(&response), 200, "{response}");
        pings += 1;
    }

    // Idle connections over the limit: a few wait for a request to refuse,
    // the rest are closed, so the other client still finds room.
    let tls = raw::client_config(&pki, Some("hog"));
    let mut idle: Vec<Conn> = (0..IDLE_OVER_LIMIT)
        .map(|_| Conn::open(gateway.addr, tls.clone()).unwrap())
        .collect();
    eventually("every idle connection over the limit was judged", || {
        refused_connections("max_connections_per_client") - refused_before
            == (EXTRA_TUNNELS + IDLE_OVER_LIMIT) as u64
    });
    let response = ping(&gateway, &pki, "other");
    assert_eq!(raw::status(&response), 200, "{response}");
    pings += 1;
    let (mut answered, mut closed) = (0, 0);
    for conn in &mut idle {
        // The closed ones may fail to take the request.
        let _ = conn.send(PING);
        let response = conn.read_to_close();
        match raw::status(&response) {
            429 => answered += 1,
            0 => closed += 1,
            _ => panic!("{response}"),
        }
    }
    assert_eq!(answered, dockgate::request::shared::REFUSALS_PER_CLIENT);
    assert_eq!(closed, IDLE_OVER_LIMIT - answered);

    // Only the tunnels within the limit reached the Engine.
    assert_eq!(attach_requests(&engine), PER_CLIENT);
    assert_eq!(engine.request_count(), PER_CLIENT + pings);

    // A slot frees only when a tunnel ends.
    drop(tunnels.pop());
    eventually("the ended tunnel's slot is free again", || {
        matches!(attach(&gateway, &pki, "hog"), Attach::Tunnel(_))
    });
}

#[test]
fn tunnels_count_against_the_global_limit() {
    const TOTAL: usize = 8;
    let pki = Pki::new(&["hog", "other"]);
    let engine = FakeEngine::start();
    let gateway = Gateway::start(&pki, engine.path(), &config(TOTAL, 100));
    let refused_before = refused_connections("max_connections");

    let mut tunnels: Vec<Conn> = (0..TOTAL).map(|_| tunnel(&gateway, &pki, "hog")).collect();
    // Every connection is a tunnel now, so no one else gets in.
    assert!(raw::refused_at_handshake(
        gateway.addr,
        raw::client_config(&pki, Some("other"))
    ));
    assert_eq!(refused_connections("max_connections") - refused_before, 1);
    assert_eq!(attach_requests(&engine), TOTAL);
    assert_eq!(engine.request_count(), TOTAL);

    drop(tunnels.pop());
    eventually("a connection is free once a tunnel ends", || {
        raw::status(&ping(&gateway, &pki, "other")) == 200
    });
}
