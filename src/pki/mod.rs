//! `dockgate pki`: creates and manages the certificate authority, the server
//! certificate and the client certificates the gateway trusts.
//!
//! Everything lives in one directory (`--dir`, default `certs`):
//!
//! ```text
//! ca.pem  ca-key.pem            the CA (key 0600)
//! crl.pem                       revoked serials, signed by the CA
//! index.toml                    every certificate issued, and the CRL counter
//! server-cert.pem server-key.pem
//! clients/NAME/{ca,cert,key}.pem   one DOCKER_CERT_PATH per client (dir 0700)
//! pki.lock                      empty; the commands take turns on it (0600)
//! ```
//!
//! Keys are ECDSA P-256. Default lifetimes: CA 3650 days (replacing it means
//! redistributing it everywhere), server 825 days (the most Apple platforms
//! accept for a TLS server), clients 365 days (a leaked key dies within a
//! year; revocation covers the time before). A leaf never outlives the CA.
//!
//! # Layout
//! - [`names`]: client-name and SAN checks (also used by the gateway config).
//! - `cert`: keys, serials, validity windows, fingerprints.
//! - `files`: the directory layout and atomic, all-or-nothing writes.
//! - `lock`: the lock every command holds, so commands on one folder run
//!   one at a time and none loses another's entry.
//! - `index`: `index.toml`.
//! - `ca`: the loaded CA that signs.
//! - `init`: creating the CA.
//! - `leaf`: `server` and `client`.
//! - `renew`, `crl` (revoke), `inspect`, `list`, `quickstart`.
//! - `bundle`: a client's files as one `docker context import` file,
//!   written with `ustar`.
//! - `verify`: the check every new certificate passes against the CA.
//! - `report`: what the commands print.

mod bundle;
mod ca;
mod cert;
mod crl;
mod error;
mod files;
mod index;
mod init;
mod inspect;
mod leaf;
mod list;
mod lock;
pub mod names;
mod quickstart;
mod renew;
mod report;
mod ustar;
mod verify;

use std::path::PathBuf;

use clap::Subcommand;

pub use bundle::{bundle, check_context_name, BundleReport};
pub use cert::{DEFAULT_CA_DAYS, DEFAULT_CLIENT_DAYS, DEFAULT_SERVER_DAYS};
pub use crl::{refresh_crl, revoke, RevokeReport, CRL_DAYS};
pub use error::PkiError;
pub use index::Kind;
pub use init::{init_ca, InitReport};
pub use inspect::inspect;
pub use leaf::{issue_client, issue_server, IssueReport};
pub use list::list;
pub use lock::LOCK_WAIT;
pub use names::check_client_name;
pub use quickstart::{quickstart_pki, QuickstartReport};
pub use renew::renew;

