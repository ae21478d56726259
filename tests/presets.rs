//! The shipped presets against the software they are made for: each
//! client's own request sequence, in the order its source makes the calls
//! and with the queries it sends, goes through the gateway to the real
//! Engine and gets the Engine's answer; a request that would hand out the
//! host (a host bind mount, privileged mode, an exec for a read-only
//! preset) is refused with 403 and dockgate's message, and the fake
//! Engine shows that nothing of it arrived.
//!
//! The software that usually gets the Engine's socket mounted in (Traefik,
//! Homepage, the Prometheus exporter, Portainer, Watchtower) reaches the
//! gateway here as the README tells admins to set it up: on a unix socket
//! of its own. The runner and the admin's own Watchtower policy use TLS.

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::fake_engine::FakeEngine;
use support::tenant_world::{json, unique};
use support::{
    engine_request, gateway_request, real_engine, Gateway, Pki, RemoveContainers, TEST_IMAGE,
};

const CLIENTS: [&str; 8] = [
    "traefik",
    "homepage",
    "prometheus",
    "portainer-ro",
    "portainer",
    "watchtower",
    "gitlab-runner",
    "watchtower-managed",
];

/// The clients served on a unix socket of their own, in `sockets`.
const LOCAL: [&str; 6] = [
    "traefik",
    "homepage",
    "prometheus",
    "portainer-ro",
    "portainer",
    "watchtower",
];

/// Where `client`'s own socket is, if it has one.
fn local_socket(sockets: &Path, client: &str) -> Option<PathBuf> {
    LOCAL
        .contains(&client)
        .then(|| sockets.join(format!("{client}.sock")))
}

/// One request as `client`: on its own socket if it has one, else over TLS
/// with its certificate.
fn ask(
    gateway: &Gateway,
    pki: &Pki,
    sockets: &Path,
    client: &str,
    method: &str,
    target: &str,
    body: &str,
) -> (u16, String) {
    match local_socket(sockets, client) {
        Some(socket) => engine_request(&socket, method, target, body),
        None => gateway_request(gateway, pki, client, method, target, body),
    }
}

/// Each client named after its preset, the mounted-socket ones known by a
/// socket in `sockets`; `watchtower-managed` is the README's pattern for
/// containers with host mounts: a policy of the admin's, with the create
/// rule and its grants, listed before the preset.
fn config(managed: &str, sockets: &Path) -> String {
    let mut text = String::new();
    for client in &CLIENTS[..7] {
        text.push_str(&format!(
            "[clients.{client}]\npolicies = [\"preset:{client}\"]\n"
        ));
        if let Some(socket) = local_socket(sockets, client) {
            text.push_str(&format!("socket = \"{}\"\n", socket.display()));
        }
    }
    text.push_str(&format!(
        r#"[clients.watchtower-managed]
policies = ["managed-mounts", "preset:watchtower"]

[policies.managed-mounts]
allow = ["POST /containers/create"]

[policies.managed-mounts.grants]
bind_mounts = ["{managed}/**"]
host_namespaces = ["cgroupns"]
security_opt = true
"#
    ));
    text
}

/// The real Engine behind a gateway configured with every preset.
struct World {
    pki: Pki,
    gateway: Gateway,
    socket: std::path::PathBuf,
    /// Host folder the `watchtower-managed` client may bind-mount.
    managed: tempfile::TempDir,
    /// The folder of the clients' own sockets.
    sockets: tempfile::TempDir,
    made: RemoveContainers,
}

impl World {
    fn start() -> Option<World> {
        let socket = real_engine()?;
        let pki = Pki::new(&CLIENTS);
        let managed = tempfile::tempdir().unwrap();
        let sockets = tempfile::tempdir().unwrap();
        let gateway = Gateway::start(
            &pki,
            &socket,
            &config(&managed.path().display().to_string(), sockets.path()),
        );
        Some(World {
            pki,
            gateway,
            socket,
            managed,
            sockets,
            made: RemoveContainers(Vec::new()),
        })
    }

    /// One request as `client`; asserts the status and returns the body.
    fn call(&self, client: &str, method: &str, target: &str, body: &str, want: u16) -> String {
        let (status, answer) = ask(
            &self.gateway,
            &self.pki,
            self.sockets.path(),
            client,
            method,
            target,
            body,
        );
        assert_eq!(status, want, "{client}: {method} {target}: {answer}");
        answer
    }

    /// A request the Engine answers the same way whoever asks (a read):
    /// through the gateway, `client` gets exactly the Engine's status.
    fn same_as_engine(&self, client: &str, method: &str, target: &str) -> String {
        let (direct, _) = engine_request(&self.socket, method, target, "");
        assert_ne!(direct, 403, "{method} {target}");
        self.call(client, method, target, "", direct)
    }

