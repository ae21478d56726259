//! `loadgen tls-relay`: the least any mutual-TLS gateway in front of the
//! Engine's socket can do. It terminates TLS with the same rustls
//! configuration dockgate uses (client certificate required, ring, the
//! default suites), opens one unix connection per client connection and
//! copies bytes both ways: no HTTP, no policy, no audit.
//!
//! Measured beside dockgate, it shows the floor on this machine: what the
//! TLS records, the extra hop and the wake-ups cost before a gateway does
//! any work of its own.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::{TcpListener, UnixStream};
use tokio_rustls::TlsAcceptor;

pub struct RelayArgs {
    pub listen: SocketAddr,
    pub socket: PathBuf,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub async fn run(args: RelayArgs) -> Result<(), String> {
    let acceptor = TlsAcceptor::from(Arc::new(server_config(&args.ca, &args.cert, &args.key)?));
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("{}: {e}", args.listen))?;
    let socket: Arc<Path> = args.socket.into();
    loop {
        let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let socket = Arc::clone(&socket);
        tokio::spawn(async move {
            let Ok(mut tls) = acceptor.accept(tcp).await else {
                return;
            };
            let Ok(mut engine) = UnixStream::connect(&*socket).await else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut tls, &mut engine).await;
        });
    }
}

fn server_config(ca: &Path, cert: &Path, key: &Path) -> Result<ServerConfig, String> {
    let shown = |p: &Path, e: &dyn std::fmt::Display| format!("{}: {e}", p.display());
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).map_err(|e| shown(ca, &e))? {
        roots
            .add(c.map_err(|e| shown(ca, &e))?)
            .map_err(|e| shown(ca, &e))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
            .build()
            .map_err(|e| shown(ca, &e))?;
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| shown(cert, &e))?;
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| shown(key, &e))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key_der)
        .map_err(|e| e.to_string())?;
    // As dockgate sets them: no resumption, the server's suite order.
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    config.ignore_client_order = true;
    Ok(config)
}
