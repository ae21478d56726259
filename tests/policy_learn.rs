//! `dockgate policy learn`, `policy diff` and `explain --from-log`, on
//! logs written by hand (both layouts, gzip, rotation, hostile strings,
//! lines from before the `grants` field) and on a real session: the docker
//! CLI and the Python SDK through a client in audit mode whose policy
//! allows almost nothing, then again under the policy learned from its log.

mod support;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dockgate::config::LogFormat;
use dockgate::request::audit::line::{render, Fields};
use support::fake_engine::FakeEngine;
use support::{Pki, TEST_IMAGE};

fn dockgate(args: &[&str], paths: &[&Path]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dockgate"));
    cmd.args(args).args(paths).stdin(Stdio::null());
    cmd.output().unwrap()
}

fn stdout(out: &Output) -> String {
    support::text(&out.stdout)
}

/// One audit line as the gateway writes it.
#[derive(Clone)]
struct Line<'a> {
    client: &'a str,
    method: &'a str,
    path: &'a str,
    /// The `query` field: the pairs the gateway keeps.
    query: &'a str,
    decision: &'a str,
    reason: &'a str,
    detail: &'a str,
    grants: &'a str,
    at: u64,
}

impl Line<'_> {
    fn render(&self, format: LogFormat) -> Vec<u8> {
        let fields = Fields {
            client: self.client,
            tenant: "",
            serial: "01",
            peer: "127.0.0.1:5000",
            method: self.method,
            path: self.path,
            query: self.query,
            decision: self.decision,
            policy: "ping",
            rule: "",
            reason: self.reason,
            detail: self.detail,
            grants: self.grants,
            status: 200,
            upgraded: false,
            bytes_in: 0,
            bytes_out: 0,
            duration: Duration::from_millis(1),
        };
        let mut out = Vec::new();
        render(
            &fields,
            format,
            UNIX_EPOCH + Duration::from_secs(1_795_389_804 + self.at),
            &mut out,
        );
        out
    }
}

const fn line<'a>(
    client: &'a str,
    method: &'a str,
    path: &'a str,
    decision: &'a str,
    reason: &'a str,
    grants: &'a str,
    at: u64,
) -> Line<'a> {
    Line {
        client,
        method,
        path,
        query: "",
        decision,
        reason,
        detail: "",
        grants,
        at,
    }
}

/// A week of one client's requests, and some of another's.
const WEEK: &[Line<'static>] = &[
    line("ci", "GET", "/v1.41/_ping", "allow", "", "", 0),
    line(
        "ci",
        "POST",
        "/v1.41/containers/create",
        "would_deny",
        "no_rule",
        r#"{ bind_mounts = ["/srv/ci"], capabilities = ["NET_ADMIN"] }"#,
        1,
    ),
    line(
        "ci",
        "POST",
        "/v1.41/containers/3f2a9c0d1e2b3f2a9c0d1e2b3f2a9c0d1e2b3f2a9c0d1e2b3f2a9c0d1e2b3f2a/start",
        "would_deny",
        "no_rule",
        "",
        2,
    ),
    line(
        "ci",
        "POST",
        "/v1.41/containers/web/exec",
        "would_deny",
        "no_rule",
        "",
        3,
    ),
    line(
        "ci",
        "POST",
        "/v1.41/exec/77aa/start",
        "would_deny",
        "no_rule",
        "",
        4,
    ),
    line(
        "ci",
        "GET",
        "/v1.41/images/registry.example.com:5000/team/app:1.2/json",
        "would_deny",
        "no_rule",
        "",
        5,
    ),
    line(
        "ci",
        "DELETE",
        "/v1.41/images/busybox@sha256:0123",
        "would_deny",
        "no_rule",
        "",
        6,
    ),
    line(
        "ci",
        "GET",
        "/v1.41/volumes/cache-vol",
        "would_deny",
        "no_rule",
        "",
        7,
    ),
    line(
        "ci",
        "POST",
        "/v1.41/networks/ci-net/connect",
        "would_deny",
        "no_rule",
        "",
        8,
    ),
    line(
        "ci",
        "GET",
        "/v1.41/no/such/route",
        "would_deny",
        "unknown_route",
        "",
        9,
    ),
    line(
        "ci",
        "GET",
        "/v1.41/containers/../x",
        "deny",
        "non_canonical",
        "",
        10,
    ),
    line(
        "ci",
        "GET",
        "/v1.41/info",
        "deny",
        "client_connection_limit",
        "",
        11,
    ),
    line(
        "ci",
        "POST",
        "/v1.41/containers/create",
        "would_deny",
        "body_rule",
        r#"{ privileged = true }"#,
        12,
    ),
    line(
        "ci",
        "POST",
        "/v1.41/containers/create",
        "would_deny",
        "unknown_field",
        r#"{ ungrantable = "HostConfig.Foo is not a field dockgate knows" }"#,
        13,
    ),
    line(
        "ci",
        "POST",
        "/v1.41/containers/other/start",
        "would_deny",
        "no_rule",
        "{}",
        14,
    ),
    // A host path with quotes, a newline and glob characters in it.
    line(
        "ci",
        "POST",
        "/v1.41/containers/create",
        "would_deny",
        "no_rule",
        r#"{ bind_mounts = ["/srv/a\"b\n[x]*"] }"#,
        17,
    ),
    line("", "GET", "/v1.41/_ping", "deny", "bad_identity", "", 15),
    line(
        "evil\"] [clients.admin]\n",
        "GET",
        "/v1.41/containers/x\n[policies.p]/json",
        "would_deny",
        "no_rule",
        "",
        16,
    ),
];

