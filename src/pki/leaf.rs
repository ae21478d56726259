//! Server and client certificates: `pki server`, `pki client`, and the
//! minting that `pki renew` shares with them.
//!
//! Both kinds are ECDSA P-256, `CA:FALSE`, keyUsage digitalSignature,
//! carry authority and subject key identifiers, and have exactly one
//! extended key usage: serverAuth for the server (whose DNS/IP SANs are what
//! Go checks; the CN is just the first SAN), clientAuth for clients (whose
//! CN is the client name, and whose optional DNS/URI SANs a client may be
//! known by instead, `[clients.NAME] san`). A leaf never
//! outlives its CA: notAfter is clamped to the CA's and the report says so.

use std::path::{Path, PathBuf};

use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose, SanType};
use time::OffsetDateTime;

use super::ca::Ca;
use super::cert::{self, KeyPem};
use super::files::{
    self, Layout, Staged, KEY_MODE, PRIVATE_DIR_MODE, PUBLIC_DIR_MODE, PUBLIC_MODE,
};
use super::index::{self, Entry, Index, Kind, Status};
use super::lock::PkiLock;
use super::names::{check_client_name, San};
use super::{verify, PkiError};

/// Names that mean something else to `revoke` and `renew`.
const RESERVED: [&str; 2] = ["ca", "server"];

/// What `pki server`, `pki client` or `pki renew` created.
#[derive(Debug, Clone)]
pub struct IssueReport {
    /// `server` or the client name.
    pub name: String,
    /// Server or client.
    pub kind: Kind,
    /// The new serial, hex.
    pub serial: String,
    /// The SANs as `DNS:…`/`IP:…` (servers) or `DNS:…`/`URI:…` (clients).
    pub sans: Vec<String>,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// Whether notAfter was cut back to the CA's notAfter.
    pub clamped: bool,
    /// The certificate file.
    pub cert: PathBuf,
    /// The key file (mode 0600).
    pub key: PathBuf,
    /// Where the replaced certificate was kept (renew only).
    pub kept: Option<PathBuf>,
}

/// A freshly signed certificate and its key, not yet written anywhere.
#[derive(Debug)]
pub(crate) struct Minted {
    /// The certificate in PEM.
    pub pem: String,
    /// Its key.
    pub key: KeyPem,
    /// Its index record.
    pub entry: Entry,
    /// Whether notAfter was clamped to the CA.
    pub clamped: bool,
}

/// Issues the server certificate for `sans` (`DNS:name` or `IP:addr`)
/// valid for `days`, as `server-cert.pem` and `server-key.pem`.
pub fn issue_server(
    dir: &Path,
    sans: &[impl AsRef<str>],
    days: u32,
    force: bool,
) -> Result<IssueReport, PkiError> {
    let sans = parse_sans(sans, |san| match san {
        San::Uri(_) => Some("a server certificate's SANs are DNS names and IP addresses"),
        _ => None,
    })?;
    if sans.is_empty() {
        return Err(PkiError::NoSan);
    }
    cert::check_days(days)?;
    server_locked(&PkiLock::exclusive(dir)?, &sans, days, force)
}

/// `issue_server` in the folder `lock` holds, its arguments checked.
pub(super) fn server_locked(
    lock: &PkiLock,
    sans: &[San],
    days: u32,
    force: bool,
) -> Result<IssueReport, PkiError> {
    let layout = lock.layout();
    let ca = Ca::load(layout)?;
    files::refuse_overwrite(&layout.server_cert(), force)?;
    files::refuse_overwrite(&layout.server_key(), force)?;
    let mut index = Index::load(layout)?;
    let minted = mint(&ca, Kind::Server, "server", sans, days)?;
    write_leaf(layout, &ca, &mut index, minted, None)
}

/// Parses `sans` in order, dropping repeats; `refuse` says why a SAN does
/// not belong in this kind of certificate.
fn parse_sans(
    sans: &[impl AsRef<str>],
    refuse: impl Fn(&San) -> Option<&'static str>,
) -> Result<Vec<San>, PkiError> {
    let mut parsed: Vec<San> = Vec::new();
    for text in sans {
        let san = San::parse(text.as_ref())?;
        if let Some(reason) = refuse(&san) {
            return Err(PkiError::BadSan {
                san: text.as_ref().to_owned(),
                reason: reason.into(),
            });
        }
        if !parsed.contains(&san) {
            parsed.push(san);
        }
    }
    Ok(parsed)
}

/// Issues a client certificate for `name` valid for `days`, as
/// `clients/NAME/{ca.pem,cert.pem,key.pem}` (the `DOCKER_CERT_PATH` layout).
pub fn issue_client(
    dir: &Path,
    name: &str,
    days: u32,
    force: bool,
) -> Result<IssueReport, PkiError> {
    issue_client_with_sans(dir, name, &[] as &[&str], days, force)
}

