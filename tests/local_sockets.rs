//! Local unix sockets: a client's own socket and the shared `local_listen`
//! socket, where peers are known by uid or gid. Plain HTTP/1.1 with every
//! rule of the TLS listener: a refusal is dockgate's and reaches nothing,
//! a peer no client lists is refused naming its uid and gid. The sockets
//! have their mode from creation, replace only a stale socket, follow
//! reloads and go away on stop. With a real Engine, the docker CLI in a
//! container reaches the Engine through a bind-mounted socket.

mod support;

use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::fake_engine::FakeEngine;
use support::process::{self, Reloaded};
use support::{
    config_text, eventually, parse_response, real_engine, text, Gateway, Pki, RemoveContainers,
    TEST_IMAGE,
};

const POLICIES: &str = r#"
[policies.ping]
allow = ["GET /_ping"]

[policies.events]
allow = ["GET /_ping", "GET /events"]
"#;

/// A folder any uid may enter, for sockets a process of another uid opens.
fn socket_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// One request on a unix socket: status and body.
fn request(socket: &Path, method: &str, target: &str) -> (u16, String) {
    let mut stream = UnixStream::connect(socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let (status, body) = parse_response(&raw);
    (status, text(&body))
}

/// `GET target` on `socket` from a process running as uid and gid 65534
/// with no supplementary groups: status and body.
fn request_as_nobody(socket: &Path, target: &str) -> (u16, String) {
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "curl"])
        .args(["-sS", "--max-time", "60", "--unix-socket"])
        .arg(socket)
        .args(["-w", "\n%{http_code}"])
        .arg(format!("http://docker{target}"))
        .output()
        .expect("setpriv and curl (util-linux, curl)");
    let out = text(&out.stdout);
    let (body, status) = out.rsplit_once('\n').expect("curl printed a status");
    (status.trim().parse().unwrap(), body.to_owned())
}

fn uid() -> u32 {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() }
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o777
}

#[test]
fn a_client_socket_is_judged_by_that_clients_policy() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&[]);
    let dir = socket_dir();
    let traefik = dir.path().join("traefik.sock");
    let body = format!(
        "[clients.traefik]\npolicies = [\"ping\"]\nsocket = \"{}\"\n{POLICIES}",
        traefik.display()
    );
    let gateway = Gateway::start(&pki, engine.path(), &body);
    // Its mode before anyone connected: the default, 0660.
    assert_eq!(mode(&traefik), 0o660);

    let (status, body) = request(&traefik, "GET", "/_ping");
    assert_eq!((status, body.as_str()), (200, "OK"));
    assert_eq!(engine.request_count(), 1);

    let (status, body) = request(&traefik, "POST", "/containers/create");
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("dockgate: client \\\"traefik\\\" may not POST /containers/create"),
        "{body}"
    );
    assert_eq!(
        engine.request_count(),
        1,
        "the refused request reached the Engine"
    );
    gateway.stop();
    assert!(!traefik.exists(), "stop left the socket");
}

