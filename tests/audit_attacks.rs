//! Attacks on audit mode and on the marking of unconfined creates: a client
//! in audit mode has only refusals of what its policies allow forwarded, so
//! a request the Engine could read differently from dockgate must be refused
//! even when a policy refusal was found in it first; and an unconfined
//! client's create or build is marked as no tenant's unless it names one.

mod support;

use support::fake_engine::FakeEngine;
use support::{gateway_request, Gateway, Pki};

/// Without tenants, so that only the inspector judges bodies.
const UNTENANTED: &str = r#"
[clients.learner]
policies = ["builder"]
mode = "audit"

[clients.strict]
policies = ["builder"]

[policies.builder]
allow = ["POST /containers/create", "POST /build"]
"#;

const CONFIG: &str = r#"
[clients.confined]
policies = ["builder"]
mode = "audit"
tenant = "team-a"

[clients.deployer]
policies = ["builder"]

[policies.builder]
allow = ["POST /containers/create", "POST /build", "GET /no/**"]
"#;

/// Requests in which the inspector meets a policy refusal (a grant the
/// policy lacks, or a field it does not know) before an ambiguity the
/// Engine would resolve its own way.
const AMBIGUOUS_AFTER_A_REFUSAL: &[(&str, &str, &str)] = &[
    // Privileged is refused first; `Binds` and `binds` are one field to
    // the Engine, which keeps the last.
    (
        "POST",
        "/v1.41/containers/create",
        r#"{"Image":"x","HostConfig":{"Privileged":true,"Binds":["/srv:/srv"],"binds":["/:/host"]}}"#,
    ),
    // An unknown field is refused before the known ones are read.
    (
        "POST",
        "/v1.41/containers/create",
        r#"{"Image":"x","Foo":1,"HostConfig":{"Privileged":false,"privileged":true}}"#,
    ),
    // An unknown field, then a known field of a type Go will not decode.
    (
        "POST",
        "/v1.41/containers/create",
        r#"{"Image":"x","Foo":1,"HostConfig":{"Privileged":"yes"}}"#,
    ),
    // Host networking is refused first; the Engine reads the first of two
    // `cgroupparent` values.
    (
        "POST",
        "/v1.41/build?networkmode=host&cgroupparent=&cgroupparent=/x",
        "",
    ),
    // An unknown parameter, then a repeated one.
    (
        "POST",
        "/v1.41/build?foo=1&networkmode=bridge&networkmode=host",
        "",
    ),
];

#[test]
fn an_ambiguity_after_a_policy_refusal_is_refused_in_audit_mode() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&["learner", "strict"]);
    let gateway = Gateway::start(&pki, engine.path(), UNTENANTED);
    for &(method, target, body) in AMBIGUOUS_AFTER_A_REFUSAL {
        let before = engine.request_count();
        let (status, answer) = gateway_request(&gateway, &pki, "strict", method, target, body);
        assert_eq!(
            status, 403,
            "enforce mode refuses {target} {body}: {answer}"
        );
        assert_eq!(engine.request_count(), before, "nothing reached the Engine");

        let (status, answer) = gateway_request(&gateway, &pki, "learner", method, target, body);
        assert_eq!(status, 400, "audit mode refuses {target} {body}: {answer}");
        assert!(answer.contains("dockgate refused"), "{answer}");
        assert_eq!(
            engine.request_count(),
            before,
            "{target} {body}: nothing reached the Engine"
        );
    }
}

#[test]
fn a_policy_refusal_alone_is_still_forwarded_in_audit_mode() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&["learner"]);
    let gateway = Gateway::start(&pki, engine.path(), UNTENANTED);
    // The same requests without their ambiguity: audit mode forwards them.
    let cases: &[(&str, &str, &str)] = &[
        (
            "POST",
            "/v1.41/containers/create",
            r#"{"Image":"x","HostConfig":{"Privileged":true,"Binds":["/:/host"]}}"#,
        ),
        (
            "POST",
            "/v1.41/containers/create",
            r#"{"Image":"x","Foo":1,"HostConfig":{"Privileged":true}}"#,
        ),
        ("POST", "/v1.41/build?networkmode=host&cgroupparent=/x", ""),
        ("POST", "/v1.41/build?foo=1&networkmode=host", ""),
    ];
    for &(method, target, body) in cases {
        let before = engine.request_count();
        let (status, answer) = gateway_request(&gateway, &pki, "learner", method, target, body);
        assert_eq!(status, 200, "{target} {body}: {answer}");
        let reached = engine.requests();
        assert_eq!(reached.len(), before + 1);
        assert!(reached[before]
            .target
            .starts_with(target.split('?').next().unwrap()));
    }
}

#[test]
fn an_unknown_route_is_not_confinable_for_a_confined_client_in_audit_mode() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&["confined"]);
    let gateway = Gateway::start(&pki, engine.path(), CONFIG);
    // One allowed by a rule, one by none: both unknown to the route table.
    for target in ["/v1.41/no/such/route", "/v1.41/nor/this"] {
        let before = engine.request_count();
        let (status, answer) = gateway_request(&gateway, &pki, "confined", "GET", target, "");
        assert_eq!(status, 403, "{target}: {answer}");
        assert!(answer.contains("team-a"), "{answer}");
        assert_eq!(engine.request_count(), before, "nothing reached the Engine");
    }
}

