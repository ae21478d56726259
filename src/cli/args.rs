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
        #[arg(
            long,
            required_unless_present = "from_log",
            conflicts_with = "from_log"
        )]
        client: Option<String>,
        /// The request body to judge, for endpoints whose bodies are inspected.
        #[arg(long)]
        body: Option<PathBuf>,
        /// An audit line (text or JSON) whose request to judge as if it
        /// arrived again; with --line, a log file (gzip too) to take it from.
        #[arg(long, value_name = "LINE|FILE")]
        from_log: Option<String>,
        /// With --from-log FILE: the line's number, from 1.
        #[arg(long, requires = "from_log")]
        line: Option<usize>,
        /// GET, POST, ...
        #[arg(required_unless_present = "from_log", conflicts_with = "from_log")]
        method: Option<String>,
        /// The request target, e.g. /v1.41/containers/create
        #[arg(required_unless_present = "from_log", conflicts_with = "from_log")]
        path: Option<String>,
    },
    /// Policies learned from audit logs, and checked against them.
    #[command(subcommand)]
    Policy(PolicyCommand),
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

#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Print, for each client in the logs, the narrowest policy that allows
    /// everything it did (allow and would_deny lines).
    Learn {
        /// Audit logs: text or JSON lines, rotated files, gzip-compressed or not.
        #[arg(long, required = true, num_args = 1..)]
        log: Vec<PathBuf>,
        /// Only this client (its `[clients.NAME]` key).
        #[arg(long)]
        client: Option<String>,
    },
    /// Show, per client, which logged requests a configuration would refuse, and why.
    Diff {
        #[arg(long, short, default_value = "/etc/dockgate/dockgate.toml")]
        config: PathBuf,
        #[arg(long, required = true, num_args = 1..)]
        log: Vec<PathBuf>,
        #[arg(long)]
        client: Option<String>,
    },
}
