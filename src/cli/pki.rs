//! `dockgate pki`'s subcommands and their arguments: each calls one
//! function of [`crate::pki`] and prints its report.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::pki::{self, PkiError, DEFAULT_CA_DAYS, DEFAULT_CLIENT_DAYS, DEFAULT_SERVER_DAYS};

/// The `dockgate pki` subcommands.
#[derive(Debug, Subcommand)]
pub enum PkiCommand {
    /// Create the CA (ca.pem, ca-key.pem) and an empty CRL (crl.pem).
    ///
    /// The CA is CA:TRUE with pathlen 0 and may only sign certificates and
    /// CRLs. Default lifetime 3650 days: replacing the CA means handing the
    /// new ca.pem to every client.
    ///
    /// With --intermediate, a root CA (root-ca.pem, root-ca-key.pem) signs
    /// the CA, and every later command signs with the CA alone: move
    /// root-ca-key.pem offline. ca.pem then holds the CA and the root (what
    /// `[tls] ca` and clients need), crl.pem both CAs' CRLs.
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
        /// Make a root CA ("NAME root") and the CA as an intermediate under it.
        #[arg(long)]
        intermediate: bool,
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
        /// A subject alternative name the gateway may know the client by
        /// instead of NAME (`[clients.X] san`): URI:spiffe://... or
        /// DNS:name (repeatable). The CN stays NAME.
        #[arg(long = "san", value_name = "URI:uri|DNS:name")]
        sans: Vec<String>,
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
        /// `^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$`.
        #[arg(long)]
        context: Option<String>,
        /// Replace an existing FILE.
        #[arg(long)]
        force: bool,
    },
    /// List every certificate issued, with expiry and status.
    ///
    /// With --expiring, list only the certificates in force (each name's
    /// newest that is not revoked: the CA, the server, each client) that
    /// end within the window or have ended, and exit 3 if there are any,
    /// 0 (printing nothing) if not: a cron job mails only when it matters.
    List {
        /// Directory for the PKI.
        #[arg(long, default_value = "certs")]
        dir: PathBuf,
        /// Only certificates that end within this window from now: 30d, 12h.
        #[arg(long, value_name = "Nd|Nh")]
        expiring: Option<pki::Window>,
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
    /// kept as `cert.<serial>.pem` (`server-cert.<serial>.pem`) and stays valid
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

/// The exit status of `pki list --expiring` when a certificate ends within
/// the window: apart from 1 (the command failed) and 2 (bad arguments), so
/// a cron job tells "renew something" from "the check itself broke".
pub const EXIT_EXPIRING: u8 = 3;

/// Runs one `pki` subcommand, printing its report to stdout; the exit
/// status is success unless `list --expiring` found something.
pub fn run(cmd: PkiCommand) -> Result<ExitCode, PkiError> {
    match cmd {
        PkiCommand::Init {
            dir,
            name,
            days,
            force,
            intermediate,
        } => {
            let shape = if intermediate {
                pki::Shape::Intermediate
            } else {
                pki::Shape::Single
            };
            pki::report::init(&pki::init_pki(&dir, &name, days, force, shape)?)
        }
        PkiCommand::Server {
            dir,
            sans,
            days,
            force,
        } => pki::report::issued(&pki::issue_server(&dir, &sans, days, force)?),
        PkiCommand::Client {
            name,
            dir,
            sans,
            days,
            host,
            force,
        } => {
            let issued = pki::issue_client_with_sans(&dir, &name, &sans, days, force)?;
            pki::report::issued(&issued);
            pki::report::docker_usage(&dir, &issued, host.as_deref())?;
        }
        PkiCommand::Bundle {
            name,
            dir,
            host,
            out,
            context,
            force,
        } => pki::report::bundled(&pki::bundle(
            &dir,
            &name,
            context.as_deref(),
            &host,
            out.as_deref(),
            force,
        )?),
        PkiCommand::List {
            dir,
            expiring: None,
        } => print!("{}", pki::list(&dir)?),
        PkiCommand::List {
            dir,
            expiring: Some(window),
        } => {
            let found = pki::expiring(&dir, window)?;
            if found.count > 0 {
                println!(
                    "{} certificate(s) in force end within {window} or have ended:",
                    found.count
                );
                print!("{}", found.table);
                return Ok(ExitCode::from(EXIT_EXPIRING));
            }
        }
        PkiCommand::Inspect { file } => print!("{}", pki::inspect(&file)?),
        PkiCommand::Revoke { target, dir } => pki::report::revoked(&pki::revoke(&dir, &target)?),
        PkiCommand::Renew { name, dir, days } => {
            pki::report::issued(&pki::renew(&dir, &name, days)?)
        }
        PkiCommand::Crl { dir } => {
            let number = pki::refresh_crl(&dir)?;
            println!(
                "wrote {} (CRL number {number})",
                dir.join("crl.pem").display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
