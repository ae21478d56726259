//! TLS material and the rustls server configuration built from it.
//!
//! Client certificates are mandatory and verified by rustls'
//! `WebPkiClientVerifier` against the configured CA, with the CRL when one is
//! configured. Session resumption is switched off entirely: a resumed TLS 1.3
//! session restores the original client certificate without verifying it
//! again, which would let a certificate revoked since its first handshake
//! back in. Every connection therefore makes a full handshake and every
//! handshake sees the current CA and CRL.
//!
//! Before any signature is checked, a client's chain must be no longer
//! than the CA set allows ([`ChainBound`]): an unauthenticated client
//! sending a long made-up chain would otherwise cost the gateway the work
//! of several handshakes.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, RootCertStore,
    ServerConfig, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, UnixTime};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;
use x509_parser::time::ASN1Time;

use crate::config::expiry::{self, CaValidity, CrlValidity};
use crate::config::files::Reads;
use crate::config::TlsFiles;

/// One thing wrong with the TLS files, under the config key of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsProblem {
    /// `tls.ca`, `tls.cert`, `tls.key`, `tls.crl`, or `tls` for the set.
    pub key: &'static str,
    pub message: String,
}

/// Everything wrong with the TLS files, all reported at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct TlsError {
    pub problems: Vec<TlsProblem>,
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}: {}", p.key, p.message)?;
        }
        Ok(())
    }
}

/// The loaded TLS side of a configuration.
#[derive(Clone)]
pub struct Tls {
    pub server: Arc<ServerConfig>,
    /// The same verifier the handshake uses; reloads ask it again about the
    /// certificates of connections that are already open.
    pub verifier: Arc<dyn ClientCertVerifier>,
    /// What the verifier trusts (the CA and CRL), as a digest: a reload
    /// that leaves it unchanged leaves every verdict unchanged.
    pub trust: TrustDigest,
    /// What the checks found, for `dockgate check` to report.
    pub facts: Arc<TlsFacts>,
}

/// A digest of the CA certificates and CRLs a verifier was built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustDigest([u8; 32]);

impl TrustDigest {
    fn of<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> TrustDigest {
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        for part in parts {
            // Length-prefixed, so that no two different sets read the same.
            context.update(&(part.len() as u64).to_be_bytes());
            context.update(part);
        }
        let mut out = [0; 32];
        out.copy_from_slice(context.finish().as_ref());
        TrustDigest(out)
    }
}

/// What loading learned about files that passed: `check` reports it and
/// warns about what expires soon.
#[derive(Debug, Clone)]
pub struct TlsFacts {
    pub ca_not_after: ASN1Time,
    pub cert_not_after: ASN1Time,
    /// `DNS:name` / `IP:addr`, as `pki` writes them.
    pub sans: Vec<String>,
    pub crl: Option<CrlFacts>,
    /// Every certificate of the CA file and when it ends.
    pub cas: Vec<CaValidity>,
    /// Every CRL in force, one per file and issuer.
    pub crls: Vec<CrlValidity>,
}

