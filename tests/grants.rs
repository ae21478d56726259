//! The grants the route table brought, against the real Engine: without
//! the grant a request is refused and nothing is created; with it the
//! Engine acts on the request, and what it did is visible.
//!
//! Swarm and checkpoint requests are chosen so that the Engine's answer
//! shows it reached the handler without changing the host: leaving a swarm
//! this Engine is not part of, and the checkpoint routes of an Engine that
//! does not run in experimental mode.

mod support;

use support::raw;
use support::{engine_get, real_engine, Gateway, Pki, RemoveContainers, TEST_IMAGE};

/// `plain` may call anything and is granted nothing; `trusted` may call
/// anything with the grants under test.
const POLICY: &str = r#"
[clients.plain]
policies = ["anything"]

[clients.trusted]
policies = ["anything-granted"]

[policies.anything]
allow = ["* /**"]

[policies.anything-granted]
allow = ["* /**"]

[policies.anything-granted.grants]
container_namespaces = ["links"]
swarm = true
checkpoints = true
unknown_routes = true
"#;

fn request(method: &str, target: &str, body: &str) -> Vec<u8> {
    format!(
        "{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn links_need_their_grant_and_then_link() {
    let Some(socket) = real_engine() else { return };
    let pki = Pki::new(&["plain", "trusted"]);
    let gateway = Gateway::start(&pki, &socket, POLICY);
    let id = std::process::id();
    let (db, web, refused_web) = (
        format!("dggrant-db-{id}"),
        format!("dggrant-web-{id}"),
        format!("dggrant-refused-{id}"),
    );
    let _cleanup = RemoveContainers(vec![db.clone(), web.clone(), refused_web.clone()]);
    let create = |client: &str, name: &str, body: String| {
        raw::exchange(
            gateway.addr,
            &pki,
            client,
            &request("POST", &format!("/containers/create?name={name}"), &body),
        )
    };
    let made = create(
        "plain",
        &db,
        format!(r#"{{"Image":"{TEST_IMAGE}","Cmd":["sleep","60"]}}"#),
    );
    assert_eq!(raw::status(&made), 201, "{made}");
    let linked = format!(
        r#"{{"Image":"{TEST_IMAGE}","Cmd":["true"],"HostConfig":{{"Links":["{db}:alias"]}}}}"#
    );

    let refused = create("plain", &refused_web, linked.clone());
    assert_eq!(raw::status(&refused), 403, "{refused}");
    assert!(refused.contains("HostConfig.Links"), "{refused}");
    assert!(refused.contains("links"), "{refused}");
    let absent = engine_get(&socket, &format!("/containers/{refused_web}/json"));
    assert!(absent.starts_with("HTTP/1.1 404"), "{absent}");

    let allowed = create("trusted", &web, linked);
    assert_eq!(raw::status(&allowed), 201, "{allowed}");
    let state = engine_get(&socket, &format!("/containers/{web}/json"));
    assert!(
        state.contains(&format!("/{db}:/{web}/alias")),
        "the Engine linked the containers: {state}"
    );
}

#[test]
fn swarm_checkpoint_and_unknown_routes_reach_the_engine_only_when_granted() {
    let Some(socket) = real_engine() else { return };
    let pki = Pki::new(&["plain", "trusted"]);
    let gateway = Gateway::start(&pki, &socket, POLICY);
    let cases = [
        // (method, target, the grant named in the refusal, what the Engine answers)
        (
            "POST",
            "/swarm/leave",
            "swarm = true",
            "not part of a swarm",
        ),
        (
            "GET",
            "/containers/nope/checkpoints",
            "checkpoints = true",
            "experimental",
        ),
        ("GET", "/nope", "unknown_routes = true", "page not found"),
    ];
    for (method, target, grant, engine_says) in cases {
        let refused = raw::exchange(gateway.addr, &pki, "plain", &request(method, target, ""));
        assert_eq!(raw::status(&refused), 403, "{method} {target}: {refused}");
        assert!(refused.contains(grant), "{method} {target}: {refused}");
        assert!(
            refused.contains("dockgate"),
            "{method} {target}: the refusal is dockgate's: {refused}"
        );
        let forwarded = raw::exchange(gateway.addr, &pki, "trusted", &request(method, target, ""));
        assert!(
            forwarded.contains(engine_says),
            "{method} {target}: the Engine answered: {forwarded}"
        );
    }
}