/// The `dockgate pki` subcommands.
#[derive(Debug, Subcommand)]
pub enum PkiCommand {
    /// Create the CA (ca.pem, ca-key.pem) and an empty CRL (crl.pem).
    ///
    /// The CA is CA:TRUE with pathlen 0 and may only sign certificates and
    /// CRLs. Default lifetime 3650 days: replacing the CA means handing the
    /// new ca.pem to every client.
    Init {
        /// Directory for the PKI.
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
        /// The CA's common name.
        #[arg(long, default_value = "dockgate CA")]
        name: String,
        /// Lifetime in days.
        #[arg(long, default_value_t = DEFAULT_CA_DAYS)]
        days: u32,
        /// Replace an existing CA (every certificate it issued stops verifying).
        #[arg(long)]
        force: bool,
    },
    /// Issue the gateway's server certificate (server-cert.pem, server-key.pem).
    ///
    /// Clients check the SANs, not the common name, so give every name and
    /// address clients will connect to. Default lifetime 825 days, the most
    /// Apple platforms accept for a TLS server certificate.
    Server {
        /// Directory for the PKI.
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
        /// A subject alternative name: DNS:host or IP:address (repeatable, at least one).
        #[arg(long = "san", value_name = "DNS:host|IP:addr")]
        sans: Vec<String>,
        /// Lifetime in days (clamped to the CA's).
        #[arg(long, default_value_t = DEFAULT_SERVER_DAYS)]
        days: u32,
        /// Replace an existing server certificate and key.
        #[arg(long)]
        force: bool,
    },
    /// Issue a client certificate into clients/NAME (ca.pem, cert.pem, key.pem).
    ///
    /// The directory is what DOCKER_CERT_PATH and `docker context create`
    /// expect. NAME is the certificate's common name, which the gateway's
    /// policy matches: 1-64 of A-Z a-z 0-9 . _ - not starting with . or -.
    /// Default lifetime 365 days: a leaked key is only useful until expiry,
    /// and revocation covers the time before.
    Client {
        /// The client's name.
        name: String,
        /// Directory for the PKI.
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
        /// Lifetime in days (clamped to the CA's).
        #[arg(long, default_value_t = DEFAULT_CLIENT_DAYS)]
        days: u32,
        /// The gateway host for the printed docker commands (default: the
        /// server certificate's first DNS SAN, else this machine's name).
        #[arg(long)]
        host: Option<String>,
        /// Replace an existing certificate and key for NAME.
        #[arg(long)]
        force: bool,
    },
    /// Write a client's key, certificate and CA with the gateway's address
    /// as one file that `docker context import` takes.
    ///
    /// After `docker context import CONTEXT FILE`, `docker --context CONTEXT`
    /// reaches the gateway as NAME with no other step. The file holds the
    /// client's key: it is written 0600; hand it over as you would the key.
    Bundle {
        /// The client's name.
        name: String,
        /// Directory for the PKI.
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
        /// The gateway's address as the client reaches it, a name or
        /// address the server certificate's SANs include.
        #[arg(long, value_name = "tcp://HOST:PORT")]
        host: String,
        /// The file to write (default: CONTEXT.dockercontext, the name
        /// `docker context export` gives).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// The context's name (default: NAME); docker context names match
        /// ^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$.
        #[arg(long)]
        context: Option<String>,
        /// Replace an existing FILE.
        #[arg(long)]
        force: bool,
    },
    /// List every certificate issued, with expiry and status.
    List {
        /// Directory for the PKI.
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
    },
    /// Show what a certificate file contains.
    Inspect {
        /// A PEM certificate.
        file: PathBuf,
    },
    /// Revoke a certificate and write a new crl.pem.
    ///
    /// A name revokes that name's newest certificate that is not yet revoked;
    /// a hex serial (as `list` shows it) revokes exactly that one.
    Revoke {
        /// A client name, `server`, or a serial in hex.
        #[arg(value_name = "NAME|SERIAL")]
        target: String,
        /// Directory for the PKI.
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
    },
    /// Issue a new key and certificate for NAME (or `server`), same SANs.
    ///
    /// The new files replace the old ones in place; the old certificate is
    /// kept as cert.<serial>.pem (server-cert.<serial>.pem) and stays valid
    /// until it expires or is revoked.
    Renew {
        /// A client name or `server`.
        name: String,
        /// Directory for the PKI.
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
        /// Lifetime in days (default: 825 for the server, 365 for clients).
        #[arg(long)]
        days: Option<u32>,
    },
    /// Re-sign crl.pem with the next CRL number and a new year of validity.
    ///
    /// Verifiers that enforce nextUpdate reject a CRL older than a year;
    /// run this at least yearly (revoking also refreshes it).
    Crl {
        /// Directory for the PKI.
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
    },
}

/// Runs one `pki` subcommand, printing its report to stdout.
pub fn run(cmd: PkiCommand) -> Result<(), PkiError> {
    match cmd {
        PkiCommand::Init {
            dir,
            name,
            days,
            force,
        } => report::init(&init_ca(&dir, &name, days, force)?),
        PkiCommand::Server {
            dir,
            sans,
            days,
            force,
        } => report::issued(&issue_server(&dir, &sans, days, force)?),
        PkiCommand::Client {
            name,
            dir,
            days,
            host,
            force,
        } => {
            let issued = issue_client(&dir, &name, days, force)?;
            report::issued(&issued);
            report::docker_usage(&dir, &issued, host.as_deref())?;
        }
        PkiCommand::Bundle {
            name,
            dir,
            host,
            out,
            context,
            force,
        } => report::bundled(&bundle(
            &dir,
            &name,
            context.as_deref(),
            &host,
            out.as_deref(),
            force,
        )?),
        PkiCommand::List { dir } => print!("{}", list(&dir)?),
        PkiCommand::Inspect { file } => print!("{}", inspect(&file)?),
        PkiCommand::Revoke { target, dir } => report::revoked(&revoke(&dir, &target)?),
        PkiCommand::Renew { name, dir, days } => report::issued(&renew(&dir, &name, days)?),
        PkiCommand::Crl { dir } => {
            let number = refresh_crl(&dir)?;
            println!(
                "wrote {} (CRL number {number})",
                dir.join("crl.pem").display()
            );
        }
    }
    Ok(())
}
