//! The markdown report: one table of medians over the repetitions, each
//! with its ratio to the direct socket, then the targets as PASS/MISS lines,
//! then what confinement to a tenant costs as confined-over-unconfined
//! ratios, what dockgate's unix sockets cost over the Engine's own, and
//! what audit mode costs over enforce mode.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::client::{
    Engine, Target, DIRECT, DOCKERD_TLS, DOCKGATE, DOCKGATE_AUDIT, DOCKGATE_SHARED,
    DOCKGATE_SOCKET, DOCKGATE_TENANT, NGINX,
};
use crate::workload::{Sample, Settings, Workload};

/// Every sample of one (workload, target) cell, one per repetition.
pub type Results = BTreeMap<(Workload, usize), Vec<Sample>>;

fn median(mut xs: Vec<f64>) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    Some(if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    })
}

/// The summary of one cell over its repetitions.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The median, except for idle streams: the largest growth seen (see
    /// `headline`).
    pub value: f64,
    pub min: f64,
    pub max: f64,
    pub mean_us: Option<f64>,
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub create_p50_us: Option<f64>,
    pub server_cpu_us: Option<f64>,
    pub loadgen_cores: f64,
    pub errors: u64,
}

/// Idle-stream memory is the one number not summarised by its median: an
/// allocator keeps freed memory, so only the first repetition (on a heap
/// the other workloads have not grown yet) sees the full growth, and later
/// ones reuse it. The maximum is the honest figure.
fn headline(workload: Workload, values: &[f64]) -> f64 {
    match workload {
        Workload::IdleEvents => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        _ => median(values.to_vec()).unwrap_or(f64::NAN),
    }
}

pub fn summarize(workload: Workload, samples: &[Sample]) -> Option<Summary> {
    if samples.is_empty() {
        return None;
    }
    let values: Vec<f64> = samples.iter().map(|s| s.value).collect();
    let pick = |f: fn(&Sample) -> Option<f64>| median(samples.iter().filter_map(f).collect());
    Some(Summary {
        value: headline(workload, &values),
        min: values.iter().copied().fold(f64::INFINITY, f64::min),
        max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        mean_us: pick(|s| s.mean_us),
        p50_us: pick(|s| s.p50_us),
        p99_us: pick(|s| s.p99_us),
        create_p50_us: pick(|s| s.create_p50_us),
        server_cpu_us: pick(|s| s.server_cpu_us),
        loadgen_cores: median(samples.iter().map(|s| s.loadgen_cores).collect()).unwrap_or(0.0),
        errors: samples.iter().map(|s| s.errors).sum(),
    })
}

fn title(workload: Workload, settings: &Settings) -> String {
    match workload {
        Workload::IdleEvents => format!(
            "{} idle `GET /events` streams: KiB RSS / conn (max over reps)",
            settings.idle_conns
        ),
        Workload::PingC1 => "`GET /_ping` keep-alive, c=1: req/s".into(),
        Workload::PingC32 => "`GET /_ping` keep-alive, c=32: req/s".into(),
        Workload::Handshake => format!(
            "new connection per `GET /_ping`, c={}: conn/s (TLS: full handshakes/s)",
            settings.handshake_concurrency
        ),
        Workload::StreamDown => format!("{} response body: MiB/s", size(settings.stream_bytes)),
        Workload::StreamUp => format!("{} request body: MiB/s", size(settings.stream_bytes)),
        Workload::ContainerInspect => "`GET /containers/{id}/json` keep-alive, c=1: req/s".into(),
        Workload::ExecCycle => {
            "exec create + start (`true`, attached) + inspect, c=1: cycles/s".into()
        }
    }
}

/// Why a workload has no rows for an engine.
fn not_here(workload: Workload, engine: Engine) -> &'static str {
    match engine {
        Engine::Fake if workload.needs_container() => {
            "the bench container exists only in the real engine"
        }
        Engine::Real => "the streaming endpoints exist only in the fake engine",
        Engine::Fake => "no target",
    }
}

fn size(bytes: u64) -> String {
    if bytes >= 1 << 30 && bytes % (1 << 30) == 0 {
        format!("{} GiB", bytes >> 30)
    } else {
        format!("{} MiB", bytes >> 20)
    }
}

fn cpu_unit(workload: Workload) -> &'static str {
    match workload {
        Workload::StreamDown | Workload::StreamUp => "µs/MiB",
        Workload::Handshake => "µs/conn",
        Workload::ExecCycle => "µs/cycle",
        _ => "µs/req",
    }
}

