//! `quickstart_pki`: everything a first run needs in one call (used by
//! `dockgate quickstart`): a CA, a server certificate for the host name plus
//! `localhost` and 127.0.0.1, and the clients `admin` and `viewer`. Each
//! piece that already exists is left alone, so running it twice is harmless.

use std::fmt;
use std::path::{Path, PathBuf};

use super::cert::{DEFAULT_CA_DAYS, DEFAULT_CLIENT_DAYS, DEFAULT_SERVER_DAYS};
use super::init::{init_locked, InitReport, Shape};
use super::leaf::{client_locked, server_locked, IssueReport};
use super::lock::{self, PkiLock};
use super::names::San;
use super::PkiError;

/// The CA name quickstart uses.
pub const QUICKSTART_CA_NAME: &str = "dockgate CA";
/// The clients quickstart creates.
pub const QUICKSTART_CLIENTS: [&str; 2] = ["admin", "viewer"];

/// What `quickstart_pki` created and what it found already there.
#[derive(Debug, Clone, Default)]
pub struct QuickstartReport {
    /// The CA, if it was created now.
    pub ca: Option<InitReport>,
    /// The server certificate, if it was created now.
    pub server: Option<IssueReport>,
    /// The clients created now.
    pub clients: Vec<IssueReport>,
    /// Files that already existed and were kept.
    pub kept: Vec<PathBuf>,
}

/// Creates whatever is missing of the quickstart PKI in `dir` for `hostname`,
/// holding the folder's lock throughout so that what it finds missing is
/// still missing when it writes.
pub fn quickstart_pki(dir: &Path, hostname: &str) -> Result<QuickstartReport, PkiError> {
    let host = San::for_host(hostname)?;
    lock::in_new_dir(dir, |lock| quickstart_locked(lock, host))
}

fn quickstart_locked(lock: &PkiLock, host: San) -> Result<QuickstartReport, PkiError> {
    let layout = lock.layout();
    let mut report = QuickstartReport::default();

    if layout.ca_cert().exists() {
        report.kept.push(layout.ca_cert());
    } else {
        report.ca = Some(init_locked(
            lock,
            QUICKSTART_CA_NAME,
            DEFAULT_CA_DAYS,
            false,
            Shape::Single,
        )?);
    }

    if layout.server_cert().exists() {
        report.kept.push(layout.server_cert());
    } else {
        let mut sans = vec![host];
        for extra in [San::Dns("localhost".into()), San::Ip([127, 0, 0, 1].into())] {
            if !sans.contains(&extra) {
                sans.push(extra);
            }
        }
        report.server = Some(server_locked(lock, &sans, DEFAULT_SERVER_DAYS, false)?);
    }

    for name in QUICKSTART_CLIENTS {
        let cert = layout.client_cert(name);
        if cert.exists() {
            report.kept.push(cert);
        } else {
            report
                .clients
                .push(client_locked(lock, name, &[], DEFAULT_CLIENT_DAYS, false)?);
        }
    }
    Ok(report)
}

impl fmt::Display for QuickstartReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(ca) = &self.ca {
            writeln!(f, "created CA {}", ca.ca_cert.display())?;
        }
        if let Some(server) = &self.server {
            writeln!(
                f,
                "created server certificate {} for {}",
                server.cert.display(),
                server.sans.join(", ")
            )?;
        }
        for client in &self.clients {
            writeln!(
                f,
                "created client {} in {}",
                client.name,
                client.cert.parent().unwrap_or(Path::new(".")).display()
            )?;
        }
        for kept in &self.kept {
            writeln!(f, "kept existing {}", kept.display())?;
        }
        Ok(())
    }
}
