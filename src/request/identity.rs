//! Who is on the other end of a connection: the client's name is the subject
//! Common Name of the certificate it presented (already verified by the TLS
//! handshake). A certificate without a CN, or with more than one, names no
//! one and is refused.

use std::fmt;
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate};

/// A verified client, fixed for the life of its connection.
#[derive(Clone)]
pub struct Identity {
    /// The certificate's subject CN: the key into `[clients]`.
    pub name: Arc<str>,
    /// The certificate serial in hex, for audit and revocation.
    pub serial: Arc<str>,
    /// The certificate's notAfter in seconds since the Unix epoch, read
    /// while the certificate is parsed for its name, for the expiry metric.
    pub not_after: i64,
    /// The chain as presented, kept so a reload can verify it again.
    pub chain: Arc<[CertificateDer<'static>]>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("name", &self.name)
            .field("serial", &self.serial)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("no client certificate")]
    Missing,
    #[error("the client certificate cannot be parsed")]
    Unparsable,
    #[error("the client certificate has no subject Common Name")]
    NoCommonName,
    #[error("the client certificate has {0} subject Common Names; exactly one is required")]
    SeveralCommonNames(usize),
    #[error("the client certificate's Common Name is not a printable UTF-8 string")]
    BadCommonName,
}

impl Identity {
    pub fn from_chain(chain: &[CertificateDer<'static>]) -> Result<Identity, IdentityError> {
        let leaf = chain.first().ok_or(IdentityError::Missing)?;
        let (_, cert) = X509Certificate::from_der(leaf).map_err(|_| IdentityError::Unparsable)?;
        let cns: Vec<_> = cert.subject().iter_common_name().collect();
        let name = match cns.as_slice() {
            [] => return Err(IdentityError::NoCommonName),
            [one] => one.as_str().map_err(|_| IdentityError::BadCommonName)?,
            many => return Err(IdentityError::SeveralCommonNames(many.len())),
        };
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err(IdentityError::BadCommonName);
        }
        Ok(Identity {
            name: name.into(),
            serial: cert.raw_serial_as_string().replace(':', "").into(),
            not_after: cert.validity().not_after.timestamp(),
            chain: chain.to_vec().into(),
        })
    }
}
