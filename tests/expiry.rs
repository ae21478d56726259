//! Certificate expiry an admin can alert on: the expiry gauges hold the
//! dates of the certificates and CRL in force (read back here from the
//! same files with x509-parser, compared to the second), a client's only
//! once it has shaken hands and only when the configuration names it, and
//! a reload moves them; `pki list --expiring` exits 3 naming what ends
//! within its window and 0 otherwise; `check` warns under 30 days.
//! (Its own binary: the metrics are process-wide, and the tests that read
//! them take turns.)

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::Duration;

use x509_parser::pem::Pem;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

use support::fake_engine::FakeEngine;
use support::raw;
use support::{Gateway, Pki};

/// The metrics are one set per process: one gateway's tests at a time.
static METRICS: Mutex<()> = Mutex::new(());

const PING: &[u8] = b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/// (subject CN, serial hex, notAfter) of every certificate in a PEM file.
fn certs(path: &Path) -> Vec<(String, String, i64)> {
    let bytes = std::fs::read(path).unwrap();
    Pem::iter_from_buffer(&bytes)
        .map(|pem| {
            let pem = pem.unwrap();
            let (_, cert) = X509Certificate::from_der(&pem.contents).unwrap();
            let cn = cert
                .subject()
                .iter_common_name()
                .next()
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned();
            let serial: String = cert
                .raw_serial()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let serial = serial.trim_start_matches('0').to_owned();
            (cn, serial, cert.validity().not_after.timestamp())
        })
        .collect()
}

fn not_after(path: &Path) -> i64 {
    certs(path)[0].2
}

/// (thisUpdate, nextUpdate) of the one CRL in a PEM file.
fn crl_updates(path: &Path) -> (i64, i64) {
    let bytes = std::fs::read(path).unwrap();
    let pem = Pem::iter_from_buffer(&bytes).next().unwrap().unwrap();
    let (_, crl) = CertificateRevocationList::from_der(&pem.contents).unwrap();
    (
        crl.last_update().timestamp(),
        crl.next_update().unwrap().timestamp(),
    )
}

/// The value of the series `series` (name and labels, as rendered).
fn gauge(series: &str) -> Option<i64> {
    let text = dockgate::run::metrics::render();
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().unwrap())
}

fn client_gauge(name: &str) -> Option<i64> {
    gauge(&format!(
        r#"dockgate_client_certificate_not_after_seconds{{client="{name}"}}"#
    ))
}

fn clients(names: &[&str]) -> String {
    let mut body = String::new();
    for name in names {
        body.push_str(&format!("[clients.{name}]\npolicies = [\"p\"]\n"));
    }
    body + "[policies.p]\nallow = [\"GET /_ping\"]\n"
}

