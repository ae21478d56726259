//! `dockgate pki`: creates and manages the certificate authority, the server
//! certificate and the client certificates the gateway trusts.

use clap::Subcommand;

/// The `dockgate pki` subcommands.
#[derive(Debug, Subcommand)]
pub enum PkiCommand {}

/// Why a `pki` command failed.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {}

/// Runs one `pki` subcommand, printing its report to stdout.
pub fn run(cmd: PkiCommand) -> Result<(), PkiError> {
    match cmd {}
}