fn num(x: f64) -> String {
    if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn lookup<'a>(
    summaries: &'a BTreeMap<(Workload, usize), Summary>,
    targets: &[Target],
    w: Workload,
    name: &str,
    engine: Engine,
) -> Option<&'a Summary> {
    let i = targets
        .iter()
        .position(|t| t.name == name && t.engine == engine)?;
    summaries.get(&(w, i))
}

pub fn render(
    targets: &[Target],
    results: &Results,
    settings: &Settings,
    workloads: &[Workload],
) -> String {
    let summaries: BTreeMap<(Workload, usize), Summary> = results
        .iter()
        .filter_map(|(k, v)| Some((*k, summarize(k.0, v)?)))
        .collect();
    let has_dockerd_tls = targets.iter().any(|t| t.name == DOCKERD_TLS);
    let mut out = String::new();
    out.push_str("| Workload | Engine | Target | Result | min – max | × direct | p50 / p99 latency | Server CPU | Loadgen CPU (cores) |\n");
    out.push_str("|---|---|---|---:|---:|---:|---:|---:|---:|\n");
    for &w in workloads {
        let label = title(w, settings);
        for engine in [Engine::Fake, Engine::Real] {
            let measured: Vec<(usize, &Target)> = targets
                .iter()
                .enumerate()
                .filter(|(_, t)| t.engine == engine && w.applies_to(t))
                .collect();
            if measured.is_empty() {
                if targets.iter().any(|t| t.engine == engine) {
                    let why = not_here(w, engine);
                    let _ = writeln!(out, "| {label} | {engine} | (all) | n/a: {why} | | | | | |");
                }
                continue;
            }
            let direct = lookup(&summaries, targets, w, DIRECT, engine);
            for (i, t) in measured {
                let Some(s) = summaries.get(&(w, i)) else {
                    let _ = writeln!(
                        out,
                        "| {label} | {engine} | {} | failed (see log) | | | | | |",
                        t.name
                    );
                    continue;
                };
                let ratio = match (direct, w) {
                    (_, Workload::IdleEvents) => "–".to_owned(),
                    (Some(d), _) if d.value > 0.0 => format!("{:.2}", s.value / d.value),
                    _ => "–".to_owned(),
                };
                let latency = match (s.p50_us, s.p99_us) {
                    (Some(a), Some(b)) => format!("{} / {} µs", num(a), num(b)),
                    _ => "–".to_owned(),
                };
                let cpu = s
                    .server_cpu_us
                    .map_or("–".to_owned(), |c| format!("{} {}", num(c), cpu_unit(w)));
                let errors = if s.errors > 0 {
                    format!(" ({} errors)", s.errors)
                } else {
                    String::new()
                };
                let _ = writeln!(
                    out,
                    "| {label} | {engine} | {} | **{}**{errors} | {} – {} | {ratio} | {latency} | {cpu} | {:.2} |",
                    t.name,
                    num(s.value),
                    num(s.min),
                    num(s.max),
                    s.loadgen_cores
                );
            }
            if engine == Engine::Fake && has_dockerd_tls {
                let _ = writeln!(out, "| {label} | fake | {DOCKERD_TLS} | n/a: dockerd cannot front the fake engine | | | | | |");
            }
        }
    }
    out.push('\n');
    out.push_str(&checks(&summaries, targets));
    out.push_str(&confinement(&summaries, targets));
    out.push_str(&side_by_side(
        &summaries,
        targets,
        &[
            Workload::PingC1,
            Workload::PingC32,
            Workload::ContainerInspect,
            Workload::ExecCycle,
        ],
        &[
            (DIRECT, "Engine socket"),
            (DOCKGATE, "dockgate TLS"),
            (DOCKGATE_SOCKET, "own socket"),
            (DOCKGATE_SHARED, "shared socket"),
        ],
        &[(2, 0), (3, 0), (2, 1)],
        "Local sockets, real engine: the Engine's own unix socket, and the same dockgate reached \
         over TLS (`dockgate`), on a client's own socket (`socket = PATH`, `dockgate-socket`) and \
         on the shared socket where the peer's uid names the client (`local_listen`, \
         `dockgate-shared`); plain HTTP/1.1 on both sockets, the same policy. Medians over \
         repetitions. Server CPU is dockgate's (the Engine socket's column: the Engine's, so \
         it has no ratio to it).",
    ));
    out.push_str(&side_by_side(
        &summaries,
        targets,
        &[Workload::ContainerInspect, Workload::ExecCycle],
        &[
            (DIRECT, "Engine socket"),
            (DOCKGATE, "enforce"),
            (DOCKGATE_AUDIT, "audit"),
        ],
        &[(2, 1)],
        "Audit mode, real engine: the same dockgate process and policy, reached as a client in \
         enforce mode (`dockgate`) and as one in audit mode (`dockgate-audit`), which also \
         lists every grant an inspected body needs (the exec create's; the inspect has no \
         body to inspect). Medians over repetitions. Server CPU is dockgate's (the Engine \
         socket's column: the Engine's).",
    ));
    out
}

