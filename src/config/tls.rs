//! TLS material and the rustls server configuration built from it.
//!
//! Client certificates are mandatory and verified by rustls'
//! `WebPkiClientVerifier` against the CAs of the configured CA file (a root,
//! intermediates, or both), with the configured CRLs. Session resumption is
//! switched off entirely: a resumed TLS 1.3 session restores the original
//! client certificate without verifying it again, which would let a
//! certificate revoked since its first handshake back in. Every connection
//! therefore makes a full handshake and every handshake sees the current CAs
//! and CRLs.
//!
//! Before any signature is checked, a client's chain must be no longer
//! than the CA set allows (`ChainBound`): an unauthenticated client
//! sending a long made-up chain would otherwise cost the gateway the work
//! of several handshakes.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
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
    /// All configured CRLs together: the first CRL number, the revoked
    /// entries of all.
    pub crl: Option<CrlFacts>,
    /// Each certificate of the CA file, in order (`ca_not_after` is the
    /// earliest of theirs).
    pub cas: Vec<CaFacts>,
    /// Every certificate of the CA file and when it ends, for the metrics.
    pub ca_validity: Vec<CaValidity>,
    /// Every CRL in force, one per file and issuer, for the metrics.
    pub crl_validity: Vec<CrlValidity>,
    /// The subject of the CA of the CA file the server certificate chains to.
    pub cert_issuer: String,
    /// Each CRL, with the CA that signed it.
    pub crls: Vec<CrlSource>,
}

/// One certificate of the CA file.
#[derive(Debug, Clone)]
pub struct CaFacts {
    pub subject: String,
    pub not_after: ASN1Time,
    /// Whether a configured CRL is signed by it. While any CRL is
    /// configured, a client whose issuer has none is refused (its
    /// revocation status is unknown), so `check` warns.
    pub has_crl: bool,
}

