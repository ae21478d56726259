//! Test support shared by the integration suites: a throwaway PKI made with
//! dockgate's own `pki` code, a gateway running in-process on port 0, a
//! fake Engine on a temporary unix socket that records everything it is
//! sent, a raw TLS client for byte-level tests, and helpers that run the
//! real docker CLIs against the gateway.
#![allow(dead_code)]

pub mod fake_engine;
pub mod openssl_pki;
pub mod process;
pub mod raw;
pub mod tenant_world;

use std::fs::{File, OpenOptions};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use dockgate::run::daemon::{Control, Daemon};

/// A CA, a server certificate for localhost/127.0.0.1, and client folders.
pub struct Pki {
    pub dir: tempfile::TempDir,
}

impl Pki {
    pub fn new(clients: &[&str]) -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        dockgate::pki::init_ca(dir.path(), "dockgate test CA", 3650, false).expect("init CA");
        dockgate::pki::issue_server(dir.path(), &["DNS:localhost", "IP:127.0.0.1"], 30, false)
            .expect("server cert");
        for name in clients {
            dockgate::pki::issue_client(dir.path(), name, 30, false).expect("client cert");
        }
        Pki { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The DOCKER_CERT_PATH folder of a client.
    pub fn client_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join("clients").join(name)
    }

    pub fn add_client(&self, name: &str) {
        dockgate::pki::issue_client(self.dir.path(), name, 30, false).expect("client cert");
    }

    pub fn revoke(&self, name: &str) {
        dockgate::pki::revoke(self.dir.path(), name).expect("revoke");
    }

    /// Replaces the server certificate and key with a new pair signed by
    /// this CA, valid from `not_before` to `not_after` (either may be in
    /// the past or the future: `pki` itself refuses to make such a pair).
    pub fn replace_server_cert(
        &self,
        not_before: time::OffsetDateTime,
        not_after: time::OffsetDateTime,
    ) {
        let ca_pem = std::fs::read_to_string(self.path().join("ca.pem")).unwrap();
        let ca_key = rcgen::KeyPair::from_pem(
            &std::fs::read_to_string(self.path().join("ca-key.pem")).unwrap(),
        )
        .unwrap();
        let issuer = rcgen::Issuer::from_ca_cert_pem(&ca_pem, ca_key).unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .unwrap();
        params.not_before = not_before;
        params.not_after = not_after;
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        std::fs::write(self.path().join("server-cert.pem"), cert.pem()).unwrap();
        std::fs::write(self.path().join("server-key.pem"), key.serialize_pem()).unwrap();
    }

    /// The `[tls]` table pointing at this PKI.
    pub fn tls_table(&self) -> String {
        let p = self.dir.path().display();
        format!("[tls]\nca = \"{p}/ca.pem\"\ncert = \"{p}/server-cert.pem\"\nkey = \"{p}/server-key.pem\"\ncrl = \"{p}/crl.pem\"\n")
    }
}

/// Opens the folder's lock file and takes it with flock(2) `op`, as another
/// pki command would.
pub fn hold_lock(dir: &Path, op: libc::c_int) -> File {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join("pki.lock"))
        .expect("the earlier commands made pki.lock");
    // SAFETY: flock only takes the descriptor, which `file` keeps open.
    let taken = unsafe { libc::flock(file.as_raw_fd(), op | libc::LOCK_NB) };
    assert_eq!(taken, 0, "{}", std::io::Error::last_os_error());
    file
}

/// Whether process `pid` has the folder's lock file open, i.e. has reached
/// the point where it takes the lock.
pub fn has_lock_open(pid: u32, dir: &Path) -> bool {
    let lock = std::fs::canonicalize(dir.join("pki.lock")).unwrap();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten()
        .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == lock))
}

