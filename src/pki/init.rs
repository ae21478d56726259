//! `pki init`: creates the certificate authority, an empty CRL and a fresh
//! index.
//!
//! The CA is `CA:TRUE, pathlen:0` (it signs leaves only), with critical
//! keyUsage keyCertSign + cRLSign, a random serial and a ten-year default
//! life. `init --force` replaces it and starts a new index: certificates of
//! the old CA no longer verify, so they are no longer listed (the CRL number
//! keeps counting up).
//!
//! `init --intermediate` makes a root (`CA:TRUE, pathlen:1`, in
//! `root-ca.pem`, its key in `root-ca-key.pem`) and the issuing CA signed
//! by it, so the root key can be kept offline: every later command signs
//! with the intermediate alone. `ca.pem` then holds the intermediate and
//! the root, in that order (what `[tls] ca` and clients need), and
//! `crl.pem` the intermediate's CRL followed by the root's, which is empty
//! and current for the root's whole life (`root-crl.pem` keeps it, so that
//! `revoke` and `crl` can write it again without the root key).

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyUsagePurpose};
use time::OffsetDateTime;

use super::ca::Ca;
use super::cert::{self, KeyPem};
use super::files::{self, Staged, KEY_MODE, PUBLIC_MODE};
use super::index::{self, Entry, Index, Kind, Status};
use super::lock::{self, PkiLock};
use super::{crl, verify, PkiError};

/// What `pki init` created.
#[derive(Debug, Clone)]
pub struct InitReport {
    /// The root above the CA, with `--intermediate`.
    pub root: Option<RootReport>,
    /// The CA certificate.
    pub ca_cert: PathBuf,
    /// The CA key (mode 0600).
    pub ca_key: PathBuf,
    /// The empty CRL.
    pub crl: PathBuf,
    /// The CA's serial, hex.
    pub serial: String,
    /// End of the CA's validity.
    pub not_after: OffsetDateTime,
}

/// The root `init --intermediate` made.
#[derive(Debug, Clone)]
pub struct RootReport {
    /// The root certificate, `root-ca.pem`.
    pub cert: PathBuf,
    /// The root key (mode 0600), to be moved offline.
    pub key: PathBuf,
    /// The root's empty CRL, `root-crl.pem`.
    pub crl: PathBuf,
    /// The root's serial, hex.
    pub serial: String,
    /// End of the root's validity.
    pub not_after: OffsetDateTime,
}

/// Whether `init` makes one CA, or a root and an intermediate under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One self-signed CA that signs everything.
    Single,
    /// A root that signs only the intermediate, which signs everything else.
    Intermediate,
}

/// Creates a CA named `name` valid for `days` in `dir`, with an empty CRL
/// and a new index. Refuses to replace an existing CA unless `force`.
pub fn init_ca(dir: &Path, name: &str, days: u32, force: bool) -> Result<InitReport, PkiError> {
    init_pki(dir, name, days, force, Shape::Single)
}

/// [`init_ca`] with the CA's shape chosen: with [`Shape::Intermediate`],
/// the CA named `name` is signed by a root named `NAME root`, both valid
/// for `days` (the intermediate never past the root).
pub fn init_pki(
    dir: &Path,
    name: &str,
    days: u32,
    force: bool,
    shape: Shape,
) -> Result<InitReport, PkiError> {
    check_ca_name(name)?;
    if shape == Shape::Intermediate {
        check_ca_name(&root_name(name))?;
    }
    cert::check_days(days)?;
    lock::in_new_dir(dir, |lock| init_locked(lock, name, days, force, shape))
}

/// The root's common name under an intermediate named `name`.
fn root_name(name: &str) -> String {
    format!("{name} root")
}

/// A newly made CA certificate and its key, not yet written anywhere.
struct MadeCa {
    ca: Ca,
    key_pem: KeyPem,
    entry: Entry,
}

