//! Clients known by a SAN (`[clients.NAME] san`) or pinned to a key
//! (`spki_sha256`), through a running gateway and the fake Engine: which
//! client a certificate is, what it may then do, what is refused before
//! the Engine hears of it, what the config refuses, and what a reload does
//! to an open connection whose certificate no longer matches.

mod support;

use std::path::Path;
use std::process::Command;

use support::fake_engine::FakeEngine;
use support::openssl_pki::client_signed_by;
use support::raw::{self, Conn};
use support::{Gateway, Pki};

const SPIFFE_ID: &str = "spiffe://example.org/ci/runner";

fn clients(san: &str, pin: &str) -> String {
    format!(
        r#"
[clients.ci-spiffe]
policies = ["ci"]
san = "URI:{san}"

# The CN of the certificate `pki client runner-01 --san` makes: its SAN
# makes it ci-spiffe, so this entry never matches it.
[clients.runner-01]
policies = ["ping"]

[clients.pinned]
policies = ["ci"]
spki_sha256 = "{pin}"

[policies.ci]
allow = ["GET /_ping", "GET /containers/json"]

[policies.ping]
allow = ["GET /_ping"]
"#
    )
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").into_bytes()
}

fn message(response: &str) -> String {
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    let value: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {response}"));
    value["message"].as_str().expect("message field").to_owned()
}

/// The SPKI hash of a certificate, computed as the README says to.
fn spki_sha256(cert: &Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(
            "openssl x509 -in \"$1\" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum",
        )
        .arg("sh")
        .arg(cert)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let hash = text.split_whitespace().next().unwrap().to_owned();
    assert_eq!(hash.len(), 64, "{text}");
    hash
}

