//! The `dockgate` command line: every command and its arguments, as clap
//! parses them. `main` matches on [`Cli`] and calls the library.

use std::path::PathBuf;

use clap::Parser;

use crate::cli::pki::PkiCommand;
use crate::cli::preset::PresetCommand;

#[derive(Debug, Parser)]
#[command(
    name = "dockgate",
    version,
    about = "A mutual-TLS gateway for the Docker Engine API"
)]
pub enum Cli {
    /// Serve the gateway.
    Serve {
        /// The configuration file.
        #[arg(long, short, default_value = "/etc/dockgate/dockgate.toml")]
        config: PathBuf,
    },
    /// Validate a configuration and everything it names, without serving.
    Check {
        #[arg(long, short, default_value = "/etc/dockgate/dockgate.toml")]
        config: PathBuf,
    },
    /// Show how the gateway would judge one request.
    Explain {
        #[arg(long, short, default_value = "/etc/dockgate/dockgate.toml")]
        config: PathBuf,
        /// The client sending the request: its `[clients.NAME]` key.
        #[arg(long)]
        client: String,
        /// The request body to judge, for endpoints whose bodies are inspected.
        #[arg(long)]
        body: Option<PathBuf>,
        /// GET, POST, ...
        method: String,
        /// The request target, e.g. /v1.41/containers/create
        path: String,
    },
    /// Create certificates if missing and serve the example configuration.
    Quickstart {
        /// The folder holding certs/ and config/ (created if missing).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Create and manage the CA, server and client certificates.
    #[command(subcommand)]
    Pki(PkiCommand),
    /// List the shipped policy presets, or show one.
    #[command(subcommand)]
    Preset(PresetCommand),
}