/// Makes a CA certificate named `name` that may sign `pathlen` levels of
/// CAs below it: self-signed, or signed by `parent`, whose chain then
/// follows it in the loaded CA's PEM.
fn make_ca(
    name: &str,
    entry_name: &str,
    pathlen: u8,
    days: u32,
    parent: Option<&Ca>,
    path: PathBuf,
) -> Result<MadeCa, PkiError> {
    let key = cert::new_key()?;
    let window = cert::window(days, parent.map(|p| p.not_after));
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(pathlen));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let serial_number = cert::random_serial()?;
    let serial = cert::serial_hex(&serial_number.to_bytes());
    params.serial_number = Some(serial_number);
    params.not_before = window.not_before;
    params.not_after = window.not_after;
    let made = match parent {
        None => params.self_signed(&key),
        Some(parent) => {
            params.use_authority_key_identifier_extension = true;
            params.signed_by(&key, &parent.issuer()?)
        }
    }
    .map_err(|e| PkiError::generate(format!("the {entry_name} certificate"), e))?;
    let der = made.der().to_vec();
    match parent {
        None => verify::check_ca(&der)?,
        Some(parent) => verify::check_intermediate(&der, &parent.der)?,
    }
    let key_pem = KeyPem(key.serialize_pem());
    let entry = Entry {
        name: entry_name.into(),
        kind: Kind::Ca,
        serial,
        sans: Vec::new(),
        not_before: index::to_toml(window.not_before),
        not_after: index::to_toml(window.not_after),
        sha256: cert::fingerprint(&der),
        status: Status::Valid,
        revoked_at: None,
    };
    let mut pem = made.pem().into_bytes();
    if let Some(parent) = parent {
        pem.extend_from_slice(&parent.pem);
    }
    let ca = Ca::from_parts(pem, der, key, path)?;
    Ok(MadeCa { ca, key_pem, entry })
}

/// The index name of the root under an intermediate.
const ROOT_ENTRY: &str = "root-ca";

/// `init_pki` in the folder `lock` holds, its arguments checked.
pub(super) fn init_locked(
    lock: &PkiLock,
    name: &str,
    days: u32,
    force: bool,
    shape: Shape,
) -> Result<InitReport, PkiError> {
    let layout = lock.layout();
    let mut replaced = vec![layout.ca_cert(), layout.ca_key()];
    if shape == Shape::Intermediate {
        replaced.extend([layout.root_cert(), layout.root_key()]);
    }
    for path in &replaced {
        files::refuse_overwrite(path, force)?;
    }
    let crl_number = Index::load(layout).map(|i| i.crl_number).unwrap_or(0) + 1;

    let root = match shape {
        Shape::Single => None,
        // The root signs the intermediate only.
        Shape::Intermediate => Some(make_ca(
            &root_name(name),
            ROOT_ENTRY,
            1,
            days,
            None,
            layout.root_cert(),
        )?),
    };
    // The CA that signs leaves signs no other CA.
    let made = make_ca(
        name,
        "ca",
        0,
        days,
        root.as_ref().map(|r| &r.ca),
        layout.ca_cert(),
    )?;
    let ca = &made.ca;

    let mut index = Index {
        crl_number,
        certs: vec![made.entry.clone()],
    };
    let mut staged = Staged::new();
    let mut root_report = None;
    let root_crl = match &root {
        None => None,
        Some(root) => {
            let pem = crl::empty_crl_pem(&root.ca, 1)?;
            staged.write(&layout.root_key(), root.key_pem.0.as_bytes(), KEY_MODE)?;
            staged.write(&layout.root_cert(), &root.ca.pem, PUBLIC_MODE)?;
            staged.write(&layout.root_crl(), pem.as_bytes(), PUBLIC_MODE)?;
            index.certs.push(root.entry.clone());
            root_report = Some(RootReport {
                cert: layout.root_cert(),
                key: layout.root_key(),
                crl: layout.root_crl(),
                serial: root.entry.serial.clone(),
                not_after: root.ca.not_after,
            });
            Some(pem)
        }
    };
    let mut crl_pem = crl::crl_pem(ca, &index)?;
    if let Some(root_crl) = root_crl {
        crl_pem.push_str(&root_crl);
    }
    staged.write(&layout.ca_key(), made.key_pem.0.as_bytes(), KEY_MODE)?;
    staged.write(&layout.ca_cert(), &ca.pem, PUBLIC_MODE)?;
    staged.write(&layout.crl(), crl_pem.as_bytes(), PUBLIC_MODE)?;
    index.stage(&mut staged, layout)?;
    staged.commit()?;
    Ok(InitReport {
        root: root_report,
        ca_cert: layout.ca_cert(),
        ca_key: layout.ca_key(),
        crl: layout.crl(),
        serial: made.entry.serial,
        not_after: ca.not_after,
    })
}

/// A CA name becomes its common name: 1–64 printable characters.
fn check_ca_name(name: &str) -> Result<(), PkiError> {
    let bad = |reason: &str| PkiError::BadName {
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    if name.trim().is_empty() {
        return Err(bad("the CA name is empty"));
    }
    if name.chars().count() > 64 {
        return Err(bad("longer than 64 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(bad("contains control characters"));
    }
    Ok(())
}
