//! A PKI made with the `openssl` CLI the way an existing one is run: an RSA
//! root, an ECDSA intermediate it signed with `openssl ca`, and leaves the
//! intermediate issued and revokes with `openssl ca`, each CA with its own
//! database and CRL. Nothing of dockgate's `pki` is used, so the gateway
//! sees certificates made by other hands than its own.
//!
//! The files use the names of [`Pki`], so the gateway helpers and the raw
//! client work on it: `ca.pem` (the bundle [`OpensslPki::new`] chose),
//! `server-cert.pem` (the server certificate, then the intermediate),
//! `server-key.pem`, `crl.pem` (the intermediate's CRL), and
//! `clients/NAME/{cert,key,ca}.pem`. Besides: `root.pem`, `int.pem`,
//! `root-crl.pem` (the root's CRL).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::Pki;

/// Which CAs `ca.pem` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bundle {
    /// The intermediate alone: the CA that issues the clients.
    Intermediate,
    /// The intermediate, then the root.
    IntermediateAndRoot,
}

pub struct OpensslPki {
    pub pki: Pki,
}

/// The `openssl ca` configuration of one CA, in its own folder.
fn ca_config(dir: &Path) -> String {
    format!(
        r#"[ca]
default_ca = this

[this]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/issued
certificate = $dir/cert.pem
private_key = $dir/key.pem
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
default_days = 30
default_crl_days = 30
policy = names
unique_subject = no
copy_extensions = none

[names]
organizationName = optional
commonName = supplied

[intermediate]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[crl]
authorityKeyIdentifier = keyid
"#,
        dir = dir.display()
    )
}

