//! Policy rules that constrain query parameters, at the socket: a kill is
//! allowed only with the signal the rule names, read exactly as the Engine
//! reads it. A query the rule does not match is refused with the rule and
//! what it asked for; one the Engine could read otherwise (a repeated or
//! encoded `signal`, `;`, a bad escape) is refused in every mode. Nothing
//! refused reaches the Engine, and what passes is forwarded as sent.

mod support;

use std::time::Duration;

use support::fake_engine::FakeEngine;
use support::{gateway_request, Gateway, Pki};

const RULE: &str = "POST /containers/*/kill?signal=HUP|SIGHUP";

const CONFIG: &str = r#"
[clients.reloader]
policies = ["reload"]

[clients.learner]
policies = ["reload"]
mode = "audit"

[policies.reload]
allow = ["HEAD /_ping", "GET /_ping", "POST /containers/*/kill?signal=HUP|SIGHUP"]
"#;

/// Queries the rule allows: forwarded exactly as sent.
const ALLOWED: &[&str] = &[
    "signal=HUP",
    "signal=SIGHUP",
    // Parameters the rule does not name stay unconstrained.
    "t=1&signal=HUP",
    // The Engine reads only `signal`; `Signal` is another key to Go.
    "signal=HUP&Signal=KILL",
];

/// Queries that read one way and do not match: refused 403 (and, in audit
/// mode, forwarded as would_deny), with what the rule asked for.
const MISMATCHED: &[(Option<&str>, &str)] = &[
    (
        Some("signal=KILL"),
        r#"signal is \"KILL\"; the rule allows HUP or SIGHUP"#,
    ),
    // The Engine takes any case and numbers; the rule lists its spellings.
    (Some("signal=hup"), r#"signal is \"hup\""#),
    (Some("signal=1"), r#"signal is \"1\""#),
    // Absent: the Engine's default, SIGKILL.
    (None, "signal is absent, so the Engine's default applies"),
    (Some("t=1"), "signal is absent"),
    (Some("Signal=HUP"), "signal is absent"),
    (Some("signal="), "signal is empty"),
    (Some("signal"), "signal is empty"),
];

/// Queries the Engine could read otherwise: refused 400 in every mode.
const UNREADABLE: &[(&str, &str)] = &[
    // Go's Form.Get takes the first of two; a proxy may take the last.
    ("signal=HUP&signal=KILL", "signal is repeated"),
    ("signal=KILL&signal=HUP", "signal is repeated"),
    ("signal=HUP;signal=KILL", "';'"),
    ("sig%6Eal=HUP", "percent escape or '+'"),
    ("signal=HUP&sig%6Eal=KILL", "signal is repeated"),
    ("signal=%53IGHUP", "percent escape or '+'"),
    ("signal=HUP%00", "percent escape or '+'"),
    ("signal=+HUP", "percent escape or '+'"),
    ("signal=%", "bad percent escape"),
    ("signal=HUP&x=%zz", "bad percent escape"),
];

fn target(query: Option<&str>) -> String {
    match query {
        Some(q) => format!("/v1.41/containers/web/kill?{q}"),
        None => "/v1.41/containers/web/kill".to_owned(),
    }
}

#[test]
fn an_allowed_signal_is_forwarded_with_the_query_as_sent() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&["reloader"]);
    let gateway = Gateway::start(&pki, engine.path(), CONFIG);
    for query in ALLOWED {
        let target = target(Some(query));
        let before = engine.request_count();
        let (status, answer) = gateway_request(&gateway, &pki, "reloader", "POST", &target, "");
        assert_ne!(status, 403, "{target}: {answer}");
        assert_ne!(status, 400, "{target}: {answer}");
        let requests = engine.requests();
        assert_eq!(
            requests.len(),
            before + 1,
            "{target} reached the Engine once"
        );
        let got = requests.last().unwrap();
        assert_eq!(
            (got.method.as_str(), got.target.as_str()),
            ("POST", &*target)
        );
    }
}