/// `workloads` against the real engine's `columns` (target, heading) side
/// by side, one row per measure, then each `ratios` pair (numerator and
/// denominator column) as a quotient. CPU is not divided by the direct
/// socket's: that is the Engine's, the others dockgate's. Empty when no
/// pair was measured.
fn side_by_side(
    summaries: &BTreeMap<(Workload, usize), Summary>,
    targets: &[Target],
    workloads: &[Workload],
    columns: &[(&str, &str)],
    ratios: &[(usize, usize)],
    intro: &str,
) -> String {
    type Pick = fn(&Summary) -> Option<f64>;
    let mut rows = Vec::new();
    for &w in workloads {
        let found: Vec<Option<&Summary>> = columns
            .iter()
            .map(|(name, _)| lookup(summaries, targets, w, name, Engine::Real))
            .collect();
        if !ratios
            .iter()
            .any(|&(a, b)| found[a].is_some() && found[b].is_some())
        {
            continue;
        }
        let (rate, unit) = match w {
            Workload::ExecCycle => ("cycles/s", "cycle"),
            _ => ("req/s", "request"),
        };
        let measures: [(String, Pick, &str, bool); 6] = [
            (rate.into(), |s| Some(s.value), "", false),
            (
                format!("mean latency per {unit}"),
                |s| s.mean_us,
                " µs",
                false,
            ),
            ("p50 latency".into(), |s| s.p50_us, " µs", false),
            ("p99 latency".into(), |s| s.p99_us, " µs", false),
            (
                "p50 latency of the create alone".into(),
                |s| s.create_p50_us,
                " µs",
                false,
            ),
            (
                format!("server CPU per {unit}"),
                |s| s.server_cpu_us,
                " µs",
                true,
            ),
        ];
        for (what, pick, suffix, cpu) in measures {
            let values: Vec<Option<f64>> = found.iter().map(|s| s.and_then(pick)).collect();
            if values.iter().flatten().count() < 2 {
                continue;
            }
            let mut row = format!("| `{}`: {what} |", w.key());
            for v in &values {
                row += &v.map_or(" – |".to_owned(), |v| format!(" {}{suffix} |", num(v)));
            }
            for &(a, b) in ratios {
                let mixed = cpu && (columns[a].0 == DIRECT || columns[b].0 == DIRECT);
                row += &match (values[a], values[b]) {
                    (Some(x), Some(y)) if y > 0.0 && !mixed => format!(" **{:.2}** |", x / y),
                    _ => " – |".to_owned(),
                };
            }
            rows.push(row);
        }
    }
    if rows.is_empty() {
        return String::new();
    }
    let mut out = format!("\n{intro}\n\n| Measure |");
    for (_, heading) in columns {
        out += &format!(" {heading} |");
    }
    for &(a, b) in ratios {
        out += &format!(" {} ÷ {} |", columns[a].1, columns[b].1);
    }
    out += "\n|---|";
    out += &"---:|".repeat(columns.len() + ratios.len());
    out.push('\n');
    for r in rows {
        out += &r;
        out.push('\n');
    }
    out
}

/// The container workloads' rows side by side: the same dockgate, reached
/// as the unconfined and as the confined client, and the ratios.
fn confinement(summaries: &BTreeMap<(Workload, usize), Summary>, targets: &[Target]) -> String {
    let mut rows = Vec::new();
    for w in [Workload::ContainerInspect, Workload::ExecCycle] {
        let get = |name| lookup(summaries, targets, w, name, Engine::Real);
        let (Some(open), Some(confined)) = (get(DOCKGATE), get(DOCKGATE_TENANT)) else {
            continue;
        };
        let direct = get(DIRECT);
        let (rate, unit) = match w {
            Workload::ExecCycle => ("cycles/s", "cycle"),
            _ => ("req/s", "request"),
        };
        let key = w.key();
        let mut row = |what: String, pick: fn(&Summary) -> Option<f64>, suffix: &str| {
            let (Some(a), Some(b)) = (pick(open), pick(confined)) else {
                return;
            };
            let d = direct
                .and_then(pick)
                .map_or("–".to_owned(), |d| format!("{}{suffix}", num(d)));
            rows.push(format!(
                "| `{key}`: {what} | {d} | {}{suffix} | {}{suffix} | **{:.2}** |",
                num(a),
                num(b),
                b / a
            ));
        };
        row(rate.into(), |s| Some(s.value), "");
        row(format!("mean latency per {unit}"), |s| s.mean_us, " µs");
        row("p50 latency".into(), |s| s.p50_us, " µs");
        row("p99 latency".into(), |s| s.p99_us, " µs");
        row(
            "p50 latency of the create alone".into(),
            |s| s.create_p50_us,
            " µs",
        );
        row(format!("server CPU per {unit}"), |s| s.server_cpu_us, " µs");
    }
    if rows.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\nConfinement, real engine: the same dockgate process reached as the unconfined client \
         (`dockgate`) and as the client confined to tenant `bench` (`dockgate-tenant`); medians \
         over repetitions. Server CPU is dockgate's (the direct column: the Engine's).\n\n\
         | Measure | direct | unconfined | confined | confined ÷ unconfined |\n\
         |---|---:|---:|---:|---:|\n",
    );
    for r in rows {
        out += &r;
        out.push('\n');
    }
    out
}