#[test]
fn gauges_hold_the_dates_of_the_certificates_in_force() {
    let _turn = METRICS.lock().unwrap_or_else(|e| e.into_inner());
    let pki = Pki::new(&["alice", "mallory"]);
    // A CA file of two CAs with one name, as in the middle of a CA
    // rotation: the serial tells their series apart.
    let other = Pki::new(&[]);
    let bundle = [
        std::fs::read_to_string(pki.path().join("ca.pem")).unwrap(),
        std::fs::read_to_string(other.path().join("ca.pem")).unwrap(),
    ]
    .concat();
    std::fs::write(pki.path().join("ca.pem"), bundle).unwrap();
    let engine = FakeEngine::start();
    let gateway = Gateway::start(&pki, engine.path(), &clients(&["alice"]));

    assert_eq!(
        gauge("dockgate_server_certificate_not_after_seconds"),
        Some(not_after(&pki.path().join("server-cert.pem")))
    );
    let cas = certs(&pki.path().join("ca.pem"));
    assert_eq!(cas.len(), 2);
    assert_eq!(cas[0].0, cas[1].0, "both CAs have one name");
    for (name, serial, end) in &cas {
        let series = format!(
            r#"dockgate_ca_certificate_not_after_seconds{{ca="{name}",serial="{serial}"}}"#
        );
        assert_eq!(gauge(&series), Some(*end), "{series}");
    }
    let crl = pki.path().join("crl.pem");
    let (this_update, next_update) = crl_updates(&crl);
    let labels = format!(r#"{{file="{}",issuer="dockgate test CA"}}"#, crl.display());
    assert_eq!(
        gauge(&format!("dockgate_crl_this_update_seconds{labels}")),
        Some(this_update)
    );
    assert_eq!(
        gauge(&format!("dockgate_crl_next_update_seconds{labels}")),
        Some(next_update)
    );

    // A client's series comes with its handshake, not before.
    assert_eq!(client_gauge("alice"), None);
    let response = raw::exchange(gateway.addr, &pki, "alice", PING);
    assert_eq!(raw::status(&response), 200, "{response}");
    assert_eq!(
        client_gauge("alice"),
        Some(not_after(&pki.client_dir("alice").join("cert.pem")))
    );

    // A certificate the CA signed for a name the configuration lacks
    // completes its handshake and is refused, and makes no series.
    let response = raw::exchange(gateway.addr, &pki, "mallory", PING);
    assert_eq!(raw::status(&response), 403, "{response}");
    assert_eq!(
        engine.request_count(),
        1,
        "only alice's ping reached the Engine"
    );
    let text = dockgate::run::metrics::render();
    assert!(!text.contains("mallory"), "{text}");
    assert_eq!(
        text.matches("dockgate_client_certificate_not_after_seconds{")
            .count(),
        1,
        "{text}"
    );
    gateway.stop();
}

#[test]
fn a_reload_moves_the_gauges_to_the_new_set() {
    let _turn = METRICS.lock().unwrap_or_else(|e| e.into_inner());
    let pki = Pki::new(&["alice", "bob"]);
    let engine = FakeEngine::start();
    let gateway = Gateway::start(&pki, engine.path(), &clients(&["alice", "bob"]));
    let server = pki.path().join("server-cert.pem");
    let before = not_after(&server);
    assert_eq!(
        gauge("dockgate_server_certificate_not_after_seconds"),
        Some(before)
    );

    // A new server certificate, ten days long where the old one had 30.
    let now = time::OffsetDateTime::now_utc();
    pki.replace_server_cert(
        now - time::Duration::hours(1),
        now + time::Duration::days(10),
    );
    let after = not_after(&server);
    assert_ne!(after, before);
    gateway.control.reload().expect("reload");
    assert_eq!(
        gauge("dockgate_server_certificate_not_after_seconds"),
        Some(after)
    );

    // A client renewed: its series is the certificate it last shook hands with.
    for client in ["alice", "bob"] {
        let response = raw::exchange(gateway.addr, &pki, client, PING);
        assert_eq!(raw::status(&response), 200, "{response}");
    }
    let old = not_after(&pki.client_dir("alice").join("cert.pem"));
    assert_eq!(client_gauge("alice"), Some(old));
    dockgate::pki::renew(pki.path(), "alice", Some(5)).expect("renew alice");
    let new = not_after(&pki.client_dir("alice").join("cert.pem"));
    assert_ne!(new, old);
    let response = raw::exchange(gateway.addr, &pki, "alice", PING);
    assert_eq!(raw::status(&response), 200, "{response}");
    assert_eq!(client_gauge("alice"), Some(new));

    // A client the reloaded configuration drops loses its series.
    gateway
        .rewrite(&pki, engine.path(), &clients(&["bob"]))
        .expect("reload without alice");
    assert_eq!(client_gauge("alice"), None);
    assert_eq!(
        client_gauge("bob"),
        Some(not_after(&pki.client_dir("bob").join("cert.pem")))
    );
    gateway.stop();
}

/// Runs `dockgate pki list --dir DIR ARGS…`.
fn list(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dockgate"))
        .args(["pki", "list", "--dir"])
        .arg(dir)
        .args(args)
        .output()
        .expect("run dockgate")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn pki_list_expiring_exits_3_naming_what_ends_within_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    dockgate::pki::init_ca(dir, "expiry CA", 3650, false).unwrap();
    dockgate::pki::issue_server(dir, &["DNS:localhost"], 825, false).unwrap();
    dockgate::pki::issue_client(dir, "alice", 365, false).unwrap();

    let out = list(dir, &["--expiring", "30d"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(stdout(&out), "", "nothing to say, nothing for cron to mail");

    dockgate::pki::issue_client(dir, "bob", 5, false).unwrap();
    let out = list(dir, &["--expiring", "30d"]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("1 certificate(s) in force end within 30d"),
        "{text}"
    );
    let bob = text.lines().find(|l| l.starts_with("bob ")).expect(&text);
    assert!(
        bob.contains("client") && bob.contains("days left"),
        "{text}"
    );
    for far in ["alice ", "server ", "ca "] {
        assert!(
            !text.lines().any(|l| l.starts_with(far)),
            "{far} in\n{text}"
        );
    }
    // In hours, and a window that ends before bob's certificate does.
    assert_eq!(list(dir, &["--expiring", "200h"]).status.code(), Some(3));
    assert_eq!(list(dir, &["--expiring", "4d"]).status.code(), Some(0));
    assert_eq!(list(dir, &["--expiring", "96h"]).status.code(), Some(0));

    // Renewed: the old certificate is superseded and no longer reported.
    dockgate::pki::renew(dir, "bob", Some(365)).unwrap();
    let out = list(dir, &["--expiring", "30d"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // Revoked: out of force, not reported either.
    dockgate::pki::issue_client(dir, "carol", 2, false).unwrap();
    assert_eq!(list(dir, &["--expiring", "30d"]).status.code(), Some(3));
    dockgate::pki::revoke(dir, "carol").unwrap();
    assert_eq!(list(dir, &["--expiring", "30d"]).status.code(), Some(0));

    // Without the flag: every certificate ever issued, and exit 0.
    let out = list(dir, &[]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert_eq!(
        text.lines().filter(|l| l.starts_with("bob ")).count(),
        2,
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("carol ") && l.ends_with("revoked")),
        "{text}"
    );

    for bad in ["30", "d", "30w", "-1d", "1.5d"] {
        let out = list(dir, &[&format!("--expiring={bad}")]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("such as 30d or 12h"), "{bad}: {err}");
    }
}

#[test]
fn check_warns_about_a_ca_or_server_certificate_under_30_days() {
    let engine = FakeEngine::start();
    let report = |pki: &Pki| {
        let config_dir = tempfile::tempdir().unwrap();
        let path = config_dir.path().join("dockgate.toml");
        std::fs::write(
            &path,
            support::config_text(pki, engine.path(), &clients(&["alice"])),
        )
        .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(dockgate::cli::check::check(&path, Duration::from_secs(5)))
    };
    let warned = |report: &dockgate::cli::check::Report, subject: &str| {
        report.findings.iter().any(|f| {
            f.subject == subject
                && f.level == dockgate::cli::check::Level::Warning
                && f.message.contains("days left")
        })
    };

    // A CA of ten years and a server certificate of 825 days.
    let dir = tempfile::tempdir().unwrap();
    dockgate::pki::init_ca(dir.path(), "long CA", 3650, false).unwrap();
    dockgate::pki::issue_server(dir.path(), &["DNS:localhost"], 825, false).unwrap();
    let pki = Pki { dir };
    let found = report(&pki);
    assert!(!warned(&found, "tls.cert"), "{found}");
    assert!(!warned(&found, "tls.ca"), "{found}");

    // The server certificate replaced by one of 20 days.
    let now = time::OffsetDateTime::now_utc();
    pki.replace_server_cert(
        now - time::Duration::hours(1),
        now + time::Duration::days(20),
    );
    let found = report(&pki);
    assert!(warned(&found, "tls.cert"), "{found}");
    assert!(!warned(&found, "tls.ca"), "{found}");

    // A CA of 20 days, and the server certificate within it.
    let dir = tempfile::tempdir().unwrap();
    dockgate::pki::init_ca(dir.path(), "short CA", 20, false).unwrap();
    dockgate::pki::issue_server(dir.path(), &["DNS:localhost"], 825, false).unwrap();
    let short = Pki { dir };
    let found = report(&short);
    assert!(!found.has_errors(), "{found}");
    assert!(warned(&found, "tls.ca"), "{found}");
    assert!(warned(&found, "tls.cert"), "{found}");
}