#[test]
fn another_signal_or_none_is_refused_naming_the_rule() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&["reloader"]);
    let gateway = Gateway::start(&pki, engine.path(), CONFIG);
    for &(query, why) in MISMATCHED {
        let target = target(query);
        let before = engine.request_count();
        let (status, answer) = gateway_request(&gateway, &pki, "reloader", "POST", &target, "");
        assert_eq!(status, 403, "{target}: {answer}");
        for part in [
            "dockgate: client \\\"reloader\\\" may not POST /v1.41/containers/web/kill",
            &format!(
                "rule \\\"{RULE}\\\" of policy \\\"reload\\\" matches but for its query constraint"
            ),
            why,
        ] {
            assert!(answer.contains(part), "{target}: {part} in {answer}");
        }
        assert_eq!(
            engine.request_count(),
            before,
            "{target}: nothing reached the Engine"
        );
    }
}

#[test]
fn a_query_the_engine_could_read_otherwise_is_refused_in_every_mode() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&["reloader", "learner"]);
    let gateway = Gateway::start(&pki, engine.path(), CONFIG);
    for &(query, why) in UNREADABLE {
        let target = target(Some(query));
        for client in ["reloader", "learner"] {
            let before = engine.request_count();
            let (status, answer) = gateway_request(&gateway, &pki, client, "POST", &target, "");
            assert_eq!(status, 400, "{client} {target}: {answer}");
            for part in [
                "dockgate refused the request",
                &format!("rule \\\"{RULE}\\\" of policy \\\"reload\\\" cannot judge the query"),
                why,
            ] {
                assert!(
                    answer.contains(part),
                    "{client} {target}: {part} in {answer}"
                );
            }
            assert_eq!(
                engine.request_count(),
                before,
                "{client} {target}: nothing reached the Engine"
            );
        }
    }
}

#[test]
fn audit_mode_forwards_a_mismatch_as_would_deny_and_names_the_rule() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&["learner", "reloader"]);
    let served = support::process::serve(&support::config_text(&pki, engine.path(), CONFIG));
    let send = |client: &str, target: &str| {
        let mut conn =
            support::raw::Conn::open(served.addr, support::raw::client_config(&pki, Some(client)))
                .unwrap();
        conn.send(format!("POST {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").as_bytes())
            .unwrap();
        support::parse_response(conn.read_to_close().as_bytes()).0
    };
    for &(query, _) in MISMATCHED {
        let target = target(query);
        let before = engine.request_count();
        assert_ne!(send("learner", &target), 403, "{target}");
        assert_eq!(engine.request_count(), before + 1, "{target} was forwarded");
    }
    let before = engine.request_count();
    assert_ne!(send("reloader", "/containers/db/kill?signal=SIGHUP"), 403);
    assert_eq!(engine.request_count(), before + 1);

    let line = |path: &str| {
        served
            .log()
            .lines()
            .find(|l| l.contains("dockgate::request::audit") && l.contains(path))
            .map(str::to_owned)
    };
    support::eventually("the audit lines", || {
        line("/containers/db/kill").is_some() && line("/v1.41/containers/web/kill").is_some()
    });
    let allowed = line("/containers/db/kill").unwrap();
    for field in [
        r#"client="reloader""#,
        r#"decision="allow""#,
        &format!(r#"rule="{RULE}""#),
    ] {
        assert!(allowed.contains(field), "{field} in {allowed}");
    }
    let would_deny = line("/v1.41/containers/web/kill").unwrap();
    for field in [
        r#"client="learner""#,
        r#"decision="would_deny""#,
        r#"reason="no_rule""#,
        "matches but for its query constraint",
    ] {
        assert!(would_deny.contains(field), "{field} in {would_deny}");
    }
}