/// Runs `openssl ARGS` in `dir`, failing the test with its output if it fails.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI is installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl OpensslPki {
    /// A root, an intermediate, a server certificate and `clients`, with
    /// `ca.pem` holding `bundle` and both CAs' CRLs written.
    pub fn new(clients: &[&str], bundle: Bundle) -> OpensslPki {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("openssl/root");
        let int = dir.path().join("openssl/int");
        for ca in [&root, &int] {
            std::fs::create_dir_all(ca.join("issued")).unwrap();
            std::fs::write(ca.join("index.txt"), "").unwrap();
            std::fs::write(ca.join("serial"), "1000\n").unwrap();
            std::fs::write(ca.join("crlnumber"), "1000\n").unwrap();
            std::fs::write(ca.join("ca.cnf"), ca_config(ca)).unwrap();
        }
        // The root: RSA, as Vault's and many others' default.
        openssl(
            &root,
            &[
                "req",
                "-x509",
                "-new",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-sha256",
                "-keyout",
                "key.pem",
                "-out",
                "cert.pem",
                "-days",
                "3650",
                "-subj",
                "/O=Example/CN=Example Root CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        // The intermediate: ECDSA P-256, signed by the root.
        openssl(
            &int,
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "key.pem",
                "-out",
                "req.pem",
                "-subj",
                "/O=Example/CN=Example Issuing CA",
            ],
        );
        let int_req = int.join("req.pem");
        let int_cert = int.join("cert.pem");
        openssl(
            &root,
            &[
                "ca",
                "-batch",
                "-notext",
                "-config",
                "ca.cnf",
                "-extensions",
                "intermediate",
                "-days",
                "1825",
                "-in",
                path(&int_req),
                "-out",
                path(&int_cert),
            ],
        );
        let pki = OpensslPki { pki: Pki { dir } };
        let server = pki.leaf("server", "localhost", "server");
        let mut chain = std::fs::read(server.join("cert.pem")).unwrap();
        chain.extend(std::fs::read(&int_cert).unwrap());
        std::fs::write(pki.path().join("server-cert.pem"), chain).unwrap();
        std::fs::copy(server.join("key.pem"), pki.path().join("server-key.pem")).unwrap();
        std::fs::copy(&int_cert, pki.path().join("int.pem")).unwrap();
        std::fs::copy(root.join("cert.pem"), pki.path().join("root.pem")).unwrap();
        pki.set_bundle(bundle);
        for name in clients {
            let dir = pki.leaf("client", name, &format!("clients/{name}"));
            std::fs::copy(pki.path().join("ca.pem"), dir.join("ca.pem")).unwrap();
        }
        openssl(
            &root,
            &[
                "ca", "-config", "ca.cnf", "-gencrl", "-crlexts", "crl", "-out", "crl.pem",
            ],
        );
        std::fs::copy(root.join("crl.pem"), pki.path().join("root-crl.pem")).unwrap();
        pki.write_crl();
        pki
    }

    pub fn path(&self) -> &Path {
        self.pki.path()
    }

    /// Writes `ca.pem` as `bundle`.
    pub fn set_bundle(&self, bundle: Bundle) {
        let mut pem = std::fs::read(self.path().join("int.pem")).unwrap();
        if bundle == Bundle::IntermediateAndRoot {
            pem.extend(std::fs::read(self.path().join("root.pem")).unwrap());
        }
        std::fs::write(self.path().join("ca.pem"), pem).unwrap();
    }

    /// Revokes a client in the intermediate's database and rewrites
    /// `crl.pem` in place, as a CRL timer would.
    pub fn revoke(&self, name: &str) {
        let cert = self.path().join(format!("clients/{name}/cert.pem"));
        openssl(
            &self.int(),
            &["ca", "-config", "ca.cnf", "-revoke", path(&cert)],
        );
        self.write_crl();
    }

    /// The intermediate's CRL, written straight to `crl.pem`.
    fn write_crl(&self) {
        let crl = self.path().join("crl.pem");
        openssl(
            &self.int(),
            &[
                "ca",
                "-config",
                "ca.cnf",
                "-gencrl",
                "-crlexts",
                "crl",
                "-out",
                path(&crl),
            ],
        );
    }

    /// A client certificate for `cn` issued by another intermediate of the
    /// same root, made with `openssl x509 -req` and extension files, in
    /// `clients/DIR/` with that intermediate after it in `cert.pem`.
    pub fn sibling_client(&self, cn: &str, dir: &str) {
        let other = self.path().join("openssl/other");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(
            other.join("ca.ext"),
            "basicConstraints = critical, CA:TRUE, pathlen:0\nkeyUsage = critical, keyCertSign, cRLSign\n",
        )
        .unwrap();
        std::fs::write(
            other.join("client.ext"),
            "basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = clientAuth\n",
        )
        .unwrap();
        let root = self.path().join("openssl/root");
        let new_req = |dir: &Path, subject: &str| {
            openssl(
                dir,
                &[
                    "req",
                    "-new",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-nodes",
                    "-keyout",
                    "key.pem",
                    "-out",
                    "req.pem",
                    "-subj",
                    subject,
                ],
            )
        };
        new_req(&other, "/O=Example/CN=Example Other CA");
        let (root_cert, root_key) = (root.join("cert.pem"), root.join("key.pem"));
        openssl(
            &other,
            &[
                "x509",
                "-req",
                "-in",
                "req.pem",
                "-CA",
                path(&root_cert),
                "-CAkey",
                path(&root_key),
                "-CAcreateserial",
                "-days",
                "365",
                "-extfile",
                "ca.ext",
                "-out",
                "cert.pem",
            ],
        );
        let client = self.path().join("clients").join(dir);
        std::fs::create_dir_all(&client).unwrap();
        new_req(&client, &format!("/O=Example/CN={cn}"));
        let (other_cert, other_key, ext) = (
            other.join("cert.pem"),
            other.join("key.pem"),
            other.join("client.ext"),
        );
        openssl(
            &client,
            &[
                "x509",
                "-req",
                "-in",
                "req.pem",
                "-CA",
                path(&other_cert),
                "-CAkey",
                path(&other_key),
                "-CAcreateserial",
                "-days",
                "30",
                "-extfile",
                path(&ext),
                "-out",
                "leaf.pem",
            ],
        );
        let mut chain = std::fs::read(client.join("leaf.pem")).unwrap();
        chain.extend(std::fs::read(&other_cert).unwrap());
        std::fs::write(client.join("cert.pem"), chain).unwrap();
    }

    fn int(&self) -> PathBuf {
        self.path().join("openssl/int")
    }

    /// A key and a certificate for `cn` with the intermediate's `extensions`,
    /// in `dir` (relative to the PKI) as `cert.pem` and `key.pem`.
    fn leaf(&self, extensions: &str, cn: &str, dir: &str) -> PathBuf {
        let dir = self.path().join(dir);
        std::fs::create_dir_all(&dir).unwrap();
        openssl(
            &dir,
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "key.pem",
                "-out",
                "req.pem",
                "-subj",
                &format!("/O=Example/CN={cn}"),
            ],
        );
        let (req, cert) = (dir.join("req.pem"), dir.join("cert.pem"));
        openssl(
            &self.int(),
            &[
                "ca",
                "-batch",
                "-notext",
                "-config",
                "ca.cnf",
                "-extensions",
                extensions,
                "-in",
                path(&req),
                "-out",
                path(&cert),
            ],
        );
        dir
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

/// A client certificate made by `openssl x509 -req`, signed by the CA in
/// `ca_dir` (`ca.pem`, `ca-key.pem`, as `pki init` writes them), for
/// `subject` with `extensions` (extension-file lines, such as a
/// `subjectAltName`), written as `out/cert.pem` and `out/key.pem`.
pub fn client_signed_by(ca_dir: &Path, out: &Path, subject: &str, extensions: &str) {
    std::fs::create_dir_all(out).unwrap();
    std::fs::write(
        out.join("client.ext"),
        format!("basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = clientAuth\n{extensions}\n"),
    )
    .unwrap();
    openssl(
        out,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "req.pem",
            "-subj",
            subject,
        ],
    );
    let (ca, ca_key) = (ca_dir.join("ca.pem"), ca_dir.join("ca-key.pem"));
    openssl(
        out,
        &[
            "x509",
            "-req",
            "-in",
            "req.pem",
            "-CA",
            ca.to_str().unwrap(),
            "-CAkey",
            ca_key.to_str().unwrap(),
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            "client.ext",
            "-out",
            "cert.pem",
        ],
    );
}