fn write_log(dir: &Path, name: &str, lines: &[Line<'_>], format: LogFormat) -> PathBuf {
    let path = dir.join(name);
    let mut out =
        b"2026-11-22T23:23:23.000000Z  INFO dockgate::run::daemon: dockgate serving\n".to_vec();
    for l in lines {
        out.extend(l.render(format));
    }
    std::fs::write(&path, out).unwrap();
    path
}

fn gzip(path: &Path) -> PathBuf {
    let gz = path.with_extension("gz");
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    encoder.write_all(&std::fs::read(path).unwrap()).unwrap();
    encoder.finish().unwrap();
    std::fs::remove_file(path).unwrap();
    gz
}

/// The output without its first line, which counts the files.
fn body(text: &str) -> &str {
    text.split_once('\n').map_or("", |(_, rest)| rest)
}

#[test]
fn learning_is_the_same_from_either_layout_rotated_or_compressed_and_twice() {
    let dir = tempfile::tempdir().unwrap();
    let text = write_log(dir.path(), "audit.log", WEEK, LogFormat::Text);
    let once = dockgate(&["policy", "learn", "--log"], &[&text]);
    assert!(once.status.success(), "{}", support::text(&once.stderr));
    let learned = stdout(&once);
    let again = stdout(&dockgate(&["policy", "learn", "--log"], &[&text]));
    assert_eq!(learned, again, "deterministic");

    let json = write_log(dir.path(), "audit.json", WEEK, LogFormat::Json);
    let from_json = stdout(&dockgate(&["policy", "learn", "--log"], &[&json]));
    assert_eq!(from_json, learned, "the JSON layout teaches the same");

    // Rotated as logrotate leaves it: the newest uncompressed, older ones
    // gzip-compressed, given in any order.
    let (old, new) = WEEK.split_at(7);
    let rotated_old = gzip(&write_log(dir.path(), "audit.log.1", old, LogFormat::Text));
    assert_ne!(
        std::fs::read(&rotated_old).unwrap()[..2],
        *b"20",
        "compressed"
    );
    let rotated_new = write_log(dir.path(), "audit.log.0", new, LogFormat::Json);
    let from_rotated = stdout(&dockgate(
        &["policy", "learn", "--log"],
        &[&rotated_new, &rotated_old],
    ));
    assert_eq!(body(&from_rotated), body(&learned), "{from_rotated}");

    for rule in [
        "\"GET /_ping\",  # 1 request, first 2026-11-22T23:23:24.000000Z GET /v1.41/_ping",
        "\"POST /containers/create\",  # 4 requests, first 2026-11-22T23:23:25.000000Z POST /v1.41/containers/create",
        "\"POST /containers/*/start\",  # 2 requests, first 2026-11-22T23:23:26.000000Z",
        "\"POST /containers/*/exec\"",
        "\"POST /exec/*/start\"",
        "\"GET /images/**/json\"",
        "\"DELETE /images/*\"",
        "\"GET /volumes/*\"",
        "\"POST /networks/*/connect\"",
        "[clients.ci]\npolicies = [\"learned-ci\"]",
        "[policies.learned-ci.grants]",
        "bind_mounts = [\n  \"/srv/a",
        "  \"/srv/ci\",  # 1 request, first 2026-11-22T23:23:25.000000Z POST /v1.41/containers/create\n]",
        "capabilities = [\n  \"NET_ADMIN\",",
        "privileged = true  # 1 request, first 2026-11-22T23:23:36.000000Z POST /v1.41/containers/create",
        "# not learned: a route dockgate does not know: GET /no/such/route (1 request",
        "# not learned: refused (non_canonical), not learned (1 request",
        "# not learned: refused (client_connection_limit), not learned",
        "# not learned: its body needs what no grant allows: HostConfig.Foo",
        "# not learned: no client (deny bad_identity) (1 request",
    ] {
        assert!(learned.contains(rule), "{rule:?} in\n{learned}");
    }
    assert!(
        learned.contains(r#"  "/srv/a\"b\n\\[x\\]\\*",  # 1 request"#),
        "the path as a TOML string of a glob matching only it:\n{learned}"
    );
    let rules: Vec<&str> = learned.lines().filter(|l| l.starts_with("  \"")).collect();
    let rule_texts = rules.iter().map(|r| r.split('#').next().unwrap());
    assert!(
        rule_texts.clone().all(|r| !r.contains("3f2a9c")),
        "IDs are generalised"
    );
    assert!(
        rule_texts.clone().all(|r| !r.contains("/v1.")),
        "no version prefix in rules"
    );
    assert!(rules.len() >= 9, "{learned}");

    // The hostile client name stays one quoted key; nothing it holds
    // becomes a table, a rule or a line of its own.
    let config: toml::Table = toml::from_str(&learned).expect("the output is TOML");
    let clients = config["clients"].as_table().unwrap();
    assert_eq!(
        clients.keys().collect::<Vec<_>>(),
        ["ci", "evil\"] [clients.admin]\n"]
    );
    assert_eq!(config["policies"].as_table().unwrap().len(), 2);
    assert!(
        !learned.lines().any(|l| l.starts_with("[policies.p]")),
        "{learned}"
    );
}

/// The strict configuration the week ran under, and the one learned from it.
fn configs(dir: &Path, pki: &Pki, upstream: &Path, learned: &str) -> (PathBuf, PathBuf) {
    let strict = dir.join("strict.toml");
    let strict_body = "[clients.ci]\npolicies = [\"ping\"]\nmode = \"audit\"\n\n[policies.ping]\nallow = [\"GET /_ping\"]\n";
    std::fs::write(&strict, support::config_text(pki, upstream, strict_body)).unwrap();
    let learned_path = dir.join("learned.toml");
    std::fs::write(&learned_path, support::config_text(pki, upstream, learned)).unwrap();
    (strict, learned_path)
}

#[test]
fn diff_lists_what_a_config_refuses_and_the_learned_one_refuses_nothing_learnable() {
    let dir = tempfile::tempdir().unwrap();
    let engine = FakeEngine::start();
    let pki = Pki::new(&["ci"]);
    let lines: Vec<Line<'_>> = WEEK.iter().filter(|l| l.client == "ci").cloned().collect();
    let log = write_log(dir.path(), "audit.log", &lines, LogFormat::Text);
    let learned = stdout(&dockgate(&["policy", "learn", "--log"], &[&log]));
    let (strict, learned_config) = configs(dir.path(), &pki, engine.path(), &learned);

    let out = dockgate(
        &["policy", "diff", "--config"],
        &[&strict, Path::new("--log"), &log],
    );
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}{}",
        support::text(&out.stderr)
    );
    for refused in [
        "client \"ci\": refuses 13 of 14 logged requests",
        "  POST /containers/*/start: 2 requests, first 2026-11-22T23:23:26.000000Z POST /v1.41/containers/3f2a9c",
        "forwarded in audit mode; enforce mode would DENY (403)",
        "GET /no/such/route: 1 request",
        "(2 lines not judged again",
    ] {
        assert!(text.contains(refused), "{refused:?} in\n{text}");
    }

    let out = dockgate(
        &["policy", "diff", "--config"],
        &[&learned_config, Path::new("--log"), &log],
    );
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}{}",
        support::text(&out.stderr)
    );
    // Only what cannot be learned: the unknown route and the body no grant allows.
    assert!(
        text.contains("client \"ci\": refuses 2 of 14 logged requests"),
        "{text}"
    );
    assert!(text.contains("GET /no/such/route: 1 request"), "{text}");
    assert!(
        text.contains("its body needs what no grant allows: HostConfig.Foo"),
        "{text}"
    );

    // With the unlearnable lines left out, the learned policy allows every line.
    let learnable: Vec<Line<'_>> = lines
        .into_iter()
        .filter(|l| l.reason != "unknown_route" && l.reason != "unknown_field")
        .collect();
    let log = write_log(dir.path(), "learnable.log", &learnable, LogFormat::Json);
    let learned = stdout(&dockgate(&["policy", "learn", "--log"], &[&log]));
    let (_, learned_config) = configs(dir.path(), &pki, engine.path(), &learned);
    let out = dockgate(
        &["policy", "diff", "--config"],
        &[&learned_config, Path::new("--log"), &log],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("client \"ci\": allows all 12 logged requests"),
        "{}",
        stdout(&out)
    );

    // A grant taken away shows up as the grant the body needed.
    let narrower = learned.replace("\"NET_ADMIN\",", "");
    let (_, narrower_config) = configs(dir.path(), &pki, engine.path(), &narrower);
    let out = dockgate(
        &["policy", "diff", "--config"],
        &[&narrower_config, Path::new("--log"), &log],
    );
    assert!(
        stdout(&out).contains("its body needed grants policy \"learned-ci\" lacks: capabilities including \"NET_ADMIN\""),
        "{}",
        stdout(&out)
    );
}

