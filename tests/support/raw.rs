//! A byte-level TLS client: sends exactly the bytes a test writes and
//! returns what came back, for request shapes no well-behaved client sends.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::Pki;

/// A client TLS config trusting the PKI's CA, presenting `client`'s
/// certificate (or none).
pub fn client_config(pki: &Pki, client: Option<&str>) -> Arc<ClientConfig> {
    client_config_with(
        pki,
        client.map(|c| {
            (
                pki.client_dir(c).join("cert.pem"),
                pki.client_dir(c).join("key.pem"),
            )
        }),
    )
}

/// Like [`client_config`], with an explicit certificate and key file.
pub fn client_config_with(
    pki: &Pki,
    identity: Option<(std::path::PathBuf, std::path::PathBuf)>,
) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(pki.path().join("ca.pem")).unwrap() {
        roots.add(ca.unwrap()).unwrap();
    }
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match identity {
        Some((cert, key)) => {
            let chain: Vec<_> = CertificateDer::pem_file_iter(cert)
                .unwrap()
                .map(Result::unwrap)
                .collect();
            builder
                .with_client_auth_cert(chain, PrivateKeyDer::from_pem_file(key).unwrap())
                .unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

pub struct Conn {
    pub tls: StreamOwned<ClientConnection, TcpStream>,
}

impl Conn {
    pub fn open(addr: SocketAddr, config: Arc<ClientConfig>) -> std::io::Result<Conn> {
        let tcp = TcpStream::connect(addr)?;
        tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
        let name = ServerName::try_from("localhost").unwrap();
        let conn = ClientConnection::new(config, name).map_err(std::io::Error::other)?;
        let mut tls = StreamOwned::new(conn, tcp);
        // Complete the handshake now so failures surface here.
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock)?;
        }
        Ok(Conn { tls })
    }

    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.tls.write_all(bytes)?;
        self.tls.flush()
    }

    /// Reads until the server closes (or the read timeout passes).
    pub fn read_to_close(&mut self) -> String {
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match self.tls.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Whether the connection is still open: a short read gets data or
    /// times out, rather than an EOF or an error.
    pub fn still_open(&mut self) -> bool {
        self.tls
            .sock
            .set_read_timeout(Some(std::time::Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 256];
        match self.tls.read(&mut buf) {
            Ok(0) => false,
            Ok(_) => true,
            Err(e) => matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        }
    }

    /// Whether the server closes the connection (EOF or an error) before
    /// the read timeout; whatever else arrives meanwhile is skipped.
    pub fn closed_by_server(&mut self) -> bool {
        let mut buf = [0u8; 512];
        loop {
            match self.tls.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) => {
                    return !matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    )
                }
            }
        }
    }

    /// Reads one HTTP/1.1 response with a Content-Length body.
    pub fn read_response(&mut self) -> String {
        let mut out = Vec::new();
        let mut buf = [0u8; 1];
        while !out.ends_with(b"\r\n\r\n") {
            match self.tls.read(&mut buf) {
                Ok(0) | Err(_) => return String::from_utf8_lossy(&out).into_owned(),
                Ok(_) => out.push(buf[0]),
            }
        }
        let head = String::from_utf8_lossy(&out).into_owned();
        let length = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
            })
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        let _ = self.tls.read_exact(&mut body);
        head + &String::from_utf8_lossy(&body)
    }
}

/// Sends `request` on a new connection as `client` and returns everything
/// the gateway answered before closing.
pub fn exchange(addr: SocketAddr, pki: &Pki, client: &str, request: &[u8]) -> String {
    let mut conn = Conn::open(addr, client_config(pki, Some(client))).expect("TLS connection");
    conn.send(request).expect("send");
    conn.read_to_close()
}

/// Whether the gateway refuses a client at the TLS layer. With TLS 1.3 the
/// client's side of the handshake completes before the server has judged
/// its certificate, so a refusal shows as an alert on the first read: the
/// client never receives an HTTP response.
pub fn refused_at_handshake(addr: SocketAddr, config: Arc<ClientConfig>) -> bool {
    let Ok(mut conn) = Conn::open(addr, config) else {
        return true;
    };
    if conn
        .send(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .is_err()
    {
        return true;
    }
    let mut buf = [0u8; 64];
    match conn.tls.read(&mut buf) {
        Ok(n) => n == 0,
        Err(_) => true,
    }
}

/// The status code of the first response in `response`.
pub fn status(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}
