use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "dockgate", version, about)]
enum Cli {
    /// Create and manage the CA, server and client certificates.
    #[command(subcommand)]
    Pki(dockgate::pki::PkiCommand),
}

fn main() -> std::process::ExitCode {
    match Cli::parse() {
        Cli::Pki(cmd) => match dockgate::pki::run(cmd) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("dockgate pki: {e}");
                std::process::ExitCode::FAILURE
            }
        },
    }
}