/// A kill as logged with the pairs its query kept.
fn kill<'a>(client: &'a str, query: &'a str, at: u64) -> Line<'a> {
    Line {
        query,
        ..line(
            client,
            "POST",
            "/v1.41/containers/web/kill",
            "would_deny",
            "no_rule",
            "",
            at,
        )
    }
}

#[test]
fn a_learned_kill_allows_the_signals_sent_and_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let engine = FakeEngine::start();
    let pki = Pki::new(&["ci", "odd"]);
    let lines = [
        kill("ci", "signal=HUP", 0),
        kill("ci", "", 1),
        kill("ci", "signal=SIGHUP", 2),
        kill("odd", "signal=HUP", 3),
        kill("odd", "signal=%48UP", 4),
    ];
    let log = write_log(dir.path(), "audit.log", &lines, LogFormat::Json);
    let learned = stdout(&dockgate(&["policy", "learn", "--log"], &[&log]));
    assert!(
        learned.contains("  \"POST /containers/*/kill?signal=|HUP|SIGHUP\",  # 3 requests, first 2026-11-22T23:23:24.000000Z POST /v1.41/containers/web/kill\n"),
        "{learned}"
    );
    assert!(
        learned.contains("  # signal not constrained: signal was written with a percent escape or '+' (1 request, first 2026-11-22T23:23:28.000000Z POST /v1.41/containers/web/kill)\n  \"POST /containers/*/kill\",  # 2 requests"),
        "{learned}"
    );
    let (_, learned_config) = configs(dir.path(), &pki, engine.path(), &learned);
    let diff = |log: &Path| {
        dockgate(
            &["policy", "diff", "--config"],
            &[&learned_config, Path::new("--log"), log],
        )
    };
    let out = diff(&log);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    for client in ["ci\": allows all 3", "odd\": allows all 2"] {
        assert!(stdout(&out).contains(client), "{}", stdout(&out));
    }

    // A signal the client never sent is refused by its learned rule.
    let other = write_log(
        dir.path(),
        "other.log",
        &[kill("ci", "signal=KILL", 5)],
        LogFormat::Text,
    );
    let out = diff(&other);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("signal is \"KILL\"; the rule allows (absent) or HUP or SIGHUP"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn explain_judges_a_logged_line_again() {
    let dir = tempfile::tempdir().unwrap();
    let engine = FakeEngine::start();
    let pki = Pki::new(&["ci"]);
    let log = write_log(dir.path(), "audit.log", WEEK, LogFormat::Json);
    let (strict, _) = configs(dir.path(), &pki, engine.path(), "");
    // Line 3 of the file: the create that needed a bind and a capability.
    let out = dockgate(
        &["explain", "--config"],
        &[
            &strict,
            Path::new("--from-log"),
            &log,
            Path::new("--line"),
            Path::new("3"),
        ],
    );
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}{}",
        support::text(&out.stderr)
    );
    for part in [
        "ci: POST /v1.41/containers/create",
        "logged 2026-11-22T23:23:25.000000Z as would_deny (no_rule)",
        "the body was not logged, so it is not judged here",
        r#"the log says its body and query needed { bind_mounts = ["/srv/ci"], capabilities = ["NET_ADMIN"] }"#,
        "FORWARDED in audit mode; enforce mode would DENY (403)",
    ] {
        assert!(text.contains(part), "{part:?} in\n{text}");
    }
    // The line itself, as text, from before the grants field.
    let old = r#"2026-11-22T23:23:24.530243Z  INFO dockgate::request::audit: request client="ci" tenant="" serial="0a" method="GET" path="/v1.41/_ping" decision="allow" policy="ping" rule="GET /_ping" reason="" detail="" peer=127.0.0.1:4 status=200"#;
    let out = dockgate(
        &["explain", "--config"],
        &[&strict, Path::new("--from-log"), Path::new(old)],
    );
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        support::text(&out.stderr)
    );
    assert!(
        text.contains("the line predates the grants field"),
        "{text}"
    );
    assert!(text.contains("ALLOW by policy \"ping\""), "{text}");
    let out = dockgate(
        &["explain", "--config"],
        &[&strict, Path::new("--from-log"), Path::new("not a line")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(support::text(&out.stderr).contains("not a dockgate audit line"));
}

// The real session

/// Runs `cmd` and insists it succeeded; returns its stdout.
fn ok(cmd: Command, what: &str) -> String {
    let out = support::run(cmd, Duration::from_secs(180));
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        support::text(&out.stdout),
        support::text(&out.stderr)
    );
    support::text(&out.stdout)
}

