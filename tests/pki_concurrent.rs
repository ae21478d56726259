//! `dockgate pki` commands run at once on one folder, as a provisioning
//! script would start them: every one must succeed, and the index, the CRL
//! and its counter must hold what each reported. Also checks that a held
//! `pki.lock` makes a command wait, and that it then goes ahead.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use support::{eventually, has_lock_open, hold_lock, text, Pki};

/// Starts `dockgate pki ARGS… --dir DIR` without waiting for it.
fn start(dir: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_dockgate"))
        .arg("pki")
        .args(args)
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run dockgate")
}

/// Waits for `child` and requires success; returns stdout.
fn succeeded(child: Child, what: &str) -> String {
    let out: Output = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{what} failed:\n{}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// `index.toml`'s certificates as (name, kind, serial, status).
fn index(dir: &Path) -> (u64, Vec<[String; 4]>) {
    let index: toml::Table = fs::read_to_string(dir.join("index.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let field = |cert: &toml::Value, key: &str| cert[key].as_str().unwrap().to_owned();
    let certs = index["cert"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            [
                field(c, "name"),
                field(c, "kind"),
                field(c, "serial"),
                field(c, "status"),
            ]
        })
        .collect();
    let crl_number = index["crl_number"].as_integer().unwrap() as u64;
    (crl_number, certs)
}

/// A serial as the index writes it: lowercase hex without leading zeros.
fn serial_hex(raw: &[u8]) -> String {
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    hex.trim_start_matches('0').to_owned()
}

/// The DER inside a PEM file.
fn pem_der(path: &Path) -> Vec<u8> {
    let bytes = fs::read(path).unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(&bytes).unwrap();
    pem.contents
}

/// Holding the lock (`op`) from this process, a `pki client` started now
/// gets as far as the lock and no further until the lock is released, then
/// completes.
fn client_waits_for(op: libc::c_int, name: &str) {
    let pki = Pki::new(&[]);
    let dir = pki.path();
    let held = hold_lock(dir, op);
    let mut child = start(dir, &["client", name]);
    eventually("the command reaches the lock", || {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("finished while the lock was held: {status}");
        }
        has_lock_open(child.id(), dir)
    });
    // It is at the lock; however often we look, it stays there.
    for _ in 0..5 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished while the lock was held"
        );
        assert!(!dir.join("clients").join(name).exists());
        std::thread::sleep(Duration::from_millis(20));
    }
    let (_, before) = index(dir);
    assert!(before.iter().all(|c| c[0] != name));

    drop(held);
    succeeded(child, "the waiting client");
    let (_, after) = index(dir);
    assert_eq!(after.len(), before.len() + 1);
    assert!(after.iter().any(|c| c[0] == name && c[1] == "client"));
}

#[test]
fn twenty_clients_issued_at_once_are_all_indexed_and_valid() {
    let pki = Pki::new(&[]);
    let dir = pki.path();
    let names: Vec<String> = (0..20).map(|i| format!("worker-{i}")).collect();
    let children: Vec<Child> = names.iter().map(|n| start(dir, &["client", n])).collect();
    let mut reported = BTreeSet::new();
    for (child, name) in children.into_iter().zip(&names) {
        let out = succeeded(child, name);
        let serial = out
            .split("(serial ")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .unwrap_or_else(|| panic!("no serial in {out}"));
        reported.insert((name.clone(), serial.to_owned()));
    }

    let (_, certs) = index(dir);
    let indexed: BTreeSet<(String, String)> = certs
        .iter()
        .filter(|c| c[1] == "client")
        .map(|c| (c[0].clone(), c[2].clone()))
        .collect();
    assert_eq!(indexed, reported, "every reported certificate is indexed");
    assert_eq!(indexed.len(), 20);

    let ca_der = pem_der(&dir.join("ca.pem"));
    let (_, ca) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
    for (name, serial) in &indexed {
        let der = pem_der(&dir.join("clients").join(name).join("cert.pem"));
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        cert.verify_signature(Some(ca.public_key()))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(cert.validity().is_valid(), "{name}");
        assert_eq!(&serial_hex(cert.raw_serial()), serial, "{name}");
        let cn = cert.subject().iter_common_name().next().unwrap();
        assert_eq!(cn.as_str().unwrap(), name);
    }
}

#[test]
fn ten_revocations_at_once_all_reach_the_crl() {
    let names: Vec<String> = (0..10).map(|i| format!("leaver-{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let pki = Pki::new(&refs);
    let dir = pki.path();
    let (crl_before, _) = index(dir);

    let children: Vec<Child> = names.iter().map(|n| start(dir, &["revoke", n])).collect();
    for (child, name) in children.into_iter().zip(&names) {
        succeeded(child, name);
    }

    let (crl_number, certs) = index(dir);
    let revoked: BTreeSet<String> = certs
        .iter()
        .filter(|c| names.contains(&c[0]))
        .map(|c| {
            assert_eq!(c[3], "revoked", "{}", c[0]);
            c[2].clone()
        })
        .collect();
    assert_eq!(revoked.len(), 10);
    assert_eq!(crl_number, crl_before + 10, "one CRL number per revocation");

    let ca_der = pem_der(&dir.join("ca.pem"));
    let (_, ca) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
    let crl_der = pem_der(&dir.join("crl.pem"));
    let (_, crl) = x509_parser::parse_x509_crl(&crl_der).unwrap();
    crl.verify_signature(ca.public_key()).unwrap();
    let listed: BTreeSet<String> = crl
        .iter_revoked_certificates()
        .map(|r| serial_hex(r.raw_serial()))
        .collect();
    assert_eq!(listed, revoked);
    assert_eq!(
        crl.crl_number().map(ToString::to_string),
        Some(crl_number.to_string())
    );
}

#[test]
fn a_command_waits_while_another_holds_the_lock() {
    client_waits_for(libc::LOCK_EX, "patient");
}

#[test]
fn a_reader_holding_the_lock_keeps_writers_out_but_not_readers() {
    let pki = Pki::new(&["alice"]);
    let held = hold_lock(pki.path(), libc::LOCK_SH);
    let out = succeeded(start(pki.path(), &["list"]), "list beside a reader");
    assert!(out.contains("alice"), "{out}");
    drop(held);
    client_waits_for(libc::LOCK_SH, "after-reader");
}