/// The `Labels` the Engine received in a create body (the key as Go's
/// decoder matches it), and how many members name it.
fn received_labels(engine: &FakeEngine, at: usize) -> (serde_json::Value, usize) {
    let body: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&engine.requests()[at].body).unwrap();
    let mut named = body
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("labels"));
    let first = named.next().map(|(_, v)| v.clone()).unwrap_or_default();
    (first, 1 + named.count())
}

#[test]
fn an_unconfined_create_is_marked_whatever_shape_its_labels_have() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&["deployer"]);
    let gateway = Gateway::start(&pki, engine.path(), CONFIG);
    for body in [
        r#"{"Image":"x"}"#,
        r#"{"Image":"x","Labels":null}"#,
        r#"{"Image":"x","labels":null}"#,
        r#"{"Image":"x","Labels":{}}"#,
        r#"{"Image":"x","labels":{"a":"1"}}"#,
        // A key that only folds to the label is another label to Go's map.
        r#"{"Image":"x","Labels":{"Dockgate.Tenant":"team-a"}}"#,
    ] {
        for target in ["/v1.41/containers/create", "/v1.12/containers/create"] {
            let before = engine.request_count();
            let (status, answer) =
                gateway_request(&gateway, &pki, "deployer", "POST", target, body);
            assert_eq!(status, 200, "{target} {body}: {answer}");
            assert_eq!(engine.request_count(), before + 1);
            let (labels, members) = received_labels(&engine, before);
            assert_eq!(labels["dockgate.tenant"], "", "{body}: {labels}");
            assert_eq!(members, 1, "{body}: one Labels member reaches the Engine");
        }
    }
}

#[test]
fn an_unconfined_create_that_names_a_tenant_is_forwarded_as_sent() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&["deployer"]);
    let gateway = Gateway::start(&pki, engine.path(), CONFIG);
    // An unconfined client may name a tenant; a repeated key is read as
    // the Engine reads it (the last), which the client chose either way.
    for body in [
        r#"{"Image":"x","Labels":{"dockgate.tenant":"team-a"}}"#,
        r#"{"Image":"x","Labels":{"dockgate.tenant":"team-a","dockgate.tenant":""}}"#,
    ] {
        let before = engine.request_count();
        let (status, answer) = gateway_request(
            &gateway,
            &pki,
            "deployer",
            "POST",
            "/containers/create",
            body,
        );
        assert_eq!(status, 200, "{body}: {answer}");
        assert_eq!(engine.requests()[before].body, body.as_bytes());
    }
}

#[test]
fn an_unconfined_build_is_marked_unless_its_first_labels_name_a_tenant() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&["deployer"]);
    let gateway = Gateway::start(&pki, engine.path(), CONFIG);
    let marked = r#"labels=%7B%22dockgate.tenant%22%3A%22%22%7D"#;
    for query in ["", "t=x", "labels=", "labels=null", "labels=%7B%7D"] {
        let target = format!("/v1.41/build?{query}");
        let before = engine.request_count();
        let (status, answer) = gateway_request(&gateway, &pki, "deployer", "POST", &target, "");
        assert_eq!(status, 200, "{target}: {answer}");
        let reached = &engine.requests()[before];
        assert!(
            reached.target.contains(marked),
            "{target}: {}",
            reached.target
        );
    }
    // The Engine reads the first `labels`; a second one cannot carry the
    // tenant past the mark.
    let target = "/v1.41/build?labels=%7B%7D&labels=%7B%22dockgate.tenant%22%3A%22team-a%22%7D";
    let before = engine.request_count();
    let (status, answer) = gateway_request(&gateway, &pki, "deployer", "POST", target, "");
    assert!(
        status == 400 || engine.requests()[before].target.contains(marked),
        "{status} {answer}"
    );
    if status == 400 {
        assert_eq!(engine.request_count(), before, "nothing reached the Engine");
    }
}

#[test]
fn an_unconfined_create_asks_the_engine_nothing() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&["deployer"]);
    let gateway = Gateway::start(&pki, engine.path(), CONFIG);
    // Objects a confined client's create would have looked up.
    let body = r#"{"Image":"x","HostConfig":{"Binds":["data:/data"],"VolumesFrom":["other"],"NetworkMode":"container:other"},"NetworkingConfig":{"EndpointsConfig":{"backend":{}}}}"#;
    let before = engine.request_count();
    let (status, answer) = gateway_request(
        &gateway,
        &pki,
        "deployer",
        "POST",
        "/containers/create",
        body,
    );
    assert_eq!(status, 403, "{answer}");
    assert_eq!(engine.request_count(), before, "nothing reached the Engine");
    let body = r#"{"Image":"x","HostConfig":{"Binds":["data:/data"]},"NetworkingConfig":{"EndpointsConfig":{"backend":{}}}}"#;
    let (status, answer) = gateway_request(
        &gateway,
        &pki,
        "deployer",
        "POST",
        "/containers/create",
        body,
    );
    assert_eq!(status, 200, "{answer}");
    let reached: Vec<_> = engine.requests()[before..]
        .iter()
        .map(|r| format!("{} {}", r.method, r.target))
        .collect();
    assert_eq!(reached, ["POST /containers/create"], "only the create");
}
