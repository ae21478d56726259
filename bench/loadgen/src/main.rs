//! `loadgen`: the load generator of dockgate's benchmark, and the fake
//! Engine it measures the proxies against.
//!
//! * `loadgen fake-engine --socket PATH`: serve the fake Engine ([`fake_engine`]).
//! * `loadgen tls-relay --listen ADDR --socket PATH ...`: the floor any TLS
//!   gateway stands on ([`relay`]).
//! * `loadgen run --target SPEC ...`: measure every workload ([`workload`])
//!   against every target ([`client`]), round-robin per repetition so machine
//!   noise hits all targets alike, and print the markdown report ([`report`]).
//!
//! `bench/run.sh` starts the targets and calls both.

mod body;
mod client;
mod fake_engine;
mod procfs;
mod raw;
mod relay;
mod report;
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use client::{Dialer, Identity, Target};
use workload::{Settings, Workload};

const USAGE: &str = "usage:
  loadgen fake-engine --socket PATH [--threads N]
  loadgen tls-relay --listen ADDR --socket PATH --ca FILE --cert FILE --key FILE [--threads N]
  loadgen run --ca FILE --cert FILE --key FILE --target NAME,ENGINE,unix:PATH|tls:ADDR,PID[+PID][,CLIENT] ...
              [--client NAME,CERT,KEY ...] [--container ID]
              [--reps 5] [--duration SECS] [--stream-mib 1024] [--idle 1000] [--handshake-concurrency 8]
              [--workloads idle,ping1,ping32,handshake,download,upload,inspect,exec] [--threads N]
              [--clk-tck 100] [--warmup SECS] [--out FILE]";

/// `loadgen run`'s arguments.
struct RunArgs {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    /// Client certificates targets may present instead of `cert`.
    clients: Vec<Identity>,
    targets: Vec<Target>,
    reps: usize,
    settings: Settings,
    workloads: Vec<Workload>,
    warmup: Duration,
    out: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let (command, rest) = args.split_first().ok_or(USAGE)?;
    let mut flags = Flags::parse(rest)?;
    let threads: usize = flags
        .one("threads")?
        .map_or(Ok(2), |t| t.parse().map_err(|e| format!("--threads: {e}")))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    match command.as_str() {
        "fake-engine" => {
            let socket = PathBuf::from(flags.one("socket")?.ok_or("fake-engine needs --socket")?);
            flags.finish()?;
            runtime
                .block_on(fake_engine::run(&socket))
                .map_err(|e| format!("{}: {e}", socket.display()))
        }
        "tls-relay" => {
            let mut value =
                |name: &str| flags.one(name)?.ok_or(format!("tls-relay needs --{name}"));
            let listen = value("listen")?;
            let args = relay::RelayArgs {
                listen: listen
                    .parse()
                    .map_err(|e| format!("--listen {listen:?}: {e}"))?,
                socket: value("socket")?.into(),
                ca: value("ca")?.into(),
                cert: value("cert")?.into(),
                key: value("key")?.into(),
            };
            flags.finish()?;
            runtime.block_on(relay::run(args))
        }
        "run" => {
            let args = run_args(&mut flags)?;
            flags.finish()?;
            runtime.block_on(bench(args))
        }
        _ => Err(USAGE.into()),
    }
}

