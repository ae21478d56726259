//! The client side: targets, and HTTP/1.1 connections to them over a unix
//! socket or mutual TLS.
//!
//! Every TLS target gets the same client configuration: the bench client's
//! certificate, no ALPN, and session resumption disabled, because dockgate
//! refuses resumption on purpose and every target should pay for the same
//! full handshake. A target may present another client's certificate
//! instead (the confined client of the tenant workloads), configured the
//! same way otherwise.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls::client::Resumption;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::TlsConnector;

use crate::body::BenchBody;

/// Which Engine sits behind a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Fake,
    Real,
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Engine::Fake => "fake",
            Engine::Real => "real",
        })
    }
}

#[derive(Debug, Clone)]
pub enum Address {
    Unix(PathBuf),
    Tls(SocketAddr),
}

/// The names run.sh gives the targets; the report's checks and the
/// choice of targets for the tenant workloads look them up.
pub const DIRECT: &str = "direct";
pub const DOCKGATE: &str = "dockgate";
pub const NGINX: &str = "nginx";
pub const DOCKERD_TLS: &str = "dockerd-tls";
/// The real engine's dockgate again, reached as the client confined to a
/// tenant.
pub const DOCKGATE_TENANT: &str = "dockgate-tenant";
/// The real engine's dockgate again, reached as a client in audit mode
/// with the same policy.
pub const DOCKGATE_AUDIT: &str = "dockgate-audit";
/// The real engine's dockgate on a client's own unix socket (`socket`).
pub const DOCKGATE_SOCKET: &str = "dockgate-socket";
/// The real engine's dockgate on its shared unix socket (`local_listen`),
/// where the peer's uid names the client.
pub const DOCKGATE_SHARED: &str = "dockgate-shared";

/// One thing to measure: `NAME,ENGINE,unix:PATH|tls:ADDR,PID[+PID...][,CLIENT]`.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub engine: Engine,
    pub address: Address,
    /// The serving processes whose CPU and memory are charged to this target.
    pub pids: Vec<u32>,
    /// The client whose certificate is presented (a `--client` name); none:
    /// the bench client.
    pub client: Option<String>,
}