#[derive(Debug, Clone)]
pub struct CrlFacts {
    /// The CRL number, when the CRL has one.
    pub number: Option<String>,
    pub revoked: usize,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

/// Collects problems while the files are read and checked.
#[derive(Default)]
struct Problems(Vec<TlsProblem>);

impl Problems {
    fn push(&mut self, key: &'static str, message: impl Into<String>) {
        self.0.push(TlsProblem {
            key,
            message: message.into(),
        });
    }
}

impl Tls {
    /// Reads every file named in `[tls]` through `reads` and checks them:
    /// this is the one judgement `check`, `serve` and a reload all use,
    /// so a set `check` calls an error never starts and never replaces a
    /// running one. Checked: the CA is a CA certificate and valid now; the
    /// server certificate chains to it, names SANs and is valid now; the
    /// key is the certificate's; a configured CRL file holds at least one
    /// CRL and each is signed by the CA (an empty or foreign CRL would
    /// switch revocation off, or lock every client out).
    pub fn read(files: &TlsFiles, reads: &Reads) -> Result<Tls, TlsError> {
        let mut problems = Problems::default();
        let now = ASN1Time::now();
        let ca_chain = read_certs(reads, "tls.ca", &files.ca, &mut problems);
        let cert_chain = read_certs(reads, "tls.cert", &files.cert, &mut problems);
        let key = read_key(reads, &files.key, &mut problems);
        let crls = files
            .crl
            .as_deref()
            .map(|path| (path, read_crls(reads, path, &mut problems)));

        let ca = ca_chain
            .as_ref()
            .and_then(|c| parse_cert("tls.ca", &files.ca, &c[0], &mut problems));
        let cert = cert_chain
            .as_ref()
            .and_then(|c| parse_cert("tls.cert", &files.cert, &c[0], &mut problems));
        if let Some(ca) = &ca {
            if !ca.is_ca() {
                problems.push(
                    "tls.ca",
                    format!(
                        "{}: not a CA certificate (basicConstraints CA:false)",
                        files.ca.display()
                    ),
                );
            }
            validity("tls.ca", &files.ca, ca, now, &mut problems);
        }
        let mut sans = Vec::new();
        if let Some(cert) = &cert {
            if let Some(ca) = &ca {
                if cert.verify_signature(Some(ca.public_key())).is_err() {
                    problems.push(
                        "tls.cert",
                        format!(
                            "{} is not signed by the CA in {}",
                            files.cert.display(),
                            files.ca.display()
                        ),
                    );
                }
            }
            match cert.subject_alternative_name() {
                Ok(Some(san)) if !san.value.general_names.is_empty() => {
                    sans = san.value.general_names.iter().map(general_name).collect();
                }
                _ => problems.push(
                    "tls.cert",
                    format!(
                        "{}: no subject alternative names: Go clients (docker) will refuse it",
                        files.cert.display()
                    ),
                ),
            }
            validity("tls.cert", &files.cert, cert, now, &mut problems);
        }
        let mut crl_facts = None;
        if let (Some((path, Some(crls))), Some(ca)) = (&crls, &ca) {
            let mut revoked = 0;
            let mut number = None;
            for der in crls {
                match CertificateRevocationList::from_der(der) {
                    Err(_) => problems.push("tls.crl", format!("{}: not a CRL", path.display())),
                    Ok((_, crl)) => {
                        if crl.verify_signature(ca.public_key()).is_err() {
                            problems.push(
                                "tls.crl",
                                format!(
                                    "{} is not signed by the CA in {}",
                                    path.display(),
                                    files.ca.display()
                                ),
                            );
                        }
                        revoked += crl.iter_revoked_certificates().count();
                        number = number.or(crl.crl_number().map(|n| n.to_string()));
                    }
                }
            }
            crl_facts = Some(CrlFacts { number, revoked });
        }

        let facts = match (&ca, &cert) {
            (Some(ca), Some(cert)) => Some(TlsFacts {
                ca_not_after: ca.validity().not_after,
                cert_not_after: cert.validity().not_after,
                sans,
                crl: crl_facts,
                cas: ca_chain.as_deref().map(expiry::cas).unwrap_or_default(),
                crls: match &crls {
                    Some((path, Some(crls))) => expiry::crls(path, crls),
                    _ => Vec::new(),
                },
            }),
            _ => None,
        };
        drop((ca, cert));
        let (Some(ca_chain), Some(cert_chain), Some(key), Some(facts), true) =
            (ca_chain, cert_chain, key, facts, problems.0.is_empty())
        else {
            return Err(TlsError {
                problems: problems.0,
            });
        };
        let crls = crls.and_then(|(_, crls)| crls);
        build(files, ca_chain, cert_chain, key, crls, facts)
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

/// The rustls side, from material that passed every check.
fn build(
    files: &TlsFiles,
    ca_chain: Vec<CertificateDer<'static>>,
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    crls: Option<Vec<CertificateRevocationListDer<'static>>>,
    facts: TlsFacts,
) -> Result<Tls, TlsError> {
    let fail = |key, message: String| TlsError {
        problems: vec![TlsProblem { key, message }],
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let trust = TrustDigest::of(
        ca_chain
            .iter()
            .map(|c| c.as_ref())
            .chain([&b"crl"[..]])
            .chain(crls.iter().flatten().map(|c| c.as_ref())),
    );
    let cas = ca_chain.clone();
    let mut roots = RootCertStore::empty();
    for ca in ca_chain {
        roots
            .add(ca)
            .map_err(|e| fail("tls.ca", format!("{}: {e}", files.ca.display())))?;
    }
    let mut builder =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider));
    if let Some(crls) = crls {
        builder = builder.with_crls(crls).only_check_end_entity_revocation();
    }
    let verifier: Arc<dyn ClientCertVerifier> = Arc::new(ChainBound::new(
        builder
            .build()
            .map_err(|e| fail("tls", format!("client verifier: {e}")))?,
        cas,
    ));
    let mut server = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail("tls", e.to_string()))?
        .with_client_cert_verifier(Arc::clone(&verifier))
        .with_single_cert(cert_chain, key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => fail(
                "tls.key",
                format!(
                    "{}: not the private key of the certificate in {}",
                    files.key.display(),
                    files.cert.display()
                ),
            ),
            other => fail("tls", format!("{}: {other}", files.key.display())),
        })?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    server.session_storage = Arc::new(NoServerSessionStorage {});
    server.send_tls13_tickets = 0;
    server.ignore_client_order = true;
    Ok(Tls {
        server: Arc::new(server),
        verifier,
        trust,
        facts: Arc::new(facts),
    })
}

