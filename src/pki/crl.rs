//! Revocation: `pki revoke` marks a certificate revoked in the index and
//! writes `crl.pem`, signed by the CA, listing every revoked serial.
//!
//! Each CRL carries the next CRL number from the index, so verifiers can
//! order them. nextUpdate is [`CRL_DAYS`] (a year) ahead: verifiers that do
//! enforce nextUpdate (OpenSSL with `-crl_check`, rustls when configured
//! to) reject a stale CRL, which would lock every client out of a gateway
//! nobody has revoked anything on for a while. rustls'
//! `WebPkiClientVerifier` ignores nextUpdate by default. `pki crl` re-signs
//! the CRL (next number, a new year) without revoking anything; run it
//! from cron, or at least once a year.

use std::path::{Path, PathBuf};

use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevokedCertParams, SerialNumber};
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::FromDer;

use super::ca::Ca;
use super::files::{Layout, Staged, PUBLIC_MODE};
use super::index::{self, Index, Kind, Status};
use super::lock::PkiLock;
use super::{cert, PkiError};

/// How long a CRL stays current (its nextUpdate), in days.
pub const CRL_DAYS: i64 = 365;

/// The CRL (PEM) listing every revoked certificate in `index`, numbered
/// `index.crl_number`.
pub fn crl_pem(ca: &Ca, index: &Index) -> Result<String, PkiError> {
    let now = OffsetDateTime::now_utc();
    signed(
        ca,
        index.crl_number,
        revoked_certs(index, now),
        now + Duration::days(CRL_DAYS),
    )
}

/// An empty CRL of a root that signs nothing but the intermediate, current
/// until the root itself expires: it is made once, with the root key, which
/// then goes offline.
pub fn empty_crl_pem(root: &Ca, number: u64) -> Result<String, PkiError> {
    signed(root, number, Vec::new(), root.not_after)
}

fn revoked_certs(index: &Index, now: OffsetDateTime) -> Vec<RevokedCertParams> {
    index
        .certs
        .iter()
        .filter(|e| e.status == Status::Revoked)
        .map(|e| RevokedCertParams {
            serial_number: SerialNumber::from_slice(&hex_bytes(&e.serial)),
            revocation_time: e
                .revoked_at
                .as_ref()
                .and_then(index::from_toml)
                .unwrap_or(now),
            reason_code: None,
            invalidity_date: None,
        })
        .collect()
}

/// A CRL signed by `ca`.
fn signed(
    ca: &Ca,
    number: u64,
    revoked_certs: Vec<RevokedCertParams>,
    next_update: OffsetDateTime,
) -> Result<String, PkiError> {
    let now = OffsetDateTime::now_utc();
    let params = CertificateRevocationListParams {
        this_update: now - cert::CLOCK_SKEW,
        next_update,
        crl_number: SerialNumber::from(number),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: ca_key_id(&ca.der),
    };
    params
        .signed_by(&ca.issuer()?)
        .and_then(|crl| crl.pem())
        .map_err(|e| PkiError::generate("the CRL", e))
}

/// What `pki revoke` did.
#[derive(Debug, Clone)]
pub struct RevokeReport {
    /// Name of the revoked certificate.
    pub name: String,
    /// Its serial, hex.
    pub serial: String,
    /// The number of the CRL just written.
    pub crl_number: u64,
    /// The CRL file.
    pub crl: PathBuf,
}

/// Revokes the certificate `query` names (a serial, or a name meaning its
/// newest non-revoked certificate) and writes a new CRL.
pub fn revoke(dir: &Path, query: &str) -> Result<RevokeReport, PkiError> {
    let lock = PkiLock::exclusive(dir)?;
    let layout = lock.layout();
    let ca = Ca::load(layout)?;
    let mut index = Index::load(layout)?;
    let i = index.lookup(query).ok_or_else(|| PkiError::NotFound {
        query: query.to_owned(),
        index: layout.index(),
    })?;
    let entry = &mut index.certs[i];
    if entry.kind == Kind::Ca {
        return Err(PkiError::Unsupported(
            "the CA cannot revoke itself; replace it with `dockgate pki init --force`".into(),
        ));
    }
    if entry.status == Status::Revoked {
        return Err(PkiError::AlreadyRevoked {
            name: entry.name.clone(),
            serial: entry.serial.clone(),
        });
    }
    entry.status = Status::Revoked;
    entry.revoked_at = Some(index::to_toml(OffsetDateTime::now_utc()));
    let (name, serial) = (entry.name.clone(), entry.serial.clone());
    publish(layout, &ca, &mut index)?;
    Ok(RevokeReport {
        name,
        serial,
        crl_number: index.crl_number,
        crl: layout.crl(),
    })
}

/// Re-signs `crl.pem` with the next CRL number and a fresh nextUpdate,
/// listing the same revocations. Returns the new CRL number.
pub fn refresh_crl(dir: &Path) -> Result<u64, PkiError> {
    let lock = PkiLock::exclusive(dir)?;
    let layout = lock.layout();
    let ca = Ca::load(layout)?;
    let mut index = Index::load(layout)?;
    publish(layout, &ca, &mut index)?;
    Ok(index.crl_number)
}

/// The CA's subject key identifier, so the CRL's authority key identifier
/// matches it whatever method made it.
fn ca_key_id(ca_der: &[u8]) -> KeyIdMethod {
    let ski = x509_parser::certificate::X509Certificate::from_der(ca_der)
        .ok()
        .and_then(|(_, c)| {
            c.iter_extensions()
                .find_map(|ext| match ext.parsed_extension() {
                    x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(id) => {
                        Some(id.0.to_vec())
                    }
                    _ => None,
                })
        });
    match ski {
        Some(id) => KeyIdMethod::PreSpecified(id),
        None => KeyIdMethod::Sha256,
    }
}

/// Bytes of a hex serial as stored in the index (even length assumed after
/// padding).
fn hex_bytes(hex: &str) -> Vec<u8> {
    let padded = if hex.len() % 2 == 1 {
        format!("0{hex}")
    } else {
        hex.to_owned()
    };
    (0..padded.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&padded[i..i + 2], 16).ok())
        .collect()
}

/// Signs a CRL with the next CRL number and writes it together with the
/// index that records that number: both files or neither.
fn publish(layout: &Layout, ca: &Ca, index: &mut Index) -> Result<(), PkiError> {
    index.crl_number += 1;
    let mut crl = crl_pem(ca, index)?;
    if ca.has_parent() {
        // The root's CRL goes along, so that `crl.pem` covers every CA of
        // `ca.pem` and the gateway knows the revocation status of both.
        let root_crl = super::files::read(&layout.root_crl())?;
        crl.push_str(&String::from_utf8_lossy(&root_crl));
    }
    let mut staged = Staged::new();
    staged.write(&layout.crl(), crl.as_bytes(), PUBLIC_MODE)?;
    index.stage(&mut staged, layout)?;
    staged.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_serials_decode() {
        assert_eq!(hex_bytes("4a0f"), vec![0x4a, 0x0f]);
        assert_eq!(hex_bytes("abc"), vec![0x0a, 0xbc]);
    }
}
