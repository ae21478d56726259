//! TLS material and the rustls server configuration built from it.
//!
//! Client certificates are mandatory and verified by rustls'
//! `WebPkiClientVerifier` against the configured CA, with the CRL when one is
//! configured. Session resumption is switched off entirely: a resumed TLS 1.3
//! session restores the original client certificate without verifying it
//! again, which would let a certificate revoked since its first handshake
//! back in. Every connection therefore makes a full handshake and every
//! handshake sees the current CA and CRL.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::server::danger::ClientCertVerifier;
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::{CertificateError, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, UnixTime};

use crate::config::TlsFiles;

/// Why TLS material could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error("{}: {source}", path.display())]
    Rustls {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error("client verifier: {0}")]
    Verifier(String),
}

/// The loaded TLS side of a configuration.
#[derive(Clone)]
pub struct Tls {
    pub server: Arc<ServerConfig>,
    /// The same verifier the handshake uses; reloads ask it again about the
    /// certificates of connections that are already open.
    pub verifier: Arc<dyn ClientCertVerifier>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

impl Tls {
    /// Loads and checks every file named in `[tls]`.
    pub fn load(files: &TlsFiles) -> Result<Tls, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        for ca in read_certs(&files.ca)? {
            roots.add(ca).map_err(|source| TlsError::Rustls {
                path: files.ca.clone(),
                source,
            })?;
        }
        let mut builder =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider));
        if let Some(crl) = &files.crl {
            builder = builder
                .with_crls(read_crls(crl)?)
                .only_check_end_entity_revocation();
        }
        let verifier = builder
            .build()
            .map_err(|e| TlsError::Verifier(e.to_string()))?;

        let chain = read_certs(&files.cert)?;
        let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| TlsError::File {
            path: files.key.clone(),
            message: format!("no usable private key: {e}"),
        })?;
        let mut server = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|source| TlsError::Rustls {
                path: files.cert.clone(),
                source,
            })?
            .with_client_cert_verifier(Arc::clone(&verifier))
            .with_single_cert(chain, key)
            .map_err(|source| TlsError::Rustls {
                path: files.key.clone(),
                source,
            })?;
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        server.session_storage = Arc::new(NoServerSessionStorage {});
        server.send_tls13_tickets = 0;
        server.ignore_client_order = true;
        Ok(Tls {
            server: Arc::new(server),
            verifier,
        })
    }

    /// Asks the current verifier whether an already-connected client's
    /// certificate would still pass a full handshake now.
    pub fn still_trusts(&self, chain: &[CertificateDer<'static>]) -> Result<(), rustls::Error> {
        let (leaf, intermediates) = chain
            .split_first()
            .ok_or(rustls::Error::NoCertificatesPresented)?;
        self.verifier
            .verify_client_cert(leaf, intermediates, UnixTime::now())
            .map(|_| ())
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::File {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::File {
            path: path.to_owned(),
            message: "no certificate in file".into(),
        });
    }
    Ok(certs)
}

fn read_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    CertificateRevocationListDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::File {
            path: path.to_owned(),
            message: e.to_string(),
        })
}

/// Why a TLS handshake failed, in words an admin acts on. Also the label
/// value of the handshake-failure metric, so the set is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeFailure {
    Timeout,
    NoCertificate,
    UnknownCa,
    Expired,
    NotYetValid,
    Revoked,
    WrongKeyUsage,
    BadCertificate,
    Protocol,
    ClientClosed,
}

impl HandshakeFailure {
    pub fn classify(err: &io::Error) -> HandshakeFailure {
        let rustls_err = err
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>());
        match rustls_err {
            Some(rustls::Error::NoCertificatesPresented) => HandshakeFailure::NoCertificate,
            Some(rustls::Error::InvalidCertificate(c)) => match c {
                CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                    HandshakeFailure::UnknownCa
                }
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    HandshakeFailure::Expired
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    HandshakeFailure::NotYetValid
                }
                CertificateError::Revoked => HandshakeFailure::Revoked,
                CertificateError::InvalidPurpose
                | CertificateError::InvalidPurposeContext { .. } => HandshakeFailure::WrongKeyUsage,
                _ => HandshakeFailure::BadCertificate,
            },
            Some(_) => HandshakeFailure::Protocol,
            None if matches!(
                err.kind(),
                io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::BrokenPipe
            ) =>
            {
                HandshakeFailure::ClientClosed
            }
            None => HandshakeFailure::Protocol,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            HandshakeFailure::Timeout => "timeout",
            HandshakeFailure::NoCertificate => "no_client_certificate",
            HandshakeFailure::UnknownCa => "unknown_ca",
            HandshakeFailure::Expired => "expired",
            HandshakeFailure::NotYetValid => "not_yet_valid",
            HandshakeFailure::Revoked => "revoked",
            HandshakeFailure::WrongKeyUsage => "wrong_key_usage",
            HandshakeFailure::BadCertificate => "bad_certificate",
            HandshakeFailure::Protocol => "protocol",
            HandshakeFailure::ClientClosed => "client_closed",
        }
    }
}

impl fmt::Display for HandshakeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
