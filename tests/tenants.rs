//! Tenants against the real Engine: two tenants (`a1` and `a2` share
//! team-a, `b1` is team-b) and an unconfined `admin`, all with a policy that
//! allows every route, so whatever keeps them apart is confinement alone.
//!
//! Every refusal is checked twice: the answer (a 404 in the Engine's own
//! words, as for a missing object) and the target, which must be unchanged
//! afterwards (asked on the Engine's own socket). The fake-Engine tests at
//! the end prove what the real one cannot show: that the refused action
//! never reached the Engine, and that an allowed one reaches it naming the
//! full ID the judge resolved.

mod support;

use std::process::Command;

use serde_json::Value;
use support::fake_engine::FakeEngine;
use support::tenant_world::{json, setup, unique, POLICY, STEP};
use support::{docker, docker_clis, gateway_request, run, text, Gateway, Pki, TEST_IMAGE};

#[test]
fn what_a_confined_client_creates_carries_its_tenant_and_lists_show_only_its_own() {
    let Some(mut w) = setup() else { return };
    let (a, a_id) = w.container("a1", "a");
    let (b, _) = w.container("b1", "b");
    let loose = unique("loose");
    w.made.containers.push(loose.clone());
    let (status, answer) = w.engine(
        "POST",
        &format!("/containers/create?name={loose}"),
        &format!(r#"{{"Image":"{TEST_IMAGE}","Cmd":["true"]}}"#),
    );
    assert_eq!(status, 201, "{answer}");
    assert_eq!(w.state(&a_id)["tenant"], "team-a");

    let everything = "/containers/json?all=1";
    let seen_by = |client: &str| w.names(client, everything, "");
    for (client, sees, hidden) in [
        ("a1", vec![&a], vec![&b, &loose]),
        ("a2", vec![&a], vec![&b, &loose]),
        ("b1", vec![&b], vec![&a, &loose]),
        ("admin", vec![&a, &b, &loose], vec![]),
    ] {
        let seen = seen_by(client);
        for name in sees {
            assert!(seen.contains(name), "{client} must see {name}: {seen:?}");
        }
        for name in hidden {
            assert!(
                !seen.contains(name),
                "{client} must not see {name}: {seen:?}"
            );
        }
    }
    // The client's own filters still apply, combined with the tenant's.
    let filtered =
        format!("/containers/json?all=1&filters=%7B%22name%22%3A%7B%22{b}%22%3Atrue%7D%7D");
    assert!(w.names("a1", &filtered, "").is_empty());
    assert_eq!(w.names("b1", &filtered, ""), vec![b.clone()]);
    // A filter naming another tenant's label only narrows further.
    let forged =
        "/containers/json?all=1&filters=%7B%22label%22%3A%5B%22dockgate.tenant%3Dteam-b%22%5D%7D";
    assert!(w.names("a1", forged, "").is_empty());

    let va = w.volume("a1", "va");
    let vb = w.volume("b1", "vb");
    let vols = w.names("a1", "/volumes", "Volumes");
    assert!(vols.contains(&va) && !vols.contains(&vb), "{vols:?}");
    let (na, _) = w.network("a1", "na");
    let (nb, _) = w.network("b1", "nb");
    let nets = w.names("a1", "/networks", "");
    assert!(nets.contains(&na) && !nets.contains(&nb), "{nets:?}");
    assert!(!nets.iter().any(|n| n == "bridge"), "{nets:?}");

    // Disk usage: only the tenant's containers and volumes.
    let (status, answer) = w.req("a1", "GET", "/system/df", "");
    assert_eq!(status, 200, "{answer}");
    let df = json(&answer);
    let df_names = |key: &str| -> Vec<String> {
        df[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| match &i["Names"] {
                Value::Array(n) => n[0].as_str().unwrap().trim_start_matches('/').to_owned(),
                _ => i["Name"].as_str().unwrap().to_owned(),
            })
            .collect()
    };
    assert!(df_names("Containers").contains(&a));
    assert!(!df_names("Containers").contains(&b) && !df_names("Containers").contains(&loose));
    assert!(df_names("Volumes").contains(&va) && !df_names("Volumes").contains(&vb));
    let (_, admin_df) = w.req("admin", "GET", "/system/df", "");
    assert!(admin_df.contains(&b), "admin sees every container in df");
}

#[test]
fn another_tenants_container_is_missing_by_every_reference_and_stays_untouched() {
    let Some(mut w) = setup() else { return };
    let (b, b_id) = w.container("b1", "b");
    // A link alias: `b-linker/alias` names b's container too.
    let linker = unique("linker");
    w.made.containers.push(linker.clone());
    let (status, answer) = w.req(
        "b1",
        "POST",
        &format!("/containers/create?name={linker}"),
        &format!(
            r#"{{"Image":"{TEST_IMAGE}","Cmd":["sleep","600"],"HostConfig":{{"Links":["{b}:alias"]}}}}"#
        ),
    );
    assert_eq!(status, 201, "{answer}");
    let (status, answer) = w.req("b1", "POST", &format!("/containers/{linker}/start"), "");
    assert_eq!(status, 204, "{answer}");
    let alias = format!("{linker}/alias");
    let (status, answer) = w.req("b1", "GET", &format!("/containers/{alias}/json"), "");
    assert_eq!(
        status, 200,
        "the alias reaches b's container for b: {answer}"
    );
    assert_eq!(json(&answer)["Id"], b_id.as_str());

    let before = w.state(&b_id);
    let references = [
        b_id.clone(),
        b_id[..12].to_owned(),
        b.clone(),
        alias.clone(),
    ];
    let actions: &[(&str, &str, &str)] = &[
        ("GET", "json", ""),
        ("GET", "logs?stdout=1", ""),
        ("GET", "top", ""),
        ("GET", "changes", ""),
        ("GET", "export", ""),
        ("GET", "stats?stream=0", ""),
        ("GET", "archive?path=/", ""),
        ("HEAD", "archive?path=/", ""),
        ("PUT", "archive?path=/tmp", ""),
        ("POST", "kill", ""),
        ("POST", "stop?t=0", ""),
        ("POST", "restart?t=0", ""),
        ("POST", "pause", ""),
        ("POST", "unpause", ""),
        ("POST", "rename?name=stolen", ""),
        ("POST", "update", r#"{"RestartPolicy":{"Name":"always"}}"#),
        ("POST", "wait", ""),
        ("POST", "resize?h=10&w=10", ""),
        ("POST", "attach?stream=0&stdout=1", ""),
        ("POST", "exec", r#"{"Cmd":["true"]}"#),
        ("DELETE", "", ""),
    ];
    for reference in &references {
        let missing = w
            .engine_missing(&format!("/containers/{reference}-none/json"))
            .replace(&format!("{reference}-none"), reference);
        for &(method, action, body) in actions {
            for client in ["a1", "a2"] {
                let target = match action {
                    "" => format!("/containers/{reference}?force=1"),
                    _ => format!("/containers/{reference}/{action}"),
                };
                let (status, answer) = w.req(client, method, &target, body);
                assert_eq!(status, 404, "{client} {method} {target}: {answer}");
                if method != "HEAD" {
                    assert_eq!(
                        json(&answer)["message"],
                        missing.as_str(),
                        "{method} {target}: in the Engine's words"
                    );
                }
            }
        }
        // The commit of another tenant's container.
        let (status, answer) = w.req(
            "a1",
            "POST",
            &format!("/commit?container={reference}&repo={}", unique("stolen")),
            "",
        );
        assert_eq!(status, 404, "commit {reference}: {answer}");
    }
    assert_eq!(w.state(&b_id), before, "b's container is unchanged");
    let (status, _) = w.engine("GET", "/containers/stolen/json", "");
    assert_eq!(status, 404, "nothing was renamed");

    // A container of no tenant is as hidden as another tenant's.
    let loose = unique("loose");
    w.made.containers.push(loose.clone());
    w.engine(
        "POST",
        &format!("/containers/create?name={loose}"),
        &format!(r#"{{"Image":"{TEST_IMAGE}","Cmd":["true"]}}"#),
    );
    let (status, _) = w.req("a1", "GET", &format!("/containers/{loose}/json"), "");
    assert_eq!(status, 404);
    let (status, _) = w.req("admin", "GET", &format!("/containers/{loose}/json"), "");
    assert_eq!(status, 200, "the unconfined admin sees it");
}

#[test]
fn exec_instances_belong_to_their_containers_tenant() {
    let Some(mut w) = setup() else { return };
    let (b, _) = w.container("b1", "b");
    let (status, answer) = w.req(
        "b1",
        "POST",
        &format!("/containers/{b}/exec"),
        r#"{"Cmd":["true"]}"#,
    );
    assert_eq!(status, 201, "{answer}");
    let exec = json(&answer)["Id"].as_str().unwrap().to_owned();
    let missing = w
        .engine_missing(
            "/exec/0000000000000000000000000000000000000000000000000000000000000000/json",
        )
        .replace(
            "0000000000000000000000000000000000000000000000000000000000000000",
            &exec,
        );
    for (method, action, body) in [
        ("GET", "json", ""),
        ("POST", "start", r#"{"Detach":true}"#),
        ("POST", "resize?h=1&w=1", ""),
    ] {
        let (status, answer) = w.req("a1", method, &format!("/exec/{exec}/{action}"), body);
        assert_eq!(status, 404, "{method} {action}: {answer}");
        assert_eq!(json(&answer)["message"], missing.as_str());
    }
    let (_, answer) = w.engine("GET", &format!("/exec/{exec}/json"), "");
    assert_eq!(json(&answer)["Running"], false);
    assert!(
        json(&answer)["Pid"].as_u64().unwrap_or(0) == 0,
        "never started: {answer}"
    );
    // Its own tenant uses it.
    let (status, answer) = w.req("b1", "GET", &format!("/exec/{exec}/json"), "");
    assert_eq!(status, 200, "{answer}");
}

#[test]
fn bodies_and_queries_cannot_reach_another_tenants_objects() {
    let Some(mut w) = setup() else { return };
    let (b, b_id) = w.container("b1", "b");
    let vb = w.volume("b1", "vb");
    let (nb, _) = w.network("b1", "nb");
    let (na, _) = w.network("a1", "na");
    let (a, a_id) = w.container("a1", "a");
    let image = TEST_IMAGE;
    let attempts = [
        format!(r#"{{"Image":"{image}","HostConfig":{{"NetworkMode":"container:{b}"}}}}"#),
        format!(r#"{{"Image":"{image}","HostConfig":{{"PidMode":"container:{b_id}"}}}}"#),
        format!(
            r#"{{"Image":"{image}","HostConfig":{{"IpcMode":"container:{}"}}}}"#,
            &b_id[..10]
        ),
        format!(r#"{{"Image":"{image}","HostConfig":{{"VolumesFrom":["/{b}:ro"]}}}}"#),
        format!(r#"{{"Image":"{image}","HostConfig":{{"Links":["{b}:db"]}}}}"#),
        format!(r#"{{"Image":"{image}","Links":["/{b}"]}}"#),
        format!(r#"{{"Image":"{image}","HostConfig":{{"Binds":["{vb}:/data"]}}}}"#),
        format!(
            r#"{{"Image":"{image}","HostConfig":{{"Mounts":[{{"Type":"volume","Source":"{vb}","Target":"/data"}}]}}}}"#
        ),
        format!(r#"{{"Image":"{image}","HostConfig":{{"NetworkMode":"{nb}"}}}}"#),
        format!(
            r#"{{"Image":"{image}","NetworkingConfig":{{"EndpointsConfig":{{"{nb}":{{}}}}}}}}"#
        ),
        format!(r#"{{"Image":"{image}","hostconfig":{{"networkmode":"container:{b}"}}}}"#),
    ];
    for body in &attempts {
        let name = unique("try");
        w.made.containers.push(name.clone());
        let (status, answer) = w.req(
            "a1",
            "POST",
            &format!("/containers/create?name={name}"),
            body,
        );
        assert_eq!(status, 404, "{body}: {answer}");
        let (status, _) = w.engine("GET", &format!("/containers/{name}/json"), "");
        assert_eq!(status, 404, "nothing was created for {body}");
    }
    // Network connect: another tenant's container into one's own network,
    // one's own container into another tenant's network.
    let (status, answer) = w.req(
        "a1",
        "POST",
        &format!("/networks/{na}/connect"),
        &format!(r#"{{"Container":"{b}"}}"#),
    );
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = w.req(
        "a1",
        "POST",
        &format!("/networks/{nb}/connect"),
        &format!(r#"{{"Container":"{a}"}}"#),
    );
    assert_eq!(status, 404, "{answer}");
    let (_, answer) = w.engine("GET", &format!("/containers/{b_id}/json"), "");
    assert!(
        !answer.contains(&na),
        "b's container joined no network of a"
    );
    let (_, answer) = w.engine("GET", &format!("/containers/{a_id}/json"), "");
    assert!(
        !answer.contains(&nb),
        "a's container joined no network of b"
    );
    for (method, target) in [
        ("GET", format!("/volumes/{vb}")),
        ("DELETE", format!("/volumes/{vb}")),
        ("GET", format!("/networks/{nb}")),
        ("DELETE", format!("/networks/{nb}")),
        ("POST", format!("/networks/{nb}/disconnect")),
    ] {
        let (status, answer) = w.req("a1", method, &target, r#"{"Container":"x"}"#);
        assert_eq!(status, 404, "{method} {target}: {answer}");
    }
    let (status, _) = w.engine("GET", &format!("/volumes/{vb}"), "");
    assert_eq!(status, 200, "b's volume is still there");
    let (status, _) = w.engine("GET", &format!("/networks/{nb}"), "");
    assert_eq!(status, 200, "b's network is still there");

    // One's own: by name, with a leading slash, by ID prefix; the named
    // volume that does not exist yet is made for the tenant.
    let fresh = unique("fresh");
    w.made.volumes.push(fresh.clone());
    let name = unique("mine");
    w.made.containers.push(name.clone());
    let body = format!(
        r#"{{"Image":"{image}","Cmd":["true"],"HostConfig":{{"VolumesFrom":["/{a}"],"NetworkMode":"{na}","Binds":["{fresh}:/fresh"],"IpcMode":"container:{}"}}}}"#,
        &a_id[..12]
    );
    let (status, answer) = w.req(
        "a2",
        "POST",
        &format!("/containers/create?name={name}"),
        &body,
    );
    assert_eq!(status, 201, "{answer}");
    let (_, answer) = w.engine("GET", &format!("/containers/{name}/json"), "");
    let made = json(&answer);
    assert_eq!(
        made["HostConfig"]["VolumesFrom"][0],
        a_id.as_str(),
        "named by ID"
    );
    assert_eq!(made["HostConfig"]["IpcMode"], format!("container:{a_id}"));
    assert_eq!(made["Config"]["Labels"]["dockgate.tenant"], "team-a");
    let (_, answer) = w.engine("GET", &format!("/volumes/{fresh}"), "");
    assert_eq!(
        json(&answer)["Labels"]["dockgate.tenant"],
        "team-a",
        "{answer}"
    );
}

#[test]
fn a_label_naming_another_tenant_is_refused_and_nothing_is_made() {
    let Some(mut w) = setup() else { return };
    let forged = r#""Labels":{"dockgate.tenant":"team-b"}"#;
    let name = unique("forged");
    w.made.containers.push(name.clone());
    w.made.volumes.push(name.clone());
    w.made.networks.push(name.clone());
    for (target, body) in [
        (
            format!("/containers/create?name={name}"),
            format!(r#"{{"Image":"{TEST_IMAGE}",{forged}}}"#),
        ),
        (
            "/volumes/create".into(),
            format!(r#"{{"Name":"{name}",{forged}}}"#),
        ),
        (
            "/networks/create".into(),
            format!(r#"{{"Name":"{name}",{forged}}}"#),
        ),
    ] {
        let (status, answer) = w.req("a1", "POST", &target, &body);
        assert_eq!(status, 403, "{target}: {answer}");
        assert!(answer.contains("dockgate.tenant"), "{answer}");
    }
    assert_eq!(
        w.engine("GET", &format!("/containers/{name}/json"), "").0,
        404
    );
    assert_eq!(w.engine("GET", &format!("/volumes/{name}"), "").0, 404);
    assert_eq!(w.engine("GET", &format!("/networks/{name}"), "").0, 404);
    // The client's own tenant, and its other labels, are kept.
    let (status, answer) = w.req(
        "a1",
        "POST",
        "/volumes/create",
        &format!(r#"{{"Name":"{name}","Labels":{{"dockgate.tenant":"team-a","x":"y"}}}}"#),
    );
    assert_eq!(status, 201, "{answer}");
    let labels = &json(&answer)["Labels"];
    assert_eq!(labels["x"], "y");
    assert_eq!(labels["dockgate.tenant"], "team-a");
}

#[test]
fn routes_that_cannot_be_confined_are_refused_to_tenants_only() {
    let Some(w) = setup() else { return };
    for (method, target) in [
        ("POST", "/images/load"),
        ("GET", "/services"),
        ("GET", "/plugins"),
        ("POST", "/build/prune"),
        ("GET", "/nodes"),
        ("POST", "/grpc"),
        ("GET", "/containers/x/checkpoints"),
    ] {
        let (status, answer) = w.req("a1", method, target, "");
        assert_eq!(status, 403, "{method} {target}: {answer}");
        assert!(answer.contains("tenant"), "{answer}");
    }
    let (status, answer) = w.req("admin", "GET", "/plugins", "");
    assert_eq!(status, 200, "{answer}");
}

#[test]
fn images_may_be_used_by_all_but_deleted_tagged_or_overwritten_only_by_their_tenant() {
    let Some(mut w) = setup() else { return };
    let (a, _) = w.container("a1", "a");
    let repo = unique("img");
    w.made.images.push(format!("{repo}:a"));
    w.made.images.push(format!("{repo}:b"));
    w.made.images.push(format!("{repo}:again"));
    let (status, answer) = w.req(
        "a1",
        "POST",
        &format!("/commit?container={a}&repo={repo}&tag=a"),
        "",
    );
    assert_eq!(status, 201, "{answer}");
    let (_, answer) = w.engine("GET", &format!("/images/{repo}:a/json"), "");
    assert_eq!(
        json(&answer)["Config"]["Labels"]["dockgate.tenant"],
        "team-a"
    );

    // Everyone may look at it and run it.
    let (status, _) = w.req("b1", "GET", &format!("/images/{repo}:a/json"), "");
    assert_eq!(status, 200);
    // Only team-a may delete or tag it.
    let (status, answer) = w.req("b1", "DELETE", &format!("/images/{repo}:a"), "");
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = w.req(
        "b1",
        "POST",
        &format!("/images/{repo}:a/tag?repo={repo}&tag=b"),
        "",
    );
    assert_eq!(status, 404, "{answer}");
    assert_eq!(
        w.engine("GET", &format!("/images/{repo}:b/json"), "").0,
        404
    );
    // No one else may write over its tag, nor over an image of no tenant.
    let (b, _) = w.container("b1", "b");
    let (status, answer) = w.req(
        "b1",
        "POST",
        &format!("/commit?container={b}&repo={repo}&tag=a"),
        "",
    );
    assert_eq!(status, 403, "{answer}");
    // A tag written in the repository gives way to the tag parameter.
    let (status, answer) = w.req(
        "b1",
        "POST",
        &format!("/commit?container={b}&repo={repo}:decoy&tag=a"),
        "",
    );
    assert_eq!(status, 403, "{answer}");
    let (test_repo, test_tag) = TEST_IMAGE.split_once(':').unwrap();
    let (status, answer) = w.req(
        "b1",
        "POST",
        &format!("/commit?container={b}&repo={test_repo}&tag={test_tag}"),
        "",
    );
    assert_eq!(status, 403, "the shared test image keeps its tag: {answer}");
    let (status, answer) = w.req(
        "a2",
        "POST",
        &format!("/images/{repo}:a/tag?repo={repo}&tag=again"),
        "",
    );
    assert_eq!(status, 201, "{answer}");
    let (status, answer) = w.req("a2", "DELETE", &format!("/images/{repo}:again"), "");
    assert_eq!(status, 200, "{answer}");
}

#[test]
fn a_tenants_event_stream_shows_only_its_own_objects() {
    let Some(mut w) = setup() else { return };
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 1;
    let (a, _) = w.container("a1", "a");
    let (b, _) = w.container("b1", "b");
    let until = since + 3600;
    let events = |client: &str| {
        let (status, answer) = w.req(
            client,
            "GET",
            &format!("/events?since={since}&until={}", until.min(now() + 1)),
            "",
        );
        assert_eq!(status, 200, "{answer}");
        answer
    };
    let seen_by_a = events("a1");
    assert!(seen_by_a.contains(&a), "{seen_by_a}");
    assert!(!seen_by_a.contains(&b), "{seen_by_a}");
    let seen_by_b = events("b1");
    assert!(
        seen_by_b.contains(&b) && !seen_by_b.contains(&a),
        "{seen_by_b}"
    );
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn the_docker_clis_work_within_a_tenant_and_see_nothing_of_the_other() {
    let Some(mut w) = setup() else { return };
    let (b, _) = w.container("b1", "b");
    for cli in docker_clis() {
        let name = unique("cli");
        w.made.containers.push(name.clone());
        let vol = unique("clivol");
        w.made.volumes.push(vol.clone());
        let ok = |client: &str, args: &[&str]| {
            let mut cmd = docker(cli, &w.gateway, &w.pki, client);
            cmd.args(args);
            let out = run(cmd, STEP);
            assert!(
                out.status.success(),
                "{cli} {args:?} as {client}: {}{}",
                text(&out.stdout),
                text(&out.stderr)
            );
            text(&out.stdout)
        };
        let fails = |client: &str, args: &[&str]| {
            let mut cmd = docker(cli, &w.gateway, &w.pki, client);
            cmd.args(args);
            let out = run(cmd, STEP);
            assert!(
                !out.status.success(),
                "{cli} {args:?} as {client} must fail"
            );
            text(&out.stderr)
        };
        ok(
            "a1",
            &[
                "run",
                "-d",
                "--name",
                &name,
                "-v",
                &format!("{vol}:/data"),
                TEST_IMAGE,
                "sleep",
                "600",
            ],
        );
        let out = ok(
            "a2",
            &["exec", &name, "sh", "-c", "echo hi > /data/f; cat /data/f"],
        );
        assert_eq!(out.trim(), "hi");
        let ps = ok("a2", &["ps", "-a", "--format", "{{.Names}}"]);
        assert!(ps.lines().any(|l| l == name) && !ps.contains(&b), "{ps}");
        let vols = ok("a1", &["volume", "ls", "-q"]);
        assert!(vols.lines().any(|l| l == vol), "{vols}");
        let err = fails("a1", &["exec", &b, "true"]);
        assert!(err.contains(&format!("No such container: {b}")), "{err}");
        let err = fails("a1", &["rm", &b]);
        assert!(err.contains("No such container"), "{err}");
        let err = fails("b1", &["logs", &name]);
        assert!(err.contains("No such container"), "{err}");
        ok("a1", &["rm", "-f", &name]);
        ok("a1", &["volume", "rm", &vol]);

        // Networks and classic builds, as a CI job uses them.
        let net = unique("clinet");
        w.made.networks.push(net.clone());
        ok("a1", &["network", "create", &net]);
        let nets = ok("a2", &["network", "ls", "--format", "{{.Name}}"]);
        assert!(nets.lines().any(|l| l == net), "{nets}");
        let err = fails("b1", &["network", "rm", &net]);
        assert!(err.contains(&net), "{err}");
        let context = tempfile::tempdir().unwrap();
        std::fs::write(
            context.path().join("Dockerfile"),
            format!("FROM {TEST_IMAGE}\nRUN echo built > /built\n"),
        )
        .unwrap();
        let tag = format!("{}:cli", unique("built"));
        w.made.images.push(tag.clone());
        let mut build = docker(cli, &w.gateway, &w.pki, "a1");
        build
            .env("DOCKER_BUILDKIT", "0")
            .args(["build", "-q", "--network", &net, "-t", &tag])
            .arg(context.path());
        let out = run(build, STEP);
        assert!(
            out.status.success(),
            "{cli} build: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        let (_, answer) = w.engine("GET", &format!("/images/{tag}/json"), "");
        assert_eq!(
            json(&answer)["Config"]["Labels"]["dockgate.tenant"],
            "team-a"
        );
        let err = fails("b1", &["rmi", &tag]);
        assert!(err.contains("No such image"), "{err}");
        let mut foreign = docker(cli, &w.gateway, &w.pki, "b1");
        foreign
            .env("DOCKER_BUILDKIT", "0")
            .args(["build", "-q", "-t", &tag])
            .arg(context.path());
        let out = run(foreign, STEP);
        assert!(!out.status.success(), "b1 must not write over team-a's tag");
        assert!(
            text(&out.stderr).contains("not tenant"),
            "{}",
            text(&out.stderr)
        );
        ok("a2", &["rmi", &tag]);
        ok("a1", &["network", "rm", &net]);
    }
    assert_eq!(w.state(&b)["running"], true);
}

#[test]
fn concurrent_creates_and_deletes_across_tenants_stay_apart() {
    let Some(w) = setup() else { return };
    let w = std::sync::Arc::new(w);
    let prefix = unique("race");
    let threads: Vec<_> = ["a1", "b1", "a2", "b1"]
        .into_iter()
        .enumerate()
        .map(|(t, client)| {
            let w = std::sync::Arc::clone(&w);
            let prefix = prefix.clone();
            std::thread::spawn(move || {
                let mut made = Vec::new();
                for i in 0..6 {
                    let name = format!("{prefix}-{t}-{i}");
                    let (status, answer) = w.req(
                        client,
                        "POST",
                        &format!("/containers/create?name={name}"),
                        &format!(r#"{{"Image":"{TEST_IMAGE}","Cmd":["true"]}}"#),
                    );
                    assert_eq!(status, 201, "{answer}");
                    made.push(name.clone());
                    // Every other tenant's attempt to remove it fails.
                    let other = if client.starts_with('a') { "b1" } else { "a1" };
                    let (status, _) =
                        w.req(other, "DELETE", &format!("/containers/{name}?force=1"), "");
                    assert_eq!(status, 404);
                    if i % 2 == 0 {
                        let (status, answer) =
                            w.req(client, "DELETE", &format!("/containers/{name}"), "");
                        assert_eq!(status, 204, "{answer}");
                        made.pop();
                    }
                }
                (client, made)
            })
        })
        .collect();
    let mut kept = Vec::new();
    for t in threads {
        kept.push(t.join().expect("thread"));
    }
    let all: Vec<String> = kept.iter().flat_map(|(_, m)| m.clone()).collect();
    let _cleanup = support::RemoveContainers(all.clone());
    let listed = |client: &str| w.names(client, "/containers/json?all=1", "");
    for client in ["a1", "b1"] {
        let seen: Vec<_> = listed(client)
            .into_iter()
            .filter(|n| n.starts_with(&prefix))
            .collect();
        let expected: Vec<String> = kept
            .iter()
            .filter(|(c, _)| c.starts_with(&client[..1]))
            .flat_map(|(_, m)| m.clone())
            .collect();
        let mut seen_sorted = seen.clone();
        seen_sorted.sort();
        let mut expected_sorted = expected.clone();
        expected_sorted.sort();
        assert_eq!(seen_sorted, expected_sorted, "{client}");
    }
}

// ---------------------------------------------------------------------------
// Against a fake Engine: what was forwarded, and what was not.
// ---------------------------------------------------------------------------

#[test]
fn a_refused_action_never_reaches_the_engine_and_an_allowed_one_names_the_resolved_id() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&["a1"]);
    let gateway = Gateway::start(&pki, engine.path(), POLICY);
    // The fake Engine answers inspects with an ID derived from the name and
    // the tenant named in it (`owned-by-team-a-...`).
    let (status, answer) = gateway_request(
        &gateway,
        &pki,
        "a1",
        "POST",
        "/v1.41/containers/owned-by-team-b--x/kill",
        "",
    );
    assert_eq!(status, 404, "{answer} {:?}", engine.requests());
    let seen: Vec<_> = engine
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.target))
        .collect();
    assert!(
        seen.iter().all(|r| r.starts_with("GET ")),
        "only questions reached the Engine: {seen:?}"
    );
    assert!(!seen.iter().any(|r| r.contains("/kill")), "{seen:?}");

    let (status, answer) = gateway_request(
        &gateway,
        &pki,
        "a1",
        "POST",
        "/v1.41/containers/owned-by-team-a--web/kill?signal=HUP",
        "",
    );
    assert_eq!(status, 200, "{answer}");
    let last = engine.requests().last().cloned().unwrap();
    assert_eq!(last.method, "POST");
    assert_eq!(
        last.target,
        format!(
            "/v1.41/containers/{}/kill?signal=HUP",
            fake_id("owned-by-team-a--web")
        )
    );
}

/// The ID the fake Engine gives the container named `name`.
fn fake_id(name: &str) -> String {
    support::fake_engine::fake_id(name)
}

#[test]
fn the_python_sdk_works_within_a_tenant() {
    let Some(mut w) = setup() else { return };
    if Command::new("python3")
        .args(["-c", "import docker"])
        .status()
        .map_or(true, |s| !s.success())
    {
        assert!(std::env::var_os("CI").is_none(), "CI must install the SDK");
        return;
    }
    let (b, _) = w.container("b1", "b");
    let name = unique("sdk");
    w.made.containers.push(name.clone());
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/tenants.py");
    let mut cmd = Command::new("python3");
    for var in support::SDK_ENV_OVERRIDES {
        cmd.env_remove(var);
    }
    cmd.arg(script)
        .env(
            "GATEWAY",
            format!("https://localhost:{}", w.gateway.addr.port()),
        )
        .env("CERTS", w.pki.client_dir("a1"))
        .env("CA", w.pki.path().join("ca.pem"))
        .env("IMAGE", TEST_IMAGE)
        .env("NAME", &name)
        .env("OTHER", &b);
    let out = run(cmd, STEP);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(w.state(&b)["running"], true);
}

#[test]
fn the_audit_line_names_the_tenant_and_why_a_request_was_refused() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&["a1"]);
    let served = support::process::serve(&support::config_text(&pki, engine.path(), POLICY));
    let get = |target: &str| {
        let mut conn =
            support::raw::Conn::open(served.addr, support::raw::client_config(&pki, Some("a1")))
                .unwrap();
        conn.send(
            format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
        support::parse_response(conn.read_to_close().as_bytes()).0
    };
    assert_eq!(get("/containers/owned-by-team-b--x/json"), 404);
    assert_eq!(get("/containers/owned-by-team-a--y/json"), 200);
    // The fake Engine's answer about this one names no ID: the question
    // failed, and the line says so.
    assert_eq!(get("/containers/unanswerable/json"), 502);
    let line = |path: &str| {
        served
            .log()
            .lines()
            .find(|l| l.contains("dockgate::request::audit") && l.contains(path))
            .map(str::to_owned)
    };
    support::eventually("both audit lines", || {
        line("owned-by-team-b--x").is_some() && line("owned-by-team-a--y").is_some()
    });
    let refused = line("owned-by-team-b--x").unwrap();
    for field in [
        r#"client="a1""#,
        r#"tenant="team-a""#,
        r#"decision="deny""#,
        r#"reason="not_owned""#,
        "status=404",
    ] {
        assert!(refused.contains(field), "{field} in {refused}");
    }
    support::eventually("the failed question's line", || {
        line("unanswerable").is_some()
    });
    let failed = line("unanswerable").unwrap();
    assert!(
        failed.contains(r#"decision="deny""#) && failed.contains(r#"reason="upstream_error""#),
        "{failed}"
    );
    let allowed = line("owned-by-team-a--y").unwrap();
    assert!(allowed.contains(r#"tenant="team-a""#) && allowed.contains(r#"decision="allow""#));
}

#[test]
fn explain_shows_the_tenant_checks_and_check_lists_tenants() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&["a1"]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dockgate.toml");
    std::fs::write(&config, support::config_text(&pki, engine.path(), POLICY)).unwrap();
    let body = dir.path().join("create.json");
    std::fs::write(
        &body,
        r#"{"Image":"x","HostConfig":{"VolumesFrom":["db:ro"],"NetworkMode":"backend"}}"#,
    )
    .unwrap();
    let dockgate = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_dockgate"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            format!("{}{}", text(&out.stdout), text(&out.stderr)),
        )
    };
    let config = config.to_str().unwrap();
    let (code, out) = dockgate(&[
        "explain",
        "--config",
        config,
        "--client",
        "a1",
        "POST",
        "/v1.41/containers/web/exec",
    ]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(r#"confined to tenant "team-a""#), "{out}");
    assert!(out.contains(r#"the container "web""#), "{out}");
    let (code, out) = dockgate(&[
        "explain",
        "--config",
        config,
        "--client",
        "a1",
        "--body",
        body.to_str().unwrap(),
        "POST",
        "/containers/create",
    ]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(r#"the container "db" (HostConfig.VolumesFrom)"#),
        "{out}"
    );
    assert!(
        out.contains(r#"the network "backend" (HostConfig.NetworkMode)"#),
        "{out}"
    );
    let (code, out) = dockgate(&[
        "explain",
        "--config",
        config,
        "--client",
        "a1",
        "POST",
        "/images/load",
    ]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("not available to clients confined to a tenant"),
        "{out}"
    );
    let (_, out) = dockgate(&["check", "--config", config]);
    assert!(
        out.contains("tenant team-a") && out.contains("no tenant (unconfined)"),
        "{out}"
    );
}

#[test]
fn an_exec_instance_a_tenant_created_is_started_without_asking_the_engine_again() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&["a1"]);
    let gateway = Gateway::start(&pki, engine.path(), POLICY);
    let container = "owned-by-team-a--web";
    let id = fake_id(&format!("exec-{}", fake_id(container)));
    let (status, answer) = gateway_request(
        &gateway,
        &pki,
        "a1",
        "POST",
        &format!("/containers/{container}/exec"),
        r#"{"Cmd":["true"]}"#,
    );
    assert_eq!(status, 201, "{answer}");
    assert_eq!(
        json(&answer)["Id"],
        id.as_str(),
        "the answer passes unchanged"
    );
    let before = engine.request_count();
    let (status, answer) = gateway_request(
        &gateway,
        &pki,
        "a1",
        "POST",
        &format!("/exec/{id}/resize?h=1&w=1"),
        "",
    );
    assert_eq!(status, 200, "{answer}");
    let after: Vec<_> = engine.requests()[before..]
        .iter()
        .map(|r| format!("{} {}", r.method, r.target))
        .collect();
    assert_eq!(after, vec![format!("POST /exec/{id}/resize?h=1&w=1")]);
}

#[test]
fn names_of_other_tenants_volumes_and_networks_cannot_be_taken_or_shadowed() {
    let Some(mut w) = setup() else { return };
    let vb = w.volume("b1", "vb");
    let (nb, nb_id) = w.network("b1", "nb");
    let (b, _) = w.container("b1", "b");
    let (na, _) = w.network("a1", "na");
    // A volume create naming b's volume would hand back b's volume.
    let (status, answer) = w.req(
        "a1",
        "POST",
        "/volumes/create",
        &format!(r#"{{"Name":"{vb}"}}"#),
    );
    assert_eq!(status, 403, "{answer}");
    assert!(
        !answer.contains("team-b"),
        "nothing of b's volume is shown: {answer}"
    );
    // A second network of b's name would make b's name ambiguous to b.
    let (status, answer) = w.req(
        "a1",
        "POST",
        "/networks/create",
        &format!(r#"{{"Name":"{nb}","CheckDuplicate":false}}"#),
    );
    assert!(status >= 400, "{status} {answer}");
    let (status, answer) = w.req("b1", "GET", &format!("/networks/{nb}"), "");
    assert_eq!(
        status, 200,
        "b's network name still names one network: {answer}"
    );
    assert_eq!(json(&answer)["Id"], nb_id.as_str());
    // Links on a user network's endpoint name containers too.
    let name = unique("epl");
    w.made.containers.push(name.clone());
    let body = format!(
        r#"{{"Image":"{TEST_IMAGE}","HostConfig":{{"NetworkMode":"{na}"}},"NetworkingConfig":{{"EndpointsConfig":{{"{na}":{{"Links":["{b}:db"]}}}}}}}}"#
    );
    let (status, answer) = w.req(
        "a1",
        "POST",
        &format!("/containers/create?name={name}"),
        &body,
    );
    assert_eq!(status, 404, "{answer}");
    assert_eq!(
        w.engine("GET", &format!("/containers/{name}/json"), "").0,
        404
    );
    // A missing volume the Engine would make with the client's driver options.
    let fresh = unique("opts");
    w.made.volumes.push(fresh.clone());
    let body = format!(
        r#"{{"Image":"{TEST_IMAGE}","HostConfig":{{"Mounts":[{{"Type":"volume","Source":"{fresh}","Target":"/x","VolumeOptions":{{"DriverConfig":{{"Name":"local","Options":{{"type":"tmpfs","device":"tmpfs"}}}}}}}}]}}}}"#
    );
    let (status, answer) = w.req(
        "a1",
        "POST",
        &format!("/containers/create?name={name}"),
        &body,
    );
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("docker volume create"), "{answer}");
    assert_eq!(w.engine("GET", &format!("/volumes/{fresh}"), "").0, 404);
    // A commit naming no container is a missing container, as for the Engine.
    let (status, answer) = w.req("a1", "POST", "/commit?repo=x", "");
    assert_eq!(status, 404, "{answer}");
}

#[test]
fn names_churning_under_load_never_reach_another_tenants_container() {
    let Some(w) = setup() else { return };
    let w = std::sync::Arc::new(w);
    let name = unique("churn");
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // team-b keeps creating, renaming and removing running containers under
    // one name; team-a keeps trying to stop, exec into and inspect that name.
    let churn = {
        let (w, name, done) = (w.clone(), name.clone(), done.clone());
        std::thread::spawn(move || {
            for round in 0..8 {
                let (status, answer) = w.req(
                    "b1",
                    "POST",
                    &format!("/containers/create?name={name}"),
                    &format!(r#"{{"Image":"{TEST_IMAGE}","Cmd":["sleep","600"]}}"#),
                );
                assert_eq!(status, 201, "{answer}");
                let id = json(&answer)["Id"].as_str().unwrap().to_owned();
                let (status, _) = w.req("b1", "POST", &format!("/containers/{id}/start"), "");
                assert_eq!(status, 204);
                let renamed = format!("{name}-{round}");
                let (status, _) = w.req(
                    "b1",
                    "POST",
                    &format!("/containers/{name}/rename?name={renamed}"),
                    "",
                );
                assert_eq!(status, 204);
                let (_, answer) = w.engine("GET", &format!("/containers/{id}/json"), "");
                assert_eq!(json(&answer)["State"]["Running"], true, "round {round}");
                let (status, _) = w.req("b1", "DELETE", &format!("/containers/{id}?force=1"), "");
                assert_eq!(status, 204);
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        })
    };
    let mut tries = 0;
    while !done.load(std::sync::atomic::Ordering::SeqCst) {
        for (method, target, body) in [
            ("POST", format!("/containers/{name}/stop?t=0"), ""),
            (
                "POST",
                format!("/containers/{name}/exec"),
                r#"{"Cmd":["true"]}"#,
            ),
            ("GET", format!("/containers/{name}/json"), ""),
        ] {
            let (status, answer) = w.req("a1", method, &target, body);
            assert_eq!(status, 404, "{method} {target}: {answer}");
            tries += 1;
        }
    }
    churn
        .join()
        .expect("team-b's containers were never touched");
    assert!(tries > 0);
}
