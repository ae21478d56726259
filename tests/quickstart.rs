//! The first command in README, as a newcomer runs it: `dockgate quickstart`
//! in an empty folder on a host with Docker, then the docker commands it
//! prints, as each client, against the real Engine.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn quickstart_serves_and_its_printed_commands_work() {
    let Some(_engine) = support::real_engine() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dockgate"))
        .args(["quickstart", "--dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut printed = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = line.starts_with("Stop with Ctrl-C");
        printed.push(line);
        if done {
            break;
        }
    }
    let text = printed.join("\n");
    assert!(
        text.contains("dockgate serves"),
        "quickstart did not start serving:\n{text}"
    );
    for file in [
        "certs/ca.pem",
        "certs/server-cert.pem",
        "certs/clients/admin/key.pem",
        "certs/clients/viewer/cert.pem",
        "config/dockgate.toml",
    ] {
        assert!(dir.path().join(file).exists(), "{file} missing\n{text}");
    }

    // Run the printed commands' environment with each real CLI.
    let env_of = |client: &str| -> Vec<(String, String)> {
        let line = printed
            .iter()
            .find(|l| l.contains(&format!("clients/{client} docker")))
            .unwrap_or_else(|| panic!("no command for {client}:\n{text}"));
        line.split_whitespace()
            .take_while(|w| *w != "docker")
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    };
    for cli in support::docker_clis() {
        let docker = |client: &str, args: &[&str]| {
            let mut cmd = Command::new(cli);
            cmd.env_clear()
                .env("HOME", dir.path())
                .env("DOCKER_CONFIG", dir.path().join(".docker"))
                .envs(env_of(client))
                .args(args);
            support::run(cmd, Duration::from_secs(60))
        };
        let version = docker("admin", &["version", "--format", "{{.Server.Version}}"]);
        assert!(
            version.status.success() && !version.stdout.is_empty(),
            "{cli} version as admin: {}",
            support::text(&version.stderr)
        );
        let ps = docker("viewer", &["ps"]);
        assert!(
            ps.status.success(),
            "{cli} ps as viewer: {}",
            support::text(&ps.stderr)
        );
        let run = docker("viewer", &["run", "--rm", support::TEST_IMAGE, "true"]);
        assert!(!run.status.success());
        assert!(
            support::text(&run.stderr).contains("dockgate: client \"viewer\" may not POST"),
            "{}",
            support::text(&run.stderr)
        );
        let privileged = docker(
            "admin",
            &["run", "--rm", "--privileged", support::TEST_IMAGE, "true"],
        );
        assert!(
            support::text(&privileged.stderr).contains("HostConfig.Privileged"),
            "{}",
            support::text(&privileged.stderr)
        );
    }

    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    assert!(status.success(), "quickstart exited with {status}");
}
