//! The certificate authority as the commands use it: `ca.pem` and
//! `ca-key.pem` loaded and checked, ready to sign leaves and CRLs (`init`
//! makes them).

use std::path::PathBuf;

use rcgen::{Issuer, KeyPair};
use time::OffsetDateTime;
use x509_parser::prelude::FromDer;

use super::cert;
use super::files::{self, Layout};
use super::PkiError;

/// A loaded CA: its certificate and signing key.
#[derive(Debug)]
pub struct Ca {
    /// `ca.pem` exactly as on disk (copied into client directories): the
    /// CA, then the root above it if there is one.
    pub pem: Vec<u8>,
    /// The CA certificate in DER.
    pub der: Vec<u8>,
    /// The CA's key; rcgen's `Debug` for it elides the secret.
    key: KeyPair,
    /// End of the CA's validity; no leaf may outlive it.
    pub not_after: OffsetDateTime,
    /// Where the certificate was read from, for messages.
    path: PathBuf,
}

impl Ca {
    /// Loads `ca.pem` and `ca-key.pem` from `layout`.
    pub fn load(layout: &Layout) -> Result<Ca, PkiError> {
        let path = layout.ca_cert();
        if !path.exists() {
            return Err(PkiError::NoCa {
                dir: layout.dir.clone(),
            });
        }
        let pem = files::read(&path)?;
        let der = cert::read_cert_der(&path)?;
        let key_path = layout.ca_key();
        let key_text = String::from_utf8(files::read(&key_path)?).map_err(|_| PkiError::Parse {
            path: key_path.clone(),
            reason: "not a PEM file".into(),
        })?;
        let key = KeyPair::from_pem(&key_text).map_err(|e| PkiError::Parse {
            path: key_path,
            reason: format!("not a usable private key ({e})"),
        })?;
        Ca::from_parts(pem, der, key, path)
    }

    /// Wraps a certificate and key already in memory.
    pub(super) fn from_parts(
        pem: Vec<u8>,
        der: Vec<u8>,
        key: KeyPair,
        path: PathBuf,
    ) -> Result<Ca, PkiError> {
        let (_, parsed) =
            x509_parser::certificate::X509Certificate::from_der(&der).map_err(|e| {
                PkiError::Parse {
                    path: path.clone(),
                    reason: e.to_string(),
                }
            })?;
        if !parsed.is_ca() {
            return Err(PkiError::Parse {
                path,
                reason: "not a CA certificate".into(),
            });
        }
        let not_after = parsed.validity().not_after.to_datetime();
        Ok(Ca {
            pem,
            der,
            key,
            not_after,
            path,
        })
    }

    /// Whether `ca.pem` holds the CA's parents after it (`init
    /// --intermediate`): then `crl.pem` carries the root's CRL as well.
    pub fn has_parent(&self) -> bool {
        x509_parser::pem::Pem::iter_from_buffer(&self.pem).count() > 1
    }

    /// Fails unless the CA is valid right now.
    pub fn require_valid(&self) -> Result<(), PkiError> {
        let valid = x509_parser::certificate::X509Certificate::from_der(&self.der)
            .map(|(_, c)| c.validity().is_valid())
            .unwrap_or(false);
        if !valid {
            return Err(PkiError::CaNotValid {
                path: self.path.clone(),
                not_after: cert::timestamp(self.not_after),
            });
        }
        Ok(())
    }

    /// The rcgen issuer that signs with this CA (subject and key identifier
    /// taken from the certificate, so AKI matches the CA's SKI).
    pub fn issuer(&self) -> Result<Issuer<'_, &KeyPair>, PkiError> {
        Issuer::from_ca_cert_der(&self.der.clone().into(), &self.key)
            .map_err(|e| PkiError::generate("the CA issuer", e))
    }
}