#[test]
fn explain_shows_the_constraint_and_why_it_missed() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&["reloader"]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dockgate.toml");
    std::fs::write(&config, support::config_text(&pki, engine.path(), CONFIG)).unwrap();
    let explain = |target: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_dockgate"))
            .args(["explain", "--config"])
            .arg(&config)
            .args(["--client", "reloader", "POST", target])
            .output()
            .unwrap();
        (out.status.code(), support::text(&out.stdout))
    };
    let (code, text) = explain("/containers/web/kill?signal=HUP");
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(&format!("ALLOW by policy \"reload\", rule {RULE:?}")),
        "{text}"
    );
    let (code, text) = explain("/containers/web/kill?signal=KILL");
    assert_eq!(code, Some(1), "{text}");
    for part in [
        &format!("policy \"reload\": rule {RULE:?} matches the method and path, but not the query: signal is \"KILL\""),
        "DENY (403)",
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }
    let (code, text) = explain("/containers/web/kill?signal=HUP&signal=KILL");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("DENY (400)"), "{text}");
    assert!(text.contains("signal is repeated"), "{text}");
}

/// A container whose shell echoes the signals it traps, started on the
/// Engine directly; through dockgate the docker CLI may only HUP it.
#[test]
fn the_docker_cli_may_hup_but_not_kill_through_a_query_rule() {
    let Some(socket) = support::real_engine() else {
        return;
    };
    let pki = Pki::new(&["reloader"]);
    let gateway = Gateway::start(&pki, &socket, CONFIG);
    let name = format!("dgt-query-{}", std::process::id());
    let _cleanup = support::RemoveContainers(vec![name.clone()]);
    let direct = |args: &[&str]| {
        let mut cmd = std::process::Command::new("/usr/local/bin/docker");
        cmd.args(["-H", "unix:///var/run/docker.sock"]).args(args);
        let out = support::run(cmd, Duration::from_secs(60));
        assert!(
            out.status.success(),
            "{args:?}: {}",
            support::text(&out.stderr)
        );
        support::text(&out.stdout)
    };
    direct(&[
        "run",
        "-d",
        "--name",
        &name,
        support::TEST_IMAGE,
        "sh",
        "-c",
        "trap 'echo got-HUP' HUP; echo ready; while true; do sleep 1 & wait; done",
    ]);
    support::eventually("the container traps signals", || {
        direct(&["logs", &name]).contains("ready")
    });
    for (i, cli) in support::docker_clis().into_iter().enumerate() {
        let mut hup = support::docker(cli, &gateway, &pki, "reloader");
        hup.args(["kill", "--signal", "HUP", &name]);
        let out = support::run(hup, Duration::from_secs(60));
        assert!(
            out.status.success(),
            "{cli}: {}{}",
            support::text(&out.stdout),
            support::text(&out.stderr)
        );
        support::eventually("the container got HUP", || {
            direct(&["logs", &name]).matches("got-HUP").count() == i + 1
        });

        let mut kill = support::docker(cli, &gateway, &pki, "reloader");
        kill.args(["kill", &name]);
        let out = support::run(kill, Duration::from_secs(60));
        let stderr = support::text(&out.stderr);
        assert!(!out.status.success(), "{cli}: kill passed");
        for part in [
            "dockgate: client \"reloader\" may not POST",
            &format!("rule \"{RULE}\" of policy \"reload\" matches but for its query constraint"),
        ] {
            assert!(stderr.contains(part), "{cli}: {part} in {stderr}");
        }
        assert_eq!(
            direct(&["inspect", "--format", "{{.State.Running}}", &name]).trim(),
            "true",
            "{cli}: the container still runs"
        );
    }
}

#[test]
fn check_warns_of_constraints_that_never_decide_or_that_the_engine_does_not_read() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&["reloader"]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dockgate.toml");
    let body = r#"
[clients.reloader]
policies = ["reload"]

[policies.reload]
allow = ["* /containers/*/kill", "POST /containers/*/kill?signal=HUP", "POST /containers/*/restart?t",
         "POST /containers/*/kill?sig=HUP", "POST /containers/*/stop?t=10", "DELETE /containers/*?force=|0",
         "POST /containers/*/restart?signal=SIGINT", "POST /containers/*/stop?signal=|SIGINT"]