/// A gateway running on its own runtime thread.
pub struct Gateway {
    pub addr: SocketAddr,
    /// The metrics listener, when the config has `[metrics]`.
    pub metrics: Option<SocketAddr>,
    pub control: Control,
    pub config_path: PathBuf,
    _config_dir: tempfile::TempDir,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Gateway {
    /// Starts a gateway with `body` (clients, policies, limits...) added to
    /// `listen`, `upstream` and the PKI's `[tls]` table.
    pub fn start(pki: &Pki, upstream: &Path, body: &str) -> Gateway {
        Gateway::start_with_tls(&pki.tls_table(), upstream, body)
    }

    /// [`Gateway::start`] with a `[tls]` table of the test's own.
    pub fn start_with_tls(tls_table: &str, upstream: &Path, body: &str) -> Gateway {
        let config_dir = tempfile::tempdir().expect("tempdir");
        let config_path = config_dir.path().join("dockgate.toml");
        std::fs::write(
            &config_path,
            config_text_with_tls(tls_table, upstream, body),
        )
        .expect("write config");
        let (tx, rx) = std::sync::mpsc::channel();
        let path = config_path.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let daemon = Daemon::bind(&path)
                    .await
                    .unwrap_or_else(|e| panic!("gateway did not start: {e}"));
                tx.send((daemon.local_addr(), daemon.metrics_addr(), daemon.control()))
                    .unwrap();
                daemon.run().await.expect("gateway ran");
            });
        });
        let (addr, metrics, control) = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("gateway started");
        Gateway {
            addr,
            metrics,
            control,
            config_path,
            _config_dir: config_dir,
            thread: Some(thread),
        }
    }

    /// Rewrites the config file (same listen/upstream/tls) and reloads.
    pub fn rewrite(&self, pki: &Pki, upstream: &Path, body: &str) -> Result<(), String> {
        std::fs::write(&self.config_path, config_text(pki, upstream, body)).expect("write config");
        self.control.reload().map_err(|e| e.to_string())
    }

    /// `tcp://localhost:PORT`, for DOCKER_HOST.
    pub fn docker_host(&self) -> String {
        format!("tcp://localhost:{}", self.addr.port())
    }

    /// Stops the gateway and waits until it has drained.
    pub fn stop(mut self) {
        self.control.shutdown();
        if let Some(t) = self.thread.take() {
            t.join().expect("gateway thread");
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.control.shutdown();
    }
}

/// A whole config: `listen` on port 0, `upstream`, the PKI's `[tls]`
/// table, a short shutdown grace unless `body` has `[limits]`, then `body`.
pub fn config_text(pki: &Pki, upstream: &Path, body: &str) -> String {
    config_text_with_tls(&pki.tls_table(), upstream, body)
}

/// [`config_text`] with a `[tls]` table of the test's own. Keys in `body`
/// before its first table (`local_listen = ...`) stay top-level keys.
pub fn config_text_with_tls(tls_table: &str, upstream: &Path, body: &str) -> String {
    // Tests stop gateways often; a short grace keeps them quick.
    let limits = if body.contains("[limits]") {
        ""
    } else {
        "[limits]\nshutdown_grace = \"2s\"\n"
    };
    let first_table = body
        .match_indices('[')
        .find(|(i, _)| *i == 0 || body.as_bytes()[i - 1] == b'\n')
        .map_or(body.len(), |(i, _)| i);
    let (top, body) = body.split_at(first_table);
    format!(
        "listen = \"127.0.0.1:0\"\nupstream = \"{}\"\n{top}\n{}\n{limits}{body}",
        upstream.display(),
        tls_table
    )
}

