//! Who is on the other end of a connection: the one configured client the
//! certificate it presented (already verified by the TLS handshake) is
//! known as, by its subject CN or by a SAN, and with the pinned key when the
//! client pins one; or, on a unix socket, the client whose own socket it is,
//! or the one whose uid or gid the peer has on the shared socket (the
//! rules: [`crate::config::identities`]). Resolved once per connection, at
//! the handshake or the accept, and again for each reload while the
//! connection is open. A peer that matches no client names no one and is
//! refused, saying what was looked for.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::config::identities::{San, Spki};
use crate::config::Config;
use crate::request::local::LocalPeer;

/// A verified client, fixed for the life of its connection.
#[derive(Clone)]
pub struct Identity {
    /// The configured client the peer matched: the key into
    /// `[clients]`, and the name policies, metrics and audit lines use.
    pub name: Arc<str>,
    /// The certificate serial in hex, for audit and revocation; empty for
    /// a local peer.
    pub serial: Arc<str>,
    /// What the peer went by, kept so a reload can resolve it again.
    pub proof: Proof,
}

/// What a client was known by.
#[derive(Clone)]
pub enum Proof {
    Certificate {
        /// The certificate's notAfter in seconds since the Unix epoch, read
        /// while the certificate is parsed for its name, for the expiry
        /// metric.
        not_after: i64,
        /// The chain as presented, kept so a reload can verify it again.
        chain: Arc<[CertificateDer<'static>]>,
        /// What the certificate says of itself, kept so a reload can
        /// resolve it again without parsing it.
        presented: Arc<Presented>,
    },
    /// A peer on a unix socket.
    Local(Arc<LocalPeer>),
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("name", &self.name)
            .field("serial", &self.serial)
            .finish()
    }
}

/// The parts of a client certificate that name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented {
    /// The subject CN, or why it names no one.
    pub cn: Result<Arc<str>, IdentityError>,
    /// Its URI and DNS SANs (DNS lowercased); other SAN kinds name no client.
    pub sans: Box<[San]>,
    /// The hash of its SubjectPublicKeyInfo.
    pub spki: Spki,
}

/// What a certificate that matched no client was looked up by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmatched {
    /// `None` when the certificate has no usable CN.
    pub cn: Option<Arc<str>>,
    pub sans: Box<[San]>,
}

impl fmt::Display for Unmatched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cn {
            Some(cn) => write!(f, "CN {cn:?} and ")?,
            None => write!(f, "CN (it has no usable one) and ")?,
        }
        if self.sans.is_empty() {
            return write!(f, "no URI or DNS SANs");
        }
        write!(f, "SANs ")?;
        for (i, san) in self.sans.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{:?}", san.to_string())?;
        }
        Ok(())
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
    #[error("no client in the gateway's configuration is known by its {0}")]
    Unknown(Box<Unmatched>),
    #[error("its SANs name two clients, {first:?} ({first_san}) and {second:?} ({second_san}); a certificate must name one")]
    SeveralClients {
        first: Arc<str>,
        first_san: Arc<str>,
        second: Arc<str>,
        second_san: Arc<str>,
    },
    #[error("its {by} names client {client:?}, which is pinned to another key (spki_sha256)")]
    WrongKey { client: Arc<str>, by: Arc<str> },
    #[error("no client in the gateway's configuration is known by uid {uid} or gid {gid} (the peer's credentials on {}){}", socket.display(), if *unmapped { "; 65534 is how dockgate's user namespace shows ids it does not map, which name no one" } else { "" })]
    UnknownPeer {
        uid: u32,
        gid: u32,
        /// One of them is the kernel's stand-in for an unmapped id.
        unmapped: bool,
        socket: Arc<Path>,
    },
    #[error("the socket {} is no longer in the gateway's configuration", .0.display())]
    SocketGone(Arc<Path>),
}

impl IdentityError {
    /// What was refused, for the refusal's message: a certificate or a
    /// local peer.
    pub fn subject(&self) -> &'static str {
        match self {
            IdentityError::UnknownPeer { .. } | IdentityError::SocketGone(_) => "local peer",
            _ => "client certificate",
        }
    }
}

