//! Default deny at field level, end to end: a body member that no Engine version decodes is
//! refused with 403 unless it carries its zero value, and never reaches the Engine (fake
//! Engine); while everything the real docker CLIs and the Docker SDK for Python send for a
//! `docker run` with many options, `exec`, `update`, `volume create` and a classic `build` is
//! known, so they keep working against the real Engine.

mod support;

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::fake_engine::FakeEngine;
use support::raw;
use support::{
    docker, docker_clis, real_engine, run, text, Gateway, Pki, SDK_ENV_OVERRIDES, TEST_IMAGE,
};

const POLICY: &str = r#"
[clients.admin]
policies = ["operator"]

[policies.operator]
allow = ["* /**"]
"#;

/// Long enough for a slow, shared machine; a hang still fails.
const STEP: Duration = Duration::from_secs(120);

/// The JSON `message` of a response.
fn message(response: &str) -> String {
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    let value: serde_json::Value = serde_json::from_str(body).expect("JSON body");
    value["message"].as_str().expect("message").to_owned()
}

fn post(target: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn unknown_fields_are_refused_before_the_engine() {
    let pki = Pki::new(&["admin"]);
    let engine = FakeEngine::start();
    let gateway = Gateway::start(&pki, engine.path(), POLICY);
    let refused = [
        (
            "/v1.41/containers/create",
            r#"{"Image":"x","HostConfig":{"Foo":"/"}}"#,
            "HostConfig.Foo",
        ),
        (
            "/v1.41/containers/create",
            r#"{"Image":"x","hostconfig":{"mounts":[{"Type":"bind","Source":"/data","Target":"/d","BindOptions":{"Peer":"x"}}]}}"#,
            "hostconfig.mounts[0].BindOptions.Peer",
        ),
        (
            "/v1.41/containers/create",
            r#"{"Image":"x","NetworkingConfig":{"EndpointsConfig":{"n":{"HostIface":"eth0"}}}}"#,
            "NetworkingConfig.EndpointsConfig.n.HostIface",
        ),
        (
            "/v1.41/containers/create",
            r#"{"Image":"x","HostConfig":{"LogConfig":{"Type":"json-file","Path":"/etc/shadow"}}}"#,
            "HostConfig.LogConfig.Path",
        ),
        ("/v1.23/containers/x/start", r#"{"Foo":1}"#, "Foo"),
        (
            "/containers/x/update",
            r#"{"Memory":1,"Privileged":true}"#,
            "Privileged",
        ),
        (
            "/containers/x/exec",
            r#"{"Cmd":["sh"],"HostPid":true}"#,
            "HostPid",
        ),
        (
            "/volumes/create",
            r#"{"Name":"v","Options":{"o":"bind"}}"#,
            "Options",
        ),
    ];
    for (target, body, field) in refused {
        let before = engine.request_count();
        let response = raw::exchange(gateway.addr, &pki, "admin", &post(target, body));
        assert_eq!(raw::status(&response), 403, "{body}: {response}");
        let message = message(&response);
        let want = format!("{field} is not a field dockgate knows");
        assert!(message.contains(&want), "{body}: {message}");
        assert!(message.contains("only its zero value"), "{message}");
        assert_eq!(engine.request_count(), before, "{body} reached the Engine");
    }

    let response = raw::exchange(
        gateway.addr,
        &pki,
        "admin",
        &post("/build?t=x&devices=%2Fdev%2Fsda", ""),
    );
    assert_eq!(raw::status(&response), 403, "{response}");
    assert!(
        message(&response).contains("query parameter \"devices\" is not a field dockgate knows")
    );

    // Zero values of unknown fields pass, byte for byte.
    let before = engine.request_count();
    let body = r#"{"Image":"x","HostConfig":{"Foo":null,"Bar":false,"Baz":0,"Qux":"","Quux":[],"Corge":{}}}"#;
    let target = "/v1.41/containers/create";
    let response = raw::exchange(gateway.addr, &pki, "admin", &post(target, body));
    assert_eq!(raw::status(&response), 200, "{response}");
    let reached = engine.requests()[before..].to_vec();
    assert_eq!(reached.len(), 1);
    assert_eq!(reached[0].target, target);
    assert_eq!(reached[0].body, body.as_bytes());
}

/// A name no other run uses.
fn unique(what: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("dockgate-test-{what}-{}-{nanos:08x}", std::process::id())
}

/// The Engine's own CLI on its socket, for setup and cleanup outside the gateway.
fn direct(args: &[&str]) -> std::process::Output {
    Command::new("/usr/local/bin/docker")
        .args(["-H", "unix:///var/run/docker.sock"])
        .args(args)
        .output()
        .expect("docker")
}

/// Removes what a test made through the Engine's socket, pass or fail.
#[derive(Default)]
struct Cleanup {
    containers: Vec<String>,
    volumes: Vec<String>,
    images: Vec<String>,
    networks: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &self.containers {
            direct(&["rm", "-fv", c]);
        }
        for v in &self.volumes {
            direct(&["volume", "rm", "-f", v]);
        }
        for i in &self.images {
            direct(&["rmi", "-f", i]);
        }
        for n in &self.networks {
            direct(&["network", "rm", n]);
        }
    }
}

fn succeeds(cmd: Command, what: &str) -> String {
    let out = run(cmd, STEP);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "{what} failed: {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    stdout
}

#[test]
fn the_docker_clis_run_with_many_options_through_the_default_deny() {
    let Some(socket) = real_engine() else { return };
    let pki = Pki::new(&["admin"]);
    let gateway = Gateway::start(&pki, &socket, POLICY);
    let mut cleanup = Cleanup::default();
    let network = unique("net");
    assert!(direct(&["network", "create", &network]).status.success());
    cleanup.networks.push(network.clone());

    for cli in docker_clis() {
        let tag = if cli.starts_with("/usr/local") {
            "cli28"
        } else {
            "cli20"
        };
        let name = unique(tag);
        cleanup.containers.push(name.clone());
        let mut cmd = docker(cli, &gateway, &pki, "admin");
        cmd.args([
            "run",
            "-d",
            "--name",
            &name,
            "--hostname",
            "h",
            "--user",
            "1000:1000",
            "--workdir",
            "/tmp",
        ])
        .args([
            "-e",
            "A=1",
            "--label",
            "dockgate.test=cli",
            "-p",
            "127.0.0.1::80",
            "--expose",
            "81",
        ])
        .args([
            "--restart",
            "on-failure:2",
            "--health-cmd",
            "true",
            "--health-interval",
            "1s",
        ])
        .args([
            "--health-retries",
            "2",
            "--health-timeout",
            "1s",
            "--health-start-period",
            "1s",
        ])
        .args([
            "--tmpfs",
            "/scratch:size=1m",
            "--ulimit",
            "nofile=1024:2048",
        ])
        .args([
            "--memory",
            "64m",
            "--memory-swap",
            "128m",
            "--memory-reservation",
            "32m",
        ])
        .args([
            "--cpu-shares",
            "512",
            "--pids-limit",
            "64",
            "--log-driver",
            "json-file",
        ])
        .args([
            "--log-opt",
            "max-size=1m",
            "--log-opt",
            "max-file=2",
            "--dns",
            "9.9.9.9",
        ])
        .args([
            "--dns-search",
            "example.org",
            "--dns-option",
            "ndots:2",
            "--add-host",
            "db:10.0.0.5",
        ])
        .args([
            "--init",
            "--read-only",
            "--stop-signal",
            "SIGTERM",
            "--stop-timeout",
            "5",
        ])
        .args([
            "--network",
            &network,
            "--network-alias",
            "alias1",
            "--cap-drop",
            "NET_RAW",
        ])
        .args([
            "--security-opt",
            "no-new-privileges",
            "--shm-size",
            "8m",
            "--oom-score-adj",
            "100",
        ])
        .args([
            "--mount",
            "type=volume,dst=/data",
            "--mount",
            "type=tmpfs,dst=/cache,tmpfs-size=1048576",
        ])
        .args(["-v", "/anon", "--entrypoint", "sleep", TEST_IMAGE, "60"]);
        succeeds(cmd, &format!("{cli} run"));

        let mut cmd = docker(cli, &gateway, &pki, "admin");
        cmd.args([
            "exec",
            "-e",
            "X=exec",
            "-w",
            "/scratch",
            "-u",
            "1000",
            &name,
            "sh",
            "-c",
            "echo $X $PWD",
        ]);
        assert_eq!(
            succeeds(cmd, &format!("{cli} exec")).trim(),
            "exec /scratch"
        );

        let mut cmd = docker(cli, &gateway, &pki, "admin");
        cmd.args([
            "update",
            "--memory",
            "96m",
            "--memory-swap",
            "192m",
            "--cpu-shares",
            "256",
        ])
        .args(["--pids-limit", "32", "--restart", "no", &name]);
        succeeds(cmd, &format!("{cli} update"));

        let volume = unique(&format!("{tag}-vol"));
        cleanup.volumes.push(volume.clone());
        let mut cmd = docker(cli, &gateway, &pki, "admin");
        cmd.args([
            "volume",
            "create",
            "--label",
            "dockgate.test=cli",
            "--opt",
            "type=tmpfs",
        ])
        .args(["--opt", "device=tmpfs", "--opt", "o=size=1m", &volume]);
        succeeds(cmd, &format!("{cli} volume create"));

        // The classic builder, so the query's parameters are the Engine's own.
        let context = tempfile::tempdir().unwrap();
        std::fs::write(
            context.path().join("Dockerfile"),
            format!("FROM {TEST_IMAGE} AS base\nARG A\nRUN echo $A\nFROM base AS final\nLABEL stage=final\n"),
        )
        .unwrap();
        let image = format!("{}:latest", unique(&format!("{tag}-img")));
        cleanup.images.push(image.clone());
        let mut cmd = docker(cli, &gateway, &pki, "admin");
        cmd.env("DOCKER_BUILDKIT", "0")
            .args([
                "build",
                "-q",
                "-t",
                &image,
                "--build-arg",
                "A=1",
                "--label",
                "dockgate.test=cli",
            ])
            .args([
                "--no-cache",
                "--rm",
                "--force-rm",
                "--memory",
                "64m",
                "--memory-swap",
                "128m",
            ])
            .args([
                "--cpu-shares",
                "512",
                "--cpu-period",
                "100000",
                "--cpu-quota",
                "50000",
            ])
            .args([
                "--shm-size",
                "8m",
                "--ulimit",
                "nofile=1024:1024",
                "--add-host",
                "db:10.0.0.5",
            ])
            .args(["--network", "bridge", "--target", "final", "-f"])
            .arg(context.path().join("Dockerfile"))
            .arg(context.path());
        succeeds(cmd, &format!("{cli} build"));
    }
}

#[test]
fn the_python_sdk_runs_with_many_options_through_the_default_deny() {
    let Some(socket) = real_engine() else { return };
    let installed = Command::new("python3")
        .args(["-c", "import docker"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        if std::env::var_os("CI").is_some() {
            panic!("CI is set but python3 cannot import docker");
        }
        eprintln!("\n*** NO DOCKER SDK FOR PYTHON: the SDK run test did NOT run ***\n");
        return;
    }
    let pki = Pki::new(&["admin"]);
    let gateway = Gateway::start(&pki, &socket, POLICY);
    let mut cleanup = Cleanup::default();
    let network = unique("sdk-net");
    assert!(direct(&["network", "create", &network]).status.success());
    cleanup.networks.push(network.clone());
    let name = unique("sdk");
    cleanup.containers.push(name.clone());

    let mut cmd = Command::new("python3");
    for var in SDK_ENV_OVERRIDES {
        cmd.env_remove(var);
    }
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/sdk/run_flags.py"
    ))
    .env("DOCKGATE_PORT", gateway.addr.port().to_string())
    .env("DOCKGATE_CERTS", pki.client_dir("admin"))
    .env("DOCKGATE_IMAGE", TEST_IMAGE)
    .env("DOCKGATE_CONTAINER", &name)
    .env("DOCKGATE_NETWORK", &network);
    let stdout = succeeds(cmd, "run_flags.py");
    assert!(stdout.contains("exit: 0"), "{stdout}");
    assert!(stdout.contains("logs: b'hello\\nsdk-host\\n'"), "{stdout}");
    assert!(stdout.contains("updated: "), "{stdout}");
}