/// The real Engine's socket, when one answers; in CI its absence fails the run.
pub fn real_engine() -> Option<PathBuf> {
    let socket = PathBuf::from("/var/run/docker.sock");
    let answers = Command::new("/usr/local/bin/docker")
        .args([
            "-H",
            "unix:///var/run/docker.sock",
            "version",
            "--format",
            "{{.Server.Version}}",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if answers {
        ensure_test_image();
        return Some(socket);
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI is set but no Docker Engine answers on /var/run/docker.sock: .ci/run must start one");
    }
    eprintln!(
        "\n*** NO DOCKER ENGINE on /var/run/docker.sock: the real-Engine tests did NOT run ***\n"
    );
    None
}

/// The image every real-Engine test runs: busybox imported from the host.
/// The tag names the applet set below; change both together, so a host
/// never reuses an image made with fewer applets.
pub const TEST_IMAGE: &str = "dockgate-test/busybox:applets-2";

fn ensure_test_image() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let direct = ["-H", "unix:///var/run/docker.sock"];
        let present = Command::new("/usr/local/bin/docker")
            .args(direct)
            .args(["image", "inspect", TEST_IMAGE])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if present {
            return;
        }
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("busybox-static must be installed for the real-Engine tests");
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("bin")).unwrap();
        std::fs::copy(busybox, root.path().join("bin/busybox")).unwrap();
        for applet in [
            "sh", "cat", "echo", "ls", "sleep", "true", "false", "head", "wc", "env", "dd",
            "md5sum", "seq",
        ] {
            std::os::unix::fs::symlink("busybox", root.path().join("bin").join(applet)).unwrap();
        }
        std::fs::create_dir_all(root.path().join("tmp")).unwrap();
        let tar = Command::new("tar")
            .arg("-C")
            .arg(root.path())
            .args(["-c", "."])
            .output()
            .unwrap();
        assert!(tar.status.success());
        let mut import = Command::new("/usr/local/bin/docker")
            .args(direct)
            .args(["import", "-", TEST_IMAGE])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        import.stdin.take().unwrap().write_all(&tar.stdout).unwrap();
        assert!(
            import.wait().unwrap().success(),
            "docker import of the test image failed"
        );
    });
}

/// Whether `import docker` works for python3; in CI its absence fails the
/// run, elsewhere it says loudly that `what` did not run.
pub fn python_sdk_installed(what: &str) -> bool {
    let installed = Command::new("python3")
        .args(["-c", "import docker"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        if std::env::var_os("CI").is_some() {
            panic!("CI is set but python3 cannot import docker: .ci/run must `python3 -m pip install docker`");
        }
        eprintln!("\n*** NO DOCKER SDK FOR PYTHON (python3 -m pip install docker): {what} did NOT run ***\n");
    }
    installed
}

/// Environment that would make the SDK talk to something else, or trust
/// something else, than what smoke.py configures.
pub const SDK_ENV_OVERRIDES: [&str; 11] = [
    "DOCKER_HOST",
    "DOCKER_TLS_VERIFY",
    "DOCKER_CERT_PATH",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The docker CLIs the suites run: Docker's 28.x and Debian's 20.10.
pub fn docker_clis() -> Vec<&'static str> {
    let clis: Vec<_> = ["/usr/local/bin/docker", "/usr/bin/docker"]
        .into_iter()
        .filter(|p| Path::new(p).exists())
        .collect();
    if std::env::var_os("CI").is_some() {
        assert_eq!(
            clis.len(),
            2,
            "CI must provide both docker CLIs (28.x and Debian's 20.10)"
        );
    }
    clis
}

/// A docker CLI invocation through the gateway as `client`.
pub fn docker(cli: &str, gateway: &Gateway, pki: &Pki, client: &str) -> Command {
    docker_at(cli, &gateway.docker_host(), pki, client)
}

/// A docker CLI invocation through the gateway at `host` (`tcp://HOST:PORT`) as `client`.
pub fn docker_at(cli: &str, host: &str, pki: &Pki, client: &str) -> Command {
    let mut cmd = Command::new(cli);
    let config_dir = pki.path().join(format!("docker-config-{client}"));
    std::fs::create_dir_all(&config_dir).unwrap();
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", pki.path())
        .env("DOCKER_CONFIG", &config_dir)
        .env("DOCKER_HOST", host)
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", pki.client_dir(client))
        .stdin(Stdio::null());
    cmd
}

/// A docker CLI invocation that finds the Engine only through the docker
/// configuration in `config_dir` (its contexts): no DOCKER_HOST, no TLS
/// variables.
pub fn docker_with_config(cli: &str, home: &Path, config_dir: &Path) -> Command {
    let mut cmd = Command::new(cli);
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", home)
        .env("DOCKER_CONFIG", config_dir)
        .stdin(Stdio::null());
    cmd
}

/// Runs a command with a deadline, killing it if it hangs.
pub fn run(mut cmd: Command, timeout: Duration) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "command timed out after {timeout:?}: {cmd:?}\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Polls `cond` until it holds (bounded), for state that settles
/// asynchronously; never used to assert on timing.
pub fn eventually(what: &str, cond: impl FnMut() -> bool) {
    eventually_within(what, Duration::from_secs(10), cond);
}

/// [`eventually`] with its own bound, for state that settles only after a
/// threshold of the gateway's own (a stall reported after some seconds).
pub fn eventually_within(what: &str, bound: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + bound;
    while std::time::Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("condition never held within {bound:?}: {what}");
}

/// A port on 127.0.0.1 free a moment ago, for a config the real binary
/// reads (it cannot report a port 0 listener's address back).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

pub type Shared<T> = Arc<std::sync::Mutex<T>>;

/// `GET path` over plain HTTP (the metrics listener), the whole response as text.
pub fn http_get(addr: SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    tcp.read_to_string(&mut out).unwrap();
    out
}

/// The Engine's own answer to `GET target` on its socket, as text.
pub fn engine_get(socket: &Path, target: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::os::unix::net::UnixStream::connect(socket).unwrap();
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}

/// Removes the named containers through the Engine's own socket when
/// dropped, pass or fail.
pub struct RemoveContainers(pub Vec<String>);

impl Drop for RemoveContainers {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = Command::new("/usr/local/bin/docker")
                .args(["-H", "unix:///var/run/docker.sock", "rm", "-f", name])
                .output();
        }
    }
}

