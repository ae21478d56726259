//! `dockgate pki` end to end: runs the built binary in temporary
//! directories and checks the results with OpenSSL and the file system.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const OPENSSL: &str = "/usr/bin/openssl";

/// Runs `dockgate pki ARGS…`.
fn pki(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dockgate"))
        .arg("pki")
        .args(args)
        .output()
        .expect("run dockgate")
}

/// Runs `dockgate pki ARGS…` and requires success; returns stdout.
fn ok(args: &[&str]) -> String {
    let out = pki(args);
    assert!(
        out.status.success(),
        "dockgate pki {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `dockgate pki ARGS…` and requires failure; returns stderr.
fn fails(args: &[&str]) -> String {
    let out = pki(args);
    assert!(
        !out.status.success(),
        "dockgate pki {args:?} should have failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).unwrap()
}

/// Runs openssl; returns (success, stdout + stderr).
fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new(OPENSSL)
        .args(args)
        .output()
        .expect("run openssl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A temp dir with `certs` initialised, a server for docker.example.com
/// and clients alice and bob.
struct Pki {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Pki {
    fn new() -> Pki {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("certs");
        let p = Pki { _tmp: tmp, dir };
        ok(&["init", "--dir", p.d()]);
        ok(&[
            "server",
            "--dir",
            p.d(),
            "--san",
            "DNS:docker.example.com",
            "--san",
            "IP:127.0.0.1",
        ]);
        ok(&["client", "alice", "--dir", p.d()]);
        ok(&["client", "bob", "--dir", p.d()]);
        p
    }
    fn d(&self) -> &str {
        self.dir.to_str().unwrap()
    }
    fn path(&self, rel: &str) -> String {
        self.dir.join(rel).to_str().unwrap().to_owned()
    }
}

/// Every file under `dir` with its contents.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.insert(p.clone(), Vec::new());
                todo.push(p);
            } else {
                out.insert(p.clone(), fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn mode(path: &str) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The serial openssl reads from a certificate, lowercase.
fn serial_of(path: &str) -> String {
    let (good, text) = openssl(&["x509", "-in", path, "-noout", "-serial"]);
    assert!(good, "{text}");
    text.trim()
        .strip_prefix("serial=")
        .unwrap()
        .to_ascii_lowercase()
}

#[test]
fn certificates_verify_with_openssl_for_their_purpose_only() {
    let p = Pki::new();
    let ca = p.path("ca.pem");
    let server = p.path("server-cert.pem");
    let alice = p.path("clients/alice/cert.pem");
    let verify =
        |purpose: &str, cert: &str| openssl(&["verify", "-CAfile", &ca, "-purpose", purpose, cert]);
    let (good, text) = verify("sslserver", &server);
    assert!(good, "{text}");
    let (good, text) = verify("sslclient", &alice);
    assert!(good, "{text}");
    let (good, text) = verify("sslclient", &server);
    assert!(!good, "server cert accepted as a client: {text}");
    let (good, text) = verify("sslserver", &alice);
    assert!(!good, "client cert accepted as a server: {text}");

    let (_, text) = openssl(&[
        "x509",
        "-in",
        &server,
        "-noout",
        "-subject",
        "-ext",
        "subjectAltName",
    ]);
    assert!(
        text.contains("CN=docker.example.com") || text.contains("CN = docker.example.com"),
        "{text}"
    );
    assert!(
        text.contains("DNS:docker.example.com, IP Address:127.0.0.1"),
        "{text}"
    );
    let (_, text) = openssl(&["x509", "-in", &alice, "-noout", "-subject"]);
    assert_eq!(text.trim().replace(' ', ""), "subject=CN=alice");
    let (_, text) = openssl(&[
        "x509",
        "-in",
        &ca,
        "-noout",
        "-ext",
        "basicConstraints,keyUsage",
    ]);
    assert!(
        text.contains("critical") && text.contains("CA:TRUE, pathlen:0"),
        "{text}"
    );
    assert!(text.contains("Certificate Sign, CRL Sign"), "{text}");

    // The client directory's CA is the CA.
    assert_eq!(
        fs::read(p.path("clients/alice/ca.pem")).unwrap(),
        fs::read(&ca).unwrap()
    );
}

#[test]
fn keys_are_private_and_certificates_readable() {
    let p = Pki::new();
    for key in ["ca-key.pem", "server-key.pem", "clients/alice/key.pem"] {
        assert_eq!(mode(&p.path(key)), 0o600, "{key}");
    }
    for cert in [
        "ca.pem",
        "crl.pem",
        "index.toml",
        "server-cert.pem",
        "clients/alice/cert.pem",
        "clients/alice/ca.pem",
    ] {
        assert_eq!(mode(&p.path(cert)), 0o644, "{cert}");
    }
    assert_eq!(mode(&p.path("clients/alice")), 0o700);
    // No temporaries left behind.
    let names: Vec<String> = snapshot(&p.dir)
        .keys()
        .map(|k| k.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
}

#[test]
fn folders_get_their_modes_under_a_strict_umask() {
    // An admin with umask 077 makes the PKI; the service user, given the
    // group, must still enter the certificates' folder.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("certs");
    let script =
        "umask 077 && \"$0\" pki init --dir \"$1\" && \"$0\" pki client alice --dir \"$1\"";
    let out = Command::new("/bin/sh")
        .args(["-c", script, env!("CARGO_BIN_EXE_dockgate")])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = |rel: &str| mode(dir.join(rel).to_str().unwrap());
    assert_eq!(mode(""), 0o755);
    assert_eq!(mode("ca.pem"), 0o644);
    assert_eq!(mode("ca-key.pem"), 0o600);
    assert_eq!(mode("clients"), 0o700);
    assert_eq!(mode("clients/alice"), 0o700);
    assert_eq!(mode("pki.lock"), 0o600);
}

#[test]
fn nothing_is_replaced_without_force() {
    let p = Pki::new();
    let before = snapshot(&p.dir);
    let err = fails(&["init", "--dir", p.d()]);
    assert!(
        err.contains(&format!(
            "{} already exists; pass --force to replace it",
            p.path("ca.pem")
        )),
        "{err}"
    );
    let err = fails(&["client", "alice", "--dir", p.d()]);
    assert!(
        err.contains("clients/alice/cert.pem already exists"),
        "{err}"
    );
    let err = fails(&["server", "--dir", p.d(), "--san", "DNS:other.example"]);
    assert!(err.contains("server-cert.pem already exists"), "{err}");
    assert_eq!(snapshot(&p.dir), before);

    ok(&["client", "alice", "--dir", p.d(), "--force"]);
    assert_ne!(
        fs::read(p.path("clients/alice/cert.pem")).unwrap(),
        before[&p.dir.join("clients/alice/cert.pem")]
    );
}

#[test]
fn bad_input_fails_and_writes_nothing() {
    let p = Pki::new();
    let before = snapshot(&p.dir);
    let too_long = "x".repeat(65);
    for (name, reason) in [
        ("../evil", "'/' is not allowed"),
        (".hidden", "must not start with '.' or '-'"),
        ("a b", "' ' is not allowed"),
        (too_long.as_str(), "longer than 64"),
        ("server", "reserved"),
    ] {
        let err = fails(&["client", name, "--dir", p.d()]);
        assert!(
            err.contains("bad client name") && err.contains(reason),
            "{name}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    let err = fails(&["client", "--dir", p.d(), "--", "-x"]);
    assert!(err.contains("must not start with"), "{err}");
    for (san, reason) in [
        ("DNS:foo.", "bad SAN \"DNS:foo.\": trailing dot"),
        ("DNS:-foo.com", "starts or ends with '-'"),
        ("DNS:a..b", "empty label"),
        ("IP:1.2.3", "not an IPv4 or IPv6 address"),
        ("docker.example.com", "expected DNS:<name> or IP:<address>"),
    ] {
        let err = fails(&[
            "server",
            "--dir",
            p.d(),
            "--force",
            "--san",
            "DNS:ok.example",
            "--san",
            san,
        ]);
        assert!(err.contains(reason), "{san}: {err}");
    }
    let err = fails(&["server", "--dir", p.d(), "--force"]);
    assert!(err.contains("at least one --san"), "{err}");
    let err = fails(&[
        "server",
        "--dir",
        p.d(),
        "--force",
        "--san",
        "URI:spiffe://example.org/gw",
    ]);
    assert!(err.contains("DNS names and IP addresses"), "{err}");
    let err = fails(&["client", "carol", "--dir", p.d(), "--san", "IP:10.0.0.1"]);
    assert!(
        err.contains("a client is known by a URI or DNS SAN"),
        "{err}"
    );
    let err = fails(&["client", "carol", "--dir", p.d(), "--san", "URI:no-scheme"]);
    assert!(err.contains("a URI has a scheme"), "{err}");
    let err = fails(&["client", "carol", "--dir", p.d(), "--days", "0"]);
    assert!(err.contains("--days 0 is out of range"), "{err}");
    assert_eq!(snapshot(&p.dir), before);
}

#[test]
fn commands_without_a_ca_say_how_to_make_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("certs");
    let d = dir.to_str().unwrap();
    let err = fails(&["client", "alice", "--dir", d]);
    assert!(
        err.contains(&format!(
            "no CA in {d}: run `dockgate pki init --dir {d}` first"
        )),
        "{err}"
    );
    fails(&["server", "--dir", d, "--san", "DNS:x.example"]);
    assert!(!dir.exists());
}

#[test]
fn revocation_shows_in_the_crl_with_increasing_numbers() {
    let p = Pki::new();
    let (ca, crl) = (p.path("ca.pem"), p.path("crl.pem"));
    let crl_check = |cert: &str| {
        openssl(&[
            "verify",
            "-crl_check",
            "-CRLfile",
            &crl,
            "-CAfile",
            &ca,
            cert,
        ])
    };
    // The empty CRL from init is valid from the start.
    let (good, text) = crl_check(&p.path("clients/alice/cert.pem"));
    assert!(good, "{text}");

    let out = ok(&["revoke", "alice", "--dir", p.d()]);
    assert!(out.contains("revoked alice"), "{out}");
    let (good, text) = crl_check(&p.path("clients/alice/cert.pem"));
    assert!(!good && text.contains("revoked"), "{text}");
    let (good, text) = crl_check(&p.path("clients/bob/cert.pem"));
    assert!(good, "{text}");

    let crl_number = || {
        let (good, text) = openssl(&["crl", "-in", &crl, "-noout", "-text"]);
        assert!(good, "{text}");
        let mut lines = text.lines();
        lines.find(|l| l.contains("CRL Number"));
        lines.next().unwrap().trim().parse::<u64>().unwrap()
    };
    let first = crl_number();
    assert_eq!(first, 2);

    let bob_serial = serial_of(&p.path("clients/bob/cert.pem"));
    ok(&["revoke", &bob_serial.to_ascii_uppercase(), "--dir", p.d()]);
    assert_eq!(crl_number(), 3);
    let (good, _) = crl_check(&p.path("clients/bob/cert.pem"));
    assert!(!good);

    let err = fails(&["revoke", "alice", "--dir", p.d()]);
    assert!(
        err.contains("alice (serial") && err.contains("is already revoked"),
        "{err}"
    );
    let err = fails(&["revoke", "nobody", "--dir", p.d()]);
    assert!(
        err.contains("no certificate named or with serial \"nobody\""),
        "{err}"
    );

    ok(&["crl", "--dir", p.d()]);
    assert_eq!(crl_number(), 4);
    let (good, _) = crl_check(&p.path("clients/bob/cert.pem"));
    assert!(!good, "refreshing the CRL must keep revocations");
}

#[test]
fn list_and_inspect_show_the_facts() {
    let p = Pki::new();
    ok(&["revoke", "bob", "--dir", p.d()]);
    let alice_serial = serial_of(&p.path("clients/alice/cert.pem"));
    let bob_serial = serial_of(&p.path("clients/bob/cert.pem"));
    let list = ok(&["list", "--dir", p.d()]);
    let row = |name: &str| {
        list.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} row in\n{list}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert!(list.starts_with("NAME"), "{list}");
    let alice = row("alice");
    assert_eq!(alice[1], "client");
    assert_eq!(alice[2], alice_serial);
    assert_eq!(alice.last(), Some(&"valid"));
    assert!(alice.contains(&"days"), "{alice:?}");
    let bob = row("bob");
    assert_eq!(bob[2], bob_serial);
    assert_eq!(bob.last(), Some(&"revoked"));
    assert_eq!(row("server")[1], "server");
    assert_eq!(row("ca")[1], "ca");

    let out = ok(&["inspect", &p.path("server-cert.pem")]);
    let (_, fp) = openssl(&[
        "x509",
        "-in",
        &p.path("server-cert.pem"),
        "-noout",
        "-fingerprint",
        "-sha256",
    ]);
    let fp = fp.trim().rsplit('=').next().unwrap().to_owned();
    for want in [
        "subject:           CN=docker.example.com",
        "issuer:            CN=dockgate CA",
        "SANs:              DNS:docker.example.com, IP:127.0.0.1",
        "key usage:         Digital Signature (critical)",
        "ext key usage:     serverAuth\n",
        "basic constraints: CA:FALSE (critical)",
        "key type:          ECDSA P-256",
        "days left)",
        &format!("sha256:            {fp}"),
        &format!(
            "serial:            {}",
            serial_of(&p.path("server-cert.pem"))
        ),
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
    let out = ok(&["inspect", &p.path("clients/alice/cert.pem")]);
    assert!(out.contains("ext key usage:     clientAuth\n"), "{out}");
    assert!(out.contains("SANs:              none"), "{out}");
    let out = ok(&["inspect", &p.path("ca.pem")]);
    assert!(out.contains("CA:TRUE, pathlen:0 (critical)"), "{out}");
    assert!(out.contains("Key Cert Sign, CRL Sign (critical)"), "{out}");
    let err = fails(&["inspect", &p.path("ca-key.pem")]);
    assert!(err.contains("not a CERTIFICATE"), "{err}");
}

#[test]
fn renew_makes_a_new_serial_and_keeps_the_old_one() {
    let p = Pki::new();
    let old_serial = serial_of(&p.path("clients/alice/cert.pem"));
    let old_key = fs::read(p.path("clients/alice/key.pem")).unwrap();
    let out = ok(&["renew", "alice", "--dir", p.d()]);
    let new_serial = serial_of(&p.path("clients/alice/cert.pem"));
    assert_ne!(new_serial, old_serial);
    assert!(out.contains(&new_serial), "{out}");
    assert_ne!(fs::read(p.path("clients/alice/key.pem")).unwrap(), old_key);
    let kept = p.path(&format!("clients/alice/cert.{old_serial}.pem"));
    assert_eq!(serial_of(&kept), old_serial);
    let (good, text) = openssl(&[
        "verify",
        "-CAfile",
        &p.path("ca.pem"),
        "-purpose",
        "sslclient",
        &p.path("clients/alice/cert.pem"),
    ]);
    assert!(good, "{text}");
    assert_eq!(mode(&p.path("clients/alice/key.pem")), 0o600);

    let list = ok(&["list", "--dir", p.d()]);
    assert!(
        list.contains(&old_serial) && list.contains(&new_serial),
        "{list}"
    );
    assert_eq!(list.lines().filter(|l| l.starts_with("alice ")).count(), 2);

    // Revoking by name takes the newest one.
    ok(&["revoke", "alice", "--dir", p.d()]);
    let list = ok(&["list", "--dir", p.d()]);
    let status = |serial: &str| {
        list.lines()
            .find(|l| l.contains(serial))
            .unwrap()
            .split_whitespace()
            .last()
            .unwrap()
            .to_owned()
    };
    assert_eq!(status(&new_serial), "revoked");
    assert_eq!(status(&old_serial), "valid");

    // The server keeps its SANs.
    let old_server = serial_of(&p.path("server-cert.pem"));
    let out = ok(&["renew", "server", "--dir", p.d()]);
    assert!(
        out.contains("SANs DNS:docker.example.com, IP:127.0.0.1"),
        "{out}"
    );
    assert_ne!(serial_of(&p.path("server-cert.pem")), old_server);
    assert!(Path::new(&p.path(&format!("server-cert.{old_server}.pem"))).exists());
    let err = fails(&["renew", "nobody", "--dir", p.d()]);
    assert!(err.contains("no certificate named"), "{err}");
}

#[test]
fn client_prints_docker_usage_and_leafs_never_outlive_the_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("certs");
    let d = dir.to_str().unwrap();
    ok(&["init", "--dir", d, "--days", "30", "--name", "Test CA"]);
    ok(&[
        "server",
        "--dir",
        d,
        "--san",
        "IP:10.0.0.1",
        "--san",
        "DNS:gw.example.org",
    ]);
    let out = ok(&["client", "ci", "--dir", d]);
    assert!(out.contains("shortened to end with the CA"), "{out}");
    let abs = dir.canonicalize().unwrap().join("clients/ci");
    let abs = abs.display();
    assert!(
        out.contains(&format!(
            "export DOCKER_HOST=tcp://gw.example.org:2376 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH={abs}"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "docker context create ci --docker \"host=tcp://gw.example.org:2376,ca={abs}/ca.pem,cert={abs}/cert.pem,key={abs}/key.pem\""
        )),
        "{out}"
    );
    let end = |path: &str| openssl(&["x509", "-in", path, "-noout", "-enddate"]).1;
    assert_eq!(
        end(&format!("{d}/clients/ci/cert.pem")),
        end(&format!("{d}/ca.pem"))
    );

    let out = ok(&["client", "ops", "--dir", d, "--host", "10.1.2.3"]);
    assert!(out.contains("DOCKER_HOST=tcp://10.1.2.3:2376"), "{out}");
}

#[test]
fn library_quickstart_creates_what_is_missing_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("certs");
    let report = dockgate::pki::quickstart_pki(&dir, "dock.example.net").unwrap();
    assert!(report.ca.is_some());
    let server = report.server.as_ref().unwrap();
    assert_eq!(
        server.sans,
        ["DNS:dock.example.net", "DNS:localhost", "IP:127.0.0.1"]
    );
    let names: Vec<&str> = report.clients.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["admin", "viewer"]);
    for f in [
        "ca.pem",
        "server-cert.pem",
        "clients/admin/cert.pem",
        "clients/viewer/key.pem",
    ] {
        assert!(dir.join(f).exists(), "{f}");
    }

    let before = snapshot(&dir);
    let again = dockgate::pki::quickstart_pki(&dir, "dock.example.net").unwrap();
    assert!(again.ca.is_none() && again.server.is_none() && again.clients.is_empty());
    assert_eq!(again.kept.len(), 4);
    assert_eq!(snapshot(&dir), before);

    // The in-process API issues and revokes too.
    let carol = dockgate::pki::issue_client(&dir, "carol", 10, false).unwrap();
    let revoked = dockgate::pki::revoke(&dir, "carol").unwrap();
    assert_eq!(revoked.serial, carol.serial);
    assert!(dockgate::pki::check_client_name("carol").is_ok());
    assert!(dockgate::pki::check_client_name("../carol").is_err());
}

#[test]
fn rustls_accepts_the_certificates_and_honours_the_crl() {
    use rustls::client::danger::ServerCertVerifier;
    use rustls::client::WebPkiServerVerifier;
    use rustls::server::WebPkiClientVerifier;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, ServerName, UnixTime};
    use std::sync::Arc;

    let p = Pki::new();
    ok(&["revoke", "bob", "--dir", p.d()]);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(p.path("ca.pem")).unwrap())
        .unwrap();
    let roots = Arc::new(roots);
    let crl = CertificateRevocationListDer::from_pem_file(p.path("crl.pem")).unwrap();
    let clients = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .with_crls([crl])
        .build()
        .unwrap();
    let cert = |rel: &str| CertificateDer::from_pem_file(p.path(rel)).unwrap();
    let now = UnixTime::now();
    clients
        .verify_client_cert(&cert("clients/alice/cert.pem"), &[], now)
        .expect("alice is trusted");
    let err = clients
        .verify_client_cert(&cert("clients/bob/cert.pem"), &[], now)
        .unwrap_err();
    assert_eq!(
        err,
        rustls::Error::InvalidCertificate(rustls::CertificateError::Revoked)
    );
    assert!(clients
        .verify_client_cert(&cert("server-cert.pem"), &[], now)
        .is_err());

    let servers = WebPkiServerVerifier::builder_with_provider(roots, provider)
        .build()
        .unwrap();
    for name in ["docker.example.com", "127.0.0.1"] {
        servers
            .verify_server_cert(
                &cert("server-cert.pem"),
                &[],
                &ServerName::try_from(name).unwrap(),
                &[],
                now,
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert!(servers
        .verify_server_cert(
            &cert("server-cert.pem"),
            &[],
            &ServerName::try_from("other.example.com").unwrap(),
            &[],
            now,
        )
        .is_err());
}
