//! Attacks on tenant confinement against the real Engine, as a hostile
//! client of team-a would make them: references and parameters the Engine
//! reads in ways the judge might not, and answers that might tell of
//! another tenant's objects.
//!
//! Every attack asserts the refusal and, on the Engine's own socket, that
//! the target is unchanged; an answer must say no more than the Engine says
//! of an object that does not exist.

mod support;

use support::tenant_world::{json, setup, unique, World};
use support::TEST_IMAGE;

/// `filters` as the query carries it.
fn filters(json: &str) -> String {
    json.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn container_list_since_and_before_name_only_the_tenants_containers() {
    let Some(mut w) = setup() else { return };
    let (b, b_id) = w.container("b1", "b");
    let (a, _) = w.container("a1", "a");
    let absent = unique("absent");
    for key in ["since", "before"] {
        let list = |reference: &str| {
            w.req(
                "a1",
                "GET",
                &format!(
                    "/containers/json?all=1&filters={}",
                    filters(&format!(r#"{{"{key}":{{"{reference}":true}}}}"#))
                ),
                "",
            )
        };
        let (missing_status, answer) = list(&absent);
        assert!(
            missing_status >= 400,
            "{key} of a missing container: {answer}"
        );
        let missing = json(&answer)["message"].as_str().unwrap().to_owned();
        for reference in [b.clone(), b_id.clone(), b_id[..12].to_owned()] {
            let (status, answer) = list(&reference);
            assert_eq!(status, missing_status, "{key}={reference}: {answer}");
            assert_eq!(
                json(&answer)["message"],
                missing.replace(&absent, &reference),
                "{key}={reference}: in the words for a missing one"
            );
        }
        let (status, answer) = list(&a);
        assert_eq!(status, 200, "{key} of the tenant's own: {answer}");
    }
}

#[test]
fn creating_a_volume_under_another_tenants_name_tells_nothing_of_it() {
    let Some(mut w) = setup() else { return };
    let vb = w.volume("b1", "vb");
    let (_, before) = w.engine("GET", &format!("/volumes/{vb}"), "");
    for body in [
        format!(r#"{{"Name":"{vb}"}}"#),
        format!(r#"{{"Name":"{vb}","Driver":"local"}}"#),
    ] {
        let (status, answer) = w.req("a1", "POST", "/volumes/create", &body);
        assert!(status >= 400, "{body}: {status} {answer}");
        assert!(
            !answer.contains("team-b") && !answer.contains("Mountpoint"),
            "{answer}"
        );
    }
    let (_, after) = w.engine("GET", &format!("/volumes/{vb}"), "");
    assert_eq!(json(&before), json(&after), "b's volume is unchanged");
    // The tenant's own volume, created again, is answered as the Engine does.
    let va = w.volume("a1", "va");
    let (status, answer) = w.req(
        "a2",
        "POST",
        "/volumes/create",
        &format!(r#"{{"Name":"{va}"}}"#),
    );
    assert_eq!(status, 201, "{answer}");
}

#[test]
fn a_mounts_volume_options_cannot_label_a_volume_for_another_tenant() {
    let Some(mut w) = setup() else { return };
    let name = unique("forged-mount");
    w.made.containers.push(name.clone());
    let (status, answer) = w.req(
        "a1",
        "POST",
        &format!("/containers/create?name={name}"),
        &format!(
            r#"{{"Image":"{TEST_IMAGE}","Cmd":["true"],"HostConfig":{{"Mounts":[{{"Type":"volume","Target":"/x","VolumeOptions":{{"Labels":{{"dockgate.tenant":"team-b"}}}}}}]}}}}"#
        ),
    );
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("dockgate.tenant"), "{answer}");
    assert_eq!(
        w.engine("GET", &format!("/containers/{name}/json"), "").0,
        404,
        "nothing was created"
    );
    let labelled = format!(
        "/volumes?filters={}",
        filters(r#"{"label":{"dockgate.tenant=team-b":true}}"#)
    );
    let (_, answer) = w.engine("GET", &labelled, "");
    for volume in json(&answer)["Volumes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        assert!(
            !w.made
                .volumes
                .contains(&volume["Name"].as_str().unwrap().to_owned()),
            "{volume}"
        );
    }
}

/// Commits a container of `client` as `repo:tag`; returns the image's ID.
fn commit(w: &mut World, client: &str, repo: &str, tag: &str) -> String {
    let (c, _) = w.container(client, "src");
    w.made.images.push(format!("{repo}:{tag}"));
    let (status, answer) = w.req(
        client,
        "POST",
        &format!("/commit?container={c}&repo={repo}&tag={tag}"),
        "",
    );
    assert_eq!(status, 201, "{answer}");
    json(&answer)["Id"].as_str().unwrap().to_owned()
}

#[test]
fn a_pull_cannot_write_another_tenants_tag_by_any_parameter_form() {
    let Some(mut w) = setup() else { return };
    // A registry that refuses connections: a pull that reaches the Engine
    // fails there, so the refusal below is the gateway's.
    let repo = format!("localhost:1/{}", unique("pulled"));
    let id = commit(&mut w, "b1", &repo, "v1");
    for query in [
        // The Engine pulls whenever fromImage is set, fromSrc or not.
        format!("fromImage={repo}&tag=v1&fromSrc=-&repo={}", unique("decoy")),
        // No tag: the Engine pulls every tag of the repository.
        format!("fromImage={repo}"),
        format!("fromImage={repo}&tag="),
    ] {
        let (status, answer) = w.req("a1", "POST", &format!("/images/create?{query}"), "");
        assert_eq!(status, 403, "{query}: {answer}");
        let (_, answer) = w.engine("GET", &format!("/images/{repo}:v1/json"), "");
        assert_eq!(json(&answer)["Id"], id.as_str(), "b's tag is unchanged");
    }
}

#[test]
fn an_import_cannot_label_its_image_for_another_tenant() {
    let Some(mut w) = setup() else { return };
    let repo = unique("imported");
    w.made.images.push(format!("{repo}:latest"));
    // An empty tar archive.
    let tar = "\0".repeat(1024);
    let (status, answer) = w.req(
        "a1",
        "POST",
        &format!(
            "/images/create?fromSrc=-&repo={repo}&changes={}",
            filters("LABEL dockgate.tenant=team-b")
        ),
        &tar,
    );
    let (found, image) = w.engine("GET", &format!("/images/{repo}/json"), "");
    if found == 200 {
        assert_eq!(
            json(&image)["Config"]["Labels"]["dockgate.tenant"],
            "team-a",
            "the import answered {status}: {answer}"
        );
    } else {
        assert_eq!(status, 403, "{answer}");
    }
}

#[test]
fn a_network_cannot_be_created_under_another_tenants_network_name() {
    let Some(mut w) = setup() else { return };
    let (nb, nb_id) = w.network("b1", "nb");
    let (status, answer) = w.req(
        "a1",
        "POST",
        "/networks/create",
        &format!(r#"{{"Name":"{nb}","CheckDuplicate":false}}"#),
    );
    if status == 201 {
        let made = json(&answer)["Id"].as_str().unwrap_or_default().to_owned();
        w.made.networks.push(made);
    }
    assert!(status >= 400, "{answer}");
    assert!(!answer.contains(&nb_id), "{answer}");
    // b's network still answers to its name, for b.
    let (status, answer) = w.req("b1", "GET", &format!("/networks/{nb}"), "");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(json(&answer)["Id"], nb_id.as_str());
}

#[test]
fn a_name_conflict_does_not_give_away_another_tenants_container_id() {
    let Some(mut w) = setup() else { return };
    let (b, b_id) = w.container("b1", "b");
    let (a, _) = w.container("a1", "a");
    for (target, body) in [
        (
            format!("/containers/create?name={b}"),
            format!(r#"{{"Image":"{TEST_IMAGE}"}}"#),
        ),
        (format!("/containers/{a}/rename?name={b}"), String::new()),
    ] {
        let (status, answer) = w.req("a1", "POST", &target, &body);
        assert!(status >= 400, "{target}: {answer}");
        assert!(!answer.contains(&b_id[..12]), "{target}: {answer}");
    }
    assert_eq!(w.state(&b_id)["name"], format!("/{b}"));
}

#[test]
fn legacy_start_bodies_and_folded_keys_cannot_join_another_tenants_container() {
    let Some(mut w) = setup() else { return };
    let (b, b_id) = w.container("b1", "b");
    let before = w.state(&b_id);
    let attempts = [
        ("/v1.23", format!(r#"{{"NetworkMode":"container:{b}"}}"#)),
        ("/v1.23", format!(r#"{{"PidMode":"container:{b_id}"}}"#)),
        ("/v1.23", format!(r#"{{"VolumesFrom":["{b}:ro"]}}"#)),
        ("/v1.23", format!(r#"{{"Links":["/{b}:x"]}}"#)),
        ("/v1.12", format!(r#"{{"IpcMode":"container:{b}"}}"#)),
        // Keys the Engine matches case-insensitively, with Go's folds of
        // `s` (U+017F) and `k` (U+212A).
        ("/v1.23", format!(r#"{{"pidmode":"container:{b}"}}"#)),
        ("/v1.23", format!("{{\"Lin\u{212A}\u{017F}\":[\"{b}\"]}}")),
        ("/v1.23", format!("{{\"Volume\u{017F}From\":[\"{b}\"]}}")),
    ];
    for (version, body) in &attempts {
        let name = unique("starter");
        w.made.containers.push(name.clone());
        let (status, answer) = w.req(
            "a1",
            "POST",
            &format!("/containers/create?name={name}"),
            &format!(r#"{{"Image":"{TEST_IMAGE}","Cmd":["sleep","600"]}}"#),
        );
        assert_eq!(status, 201, "{answer}");
        let (status, answer) = w.req(
            "a1",
            "POST",
            &format!("{version}/containers/{name}/start"),
            body,
        );
        assert_eq!(status, 404, "{version} {body}: {answer}");
        let (_, answer) = w.engine("GET", &format!("/containers/{name}/json"), "");
        assert_eq!(json(&answer)["State"]["Running"], false, "{body}");
    }
    // A create body folded the same ways.
    for body in [
        format!("{{\"Image\":\"{TEST_IMAGE}\",\"Ho\u{017F}tConfig\":{{\"NetworkMode\":\"container:{b}\"}}}}"),
        format!("{{\"Image\":\"{TEST_IMAGE}\",\"HostConfig\":{{\"Networ\u{212A}Mode\":\"container:{b}\"}}}}"),
        format!(r#"{{"Image":"{TEST_IMAGE}","Cgroup":"container:{b}"}}"#),
        format!(r#"{{"Image":"{TEST_IMAGE}","HostConfig":{{"Cgroup":"container:{b}"}}}}"#),
    ] {
        let name = unique("folded");
        w.made.containers.push(name.clone());
        let (status, answer) = w.req(
            "a1",
            "POST",
            &format!("/containers/create?name={name}"),
            &body,
        );
        assert_eq!(status, 404, "{body}: {answer}");
        assert_eq!(w.engine("GET", &format!("/containers/{name}/json"), "").0, 404);
    }
    assert_eq!(w.state(&b_id), before);
}

#[test]
fn a_name_that_is_another_tenants_id_prefix_names_the_tenants_own() {
    let Some(mut w) = setup() else { return };
    let (_, b_id) = w.container("b1", "b");
    let before = w.state(&b_id);
    // A container of a named with b's short ID: names come before prefixes.
    let short = &b_id[..12];
    w.made.containers.push(short.to_owned());
    let (status, answer) = w.req(
        "a1",
        "POST",
        &format!("/containers/create?name={short}"),
        &format!(r#"{{"Image":"{TEST_IMAGE}","Cmd":["sleep","600"]}}"#),
    );
    assert_eq!(status, 201, "{answer}");
    let own = json(&answer)["Id"].as_str().unwrap().to_owned();
    let (status, answer) = w.req("a1", "POST", &format!("/containers/{short}/start"), "");
    assert_eq!(status, 204, "{answer}");
    let (status, answer) = w.req("a1", "POST", &format!("/containers/{short}/kill"), "");
    assert_eq!(status, 204, "{answer}");
    assert_eq!(w.state(&own)["running"], false);
    assert_eq!(w.state(&b_id), before, "b's container still runs");
    // A shorter prefix than the name is b's, and hidden.
    let (status, _) = w.req(
        "a1",
        "POST",
        &format!("/containers/{}/kill", &b_id[..11]),
        "",
    );
    assert_eq!(status, 404);
    assert_eq!(w.state(&b_id), before);
}

#[test]
fn a_container_run_from_a_tenants_image_by_an_unconfined_client_is_not_the_tenants() {
    let Some(mut w) = setup() else { return };
    let repo = unique("built-by-a");
    commit(&mut w, "a1", &repo, "v1");
    let name = unique("admin-runs");
    w.made.containers.push(name.clone());
    let (status, answer) = w.req(
        "admin",
        "POST",
        &format!("/containers/create?name={name}"),
        &format!(r#"{{"Image":"{repo}:v1","Cmd":["sleep","600"]}}"#),
    );
    assert_eq!(status, 201, "{answer}");
    let (status, answer) = w.req("a1", "GET", &format!("/containers/{name}/json"), "");
    assert_eq!(
        status, 404,
        "the admin's container is not team-a's: {answer}"
    );
    // Unless the admin makes it team-a's on purpose.
    let given = unique("given");
    w.made.containers.push(given.clone());
    let (status, answer) = w.req(
        "admin",
        "POST",
        &format!("/containers/create?name={given}"),
        &format!(
            r#"{{"Image":"{repo}:v1","Cmd":["true"],"Labels":{{"dockgate.tenant":"team-a"}}}}"#
        ),
    );
    assert_eq!(status, 201, "{answer}");
    let (status, answer) = w.req("a1", "GET", &format!("/containers/{given}/json"), "");
    assert_eq!(status, 200, "{answer}");
}
