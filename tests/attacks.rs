//! Attacks on the gateway at the socket, table by table: request targets
//! and methods the Engine could read differently, upgrade and pipelining
//! tricks, oversized headers and bodies, request-smuggling framings,
//! form-encoded bodies, host-granting request bodies, bad client
//! certificates, and clients that never finish a handshake or a header.
//!
//! Every case says what the client gets back *and* what reached the fake
//! Engine: nothing at all for a refusal, or exactly one well-formed request
//! whose target and body are what the gateway judged.

mod support;

use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair, KeyUsagePurpose};
use support::fake_engine::{FakeEngine, Recorded};
use support::raw::{self, Conn};
use support::{eventually, Gateway, Pki};

/// alice may call anything but is granted nothing; bob may read a little;
/// carol may call anything and is granted a CI tree, one capability and
/// plugins. Limits are small so the size and timeout attacks are cheap.
const CONFIG: &str = r#"
[clients.alice]
policies = ["ops"]

[clients.bob]
policies = ["read"]

[clients.carol]
policies = ["ci"]

# Audit mode forwards what its policies refuse, never what cannot be judged.
[clients.erin]
policies = ["read"]
mode = "audit"

[policies.read]
allow = ["GET /_ping", "GET /containers/json", "GET /events", "GET /fake/**"]
# The fake Engine's fault routes are not Engine API routes.
grants = { unknown_routes = true }

[policies.ops]
allow = ["* /**"]

[policies.ci]
allow = ["* /**"]

[policies.ci.grants]
bind_mounts = ["/srv/ci/**"]
capabilities = ["NET_ADMIN"]
plugins = true

[limits]
handshake_timeout = "1s"
request_header_timeout = "1s"
shutdown_grace = "2s"
max_header_bytes = 16384
max_inspected_body_bytes = 4096
# Every attack here comes from 127.0.0.1: the per-address handshake share
# must not be what stops them (tests/floods.rs tests the share).
max_handshakes = 512
max_handshakes_per_address = 512
"#;

const CLIENTS: [&str; 5] = ["alice", "bob", "carol", "dave", "erin"];

fn setup() -> (Pki, FakeEngine, Gateway) {
    let pki = Pki::new(&CLIENTS);
    let engine = FakeEngine::start();
    let gateway = Gateway::start(&pki, engine.path(), CONFIG);
    (pki, engine, gateway)
}

// ---------------------------------------------------------------------------
// The table runner
// ---------------------------------------------------------------------------

/// What one attack must produce.
#[derive(Debug)]
enum Want {
    /// dockgate answers this status with a JSON `message` containing every
    /// fragment; nothing reaches the Engine.
    Refused(u16, &'static [&'static str]),
    /// hyper's HTTP/1.1 parser answers this status (no JSON body) before
    /// dockgate sees any request; nothing reaches the Engine.
    Unparsed(u16),
    /// Exactly one request reaches the Engine, with this method and target
    /// (and, when given, exactly this body); the client gets the Engine's 200.
    Forwarded {
        method: &'static str,
        target: String,
        body: Option<Vec<u8>>,
    },
}

struct Case {
    name: &'static str,
    client: &'static str,
    request: Vec<u8>,
    want: Want,
}

fn case(name: &'static str, client: &'static str, request: impl Into<Vec<u8>>, want: Want) -> Case {
    Case {
        name,
        client,
        request: request.into(),
        want,
    }
}

fn refused(status: u16, fragments: &'static [&'static str]) -> Want {
    Want::Refused(status, fragments)
}

fn forwarded(method: &'static str, target: impl Into<String>) -> Want {
    Want::Forwarded {
        method,
        target: target.into(),
        body: None,
    }
}

fn forwarded_body(method: &'static str, target: impl Into<String>, body: &[u8]) -> Want {
    Want::Forwarded {
        method,
        target: target.into(),
        body: Some(body.to_vec()),
    }
}

/// `GET target` on a connection the gateway closes after answering.
fn get(target: &str) -> Vec<u8> {
    request("GET", target, "", b"")
}

