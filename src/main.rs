//! The `dockgate` command: parses arguments and hands each subcommand to
//! the library. Exit status 0 on success, 1 on failure, 64 for a
//! configuration that does not validate.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "dockgate", version, about = "A mutual-TLS gateway for the Docker Engine API")]
enum Cli {
    /// Serve the gateway.
    Serve {
        /// The configuration file.
        #[arg(long, short, default_value = "/etc/dockgate/dockgate.toml")]
        config: PathBuf,
    },
    /// Create and manage the CA, server and client certificates.
    #[command(subcommand)]
    Pki(dockgate::pki::PkiCommand),
}

/// sysexits' EX_CONFIG-adjacent EX_USAGE: what linkerd and others exit with
/// for a configuration that does not validate.
const EXIT_BAD_CONFIG: u8 = 64;

fn main() -> ExitCode {
    match Cli::parse() {
        Cli::Serve { config } => serve(config),
        Cli::Pki(cmd) => match dockgate::pki::run(cmd) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("dockgate pki: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn serve(config: PathBuf) -> ExitCode {
    let runtime = tokio::runtime::Runtime::new().expect("cannot start the tokio runtime");
    runtime.block_on(async {
        let daemon = match dockgate::daemon::Daemon::bind(&config).await {
            Ok(daemon) => daemon,
            Err(e) => {
                eprintln!("dockgate: {e}");
                return match e {
                    dockgate::daemon::StartError::Load(_) => ExitCode::from(EXIT_BAD_CONFIG),
                    _ => ExitCode::FAILURE,
                };
            }
        };
        dockgate::logging::init(&daemon.control().current().config.log);
        let control = daemon.control();
        tokio::spawn(async move {
            if let Err(e) = dockgate::daemon::handle_signals(control).await {
                tracing::error!(error = %e, "cannot install signal handlers");
            }
        });
        daemon.run().await;
        ExitCode::SUCCESS
    })
}