impl Presented {
    /// Reads the naming parts of the leaf certificate of `chain`, with its
    /// serial and notAfter.
    fn read(
        chain: &[CertificateDer<'static>],
    ) -> Result<(Presented, Arc<str>, i64), IdentityError> {
        let leaf = chain.first().ok_or(IdentityError::Missing)?;
        let (_, cert) = X509Certificate::from_der(leaf).map_err(|_| IdentityError::Unparsable)?;
        let cns: Vec<_> = cert.subject().iter_common_name().collect();
        let cn = match cns.as_slice() {
            [] => Err(IdentityError::NoCommonName),
            [one] => match one.as_str() {
                Ok(name) if !name.is_empty() && !name.chars().any(char::is_control) => {
                    Ok(Arc::from(name))
                }
                _ => Err(IdentityError::BadCommonName),
            },
            many => Err(IdentityError::SeveralCommonNames(many.len())),
        };
        // rustls accepted the certificate, so a SAN extension it carries
        // parses; one that does not is treated as none.
        let sans = match cert.subject_alternative_name() {
            Ok(Some(ext)) => ext
                .value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::URI(uri) => Some(San::Uri((*uri).into())),
                    GeneralName::DNSName(dns) => Some(San::dns(dns)),
                    _ => None,
                })
                .collect(),
            _ => Box::default(),
        };
        let presented = Presented {
            cn,
            sans,
            spki: Spki::of(cert.public_key().raw),
        };
        let serial = cert.raw_serial_as_string().replace(':', "").into();
        Ok((presented, serial, cert.validity().not_after.timestamp()))
    }

    /// The one client of `config` this certificate is known as.
    pub fn resolve(&self, config: &Config) -> Result<Arc<str>, IdentityError> {
        let mut found: Option<(&str, &San)> = None;
        for san in &*self.sans {
            let Some(name) = config.identities.by_san(san) else {
                continue;
            };
            match found {
                Some((first, first_san)) if first != name => {
                    return Err(IdentityError::SeveralClients {
                        first: first.into(),
                        first_san: first_san.to_string().into(),
                        second: name.into(),
                        second_san: san.to_string().into(),
                    })
                }
                Some(_) => {}
                None => found = Some((name, san)),
            }
        }
        let (name, by) = match found {
            Some((name, san)) => (name, format!("SAN {san}")),
            None => {
                let unknown = |cn: Option<&Arc<str>>| {
                    IdentityError::Unknown(Box::new(Unmatched {
                        cn: cn.cloned(),
                        sans: self.sans.clone(),
                    }))
                };
                let cn = match &self.cn {
                    Ok(cn) => cn,
                    // A bad CN is the problem only when there is nothing else to go by.
                    Err(e) if self.sans.is_empty() => return Err(e.clone()),
                    Err(_) => return Err(unknown(None)),
                };
                // A local client is never known by a certificate.
                let known_by_cn = config
                    .clients
                    .get_key_value(&**cn)
                    .filter(|(_, c)| c.known_by.san.is_none() && c.known_by.local.is_none());
                match known_by_cn {
                    Some((name, _)) => (name.as_str(), format!("CN {cn:?}")),
                    None => return Err(unknown(Some(cn))),
                }
            }
        };
        let pinned = config.clients.get(name).and_then(|c| c.known_by.spki);
        if pinned.is_some_and(|spki| spki != self.spki) {
            return Err(IdentityError::WrongKey {
                client: name.into(),
                by: by.into(),
            });
        }
        Ok(name.into())
    }
}

impl Identity {
    /// The client `config` knows the leaf certificate of `chain` as.
    pub fn resolve(
        chain: &[CertificateDer<'static>],
        config: &Config,
    ) -> Result<Identity, IdentityError> {
        let (presented, serial, not_after) = Presented::read(chain)?;
        Ok(Identity {
            name: presented.resolve(config)?,
            serial,
            proof: Proof::Certificate {
                not_after,
                chain: chain.to_vec().into(),
                presented: Arc::new(presented),
            },
        })
    }

    /// The client `config` knows the local `peer` as.
    pub fn local(peer: LocalPeer, config: &Config) -> Result<Identity, IdentityError> {
        Ok(Identity {
            name: peer.resolve(config)?,
            serial: Arc::from(""),
            proof: Proof::Local(Arc::new(peer)),
        })
    }
}

impl LocalPeer {
    /// The one client of `config` this peer is: the client whose own
    /// socket it connected to, or on `local_listen` the client listing its
    /// uid, else its gid.
    pub fn resolve(&self, config: &Config) -> Result<Arc<str>, IdentityError> {
        if let Some(name) = config.identities.by_socket(&self.socket) {
            return Ok(name.into());
        }
        let shared = config
            .local_listen
            .as_ref()
            .is_some_and(|l| *l.path == *self.socket);
        if !shared {
            return Err(IdentityError::SocketGone(Arc::clone(&self.socket)));
        }
        // An id this process's namespace does not map stands for anyone.
        let uid = self.uid_mapped.then_some(self.uid);
        let gid = self.gid_mapped.then_some(self.gid);
        match config.identities.by_peer(uid, gid) {
            Some(name) => Ok(name.into()),
            None => Err(IdentityError::UnknownPeer {
                uid: self.uid,
                gid: self.gid,
                unmapped: !(self.uid_mapped && self.gid_mapped),
                socket: Arc::clone(&self.socket),
            }),
        }
    }
}