/// A request with a Content-Length body (none when `body` is empty).
fn request(method: &str, target: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let length = if body.is_empty() {
        String::new()
    } else {
        format!("Content-Length: {}\r\n", body.len())
    };
    let mut out = format!(
        "{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}{length}\r\n"
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

fn post_json(target: &str, body: &[u8]) -> Vec<u8> {
    request("POST", target, "Content-Type: application/json\r\n", body)
}

/// `body` in two chunks, with `headers` (which must include the framing).
fn chunked(method: &str, target: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut out =
        format!("{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n")
            .into_bytes();
    let (a, b) = body.split_at(body.len() / 2);
    for part in [a, b] {
        if !part.is_empty() {
            out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            out.extend_from_slice(part);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Runs every case on a fresh connection and reports all failures at once.
fn run(pki: &Pki, engine: &FakeEngine, gateway: &Gateway, cases: Vec<Case>) {
    let total = cases.len();
    let mut failures = Vec::new();
    for case in cases {
        let before = engine.request_count();
        let response = raw::exchange(gateway.addr, pki, case.client, &case.request);
        let reached = engine.requests()[before..].to_vec();
        if let Err(why) = check(&case.want, &response, &reached) {
            failures.push(format!(
                "{} ({}): {why}\n    wanted: {:?}\n    response: {}\n    reached the Engine: {reached:?}",
                case.name,
                case.client,
                case.want,
                short(&response)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn check(want: &Want, response: &str, reached: &[Recorded]) -> Result<(), String> {
    let status = raw::status(response);
    match want {
        Want::Refused(expected, fragments) => {
            if status != *expected {
                return Err(format!("status {status}, not {expected}"));
            }
            let message = json_message(response)?;
            if let Some(missing) = fragments.iter().find(|f| !message.contains(*f)) {
                return Err(format!("message {message:?} does not contain {missing:?}"));
            }
            nothing_reached(reached)
        }
        Want::Unparsed(expected) => {
            if status != *expected {
                return Err(format!("status {status}, not {expected}"));
            }
            if response.contains("\"message\"") {
                return Err("answered by dockgate, not by the HTTP parser".into());
            }
            nothing_reached(reached)
        }
        Want::Forwarded {
            method,
            target,
            body,
        } => {
            if status != 200 {
                return Err(format!("status {status}, not the Engine's 200"));
            }
            let [one] = reached else {
                return Err(format!(
                    "{} requests reached the Engine, not one",
                    reached.len()
                ));
            };
            if one.method != *method || one.target != *target {
                return Err(format!(
                    "the Engine got {} {}, not {method} {target}",
                    one.method, one.target
                ));
            }
            if one.header("content-length").is_some() && one.header("transfer-encoding").is_some() {
                return Err("the Engine got both Content-Length and Transfer-Encoding".into());
            }
            if let Some(body) = body {
                if one.body != *body {
                    return Err(format!(
                        "the Engine got body {:?}",
                        String::from_utf8_lossy(&one.body)
                    ));
                }
            }
            Ok(())
        }
    }
}

fn nothing_reached(reached: &[Recorded]) -> Result<(), String> {
    match reached {
        [] => Ok(()),
        _ => Err(format!("{} request(s) reached the Engine", reached.len())),
    }
}

fn json_message(response: &str) -> Result<String, String> {
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("body is not JSON ({e})"))?;
    value["message"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "no message field".into())
}

fn short(text: &str) -> String {
    let mut s: String = text.chars().take(400).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    s.escape_debug().to_string()
}

/// The status of every response in a pipelined answer, in order.
fn statuses(all: &str) -> Vec<u16> {
    all.match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| all[i + 9..].get(..4)?.strip_suffix(' ')?.parse().ok())
        .collect()
}

fn targets(engine: &FakeEngine) -> Vec<String> {
    engine.requests().into_iter().map(|r| r.target).collect()
}

// ---------------------------------------------------------------------------
// Request targets
// ---------------------------------------------------------------------------

#[test]
fn path_tricks_are_refused_before_any_policy() {
    let (pki, engine, gateway) = setup();
    let long_ok = format!("/containers/{}/json", "a".repeat(12_000));
    let long_escaped = format!("/containers/{}/json", "%41".repeat(4_000));
    let cases = vec![
        case(
            "encoded slash",
            "alice",
            get("/containers/x%2Fjson"),
            refused(400, &["GET /containers/x%2Fjson", "percent escape %2F"]),
        ),
        case(
            "encoded slash, lower case",
            "alice",
            get("/containers/x%2fjson"),
            refused(400, &["percent escape %2f"]),
        ),
        case(
            "encoded dot-dot",
            "alice",
            get("/containers/%2e%2e/info"),
            refused(400, &["percent escape %2e"]),
        ),
        case(
            "double-encoded slash",
            "alice",
            get("/containers/x%252Fjson"),
            refused(400, &["percent escape %25"]),
        ),
        case(
            "encoded NUL",
            "alice",
            get("/containers/x%00/json"),
            refused(400, &["percent escape %00"]),
        ),
        case(
            "encoded backslash",
            "alice",
            get("/containers/x%5Cjson"),
            refused(400, &["percent escape %5C"]),
        ),
        case(
            "encoded non-ASCII",
            "alice",
            get("/containers/%c3%a9/json"),
            refused(400, &["percent escape %c3"]),
        ),
        case(
            "raw backslash",
            "alice",
            get("/containers/x\\..\\json"),
            refused(400, &["byte 0x5c"]),
        ),
        case(
            "raw double quote",
            "alice",
            get("/containers/\"x\"/json"),
            refused(400, &["byte 0x22"]),
        ),
        case(
            "double slash",
            "alice",
            get("/containers//json"),
            refused(400, &["empty path segment"]),
        ),
        case(
            "leading double slash",
            "alice",
            get("//containers/json"),
            refused(400, &["empty path segment"]),
        ),
        case(
            "dot segment",
            "alice",
            get("/containers/./json"),
            refused(400, &["dot segment"]),
        ),
        case(
            "dot-dot segment",
            "alice",
            get("/containers/x/../../info"),
            refused(400, &["dot segment"]),
        ),
        case(
            "dot-dot after the version",
            "alice",
            get("/v1.41/../info"),
            refused(400, &["dot segment"]),
        ),
        case(
            "trailing slash",
            "bob",
            get("/containers/json/"),
            refused(400, &["empty path segment"]),
        ),
        case(
            "malformed escape",
            "alice",
            get("/containers/%zz/json"),
            refused(400, &["malformed percent escape"]),
        ),
        case(
            "truncated escape",
            "alice",
            get("/containers/json%4"),
            refused(400, &["malformed percent escape"]),
        ),
        case(
            "raw non-ASCII bytes",
            "alice",
            b"GET /containers/\xc3\xa9/json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                .to_vec(),
            refused(400, &["byte 0xc3"]),
        ),
        case(
            "raw NUL",
            "alice",
            b"GET /containers/\x00/json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
            Want::Unparsed(400),
        ),
        // The fragment never leaves the gateway: the Engine gets the path that was judged.
        case(
            "fragment",
            "bob",
            get("/containers/json#/../../info"),
            forwarded("GET", "/containers/json"),
        ),
        case(
            "fragment hiding a query",
            "bob",
            get("/_ping#?x=1"),
            forwarded("GET", "/_ping"),
        ),
        case(
            "empty query",
            "bob",
            get("/containers/json?"),
            forwarded("GET", "/containers/json?"),
        ),
        case(
            "path-like query",
            "bob",
            get("/containers/json?x=/../../info"),
            forwarded("GET", "/containers/json?x=/../../info"),
        ),
        case(
            "query does not widen the path",
            "bob",
            get("/info?/containers/json"),
            refused(403, &["\"bob\"", "GET /info"]),
        ),
        case(
            "encoded question mark is path",
            "bob",
            get("/containers/json%3Fx"),
            refused(403, &["GET /containers/json%3Fx"]),
        ),
        case(
            "encoded question mark, allowed client",
            "alice",
            get("/containers/json%3Fx"),
            refused(403, &["GET route for /containers/json?x", "unknown_routes"]),
        ),
        case(
            "encoded letters are the same route",
            "bob",
            get("/%63ontainers/json"),
            forwarded("GET", "/%63ontainers/json"),
        ),
        case(
            "very long path",
            "alice",
            get(&long_ok),
            forwarded("GET", long_ok.clone()),
        ),
        case(
            "very long escaped path",
            "alice",
            get(&long_escaped),
            forwarded("GET", long_escaped.clone()),
        ),
        case(
            "path longer than the header limit",
            "alice",
            get(&format!("/{}", "a".repeat(20_000))),
            Want::Unparsed(431),
        ),
    ];
    // Each refused trick again from a client in audit mode: refused all the
    // same, and nothing reaches the Engine.
    let audited: Vec<Case> = cases
        .iter()
        .filter_map(|c| match c.want {
            Want::Refused(400, fragments) => Some(case(
                c.name,
                "erin",
                c.request.clone(),
                refused(400, fragments),
            )),
            _ => None,
        })
        .collect();
    assert!(
        audited.len() >= 10,
        "every refused trick again: {}",
        audited.len()
    );
    let mut cases = cases;
    cases.extend(audited);
    run(&pki, &engine, &gateway, cases);
}

#[test]
fn version_prefixes_are_read_as_the_engine_reads_them() {
    let (pki, engine, gateway) = setup();
    let cases = vec![
        case(
            "v1.41",
            "bob",
            get("/v1.41/containers/json"),
            forwarded("GET", "/v1.41/containers/json"),
        ),
        case(
            "v1",
            "bob",
            get("/v1/containers/json"),
            forwarded("GET", "/v1/containers/json"),
        ),
        case(
            "v.",
            "bob",
            get("/v./containers/json"),
            forwarded("GET", "/v./containers/json"),
        ),
        case(
            "v1..2",
            "bob",
            get("/v1..2/containers/json"),
            forwarded("GET", "/v1..2/containers/json"),
        ),
        case(
            "encoded version",
            "bob",
            get("/%761.41/containers/json"),
            forwarded("GET", "/%761.41/containers/json"),
        ),
        // Capital V is not a version prefix to the Engine's router: the route is /V1.41/containers/json.
        case(
            "capital V",
            "bob",
            get("/V1.41/containers/json"),
            refused(403, &["\"bob\"", "GET /V1.41/containers/json"]),
        ),
        case(
            "bare v",
            "bob",
            get("/v/containers/json"),
            refused(403, &["GET /v/containers/json"]),
        ),
        case(
            "v with letters",
            "bob",
            get("/v1a/containers/json"),
            refused(403, &["GET /v1a/containers/json"]),
        ),
        case(
            "version alone",
            "bob",
            get("/v1.41"),
            refused(400, &["nothing follows the API version prefix"]),
        ),
        case(
            "version and slash",
            "bob",
            get("/v1.41/"),
            refused(400, &["empty path segment"]),
        ),
        // Only one prefix is stripped: the route is /v1.41/containers/json, which no read rule allows.
        case(
            "two versions",
            "bob",
            get("/v1.41/v1.41/containers/json"),
            refused(403, &["GET /v1.41/v1.41/containers/json"]),
        ),
        case(
            "two versions, allowed client",
            "alice",
            get("/v1.41/v1.41/containers/json"),
            refused(
                403,
                &["has the path /v1.41/containers/json", "unknown_routes"],
            ),
        ),
    ];
    run(&pki, &engine, &gateway, cases);
}

#[test]
fn methods_and_target_forms_outside_the_engine_api_are_refused() {
    let (pki, engine, gateway) = setup();
    let cases = vec![
        case(
            "CONNECT authority-form",
            "alice",
            &b"CONNECT docker.sock:80 HTTP/1.1\r\nHost: docker.sock:80\r\n\r\n"[..],
            refused(400, &["method CONNECT is not used"]),
        ),
        case(
            "CONNECT origin-form",
            "alice",
            request("CONNECT", "/_ping", "", b""),
            refused(400, &["method CONNECT"]),
        ),
        case(
            "OPTIONS",
            "alice",
            request("OPTIONS", "/_ping", "", b""),
            refused(400, &["method OPTIONS"]),
        ),
        case(
            "OPTIONS asterisk",
            "alice",
            request("OPTIONS", "*", "", b""),
            refused(400, &["method OPTIONS"]),
        ),
        case(
            "TRACE",
            "alice",
            request("TRACE", "/_ping", "", b""),
            refused(400, &["method TRACE"]),
        ),
        case(
            "PATCH",
            "alice",
            request("PATCH", "/containers/x/update", "", b"{}"),
            refused(400, &["method PATCH"]),
        ),
        case(
            "lower-case get",
            "alice",
            request("get", "/_ping", "", b""),
            refused(400, &["method get"]),
        ),
        case(
            "unknown token",
            "alice",
            request("PROPFIND", "/_ping", "", b""),
            refused(400, &["method PROPFIND"]),
        ),
        case(
            "absolute-form",
            "alice",
            get("http://x/containers/json"),
            refused(400, &["must be a path"]),
        ),
        // The http crate cannot parse an authority-less scheme: hyper answers 400 itself.
        case(
            "absolute-form, unix scheme",
            "bob",
            get("unix:///var/run/docker.sock/containers/json"),
            Want::Unparsed(400),
        ),
        case(
            "asterisk-form",
            "alice",
            get("*"),
            refused(400, &["must be a path"]),
        ),
        case(
            "authority-form with GET",
            "alice",
            get("docker.sock:80"),
            refused(400, &["must be a path"]),
        ),
    ];
    run(&pki, &engine, &gateway, cases);
}

// ---------------------------------------------------------------------------
// Upgrades and pipelining
// ---------------------------------------------------------------------------

#[test]
fn upgrade_abuse_is_refused() {
    let (pki, engine, gateway) = setup();
    let upgrade = |proto: &str| format!("Connection: Upgrade, close\r\nUpgrade: {proto}\r\n");
    let attach = "/containers/x/attach?stream=1&stdin=1";
    let cases = vec![
        case(
            "upgrade on a refused path",
            "bob",
            request("POST", attach, &upgrade("tcp"), b""),
            refused(403, &["\"bob\"", "POST /containers/x/attach"]),
        ),
        case(
            "websocket",
            "alice",
            request("GET", attach, &upgrade("websocket"), b""),
            refused(400, &["upgrade to \"websocket\" is not supported"]),
        ),
        case(
            "h2",
            "alice",
            request("GET", "/_ping", &upgrade("h2"), b""),
            refused(400, &["upgrade to \"h2\""]),
        ),
        case(
            "two upgrade protocols in one header",
            "alice",
            request("POST", attach, &upgrade("tcp, h2c"), b""),
            refused(400, &["upgrade to \"tcp, h2c\""]),
        ),
        case(
            "two Upgrade headers",
            "alice",
            request(
                "POST",
                attach,
                "Connection: Upgrade, close\r\nUpgrade: tcp\r\nUpgrade: h2c\r\n",
                b"",
            ),
            refused(400, &["more than one Upgrade header"]),
        ),
        case(
            "upgrade declined by the Engine",
            "bob",
            request("GET", "/fake/no-upgrade", &upgrade("tcp"), b""),
            forwarded("GET", "/fake/no-upgrade"),
        ),
    ];
    run(&pki, &engine, &gateway, cases);
    let declined = engine.requests().pop().unwrap();
    assert_eq!(declined.header("upgrade"), Some("tcp"), "{declined:?}");

    // An Upgrade header without the Connection token is a hop-by-hop header like any other.
    let before = engine.request_count();
    let response = raw::exchange(
        gateway.addr,
        &pki,
        "alice",
        &request("GET", "/_ping", "Upgrade: tcp\r\n", b""),
    );
    assert_eq!(raw::status(&response), 200, "{response}");
    let seen = &engine.requests()[before];
    assert_eq!(seen.header("upgrade"), None, "{seen:?}");
}

#[test]
fn a_pipelined_request_is_judged_on_its_own() {
    let (pki, engine, gateway) = setup();
    let mut conn = Conn::open(gateway.addr, raw::client_config(&pki, Some("bob"))).unwrap();
    conn.send(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\nPOST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        .unwrap();
    let all = conn.read_to_close();
    assert_eq!(statuses(&all), [200, 403], "{all}");
    assert!(all.contains("may not POST /containers/create"), "{all}");
    assert_eq!(targets(&engine), ["/_ping"]);
}

#[test]
fn a_pipelined_request_after_a_chunked_body_is_judged_on_its_own() {
    let (pki, engine, gateway) = setup();
    let mut conn = Conn::open(gateway.addr, raw::client_config(&pki, Some("bob"))).unwrap();
    conn.send(b"GET /_ping HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let all = conn.read_to_close();
    assert_eq!(statuses(&all), [200, 403], "{all}");
    assert_eq!(targets(&engine), ["/_ping"]);
}

#[test]
fn bytes_after_a_refused_upgrade_are_not_a_tunnel() {
    let (pki, engine, gateway) = setup();
    // A refused upgrade followed by a forbidden request: both refused, on their own.
    let mut conn = Conn::open(gateway.addr, raw::client_config(&pki, Some("bob"))).unwrap();
    conn.send(
        b"POST /containers/x/attach?stdin=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n\
          POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    )
    .unwrap();
    let all = conn.read_to_close();
    assert_eq!(statuses(&all), [403, 403], "{all}");
    assert!(
        all.contains("may not POST /containers/x/attach")
            && all.contains("may not POST /containers/create"),
        "{all}"
    );

    // A refused upgrade followed by tunnel bytes: they are read as HTTP and refused.
    let mut conn = Conn::open(gateway.addr, raw::client_config(&pki, Some("alice"))).unwrap();
    conn.send(b"POST /containers/x/attach?stdin=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x01\x00\x00\x00\x00\x00\x00\x05rm -rf /\n")
        .unwrap();
    let all = conn.read_to_close();
    let seen = statuses(&all);
    assert_eq!(seen.first(), Some(&400), "{all}");
    assert!(seen.len() <= 2 && seen.iter().all(|s| *s == 400), "{all}");
    assert_eq!(engine.request_count(), 0, "{:?}", engine.requests());
}

// ---------------------------------------------------------------------------
// Sizes
// ---------------------------------------------------------------------------

#[test]
fn oversized_headers_and_inspected_bodies_are_refused() {
    let (pki, engine, gateway) = setup();
    let big_header = format!("X-Big: {}\r\n", "a".repeat(20_000));
    let many_headers: String = (0..200).map(|i| format!("X-H{i}: 1\r\n")).collect();
    let mut big_body = br#"{"Image":"busybox","Labels":{"pad":""#.to_vec();
    big_body.extend_from_slice(&[b'x'; 5000]);
    big_body.extend_from_slice(br#""}}"#);
    let cases = vec![
        case("header over max_header_bytes", "alice", request("GET", "/_ping", &big_header, b""), Want::Unparsed(431)),
        case("more than 100 headers", "alice", request("GET", "/_ping", &many_headers, b""), Want::Unparsed(431)),
        case("inspected body over the limit, Content-Length", "alice", post_json("/containers/create", &big_body), refused(413, &["4096-byte limit"])),
        case(
            "inspected body over the limit, chunked",
            "alice",
            chunked("POST", "/containers/create", "Transfer-Encoding: chunked\r\n", &big_body),
            refused(413, &["4096-byte limit"]),
        ),
        case(
            "inspected body over the limit, exec",
            "alice",
            chunked("POST", "/v1.41/containers/x/exec", "Transfer-Encoding: chunked\r\n", &big_body),
            refused(413, &["4096-byte limit"]),
        ),
        // Content-Length announces more than the limit; the body never needs to arrive.
        case(
            "announced length over the limit",
            "alice",
            &b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\nConnection: close\r\n\r\n{"[..],
            refused(413, &["4096-byte limit"]),
        ),
    ];
    run(&pki, &engine, &gateway, cases);
}

// ---------------------------------------------------------------------------
// Request smuggling
// ---------------------------------------------------------------------------

/// Each framing is either refused by the parser with nothing forwarded, or
/// read one way: the Engine gets one request, re-framed by the gateway, with
/// the body that was judged.
#[test]
fn smuggling_framings_are_refused_or_reframed() {
    let (pki, engine, gateway) = setup();
    let body = br#"{"Image":"busybox","Cmd":["true"]}"#;
    let privileged = br#"{"Image":"busybox","HostConfig":{"Privileged":true}}"#;
    let create = "/containers/create";
    let te = |value: &str| format!("Transfer-Encoding: {value}\r\n");
    let cases = vec![
        // hyper reads the chunked body and ignores Content-Length (RFC 9112 §6.3).
        case("CL and TE", "alice", chunked("POST", create, &format!("Content-Length: 4\r\n{}", te("chunked")), body), forwarded_body("POST", create, body)),
        case("TE and CL hiding a privileged body", "alice", chunked("POST", create, &format!("{}Content-Length: 4\r\n", te("chunked")), privileged), refused(403, &["HostConfig.Privileged"])),
        case(
            "duplicate differing Content-Length",
            "alice",
            format!("POST {create} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes().into_iter().chain(body.iter().copied()).collect::<Vec<u8>>(),
            Want::Unparsed(400),
        ),
        case(
            "Content-Length list of differing values",
            "alice",
            format!("POST {create} HTTP/1.1\r\nHost: x\r\nContent-Length: 2, {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes().into_iter().chain(body.iter().copied()).collect::<Vec<u8>>(),
            Want::Unparsed(400),
        ),
        case(
            "duplicate equal Content-Length",
            "alice",
            format!("POST {create} HTTP/1.1\r\nHost: x\r\nContent-Length: {0}\r\nContent-Length: {0}\r\nConnection: close\r\n\r\n", body.len()).into_bytes().into_iter().chain(body.iter().copied()).collect::<Vec<u8>>(),
            forwarded_body("POST", create, body),
        ),
        case("signed Content-Length", "alice", format!("POST {create} HTTP/1.1\r\nHost: x\r\nContent-Length: +{}\r\nConnection: close\r\n\r\n", body.len()), Want::Unparsed(400)),
        case("chunked, identity", "alice", chunked("POST", create, &te("chunked, identity"), body), Want::Unparsed(400)),
        case("identity, chunked", "alice", chunked("POST", create, &te("identity, chunked"), body), forwarded_body("POST", create, body)),
        case("xchunked", "alice", chunked("POST", create, &te("xchunked"), body), Want::Unparsed(400)),
        // hyper reads this as chunked (Go would refuse it); the Engine never sees the client's framing.
        case("chunked twice in two headers", "alice", chunked("POST", create, &format!("{}{}", te("chunked"), te("chunked")), body), forwarded_body("POST", create, body)),
        case("upper-case CHUNKED", "alice", chunked("POST", create, &te("CHUNKED"), body), forwarded_body("POST", create, body)),
        case("TE with tab and trailing spaces", "alice", chunked("POST", create, "Transfer-Encoding:\tchunked  \r\n", body), forwarded_body("POST", create, body)),
        case("space before the colon", "alice", chunked("POST", create, "Transfer-Encoding : chunked\r\n", body), Want::Unparsed(400)),
        case("TE hiding a privileged body", "alice", chunked("POST", create, &te("Chunked"), privileged), refused(403, &["HostConfig.Privileged"])),
        case(
            "obs-fold continuation line",
            "alice",
            &b"GET /_ping HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\nConnection: close\r\n\r\n"[..],
            Want::Unparsed(400),
        ),
        case(
            "obs-fold of Transfer-Encoding",
            "alice",
            chunked("POST", create, "Transfer-Encoding:\r\n chunked\r\n", body),
            Want::Unparsed(400),
        ),
        // httparse accepts bare LF line endings; the Engine gets a request the gateway wrote itself.
        case("bare LF line endings", "bob", &b"GET /_ping HTTP/1.1\nHost: x\nConnection: close\n\n"[..], forwarded("GET", "/_ping")),
        case(
            "bare LF hiding a second request",
            "bob",
            &b"GET /_ping HTTP/1.1\nHost: x\nX-A: 1\rGET /info HTTP/1.1\nConnection: close\n\n"[..],
            Want::Unparsed(400),
        ),
        case("NUL in a header value", "alice", &b"GET /_ping HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\nConnection: close\r\n\r\n"[..], Want::Unparsed(400)),
        case("CR in a header value", "alice", &b"GET /_ping HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\nConnection: close\r\n\r\n"[..], Want::Unparsed(400)),
        case(
            "chunk size overflow",
            "alice",
            format!("POST {create} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nffffffffffffffffff\r\n{{}}\r\n0\r\n\r\n"),
            refused(400, &["reading the request body failed"]),
        ),
        case(
            "chunk extension and trailer",
            "alice",
            format!("POST {create} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x};ext=\"a\"\r\n{}\r\n0\r\nX-Trailer: 1\r\n\r\n", body.len(), String::from_utf8_lossy(body)),
            forwarded_body("POST", create, body),
        ),
        // A GET body carrying a second request is one body, forwarded as one.
        case(
            "request inside a GET body",
            "bob",
            &b"GET /_ping HTTP/1.1\r\nHost: x\r\nContent-Length: 36\r\nConnection: close\r\n\r\nGET /info HTTP/1.1\r\nHost: docker\r\n\r\n"[..],
            forwarded_body("GET", "/_ping", b"GET /info HTTP/1.1\r\nHost: docker\r\n\r\n"),
        ),
    ];
    run(&pki, &engine, &gateway, cases);
}

// ---------------------------------------------------------------------------
// Content types
// ---------------------------------------------------------------------------

#[test]
fn form_encoded_bodies_and_two_content_types_are_refused() {
    let (pki, engine, gateway) = setup();
    let body = br#"{"Image":"busybox"}"#;
    let with = |content_type: &str| {
        request(
            "POST",
            "/containers/create",
            &format!("Content-Type: {content_type}\r\n"),
            body,
        )
    };
    let form = &["form-encoded bodies are not accepted"][..];
    let cases = vec![
        case("urlencoded", "alice", with("application/x-www-form-urlencoded"), refused(400, form)),
        case("multipart", "alice", with("multipart/form-data; boundary=x"), refused(400, form)),
        case("odd case and charset", "alice", with("Application/X-WWW-Form-URLEncoded ; charset=utf-8"), refused(400, form)),
        case("upper-case multipart", "alice", with("MULTIPART/FORM-DATA;boundary=\"b\""), refused(400, form)),
        case("leading tab", "alice", with("\tapplication/x-www-form-urlencoded"), refused(400, form)),
        case("on an uninspected endpoint", "alice", request("POST", "/build?networkmode=bridge", "Content-Type: application/x-www-form-urlencoded\r\n", b"networkmode=host"), refused(400, form)),
        case("on a GET", "bob", request("GET", "/containers/json", "Content-Type: application/x-www-form-urlencoded\r\n", b"all=1"), refused(400, form)),
        case(
            "two Content-Type headers",
            "alice",
            request("POST", "/containers/create", "Content-Type: application/json\r\nContent-Type: application/x-www-form-urlencoded\r\n", body),
            refused(400, &["more than one Content-Type header"]),
        ),
        case("non-ASCII Content-Type", "alice", request("POST", "/containers/create", "Content-Type: application/json\u{e9}\r\n", body), refused(400, &["unreadable Content-Type"])),
        case("json is fine", "alice", with("application/json; charset=utf-8"), forwarded_body("POST", "/containers/create", body)),
    ];
    run(&pki, &engine, &gateway, cases);
}

// ---------------------------------------------------------------------------
// Bodies that could grant the host
// ---------------------------------------------------------------------------

#[test]
fn host_granting_bodies_are_judged_through_the_gateway() {
    let (pki, engine, gateway) = setup();
    let create = "/v1.41/containers/create";
    let refusal = |fragments| refused(403, fragments);
    let ok = |client, target: &'static str, body: &'static [u8]| {
        case(
            "allowed",
            client,
            post_json(target, body),
            forwarded_body("POST", target, body),
        )
    };
    let mut cases = vec![
        case("privileged", "alice", post_json(create, br#"{"Image":"x","HostConfig":{"Privileged":true}}"#), refusal(&["\"alice\"", "POST /v1.41/containers/create", "HostConfig.Privileged", "privileged = true", "policy \"ops\""])),
        case("lower-case keys", "alice", post_json(create, br#"{"Image":"x","hostconfig":{"privileged":true}}"#), refusal(&["HostConfig.Privileged"])),
        case("top-level Privileged", "alice", post_json(create, br#"{"Image":"x","Privileged":true}"#), refusal(&["Privileged is not granted"])),
        case("HostConfig twice", "alice", post_json(create, br#"{"Image":"x","HostConfig":{},"HostConfig":{"Privileged":true}}"#), refused(400, &["HostConfig"])),
        case("HostConfig and hostConfig", "alice", post_json(create, br#"{"Image":"x","HostConfig":{},"hostConfig":{"Privileged":true}}"#), refused(400, &["HostConfig"])),
        case("bind of /", "alice", post_json(create, br#"{"Image":"x","HostConfig":{"Binds":["/:/host"]}}"#), refusal(&["HostConfig.Binds (/)"])),
        case("bind of // cleaned to /", "alice", post_json(create, br#"{"Image":"x","HostConfig":{"Binds":["//:/host:ro"]}}"#), refusal(&["HostConfig.Binds (/)"])),
        case("bind escaping a grant with ..", "carol", post_json(create, br#"{"Image":"x","HostConfig":{"Binds":["/srv/ci/../../etc:/etc2"]}}"#), refused(400, &["contains '..'"])),
        case("bind outside the grant", "carol", post_json(create, br#"{"Image":"x","HostConfig":{"Binds":["/srv/cix:/x"]}}"#), refusal(&["HostConfig.Binds (/srv/cix)", "policy \"ci\""])),
        case("granted bind, ungranted client", "alice", post_json(create, br#"{"Image":"x","HostConfig":{"Binds":["/srv/ci/cache:/cache"]}}"#), refusal(&["HostConfig.Binds (/srv/ci/cache)"])),
        case("Mounts bind", "alice", post_json(create, br#"{"Image":"x","HostConfig":{"Mounts":[{"Type":"bind","Source":"/","Target":"/h"}]}}"#), refusal(&["HostConfig.Mounts"])),
        case("CapAdd", "alice", post_json(create, br#"{"Image":"x","HostConfig":{"CapAdd":["SYS_ADMIN"]}}"#), refusal(&["HostConfig.CapAdd (SYS_ADMIN)"])),
        case("CapAdd beyond the grant", "carol", post_json(create, br#"{"Image":"x","HostConfig":{"CapAdd":["NET_ADMIN","cap_sys_admin"]}}"#), refusal(&["HostConfig.CapAdd (SYS_ADMIN)"])),
        case("long-s folded key", "alice", post_json(create, "{\"Image\":\"x\",\"HostConfig\":{\"Bind\u{17f}\":[\"/:/h\"]}}".as_bytes()), refusal(&["HostConfig.Binds (/)"])),
        case("Kelvin-sign folded key", "alice", post_json(create, "{\"Image\":\"x\",\"HostConfig\":{\"Networ\u{212a}Mode\":\"host\"}}".as_bytes()), refusal(&["HostConfig.NetworkMode"])),
        case("escaped key", "alice", post_json(create, br#"{"Image":"x","HostConfig":{"\u0050rivileged":true}}"#), refusal(&["HostConfig.Privileged"])),
        case("escaped HostConfig key", "alice", post_json(create, br#"{"Image":"x","\u0048ostConfig":{"Privileged":true}}"#), refusal(&["HostConfig.Privileged"])),
        case("trailing data", "alice", post_json(create, br#"{"Image":"x"} {"HostConfig":{"Privileged":true}}"#), refused(400, &["refused the request body", "data after the JSON value"])),
        case("invalid UTF-8", "alice", post_json(create, b"{\"Image\":\"x\xff\",\"HostConfig\":{}}"), refused(400, &["refused the request body", "not valid UTF-8"])),
        case("privileged as a string", "alice", post_json(create, br#"{"Image":"x","HostConfig":{"Privileged":"true"}}"#), refused(400, &["Privileged"])),
        case("empty create body", "alice", request("POST", create, "", b""), refused(400, &["needs a JSON body"])),
        case("host network", "alice", post_json(create, br#"{"Image":"x","HostConfig":{"NetworkMode":"host"}}"#), refusal(&["HostConfig.NetworkMode"])),
        case("encoded create path", "alice", post_json("/containers/%63reate", br#"{"Image":"x","HostConfig":{"Privileged":true}}"#), refusal(&["HostConfig.Privileged"])),
        case("chunked privileged", "alice", chunked("POST", create, "Transfer-Encoding: chunked\r\n", br#"{"Image":"x","HostConfig":{"Privileged":true}}"#), refusal(&["HostConfig.Privileged"])),
        case("text/plain privileged", "alice", request("POST", create, "Content-Type: text/plain\r\n", br#"{"Image":"x","HostConfig":{"Privileged":true}}"#), refusal(&["HostConfig.Privileged"])),
        case("exec privileged", "alice", post_json("/containers/x/exec", br#"{"Cmd":["sh"],"Privileged":true}"#), refusal(&["Privileged is not granted"])),
        case("volume o=bind of /", "alice", post_json("/volumes/create", br#"{"Name":"v","Driver":"local","DriverOpts":{"type":"none","o":"bind","device":"/"}}"#), refusal(&["DriverOpts.device (/)"])),
        // The Engine matches mount flags case-sensitively: BIND is filesystem data, so this is a new mount of type "none".
        case("volume O=Bind of /etc", "alice", post_json("/volumes/create", br#"{"Name":"v","driverOpts":{"type":"none","o":"ro,BIND","device":"/etc"}}"#), refusal(&["DriverOpts.type (none)", "volume_types"])),
        case("build with host network", "alice", request("POST", "/build?networkmode=host&t=x", "Content-Type: application/x-tar\r\n", b"tar"), refusal(&["networkmode (host)"])),
        case("build with host network, repeated", "alice", request("POST", "/build?networkmode=bridge&networkmode=host", "", b""), refused(400, &["networkmode is repeated"])),
        case("start with a HostConfig body", "alice", post_json("/containers/x/start", br#"{"Privileged":true}"#), refusal(&["Privileged is not granted"])),
        case("start with binds", "alice", post_json("/v1.23/containers/x/start", br#"{"Binds":["/etc:/etc"]}"#), refusal(&["Binds (/etc)"])),
        // The legacy start body is the create wrapper: the nested HostConfig is the one applied.
        case("start with a nested HostConfig", "alice", post_json("/v1.23/containers/x/start", br#"{"HostConfig":{"Privileged":true}}"#), refusal(&["HostConfig.Privileged"])),
        case("start with nested binds", "alice", post_json("/v1.20/containers/x/start", br#"{"Image":"x","hostconfig":{"Binds":["/:/host"]}}"#), refusal(&["HostConfig.Binds (/)"])),
        // Names contain '/': the Engine's router sends these to start, exec create and update.
        case("start of a container named a/b", "alice", post_json("/v1.23/containers/a/b/start", br#"{"HostConfig":{"Privileged":true}}"#), refusal(&["HostConfig.Privileged"])),
        case("exec create on a/b", "alice", post_json("/containers/a/b/exec", br#"{"Cmd":["sh"],"Privileged":true}"#), refusal(&["Privileged"])),
        case("update of x/exec", "alice", post_json("/containers/x/exec/update", br#"{"Devices":[{"PathOnHost":"/dev/sda"}]}"#), refusal(&["Devices.PathOnHost (/dev/sda)"])),
        case("restore from a host checkpoint directory", "alice", request("POST", "/containers/x/start?checkpoint=c&checkpoint-dir=/etc", "", b""), refusal(&["checkpoint", "checkpoints = true"])),
        case("checkpoint create", "alice", post_json("/containers/x/checkpoints", br#"{"CheckpointID":"c","CheckpointDir":"/etc"}"#), refusal(&["container checkpoint"])),
        case("links to another container", "alice", post_json("/containers/create", br#"{"Image":"x","HostConfig":{"Links":["db:db"]}}"#), refusal(&["HostConfig.Links", "links"])),
        case("swarm join", "alice", post_json("/swarm/join", br#"{"RemoteAddrs":["10.0.0.1:2377"],"JoinToken":"t"}"#), refusal(&["swarm membership", "swarm = true"])),
        case("swarm init", "alice", post_json("/v1.41/swarm/init", br#"{"ListenAddr":"0.0.0.0:2377"}"#), refusal(&["swarm membership"])),
        case("node update", "alice", post_json("/nodes/n1/update?version=1", br#"{"Role":"manager"}"#), refusal(&["swarm membership"])),
        case("an unknown route", "alice", post_json("/containers/x/fly", b"{}"), refusal(&["POST /containers/x/fly", "unknown_routes = true"])),
        case("a route under the wrong method", "alice", request("PUT", "/containers/create", "", b""), refusal(&["no PUT route", "unknown_routes = true"])),
        case("update with a device", "alice", post_json("/containers/x/update", br#"{"Devices":[{"PathOnHost":"/dev/sda","PathInContainer":"/dev/sda"}]}"#), refusal(&["Devices.PathOnHost (/dev/sda)"])),
        case("plugin pull without grant", "alice", request("POST", "/plugins/pull?remote=vieux/sshfs", "", b"[]"), refusal(&["plugin installation", "plugins = true"])),
        case("plugin set without grant", "alice", post_json("/plugins/vieux/sshfs:latest/set", br#"["mount.source=/"]"#), refusal(&["plugin installation"])),
        case("BuildKit without grant", "alice", request("POST", "/grpc", "Connection: Upgrade, close\r\nUpgrade: h2c\r\n", b""), refusal(&["BuildKit session"])),
        case("service create without grant", "alice", post_json("/services/create", br#"{"Name":"x"}"#), refusal(&["swarm service"])),
    ];
    cases.extend([
        ok("alice", create, br#"{"Image":"x","HostConfig":{"Privileged":null}}"#),
        ok("alice", create, br#"{"Image":"x","HostConfig":{"Privileged":false,"Binds":["data:/data"]}}"#),
        ok("alice", create, br#"{"Image":"x", "HostConfig" : {"Mounts":[{"Type":"volume","Source":"data","Target":"/d"}]} }"#),
        ok("carol", create, br#"{"Image":"x","HostConfig":{"Binds":["/srv/ci/cache:/cache"],"CapAdd":["net_admin"]}}"#),
        ok("carol", create, br#"{"Image":"x","HostConfig":{"Mounts":[{"Type":"bind","Source":"/srv/ci","Target":"/ci"}]}}"#),
        ok("alice", "/containers/x/start", b"null"),
        ok("alice", "/containers/x/exec", br#"{"Cmd":["sh"],"Privileged":false}"#),
        ok("alice", "/volumes/create", br#"{"Name":"v","DriverOpts":{"type":"tmpfs","device":"tmpfs","o":"size=100m"}}"#),
        ok("carol", "/volumes/create", br#"{"Name":"v","DriverOpts":{"type":"none","o":"bind","device":"/srv/ci/v"}}"#),
        ok("carol", "/plugins/pull?remote=vieux/sshfs", b"[]"),
    ]);
    run(&pki, &engine, &gateway, cases);
}

// ---------------------------------------------------------------------------
// Client certificates
// ---------------------------------------------------------------------------

/// Signs a client certificate with the test CA the way `dockgate pki` does
/// (ECDSA, clientAuth, key identifiers), after `adjust` has had its say, and
/// writes it and its key under the PKI folder.
fn mint(pki: &Pki, file: &str, adjust: impl FnOnce(&mut CertificateParams)) -> (PathBuf, PathBuf) {
    let ca_pem = std::fs::read_to_string(pki.path().join("ca.pem")).unwrap();
    let ca_key =
        KeyPair::from_pem(&std::fs::read_to_string(pki.path().join("ca-key.pem")).unwrap())
            .unwrap();
    mint_with(
        &Issuer::from_ca_cert_pem(&ca_pem, ca_key).unwrap(),
        pki,
        file,
        adjust,
    )
}

/// Like [`mint`], signed by `issuer`.
fn mint_with(
    issuer: &Issuer<'_, KeyPair>,
    pki: &Pki,
    file: &str,
    adjust: impl FnOnce(&mut CertificateParams),
) -> (PathBuf, PathBuf) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(1);
    adjust(&mut params);
    let cert = params.signed_by(&key, issuer).unwrap();
    let (cert_path, key_path) = (
        pki.path().join(format!("{file}-cert.pem")),
        pki.path().join(format!("{file}-key.pem")),
    );
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

/// Whether a client with this identity is turned away at the handshake:
/// either the handshake fails, or (TLS 1.3 client auth completes on the
/// client's side first) the connection ends without any HTTP answer.
fn handshake_refused(
    gateway: &Gateway,
    pki: &Pki,
    identity: Option<(PathBuf, PathBuf)>,
) -> Result<(), String> {
    let Ok(mut conn) = Conn::open(gateway.addr, raw::client_config_with(pki, identity)) else {
        return Ok(());
    };
    let _ = conn.send(&get("/_ping"));
    match conn.read_to_close() {
        answer if answer.is_empty() => Ok(()),
        answer => Err(format!("the gateway answered: {}", short(&answer))),
    }
}

fn client_files(pki: &Pki, name: &str) -> Option<(PathBuf, PathBuf)> {
    Some((
        pki.client_dir(name).join("cert.pem"),
        pki.client_dir(name).join("key.pem"),
    ))
}

#[test]
fn bad_client_certificates_fail_the_handshake() {
    let (pki, engine, gateway) = setup();
    let other = Pki::new(&["alice"]);
    let expired = mint(&pki, "expired", |p| {
        p.distinguished_name.push(DnType::CommonName, "alice");
        let now = time::OffsetDateTime::now_utc();
        p.not_before = now - time::Duration::days(30);
        p.not_after = now - time::Duration::days(1);
    });
    let not_yet = mint(&pki, "not-yet", |p| {
        p.distinguished_name.push(DnType::CommonName, "alice");
        let now = time::OffsetDateTime::now_utc();
        p.not_before = now + time::Duration::days(1);
        p.not_after = now + time::Duration::days(30);
    });
    let server_auth_only = mint(&pki, "server-auth", |p| {
        p.distinguished_name.push(DnType::CommonName, "alice");
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    });
    // dave's own certificate (CA:FALSE) used to sign one for "alice", presented with dave's as its chain.
    let dave_cert = std::fs::read_to_string(pki.client_dir("dave").join("cert.pem")).unwrap();
    let dave_key = KeyPair::from_pem(
        &std::fs::read_to_string(pki.client_dir("dave").join("key.pem")).unwrap(),
    )
    .unwrap();
    let forged = mint_with(
        &Issuer::from_ca_cert_pem(&dave_cert, dave_key).unwrap(),
        &pki,
        "forged",
        |p| {
            p.distinguished_name.push(DnType::CommonName, "alice");
        },
    );
    let mut chain = std::fs::read_to_string(&forged.0).unwrap();
    chain.push_str(&dave_cert);
    std::fs::write(&forged.0, chain).unwrap();
    let server = Some((
        pki.path().join("server-cert.pem"),
        pki.path().join("server-key.pem"),
    ));
    let cases = [
        (
            "a certificate from another CA, same name",
            client_files(&other, "alice"),
        ),
        ("no client certificate", None),
        ("an expired certificate", Some(expired)),
        ("a certificate not valid yet", Some(not_yet)),
        ("a serverAuth-only certificate", Some(server_auth_only)),
        ("the gateway's own server certificate", server),
        ("a certificate signed by a client certificate", Some(forged)),
    ];
    let failures: Vec<String> = cases
        .into_iter()
        .filter_map(|(name, identity)| {
            handshake_refused(&gateway, &pki, identity)
                .err()
                .map(|e| format!("{name}: {e}"))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(engine.request_count(), 0, "{:?}", engine.requests());
}

#[test]
fn a_revoked_client_is_refused_on_new_and_open_connections() {
    let (pki, engine, gateway) = setup();
    let mut open = Conn::open(gateway.addr, raw::client_config(&pki, Some("dave"))).unwrap();
    open.send(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(
        raw::status(&open.read_response()),
        403,
        "dave is not configured, but is known"
    );
    pki.revoke("dave");
    gateway.control.reload().expect("reload");
    handshake_refused(&gateway, &pki, client_files(&pki, "dave"))
        .expect("a revoked certificate must fail the handshake");
    // The connection made before the revocation is closed by the reload.
    let mut buf = [0u8; 64];
    let closed = match open.tls.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    };
    assert!(closed, "the revoked client's open connection still works");
    // Others are unaffected.
    assert_eq!(
        raw::status(&raw::exchange(gateway.addr, &pki, "alice", &get("/_ping"))),
        200
    );
    assert_eq!(targets(&engine), ["/_ping"]);
}

#[test]
fn certificates_naming_no_one_are_refused_request_by_request() {
    let (pki, engine, gateway) = setup();
    let no_cn = mint(&pki, "no-cn", |p| {
        p.distinguished_name.push(DnType::OrganizationName, "alice");
    });
    let two_cns = mint(&pki, "two-cns", |p| {
        p.distinguished_name.push(DnType::CommonName, "alice");
        // The CN attribute type again, under the OID rcgen cannot deduplicate.
        p.distinguished_name
            .push(DnType::CustomDnType(vec![2, 5, 4, 3]), "bob");
    });
    let control_char = mint(&pki, "control-cn", |p| {
        p.distinguished_name.push(DnType::CommonName, "alice\n");
    });
    let cases = [
        (no_cn, "the client certificate has no subject Common Name"),
        (two_cns, "the client certificate has 2 subject Common Names"),
        (control_char, "Common Name is not a printable UTF-8 string"),
    ];
    for (identity, reason) in cases {
        let mut conn = Conn::open(gateway.addr, raw::client_config_with(&pki, Some(identity)))
            .expect("the handshake succeeds");
        conn.send(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let response = conn.read_to_close();
        assert_eq!(raw::status(&response), 403, "{response}");
        let message = json_message(&response).unwrap();
        assert!(
            message.contains("refused the client certificate") && message.contains(reason),
            "{message}"
        );
        assert!(
            response.to_ascii_lowercase().contains("connection: close"),
            "{response}"
        );
    }
    assert_eq!(engine.request_count(), 0, "{:?}", engine.requests());
}

// ---------------------------------------------------------------------------
// Clients that never finish
// ---------------------------------------------------------------------------

/// Whether the peer has closed: EOF or a hard error, not a read timeout.
fn closed_by_peer(read: std::io::Result<usize>) -> bool {
    match read {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

#[test]
fn stalled_handshakes_and_slowloris_headers_neither_starve_others_nor_stay() {
    let (pki, engine, gateway) = setup();
    const EACH: usize = 50;
    let mut stalled: Vec<TcpStream> = (0..EACH)
        .map(|_| TcpStream::connect(gateway.addr).unwrap())
        .collect();
    let mut slow: Vec<Conn> = (0..EACH)
        .map(|_| {
            let mut conn = Conn::open(gateway.addr, raw::client_config(&pki, Some("bob"))).unwrap();
            conn.send(b"GET /_ping HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
            conn
        })
        .collect();

    // While they are all open, a legitimate client is served.
    let response = raw::exchange(gateway.addr, &pki, "alice", &get("/_ping"));
    assert_eq!(raw::status(&response), 200, "{response}");

    // Keep trickling a byte per poll: the header deadline is not reset by
    // progress, so the gateway still closes every one of them.
    for conn in &mut slow {
        conn.tls
            .sock
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
    }
    eventually(
        "every slowloris connection is closed by the gateway",
        || {
            slow.iter_mut().all(|conn| {
                let _ = conn.send(b"a");
                let mut buf = [0u8; 512];
                loop {
                    match conn.tls.read(&mut buf) {
                        Ok(n) if n > 0 => continue,
                        other => return closed_by_peer(other),
                    }
                }
            })
        },
    );
    for tcp in &mut stalled {
        tcp.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
    }
    eventually("every stalled handshake is closed by the gateway", || {
        stalled.iter_mut().all(|tcp| {
            let mut buf = [0u8; 512];
            loop {
                match tcp.read(&mut buf) {
                    Ok(n) if n > 0 => continue,
                    other => return closed_by_peer(other),
                }
            }
        })
    });
    assert_eq!(
        targets(&engine),
        ["/_ping"],
        "only the legitimate request reached the Engine"
    );
}
