//! Attacks on the judge's reading of request bodies that the Engine reads
//! differently, found by comparing what dockgate inspects with what Engine
//! 20.10 (API 1.41) does with the same request.
//!
//! Read-only binds: `read_only_bind_mounts` is documented to let a client
//! bind a host tree only when the Engine mounts it read-only. Engine 20.10
//! (and newer Engines, for any client that sends an API version below 1.44)
//! mounts a read-only bind recursively (`rbind`) and then remounts only the
//! top of it read-only: every mount below the granted path stays writable
//! in the container. The same holds for a local volume with `o=rbind,ro`.
//! Checked against the real Engine: with a tmpfs mounted on `DIR/sub`,
//! `-v DIR:/x:ro`, `Mounts: [{Type: bind, ReadOnly: true}]` and a volume
//! `o=rbind,ro` all refuse a write to `/x/top` and accept one to
//! `/x/sub/file`, which lands on the host. A read-only grant of `/` (or of
//! any tree holding `/proc`, `/run` or another mount) is then a writable
//! host. Each case asserts the refusal and that nothing reached the Engine.

mod support;

use support::fake_engine::FakeEngine;
use support::{raw, Gateway, Pki};

/// `reader` may call anything, and bind `/srv/ro` only read-only.
const CONFIG: &str = r#"
[clients.reader]
policies = ["read-host"]

[policies.read-host]
allow = ["* /**"]

[policies.read-host.grants]
read_only_bind_mounts = ["/srv/ro/**"]
"#;

fn post_json(target: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The JSON `message` of a dockgate refusal, if the response is one.
fn message(response: &str) -> String {
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[test]
fn read_only_grants_do_not_cover_binds_whose_submounts_stay_writable() {
    let pki = Pki::new(&["reader"]);
    let engine = FakeEngine::start();
    let gateway = Gateway::start(&pki, engine.path(), CONFIG);
    let cases: &[(&str, &str, &str)] = &[
        (
            "Binds :ro (rbind, top remounted read-only)",
            "/v1.41/containers/create",
            r#"{"Image":"x","HostConfig":{"Binds":["/srv/ro:/x:ro"]}}"#,
        ),
        (
            "Mounts ReadOnly bind",
            "/v1.41/containers/create",
            r#"{"Image":"x","HostConfig":{"Mounts":[{"Type":"bind","Source":"/srv/ro","Target":"/x","ReadOnly":true}]}}"#,
        ),
        (
            "Mounts ReadOnly bind below API 1.44 (non-recursive read-only on every Engine)",
            "/v1.43/containers/create",
            r#"{"Image":"x","HostConfig":{"Mounts":[{"Type":"bind","Source":"/srv/ro","Target":"/x","ReadOnly":true}]}}"#,
        ),
        (
            "legacy start body with Binds :ro",
            "/v1.23/containers/x/start",
            r#"{"HostConfig":{"Binds":["/srv/ro:/x:ro"]}}"#,
        ),
        (
            "local volume o=rbind,ro",
            "/v1.41/volumes/create",
            r#"{"Name":"v","Driver":"local","DriverOpts":{"type":"none","o":"rbind,ro","device":"/srv/ro"}}"#,
        ),
        (
            "volume Mounts entry with o=rbind,ro",
            "/v1.41/containers/create",
            r#"{"Image":"x","HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/x","VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"none","o":"rbind,ro","device":"/srv/ro"}}}}]}}"#,
        ),
    ];
    let mut failures = Vec::new();
    for (name, target, body) in cases {
        let before = engine.request_count();
        let response = raw::exchange(gateway.addr, &pki, "reader", &post_json(target, body));
        let reached = engine.requests().len() - before;
        let status = raw::status(&response);
        let message = message(&response);
        if status != 403 || !message.contains("/srv/ro") || reached != 0 {
            failures.push(format!(
                "{name}: status {status}, message {message:?}, {reached} request(s) reached the Engine"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} read-only binds passed on a read-only grant:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