    /// A running container made on the Engine's own socket, removed at the end.
    fn running(&mut self, what: &str, extra: &str) -> (String, String) {
        let name = unique(what);
        self.made.0.push(name.clone());
        let (status, answer) = engine_request(
            &self.socket,
            "POST",
            &format!("/containers/create?name={name}"),
            &format!(
                r#"{{"Image":"{TEST_IMAGE}","Cmd":["sleep","300"],"Labels":{{"dockgate.test":"presets"}}{extra}}}"#
            ),
        );
        assert_eq!(status, 201, "{answer}");
        let id = json(&answer)["Id"].as_str().unwrap().to_owned();
        let (status, answer) =
            engine_request(&self.socket, "POST", &format!("/containers/{id}/start"), "");
        assert_eq!(status, 204, "{answer}");
        (name, id)
    }

    fn running_state(&self, id: &str) -> Option<bool> {
        let (status, answer) =
            engine_request(&self.socket, "GET", &format!("/containers/{id}/json"), "");
        (status == 200).then(|| json(&answer)["State"]["Running"] == true)
    }
}

/// `{"type":{"container":true}}`, as the Go client encodes event filters.
const CONTAINER_EVENTS: &str = "%7B%22type%22%3A%7B%22container%22%3Atrue%7D%7D";

/// `since` and `until` one second apart end the event stream at once; the
/// clients follow it, which the gateway forwards the same way.
fn bounded_events(filters: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!("/events?filters={filters}&since={}&until={now}", now - 1)
}

#[test]
fn traefik_discovers_containers_and_watches_their_events() {
    let Some(mut w) = World::start() else { return };
    let (_, id) = w.running("traefik-app", "");
    // pdocker.go: ServerVersion, then listContainers (All), then one
    // inspect per container, then the event stream; API pinned to 1.24.
    let version = w.call("traefik", "GET", "/v1.24/version", "", 200);
    assert!(json(&version)["ApiVersion"].is_string(), "{version}");
    let list = w.call("traefik", "GET", "/v1.24/containers/json?all=1", "", 200);
    assert!(list.contains(&id), "{list}");
    let inspect = w.call(
        "traefik",
        "GET",
        &format!("/v1.24/containers/{id}/json"),
        "",
        200,
    );
    assert_eq!(
        json(&inspect)["Config"]["Labels"]["dockgate.test"],
        "presets"
    );
    w.call(
        "traefik",
        "GET",
        &format!("/v1.24{}", bounded_events(CONTAINER_EVENTS)),
        "",
        200,
    );
    // Reading is all it does.
    let refused = w.call(
        "traefik",
        "POST",
        &format!("/v1.24/containers/{id}/stop"),
        "",
        403,
    );
    assert!(refused.contains("preset:traefik"), "{refused}");
    assert_eq!(w.running_state(&id), Some(true));
}

#[test]
fn homepage_reads_status_stats_and_logs() {
    let Some(mut w) = World::start() else { return };
    let (name, id) = w.running("homepage-app", "");
    // status.js and stats/[...service].js: listContainers all=true, then
    // the container's stats by name, once; logs/[...name].js: its logs.
    let list = w.call("homepage", "GET", "/containers/json?all=true", "", 200);
    assert!(list.contains(&name), "{list}");
    let stats = w.call(
        "homepage",
        "GET",
        &format!("/containers/{name}/stats?stream=false"),
        "",
        200,
    );
    assert!(json(&stats)["memory_stats"].is_object(), "{stats}");
    w.call(
        "homepage",
        "GET",
        &format!(
            "/containers/{name}/logs?follow=false&stdout=true&stderr=true&tail=100&timestamps=true"
        ),
        "",
        200,
    );
    // With `swarm: true`: services and running tasks (this Engine is no
    // swarm manager, so it answers 503 itself).
    w.same_as_engine("homepage", "GET", "/services");
    w.same_as_engine(
        "homepage",
        "GET",
        "/tasks?filters=%7B%22desired-state%22%3A%5B%22running%22%5D%7D",
    );
    // The container buttons are not part of the read-only preset.
    let refused = w.call(
        "homepage",
        "POST",
        &format!("/containers/{name}/restart"),
        "",
        403,
    );
    assert!(refused.contains("preset:homepage"), "{refused}");
    assert_eq!(w.running_state(&id), Some(true));
}