"#;
    std::fs::write(&config, support::config_text(&pki, engine.path(), body)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dockgate"))
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let text = support::text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for part in [
        r#"rule "POST /containers/*/kill?signal=HUP" never decides: the earlier rule "* /containers/*/kill" allows the same requests whatever their query"#,
        r#"in rule "POST /containers/*/restart?t" the last "?" is a glob wildcard"#,
        r#"rule "POST /containers/*/kill?sig=HUP" constrains "sig", which the Engine does not read on ContainerKill"#,
        r#"rule "POST /containers/*/restart?signal=SIGINT" asks for "signal", which the Engine reads on ContainerRestart only from API 1.42: an older Engine ignores it"#,
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }
    // Keys the Engine reads draw no warning.
    for rule in [
        "POST /containers/*/stop?t=10",
        "DELETE /containers/*?force=|0",
        // Absent is allowed: an Engine that ignores the key meets it.
        "POST /containers/*/stop?signal=|SIGINT",
    ] {
        assert!(!text.contains(rule), "{rule} in {text}");
    }
}

/// Why the tricks are refused: the real Engine acts on each of them, and
/// not always as a reader that takes the last value or leaves escapes
/// undecoded would think. Each is refused by dockgate, then sent to the
/// Engine directly, and the signal the container traps is counted.
#[test]
fn the_engine_acts_on_the_tricks_dockgate_refuses() {
    let Some(socket) = support::real_engine() else {
        return;
    };
    let pki = Pki::new(&["reloader"]);
    let gateway = Gateway::start(&pki, &socket, CONFIG);
    let name = format!("dgt-query-tricks-{}", std::process::id());
    let _cleanup = support::RemoveContainers(vec![name.clone()]);
    let docker = |args: &[&str]| {
        let mut cmd = std::process::Command::new("/usr/local/bin/docker");
        cmd.args(["-H", "unix:///var/run/docker.sock"]).args(args);
        let out = support::run(cmd, Duration::from_secs(60));
        assert!(
            out.status.success(),
            "{args:?}: {}",
            support::text(&out.stderr)
        );
        support::text(&out.stdout)
    };
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        support::TEST_IMAGE,
        "sh",
        "-c",
        "for s in HUP USR1 USR2; do trap \"echo got-$s\" $s; done; echo ready; while true; do sleep 1 & wait; done",
    ]);
    let got = || {
        let logs = docker(&["logs", &name]);
        ["HUP", "USR1", "USR2"].map(|s| logs.matches(&format!("got-{s}\n")).count())
    };
    support::eventually("the container traps signals", || {
        docker(&["logs", &name]).contains("ready")
    });
    // (query, the Engine's status, the signal it sends: 0 HUP, 1 USR1, 2 USR2)
    let cases: &[(&str, u16, Option<usize>)] = &[
        ("signal=HUP&signal=USR1", 204, Some(0)),
        ("signal=USR1&signal=HUP", 204, Some(1)),
        ("sig%6Eal=USR2", 204, Some(2)),
        ("signal=%55SR1", 204, Some(1)),
        ("signal=HUP&sig%6Eal=USR2", 204, Some(0)),
        ("Signal=HUP&signal=USR2", 204, Some(2)),
        ("signal=hup", 204, Some(0)),
        ("signal=HUP;signal=USR1", 400, None),
        ("signal=+HUP", 400, None),
        ("signal=HUP%00", 400, None),
    ];
    let target = |q: &str| format!("/v1.41/containers/{name}/kill?{q}");
    let mut expected = [0; 3];
    for &(query, status, signal) in cases {
        let (refused, answer) =
            gateway_request(&gateway, &pki, "reloader", "POST", &target(query), "");
        assert!(matches!(refused, 400 | 403), "{query}: {answer}");
        assert_eq!(got(), expected, "{query}: dockgate let no signal through");

        let (answered, body) = support::engine_request(&socket, "POST", &target(query), "");
        assert_eq!(answered, status, "{query}: the Engine answered {body}");
        if let Some(signal) = signal {
            expected[signal] += 1;
        }
        support::eventually(&format!("{query}: the Engine's signal arrived"), || {
            got() == expected
        });
    }
}

