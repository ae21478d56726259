//! The shipped unit under a real systemd. A Debian container boots systemd
//! as PID 1; README's "Install" steps run in it as written; then `systemctl`
//! and the docker CLI drive the service: it runs as `dockgate` with the
//! `docker` group and reaches the host's Engine through its socket, allows
//! and refuses, reloads, keeps its policy through a broken reload, drains
//! an open stream on stop, fails plainly without the group, and starts from
//! `dockgate.socket` on the first connection. A client socket in
//! `/run/dockgate` serves the docker CLI, and so does the shared socket
//! there to a user in neither the docker nor the dockgate group whose uid
//! a client lists; a user no client lists is refused by uid.
//!
//! The image (Debian minbase with systemd, in the host's release so the
//! binary built here runs in it) is made once by `mmdebstrap` from the
//! host's apt sources. The container has no network but its own loopback;
//! the host's Engine socket, the built binary, the docker CLI and the
//! repository's `config/` and `systemd/` are mounted into it.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const DOCKER: &str = "/usr/local/bin/docker";
const ENGINE: &str = "unix:///var/run/docker.sock";
/// Where the container holds the repository's files, as a checkout would.
const CHECKOUT: &str = "/root/dockgate";
/// The client folders `dockgate pki client` writes.
const CLIENTS: &str = "/etc/dockgate/certs/clients";
/// Names the image's package set: change it with the `mmdebstrap` arguments.
const IMAGE_VERSION: u32 = 1;
/// Long enough for anything but a hang on a busy 2-core machine.
const EXEC_TIMEOUT: Duration = Duration::from_secs(120);

#[test]
fn the_shipped_unit_runs_under_systemd_as_readme_installs_it() {
    let Some(image) = systemd_image() else {
        return;
    };
    let started = Instant::now();
    let machine = Container::boot(&image);
    machine.wait_for_boot();

    install_as_readme_says(&machine);
    let pid = runs_unprivileged_with_the_docker_group(&machine);
    serves_and_refuses(&machine);
    reload_applies_a_new_policy_and_a_broken_one_changes_nothing(&machine, &pid);
    a_client_socket_in_the_runtime_directory_serves(&machine);
    a_developer_outside_the_docker_group_is_known_by_uid(&machine);
    stop_drains_and_exits_zero(&machine);
    without_the_docker_group_the_engine_is_unreachable(&machine);
    the_socket_unit_starts_the_service_on_the_first_connection(&machine);
    eprintln!("systemd test ran in {:?}", started.elapsed());
}

/// README's steps, under umask 077 (an admin's strict umask survives sudo,
/// which keeps the stricter of the two): `sudo` is the root shell itself,
/// and the `cargo build` the test already did.
fn install_as_readme_says(machine: &Container) {
    let blocks = readme_install_blocks();
    assert_eq!(
        blocks.len(),
        2,
        "README's Install section should hold two sh blocks, around the certificates step"
    );
    let script = format!(
        r#"set -euxo pipefail
umask 077
# Debian's docker.io makes this group; here it takes the host socket's GID.
groupadd --gid "$(stat -c %g /var/run/docker.sock)" docker
sudo() {{ if [ "$1" = -u ]; then local user=$2; shift 2; runuser -u "$user" -- "$@"; else "$@"; fi; }}
cargo() {{ echo "cargo $*: target/release/dockgate is the test's build"; }}
{}
dockgate pki init --dir /etc/dockgate/certs --name "systemd test CA"
dockgate pki server --dir /etc/dockgate/certs --san DNS:localhost --san IP:127.0.0.1
dockgate pki client admin --dir /etc/dockgate/certs
dockgate pki client viewer --dir /etc/dockgate/certs
{}"#,
        blocks[0], blocks[1]
    );
    let out = machine.ok_in(CHECKOUT, "README's Install steps", &script);
    assert!(
        out.contains("0 error(s), 0 warning(s)"),
        "`dockgate check` as the service user found problems:\n{out}"
    );
}

