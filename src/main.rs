//! The `dockgate` command: parses arguments and hands each subcommand to
//! the library. Exit status: 0 success (for `explain`: allowed), 1 failure
//! (for `explain`: denied; for `policy diff`: some logged request refused
//! or not judged), 2 bad arguments, 3 for `pki list --expiring` when a
//! certificate ends within the window, 64 for a configuration that does
//! not validate (or a socket path held by something not a socket).

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use dockgate::cli::args::{Cli, PolicyCommand};
use dockgate::run::daemon::{self, Daemon, HeldSignals, StartError};
use dockgate::run::sockets::SocketError;

/// EX_USAGE from sysexits.h: the configuration does not validate.
const EXIT_BAD_CONFIG: u8 = 64;

fn main() -> ExitCode {
    // First, before any thread exists: a SIGHUP, SIGTERM or SIGINT from
    // now on waits for its handler instead of ending the process.
    let held = HeldSignals::now();
    match Cli::parse() {
        Cli::Serve { config } => runtime().block_on(async {
            let Some(signals) = take_signals(held) else {
                return ExitCode::FAILURE;
            };
            match Daemon::bind(&config).await {
                Ok(daemon) => serve(daemon, signals).await,
                Err(e) => start_failed(&e),
            }
        }),
        Cli::Quickstart { dir } => runtime().block_on(async {
            let Some(signals) = take_signals(held) else {
                return ExitCode::FAILURE;
            };
            match dockgate::cli::quickstart::prepare(&dir).await {
                Ok(daemon) => serve(daemon, signals).await,
                Err(dockgate::cli::quickstart::QuickstartError::Start(e)) => start_failed(&e),
                Err(e) => {
                    eprintln!("dockgate quickstart: {e}");
                    ExitCode::FAILURE
                }
            }
        }),
        // Commands that do not serve get the signals' usual meaning back.
        Cli::Check { config } => {
            drop(held);
            let report =
                runtime().block_on(dockgate::cli::check::check(&config, Duration::from_secs(5)));
            println!("{report}");
            if report.has_errors() {
                ExitCode::from(EXIT_BAD_CONFIG)
            } else {
                ExitCode::SUCCESS
            }
        }
        Cli::Explain {
            config,
            client,
            body,
            from_log,
            line,
            method,
            path,
        } => {
            drop(held);
            let config = match load(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let body = match body.map(std::fs::read).transpose() {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("dockgate explain: cannot read the body: {e}");
                    return ExitCode::FAILURE;
                }
            };
            if let Some(from_log) = from_log {
                return explain_logged(&config, &from_log, line, body.as_deref());
            }
            let (client, method, path) = (
                client.unwrap_or_default(),
                method.unwrap_or_default(),
                path.unwrap_or_default(),
            );
            let explanation =
                dockgate::cli::explain::explain(&config, &client, &method, &path, body.as_deref());
            println!("{client}: {method} {path}\n{explanation}");
            match explanation.verdict {
                dockgate::cli::explain::Verdict::Allow { .. } => ExitCode::SUCCESS,
                dockgate::cli::explain::Verdict::Deny { .. }
                | dockgate::cli::explain::Verdict::WouldDeny { .. } => ExitCode::FAILURE,
            }
        }
        Cli::Policy(PolicyCommand::Learn { log, client }) => {
            drop(held);
            match dockgate::cli::learn::Learning::read(&log, client.as_deref()) {
                Ok(learning) => {
                    print!("{}", learning.render());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("dockgate policy learn: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Cli::Policy(PolicyCommand::Diff {
            config,
            log,
            client,
        }) => {
            drop(held);
            let config = match load(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match dockgate::cli::diff::Diff::read(&config, &log, client.as_deref()) {
                Ok(diff) => {
                    print!("{diff}");
                    if diff.refuses_any() || diff.cannot_judge_any() {
                        ExitCode::FAILURE
                    } else {
                        ExitCode::SUCCESS
                    }
                }
                Err(e) => {
                    eprintln!("dockgate policy diff: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Cli::Pki(cmd) => {
            drop(held);
            match dockgate::cli::pki::run(cmd) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("dockgate pki: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Cli::Preset(cmd) => {
            drop(held);
            match dockgate::cli::preset::run(&cmd) {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("dockgate preset: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// `explain --from-log`: the line given, or line `number` of the file given.
fn explain_logged(
    config: &dockgate::config::Config,
    from_log: &str,
    number: Option<usize>,
    body: Option<&[u8]>,
) -> ExitCode {
    let text = match number {
        None => from_log.to_owned(),
        Some(n) => match dockgate::cli::audit_log::line_of(std::path::Path::new(from_log), n) {
            Ok(Some(text)) => text,
            Ok(None) => {
                eprintln!("dockgate explain: {from_log} has no line {n}");
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("dockgate explain: {from_log}: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let line = match dockgate::cli::audit_log::parse_one(&text) {
        Ok(line) => line,
        Err(e) => {
            eprintln!("dockgate explain: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (explanation, notes, refused) = dockgate::cli::explain::logged(config, &line, body);
    let clean = dockgate::cli::learn::printable;
    println!(
        "{}: {} {}",
        clean(&line.client),
        clean(&line.method),
        clean(&dockgate::cli::explain::target(&line))
    );
    for note in notes {
        println!("  {}", clean(&note));
    }
    println!("{explanation}");
    if refused {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The control thread's runtime: accepting, signals, reloads, metrics.
/// Connections are served on the worker threads `serve` starts.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("cannot start the tokio runtime")
}

/// The handlers for the held signals, installed on the control runtime.
fn take_signals(held: HeldSignals) -> Option<daemon::Signals> {
    held.handle()
        .map_err(|e| eprintln!("dockgate: cannot install signal handlers: {e}"))
        .ok()
}

/// The configuration a command reads, or the exit status of one that does
/// not validate (its errors printed).
fn load(path: &std::path::Path) -> Result<dockgate::config::Config, ExitCode> {
    dockgate::config::Config::load(path).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(EXIT_BAD_CONFIG)
    })
}

fn start_failed(e: &StartError) -> ExitCode {
    eprintln!("dockgate: {e}");
    match e {
        // A file dockgate must never replace stands where a socket is
        // configured: like a broken configuration, a restart cannot mend it.
        StartError::Load(_) | StartError::Socket(SocketError::NotASocket(_)) => {
            ExitCode::from(EXIT_BAD_CONFIG)
        }
        _ => ExitCode::FAILURE,
    }
}

/// Runs a bound daemon with logging and signal handling until it stops.
async fn serve(daemon: Daemon, signals: daemon::Signals) -> ExitCode {
    let _log_writer = dockgate::run::logging::init(
        &daemon.control().current().config.log,
        dockgate::run::metrics::log_counters(),
    );
    tokio::spawn(daemon::handle_signals(signals, daemon.control()));
    match daemon.run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => start_failed(&e),
    }
}