/// A PKI with `runner-01` (CN) carrying the SPIFFE ID, made by `dockgate
/// pki client --san`; `openssl-runner`, made by openssl with the SPIFFE ID
/// and an unrelated CN; `pinned` and `pinned-other` (the same CN, another
/// key); and `stranger`, whose CN is no client's. Returns the PKI and
/// the hash of `pinned`'s key.
fn pki() -> (Pki, String) {
    let pki = Pki::new(&["pinned", "stranger"]);
    let out = Command::new(env!("CARGO_BIN_EXE_dockgate"))
        .args(["pki", "client", "runner-01", "--dir"])
        .arg(pki.path())
        .args(["--san", &format!("URI:{SPIFFE_ID}")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(SPIFFE_ID),
        "{out:?}"
    );
    client_signed_by(
        pki.path(),
        &pki.client_dir("openssl-runner"),
        "/O=Example/CN=build-host-17.example.org",
        &format!("subjectAltName = URI:{SPIFFE_ID}, DNS:build-host-17.example.org"),
    );
    client_signed_by(
        pki.path(),
        &pki.client_dir("wrong-case"),
        "/CN=build-host-18",
        "subjectAltName = URI:spiffe://example.org/CI/runner",
    );
    let pin = spki_sha256(&pki.client_dir("pinned").join("cert.pem"));
    client_signed_by(
        pki.path(),
        &pki.client_dir("pinned-other"),
        "/CN=pinned",
        "",
    );
    (pki, pin)
}

#[test]
fn a_spiffe_certificate_is_its_san_client_whatever_its_cn() {
    let (pki, pin) = pki();
    let engine = FakeEngine::start();
    let gateway = Gateway::start(&pki, engine.path(), &clients(SPIFFE_ID, &pin));
    for cert in ["runner-01", "openssl-runner"] {
        let before = engine.request_count();
        let allowed = raw::exchange(gateway.addr, &pki, cert, &get("/v1.41/containers/json"));
        assert_eq!(raw::status(&allowed), 200, "{cert}: {allowed}");
        assert_eq!(engine.request_count(), before + 1, "{cert}");
        assert_eq!(
            engine.requests().last().unwrap().target,
            "/v1.41/containers/json"
        );

        let refused = raw::exchange(gateway.addr, &pki, cert, &get("/v1.41/images/json"));
        assert_eq!(raw::status(&refused), 403, "{cert}: {refused}");
        assert!(
            message(&refused).contains("client \"ci-spiffe\" may not GET /v1.41/images/json"),
            "{cert}: {refused}"
        );
        assert_eq!(engine.request_count(), before + 1, "{cert}");
    }
}

#[test]
fn certificates_matching_no_client_are_refused_saying_what_was_looked_for() {
    let (pki, pin) = pki();
    let engine = FakeEngine::start();
    let gateway = Gateway::start(&pki, engine.path(), &clients(SPIFFE_ID, &pin));
    let cases = [
        ("stranger", "CN \"stranger\" and no URI or DNS SANs"),
        // URIs compare exactly: another case is another ID.
        (
            "wrong-case",
            "CN \"build-host-18\" and SANs \"URI:spiffe://example.org/CI/runner\"",
        ),
    ];
    for (cert, looked_for) in cases {
        let response = raw::exchange(gateway.addr, &pki, cert, &get("/_ping"));
        assert_eq!(raw::status(&response), 403, "{cert}: {response}");
        let message = message(&response);
        assert!(
            message.contains("no client in the gateway's configuration is known by its")
                && message.contains(looked_for),
            "{cert}: {message}"
        );
    }
    assert_eq!(engine.request_count(), 0);
}

#[test]
fn a_pinned_client_is_admitted_only_with_its_key() {
    let (pki, pin) = pki();
    let engine = FakeEngine::start();
    // Pinned in capitals: hex is taken in either case.
    let gateway = Gateway::start(
        &pki,
        engine.path(),
        &clients(SPIFFE_ID, &pin.to_ascii_uppercase()),
    );
    let allowed = raw::exchange(gateway.addr, &pki, "pinned", &get("/v1.41/containers/json"));
    assert_eq!(raw::status(&allowed), 200, "{allowed}");
    assert_eq!(engine.request_count(), 1);

    let refused = raw::exchange(gateway.addr, &pki, "pinned-other", &get("/_ping"));
    assert_eq!(raw::status(&refused), 403, "{refused}");
    assert!(
        message(&refused)
            .contains("its CN \"pinned\" names client \"pinned\", which is pinned to another key"),
        "{refused}"
    );
    assert_eq!(engine.request_count(), 1);
}

#[test]
fn the_config_refuses_a_san_two_clients_claim_and_a_bad_hash() {
    let text = r#"
listen = "127.0.0.1:2376"
[tls]
ca = "ca.pem"
cert = "cert.pem"
key = "key.pem"
[clients.a]
policies = ["p"]
san = "DNS:Runner.example.org"
[clients.b]
policies = ["p"]
san = "DNS:runner.EXAMPLE.org"
spki_sha256 = "not hex"
[policies.p]
allow = ["GET /_ping"]
"#;
    let err = dockgate::config::Config::parse(Path::new("gw.toml"), text)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("gw.toml:12: clients.b.san: \"DNS:runner.EXAMPLE.org\" is also the san of client \"a\" (gw.toml:9)"),
        "{err}"
    );
    assert!(
        err.contains("gw.toml:13: clients.b.spki_sha256: \"not hex\" is not a SHA-256 in hex"),
        "{err}"
    );
}

#[test]
fn a_reload_that_changes_a_clients_san_cuts_the_connections_it_no_longer_matches() {
    let (pki, pin) = pki();
    let engine = FakeEngine::start();
    let gateway = Gateway::start(&pki, engine.path(), &clients(SPIFFE_ID, &pin));
    let ping = b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut conn = Conn::open(
        gateway.addr,
        raw::client_config(&pki, Some("openssl-runner")),
    )
    .unwrap();
    conn.send(ping).unwrap();
    assert_eq!(raw::status(&conn.read_response()), 200);

    // A reload that leaves the SAN alone keeps the connection.
    let more = clients(SPIFFE_ID, &pin).replace(
        "[policies.ping]",
        "[policies.unused]\nallow = [\"GET /info\"]\n\n[policies.ping]",
    );
    gateway.rewrite(&pki, engine.path(), &more).unwrap();
    conn.send(ping).unwrap();
    assert_eq!(raw::status(&conn.read_response()), 200);
    assert!(conn.still_open());

    // One that moves ci-spiffe to another ID cuts it.
    let before = engine.request_count();
    gateway
        .rewrite(
            &pki,
            engine.path(),
            &clients("spiffe://example.org/ci/other", &pin),
        )
        .unwrap();
    assert!(conn.closed_by_server());
    let response = raw::exchange(gateway.addr, &pki, "openssl-runner", &get("/_ping"));
    assert_eq!(raw::status(&response), 403, "{response}");
    assert_eq!(engine.request_count(), before);
}