/// Stop and restart read `signal` only from API 1.42 (Engine 23.0): a
/// request that names an older API version stops with the container's own
/// signal whatever its query says, so it cannot meet a rule that asks for
/// one. Nothing of it reaches the Engine; the same request at 1.42 or
/// later, or without a version, is forwarded as sent.
#[test]
fn a_signal_the_engine_does_not_read_at_the_requests_version_meets_no_constraint() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&["stopper"]);
    let body = r#"
[clients.stopper]
policies = ["gentle"]

[policies.gentle]
allow = ["POST /containers/*/stop?signal=SIGINT", "POST /containers/*/restart?signal=SIGINT",
         "POST /containers/*/kill?signal=SIGINT", "POST /containers/*/wait?condition=next-exit"]
"#;
    let gateway = Gateway::start(&pki, engine.path(), body);
    for target in [
        "/v1.41/containers/web/stop?signal=SIGINT",
        "/v1.24/containers/web/stop?signal=SIGINT",
        "/v1.41/containers/web/restart?signal=SIGINT",
        // Go compares each part as a number: 041 is 41.
        "/v1.041/containers/web/stop?signal=SIGINT",
        "/v1.4/containers/web/restart?signal=SIGINT",
        // Wait reads `condition` from 1.30.
        "/v1.29/containers/web/wait?condition=next-exit",
    ] {
        let absent = if target.contains("wait") {
            "condition is absent"
        } else {
            "signal is absent"
        };
        let before = engine.request_count();
        let (status, answer) = gateway_request(&gateway, &pki, "stopper", "POST", target, "");
        assert_eq!(status, 403, "{target}: {answer}");
        assert!(answer.contains(absent), "{target}: {answer}");
        assert_eq!(
            engine.request_count(),
            before,
            "{target} reached the Engine"
        );
    }
    for target in [
        "/v1.42/containers/web/stop?signal=SIGINT",
        "/v1.43/containers/web/restart?signal=SIGINT",
        "/v1.42.0/containers/web/stop?signal=SIGINT",
        "/containers/web/stop?signal=SIGINT",
        // Kill has read `signal` in every version.
        "/v1.24/containers/web/kill?signal=SIGINT",
        "/v1.30/containers/web/wait?condition=next-exit",
    ] {
        let before = engine.request_count();
        let (status, answer) = gateway_request(&gateway, &pki, "stopper", "POST", target, "");
        assert_eq!(status, 200, "{target}: {answer}");
        assert_eq!(engine.request_count(), before + 1, "{target}");
        assert_eq!(engine.requests().last().unwrap().target, target);
    }
}

/// Why: this Engine (API 1.41) stops a container asked to stop with
/// `signal=HUP`: the container never sees HUP, and stops.
#[test]
fn the_engine_ignores_a_stop_signal_before_api_1_42() {
    let Some(socket) = support::real_engine() else {
        return;
    };
    let name = format!("dgt-query-stop-{}", std::process::id());
    let _cleanup = support::RemoveContainers(vec![name.clone()]);
    let docker = |args: &[&str]| {
        let mut cmd = std::process::Command::new("/usr/local/bin/docker");
        cmd.args(["-H", "unix:///var/run/docker.sock"]).args(args);
        let out = support::run(cmd, Duration::from_secs(60));
        assert!(
            out.status.success(),
            "{args:?}: {}",
            support::text(&out.stderr)
        );
        support::text(&out.stdout)
    };
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        support::TEST_IMAGE,
        "sh",
        "-c",
        "trap 'echo got-HUP' HUP; echo ready; while true; do sleep 1 & wait; done",
    ]);
    support::eventually("the container traps HUP", || {
        docker(&["logs", &name]).contains("ready")
    });
    let target = format!("/v1.41/containers/{name}/stop?signal=HUP&t=1");
    let (status, body) = support::engine_request(&socket, "POST", &target, "");
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.Running}}", &name]).trim(),
        "false"
    );
    assert!(!docker(&["logs", &name]).contains("got-HUP"));
}