fn run_args(flags: &mut Flags) -> Result<RunArgs, String> {
    fn num<T: std::str::FromStr>(flags: &mut Flags, name: &str, default: T) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        flags.one(name)?.map_or(Ok(default), |v| {
            v.parse().map_err(|e| format!("--{name} {v:?}: {e}"))
        })
    }
    let path = |flags: &mut Flags, name: &str| {
        flags
            .one(name)?
            .map(PathBuf::from)
            .ok_or(format!("run needs --{name}"))
    };
    let targets = flags
        .all("target")
        .iter()
        .map(|s| Target::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    if targets.is_empty() {
        return Err("run needs at least one --target".into());
    }
    let clients = flags
        .all("client")
        .iter()
        .map(|s| Identity::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let workloads: Vec<Workload> = match flags.one("workloads")? {
        // The container workloads need run.sh's bench container: asked for by name only.
        None => Workload::ALL
            .into_iter()
            .filter(|w| !w.needs_container())
            .collect(),
        Some(list) => list
            .split(',')
            .map(|w| Workload::parse(w).ok_or(format!("unknown workload {w:?}")))
            .collect::<Result<_, _>>()?,
    };
    let container = flags.one("container")?;
    if container.is_none() {
        if let Some(w) = workloads.iter().find(|w| w.needs_container()) {
            return Err(format!("workload {} needs --container", w.key()));
        }
    }
    Ok(RunArgs {
        ca: path(flags, "ca")?,
        cert: path(flags, "cert")?,
        key: path(flags, "key")?,
        clients,
        targets,
        reps: num(flags, "reps", 5usize)?.max(1),
        settings: Settings {
            duration: Duration::from_secs_f64(num(flags, "duration", 3.0f64)?),
            stream_bytes: num(flags, "stream-mib", 1024u64)? << 20,
            idle_conns: num(flags, "idle", 1000usize)?,
            handshake_concurrency: num(flags, "handshake-concurrency", 8usize)?,
            clk_tck: num(flags, "clk-tck", 100.0f64)?,
            container,
        },
        workloads,
        warmup: Duration::from_secs_f64(num(flags, "warmup", 1.0f64)?),
        out: flags.one("out")?.map(PathBuf::from),
    })
}

async fn bench(args: RunArgs) -> Result<(), String> {
    let dialer = Dialer::new(&args.ca, &args.cert, &args.key, &args.clients)?;
    for t in &args.targets {
        dialer.check(t)?;
    }
    let mut header = String::from(
        "TLS as negotiated by the load generator (rustls, resumption disabled, no ALPN):\n\n",
    );
    for t in &args.targets {
        header += &format!(
            "- {} ({} engine): {}\n",
            t.name,
            t.engine,
            dialer.describe(t).await
        );
    }
    header.push('\n');
    if !args.warmup.is_zero() {
        for t in &args.targets {
            eprintln!("warm-up: {} ({} engine)", t.name, t.engine);
            let warm = Settings {
                duration: args.warmup,
                ..args.settings.clone()
            };
            if let Err(e) = workload::measure(Workload::PingC32, t, &dialer, &warm).await {
                return Err(format!(
                    "warm-up against {} ({} engine) failed: {e}",
                    t.name, t.engine
                ));
            }
        }
    }
    // A cell that hangs must not hang the run: streams get generous time,
    // everything else its duration plus the time to open connections.
    let cell_limit = |w: Workload| match w {
        Workload::StreamDown | Workload::StreamUp => Duration::from_secs(300),
        Workload::IdleEvents => Duration::from_secs(120),
        _ => args.settings.duration + Duration::from_secs(60),
    };
    let mut results = report::Results::new();
    for rep in 0..args.reps {
        for &w in &args.workloads {
            let cells: Vec<usize> = (0..args.targets.len())
                .filter(|&i| w.applies_to(&args.targets[i]))
                .collect();
            // Rotate the order each repetition so no target is always first after a pause.
            for k in 0..cells.len() {
                let i = cells[(k + rep) % cells.len()];
                let t = &args.targets[i];
                let outcome = tokio::time::timeout(
                    cell_limit(w),
                    workload::measure(w, t, &dialer, &args.settings),
                )
                .await;
                match outcome {
                    Ok(Ok(sample)) => {
                        eprintln!(
                            "rep {}/{} {:<9} {:<11} {}: {:.2} (loadgen {:.2} cores{})",
                            rep + 1,
                            args.reps,
                            w.key(),
                            t.name,
                            t.engine,
                            sample.value,
                            sample.loadgen_cores,
                            if sample.errors > 0 {
                                format!(", {} errors", sample.errors)
                            } else {
                                String::new()
                            }
                        );
                        results.entry((w, i)).or_default().push(sample);
                    }
                    Ok(Err(e)) => eprintln!(
                        "rep {}/{} {} {} {}: FAILED: {e}",
                        rep + 1,
                        args.reps,
                        w.key(),
                        t.name,
                        t.engine
                    ),
                    Err(_) => eprintln!(
                        "rep {}/{} {} {} {}: FAILED: timed out",
                        rep + 1,
                        args.reps,
                        w.key(),
                        t.name,
                        t.engine
                    ),
                }
            }
        }
    }
    let text = header + &report::render(&args.targets, &results, &args.settings, &args.workloads);
    match &args.out {
        Some(path) => {
            std::fs::write(path, &text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// `--name value` pairs; a flag may repeat (`--target`).
struct Flags(Vec<(String, String)>);

impl Flags {
    fn parse(args: &[String]) -> Result<Flags, String> {
        let mut pairs = Vec::new();
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let name = flag
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {flag:?}\n{USAGE}"))?;
            let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
            pairs.push((name.to_owned(), value.clone()));
        }
        Ok(Flags(pairs))
    }

    fn one(&mut self, name: &str) -> Result<Option<String>, String> {
        let mut found = self.all(name);
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.pop()),
            _ => Err(format!("--{name} given more than once")),
        }
    }

    /// Takes every value of `name` out of the set.
    fn all(&mut self, name: &str) -> Vec<String> {
        let (taken, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.0)
            .into_iter()
            .partition(|(n, _)| n == name);
        self.0 = kept;
        taken.into_iter().map(|(_, v)| v).collect()
    }

    fn finish(self) -> Result<(), String> {
        match self.0.first() {
            None => Ok(()),
            Some((name, _)) => Err(format!("unknown flag --{name}\n{USAGE}")),
        }
    }
}
