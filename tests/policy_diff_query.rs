//! `policy diff` and `explain --from-log` on query-constrained rules: a
//! served gateway logs a client in audit mode sending kills with and
//! without signals and a build with a secret build argument; a config
//! written afterwards, whose rule allows only `kill?signal=HUP|SIGHUP`, is
//! judged against that log. The log keeps the signal (and nothing of the
//! build's query), so exactly the kills the rule refuses are reported, and
//! a rule on a query key the log does not keep is reported as one that
//! cannot be judged, in both log layouts.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use support::fake_engine::FakeEngine;
use support::Pki;

/// The week in audit mode: every kill and build is allowed.
const AUDITED: &str = r#"
[clients.ops]
policies = ["ops"]
mode = "audit"

[policies.ops]
allow = ["POST /containers/*/kill", "POST /build"]
"#;

/// Written after the log: reloads only.
const RELOAD_ONLY: &str = r#"
[clients.ops]
policies = ["reload"]

[policies.reload]
allow = ["POST /containers/*/kill?signal=HUP|SIGHUP", "POST /build"]
"#;

/// A constraint on a key the gateway does not log on that route, next to
/// one it logs.
const WITH_UNLOGGED_KEY: &str = r#"
[clients.ops]
policies = ["ops"]

[policies.ops]
allow = ["POST /containers/*/kill?signal=HUP&foo=1", "POST /containers/*/kill?signal=TERM"]
"#;

/// A constraint on a key the gateway does not log on that route.
const TAGGED_BUILDS: &str = r#"
[clients.ops]
policies = ["ops"]

[policies.ops]
allow = ["POST /containers/*/kill", "POST /build?t=app"]
"#;

const SECRET: &str = "s3cret-token-4b1d";

fn dockgate(args: &[&str], paths: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dockgate"))
        .args(args)
        .args(paths)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    support::text(&out.stdout)
}