/// A client chain longer than the CA set allows: refused before any
/// signature in it is checked.
#[derive(Debug, thiserror::Error)]
#[error(
    "client certificate chain of {presented} certificates; the CA set allows at most {allowed}"
)]
pub struct ChainTooLong {
    pub presented: usize,
    pub allowed: usize,
}

/// rustls' verifier behind a bound on the length of the chain a client
/// presents: its leaf, and at most as many intermediates as the longest
/// issuer chain in the CA file has below its top (none for a lone root).
/// Copies of the configured CA certificates, which some clients send
/// along, are allowed on top, once each.
#[derive(Debug)]
struct ChainBound {
    inner: Arc<dyn ClientCertVerifier>,
    /// Intermediates a client may present apart from CA copies.
    intermediates: usize,
    /// The configured CA certificates.
    cas: Vec<CertificateDer<'static>>,
}

impl ChainBound {
    /// `inner` behind the bound for the CA file's certificates.
    fn new(inner: Arc<dyn ClientCertVerifier>, cas: Vec<CertificateDer<'static>>) -> ChainBound {
        let parsed: Vec<_> = cas
            .iter()
            .filter_map(|c| X509Certificate::from_der(c).ok().map(|(_, c)| c))
            .collect();
        // Steps from a certificate up to one whose issuer is not in the
        // set (or itself), at most the set's size (a loop of cross-signed
        // certificates ends there).
        let depth = |start: usize| {
            let mut at = start;
            let mut steps = 0;
            while steps < parsed.len() {
                let cert = &parsed[at];
                if cert.subject() == cert.issuer() {
                    break;
                }
                match parsed.iter().position(|c| c.subject() == cert.issuer()) {
                    Some(up) => {
                        at = up;
                        steps += 1;
                    }
                    None => break,
                }
            }
            steps
        };
        let intermediates = (0..parsed.len()).map(depth).max().unwrap_or(0);
        drop(parsed);
        ChainBound {
            inner,
            intermediates,
            cas,
        }
    }

    fn check(&self, intermediates: &[CertificateDer<'_>]) -> Result<(), rustls::Error> {
        let copies = intermediates
            .iter()
            .filter(|c| self.cas.iter().any(|ca| ca.as_ref() == c.as_ref()))
            .count();
        let allowed = 1 + self.intermediates + copies.min(self.cas.len());
        let presented = 1 + intermediates.len();
        if presented > allowed {
            return Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(ChainTooLong { presented, allowed })),
            )));
        }
        Ok(())
    }
}

