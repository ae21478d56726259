//! When the TLS material of a loaded set stops being usable: each CA's
//! notAfter, and each CRL's thisUpdate and nextUpdate. Read once per load
//! from files that passed every check, so the metrics can report the set
//! in force and an admin can alert before any of it runs out.

use std::path::Path;

use rustls_pki_types::{CertificateDer, CertificateRevocationListDer};
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};
use x509_parser::revocation_list::CertificateRevocationList;

/// One CA certificate of the `[tls] ca` file and when it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaValidity {
    /// The subject Common Name, or the whole subject when it has none:
    /// what an admin recognises the CA by.
    pub name: String,
    /// The serial in lowercase hex, as `pki list` shows it; tells apart
    /// two CAs of one name (an old and a new one during a CA rotation).
    pub serial: String,
    /// notAfter, in seconds since the Unix epoch.
    pub not_after: i64,
}

/// One CRL in force and how fresh it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlValidity {
    /// The file it came from, as configured.
    pub file: String,
    /// The issuer's Common Name (or whole name when it has none).
    pub issuer: String,
    /// thisUpdate, in seconds since the Unix epoch.
    pub this_update: i64,
    /// nextUpdate, when the CRL has one.
    pub next_update: Option<i64>,
}

/// Every certificate in a CA file, in file order.
pub fn cas(chain: &[CertificateDer<'_>]) -> Vec<CaValidity> {
    chain
        .iter()
        .filter_map(|der| X509Certificate::from_der(der).ok())
        .map(|(_, cert)| CaValidity {
            name: name_of(cert.subject()),
            serial: serial_hex(cert.raw_serial()),
            not_after: cert.validity().not_after.timestamp(),
        })
        .collect()
}

/// The CRLs of one file, one per issuer: when a file holds several CRLs of
/// one issuer, the newest (latest thisUpdate) is the one reported, so the
/// series of a file and issuer stays one series.
pub fn crls(file: &Path, crls: &[CertificateRevocationListDer<'_>]) -> Vec<CrlValidity> {
    let mut out: Vec<CrlValidity> = Vec::new();
    for (_, crl) in crls
        .iter()
        .filter_map(|der| CertificateRevocationList::from_der(der).ok())
    {
        let found = CrlValidity {
            file: file.display().to_string(),
            issuer: name_of(crl.issuer()),
            this_update: crl.last_update().timestamp(),
            next_update: crl.next_update().map(|t| t.timestamp()),
        };
        match out.iter_mut().find(|c| c.issuer == found.issuer) {
            Some(seen) if seen.this_update < found.this_update => *seen = found,
            Some(_) => {}
            None => out.push(found),
        }
    }
    out
}

fn name_of(name: &X509Name<'_>) -> String {
    name.iter_common_name()
        .find_map(|cn| cn.as_str().ok())
        .map_or_else(|| name.to_string(), str::to_owned)
}

/// Lowercase hex without separators or leading zeros, as `pki` writes serials.
fn serial_hex(raw: &[u8]) -> String {
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    match hex.trim_start_matches('0') {
        "" => "0".to_owned(),
        trimmed => trimmed.to_owned(),
    }
}