/// Raises this process's soft open-file limit towards `want` (children
/// inherit it), for tests that hold thousands of sockets; returns the limit.
pub fn raise_open_file_limit(want: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur < want {
            limit.rlim_cur = want.min(limit.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
    }
    limit.rlim_cur
}

/// An HTTP/1.1 response's status and body (chunked bodies decoded).
pub fn parse_response(raw: &[u8]) -> (u16, Vec<u8>) {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let body = &raw[end + 4..];
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    if !chunked {
        return (status, body.to_vec());
    }
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&rest[..line_end])
                .split(';')
                .next()
                .unwrap()
                .trim(),
            16,
        )
        .unwrap_or(0);
        rest = &rest[line_end + 2..];
        if size == 0 || rest.len() < size {
            break;
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[(size + 2).min(rest.len())..];
    }
    (status, out)
}

/// One request on the Engine's own socket: status and body.
pub fn engine_request(socket: &Path, method: &str, target: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::os::unix::net::UnixStream::connect(socket).unwrap();
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let (status, body) = parse_response(&raw);
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// One request through the gateway as `client`: status and body.
pub fn gateway_request(
    gateway: &Gateway,
    pki: &Pki,
    client: &str,
    method: &str,
    target: &str,
    body: &str,
) -> (u16, String) {
    request_at(gateway.addr, pki, client, method, target, body)
}

/// One request as `client` to a gateway at `addr` (a served process's, say):
/// status and body.
pub fn request_at(
    addr: SocketAddr,
    pki: &Pki,
    client: &str,
    method: &str,
    target: &str,
    body: &str,
) -> (u16, String) {
    let mut conn = raw::Conn::open(addr, raw::client_config(pki, Some(client)))
        .expect("connect to the gateway");
    conn.tls
        .sock
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let request = format!(
        "{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.send(request.as_bytes()).unwrap();
    let raw = conn.read_to_close();
    let (status, body) = parse_response(raw.as_bytes());
    (status, String::from_utf8_lossy(&body).into_owned())
}
