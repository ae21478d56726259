//! Option strings inside request bodies, read with the Engine's own grammars, at the socket:
//! local volume mount options (`o`, `type`), `Binds` modes, `SecurityOpt`, device cgroup
//! permissions and logging drivers.
//!
//! Against a fake Engine every refusal is checked for its answer and for reaching nothing;
//! against the real Engine, a read-only bind volume granted read-only is really read-only
//! inside a container, and a logging driver that connects out is refused until granted.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::fake_engine::FakeEngine;
use support::raw;
use support::{docker, docker_clis, real_engine, text, Gateway, Pki, TEST_IMAGE};

/// `reader` may bind `tree` read-only and mount nfs volumes; `logger` may use syslog;
/// `plain` is granted nothing. All three may call anything.
fn config(tree: &str) -> String {
    format!(
        r#"
[clients.reader]
policies = ["read-tree"]

[clients.logger]
policies = ["syslog"]

[clients.plain]
policies = ["plain"]

[policies.read-tree]
allow = ["* /**"]

[policies.read-tree.grants]
read_only_bind_mounts = ["{tree}/**"]
volume_types = ["nfs"]

[policies.syslog]
allow = ["* /**"]

[policies.syslog.grants]
log_drivers = ["syslog"]

[policies.plain]
allow = ["* /**"]
"#
    )
}

const CLIENTS: [&str; 3] = ["reader", "logger", "plain"];