/// Active, notified, and running as `dockgate` with the docker group and
/// no capabilities. Returns the main PID.
fn runs_unprivileged_with_the_docker_group(machine: &Container) -> String {
    let show = machine.show(
        "dockgate",
        &[
            "ActiveState",
            "SubState",
            "Type",
            "NotifyAccess",
            "StatusText",
            "MainPID",
        ],
    );
    eprintln!("systemctl show dockgate: {show:?}");
    machine.expect(show["ActiveState"] == "active", "dockgate is active", &show);
    machine.expect(show["SubState"] == "running", "dockgate is running", &show);
    machine.expect(show["Type"] == "notify", "Type=notify", &show);
    machine.expect(show["NotifyAccess"] == "main", "NotifyAccess=main", &show);
    let pid = show["MainPID"].clone();

    let uid = machine.ok("the service user's UID", "id -u dockgate");
    let docker_gid = machine.ok(
        "the docker group's GID",
        "getent group docker | cut -d: -f3",
    );
    let status = machine.ok(
        "the main process's status",
        &format!("cat /proc/{pid}/status"),
    );
    let field = |name: &str| -> Vec<&str> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status:\n{status}"))
            .split_whitespace()
            .collect()
    };
    assert_eq!(
        field("Uid"),
        [uid.as_str(); 4],
        "real, effective, saved and fs UID"
    );
    assert!(
        field("Groups").contains(&docker_gid.as_str()),
        "the docker group ({docker_gid}) is not among the supplementary groups:\n{status}"
    );
    assert_eq!(field("CapEff"), ["0000000000000000"], "capabilities");
    assert_eq!(field("CapBnd"), ["0000000000000000"], "bounding set");
    assert_eq!(field("NoNewPrivs"), ["1"]);

    // The host's user namespace: in one of its own, dockgate would see the
    // peers on its shared socket as 65534 and could not tell them apart.
    let ns = machine.ok(
        "the service's user namespace",
        &format!("readlink /proc/{pid}/ns/user /proc/1/ns/user"),
    );
    let ns: Vec<_> = ns.lines().collect();
    assert_eq!(ns[0], ns[1], "the service has a user namespace of its own");
    pid
}

fn serves_and_refuses(machine: &Container) {
    let version = machine.docker_as("admin", &["version", "--format", "{{.Server.Version}}"]);
    machine.expect_success("docker version as admin", &version);
    assert!(!version.stdout.is_empty(), "docker version printed nothing");

    let ran = machine.docker_as(
        "admin",
        &[
            "run",
            "--rm",
            "--network",
            "none",
            support::TEST_IMAGE,
            "echo",
            "through systemd",
        ],
    );
    machine.expect_success("docker run as admin", &ran);
    assert_eq!(support::text(&ran.stdout).trim(), "through systemd");

    machine.expect_success("docker ps as viewer", &machine.docker_as("viewer", &["ps"]));
    viewer_may_not_run(machine);
}

/// The reload changes the policy the next request sees, keeps the process,
/// and shows in the journal; a broken config changes nothing.
fn reload_applies_a_new_policy_and_a_broken_one_changes_nothing(machine: &Container, pid: &str) {
    let config = "/etc/dockgate/dockgate.toml";
    machine.ok(
        "giving viewer the ci policy",
        &format!(
            r#"sed -i '/^\[clients.viewer\]$/,/^policies/ s/^policies = .*/policies = ["read-only", "ci"]/' {config}
grep -A1 '^\[clients.viewer\]$' {config} | grep -qx 'policies = \["read-only", "ci"\]'"#
        ),
    );
    let journal = machine.reload_until("configuration reloaded");
    assert!(journal.contains("SIGHUP: reloading"), "{journal}");
    viewer_may_run(machine);
    machine.still_running_as(pid, "after the reload");

    // Broken: an unknown key, and viewer back to read-only. Nothing of it may apply.
    machine.ok(
        "breaking the config",
        &format!(
            r#"sed -i -e '1i bogus = 1' -e '/^\[clients.viewer\]$/,/^policies/ s/^policies = .*/policies = ["read-only"]/' {config}"#
        ),
    );
    let journal = machine.reload_until("reload failed; keeping the running configuration");
    assert!(
        journal.contains("bogus"),
        "the error should name the key:\n{journal}"
    );
    viewer_may_run(machine);
    machine.still_running_as(pid, "after the broken reload");

    machine.ok(
        "mending the config",
        &format!("sed -i '/^bogus = 1$/d' {config}"),
    );
    machine.reload_until("configuration reloaded");
    viewer_may_not_run(machine);
    machine.still_running_as(pid, "after the mended reload");
}

