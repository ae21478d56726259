//! `pki renew`: a new key and certificate for an existing name (same SANs,
//! new serial), replacing the files in place.
//!
//! The replaced certificate stays in the index and stays valid until it
//! expires or is revoked, so a client can switch over at leisure. A copy of
//! it is kept next to the new one as `server-cert.<serial>.pem` or
//! `clients/NAME/cert.<serial>.pem` (for `inspect` and auditing); its key is
//! not kept, since retiring the old key is the point of renewing.

use std::path::Path;

use super::ca::Ca;
use super::cert;
use super::index::{Index, Kind};
use super::leaf::{self, IssueReport};
use super::lock::PkiLock;
use super::names::San;
use super::PkiError;

/// Renews `name` (`server` or a client name) for `days`, or the kind's
/// default lifetime if `None`.
pub fn renew(dir: &Path, name: &str, days: Option<u32>) -> Result<IssueReport, PkiError> {
    let lock = PkiLock::exclusive(dir)?;
    let layout = lock.layout();
    let ca = Ca::load(layout)?;
    let mut index = Index::load(layout)?;
    let current = index
        .newest(name)
        .ok_or_else(|| PkiError::NotFound {
            query: name.to_owned(),
            index: layout.index(),
        })?
        .clone();
    let (cert_path, default_days) =
        match current.kind {
            Kind::Ca => return Err(PkiError::Unsupported(
                "the CA is not renewed in place; create a new one with `dockgate pki init --force`"
                    .into(),
            )),
            Kind::Server => (layout.server_cert(), cert::DEFAULT_SERVER_DAYS),
            Kind::Client => (layout.client_cert(name), cert::DEFAULT_CLIENT_DAYS),
        };
    let days = days.unwrap_or(default_days);
    cert::check_days(days)?;
    let sans = current
        .sans
        .iter()
        .map(|s| San::parse(s))
        .collect::<Result<Vec<_>, _>>()?;

    // Keep the certificate being replaced under its own serial.
    let keep = if cert_path.exists() {
        let der = cert::read_cert_der(&cert_path)?;
        let serial = x509_parser::parse_x509_certificate(&der)
            .map(|(_, c)| cert::serial_hex(c.raw_serial()))
            .map_err(|e| PkiError::Parse {
                path: cert_path.clone(),
                reason: e.to_string(),
            })?;
        let to = match current.kind {
            Kind::Server => layout.old_server_cert(&serial),
            _ => layout.old_client_cert(name, &serial),
        };
        Some((cert_path, to))
    } else {
        None
    };
    let minted = leaf::mint(&ca, current.kind, name, &sans, days)?;
    leaf::write_leaf(layout, &ca, &mut index, minted, keep)
}