/// [`issue_client`] with `sans` (`URI:…` or `DNS:…`): what the gateway may
/// know the client by instead of its CN, `name`.
pub fn issue_client_with_sans(
    dir: &Path,
    name: &str,
    sans: &[impl AsRef<str>],
    days: u32,
    force: bool,
) -> Result<IssueReport, PkiError> {
    check_client_name(name)?;
    let sans = parse_sans(sans, |san| match san {
        San::Ip(_) => Some("a client is known by a URI or DNS SAN, not an address"),
        _ => None,
    })?;
    if RESERVED.contains(&name) {
        return Err(PkiError::BadName {
            name: name.to_owned(),
            reason: "reserved (it names the CA or server certificate)".into(),
        });
    }
    cert::check_days(days)?;
    client_locked(&PkiLock::exclusive(dir)?, name, &sans, days, force)
}

/// `issue_client` in the folder `lock` holds, its arguments checked.
pub(super) fn client_locked(
    lock: &PkiLock,
    name: &str,
    sans: &[San],
    days: u32,
    force: bool,
) -> Result<IssueReport, PkiError> {
    let layout = lock.layout();
    let ca = Ca::load(layout)?;
    for path in [layout.client_cert(name), layout.client_key(name)] {
        files::refuse_overwrite(&path, force)?;
    }
    let mut index = Index::load(layout)?;
    let minted = mint(&ca, Kind::Client, name, sans, days)?;
    write_leaf(layout, &ca, &mut index, minted, None)
}

/// Signs a new key's certificate of `kind` with `ca` and verifies it.
pub(crate) fn mint(
    ca: &Ca,
    kind: Kind,
    name: &str,
    sans: &[San],
    days: u32,
) -> Result<Minted, PkiError> {
    ca.require_valid()?;
    let key = cert::new_key()?;
    let window = cert::window(days, Some(ca.not_after));
    let serial_number = cert::random_serial()?;
    let serial = cert::serial_hex(&serial_number.to_bytes());

    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    let (cn, eku) = match kind {
        Kind::Server => (
            sans.first().map(San::value).unwrap_or_default(),
            ExtendedKeyUsagePurpose::ServerAuth,
        ),
        _ => (name.to_owned(), ExtendedKeyUsagePurpose::ClientAuth),
    };
    params.distinguished_name.push(DnType::CommonName, cn);
    params.subject_alt_names = sans
        .iter()
        .map(|san| match san {
            San::Dns(name) => name
                .clone()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|e| PkiError::generate(format!("the SAN {san}"), e)),
            San::Ip(ip) => Ok(SanType::IpAddress(*ip)),
            San::Uri(uri) => uri
                .clone()
                .try_into()
                .map(SanType::URI)
                .map_err(|e| PkiError::generate(format!("the SAN {san}"), e)),
        })
        .collect::<Result<_, _>>()?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![eku];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(serial_number);
    params.not_before = window.not_before;
    params.not_after = window.not_after;

    let made = params
        .signed_by(&key, &ca.issuer()?)
        .map_err(|e| PkiError::generate(format!("the {} certificate", kind.as_str()), e))?;
    verify::check_issued(made.der(), &ca.der, kind)?;
    Ok(Minted {
        pem: made.pem(),
        key: KeyPem(key.serialize_pem()),
        entry: Entry {
            name: name.to_owned(),
            kind,
            serial,
            sans: sans.iter().map(San::to_string).collect(),
            not_before: index::to_toml(window.not_before),
            not_after: index::to_toml(window.not_after),
            sha256: cert::fingerprint(made.der()),
            status: Status::Valid,
            revoked_at: None,
        },
        clamped: window.clamped,
    })
}

/// Writes a minted leaf's files and its index record in one transaction.
/// `keep` is (current certificate, where to keep a copy) when renewing.
pub(crate) fn write_leaf(
    layout: &Layout,
    ca: &Ca,
    index: &mut Index,
    minted: Minted,
    keep: Option<(PathBuf, PathBuf)>,
) -> Result<IssueReport, PkiError> {
    let name = minted.entry.name.clone();
    let kind = minted.entry.kind;
    let (cert_path, key_path) = match kind {
        Kind::Server => (layout.server_cert(), layout.server_key()),
        _ => (layout.client_cert(&name), layout.client_key(&name)),
    };
    let mut staged = Staged::new();
    if kind == Kind::Client {
        staged.create_dir(&layout.client_dir(&name), PRIVATE_DIR_MODE)?;
    } else {
        staged.create_dir(&layout.dir, PUBLIC_DIR_MODE)?;
    }
    if let Some((from, to)) = &keep {
        staged.keep_copy(from, to, PUBLIC_MODE)?;
    }
    staged.write(&key_path, minted.key.0.as_bytes(), KEY_MODE)?;
    staged.write(&cert_path, minted.pem.as_bytes(), PUBLIC_MODE)?;
    if kind == Kind::Client {
        staged.write(&layout.client_ca(&name), &ca.pem, PUBLIC_MODE)?;
    }
    let report = IssueReport {
        name,
        kind,
        serial: minted.entry.serial.clone(),
        sans: minted.entry.sans.clone(),
        not_after: index::from_toml(&minted.entry.not_after).unwrap_or(ca.not_after),
        clamped: minted.clamped,
        cert: cert_path,
        key: key_path,
        kept: keep.map(|(_, to)| to),
    };
    index.certs.push(minted.entry);
    index.stage(&mut staged, layout)?;
    staged.commit()?;
    Ok(report)
}