#[test]
fn prometheus_docker_sd_negotiates_then_lists_containers_and_networks() {
    let Some(mut w) = World::start() else { return };
    let (_, id) = w.running("prometheus-app", "");
    // The negotiating Go client pings (HEAD, then GET on an old Engine);
    // refresh lists containers with the configured filters, then networks.
    w.call("prometheus", "HEAD", "/_ping", "", 200);
    w.call("prometheus", "GET", "/_ping", "", 200);
    let list = w.call(
        "prometheus",
        "GET",
        "/v1.41/containers/json?filters=%7B%22label%22%3A%7B%22dockgate.test%3Dpresets%22%3Atrue%7D%7D",
        "",
        200,
    );
    assert!(list.contains(&id), "{list}");
    let networks = w.call("prometheus", "GET", "/v1.41/networks", "", 200);
    assert!(networks.contains("\"bridge\""), "{networks}");
}

#[test]
fn portainer_read_only_sees_everything_and_changes_nothing() {
    let Some(mut w) = World::start() else { return };
    let (_, id) = w.running("portainer-ro-app", "");
    // snapshot.go, in its order, then the pages of one container and image.
    for target in [
        "/_ping",
        "/v1.41/info",
        "/v1.41/containers/json?all=1",
        "/v1.41/images/json",
        "/v1.41/volumes",
        "/v1.41/networks",
        "/v1.41/version",
        "/v1.41/system/df",
        &format!("/v1.41/containers/{id}/json"),
        &format!("/v1.41/containers/{id}/top"),
        &format!("/v1.41/containers/{id}/logs?stdout=1&stderr=1&tail=100"),
        &format!("/v1.41/containers/{id}/stats?stream=false"),
        &format!("/v1.41/images/{TEST_IMAGE}/json"),
        &format!("/v1.41/images/{TEST_IMAGE}/history"),
        "/v1.41/services",
    ] {
        w.same_as_engine("portainer-ro", "GET", target);
    }
    w.call("portainer-ro", "HEAD", "/_ping", "", 200);
    for (method, target) in [
        ("POST", format!("/v1.41/containers/{id}/stop")),
        ("GET", format!("/v1.41/containers/{id}/export")),
        ("GET", format!("/v1.41/containers/{id}/archive?path=/")),
        ("POST", format!("/v1.41/containers/{id}/exec")),
        // The swarm's join tokens and unlock key.
        ("GET", "/v1.41/swarm".to_owned()),
        ("GET", "/v1.41/swarm/unlockkey".to_owned()),
    ] {
        let refused = w.call("portainer-ro", method, &target, "{}", 403);
        assert!(refused.contains("preset:portainer-ro"), "{refused}");
    }
    assert_eq!(w.running_state(&id), Some(true));
}

