//! `dockgate pki`: creates and manages the certificate authority, the server
//! certificate and the client certificates the gateway trusts.
//!
//! Everything lives in one directory (`--dir`, default `certs`):
//!
//! ```text
//! ca.pem  ca-key.pem            the CA (key 0600); with --intermediate,
//!                               ca.pem is the intermediate then the root
//! root-ca.pem root-ca-key.pem   the root (--intermediate only; move its key offline)
//! root-crl.pem                  the root's empty CRL (--intermediate only)
//! crl.pem                       revoked serials, signed by the CA (then the root's CRL)
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
//! - `init`: creating the CA (alone, or an intermediate under a root).
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
pub mod report;
mod ustar;
mod verify;

pub use bundle::{bundle, check_context_name, BundleReport};
pub use cert::{DEFAULT_CA_DAYS, DEFAULT_CLIENT_DAYS, DEFAULT_SERVER_DAYS};
pub use crl::{refresh_crl, revoke, RevokeReport, CRL_DAYS};
pub use error::PkiError;
pub use index::Kind;
pub use init::{init_ca, init_pki, InitReport, RootReport, Shape};
pub use inspect::inspect;
pub use leaf::{issue_client, issue_client_with_sans, issue_server, IssueReport};
pub use list::{expiring, list, Expiring, Window};
pub use lock::LOCK_WAIT;
pub use names::check_client_name;
pub use quickstart::{quickstart_pki, QuickstartReport};
pub use renew::renew;