/// What the session works on; removed through the Engine's socket, whatever happened.
struct Names {
    container: String,
    sdk: String,
    image: String,
    host_dir: tempfile::TempDir,
    refused: [String; 2],
    /// Started directly on the Engine, for a kill the learned policy refuses.
    victim: String,
}

impl Names {
    fn new() -> Names {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let base = format!("dgt-learn-{}-{nanos:08x}", std::process::id());
        Names {
            container: format!("{base}-c"),
            sdk: format!("{base}-sdk"),
            image: format!("{base}-img:v1"),
            host_dir: tempfile::tempdir().unwrap(),
            refused: [format!("{base}-privileged"), format!("{base}-rootfs")],
            victim: format!("{base}-victim"),
        }
    }
}

impl Drop for Names {
    fn drop(&mut self) {
        let direct = ["-H", "unix:///var/run/docker.sock"];
        let _ = Command::new("/usr/local/bin/docker")
            .args(direct)
            .args(["rm", "-f", &self.container, &self.sdk, &self.victim])
            .args(&self.refused)
            .output();
        let _ = Command::new("/usr/local/bin/docker")
            .args(direct)
            .args(["rmi", "-f", &self.image])
            .output();
    }
}

/// The session: build, run with a read-only host bind, exec, logs, cp,
/// a reload signal, remove, then the Python SDK.
fn session(host: &str, pki: &Pki, names: &Names) {
    let cli = "/usr/local/bin/docker";
    let docker = || support::docker_at(cli, host, pki, "dev");
    let context = tempfile::tempdir().unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        format!("FROM {TEST_IMAGE}\nRUN echo built > /built\n"),
    )
    .unwrap();
    let mut build = docker();
    build
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "-q", "-t", &names.image])
        .arg(context.path());
    ok(build, "build");
    let mut run = docker();
    run.args(["run", "-d", "--name", &names.container, "-v"])
        .arg(format!("{}:/host:ro", names.host_dir.path().display()))
        .args([&names.image, "sh", "-c", "echo started; sleep 300"]);
    ok(run, "run");
    let mut exec = docker();
    exec.args(["exec", &names.container, "cat", "/built"]);
    assert_eq!(ok(exec, "exec").trim(), "built");
    let mut logs = docker();
    logs.args(["logs", &names.container]);
    support::eventually("the container logged", || {
        let mut logs = support::docker_at(cli, host, pki, "dev");
        logs.args(["logs", &names.container]);
        support::run(logs, Duration::from_secs(60))
            .stdout
            .starts_with(b"started")
    });
    assert_eq!(ok(logs, "logs").trim(), "started");
    let copied = tempfile::tempdir().unwrap();
    let mut cp = docker();
    cp.arg("cp")
        .arg(format!("{}:/built", names.container))
        .arg(copied.path().join("built"));
    ok(cp, "cp");
    assert_eq!(
        std::fs::read_to_string(copied.path().join("built")).unwrap(),
        "built\n"
    );
    // The shell is the container's init, which a HUP without a handler
    // leaves running.
    let mut hup = docker();
    hup.args(["kill", "--signal", "HUP", &names.container]);
    ok(hup, "kill --signal HUP");
    let mut rm = docker();
    rm.args(["rm", "-f", &names.container]);
    ok(rm, "rm");

    let mut sdk = Command::new("python3");
    sdk.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/sdk/learn_session.py"
    ));
    for var in support::SDK_ENV_OVERRIDES {
        sdk.env_remove(var);
    }
    sdk.env("DOCKGATE_PORT", host.rsplit(':').next().unwrap())
        .env("DOCKGATE_CERTS", pki.client_dir("dev"))
        .env("DOCKGATE_IMAGE", &names.image)
        .env("DOCKGATE_CONTAINER", &names.sdk)
        .stdin(Stdio::null());
    assert_eq!(ok(sdk, "the Python SDK").trim(), "sdk: ok");
}