impl ClientCertVerifier for ChainBound {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check(intermediates)?;
        self.inner
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

fn read_file(
    reads: &Reads,
    key: &'static str,
    path: &Path,
    problems: &mut Problems,
) -> Option<Vec<u8>> {
    reads
        .read(path)
        .map_err(|e| problems.push(key, format!("{}: {e}", path.display())))
        .ok()
}

fn read_certs(
    reads: &Reads,
    key: &'static str,
    path: &Path,
    problems: &mut Problems,
) -> Option<Vec<CertificateDer<'static>>> {
    let bytes = read_file(reads, key, path, problems)?;
    match CertificateDer::pem_slice_iter(&bytes).collect::<Result<Vec<_>, _>>() {
        Err(e) => problems.push(key, format!("{}: {e}", path.display())),
        Ok(certs) if certs.is_empty() => {
            problems.push(key, format!("{}: no certificate in file", path.display()))
        }
        Ok(certs) => return Some(certs),
    }
    None
}

fn read_key(reads: &Reads, path: &Path, problems: &mut Problems) -> Option<PrivateKeyDer<'static>> {
    let bytes = read_file(reads, "tls.key", path, problems)?;
    PrivateKeyDer::from_pem_slice(&bytes)
        .map_err(|e| {
            problems.push(
                "tls.key",
                format!("{}: no usable private key: {e}", path.display()),
            )
        })
        .ok()
}

/// The CRLs in a file; a file with none is an error, not "nothing revoked":
/// a truncated or emptied file must not switch revocation off.
fn read_crls(
    reads: &Reads,
    path: &Path,
    problems: &mut Problems,
) -> Option<Vec<CertificateRevocationListDer<'static>>> {
    let bytes = read_file(reads, "tls.crl", path, problems)?;
    match CertificateRevocationListDer::pem_slice_iter(&bytes).collect::<Result<Vec<_>, _>>() {
        Err(e) => problems.push("tls.crl", format!("{}: {e}", path.display())),
        Ok(crls) if crls.is_empty() => problems.push(
            "tls.crl",
            format!(
                "{}: no CRL in file (an empty or cut-off CRL file would switch revocation checks off)",
                path.display()
            ),
        ),
        Ok(crls) => return Some(crls),
    }
    None
}

fn parse_cert<'a>(
    key: &'static str,
    path: &Path,
    der: &'a CertificateDer<'static>,
    problems: &mut Problems,
) -> Option<X509Certificate<'a>> {
    match X509Certificate::from_der(der) {
        Ok((_, cert)) => Some(cert),
        Err(_) => {
            problems.push(key, format!("{}: not an X.509 certificate", path.display()));
            None
        }
    }
}

/// A certificate outside its validity cannot serve: rustls would present an
/// expired server certificate that every client refuses.
fn validity(
    key: &'static str,
    path: &Path,
    cert: &X509Certificate<'_>,
    now: ASN1Time,
    problems: &mut Problems,
) {
    let validity = cert.validity();
    if validity.not_before > now {
        problems.push(
            key,
            format!(
                "{} is not valid before {}",
                path.display(),
                validity.not_before
            ),
        );
    } else if validity.not_after < now {
        problems.push(
            key,
            format!("{} expired {}", path.display(), validity.not_after),
        );
    }
}

/// `DNS:host` / `IP:addr`, the way `pki` and openssl write SANs.
fn general_name(name: &x509_parser::extensions::GeneralName<'_>) -> String {
    use x509_parser::extensions::GeneralName;
    match name {
        GeneralName::DNSName(d) => format!("DNS:{d}"),
        GeneralName::IPAddress(b) => match <[u8; 4]>::try_from(*b) {
            Ok(v4) => format!("IP:{}", std::net::Ipv4Addr::from(v4)),
            Err(_) => match <[u8; 16]>::try_from(*b) {
                Ok(v6) => format!("IP:{}", std::net::Ipv6Addr::from(v6)),
                Err(_) => "IP:(malformed)".to_owned(),
            },
        },
        other => other.to_string(),
    }
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
    /// More certificates than the CA set can use ([`ChainTooLong`]).
    ChainTooLong,
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
                CertificateError::Other(OtherError(other))
                    if other.downcast_ref::<ChainTooLong>().is_some() =>
                {
                    HandshakeFailure::ChainTooLong
                }
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
            HandshakeFailure::ChainTooLong => "chain_too_long",
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