/// `/run/dockgate` is the service's, entered by its group; a client's
/// socket a reload adds there is made with its mode and serves the docker
/// CLI without TLS.
fn a_client_socket_in_the_runtime_directory_serves(machine: &Container) {
    let dir = machine.ok("the runtime directory", "stat -c '%a %U %G' /run/dockgate");
    assert_eq!(dir.trim(), "755 dockgate dockgate");
    machine.ok(
        "adding a client with a socket of its own",
        r#"printf '\n[clients.local]\npolicies = ["read-only"]\nsocket = "/run/dockgate/local.sock"\n' >> /etc/dockgate/dockgate.toml"#,
    );
    machine.reload_until("configuration reloaded");
    let socket = machine.ok(
        "the client's socket",
        "stat -c '%a %U %G %F' /run/dockgate/local.sock",
    );
    assert_eq!(socket.trim(), "660 dockgate dockgate socket");
    machine.ok(
        "docker ps through the socket",
        &format!("DOCKER_CONFIG=/tmp/docker-local {DOCKER} -H unix:///run/dockgate/local.sock ps"),
    );
}

/// The shared socket, `local_listen`, open to every local user: a user in
/// neither the docker nor the dockgate group uses the docker CLI through it
/// with the policy of the client listing its uid; a user no client lists
/// is told its uid. Under the unit, dockgate sees the peer's real uid.
fn a_developer_outside_the_docker_group_is_known_by_uid(machine: &Container) {
    machine.ok(
        "two users in no group of the gateway's",
        "useradd -M -u 1500 dev && useradd -M -u 1501 stranger",
    );
    machine.ok(
        "a shared socket, and a client known by uid 1500",
        r#"sed -i '1i local_listen = "/run/dockgate/docker.sock"\nlocal_listen_mode = "0666"' /etc/dockgate/dockgate.toml && printf '\n[clients.dev]\npolicies = ["read-only"]\nuids = [1500]\n' >> /etc/dockgate/dockgate.toml"#,
    );
    machine.reload_until("configuration reloaded");
    let socket = machine.ok(
        "the shared socket",
        "stat -c '%a %U %G %F' /run/dockgate/docker.sock",
    );
    assert_eq!(socket.trim(), "666 dockgate dockgate socket");
    let as_user = |user: &str, args: &str| {
        machine.sh(&format!(
            "runuser -u {user} -- env HOME=/tmp DOCKER_CONFIG=/tmp/docker-{user} \
             {DOCKER} -H unix:///run/dockgate/docker.sock {args}"
        ))
    };
    let listed = as_user("dev", "ps");
    machine.expect_success("docker ps as the developer", &listed);
    let refused = as_user("dev", "run --rm dockgate-nothing true");
    let said = support::text(&refused.stderr);
    assert!(
        !refused.status.success() && said.contains("dockgate: client \"dev\" may not POST"),
        "docker run as the read-only developer should be refused by the gateway:\n{said}\n{}",
        machine.diagnostics()
    );
    let stranger = as_user("stranger", "ps");
    let said = support::text(&stranger.stderr);
    assert!(
        !stranger.status.success() && said.contains("uid 1501"),
        "a user no client lists should be refused by uid:\n{said}\n{}",
        machine.diagnostics()
    );
}

/// `systemctl stop` with a stream open: the gateway drains for its grace
/// period, cuts the stream and exits 0, well before systemd would SIGKILL.
fn stop_drains_and_exits_zero(machine: &Container) {
    let mut detached = host_docker();
    detached
        .args(["exec", "-d", &machine.name])
        .args(Container::docker_argv("admin", &["events"]));
    let out = support::run(detached, EXEC_TIMEOUT);
    machine.expect_success("starting docker events", &out);
    machine.wait_for(
        "the events stream's connection",
        // 0948 is port 2376; state 01 is ESTABLISHED.
        "grep -Eq '^ *[0-9]+: [0-9A-F]{8}:0948 [0-9A-F]{8}:[0-9A-F]{4} 01 ' /proc/net/tcp",
    );

    let cursor = machine.cursor();
    machine.ok("systemctl stop dockgate", "systemctl stop dockgate");
    let show = machine.show(
        "dockgate",
        &["ActiveState", "Result", "ExecMainCode", "ExecMainStatus"],
    );
    machine.expect(show["ActiveState"] == "inactive", "stopped", &show);
    machine.expect(show["Result"] == "success", "Result=success", &show);
    // ExecMainCode 1 is CLD_EXITED: it exited rather than being killed.
    machine.expect(show["ExecMainCode"] == "1", "exited by itself", &show);
    machine.expect(show["ExecMainStatus"] == "0", "exit status 0", &show);
    let journal = machine.journal_after(&cursor);
    for line in [
        "draining connections",
        "grace period over; closing the remaining streams and tunnels",
        "dockgate stopped",
    ] {
        assert!(
            journal.contains(line),
            "the journal lacks {line:?}:\n{journal}"
        );
    }
    for bad in ["SIGKILL", "timed out"] {
        assert!(
            !journal.contains(bad),
            "the journal shows {bad:?}:\n{journal}"
        );
    }
}

