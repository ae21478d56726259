//! The route table against the real Engine's router: for every route with a
//! name in its path, probe paths built from it (names with `/`, names that
//! end like other routes, every version prefix form) go to the Engine's own
//! socket, and the Engine's answer must agree with dockgate's table on
//! whether a route matches, which kind of route, and what name it captured.
//!
//! The probes name objects that do not exist, so no handler the Engine
//! reaches can change anything; the Engine's error message names what the
//! handler looked up ("No such container: a/b"), which tells a greedy
//! capture from any other reading. A real legacy link alias, whose name
//! contains `/`, shows the greedy capture reaching a real container; and
//! legacy start bodies show, through the gateway, that the judge refuses
//! exactly what the Engine applies.

mod support;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use dockgate::request::judge::route::{self, ROUTES};
use hyper::{Method, Uri};
use support::raw;
use support::{engine_get, real_engine, Gateway, Pki, RemoveContainers, TEST_IMAGE};

/// What the Engine answered to a probe.
#[derive(Debug)]
struct Answer {
    status: u16,
    message: String,
}

/// One request straight to the Engine's socket.
fn engine(socket: &Path, method: &str, target: &str, body: &str) -> Answer {
    let mut stream = UnixStream::connect(socket).expect("connect to the Engine");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let content_type = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/json\r\n"
    };
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n{content_type}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = Vec::new();
    // A handler that streams (an export of nothing) may keep going; its
    // head is all a probe needs.
    let mut buf = [0u8; 8192];
    while response.len() < 64 * 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status from the Engine for {method} {target}: {text:?}"));
    // Before API 1.23 the Engine writes errors as plain text.
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let message = body
        .split_once("\"message\":\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map_or_else(|| body.trim().to_owned(), |(m, _)| m.to_owned());
    Answer { status, message }
}

/// The name the Engine's message says a handler looked up, if it names one
/// starting with `marker`: up to the next space, quote or end, without a
/// trailing `:` or an image tag the Engine added.
fn looked_up(message: &str, marker: &str) -> Option<String> {
    let start = message.find(marker)?;
    let rest = &message[start..];
    let end = rest.find([' ', '"', '\\']).unwrap_or(rest.len());
    let name = rest[..end].trim_end_matches(':');
    Some(name.strip_suffix(":latest").unwrap_or(name).to_owned())
}

