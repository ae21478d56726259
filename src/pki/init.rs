//! `pki init`: creates the certificate authority, an empty CRL and a fresh
//! index.
//!
//! The CA is `CA:TRUE, pathlen:0` (it signs leaves only), with critical
//! keyUsage keyCertSign + cRLSign, a random serial and a ten-year default
//! life. `init --force` replaces it and starts a new index: certificates of
//! the old CA no longer verify, so they are no longer listed (the CRL number
//! keeps counting up).

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

/// Creates a CA named `name` valid for `days` in `dir`, with an empty CRL
/// and a new index. Refuses to replace an existing CA unless `force`.
pub fn init_ca(dir: &Path, name: &str, days: u32, force: bool) -> Result<InitReport, PkiError> {
    check_ca_name(name)?;
    cert::check_days(days)?;
    lock::in_new_dir(dir, |lock| init_locked(lock, name, days, force))
}

/// `init_ca` in the folder `lock` holds, its arguments checked.
pub(super) fn init_locked(
    lock: &PkiLock,
    name: &str,
    days: u32,
    force: bool,
) -> Result<InitReport, PkiError> {
    let layout = lock.layout();
    files::refuse_overwrite(&layout.ca_cert(), force)?;
    files::refuse_overwrite(&layout.ca_key(), force)?;
    let crl_number = Index::load(layout).map(|i| i.crl_number).unwrap_or(0) + 1;

    let key = cert::new_key()?;
    let window = cert::window(days, None);
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let serial_number = cert::random_serial()?;
    let serial = cert::serial_hex(&serial_number.to_bytes());
    params.serial_number = Some(serial_number);
    params.not_before = window.not_before;
    params.not_after = window.not_after;
    let made = params
        .self_signed(&key)
        .map_err(|e| PkiError::generate("the CA certificate", e))?;
    let der = made.der().to_vec();
    verify::check_ca(&der)?;
    let key_pem = KeyPem(key.serialize_pem());
    let ca = Ca::from_parts(made.pem().into_bytes(), der.clone(), key, layout.ca_cert())?;

    let index = Index {
        crl_number,
        certs: vec![Entry {
            name: "ca".into(),
            kind: Kind::Ca,
            serial: serial.clone(),
            sans: Vec::new(),
            not_before: index::to_toml(window.not_before),
            not_after: index::to_toml(window.not_after),
            sha256: cert::fingerprint(&der),
            status: Status::Valid,
            revoked_at: None,
        }],
    };
    let crl_pem = crl::crl_pem(&ca, &index)?;

    let mut staged = Staged::new();
    staged.write(&layout.ca_key(), key_pem.0.as_bytes(), KEY_MODE)?;
    staged.write(&layout.ca_cert(), &ca.pem, PUBLIC_MODE)?;
    staged.write(&layout.crl(), crl_pem.as_bytes(), PUBLIC_MODE)?;
    index.stage(&mut staged, layout)?;
    staged.commit()?;
    Ok(InitReport {
        ca_cert: layout.ca_cert(),
        ca_key: layout.ca_key(),
        crl: layout.crl(),
        serial,
        not_after: window.not_after,
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
