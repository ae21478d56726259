//! Audit mode: a client with `mode = "audit"` has every request judged as
//! in enforce mode, and what its policies would refuse is forwarded and
//! logged as `would_deny` with the refusal it would have had. What dockgate
//! cannot judge, and tenant confinement, are enforced all the same: those
//! requests never reach the Engine. (Its own binary: the metrics are
//! process-wide.)

mod support;

use support::fake_engine::FakeEngine;
use support::{gateway_request, Gateway, Pki};

const CONFIG: &str = r#"
[clients.learner]
policies = ["ping"]
mode = "audit"

[clients.strict]
policies = ["ping"]

[clients.grantless]
policies = ["create"]
mode = "audit"

[policies.ping]
allow = ["GET /_ping"]

[policies.create]
allow = ["POST /containers/create", "GET /no/**"]
"#;

/// With a tenant in use (then an unconfined create is marked as no
/// tenant's, so bodies are not compared here).
const WITH_TENANT: &str = r#"
[clients.learner]
policies = ["ping"]
mode = "audit"

[clients.confined]
policies = ["ping"]
mode = "audit"
tenant = "team-a"

[policies.ping]
allow = ["GET /_ping"]
"#;

/// Privileged, with a host bind: two grants the policy lacks.
const PRIVILEGED: &str = r#"{"Image":"x","HostConfig":{"Privileged":true,"Binds":["/:/host"]}}"#;

#[test]
fn what_the_policies_would_refuse_is_forwarded_and_counted_as_would_deny() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&["learner", "strict", "grantless"]);
    let gateway = Gateway::start(&pki, engine.path(), CONFIG);
    let cases: &[(&str, &str, &str)] = &[
        ("GET", "/v1.41/containers/json", ""),
        ("POST", "/v1.41/containers/create", PRIVILEGED),
        ("GET", "/v1.41/no/such/route", ""),
    ];
    for &(method, target, body) in cases {
        let before = engine.request_count();
        let (status, answer) = gateway_request(&gateway, &pki, "strict", method, target, body);
        assert_eq!(status, 403, "enforce mode refuses {target}: {answer}");
        assert_eq!(engine.request_count(), before, "nothing reached the Engine");

        let (status, answer) = gateway_request(&gateway, &pki, "learner", method, target, body);
        assert_eq!(status, 200, "audit mode forwards {target}: {answer}");
        let reached = engine.requests();
        assert_eq!(reached.len(), before + 1);
        let last = reached.last().unwrap();
        assert_eq!(
            (last.method.as_str(), last.target.as_str()),
            (method, target)
        );
        assert_eq!(last.body, body.as_bytes(), "the body exactly as sent");
    }
    // Allowed by a rule: the grants and the route table would refuse them.
    for (target, body) in [
        ("/v1.41/containers/create", PRIVILEGED),
        ("/v1.41/no/such/route", ""),
    ] {
        let method = if body.is_empty() { "GET" } else { "POST" };
        let before = engine.request_count();
        let (status, answer) = gateway_request(&gateway, &pki, "grantless", method, target, body);
        assert_eq!(status, 200, "{target}: {answer}");
        assert_eq!(engine.request_count(), before + 1);
    }
    let metrics = dockgate::run::metrics::render();
    for reason in ["body_rule", "unknown_route"] {
        let line = format!(
            r#"dockgate_requests_total{{client="grantless",decision="would_deny",reason="{reason}"}} 1"#
        );
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }
    // The unknown route is refused first for want of a rule.
    let line =
        r#"dockgate_requests_total{client="learner",decision="would_deny",reason="no_rule"} 3"#;
    assert!(metrics.contains(line), "{line} in\n{metrics}");
}