fn post_json(target: &str, body: &str) -> Vec<u8> {
    let mut out = format!(
        "POST {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// The `message` of a JSON error response.
fn message(response: &str) -> String {
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    let value: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {response}"));
    value["message"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn option_strings_are_judged_as_the_engine_reads_them() {
    let pki = Pki::new(&CLIENTS);
    let engine = FakeEngine::start();
    let gateway = Gateway::start(&pki, engine.path(), &config("/srv/x"));
    let volume = "/v1.41/volumes/create";
    let create = "/v1.41/containers/create";
    let start = "/v1.23/containers/c/start";
    /// A refusal's status and a fragment of its message; `None` to forward as sent.
    type Refused = Option<(u16, &'static str)>;
    let cases: &[(&str, &str, &str, Refused)] = &[
        (
            "reader",
            volume,
            r#"{"Name":"v","DriverOpts":{"type":"none","o":"bind,ro","device":"/srv/x/a"}}"#,
            None,
        ),
        (
            "reader",
            volume,
            r#"{"Name":"v","DriverOpts":{"type":"none","o":"bind,rw,ro","device":"/srv/x/a"}}"#,
            None,
        ),
        (
            "reader",
            volume,
            r#"{"Name":"v","DriverOpts":{"type":"none","o":"bind,ro,rw","device":"/srv/x/a"}}"#,
            Some((403, "DriverOpts.device (/srv/x/a)")),
        ),
        (
            "reader",
            volume,
            r#"{"Name":"v","DriverOpts":{"type":"none","o":"rbind","device":"/srv/x/a"}}"#,
            Some((403, "DriverOpts.device (/srv/x/a)")),
        ),
        (
            "reader",
            volume,
            r#"{"Name":"v","DriverOpts":{"type":"none","o":"BIND,ro","device":"/srv/x/a"}}"#,
            Some((403, "DriverOpts.type (none)")),
        ),
        (
            "reader",
            volume,
            r#"{"Name":"v","DriverOpts":{"type":"none","o":" bind,ro","device":"/srv/x/a"}}"#,
            Some((403, "DriverOpts.type (none)")),
        ),
        (
            "reader",
            volume,
            r#"{"Name":"v","DriverOpts":{"type":"none","o":"bind,,ro","device":"/srv/x/a"}}"#,
            None,
        ),
        (
            "reader",
            volume,
            r#"{"Name":"v","DriverOpts":{"type":"nfs","o":"addr=10.0.0.1","device":":/export"}}"#,
            None,
        ),
        (
            "reader",
            volume,
            r#"{"Name":"v","DriverOpts":{"type":"NFS","o":"addr=10.0.0.1","device":":/export"}}"#,
            Some((403, "volume_types including \"NFS\"")),
        ),
        (
            "reader",
            volume,
            r#"{"Name":"v","DriverOpts":{"Type":"none","o":"bind,ro","device":"/srv/x/a"}}"#,
            Some((400, "\"Type\" is not a local volume option")),
        ),
        // A `:ro` bind is recursive: what is mounted below it stays writable.
        (
            "reader",
            create,
            r#"{"Image":"x","HostConfig":{"Binds":["/srv/x/a:/a:ro"]}}"#,
            Some((403, "bind-nonrecursive")),
        ),
        (
            "reader",
            create,
            r#"{"Image":"x","HostConfig":{"Mounts":[{"Type":"bind","Source":"/srv/x/a","Target":"/a","ReadOnly":true,"BindOptions":{"NonRecursive":true}}]}}"#,
            None,
        ),
        (
            "reader",
            create,
            r#"{"Image":"x","HostConfig":{"Binds":["/srv/x/a:/a:ro,rw"]}}"#,
            Some((400, "invalid mode")),
        ),
        (
            "reader",
            create,
            r#"{"Image":"x","HostConfig":{"Binds":["/srv/x/a:/a:z,ro"]}}"#,
            Some((403, "HostConfig.Binds (/srv/x/a)")),
        ),
        (
            "reader",
            create,
            r#"{"Image":"x","HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/v","VolumeOptions":{"DriverConfig":{"Options":{"type":"none","o":"bind,ro,rw","device":"/srv/x/a"}}}}]}}"#,
            Some((403, "Options.device (/srv/x/a)")),
        ),
        (
            "plain",
            create,
            r#"{"Image":"x","HostConfig":{"SecurityOpt":["label:disable"]}}"#,
            Some((403, "SecurityOpt (label:disable)")),
        ),
        (
            "plain",
            create,
            r#"{"Image":"x","HostConfig":{"SecurityOpt":["seccomp:unconfined"]}}"#,
            Some((403, "SecurityOpt (seccomp:unconfined)")),
        ),
        (
            "plain",
            create,
            r#"{"Image":"x","HostConfig":{"SecurityOpt":["no-new-privileges=false"]}}"#,
            Some((403, "security_opt = true")),
        ),
        (
            "plain",
            create,
            r#"{"Image":"x","HostConfig":{"SecurityOpt":["no-new-privileges=yes"]}}"#,
            Some((400, "not a boolean")),
        ),
        (
            "plain",
            create,
            r#"{"Image":"x","HostConfig":{"SecurityOpt":["no-new-privileges:true"]}}"#,
            None,
        ),
        (
            "plain",
            create,
            r#"{"Image":"x","HostConfig":{"Devices":[{"PathOnHost":"/dev/null","CgroupPermissions":"rwx"}]}}"#,
            Some((400, "CgroupPermissions")),
        ),
        (
            "plain",
            create,
            r#"{"Image":"x","HostConfig":{"LogConfig":{"Type":"syslog","Config":{"syslog-address":"unix:///var/run/docker.sock"}}}}"#,
            Some((403, "log_drivers including \"syslog\"")),
        ),
        (
            "plain",
            create,
            r#"{"Image":"x","HostConfig":{"LogConfig":{"Config":{"syslog-address":"tcp://10.0.0.1:514"}}}}"#,
            Some((403, "LogConfig.Config (syslog-address)")),
        ),
        (
            "plain",
            create,
            r#"{"Image":"x","LogConfig":{"Type":"gelf"}}"#,
            Some((403, "LogConfig.Type (gelf)")),
        ),
        (
            "plain",
            start,
            r#"{"LogConfig":{"Type":"fluentd"}}"#,
            Some((403, "LogConfig.Type (fluentd)")),
        ),
        (
            "plain",
            create,
            r#"{"Image":"x","HostConfig":{"LogConfig":{"Type":"json-file","Config":{"max-size":"1m"}}}}"#,
            None,
        ),
        (
            "logger",
            create,
            r#"{"Image":"x","HostConfig":{"LogConfig":{"Type":"syslog","Config":{"syslog-address":"udp://127.0.0.1:514"}}}}"#,
            None,
        ),
        ("logger", start, r#"{"LogConfig":{"Type":"syslog"}}"#, None),
    ];
    let mut failures = Vec::new();
    for (client, target, body, want) in cases {
        let before = engine.request_count();
        let response = raw::exchange(gateway.addr, &pki, client, &post_json(target, body));
        let reached = engine.requests()[before..].to_vec();
        let status = raw::status(&response);
        let why = match want {
            Some((code, fragment)) => {
                let message = message(&response);
                if status != *code || !message.contains(fragment) || !reached.is_empty() {
                    Some(format!("want {code} with {fragment:?} and nothing forwarded; got {status} {message:?}, {} forwarded", reached.len()))
                } else {
                    None
                }
            }
            None => {
                let forwarded_as_sent = reached.len() == 1 && reached[0].body == body.as_bytes();
                if status != 200 || !forwarded_as_sent {
                    Some(format!(
                        "want it forwarded as sent; got {status}, {} forwarded: {response}",
                        reached.len()
                    ))
                } else {
                    None
                }
            }
        };
        if let Some(why) = why {
            failures.push(format!("{client} {target} {body}: {why}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------
// The real Engine

/// The Engine's own socket, bypassing the gateway: fixtures, checks, cleanup.
fn direct() -> Command {
    let mut cmd = Command::new("/usr/local/bin/docker");
    cmd.env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .args(["-H", "unix:///var/run/docker.sock"])
        .stdin(Stdio::null());
    cmd
}

fn finish(cmd: Command) -> Output {
    support::run(cmd, Duration::from_secs(120))
}

fn shown(out: &Output) -> String {
    format!(
        "{}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// A name no other test run uses.
fn unique(what: &str) -> String {
    let tmp = tempfile::Builder::new().prefix("").tempfile().unwrap();
    let suffix = tmp
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_lowercase();
    format!("dockgate-og-{what}-{}-{suffix}", std::process::id())
}

/// Volumes and containers made by a test, removed through the Engine's socket however the
/// test ends.
#[derive(Default)]
struct Cleanup {
    volumes: Vec<String>,
    containers: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.containers.is_empty() {
            let mut cmd = direct();
            cmd.args(["rm", "-f"]).args(&self.containers);
            let _ = cmd.output();
        }
        if !self.volumes.is_empty() {
            let mut cmd = direct();
            cmd.args(["volume", "rm", "-f"]).args(&self.volumes);
            let _ = cmd.output();
        }
    }
}

fn volume_exists(name: &str) -> bool {
    let mut cmd = direct();
    cmd.args(["volume", "inspect", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd.status().unwrap().success()
}

fn container_exists(name: &str) -> bool {
    let mut cmd = direct();
    cmd.args(["container", "inspect", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd.status().unwrap().success()
}

#[test]
fn a_read_only_bind_volume_is_read_only_in_the_container() {
    let Some(socket) = real_engine() else { return };
    let tree = tempfile::tempdir().unwrap();
    let tree_path = tree.path().to_str().unwrap().to_owned();
    let shared = Path::new(&tree_path).join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join("present"), "from the host\n").unwrap();
    let pki = Pki::new(&CLIENTS);
    let gateway = Gateway::start(&pki, &socket, &config(&tree_path));
    let mut cleanup = Cleanup::default();
    let device = format!("device={}", shared.display());
    for cli in docker_clis() {
        // o=bind,ro: granted read-only, and read-only it is.
        let name = unique("ro");
        cleanup.volumes.push(name.clone());
        let mut cmd = docker(cli, &gateway, &pki, "reader");
        cmd.args([
            "volume",
            "create",
            "--opt",
            "type=none",
            "--opt",
            "o=bind,ro",
            "--opt",
            &device,
            &name,
        ]);
        let out = finish(cmd);
        assert!(out.status.success(), "{cli}: {}", shown(&out));

        let mount = format!("{name}:/data");
        let mut cmd = docker(cli, &gateway, &pki, "reader");
        cmd.args([
            "run",
            "--rm",
            "-v",
            &mount,
            TEST_IMAGE,
            "cat",
            "/data/present",
        ]);
        let out = finish(cmd);
        assert!(
            out.status.success(),
            "{cli}: the volume should show the host tree: {}",
            shown(&out)
        );
        assert_eq!(text(&out.stdout), "from the host\n", "{cli}");

        let written = format!("written-by-{name}");
        let script = format!("echo x > /data/{written}");
        let mut cmd = docker(cli, &gateway, &pki, "reader");
        cmd.args(["run", "--rm", "-v", &mount, TEST_IMAGE, "sh", "-c", &script]);
        let out = finish(cmd);
        assert!(
            !out.status.success(),
            "{cli}: the write should fail: {}",
            shown(&out)
        );
        assert!(
            text(&out.stderr).contains("Read-only file system"),
            "{cli}: {}",
            shown(&out)
        );
        assert!(
            !shared.join(&written).exists(),
            "{cli}: the container wrote to the host"
        );

        // o=bind,ro,rw is a read-write bind to the Engine: refused, never created.
        let name = unique("rorw");
        cleanup.volumes.push(name.clone());
        let mut cmd = docker(cli, &gateway, &pki, "reader");
        cmd.args([
            "volume",
            "create",
            "--opt",
            "type=none",
            "--opt",
            "o=bind,ro,rw",
            "--opt",
            &device,
            &name,
        ]);
        let out = finish(cmd);
        assert!(!out.status.success(), "{cli}: {}", shown(&out));
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("dockgate: client \"reader\" may not POST"),
            "{cli}: {stderr}"
        );
        assert!(stderr.contains("DriverOpts.device"), "{cli}: {stderr}");
        assert!(
            !volume_exists(&name),
            "{cli}: the volume reached the Engine"
        );
    }
}

#[test]
fn a_logging_driver_that_connects_out_needs_its_grant() {
    let Some(socket) = real_engine() else { return };
    let pki = Pki::new(&CLIENTS);
    let gateway = Gateway::start(&pki, &socket, &config("/srv/x"));
    let mut cleanup = Cleanup::default();
    for cli in docker_clis() {
        let name = unique("syslog");
        cleanup.containers.push(name.clone());
        let args = [
            "create",
            "--log-driver",
            "syslog",
            "--log-opt",
            "syslog-address=udp://127.0.0.1:514",
            "--name",
            &name,
            TEST_IMAGE,
            "true",
        ];
        let mut cmd = docker(cli, &gateway, &pki, "plain");
        cmd.args(args);
        let out = finish(cmd);
        assert!(!out.status.success(), "{cli}: {}", shown(&out));
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("LogConfig.Type (syslog)"),
            "{cli}: {stderr}"
        );
        assert!(stderr.contains("log_drivers"), "{cli}: {stderr}");
        assert!(
            !container_exists(&name),
            "{cli}: the container reached the Engine"
        );

        let mut cmd = docker(cli, &gateway, &pki, "logger");
        cmd.args(args);
        let out = finish(cmd);
        assert!(out.status.success(), "{cli}: {}", shown(&out));
        assert!(
            container_exists(&name),
            "{cli}: the granted create did not reach the Engine"
        );
        let mut cmd = direct();
        cmd.args([
            "inspect",
            "--format",
            "{{.HostConfig.LogConfig.Type}}",
            &name,
        ]);
        let out = finish(cmd);
        assert_eq!(text(&out.stdout).trim(), "syslog", "{cli}");
        let mut cmd = direct();
        cmd.args(["rm", "-f", &name]);
        finish(cmd);
    }
}

/// Unmounts a test's tmpfs when dropped.
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A filesystem mounted below a tree granted read-only: a recursive `:ro` bind (which the
/// Engine remounts read-only at the top only) is refused, and the non-recursive read-only
/// mount the refusal points to really leaves nothing below writable.
#[test]
fn a_read_only_grant_holds_for_filesystems_mounted_below_it() {
    let Some(socket) = real_engine() else { return };
    let tree = tempfile::tempdir().unwrap();
    let tree_path = tree.path().to_str().unwrap().to_owned();
    let below = tree.path().join("below");
    std::fs::create_dir(&below).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "dockgate-test", below.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(mounted.success(), "mounting a tmpfs needs root, as in CI");
    let _unmount = Unmount(below.clone());
    let pki = Pki::new(&CLIENTS);
    let gateway = Gateway::start(&pki, &socket, &config(&tree_path));
    for cli in docker_clis() {
        // The Engine would mount this recursively; `below` would be writable in it.
        let bind = format!("{tree_path}:/x:ro");
        let mut cmd = docker(cli, &gateway, &pki, "reader");
        cmd.args(["run", "--rm", "-v", &bind, TEST_IMAGE, "true"]);
        let out = finish(cmd);
        assert!(!out.status.success(), "{cli}: {}", shown(&out));
        assert!(
            text(&out.stderr).contains("bind-nonrecursive"),
            "{cli}: the refusal says how: {}",
            shown(&out)
        );

        let mount = format!("type=bind,src={tree_path},dst=/x,readonly,bind-nonrecursive");
        let marker = format!("written-{}", unique("below"));
        let script = format!("echo x > /x/below/{marker} || echo x > /x/{marker}; ls /x");
        let mut cmd = docker(cli, &gateway, &pki, "reader");
        cmd.args([
            "run", "--rm", "--mount", &mount, TEST_IMAGE, "sh", "-c", &script,
        ]);
        let out = finish(cmd);
        assert!(out.status.success(), "{cli}: {}", shown(&out));
        assert!(
            text(&out.stdout).contains("below"),
            "{cli}: {}",
            shown(&out)
        );
        assert!(
            text(&out.stderr).contains("Read-only file system"),
            "{cli}: {}",
            shown(&out)
        );
        assert!(
            !below.join(&marker).exists(),
            "{cli}: wrote below the grant"
        );
        assert!(
            !tree.path().join(&marker).exists(),
            "{cli}: wrote in the grant"
        );
    }
}