#[test]
fn the_shared_socket_knows_peers_by_uid_then_gid_and_refuses_the_rest() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&[]);
    let dir = socket_dir();
    let shared = dir.path().join("docker.sock");
    let config = |extra: &str| {
        format!(
            "local_listen = \"{}\"\nlocal_listen_mode = \"0666\"\n\
             [clients.me]\npolicies = [\"ping\"]\nuids = [{}]\n{extra}{POLICIES}",
            shared.display(),
            uid()
        )
    };
    let gateway = Gateway::start(&pki, engine.path(), &config(""));
    assert_eq!(mode(&shared), 0o666);

    let (status, body) = request(&shared, "GET", "/_ping");
    assert_eq!((status, body.as_str()), (200, "OK"));
    assert_eq!(engine.request_count(), 1);

    // Nobody lists uid 65534: refused, naming it, and nothing forwarded.
    let (status, body) = request_as_nobody(&shared, "/_ping");
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("dockgate refused the local peer: no client in the gateway's configuration is known by uid 65534 or gid 65534"),
        "{body}"
    );
    assert_eq!(
        engine.request_count(),
        1,
        "the unknown peer reached the Engine"
    );

    // Listed by uid.
    gateway
        .rewrite(
            &pki,
            engine.path(),
            &config("[clients.nobody]\npolicies = [\"events\"]\nuids = [65534]\n"),
        )
        .unwrap();
    assert_eq!(request_as_nobody(&shared, "/_ping"), (200, "OK".into()));
    assert_eq!(engine.request_count(), 2);

    // Listed by gid.
    gateway
        .rewrite(
            &pki,
            engine.path(),
            &config("[clients.nogroup]\npolicies = [\"ping\"]\ngids = [65534]\n"),
        )
        .unwrap();
    assert_eq!(request_as_nobody(&shared, "/_ping"), (200, "OK".into()));
    assert_eq!(engine.request_count(), 3);

    // A uid match wins over a gid match: the uid's client may not stream
    // events (its policy is "ping"), the gid's may.
    gateway
        .rewrite(
            &pki,
            engine.path(),
            &config(
                "[clients.nobody]\npolicies = [\"ping\"]\nuids = [65534]\n\
                 [clients.nogroup]\npolicies = [\"events\"]\ngids = [65534]\n",
            ),
        )
        .unwrap();
    let (status, body) = request_as_nobody(&shared, "/events");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("client \\\"nobody\\\""), "{body}");
    assert_eq!(engine.request_count(), 3);

    // A reload narrowing the mode applies to the open socket: uid 65534,
    // outside dockgate's group, can no longer connect.
    let narrowed = config("[clients.nobody]\npolicies = [\"events\"]\nuids = [65534]\n").replace(
        "local_listen_mode = \"0666\"",
        "local_listen_mode = \"0660\"",
    );
    gateway.rewrite(&pki, engine.path(), &narrowed).unwrap();
    assert_eq!(mode(&shared), 0o660);
    let (status, _) = request_as_nobody(&shared, "/_ping");
    assert_eq!(
        status, 0,
        "curl connected through a 0660 socket as uid 65534"
    );
    assert_eq!(engine.request_count(), 3);
    gateway.stop();
}

#[test]
fn a_keep_alive_connection_closes_when_a_reload_drops_its_client() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&[]);
    let dir = socket_dir();
    let own = dir.path().join("own.sock");
    let body = |socket: bool| {
        let mut text = format!("[clients.web]\npolicies = [\"ping\"]\nuids = [{}]\n", uid());
        if socket {
            text = format!(
                "[clients.app]\npolicies = [\"ping\"]\nsocket = \"{}\"\n{text}",
                own.display()
            );
        }
        format!(
            "local_listen = \"{}\"\n{text}{POLICIES}",
            dir.path().join("shared.sock").display()
        )
    };
    let gateway = Gateway::start(&pki, engine.path(), &body(true));
    let mut conn = UnixStream::connect(&own).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    conn.write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = conn.read(&mut buf).unwrap();
    assert!(
        text(&buf[..n]).starts_with("HTTP/1.1 200"),
        "{}",
        text(&buf[..n])
    );

    gateway.rewrite(&pki, engine.path(), &body(false)).unwrap();
    // The server closes it: the read ends without a byte.
    assert_eq!(conn.read(&mut buf).unwrap(), 0);
    assert!(!own.exists(), "the dropped client's socket is still there");
    assert!(UnixStream::connect(&own).is_err());
    gateway.stop();
}