/// Fills every variable of `template` with `value`.
fn fill(template: &str, value: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = rest.find('}').unwrap();
        out.push_str(&rest[..open]);
        out.push_str(value);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// Routes whose handler reaches outside the machine (a registry) even for
/// a name that does not exist, so probing them would wait on the network;
/// and routes of Engines newer than API 1.41, the Engine these tests run.
const NOT_PROBED: &[&str] = &[
    "DistributionInspect",
    "ImagePush",
    "PluginPush",
    "ImageAttestations",
    "VolumeUpdate",
];

#[test]
fn the_engine_routes_every_probe_where_the_table_does() {
    let Some(socket) = real_engine() else { return };
    let marker = format!("dgprobe{}", std::process::id());
    let values = [
        marker.clone(),
        format!("{marker}/json"),
        format!("{marker}/start"),
        format!("{marker}/exec/x"),
        format!("{marker}/a/b"),
        format!("{marker}/checkpoints/c"),
    ];
    let prefixes = [
        "", "/v1.41", "/v1.24", "/v1.23", "/v1.12", "/v1.40.0", "/v1",
    ];
    let mut failures = Vec::new();
    let mut probes = 0;
    for template_route in ROUTES.iter() {
        let method = &template_route.method;
        if !template_route.template.contains('{')
            || *method == Method::HEAD
            || NOT_PROBED.contains(&template_route.name)
        {
            continue;
        }
        for value in &values {
            let path = fill(template_route.template, value);
            for prefix in prefixes {
                let target = format!("{prefix}{path}");
                let uri: Uri = target.parse().unwrap();
                let canonical =
                    dockgate::request::path::canonicalize(&uri).expect("probes are canonical");
                let table = route::find(method, &canonical.route);
                let answer = engine(&socket, method.as_str(), &target, "");
                probes += 1;
                let verdict = check(table, &canonical.route, &answer, &marker, prefix);
                if let Err(why) = verdict {
                    failures.push(format!("{method} {target}: {why} (Engine: {answer:?})"));
                }
            }
        }
    }
    assert!(probes > 1000, "only {probes} probes ran");
    assert!(
        failures.is_empty(),
        "{} of {probes} probes disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Whether the Engine's answer agrees with the table's route for the probe.
fn check(
    table: Option<&route::Route>,
    route: &str,
    answer: &Answer,
    marker: &str,
    prefix: &str,
) -> Result<(), String> {
    let not_found = answer.status == 404 && answer.message == "page not found";
    // The Engine refuses versions below its minimum before routing's
    // handler runs; the route it matched is then not visible.
    if answer.message.contains("is too old") || answer.message.contains("is too new") {
        return if prefix.is_empty() {
            Err("a version error without a version prefix".into())
        } else {
            Ok(())
        };
    }
    let Some(table) = table else {
        return if not_found {
            Ok(())
        } else {
            Err("the table has no route, but the Engine reached a handler".into())
        };
    };
    if not_found {
        // Engines before 25.0 register the debug routes without the version
        // prefix only; newer ones with it too. The table keeps the broader.
        if table.name.starts_with("Debug") && !prefix.is_empty() {
            return Ok(());
        }
        return Err(format!(
            "the table says {}, but the Engine has no route",
            table.name
        ));
    }
    let experimental = answer.status == 501 && answer.message.contains("experimental");
    if experimental != table.name.starts_with("ContainerCheckpoint") {
        return Err(format!(
            "the table says {}; the Engine reached an experimental route: {experimental}",
            table.name
        ));
    }
    if table.name.starts_with("ContainerCheckpoint") {
        return if answer.status == 501 && answer.message.contains("experimental") {
            Ok(())
        } else {
            Err(format!(
                "{} is experimental: the Engine should say so",
                table.name
            ))
        };
    }
    let captured = table.capture(route).expect("the table's route matches");
    match looked_up(&answer.message, marker) {
        Some(name) if name != captured => Err(format!(
            "the table routes to {} with name {captured:?}, the Engine looked up {name:?}",
            table.name
        )),
        _ => Ok(()),
    }
}

/// A legacy link gives a container a second name with `/` in it:
/// `/containers/web/alias/json` inspects the linked container.
#[test]
fn a_link_alias_with_a_slash_reaches_the_linked_container() {
    let Some(socket) = real_engine() else { return };
    let suffix = std::process::id();
    let db = format!("dgroute-db-{suffix}");
    let web = format!("dgroute-web-{suffix}");
    let _cleanup = RemoveContainers(vec![db.clone(), web.clone()]);
    let create = |name: &str, body: String| {
        let answer = engine(
            &socket,
            "POST",
            &format!("/containers/create?name={name}"),
            &body,
        );
        assert_eq!(answer.status, 201, "create {name}: {answer:?}");
    };
    create(
        &db,
        format!(r#"{{"Image":"{TEST_IMAGE}","Cmd":["sleep","60"]}}"#),
    );
    let started = engine(&socket, "POST", &format!("/containers/{db}/start"), "");
    assert_eq!(started.status, 204, "{started:?}");
    create(
        &web,
        format!(
            r#"{{"Image":"{TEST_IMAGE}","Cmd":["true"],"HostConfig":{{"Links":["{db}:alias"]}}}}"#
        ),
    );
    let path = format!("/containers/{web}/alias/json");
    let table = route::find(&Method::GET, &path).expect("inspect route");
    assert_eq!(table.name, "ContainerInspect");
    assert_eq!(table.capture(&path), Some(format!("{web}/alias").as_str()));
    let answer = engine(&socket, "GET", &path, "");
    assert_eq!(answer.status, 200, "{answer:?}");
    let db_id = engine(&socket, "GET", &format!("/containers/{db}/json"), "");
    assert_eq!(db_id.status, 200);
}

/// Before API 1.24 the Engine applies the host settings of a start body,
/// nested `HostConfig` included; the judge reads it the same way.
#[test]
fn legacy_start_bodies_are_judged_as_the_engine_applies_them() {
    let Some(socket) = real_engine() else { return };
    let host_dir = tempfile::tempdir().unwrap();
    std::fs::write(host_dir.path().join("mark"), "from the host").unwrap();
    let pki = Pki::new(&["plain", "mounter"]);
    let gateway = Gateway::start(
        &pki,
        &socket,
        &format!(
            r#"
[clients.plain]
policies = ["run"]
[clients.mounter]
policies = ["run-with-mounts"]
[policies.run]
allow = ["* /**"]
[policies.run-with-mounts]
allow = ["* /**"]
grants = {{ bind_mounts = ["{}/**"] }}
"#,
            host_dir.path().display()
        ),
    );
    let suffix = std::process::id();
    let name = format!("dgroute-start-{suffix}");
    let _cleanup = RemoveContainers(vec![name.clone()]);
    let created = engine(
        &socket,
        "POST",
        &format!("/containers/create?name={name}"),
        &format!(r#"{{"Image":"{TEST_IMAGE}","Cmd":["sleep","60"]}}"#),
    );
    assert_eq!(created.status, 201, "{created:?}");
    let bind = format!("{}:/mnt:ro", host_dir.path().display());
    // The nested HostConfig wins over the top-level fields in the Engine's
    // wrapper; the top level here is harmless on purpose.
    let body = format!(r#"{{"Binds":[],"HostConfig":{{"Binds":["{bind}"]}}}}"#);
    let start = format!(
        "POST /v1.23/containers/{name}/start HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let refused = raw::exchange(gateway.addr, &pki, "plain", start.as_bytes());
    assert_eq!(raw::status(&refused), 403, "{refused}");
    assert!(refused.contains("HostConfig.Binds"), "{refused}");
    assert!(!engine_get(&socket, &format!("/containers/{name}/json")).contains("\"Running\":true"));

    let allowed = raw::exchange(gateway.addr, &pki, "mounter", start.as_bytes());
    assert_eq!(raw::status(&allowed), 204, "{allowed}");
    let state = engine_get(&socket, &format!("/containers/{name}/json"));
    assert!(state.contains("\"Running\":true"), "{state}");
    // The Engine really applied the nested HostConfig at start.
    assert!(state.contains(&bind), "{state}");
}