/// Whether the Engine has a container of this name.
fn exists(name: &str) -> bool {
    let out = Command::new("/usr/local/bin/docker")
        .args([
            "-H",
            "unix:///var/run/docker.sock",
            "ps",
            "-a",
            "-q",
            "--filter",
        ])
        .arg(format!("name=^{name}$"))
        .output()
        .unwrap();
    !support::text(&out.stdout).trim().is_empty()
}

#[test]
fn a_session_recorded_in_audit_mode_passes_under_the_policy_learned_from_it() {
    let Some(socket) = support::real_engine() else {
        return;
    };
    if !support::python_sdk_installed("the learning session test") {
        return;
    }
    let pki = Pki::new(&["dev"]);
    let names = Names::new();
    let strict_body = "[clients.dev]\npolicies = [\"ping\"]\nmode = \"audit\"\n\n[policies.ping]\nallow = [\"HEAD /_ping\", \"GET /_ping\"]\n";
    let strict = support::config_text(&pki, &socket, strict_body);

    // A week in audit mode, in a few seconds.
    let mut served = support::process::serve(&strict);
    session(
        &format!("tcp://localhost:{}", served.addr.port()),
        &pki,
        &names,
    );
    let (_, log_text) = served.stop();
    drop(served);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    std::fs::write(&log, &log_text).unwrap();
    let would_deny = log_text
        .lines()
        .filter(|l| l.contains("decision=\"would_deny\""))
        .count();
    assert!(
        would_deny >= 10,
        "the session was refused by the strict policy: {would_deny} lines\n{log_text}"
    );
    assert!(
        log_text
            .lines()
            .any(|l| l.contains("decision=\"would_deny\"")
                && l.contains("/containers/create")
                && l.contains("grants=\"{ bind_mounts = [")),
        "the create's bind is in its grants field:\n{log_text}"
    );

    let out = dockgate(&["policy", "learn", "--client", "dev", "--log"], &[&log]);
    let learned = stdout(&out);
    assert!(out.status.success(), "{}", support::text(&out.stderr));
    assert_eq!(
        learned,
        stdout(&dockgate(
            &["policy", "learn", "--client", "dev", "--log"],
            &[&log]
        ))
    );
    for rule in [
        "\"POST /build\"",
        "\"POST /containers/create\"",
        "\"POST /containers/*/start\"",
        "\"POST /containers/*/exec\"",
        "\"POST /exec/*/start\"",
        "\"GET /containers/*/logs\"",
        "\"GET /containers/*/archive\"",
        "\"DELETE /containers/*\"",
        "\"GET /images/*/json\"",
        "\"POST /containers/*/kill?signal=HUP\"",
    ] {
        assert!(learned.contains(rule), "{rule} in\n{learned}");
    }
    let host_dir = names.host_dir.path().display().to_string();
    assert!(
        learned.contains(&format!("bind_mounts = [\n  \"{host_dir}\",")),
        "{learned}"
    );
    let rules = learned
        .lines()
        .filter(|l| l.starts_with("  \""))
        .map(|l| l.split('#').next().unwrap());
    assert!(
        rules.clone().all(|r| !r.contains("dgt-learn")),
        "names are generalised:\n{learned}"
    );
    assert!(
        !learned.contains("# not learned") && !learned.contains("not constrained"),
        "everything was learned:\n{learned}"
    );

    let strict_path = dir.path().join("strict.toml");
    std::fs::write(&strict_path, &strict).unwrap();
    let learned_config = support::config_text(&pki, &socket, &learned);
    let learned_path = dir.path().join("learned.toml");
    std::fs::write(&learned_path, &learned_config).unwrap();
    let diff = |config: &Path| {
        dockgate(
            &["policy", "diff", "--config"],
            &[config, Path::new("--log"), &log],
        )
    };
    let out = diff(&strict_path);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("POST /containers/create: "),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("enforce mode would DENY (403)"),
        "{}",
        stdout(&out)
    );
    let out = diff(&learned_path);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("client \"dev\": allows all"),
        "{}",
        stdout(&out)
    );

    // Enforce mode, with the learned policy: the same session passes...
    let mut served = support::process::serve(&learned_config);
    let host = format!("tcp://localhost:{}", served.addr.port());
    session(&host, &pki, &names);
    // ...and what it never did is refused before the Engine sees it.
    let docker = || support::docker_at("/usr/local/bin/docker", &host, &pki, "dev");
    let mut privileged = docker();
    privileged.args([
        "run",
        "--rm",
        "--privileged",
        "--name",
        &names.refused[0],
        &names.image,
        "true",
    ]);
    let mut rootfs = docker();
    rootfs.args([
        "run",
        "--rm",
        "-v",
        "/:/host",
        "--name",
        &names.refused[1],
        &names.image,
        "true",
    ]);
    for (cmd, name, why) in [
        (privileged, &names.refused[0], "HostConfig.Privileged"),
        (rootfs, &names.refused[1], "HostConfig.Binds (/)"),
    ] {
        let out = support::run(cmd, Duration::from_secs(60));
        let stderr = support::text(&out.stderr);
        assert!(!out.status.success(), "{name} ran");
        assert!(
            stderr.contains("dockgate: client \"dev\" may not POST"),
            "{stderr}"
        );
        assert!(stderr.contains(why), "{stderr}");
        assert!(!exists(name), "{name} reached the Engine");
    }
    // A kill without a signal is a SIGKILL, which the session never sent.
    let direct = ["-H", "unix:///var/run/docker.sock"];
    let mut victim = Command::new("/usr/local/bin/docker");
    victim
        .args(direct)
        .args(["run", "-d", "--name", &names.victim, &names.image])
        .args(["sleep", "300"]);
    ok(victim, "the victim, directly on the Engine");
    let mut sigkill = docker();
    sigkill.args(["kill", &names.victim]);
    let out = support::run(sigkill, Duration::from_secs(60));
    let stderr = support::text(&out.stderr);
    assert!(!out.status.success(), "the SIGKILL was sent");
    assert!(
        stderr.contains("dockgate: client \"dev\" may not POST")
            && stderr.contains("signal is absent"),
        "{stderr}"
    );
    let mut running = Command::new("/usr/local/bin/docker");
    running
        .args(direct)
        .args(["inspect", "-f", "{{.State.Running}}", &names.victim]);
    assert_eq!(
        ok(running, "inspect").trim(),
        "true",
        "the kill reached the Engine"
    );
    let (_, log_text) = served.stop();
    assert!(!log_text.contains("would_deny"), "enforce mode: {log_text}");
    assert_eq!(
        log_text
            .lines()
            .filter(|l| l.contains("decision=\"deny\""))
            .count(),
        3,
        "only the two refused creates and the SIGKILL: {log_text}"
    );
}