/// The performance targets, each a PASS or MISS line (or SKIP when a number is missing).
fn checks(summaries: &BTreeMap<(Workload, usize), Summary>, targets: &[Target]) -> String {
    let get = |w, name, engine| lookup(summaries, targets, w, name, engine);
    let mut lines = Vec::new();
    let mut line = |ok: Option<bool>, text: String| {
        let verdict = match ok {
            Some(true) => "PASS",
            Some(false) => "MISS",
            None => "SKIP",
        };
        lines.push(format!("- **{verdict}** {text}"));
    };

    match (get(Workload::PingC32, DOCKGATE, Engine::Fake), get(Workload::PingC32, NGINX, Engine::Fake)) {
        (Some(d), Some(n)) => line(
            Some(d.value >= 1.5 * n.value),
            format!("keep-alive `/_ping` c=32, fake engine: dockgate {} req/s vs nginx {} req/s = {:.2}× (target ≥ 1.50×)", num(d.value), num(n.value), d.value / n.value),
        ),
        _ => line(None, "keep-alive c=32 vs nginx: not measured".into()),
    }
    match (get(Workload::PingC1, DOCKGATE, Engine::Fake), get(Workload::PingC1, DIRECT, Engine::Fake)) {
        (Some(Summary { p50_us: Some(d), .. }), Some(Summary { p50_us: Some(s), .. })) => line(
            Some(d - s <= 30.0),
            format!("keep-alive `/_ping` c=1, fake engine: dockgate p50 {} µs vs direct {} µs = +{} µs (target ≤ +30 µs)", num(*d), num(*s), num(d - s)),
        ),
        _ => line(None, "keep-alive c=1 added latency: not measured".into()),
    }
    match (get(Workload::Handshake, DOCKGATE, Engine::Real), get(Workload::Handshake, DOCKERD_TLS, Engine::Real)) {
        (Some(Summary { server_cpu_us: Some(d), .. }), Some(Summary { server_cpu_us: Some(g), .. })) => line(
            Some(d < g),
            format!("full handshakes, real engine: dockgate {} µs server CPU per handshake vs dockerd --tlsverify {} µs (target: less)", num(*d), num(*g)),
        ),
        _ => line(None, "handshake CPU vs dockerd: not measured".into()),
    }
    for (w, what) in [
        (Workload::StreamDown, "streamed response"),
        (Workload::StreamUp, "streamed request body"),
    ] {
        match (get(w, DOCKGATE, Engine::Fake), get(w, NGINX, Engine::Fake)) {
            (Some(d), Some(n)) => line(
                Some(d.value >= 1.5 * n.value),
                format!("{what}, fake engine: dockgate {} MiB/s vs nginx {} MiB/s = {:.2}× (target ≥ 1.50×)", num(d.value), num(n.value), d.value / n.value),
            ),
            _ => line(None, format!("{what} vs nginx: not measured")),
        }
    }
    let idle: Vec<(Engine, f64)> = [Engine::Fake, Engine::Real]
        .into_iter()
        .filter_map(|e| Some((e, get(Workload::IdleEvents, DOCKGATE, e)?.value)))
        .collect();
    if idle.is_empty() {
        line(None, "idle streams: not measured".into());
    } else {
        let worst = idle
            .iter()
            .map(|(_, v)| *v)
            .fold(f64::NEG_INFINITY, f64::max);
        let each = idle
            .iter()
            .map(|(e, v)| format!("{} KiB ({e} engine)", num(*v)))
            .collect::<Vec<_>>()
            .join(", ");
        line(
            Some(worst <= 20.0),
            format!("idle `/events` streams: dockgate RSS per connection {each} (target ≤ 20 KiB)"),
        );
    }
    lines.join("\n") + "\n"
}