/// Serves `AUDITED` with `[log] format` (`None`: the default, text), sends
/// the requests, and returns the log it wrote.
fn record(pki: &Pki, engine: &FakeEngine, format: Option<&str>) -> String {
    let log = format.map_or(String::new(), |f| format!("[log]\nformat = \"{f}\"\n"));
    let config = support::config_text(pki, engine.path(), &format!("{log}{AUDITED}"));
    let mut served = support::process::serve(&config);
    let buildargs = format!("%7B%22TOKEN%22%3A%22{SECRET}%22%7D");
    let build = format!("/v1.41/build?t=app&buildargs={buildargs}");
    for target in [
        "/v1.41/containers/web/kill?signal=HUP",
        "/v1.41/containers/web/kill?signal=KILL",
        "/v1.41/containers/web/kill",
        "/v1.41/containers/web/kill?signal=HUP&signal=KILL",
        &build,
    ] {
        let before = engine.request_count();
        let (status, answer) = support::request_at(served.addr, pki, "ops", "POST", target, "");
        assert!(
            status < 400,
            "audit mode forwards {target}: {status} {answer}"
        );
        let reached = engine.requests();
        assert_eq!(reached.len(), before + 1, "{target}");
        assert_eq!(reached.last().unwrap().target, target, "forwarded as sent");
    }
    let (_, text) = served.stop();
    text
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn diff_judges_logged_kills_by_their_signal_and_never_logs_build_arguments() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&["ops"]);
    let dir = tempfile::tempdir().unwrap();
    let reload_only = write(
        dir.path(),
        "reload.toml",
        &support::config_text(&pki, engine.path(), RELOAD_ONLY),
    );
    let tagged = write(
        dir.path(),
        "tagged.toml",
        &support::config_text(&pki, engine.path(), TAGGED_BUILDS),
    );
    for (format, field) in [(None, " query=\""), (Some("json"), "\"query\":\"")] {
        let text = record(&pki, &engine, format);
        let audit: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("dockgate::request::audit"))
            .collect();
        assert_eq!(audit.len(), 5, "{format:?}:\n{text}");
        // The build's query: not its secret, not any of it.
        assert!(
            !text.contains(SECRET),
            "{format:?}: the secret is logged:\n{text}"
        );
        assert!(!text.contains("buildargs"), "{format:?}:\n{text}");
        let kept: Vec<&str> = audit
            .iter()
            .map(|l| {
                let at = l.find(field).expect(field) + field.len();
                &l[at..at + l[at..].find('"').unwrap()]
            })
            .collect();
        assert_eq!(
            kept,
            [
                "signal=HUP",
                "signal=KILL",
                "",
                "signal=HUP&signal=KILL",
                ""
            ],
            "{format:?}"
        );
        let log = write(dir.path(), "audit.log", &text);

        let out = dockgate(
            &["policy", "diff", "--config"],
            &[&reload_only, Path::new("--log"), &log],
        );
        let report = stdout(&out);
        assert_eq!(out.status.code(), Some(1), "{report}");
        for part in [
            "client \"ops\": refuses 3 of 5 logged requests\n",
            "POST /v1.41/containers/web/kill?signal=KILL",
            "signal is \"KILL\"; the rule allows HUP or SIGHUP",
            "signal is absent, so the Engine's default applies",
            "POST /v1.41/containers/web/kill?signal=HUP&signal=KILL",
            "DENY (400)",
            "signal is repeated (the Engine could read it otherwise)",
        ] {
            assert!(report.contains(part), "{format:?}: {part:?} in\n{report}");
        }
        let refused = report
            .lines()
            .filter(|l| l.starts_with("  POST /containers/*/kill:"))
            .count();
        assert_eq!(refused, 3, "{format:?}:\n{report}");
        assert!(
            !report.contains("kill?signal=HUP ")
                && !report.contains("kill?signal=HUP (")
                && !report.contains("/build"),
            "the HUP kill and the build are allowed:\n{report}"
        );

        // `t` on a build is not logged: the diff says so, and refuses nothing.
        let out = dockgate(
            &["policy", "diff", "--config"],
            &[&tagged, Path::new("--log"), &log],
        );
        let report = stdout(&out);
        assert_eq!(out.status.code(), Some(1), "{report}");
        for part in [
            "client \"ops\": allows 4 of 5 logged requests, and cannot judge 1\n",
            "  cannot judge POST /build: 1 request",
            "cannot judge: the log did not record query key \"t\"",
            "which rule \"POST /build?t=app\" of policy \"ops\" constrains",
        ] {
            assert!(report.contains(part), "{format:?}: {part:?} in\n{report}");
        }
        assert!(!report.contains("refuses"), "{report}");

        // A rule on `signal` and an unlogged key: the HUP kill may have
        // matched it or not; the other kills fail it on `signal` alone and
        // are judged (and refused) as ever, as is the build no rule allows.
        let unlogged = write(
            dir.path(),
            "unlogged.toml",
            &support::config_text(&pki, engine.path(), WITH_UNLOGGED_KEY),
        );
        let out = dockgate(
            &["policy", "diff", "--config"],
            &[&unlogged, Path::new("--log"), &log],
        );
        let report = stdout(&out);
        assert_eq!(out.status.code(), Some(1), "{report}");
        for part in [
            "client \"ops\": refuses 4 of 5 logged requests, and cannot judge 1\n",
            "  cannot judge POST /containers/*/kill: 1 request, first ",
            " POST /v1.41/containers/web/kill?signal=HUP (",
            "cannot judge: the log did not record query key \"foo\" (audit lines keep only signal on ContainerKill), which rule",
            "signal is \"KILL\"; the rule allows HUP)",
            "DENY (400)",
        ] {
            assert!(report.contains(part), "{format:?}: {part:?} in\n{report}");
        }

        // One line at a time.
        let explain = |line: usize| {
            let number = line.to_string();
            dockgate(
                &["explain", "--config"],
                &[
                    &reload_only,
                    Path::new("--from-log"),
                    &log,
                    Path::new("--line"),
                    Path::new(&number),
                ],
            )
        };
        let number = |target: &str| {
            1 + text
                .lines()
                .position(|l| l.contains("dockgate::request::audit") && l.contains(target))
                .unwrap()
        };
        let out = explain(number("signal=HUP\""));
        let said = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{said}");
        assert!(
            said.contains("ops: POST /v1.41/containers/web/kill?signal=HUP\n")
                && said.contains("ALLOW by policy \"reload\", rule \"POST /containers/*/kill?signal=HUP|SIGHUP\""),
            "{said}"
        );
        let out = explain(number("signal=KILL\""));
        let said = stdout(&out);
        assert_eq!(out.status.code(), Some(1), "{said}");
        assert!(said.contains("DENY (403)"), "{said}");
    }
}

#[test]
fn a_line_from_before_the_query_field_is_not_judged_on_a_constrained_rule() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&["ops"]);
    let dir = tempfile::tempdir().unwrap();
    let reload_only = write(
        dir.path(),
        "reload.toml",
        &support::config_text(&pki, engine.path(), RELOAD_ONLY),
    );
    let old = r#"2026-11-22T23:23:24.530243Z  INFO dockgate::request::audit: request client="ops" tenant="" serial="0a" method="POST" path="/v1.41/containers/web/kill" decision="allow" policy="ops" rule="POST /containers/*/kill" reason="" detail="" grants="" peer=127.0.0.1:4 status=204"#;
    let out = dockgate(
        &["explain", "--config"],
        &[&reload_only, Path::new("--from-log"), Path::new(old)],
    );
    let said = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("cannot judge: the log did not record query key \"signal\" (the line predates the query field), which rule \"POST /containers/*/kill?signal=HUP|SIGHUP\" of policy \"reload\" constrains"),
        "{said}"
    );
    let log = write(dir.path(), "old.log", &format!("{old}\n"));
    let out = dockgate(
        &["policy", "diff", "--config"],
        &[&reload_only, Path::new("--log"), &log],
    );
    let report = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains("client \"ops\": allows 0 of 1 logged requests, and cannot judge 1"),
        "{report}"
    );
    // A line without the field on an unconstrained rule is judged as before.
    let out = dockgate(
        &["policy", "diff", "--config"],
        &[
            &write(
                dir.path(),
                "open.toml",
                &support::config_text(&pki, engine.path(), AUDITED),
            ),
            Path::new("--log"),
            &log,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("allows all 1 logged requests"));
}