/// The real binary: a stale socket is replaced, the mode holds from the
/// start, reloads add and remove sockets, the audit line names the peer,
/// and stop removes every socket.
#[test]
fn sockets_follow_start_reload_and_stop() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&[]);
    let dir = socket_dir();
    let first = dir.path().join("first.sock");
    let second = dir.path().join("second.sock");
    // A socket a previous run left: bound, then dropped without unlinking.
    drop(UnixListener::bind(&first).unwrap());
    assert!(std::fs::symlink_metadata(&first)
        .unwrap()
        .file_type()
        .is_socket());
    let body = |socket: &Path| {
        format!(
            "[clients.app]\npolicies = [\"ping\"]\nsocket = \"{}\"\nsocket_mode = \"0640\"\n{POLICIES}",
            socket.display()
        )
    };
    let mut served = process::serve(&config_text(&pki, engine.path(), &body(&first)));
    assert_eq!(mode(&first), 0o640);
    assert_eq!(request(&first, "GET", "/_ping"), (200, "OK".into()));
    let pid = std::process::id();
    let peer = format!(
        "peer=\"unix:{} pid={pid} uid={} gid=",
        first.display(),
        uid()
    );
    eventually("the audit line names the socket and the peer", || {
        served
            .log()
            .lines()
            .any(|l| l.contains("client=\"app\"") && l.contains(&peer))
    });

    std::fs::write(
        &served.config,
        config_text(&pki, engine.path(), &body(&second)),
    )
    .unwrap();
    assert_eq!(served.reload(), Reloaded::Applied);
    assert_eq!(mode(&second), 0o640);
    assert_eq!(request(&second, "GET", "/_ping"), (200, "OK".into()));
    assert!(!first.exists(), "the dropped socket is still there");
    assert!(UnixStream::connect(&first).is_err());

    // A reload whose socket path holds a file is refused, the file left
    // as it was, and the running sockets keep serving.
    let file = dir.path().join("file");
    std::fs::write(&file, "an admin's file").unwrap();
    std::fs::write(
        &served.config,
        config_text(&pki, engine.path(), &body(&file)),
    )
    .unwrap();
    match served.reload() {
        Reloaded::Refused(line) => assert!(line.contains(&*file.to_string_lossy()), "{line}"),
        Reloaded::Applied => panic!("a reload replaced a regular file with a socket"),
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "an admin's file");
    assert_eq!(request(&second, "GET", "/_ping"), (200, "OK".into()));

    let (status, log) = served.stop();
    assert!(status.success(), "{log}");
    assert!(!second.exists(), "stop left the socket");
}

/// Served from a user namespace that maps only root, as systemd's
/// `PrivateUsers=yes` maps only root and the service user: every other
/// peer shows as 65534, which names no client even when one lists it.
#[test]
fn an_id_the_namespace_does_not_map_names_no_one() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&[]);
    let dir = socket_dir();
    let shared = dir.path().join("docker.sock");
    let text = config_text(
        &pki,
        engine.path(),
        &format!(
            "local_listen = \"{}\"\nlocal_listen_mode = \"0666\"\n\
             [clients.root]\npolicies = [\"ping\"]\nuids = [0]\n\
             [clients.nobody]\npolicies = [\"ping\"]\nuids = [65534]\n{POLICIES}",
            shared.display()
        ),
    );
    let mut served = process::spawn_under(&["unshare", "--user", "--map-root-user"], |config| {
        std::fs::write(config, text).unwrap()
    });
    served.ready();
    if uid() == 0 {
        // This process is root outside, which the namespace maps to its root.
        assert_eq!(request(&shared, "GET", "/_ping"), (200, "OK".into()));
    }
    let before = engine.request_count();
    let (status, body) = request_as_nobody(&shared, "/_ping");
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("known by uid 65534 or gid 65534") && body.contains("ids it does not map"),
        "{body}"
    );
    assert_eq!(
        engine.request_count(),
        before,
        "an unmapped peer reached the Engine"
    );
    served.stop();
}

#[test]
fn a_client_at_its_connection_limit_is_refused_on_its_socket_too() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&[]);
    let dir = socket_dir();
    let own = dir.path().join("own.sock");
    let body = format!(
        "[clients.app]\npolicies = [\"ping\"]\nsocket = \"{}\"\n\
         [limits]\nmax_connections_per_client = 1\nshutdown_grace = \"2s\"\n{POLICIES}",
        own.display()
    );
    let gateway = Gateway::start(&pki, engine.path(), &body);
    let mut held = UnixStream::connect(&own).unwrap();
    held.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    held.write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = held.read(&mut buf).unwrap();
    assert!(text(&buf[..n]).starts_with("HTTP/1.1 200"));
    let before = engine.request_count();
    let (status, body) = request(&own, "GET", "/_ping");
    assert_eq!(status, 429, "{body}");
    assert_eq!(engine.request_count(), before);
    drop(held);
    eventually("the held connection's place is given back", || {
        request(&own, "GET", "/_ping").0 == 200
    });
    gateway.stop();
}