#[test]
fn what_cannot_be_judged_and_tenant_confinement_stay_enforced() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&["learner", "confined"]);
    let gateway = Gateway::start(&pki, engine.path(), WITH_TENANT);
    let cases: &[(&str, &str, &str, &str, u16)] = &[
        // Two keys the Engine folds to one field.
        (
            "learner",
            "POST",
            "/containers/create",
            r#"{"Image":"x","HostConfig":{"Privileged":false,"privileged":true}}"#,
            400,
        ),
        ("learner", "GET", "/containers/x%2Fjson", "", 400),
        ("learner", "GET", "/containers/%2e%2e/json", "", 400),
        // Another tenant's container, though the policy would refuse it anyway.
        (
            "confined",
            "POST",
            "/containers/owned-by-team-b--db/kill",
            "",
            404,
        ),
        // A route no tenant may use.
        ("confined", "POST", "/images/load", "", 403),
    ];
    for &(client, method, target, body, want) in cases {
        let before = engine.request_count();
        let (status, answer) = gateway_request(&gateway, &pki, client, method, target, body);
        assert_eq!(status, want, "{client} {method} {target}: {answer}");
        let questions: Vec<_> = engine.requests()[before..]
            .iter()
            .map(|r| format!("{} {}", r.method, r.target))
            .collect();
        assert!(
            questions
                .iter()
                .all(|q| q.starts_with("GET /containers/") && q.ends_with("/json")),
            "{target}: only ownership questions reached the Engine: {questions:?}"
        );
    }
}

#[test]
fn the_audit_line_says_would_deny_and_what_enforce_mode_would_answer() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&["learner"]);
    let served = support::process::serve(&support::config_text(&pki, engine.path(), CONFIG));
    let mut conn = support::raw::Conn::open(
        served.addr,
        support::raw::client_config(&pki, Some("learner")),
    )
    .unwrap();
    conn.send(
        format!(
            "POST /containers/create HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{PRIVILEGED}",
            PRIVILEGED.len()
        )
        .as_bytes(),
    )
    .unwrap();
    let (status, _) = support::parse_response(conn.read_to_close().as_bytes());
    assert_eq!(status, 200);
    let line = || {
        served
            .log()
            .lines()
            .find(|l| l.contains("dockgate::request::audit") && l.contains("/containers/create"))
            .map(str::to_owned)
    };
    support::eventually("the audit line", || line().is_some());
    let line = line().unwrap();
    for field in [
        r#"client="learner""#,
        r#"decision="would_deny""#,
        r#"reason="no_rule""#,
        "no rule in policies ping allows it",
        "status=200",
    ] {
        assert!(line.contains(field), "{field} in {line}");
    }
}

#[test]
fn explain_says_what_audit_mode_forwards() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&["learner"]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dockgate.toml");
    std::fs::write(&config, support::config_text(&pki, engine.path(), CONFIG)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dockgate"))
        .args(["explain", "--config"])
        .arg(&config)
        .args(["--client", "learner", "GET", "/containers/json"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("audit mode: enforce mode would refuse it"),
        "{text}"
    );
    assert!(
        text.contains("FORWARDED in audit mode; enforce mode would DENY (403)"),
        "{text}"
    );
}

#[test]
fn a_docker_cli_session_in_audit_mode_works_and_is_counted() {
    let Some(socket) = support::real_engine() else {
        return;
    };
    let pki = Pki::new(&["watched"]);
    let gateway = Gateway::start(
        &pki,
        &socket,
        r#"
[clients.watched]
policies = ["ping"]
mode = "audit"

[policies.ping]
allow = ["HEAD /_ping", "GET /_ping"]
"#,
    );
    for cli in support::docker_clis() {
        let name = format!("dgt-audit-{}", std::process::id());
        let _cleanup = support::RemoveContainers(vec![name.clone()]);
        let mut run = support::docker(cli, &gateway, &pki, "watched");
        run.args([
            "run",
            "--rm",
            "--name",
            &name,
            // A host bind: a grant the policy lacks.
            "-v",
            "/tmp:/hosttmp:ro",
            support::TEST_IMAGE,
            "echo",
            "audited",
        ]);
        let out = support::run(run, std::time::Duration::from_secs(120));
        assert!(
            out.status.success(),
            "{cli}: {}{}",
            support::text(&out.stdout),
            support::text(&out.stderr)
        );
        assert_eq!(support::text(&out.stdout).trim(), "audited");
    }
    let metrics = dockgate::run::metrics::render();
    assert!(
        metrics.contains(
            r#"dockgate_requests_total{client="watched",decision="would_deny",reason="no_rule"}"#
        ),
        "{metrics}"
    );
}
