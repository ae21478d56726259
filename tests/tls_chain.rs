//! Intermediate CAs and PKIs other than dockgate's own: a chain made with
//! the `openssl` CLI (root → intermediate → clients and server, each CA
//! with its own CRL) and the one `pki init --intermediate` makes. Clients
//! the intermediate issued are accepted whether `tls.ca` holds the
//! intermediate alone or with its root; a client revoked in the
//! intermediate's CRL is cut off once the CRL file is rewritten on disk,
//! without a signal, while another client's open stream stays open; a CRL
//! from a CA outside `tls.ca` is refused by `check`.
//! (Its own binary: the gateways here reload on their own, by the watch.)

mod support;

use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::fake_engine::FakeEngine;
use support::openssl_pki::{Bundle, OpensslPki};
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

const PING_CLOSE: &[u8] = b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/// A `[tls]` table for the files of `pki`, with `crl` as written.
fn tls_table(pki: &Path, crl: &str) -> String {
    let p = pki.display();
    format!("[tls]\nca = \"{p}/ca.pem\"\ncert = \"{p}/server-cert.pem\"\nkey = \"{p}/server-key.pem\"\ncrl = {crl}\n")
}

/// `dockgate check` on a config with `tls` and [`POLICY`]: its exit code
/// and output.
fn check(tls: &str, upstream: &Path) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dockgate.toml");
    std::fs::write(
        &config,
        support::config_text_with_tls(tls, upstream, POLICY),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dockgate"))
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// alice holds an event stream open and bob a keep-alive connection; bob
/// is revoked by `revoke`, which rewrites the CRL file; the gateway, sent
/// no signal, cuts bob off and leaves alice's stream open.
fn revocation_on_disk_cuts_off_only_the_revoked(
    pki: &Pki,
    engine: &FakeEngine,
    gateway: &Gateway,
    revoke: impl FnOnce(),
) {
    let mut stream = Conn::open(gateway.addr, raw::client_config(pki, Some("alice"))).unwrap();
    stream
        .send(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut head = [0u8; 64];
    let n = stream.tls.read(&mut head).unwrap();
    assert!(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"));
    let mut keep_alive = Conn::open(gateway.addr, raw::client_config(pki, Some("bob"))).unwrap();
    keep_alive
        .send(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(raw::status(&keep_alive.read_response()), 200);

    revoke();
    eventually("bob is refused once the CRL on disk lists him", || {
        raw::refused_at_handshake(gateway.addr, raw::client_config(pki, Some("bob")))
    });
    let before = engine.request_count();
    keep_alive
        .tls
        .sock
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert!(
        keep_alive.closed_by_server(),
        "bob's open connection is cut"
    );
    assert!(raw::refused_at_handshake(
        gateway.addr,
        raw::client_config(pki, Some("bob"))
    ));
    assert_eq!(
        engine.request_count(),
        before,
        "nothing of bob's reached the Engine"
    );
    assert!(stream.still_open(), "alice's stream was closed");
    let response = raw::exchange(gateway.addr, pki, "alice", PING_CLOSE);
    assert_eq!(raw::status(&response), 200, "{response}");
}

#[test]
fn an_openssl_intermediate_alone_in_the_bundle_accepts_its_clients_and_its_crl_revokes() {
    let openssl = OpensslPki::new(&["alice", "bob"], Bundle::Intermediate);
    let pki = &openssl.pki;
    let engine = FakeEngine::start();
    // `crl` as an array, of one file.
    let tls = tls_table(
        pki.path(),
        &format!("[\"{}/crl.pem\"]", pki.path().display()),
    );
    let (code, output) = check(&tls, engine.path());
    assert_eq!(code, 0, "{output}");
    assert!(
        output.contains("server-cert.pem chains to the CA"),
        "{output}"
    );
    assert!(output.contains("crl.pem signed by the CA"), "{output}");
    let gateway = Gateway::start_with_tls(&tls, engine.path(), POLICY);
    for client in ["alice", "bob"] {
        let response = raw::exchange(gateway.addr, pki, client, PING_CLOSE);
        assert_eq!(raw::status(&response), 200, "{client}: {response}");
    }
    revocation_on_disk_cuts_off_only_the_revoked(pki, &engine, &gateway, || openssl.revoke("bob"));
}

#[test]
fn an_openssl_root_and_intermediate_bundle_accepts_the_intermediates_clients() {
    let openssl = OpensslPki::new(&["alice"], Bundle::IntermediateAndRoot);
    let pki = &openssl.pki;
    let engine = FakeEngine::start();
    // `crl` as the single string it has always been.
    let tls = tls_table(pki.path(), &format!("\"{}/crl.pem\"", pki.path().display()));
    let (code, output) = check(&tls, engine.path());
    assert_eq!(code, 0, "{output}");
    assert!(
        output.contains("certificate 2 (O=Example, CN=Example Root CA)"),
        "{output}"
    );
    // The root has no CRL here: a warning, as its own clients would be
    // refused, but not an error.
    assert!(
        output.contains("warning tls.crl: no CRL from the CA O=Example, CN=Example Root CA"),
        "{output}"
    );
    let gateway = Gateway::start_with_tls(&tls, engine.path(), POLICY);
    let response = raw::exchange(gateway.addr, pki, "alice", PING_CLOSE);
    assert_eq!(raw::status(&response), 200, "{response}");

    // With the root's CRL as well, nothing to warn about.
    let both = format!(
        "[\"{p}/crl.pem\", \"{p}/root-crl.pem\"]",
        p = pki.path().display()
    );
    let (code, output) = check(&tls_table(pki.path(), &both), engine.path());
    assert_eq!(code, 0, "{output}");
    assert!(!output.contains("warning tls.crl"), "{output}");
    assert!(
        output.contains("root-crl.pem signed by the CA O=Example, CN=Example Root CA"),
        "{output}"
    );
}

#[test]
fn a_root_in_the_bundle_does_not_admit_clients_of_its_other_intermediates() {
    let openssl = OpensslPki::new(&["alice"], Bundle::IntermediateAndRoot);
    let pki = &openssl.pki;
    // Named alice, issued by an intermediate of the same root that is not
    // in ca.pem, and sent with it.
    openssl.sibling_client("alice", "alice-elsewhere");
    let engine = FakeEngine::start();
    // No CRL: revocation, which would refuse it for want of its issuer's
    // CRL, is not what refuses it here.
    let p = pki.path().display();
    let tls = format!("[tls]\nca = \"{p}/ca.pem\"\ncert = \"{p}/server-cert.pem\"\nkey = \"{p}/server-key.pem\"\n");
    let gateway = Gateway::start_with_tls(&tls, engine.path(), POLICY);
    assert!(raw::refused_at_handshake(
        gateway.addr,
        raw::client_config(pki, Some("alice-elsewhere"))
    ));
    assert_eq!(engine.request_count(), 0, "the Engine saw the outsider");
    let response = raw::exchange(gateway.addr, pki, "alice", PING_CLOSE);
    assert_eq!(raw::status(&response), 200, "{response}");
    assert_eq!(engine.request_count(), 1);
}

#[test]
fn check_refuses_a_crl_from_a_ca_outside_the_bundle() {
    let openssl = OpensslPki::new(&[], Bundle::Intermediate);
    let pki = &openssl.pki;
    let engine = FakeEngine::start();
    let p = pki.path().display();
    let tls = tls_table(
        pki.path(),
        &format!("[\"{p}/crl.pem\", \"{p}/root-crl.pem\"]"),
    );
    let (code, output) = check(&tls, engine.path());
    assert_ne!(code, 0, "{output}");
    assert!(
        output.contains(&format!(
            "error   tls.crl: {p}/root-crl.pem is not signed by the CA in {p}/ca.pem (its issuer: \"O=Example, CN=Example Root CA\")"
        )),
        "{output}"
    );
}

#[test]
fn check_names_the_certificate_of_the_bundle_that_is_not_a_ca() {
    let openssl = OpensslPki::new(&["alice"], Bundle::IntermediateAndRoot);
    let pki = &openssl.pki;
    let engine = FakeEngine::start();
    let mut bundle = std::fs::read(pki.path().join("ca.pem")).unwrap();
    bundle.extend(std::fs::read(pki.client_dir("alice").join("cert.pem")).unwrap());
    std::fs::write(pki.path().join("ca.pem"), bundle).unwrap();
    let p = pki.path().display();
    let (code, output) = check(
        &tls_table(pki.path(), &format!("\"{p}/crl.pem\"")),
        engine.path(),
    );
    assert_ne!(code, 0, "{output}");
    assert!(
        output.contains(&format!(
            "error   tls.ca: {p}/ca.pem, certificate 3 of 3 (O=Example, CN=alice): not a CA certificate"
        )),
        "{output}"
    );
}

#[test]
fn pki_init_intermediate_issues_and_revokes_with_the_intermediate() {
    let dir = tempfile::tempdir().unwrap();
    dockgate::pki::init_pki(
        dir.path(),
        "test CA",
        3650,
        false,
        dockgate::pki::Shape::Intermediate,
    )
    .unwrap();
    dockgate::pki::issue_server(dir.path(), &["DNS:localhost", "IP:127.0.0.1"], 30, false).unwrap();
    let pki = Pki { dir };
    pki.add_client("alice");
    pki.add_client("bob");
    // The root's key is a file of its own, and nothing later needs it.
    let root_key = pki.path().join("root-ca-key.pem");
    let offline = tempfile::tempdir().unwrap();
    std::fs::rename(&root_key, offline.path().join("root-ca-key.pem")).unwrap();

    let engine = FakeEngine::start();
    let (code, output) = check(&pki.tls_table(), engine.path());
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("CN=test CA root"), "{output}");
    assert!(!output.contains("warning tls.crl"), "{output}");
    let gateway = Gateway::start(&pki, engine.path(), POLICY);
    for client in ["alice", "bob"] {
        let response = raw::exchange(gateway.addr, &pki, client, PING_CLOSE);
        assert_eq!(raw::status(&response), 200, "{client}: {response}");
    }
    revocation_on_disk_cuts_off_only_the_revoked(&pki, &engine, &gateway, || pki.revoke("bob"));
    assert!(!root_key.exists());
}