/// The group is what reaches the Engine: without it the gateway starts and
/// answers with the refusal README's troubleshooting table lists.
fn without_the_docker_group_the_engine_is_unreachable(machine: &Container) {
    machine.ok(
        "taking the docker group away",
        "gpasswd -d dockgate docker >/dev/null
mkdir -p /etc/systemd/system/dockgate.service.d
printf '[Service]\\nSupplementaryGroups=\\n' > /etc/systemd/system/dockgate.service.d/no-docker.conf
systemctl daemon-reload && systemctl start dockgate",
    );
    let version = machine.docker_as("admin", &["version"]);
    let said = support::text(&version.stderr);
    assert!(
        !version.status.success()
            && said.contains("dockgate: cannot reach the Docker Engine at /var/run/docker.sock"),
        "without the docker group, docker version should fail with the gateway's message:\n{said}"
    );
    machine.ok(
        "giving the group back",
        "systemctl stop dockgate && rm -r /etc/systemd/system/dockgate.service.d
gpasswd -a dockgate docker >/dev/null && systemctl daemon-reload",
    );
}

fn the_socket_unit_starts_the_service_on_the_first_connection(machine: &Container) {
    machine.ok_in(
        CHECKOUT,
        "starting dockgate.socket",
        "cp systemd/dockgate.socket /etc/systemd/system/ && systemctl daemon-reload && systemctl start dockgate.socket",
    );
    let show = machine.show("dockgate", &["ActiveState"]);
    machine.expect(
        show["ActiveState"] == "inactive",
        "not started before a connection",
        &show,
    );
    let cursor = machine.cursor();
    let version = machine.docker_as("admin", &["version", "--format", "{{.Server.Version}}"]);
    machine.expect_success("docker version through the socket unit", &version);
    let show = machine.show("dockgate", &["ActiveState"]);
    machine.expect(
        show["ActiveState"] == "active",
        "started by the connection",
        &show,
    );
    let journal = machine.journal_after(&cursor);
    let serving = journal
        .lines()
        .find(|l| l.contains("dockgate serving"))
        .unwrap_or_else(|| panic!("no \"dockgate serving\" in the journal:\n{journal}"));
    // The config says 127.0.0.1:2376; the socket unit listens on every address.
    assert!(
        !serving.contains("127.0.0.1:2376"),
        "the service bound the config's address instead of taking the socket: {serving}"
    );
    machine.ok(
        "stopping the socket and the service",
        "systemctl stop dockgate.socket dockgate",
    );
}

/// `docker run` of the test image as the viewer client.
fn viewer_runs(machine: &Container) -> Output {
    machine.docker_as(
        "viewer",
        &[
            "run",
            "--rm",
            "--network",
            "none",
            support::TEST_IMAGE,
            "true",
        ],
    )
}

fn viewer_may_run(machine: &Container) {
    let ran = viewer_runs(machine);
    machine.expect_success("docker run as viewer with the ci policy", &ran);
}

fn viewer_may_not_run(machine: &Container) {
    let refused = viewer_runs(machine);
    let said = support::text(&refused.stderr);
    assert!(
        !refused.status.success()
            && said.contains("dockgate: client \"viewer\" may not POST")
            && said.contains("/containers/create"),
        "docker run as viewer should be refused by the gateway:\n{said}\n{}",
        machine.diagnostics()
    );
}

/// A container running systemd as PID 1, removed when dropped (panics
/// included).
struct Container {
    name: String,
}