#[test]
fn start_refuses_to_replace_what_is_not_a_socket() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&[]);
    let dir = socket_dir();
    let path = dir.path().join("docker.sock");
    std::fs::write(&path, "not a socket").unwrap();
    let text = config_text(
        &pki,
        engine.path(),
        &format!(
            "local_listen = \"{}\"\n[clients.me]\npolicies = [\"ping\"]\nuids = [0]\n{POLICIES}",
            path.display()
        ),
    );
    let mut served = process::spawn(|config| std::fs::write(config, text).unwrap());
    let (status, log) = served.exit();
    // 64, which the unit's RestartPreventExitStatus= keeps from restarting.
    assert_eq!(status.code(), Some(64), "{log}");
    assert!(
        log.contains(&format!("{}: exists and is not a socket", path.display())),
        "{log}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a socket");
}

// ---------------------------------------------------------------------------
// The docker CLI in a container, through a bind-mounted socket.

/// A unique name for containers this run makes.
fn unique(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("dockgate-local-{what}-{}-{nanos}", std::process::id())
}

/// `docker -H unix:///s/cli.sock ARGS` run by the static CLI inside a
/// container, with `sock_dir` mounted at /s; `stdin` is piped in by sh.
fn cli_in_container(sock_dir: &Path, shell: &str) -> std::process::Output {
    let out = Command::new("/usr/local/bin/docker")
        .args(["-H", "unix:///var/run/docker.sock", "run", "--rm"])
        .arg("-v")
        .arg(format!("{}:/s", sock_dir.display()))
        .args(["-v", "/usr/local/bin/docker:/docker:ro"])
        .args(["-e", "HOME=/tmp", "-e", "DOCKER_CONFIG=/tmp/.docker"])
        .args([TEST_IMAGE, "sh", "-c", shell])
        .output()
        .unwrap();
    out
}

fn static_cli() -> bool {
    let out = Command::new("file")
        .arg("/usr/local/bin/docker")
        .output()
        .map(|o| text(&o.stdout))
        .unwrap_or_default();
    out.contains("statically linked")
}

#[test]
fn the_docker_cli_in_a_container_works_through_its_socket() {
    let Some(engine) = real_engine() else { return };
    assert!(
        static_cli(),
        "/usr/local/bin/docker must be static to run in a busybox container"
    );
    let pki = Pki::new(&[]);
    let dir = socket_dir();
    let socket = dir.path().join("cli.sock");
    let body = format!(
        r#"
[clients.cli]
policies = ["operator"]
socket = "{}"

[policies.operator]
allow = ["* /**"]
"#,
        socket.display()
    );
    let gateway = Gateway::start(&pki, &engine, &body);
    let sleeper = unique("sleeper");
    let talker = unique("talker");
    let _cleanup = RemoveContainers(vec![sleeper.clone(), talker.clone()]);
    let docker = "/docker -H unix:///s/cli.sock";

    let out = cli_in_container(dir.path(), &format!("{docker} ps --format '{{{{.ID}}}}'"));
    assert!(out.status.success(), "ps: {}", text(&out.stderr));

    let out = cli_in_container(dir.path(), &format!("{docker} run --rm {TEST_IMAGE} true"));
    assert!(out.status.success(), "run: {}", text(&out.stderr));

    // Without the bind grant, a host mount is refused by dockgate.
    let out = cli_in_container(
        dir.path(),
        &format!("{docker} run --rm -v /:/host {TEST_IMAGE} true"),
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("dockgate"),
        "not dockgate's refusal: {}",
        text(&out.stderr)
    );

    // A hijacked exec with stdin piped in, and the half-close after it.
    let direct = |args: &[&str]| {
        let out = Command::new("/usr/local/bin/docker")
            .args(["-H", "unix:///var/run/docker.sock"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    };
    direct(&["run", "-d", "--name", &sleeper, TEST_IMAGE, "sleep", "300"]);
    let out = cli_in_container(
        dir.path(),
        &format!("echo through-the-socket | {docker} exec -i {sleeper} cat"),
    );
    assert!(out.status.success(), "exec: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "through-the-socket\n");

    // A followed log stream, to the container's end.
    direct(&[
        "run",
        "-d",
        "--name",
        &talker,
        TEST_IMAGE,
        "sh",
        "-c",
        "echo one; sleep 1; echo two",
    ]);
    let out = cli_in_container(dir.path(), &format!("{docker} logs -f {talker}"));
    assert!(out.status.success(), "logs: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "one\ntwo\n");
    gateway.stop();
}