impl Target {
    pub fn parse(spec: &str) -> Result<Target, String> {
        let parts: Vec<&str> = spec.splitn(5, ',').collect();
        let (name, engine, address, pids, client) = match parts[..] {
            [n, e, a, p] => (n, e, a, p, None),
            [n, e, a, p, c] => (n, e, a, p, Some(c.to_owned())),
            _ => {
                return Err(format!(
                    "target {spec:?}: want NAME,ENGINE,unix:PATH|tls:ADDR,PID[+PID][,CLIENT]"
                ))
            }
        };
        let engine = match engine {
            "fake" => Engine::Fake,
            "real" => Engine::Real,
            other => {
                return Err(format!(
                    "target {spec:?}: engine {other:?} is neither fake nor real"
                ))
            }
        };
        let address = if let Some(path) = address.strip_prefix("unix:") {
            Address::Unix(path.into())
        } else if let Some(addr) = address.strip_prefix("tls:") {
            Address::Tls(addr.parse().map_err(|e| format!("target {spec:?}: {e}"))?)
        } else {
            return Err(format!(
                "target {spec:?}: address must start with unix: or tls:"
            ));
        };
        let pids = pids
            .split('+')
            .map(|p| {
                p.parse()
                    .map_err(|e| format!("target {spec:?}: pid {p:?}: {e}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Target {
            name: name.to_owned(),
            engine,
            address,
            pids,
            client,
        })
    }
}

/// A byte stream hyper can drive: a unix socket or a TLS session.
pub enum Stream {
    Unix(UnixStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// A client certificate a target may present instead of the bench
/// client's: `NAME,CERT,KEY`.
pub struct Identity {
    pub name: String,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Identity {
    pub fn parse(spec: &str) -> Result<Identity, String> {
        let parts: Vec<&str> = spec.splitn(3, ',').collect();
        let [name, cert, key] = parts[..] else {
            return Err(format!("client {spec:?}: want NAME,CERT,KEY"));
        };
        Ok(Identity {
            name: name.to_owned(),
            cert: cert.into(),
            key: key.into(),
        })
    }
}

/// Opens connections to targets.
#[derive(Clone)]
pub struct Dialer {
    /// The bench client's.
    tls: TlsConnector,
    /// The other clients', by name.
    others: Arc<HashMap<String, TlsConnector>>,
}

impl Dialer {
    pub fn new(ca: &Path, cert: &Path, key: &Path, others: &[Identity]) -> Result<Dialer, String> {
        let mut roots = RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(ca).map_err(|e| format!("{}: {e}", ca.display()))? {
            roots
                .add(c.map_err(|e| format!("{}: {e}", ca.display()))?)
                .map_err(|e| format!("{}: {e}", ca.display()))?;
        }
        let roots = Arc::new(roots);
        let others = others
            .iter()
            .map(|o| Ok((o.name.clone(), connector(&roots, &o.cert, &o.key)?)))
            .collect::<Result<_, String>>()?;
        Ok(Dialer {
            tls: connector(&roots, cert, key)?,
            others: Arc::new(others),
        })
    }

    /// Fails if `target` names a client this dialer was not given.
    pub fn check(&self, target: &Target) -> Result<(), String> {
        match &target.client {
            Some(c) if !self.others.contains_key(c) => {
                Err(format!("target {}: no --client named {c:?}", target.name))
            }
            _ => Ok(()),
        }
    }

    /// A connected (and for TLS, fully handshaken) stream.
    pub async fn stream(&self, target: &Target) -> io::Result<Stream> {
        match &target.address {
            Address::Unix(path) => Ok(Stream::Unix(UnixStream::connect(path).await?)),
            Address::Tls(addr) => {
                let tls = match &target.client {
                    None => &self.tls,
                    Some(c) => self.others.get(c).ok_or_else(|| {
                        io::Error::new(io::ErrorKind::NotFound, format!("no client {c:?}"))
                    })?,
                };
                let tcp = TcpStream::connect(addr).await?;
                tcp.set_nodelay(true)?;
                let name = ServerName::IpAddress(addr.ip().into());
                Ok(Stream::Tls(Box::new(tls.connect(name, tcp).await?)))
            }
        }
    }

    /// An HTTP/1.1 connection whose driver runs as its own task.
    pub async fn http(&self, target: &Target) -> Result<SendRequest<BenchBody>, String> {
        let stream = self
            .stream(target)
            .await
            .map_err(|e| format!("{}: connect: {e}", target.name))?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("{}: {e}", target.name))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// Protocol, cipher suite and key exchange a target negotiates.
    pub async fn describe(&self, target: &Target) -> String {
        match self.stream(target).await {
            Ok(Stream::Unix(_)) => "unix socket, no TLS".into(),
            Ok(Stream::Tls(tls)) => {
                let conn = tls.get_ref().1;
                format!(
                    "{:?}, {:?}, {:?}",
                    conn.protocol_version()
                        .map_or_else(|| "?".into(), |v| format!("{v:?}")),
                    conn.negotiated_cipher_suite()
                        .map_or_else(|| "?".into(), |s| format!("{:?}", s.suite())),
                    conn.negotiated_key_exchange_group()
                        .map_or_else(|| "?".into(), |g| format!("{:?}", g.name())),
                )
                .replace('"', "")
            }
            Err(e) => format!("cannot connect: {e}"),
        }
    }
}

/// The client configuration every TLS target gets, with one client certificate.
fn connector(roots: &Arc<RootCertStore>, cert: &Path, key: &Path) -> Result<TlsConnector, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(Arc::clone(roots))
        .with_client_auth_cert(chain, key)
        .map_err(|e| e.to_string())?;
    config.resumption = Resumption::disabled();
    Ok(TlsConnector::from(Arc::new(config)))
}