/// One CRL and the CA of the CA file that signed it.
#[derive(Debug, Clone)]
pub struct CrlSource {
    /// The file it is in.
    pub path: PathBuf,
    /// The subject of the CA that signed it.
    pub issuer: String,
    pub facts: CrlFacts,
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
    /// running one. Checked: every certificate in the CA file is a CA
    /// certificate and valid now; the server certificate chains to one of
    /// them (directly, or through intermediates sent after it in its own
    /// file), names SANs and is valid now; the key is the certificate's;
    /// each configured CRL file holds at least one CRL and each CRL is
    /// signed by a CA of the CA file (an empty or foreign CRL would switch
    /// revocation off, or lock every client out).
    pub fn read(files: &TlsFiles, reads: &Reads) -> Result<Tls, TlsError> {
        let mut problems = Problems::default();
        let now = ASN1Time::now();
        let ca_chain = read_certs(reads, "tls.ca", &files.ca, &mut problems);
        let cert_chain = read_certs(reads, "tls.cert", &files.cert, &mut problems);
        let key = read_key(reads, &files.key, &mut problems);
        let crls: Vec<(&Path, Option<Vec<CertificateRevocationListDer<'static>>>)> = files
            .crl
            .iter()
            .map(|path| (path.as_path(), read_crls(reads, path, &mut problems)))
            .collect();

        let cas = ca_chain
            .as_deref()
            .map(|chain| read_cas(&files.ca, chain, now, &mut problems));
        let chain = cert_chain.as_deref().map(|chain| {
            chain
                .iter()
                .enumerate()
                .filter_map(|(i, der)| {
                    let label = if i == 0 {
                        files.cert.display().to_string()
                    } else {
                        format!("{}, certificate {}", files.cert.display(), i + 1)
                    };
                    parse_cert("tls.cert", &label, der, &mut problems)
                })
                .collect::<Vec<_>>()
        });
        let mut sans = Vec::new();
        let mut cert_issuer = None;
        if let Some(cert) = chain.as_ref().and_then(|c| c.first()) {
            let chain = chain.as_deref().unwrap_or_default();
            if let Some(cas) = cas.as_deref().filter(|cas| !cas.is_empty()) {
                cert_issuer = server_chain(files, chain, cas, now, &mut problems);
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
            validity(
                "tls.cert",
                &files.cert.display().to_string(),
                cert,
                now,
                &mut problems,
            );
        }
        let mut crl_sources = Vec::new();
        let mut seen: Vec<(String, String)> = Vec::new();
        if let Some(cas) = cas.as_deref().filter(|cas| !cas.is_empty()) {
            for (path, crls) in &crls {
                for (i, der) in crls.iter().flatten().enumerate() {
                    let label = if crls.as_ref().map_or(0, Vec::len) > 1 {
                        format!("{}, CRL {}", path.display(), i + 1)
                    } else {
                        path.display().to_string()
                    };
                    let Some(source) = crl_source(files, path, &label, der, cas, &mut problems)
                    else {
                        continue;
                    };
                    // The verifier consults the first CRL of an issuer only:
                    // a second, older one would be read as "not revoked".
                    if let Some((first, _)) = seen.iter().find(|(_, i)| *i == source.issuer) {
                        problems.push(
                            "tls.crl",
                            format!(
                                "{label} and {first} are both from the CA {}: only the first would be consulted; keep one",
                                source.issuer
                            ),
                        );
                    }
                    seen.push((label, source.issuer.clone()));
                    crl_sources.push(source);
                }
            }
        }

        let facts = match (&cas, &chain) {
            (Some(cas), Some(chain)) if !cas.is_empty() && !chain.is_empty() => Some(TlsFacts {
                ca_not_after: cas
                    .iter()
                    .map(|ca| ca.validity().not_after)
                    .min()
                    .unwrap_or_else(ASN1Time::now),
                cert_not_after: chain[0].validity().not_after,
                sans,
                crl: (!crl_sources.is_empty()).then(|| CrlFacts {
                    number: crl_sources.iter().find_map(|c| c.facts.number.clone()),
                    revoked: crl_sources.iter().map(|c| c.facts.revoked).sum(),
                }),
                cas: cas
                    .iter()
                    .map(|ca| CaFacts {
                        subject: ca.subject().to_string(),
                        not_after: ca.validity().not_after,
                        has_crl: crl_sources
                            .iter()
                            .any(|c| c.issuer == ca.subject().to_string()),
                    })
                    .collect(),
                cert_issuer: cert_issuer.unwrap_or_default(),
                crls: crl_sources,
                ca_validity: ca_chain.as_deref().map(expiry::cas).unwrap_or_default(),
                crl_validity: crls
                    .iter()
                    .filter_map(|(path, ders)| ders.as_deref().map(|d| expiry::crls(path, d)))
                    .flatten()
                    .collect(),
            }),
            _ => None,
        };
        drop((cas, chain));
        let (Some(ca_chain), Some(cert_chain), Some(key), Some(facts), true) =
            (ca_chain, cert_chain, key, facts, problems.0.is_empty())
        else {
            return Err(TlsError {
                problems: problems.0,
            });
        };
        let crls: Vec<_> = crls
            .into_iter()
            .flat_map(|(_, crls)| crls)
            .flatten()
            .collect();
        let crls = (!crls.is_empty()).then_some(crls);
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
///
/// Past the bound, only those copies reach rustls: every CA of the file
/// is a trust anchor, so a client its CAs issued needs nothing else, and
/// an intermediate the file does not hold could only lead to a root in it
/// through a CA the admin did not name (another intermediate of the same
/// root). A client is therefore accepted only when a CA in the file
/// issued it.
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
        let copies: Vec<CertificateDer<'_>> = intermediates
            .iter()
            .filter(|c| self.cas.iter().any(|ca| ca.as_ref() == c.as_ref()))
            .cloned()
            .collect();
        self.inner.verify_client_cert(end_entity, &copies, now)
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

/// How a message names the CA file's certificates: "the CA in F" for a
/// file of one, "any of the N CAs in F" for a bundle.
fn the_cas(files: &TlsFiles, count: usize) -> String {
    if count == 1 {
        format!("the CA in {}", files.ca.display())
    } else {
        format!("any of the {count} CAs in {}", files.ca.display())
    }
}

/// Parses every certificate of the CA file and checks that each is a CA
/// valid now. A problem names the certificate by position and subject
/// when the file holds more than one.
fn read_cas<'a>(
    path: &Path,
    chain: &'a [CertificateDer<'static>],
    now: ASN1Time,
    problems: &mut Problems,
) -> Vec<X509Certificate<'a>> {
    let mut cas = Vec::new();
    for (i, der) in chain.iter().enumerate() {
        let position = if chain.len() > 1 {
            format!(
                "{}, certificate {} of {}",
                path.display(),
                i + 1,
                chain.len()
            )
        } else {
            path.display().to_string()
        };
        let Some(ca) = parse_cert("tls.ca", &position, der, problems) else {
            continue;
        };
        let label = if chain.len() > 1 {
            format!("{position} ({})", ca.subject())
        } else {
            position
        };
        if !ca.is_ca() {
            problems.push(
                "tls.ca",
                format!("{label}: not a CA certificate (basicConstraints CA:false)"),
            );
        }
        validity("tls.ca", &label, &ca, now, problems);
        cas.push(ca);
    }
    cas
}

/// Whether `issuer` issued `cert`: its name, then its signature.
fn issued_by(cert: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> bool {
    cert.issuer().as_raw() == issuer.subject().as_raw()
        && cert.verify_signature(Some(issuer.public_key())).is_ok()
}

/// Follows the server certificate up its own file's chain to a CA of the
/// CA file, and returns that CA's subject. Each intermediate on the way
/// must be valid now: clients refuse the chain otherwise.
fn server_chain(
    files: &TlsFiles,
    chain: &[X509Certificate<'_>],
    cas: &[X509Certificate<'_>],
    now: ASN1Time,
    problems: &mut Problems,
) -> Option<String> {
    let mut at = 0;
    // Each step goes one certificate further up the file; a loop of
    // certificates naming each other ends when the file runs out.
    for _ in 0..chain.len() {
        let cert = &chain[at];
        if let Some(ca) = cas.iter().find(|ca| issued_by(cert, ca)) {
            return Some(ca.subject().to_string());
        }
        match (at + 1..chain.len()).find(|&up| issued_by(cert, &chain[up])) {
            Some(up) => {
                let label = format!(
                    "{}, certificate {} ({})",
                    files.cert.display(),
                    up + 1,
                    chain[up].subject()
                );
                validity("tls.cert", &label, &chain[up], now, problems);
                at = up;
            }
            None => break,
        }
    }
    let cert = &chain[at];
    let message = if at == 0 {
        format!(
            "{} is not signed by {} (its issuer: \"{}\"); put the CA that issued it in tls.ca, or its intermediates after it in tls.cert",
            files.cert.display(),
            the_cas(files, cas.len()),
            cert.issuer()
        )
    } else {
        format!(
            "{}: certificate {} ({}) of its chain is not signed by {} (its issuer: \"{}\")",
            files.cert.display(),
            at + 1,
            cert.subject(),
            the_cas(files, cas.len()),
            cert.issuer()
        )
    };
    problems.push("tls.cert", message);
    None
}

/// Finds the CA of the CA file that signed one CRL.
fn crl_source(
    files: &TlsFiles,
    path: &Path,
    label: &str,
    der: &CertificateRevocationListDer<'_>,
    cas: &[X509Certificate<'_>],
    problems: &mut Problems,
) -> Option<CrlSource> {
    let Ok((_, crl)) = CertificateRevocationList::from_der(der) else {
        problems.push("tls.crl", format!("{label}: not a CRL"));
        return None;
    };
    let signer = cas.iter().find(|ca| {
        crl.issuer().as_raw() == ca.subject().as_raw()
            && crl.verify_signature(ca.public_key()).is_ok()
    });
    let Some(signer) = signer else {
        problems.push(
            "tls.crl",
            format!(
                "{label} is not signed by {} (its issuer: \"{}\"); a CRL must come from a CA in tls.ca",
                the_cas(files, cas.len()),
                crl.issuer()
            ),
        );
        return None;
    };
    Some(CrlSource {
        path: path.to_owned(),
        issuer: signer.subject().to_string(),
        facts: CrlFacts {
            number: crl.crl_number().map(|n| n.to_string()),
            revoked: crl.iter_revoked_certificates().count(),
        },
    })
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

/// `label` names the file, and the certificate within it when it holds
/// several.
fn parse_cert<'a>(
    key: &'static str,
    label: &str,
    der: &'a CertificateDer<'static>,
    problems: &mut Problems,
) -> Option<X509Certificate<'a>> {
    match X509Certificate::from_der(der) {
        Ok((_, cert)) => Some(cert),
        Err(_) => {
            problems.push(key, format!("{label}: not an X.509 certificate"));
            None
        }
    }
}

/// A certificate outside its validity cannot serve: rustls would present an
/// expired server certificate that every client refuses.
fn validity(
    key: &'static str,
    label: &str,
    cert: &X509Certificate<'_>,
    now: ASN1Time,
    problems: &mut Problems,
) {
    let validity = cert.validity();
    if validity.not_before > now {
        problems.push(
            key,
            format!("{label} is not valid before {}", validity.not_before),
        );
    } else if validity.not_after < now {
        problems.push(key, format!("{label} expired {}", validity.not_after));
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