#[test]
fn portainer_manages_containers_without_host_grants() {
    let Some(mut w) = World::start() else { return };
    let name = unique("portainer-made");
    w.made.0.push(name.clone());
    w.call("portainer", "HEAD", "/_ping", "", 200);
    w.call("portainer", "GET", "/v1.41/info", "", 200);
    let created = w.call(
        "portainer",
        "POST",
        &format!("/v1.41/containers/create?name={name}"),
        &format!(r#"{{"Image":"{TEST_IMAGE}","Cmd":["sleep","300"],"HostConfig":{{"RestartPolicy":{{"Name":"unless-stopped"}}}}}}"#),
        201,
    );
    let id = json(&created)["Id"].as_str().unwrap().to_owned();
    w.call(
        "portainer",
        "POST",
        &format!("/v1.41/containers/{id}/start"),
        "",
        204,
    );
    let exec = w.call(
        "portainer",
        "POST",
        &format!("/v1.41/containers/{id}/exec"),
        r#"{"Cmd":["echo","hi"],"AttachStdout":true}"#,
        201,
    );
    let exec_id = json(&exec)["Id"].as_str().unwrap().to_owned();
    w.call(
        "portainer",
        "POST",
        &format!("/v1.41/exec/{exec_id}/start"),
        r#"{"Detach":true}"#,
        200,
    );
    w.call(
        "portainer",
        "POST",
        &format!("/v1.41/containers/{id}/stop?t=1"),
        "",
        204,
    );
    w.call(
        "portainer",
        "DELETE",
        &format!("/v1.41/containers/{id}?v=1"),
        "",
        204,
    );
    assert_eq!(w.running_state(&id), None);
}

/// The container's create request as Watchtower builds it from an inspect:
/// its Config with the image by name, its HostConfig unchanged, and one of
/// its networks (client.go StartContainer, container.go GetCreateConfig).
fn recreate_body(inspect: &Value) -> (String, Vec<(String, Value)>) {
    let mut body = inspect["Config"].clone();
    body["HostConfig"] = inspect["HostConfig"].clone();
    let networks: Vec<(String, Value)> = inspect["NetworkSettings"]["Networks"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let (first, endpoint) = &networks[0];
    body["NetworkingConfig"] = serde_json::json!({ "EndpointsConfig": { first: endpoint } });
    (body.to_string(), networks)
}

#[test]
fn watchtower_recreates_a_container_from_its_own_configuration() {
    let Some(mut w) = World::start() else { return };
    // Made with a private cgroup namespace: on an Engine whose default is
    // the host's (cgroup v1), an inspect says "host" and the recreate needs
    // that grant (the next test).
    let (name, id) = w.running(
        "watchtower-app",
        r#","HostConfig":{"CgroupnsMode":"private"}"#,
    );
    let old_image = commit_image(&w, &id);

    // ListContainers: running ones, then GetContainer for each: inspect
    // and the image by ID; IsContainerStale: pull by name (this host has
    // no registry, so the Engine answers with its own error), then the
    // image by name.
    let v = "/v1.25";
    let list = w.call(
        "watchtower",
        "GET",
        &format!("{v}/containers/json?filters=%7B%22status%22%3A%7B%22running%22%3Atrue%7D%7D"),
        "",
        200,
    );
    assert!(list.contains(&id), "{list}");
    let inspect = json(&w.call(
        "watchtower",
        "GET",
        &format!("{v}/containers/{id}/json"),
        "",
        200,
    ));
    let image_id = inspect["Image"].as_str().unwrap();
    w.call(
        "watchtower",
        "GET",
        &format!("{v}/images/{image_id}/json"),
        "",
        200,
    );
    let (pulled, answer) = ask(
        &w.gateway,
        &w.pki,
        w.sockets.path(),
        "watchtower",
        "POST",
        &format!("{v}/images/create?fromImage=dockgate-test%2Fbusybox&tag=applets-2"),
        "",
    );
    assert_ne!(pulled, 403, "{answer}");
    assert!(!answer.contains("dockgate: client"), "{pulled}: {answer}");
    w.call(
        "watchtower",
        "GET",
        &format!("{v}/images/{TEST_IMAGE}/json"),
        "",
        200,
    );

    // StopContainer: kill with the stop signal, inspect until it stopped or
    // the timeout passed (sleep as PID 1 ignores SIGTERM), remove with force.
    w.call(
        "watchtower",
        "POST",
        &format!("{v}/containers/{id}/kill?signal=SIGTERM"),
        "",
        204,
    );
    w.call(
        "watchtower",
        "GET",
        &format!("{v}/containers/{id}/json"),
        "",
        200,
    );
    w.call(
        "watchtower",
        "DELETE",
        &format!("{v}/containers/{id}?force=1"),
        "",
        204,
    );

    // StartContainer: create from the old configuration, restore its
    // networks, start; then the old image is removed (--cleanup). The
    // inspected HostConfig spells out the Engine's default MaskedPaths and
    // ReadonlyPaths, which replace the defaults when sent back: the preset
    // alone refuses that, the admin's policy before it grants it.
    let (body, networks) = recreate_body(&inspect);
    let refused = w.call(
        "watchtower",
        "POST",
        &format!("{v}/containers/create?name={name}"),
        &body,
        403,
    );
    assert!(refused.contains("HostConfig.MaskedPaths"), "{refused}");
    let created = w.call(
        "watchtower-managed",
        "POST",
        &format!("{v}/containers/create?name={name}"),
        &body,
        201,
    );
    let new_id = json(&created)["Id"].as_str().unwrap().to_owned();
    for (network, _) in &networks {
        w.call(
            "watchtower",
            "POST",
            &format!("{v}/networks/{network}/disconnect"),
            &format!(r#"{{"Container":"{new_id}","Force":true}}"#),
            200,
        );
    }
    for (network, endpoint) in &networks {
        w.call(
            "watchtower",
            "POST",
            &format!("{v}/networks/{network}/connect"),
            &serde_json::json!({ "Container": new_id, "EndpointConfig": endpoint }).to_string(),
            200,
        );
    }
    w.call(
        "watchtower",
        "POST",
        &format!("{v}/containers/{new_id}/start"),
        "",
        204,
    );
    assert_eq!(w.running_state(&new_id), Some(true));
    w.call(
        "watchtower",
        "POST",
        &format!("{v}/containers/{new_id}/rename?name={name}-renamed"),
        "",
        204,
    );
    w.made.0.push(format!("{name}-renamed"));
    w.call(
        "watchtower",
        "DELETE",
        &format!("{v}/images/{old_image}?force=1"),
        "",
        200,
    );
    // Exec (lifecycle hooks) is not part of the preset.
    let refused = w.call(
        "watchtower",
        "POST",
        &format!("{v}/containers/{new_id}/exec"),
        r#"{"Cmd":["true"]}"#,
        403,
    );
    assert!(refused.contains("preset:watchtower"), "{refused}");
}

/// A new image of the container's, so that removing it touches no other
/// test's image: its ID, by which Watchtower removes images.
fn commit_image(w: &World, container: &str) -> String {
    let (status, answer) = engine_request(
        &w.socket,
        "POST",
        &format!("/commit?container={container}&comment={}", unique("preset")),
        "{}",
    );
    assert_eq!(status, 201, "{answer}");
    json(&answer)["Id"].as_str().unwrap().to_owned()
}

#[test]
fn watchtower_recreates_what_needs_grants_only_with_the_admins_policy() {
    let Some(mut w) = World::start() else { return };
    let managed = w.managed.path().display().to_string();
    // A host bind mount, and the host's cgroup namespace: what every
    // container's inspect says on an Engine whose default it is (cgroup v1).
    for (what, host_config, field) in [
        (
            "watchtower-mounted",
            format!(r#"{{"Binds":["{managed}:/data"],"CgroupnsMode":"private"}}"#),
            "HostConfig.Binds",
        ),
        (
            "watchtower-cgroupns",
            r#"{"CgroupnsMode":"host"}"#.to_owned(),
            "HostConfig.CgroupnsMode",
        ),
    ] {
        let (name, id) = w.running(what, &format!(r#","HostConfig":{host_config}"#));
        let inspect = json(&w.call(
            "watchtower",
            "GET",
            &format!("/containers/{id}/json"),
            "",
            200,
        ));
        w.call(
            "watchtower",
            "DELETE",
            &format!("/containers/{id}?force=1"),
            "",
            204,
        );
        let (body, _) = recreate_body(&inspect);
        // The preset alone grants nothing...
        let refused = w.call(
            "watchtower",
            "POST",
            &format!("/containers/create?name={name}"),
            &body,
            403,
        );
        assert!(refused.contains(field), "{refused}");
        assert!(refused.contains("preset:watchtower"), "{refused}");
        // ... the admin's policy, listed before it, grants these.
        w.call(
            "watchtower-managed",
            "POST",
            &format!("/containers/create?name={name}"),
            &body,
            201,
        );
    }
}

#[test]
fn gitlab_runner_runs_a_job_with_a_volume_and_a_network() {
    let Some(mut w) = World::start() else { return };
    let job = unique("runner");
    w.made.0.push(job.clone());
    let volume = format!("{job}-cache");
    let network = format!("{job}-network");
    let r = "gitlab-runner";
    let v = "/v1.41";
    // Negotiation, Info, the job image; the cache volume and the job's
    // network (FF_NETWORK_PER_BUILD); the build container on both, run
    // while its output is read; an exec (the exec mode); then cleanup.
    w.call(r, "HEAD", "/_ping", "", 200);
    w.call(r, "GET", &format!("{v}/info"), "", 200);
    w.call(r, "GET", &format!("{v}/images/{TEST_IMAGE}/json"), "", 200);
    w.call(
        r,
        "POST",
        &format!("{v}/volumes/create"),
        &format!(r#"{{"Name":"{volume}","Labels":{{"com.gitlab.gitlab-runner.type":"cache"}}}}"#),
        201,
    );
    w.call(r, "GET", &format!("{v}/volumes/{volume}"), "", 200);
    let net = w.call(
        r,
        "POST",
        &format!("{v}/networks/create"),
        &format!(r#"{{"Name":"{network}","CheckDuplicate":true,"Labels":{{}}}}"#),
        201,
    );
    let net_id = json(&net)["Id"].as_str().unwrap().to_owned();
    w.call(r, "GET", &format!("{v}/networks/{net_id}"), "", 200);
    let created = w.call(
        r,
        "POST",
        &format!("{v}/containers/create?name={job}"),
        &format!(
            r#"{{"Image":"{TEST_IMAGE}","Cmd":["sh","-c","echo job-output; sleep 300"],"HostConfig":{{"Binds":["{volume}:/cache"],"NetworkMode":"{network}","LogConfig":{{"Type":"json-file"}}}}}}"#
        ),
        201,
    );
    let id = json(&created)["Id"].as_str().unwrap().to_owned();
    w.call(r, "POST", &format!("{v}/containers/{id}/start"), "", 204);
    let exec = w.call(
        r,
        "POST",
        &format!("{v}/containers/{id}/exec"),
        r#"{"Cmd":["sh","-c","ls /cache"],"AttachStdout":true,"AttachStderr":true}"#,
        201,
    );
    let exec_id = json(&exec)["Id"].as_str().unwrap().to_owned();
    w.call(
        r,
        "POST",
        &format!("{v}/exec/{exec_id}/start"),
        r#"{"Detach":true}"#,
        200,
    );
    w.call(r, "GET", &format!("{v}/containers/{id}/json"), "", 200);
    w.call(
        r,
        "POST",
        &format!("{v}/containers/{id}/kill?signal=SIGKILL"),
        "",
        204,
    );
    w.call(
        r,
        "POST",
        &format!("{v}/containers/{id}/wait?condition=not-running"),
        "",
        200,
    );
    let logs = w.call(
        r,
        "GET",
        &format!("{v}/containers/{id}/logs?stdout=1&stderr=1"),
        "",
        200,
    );
    assert!(logs.contains("job-output"), "{logs}");
    w.call(
        r,
        "DELETE",
        &format!("{v}/containers/{id}?v=1&force=1"),
        "",
        204,
    );
    w.call(r, "DELETE", &format!("{v}/networks/{net_id}"), "", 204);
    w.call(r, "DELETE", &format!("{v}/volumes/{volume}"), "", 204);
}

// ---------------------------------------------------------------------------
// Refusals, against the fake Engine: nothing of them may arrive.
// ---------------------------------------------------------------------------

/// Bodies that hand out the host.
const HOST_ROOT_BINDS: &str = r#"{"Image":"busybox","HostConfig":{"Binds":["/:/host"]}}"#;
const PRIVILEGED: &str = r#"{"Image":"busybox","HostConfig":{"Privileged":true}}"#;
const SOCKET_BIND: &str =
    r#"{"Image":"busybox","HostConfig":{"Binds":["/var/run/docker.sock:/var/run/docker.sock"]}}"#;
/// What every container's inspect says, sent back as is by a recreate.
const DEFAULT_MASKS: &str = r#"{"Image":"busybox","HostConfig":{"MaskedPaths":["/proc/kcore"],"ReadonlyPaths":["/proc/sys"]}}"#;
const PRIVILEGED_EXEC: &str = r#"{"Cmd":["sh"],"Privileged":true}"#;

#[test]
fn every_preset_refuses_what_hands_out_the_host_and_nothing_reaches_the_engine() {
    let pki = Pki::new(&CLIENTS);
    let engine = FakeEngine::start();
    let sockets = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(&pki, engine.path(), &config("/srv/managed", sockets.path()));
    let create = "/v1.41/containers/create";
    let exec = "/v1.41/containers/app/exec";
    // (client, method, target, body, what the message names)
    let cases: &[(&str, &str, &str, &str, &[&str])] = &[
        // Read-only presets have no rule for these at all.
        (
            "traefik",
            "POST",
            create,
            HOST_ROOT_BINDS,
            &["no rule in policies preset:traefik allows it"],
        ),
        (
            "traefik",
            "POST",
            exec,
            PRIVILEGED_EXEC,
            &["no rule in policies preset:traefik allows it"],
        ),
        (
            "homepage",
            "POST",
            create,
            PRIVILEGED,
            &["no rule in policies preset:homepage allows it"],
        ),
        (
            "homepage",
            "POST",
            exec,
            PRIVILEGED_EXEC,
            &["no rule in policies preset:homepage allows it"],
        ),
        (
            "prometheus",
            "POST",
            create,
            HOST_ROOT_BINDS,
            &["no rule in policies preset:prometheus allows it"],
        ),
        (
            "prometheus",
            "POST",
            exec,
            PRIVILEGED_EXEC,
            &["no rule in policies preset:prometheus allows it"],
        ),
        (
            "portainer-ro",
            "POST",
            create,
            HOST_ROOT_BINDS,
            &["no rule in policies preset:portainer-ro allows it"],
        ),
        (
            "portainer-ro",
            "POST",
            exec,
            PRIVILEGED_EXEC,
            &["no rule in policies preset:portainer-ro allows it"],
        ),
        (
            "portainer-ro",
            "GET",
            "/v1.41/containers/app/attach/ws?stdin=1&stream=1",
            "",
            &["no rule in policies preset:portainer-ro allows it"],
        ),
        // The swarm's manager join token makes its reader a manager, and
        // the unlock key opens its raft log: neither is a read-only view.
        (
            "portainer-ro",
            "GET",
            "/v1.41/swarm",
            "",
            &["no rule in policies preset:portainer-ro allows it"],
        ),
        (
            "portainer-ro",
            "GET",
            "/v1.41/swarm/unlockkey",
            "",
            &["no rule in policies preset:portainer-ro allows it"],
        ),
        (
            "homepage",
            "GET",
            "/v1.41/swarm",
            "",
            &["no rule in policies preset:homepage allows it"],
        ),
        // The managing presets allow the route; their grants (none) refuse the body.
        (
            "portainer",
            "GET",
            "/v1.41/swarm",
            "",
            &["swarm = true", "(policy \"preset:portainer\")"],
        ),
        (
            "portainer",
            "GET",
            "/v1.41/swarm/unlockkey",
            "",
            &["swarm = true", "(policy \"preset:portainer\")"],
        ),
        (
            "portainer",
            "POST",
            create,
            HOST_ROOT_BINDS,
            &["HostConfig.Binds", "(policy \"preset:portainer\")"],
        ),
        (
            "portainer",
            "POST",
            create,
            PRIVILEGED,
            &["Privileged", "(policy \"preset:portainer\")"],
        ),
        (
            "portainer",
            "POST",
            exec,
            PRIVILEGED_EXEC,
            &["Privileged", "(policy \"preset:portainer\")"],
        ),
        (
            "watchtower",
            "POST",
            create,
            HOST_ROOT_BINDS,
            &["HostConfig.Binds", "(policy \"preset:watchtower\")"],
        ),
        (
            "watchtower",
            "POST",
            create,
            PRIVILEGED,
            &["Privileged", "(policy \"preset:watchtower\")"],
        ),
        (
            "watchtower",
            "POST",
            exec,
            PRIVILEGED_EXEC,
            &["no rule in policies preset:watchtower allows it"],
        ),
        (
            "gitlab-runner",
            "POST",
            create,
            SOCKET_BIND,
            &["HostConfig.Binds", "(policy \"preset:gitlab-runner\")"],
        ),
        (
            "gitlab-runner",
            "POST",
            create,
            PRIVILEGED,
            &["Privileged", "(policy \"preset:gitlab-runner\")"],
        ),
        (
            "gitlab-runner",
            "POST",
            exec,
            PRIVILEGED_EXEC,
            &["Privileged", "(policy \"preset:gitlab-runner\")"],
        ),
        // The admin's grant covers its folder, not the host's root.
        (
            "watchtower-managed",
            "POST",
            create,
            HOST_ROOT_BINDS,
            &["HostConfig.Binds", "(policy \"managed-mounts\")"],
        ),
        (
            "watchtower-managed",
            "POST",
            create,
            PRIVILEGED,
            &["Privileged", "(policy \"managed-mounts\")"],
        ),
        (
            "watchtower",
            "POST",
            create,
            DEFAULT_MASKS,
            &["HostConfig.MaskedPaths", "(policy \"preset:watchtower\")"],
        ),
    ];
    for (client, method, target, body, names) in cases {
        let before = engine.request_count();
        let (status, answer) = ask(&gateway, &pki, sockets.path(), client, method, target, body);
        assert_eq!(status, 403, "{client}: {method} {target}: {answer}");
        let message = json(&answer)["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(message.starts_with("dockgate"), "{client}: {message}");
        for name in *names {
            assert!(
                message.contains(name),
                "{client}: {method} {target}: {message:?} lacks {name:?}"
            );
        }
        assert_eq!(
            engine.request_count(),
            before,
            "{client}: {method} {target} reached the Engine: {:?}",
            engine.requests().last()
        );
    }
    // The same gateway forwards what the presets allow: the refusals above
    // are the presets', not a gateway that forwards nothing.
    let before = engine.request_count();
    let (status, _) = ask(
        &gateway,
        &pki,
        sockets.path(),
        "traefik",
        "GET",
        "/v1.24/containers/json?all=1",
        "",
    );
    assert_eq!(status, 200);
    assert_eq!(engine.request_count(), before + 1);
    assert_eq!(
        engine.requests().last().unwrap().target,
        "/v1.24/containers/json?all=1"
    );
}

#[test]
fn the_command_lists_and_shows_presets() {
    let dockgate = env!("CARGO_BIN_EXE_dockgate");
    let list = std::process::Command::new(dockgate)
        .args(["preset", "list"])
        .output()
        .unwrap();
    assert!(list.status.success());
    let listed = String::from_utf8(list.stdout).unwrap();
    for client in &CLIENTS[..7] {
        assert!(
            listed.lines().any(|l| l == format!("preset:{client}")),
            "{listed}"
        );
    }
    let show = std::process::Command::new(dockgate)
        .args(["preset", "show", "preset:watchtower"])
        .output()
        .unwrap();
    assert!(show.status.success());
    let shown = String::from_utf8(show.stdout).unwrap();
    assert!(shown.contains("containrrr/watchtower"), "{shown}");
    assert!(shown.contains("\"POST /containers/create\""), "{shown}");
    let unknown = std::process::Command::new(dockgate)
        .args(["preset", "show", "nginx"])
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no preset named \"nginx\""));
}

#[test]
fn explain_names_the_preset_and_where_its_missing_grant_goes() {
    let text = format!(
        "listen = \"127.0.0.1:2376\"\n[tls]\nca = \"ca.pem\"\ncert = \"cert.pem\"\nkey = \"key.pem\"\n{}",
        config("/srv/managed", Path::new("/run/dockgate"))
    );
    let config = dockgate::config::Config::parse(std::path::Path::new("dockgate.toml"), &text)
        .unwrap_or_else(|e| panic!("{e}"));
    let allowed =
        dockgate::cli::explain::explain(&config, "traefik", "GET", "/v1.24/containers/json", None)
            .to_string();
    assert!(
        allowed.contains("ALLOW by policy \"preset:traefik\", rule \"GET /containers/json\""),
        "{allowed}"
    );
    let refused = dockgate::cli::explain::explain(
        &config,
        "watchtower",
        "POST",
        "/v1.25/containers/create",
        Some(HOST_ROOT_BINDS.as_bytes()),
    )
    .to_string();
    assert!(
        refused.contains("presets grant nothing; add a policy of your own"),
        "{refused}"
    );
    assert!(
        refused.contains("listed before preset:watchtower"),
        "{refused}"
    );
}

/// `ps_args` that rename a column (`uid=PID`) make the Engine's filter of
/// `ps` rows by the container's pids pass host processes; with `f` the
/// Engine runs `ps` over every process, and `e` adds environments. No
/// grant allows it: refused in every mode, nothing reaches the Engine,
/// and the `ps_args` the CLI and Portainer send pass as sent.
#[test]
fn top_never_renames_a_column_to_pid() {
    let pki = Pki::new(&CLIENTS);
    let engine = FakeEngine::start();
    let sockets = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(&pki, engine.path(), &config("/srv/managed", sockets.path()));
    let top = "/v1.41/containers/app/top";
    for client in ["portainer-ro", "portainer"] {
        for query in [
            "ps_args=-Aouid=PID,args%20fe",
            "ps_args=axoetimes=PID,args%20fe",
            "ps_args=-Aouid%3DPID,args%20f",
            "ps_args=-ef&ps_args=-Aouid=PID,args%20f",
            "ps%5Fargs=-Aouid=PID,args%20f",
            "ps_args=-ef;ps_args=-Aouid=PID",
        ] {
            let target = format!("{top}?{query}");
            let before = engine.request_count();
            let (status, answer) = ask(&gateway, &pki, sockets.path(), client, "GET", &target, "");
            assert_eq!(status, 400, "{client}: {target}: {answer}");
            assert!(
                answer.starts_with("{\"message\":\"dockgate refused the request's query: "),
                "{answer}"
            );
            assert_eq!(engine.request_count(), before, "{client}: {target}");
        }
        for query in [
            "",
            "?ps_args=-ef",
            "?ps_args=aux",
            "?ps_args=-eo%20pid,comm,args",
        ] {
            let target = format!("{top}{query}");
            let before = engine.request_count();
            let (status, answer) = ask(&gateway, &pki, sockets.path(), client, "GET", &target, "");
            assert_eq!(status, 200, "{client}: {target}: {answer}");
            assert_eq!(engine.request_count(), before + 1);
            assert_eq!(engine.requests().last().unwrap().target, target);
        }
    }
}

/// Why: this Engine answers a top whose `ps_args` rename `uid` to `PID`
/// with a host process whose uid is the container's pid, environment and
/// all. Through the gateway the same request is refused.
#[test]
fn the_engine_shows_a_host_process_to_a_renamed_top() {
    let Some(mut w) = World::start() else { return };
    let (name, id) = w.running("top-host", "");
    let (status, answer) = engine_request(&w.socket, "GET", &format!("/containers/{id}/json"), "");
    assert_eq!(status, 200, "{answer}");
    let pid = json(&answer)["State"]["Pid"].as_u64().unwrap().to_string();
    let mut host = std::process::Command::new("setpriv")
        .args([&format!("--reuid={pid}"), "--regid=0", "--clear-groups"])
        .args(["env", "DGT_HOST_SECRET=hunter2", "sleep", "300"])
        .spawn()
        .expect("setpriv (util-linux)");
    support::eventually("the host process runs as the container's pid", || {
        std::fs::read_to_string(format!("/proc/{}/status", host.id()))
            .is_ok_and(|s| s.lines().any(|l| l.starts_with("Uid:") && l.contains(&pid)))
    });
    let target = format!("/v1.41/containers/{name}/top?ps_args=-Aouid=PID,args%20fe");
    let (status, direct) = engine_request(&w.socket, "GET", &target, "");
    let (refused, answer) = ask(
        &w.gateway,
        &w.pki,
        w.sockets.path(),
        "portainer-ro",
        "GET",
        &target,
        "",
    );
    host.kill().unwrap();
    host.wait().unwrap();
    assert_eq!(status, 200, "{direct}");
    assert!(direct.contains("DGT_HOST_SECRET=hunter2"), "{direct}");
    assert_eq!(refused, 400, "{answer}");
    assert!(!answer.contains("hunter2"), "{answer}");
}