impl Container {
    fn boot(image: &str) -> Container {
        let binary = env!("CARGO_BIN_EXE_dockgate");
        let name = format!("dockgate-systemd-test-{}", std::process::id());
        let mut cmd = host_docker();
        cmd.args(["run", "-d", "--name", &name, "--network", "none"])
            // systemd mounts, makes namespaces and applies seccomp filters
            // for its services: every capability, no confinement of its own.
            // (Not --privileged: a dockerd whose own bounding set lacks
            // CAP_SYS_RESOURCE refuses it, and systemd does without.)
            .args(["--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE"])
            .args(["--security-opt", "seccomp=unconfined"])
            .args(["--security-opt", "apparmor=unconfined"])
            .args(["--tmpfs", "/run", "--tmpfs", "/run/lock"])
            .args(["-v", "/var/run/docker.sock:/var/run/docker.sock"])
            .args(["-v", &format!("{DOCKER}:{DOCKER}:ro")])
            .args([
                "-v",
                &format!("{binary}:{CHECKOUT}/target/release/dockgate:ro"),
            ])
            .args(["-v", &format!("{}:{CHECKOUT}/config:ro", repo("config"))])
            .args(["-v", &format!("{}:{CHECKOUT}/systemd:ro", repo("systemd"))]);
        if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            // cgroup v2: the container's own cgroup tree, which Docker
            // mounts read-only and systemd must write.
            cmd.args(["--cgroupns", "private", image, "/bin/sh", "-c"])
                .arg("mount -o remount,rw /sys/fs/cgroup && exec /sbin/init");
        } else {
            // cgroup v1: the host's hierarchies; systemd makes its cgroups
            // under the container's own.
            cmd.args([
                "-v",
                "/sys/fs/cgroup:/sys/fs/cgroup:ro",
                image,
                "/sbin/init",
            ]);
        }
        let out = support::run(cmd, EXEC_TIMEOUT);
        let container = Container { name };
        assert!(
            out.status.success(),
            "the systemd container did not start: {}",
            support::text(&out.stderr)
        );
        container
    }

    /// systemd is up: `running`, or `degraded` if some unit a container
    /// cannot run failed (listed, not fatal).
    fn wait_for_boot(&self) {
        let deadline = Instant::now() + EXEC_TIMEOUT;
        loop {
            let out = self.sh("systemctl is-system-running");
            let state = support::text(&out.stdout).trim().to_owned();
            match state.as_str() {
                "running" => return,
                "degraded" => {
                    let failed = self.sh("systemctl --failed --no-pager");
                    eprintln!("systemd is degraded:\n{}", support::text(&failed.stdout));
                    return;
                }
                _ if Instant::now() > deadline => panic!(
                    "systemd did not finish booting: {state:?} {}\n{}",
                    support::text(&out.stderr),
                    support::text(&self.sh("systemctl list-jobs --no-pager").stdout)
                ),
                _ => std::thread::sleep(Duration::from_millis(250)),
            }
        }
    }

    /// Runs `script` with bash in the container.
    fn sh(&self, script: &str) -> Output {
        self.sh_in("/", script)
    }

    fn sh_in(&self, dir: &str, script: &str) -> Output {
        let mut cmd = host_docker();
        cmd.args(["exec", "-w", dir, &self.name, "bash", "-c", script]);
        support::run(cmd, EXEC_TIMEOUT)
    }

    /// Runs `script`, requiring success; returns its trimmed stdout.
    fn ok(&self, what: &str, script: &str) -> String {
        self.ok_in("/", what, script)
    }

    fn ok_in(&self, dir: &str, what: &str, script: &str) -> String {
        let out = self.sh_in(dir, script);
        self.expect_success(what, &out);
        support::text(&out.stdout).trim().to_owned()
    }

    fn expect_success(&self, what: &str, out: &Output) {
        if !out.status.success() {
            panic!(
                "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}\n{}",
                out.status,
                support::text(&out.stdout),
                support::text(&out.stderr),
                self.diagnostics()
            );
        }
    }

    fn expect(&self, holds: bool, what: &str, show: &BTreeMap<String, String>) {
        if !holds {
            panic!("expected {what}: {show:?}\n{}", self.diagnostics());
        }
    }

    /// The unit's status and journal, for failure messages.
    fn diagnostics(&self) -> String {
        let out = self.sh(
            "systemctl status dockgate dockgate.socket --no-pager -l; journalctl -u dockgate -u dockgate.socket --no-pager",
        );
        format!(
            "--- systemctl status and journal:\n{}{}",
            support::text(&out.stdout),
            support::text(&out.stderr)
        )
    }

    fn show(&self, unit: &str, properties: &[&str]) -> BTreeMap<String, String> {
        let out = self.ok(
            &format!("systemctl show {unit}"),
            &format!("systemctl show {unit} -p {}", properties.join(",")),
        );
        out.lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn still_running_as(&self, pid: &str, when: &str) {
        let show = self.show("dockgate", &["ActiveState", "MainPID"]);
        self.expect(
            show["ActiveState"] == "active" && show["MainPID"] == pid,
            &format!("the same process ({pid}) still active {when}"),
            &show,
        );
    }

    /// Where the unit's journal ends now.
    fn cursor(&self) -> String {
        let out = self.ok(
            "the journal's cursor",
            "journalctl -u dockgate -n 0 --show-cursor --no-pager",
        );
        out.lines()
            .find_map(|l| l.strip_prefix("-- cursor: "))
            .unwrap_or_else(|| panic!("no cursor in {out:?}"))
            .to_owned()
    }

    /// The unit's messages after `cursor`.
    fn journal_after(&self, cursor: &str) -> String {
        self.ok(
            "reading the journal",
            &format!("journalctl -u dockgate --after-cursor='{cursor}' --no-pager -o cat"),
        )
    }

    /// `systemctl reload dockgate`, then (it does not wait for the reload)
    /// the journal until `line`. Returns the journal since the reload.
    fn reload_until(&self, line: &str) -> String {
        let cursor = self.cursor();
        self.ok("systemctl reload dockgate", "systemctl reload dockgate");
        let deadline = Instant::now() + EXEC_TIMEOUT;
        loop {
            let journal = self.journal_after(&cursor);
            if journal.contains(line) {
                return journal;
            }
            if Instant::now() > deadline {
                panic!(
                    "no {line:?} in the journal after the reload\n{}",
                    self.diagnostics()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Polls `script` until it succeeds (bounded).
    fn wait_for(&self, what: &str, script: &str) {
        let deadline = Instant::now() + EXEC_TIMEOUT;
        while !self.sh(script).status.success() {
            if Instant::now() > deadline {
                panic!("never saw {what}\n{}", self.diagnostics());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The docker CLI in the container as `client`, through the gateway on
    /// the container's loopback: the arguments after `docker exec NAME`.
    fn docker_argv(client: &str, args: &[&str]) -> Vec<String> {
        let dir = format!("{CLIENTS}/{client}");
        let mut argv = vec![
            "env".to_owned(),
            format!("DOCKER_CONFIG=/tmp/docker-{client}"),
            DOCKER.to_owned(),
            "--tlsverify".to_owned(),
            format!("--tlscacert={dir}/ca.pem"),
            format!("--tlscert={dir}/cert.pem"),
            format!("--tlskey={dir}/key.pem"),
            "--host=tcp://127.0.0.1:2376".to_owned(),
        ];
        argv.extend(args.iter().map(|a| a.to_string()));
        argv
    }

    fn docker_as(&self, client: &str, args: &[&str]) -> Output {
        let mut cmd = host_docker();
        cmd.args(["exec", &self.name])
            .args(Container::docker_argv(client, args));
        support::run(cmd, EXEC_TIMEOUT)
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = host_docker()
            .args(["rm", "-f", "-v", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The docker CLI on the host, talking to the Engine's socket.
fn host_docker() -> Command {
    let mut cmd = Command::new(DOCKER);
    cmd.args(["-H", ENGINE]).stdin(Stdio::null());
    cmd
}

fn repo(rel: &str) -> String {
    format!("{}/{rel}", env!("CARGO_MANIFEST_DIR"))
}

/// The `sh` blocks of README's "## Install" section, in order.
fn readme_install_blocks() -> Vec<String> {
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Install\n"))
        .expect("README has an Install section");
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in section.lines() {
        match (&mut current, line) {
            (None, "```sh") => current = Some(Vec::new()),
            (Some(block), "```") => {
                blocks.push(block.join("\n"));
                current = None;
            }
            (Some(block), _) => block.push(line),
            (None, _) => {}
        }
    }
    blocks
}

/// The systemd image for the host's Debian release, made if missing. None
/// (with a notice) where the Engine or `mmdebstrap` is missing, which CI
/// does not allow.
fn systemd_image() -> Option<String> {
    support::real_engine()?;
    let codename = host_codename();
    let tag = format!("dockgate-test/systemd:{codename}-{IMAGE_VERSION}");
    let present = host_docker()
        .args(["image", "inspect", &tag])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if present {
        return Some(tag);
    }
    if Command::new("mmdebstrap")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but mmdebstrap is missing: .ci/run must install it"
        );
        eprintln!("\n*** mmdebstrap missing: the unit was NOT tested under systemd ***\n");
        return None;
    }
    build_image(&tag, &codename);
    Some(tag)
}

fn host_codename() -> String {
    let release = std::fs::read_to_string("/etc/os-release").expect("/etc/os-release");
    release
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|c| c.trim_matches('"').to_owned())
        .filter(|c| !c.is_empty())
        .expect("/etc/os-release names no VERSION_CODENAME: the systemd image needs a Debian host")
}

/// Debian minbase with systemd as init and D-Bus for logind, without
/// documentation, piped from `mmdebstrap` into `docker import`.
fn build_image(tag: &str, codename: &str) {
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap();
    let sources = work.path().join("sources.list");
    std::fs::write(&sources, debian_sources(codename)).unwrap();
    let log = work.path().join("mmdebstrap.log");
    let mut mmdebstrap = Command::new("mmdebstrap")
        .args(["--variant=minbase", "--include=systemd-sysv,dbus"])
        .args(["--dpkgopt=path-exclude=/usr/share/doc/*"])
        .args(["--dpkgopt=path-exclude=/usr/share/man/*"])
        .args(["--dpkgopt=path-exclude=/usr/share/locale/*"])
        .args([codename, "-"])
        .arg(&sources)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("run mmdebstrap");
    let imported = host_docker()
        .args(["import", "--change", r#"CMD ["/sbin/init"]"#, "-", tag])
        .stdin(mmdebstrap.stdout.take().unwrap())
        .output()
        .expect("run docker import");
    let made = mmdebstrap.wait().unwrap();
    assert!(
        made.success() && imported.status.success(),
        "making {tag} failed: mmdebstrap {made}, docker import {}: {}\nmmdebstrap's log:\n{}",
        imported.status,
        support::text(&imported.stderr),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    eprintln!("made {tag} in {:?}", started.elapsed());
}

/// The host's apt sources for `codename` and its updates and security
/// suites, as apt itself lists them (`apt-cache policy`: each index with
/// its release's origin and codename), in sources.list form.
fn debian_sources(codename: &str) -> String {
    let out = Command::new("apt-cache")
        .arg("policy")
        .output()
        .expect("run apt-cache policy");
    let policy = support::text(&out.stdout);
    let mut lines: Vec<String> = Vec::new();
    let mut index: Option<(String, String)> = None;
    for line in policy.lines() {
        let words: Vec<_> = line.split_whitespace().collect();
        if let [_priority, uri, dist_component, _arch, "Packages"] = words[..] {
            index = dist_component
                .split_once('/')
                .map(|(dist, component)| (uri.to_owned(), format!("{dist} {component}")));
            continue;
        }
        let Some(facts) = line.trim().strip_prefix("release ") else {
            continue;
        };
        let Some((uri, suite)) = index.take() else {
            continue;
        };
        let fact = |key: &str| {
            facts
                .split(',')
                .find_map(|f| f.strip_prefix(&format!("{key}=")))
                .unwrap_or_default()
        };
        let n = fact("n");
        let ours = n == codename
            || n == format!("{codename}-updates")
            || n == format!("{codename}-security");
        let entry = format!("deb {uri} {suite}");
        if fact("o") == "Debian" && ours && !lines.contains(&entry) {
            lines.push(entry);
        }
    }
    assert!(
        lines
            .iter()
            .any(|l| l.split_whitespace().nth(2) == Some(codename)),
        "apt knows no Debian {codename} source on this host:\n{policy}"
    );
    lines.join("\n") + "\n"
}
