//! `dockgate pki bundle` end to end: the file it writes is imported by both
//! docker CLIs (Docker's 28.x and Debian's 20.10) with `docker context
//! import`, after which `docker --context` reaches the real Engine through
//! a gateway with no other step; the key is 0600 in the archive, in the
//! file and after import; bad arguments fail clearly and leave no file.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::{
    docker_clis, docker_with_config, eventually, has_lock_open, hold_lock, real_engine, run, text,
    Gateway, Pki,
};

/// Long enough for a slow, shared machine; a hang still fails.
const STEP: Duration = Duration::from_secs(60);

/// `alice` may ping, ask the version and list containers, nothing else:
/// a refusal in dockgate's words shows the request went through the
/// gateway.
const POLICY: &str = r#"
[clients.alice]
policies = ["look"]

[policies.look]
allow = ["HEAD /_ping", "GET /_ping", "GET /version", "GET /containers/json"]
"#;

/// Runs `dockgate pki ARGS…`.
fn dockgate_pki(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dockgate"))
        .arg("pki")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run dockgate")
}

/// `dockgate pki bundle NAME --dir DIR ARGS…`, required to succeed;
/// returns stdout.
fn bundle(dir: &Path, name: &str, args: &[&str]) -> String {
    let mut all = vec!["bundle", name, "--dir", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = dockgate_pki(&all);
    assert!(
        out.status.success(),
        "pki {all:?} failed:\n{}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The mode bits of `path`.
fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// What GNU tar lists in `archive`: (mode string, name) per entry.
fn tar_listing(archive: &Path) -> Vec<(String, String)> {
    let out = Command::new("tar")
        .arg("-tvf")
        .arg(archive)
        .output()
        .unwrap();
    assert!(out.status.success(), "tar -tvf: {}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields[0].to_owned(), fields[fields.len() - 1].to_owned())
        })
        .collect()
}

/// One entry of `archive`, extracted by GNU tar.
fn tar_entry(archive: &Path, name: &str) -> Vec<u8> {
    let out = Command::new("tar")
        .arg("-xOf")
        .arg(archive)
        .arg(name)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tar -xOf {name}: {}",
        text(&out.stderr)
    );
    out.stdout
}

/// The imported context's TLS files under a docker config folder:
/// `contexts/tls/<digest of the name>/docker/*`.
fn imported_tls_files(config_dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for context in fs::read_dir(config_dir.join("contexts/tls")).unwrap() {
        for file in fs::read_dir(context.unwrap().path().join("docker")).unwrap() {
            found.push(file.unwrap().path());
        }
    }
    found.sort();
    found
}

#[test]
fn both_docker_clis_import_the_bundle_and_reach_the_engine_through_the_gateway() {
    let Some(socket) = real_engine() else { return };
    let pki = Pki::new(&["alice"]);
    let gateway = Gateway::start(&pki, &socket, POLICY);
    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("alice.dockercontext");
    let report = bundle(
        pki.path(),
        "alice",
        &[
            "--host",
            &gateway.docker_host(),
            "--out",
            file.to_str().unwrap(),
        ],
    );
    assert!(
        report.contains(&format!("docker context import alice {}", file.display())),
        "{report}"
    );
    assert!(!report.contains("note:"), "{report}");

    let direct = Command::new("/usr/local/bin/docker")
        .args(["-H", "unix:///var/run/docker.sock", "version"])
        .args(["--format", "{{.Server.Version}}"])
        .output()
        .unwrap();
    let engine_version = text(&direct.stdout).trim().to_owned();
    assert!(!engine_version.is_empty());

    for cli in docker_clis() {
        let home = tempfile::tempdir().unwrap();
        let config = home.path().join("docker-config");
        fs::create_dir(&config).unwrap();
        let docker = |args: &[&str]| {
            let mut cmd = docker_with_config(cli, home.path(), &config);
            cmd.args(args);
            run(cmd, STEP)
        };

        let import = docker(&["context", "import", "alice", file.to_str().unwrap()]);
        assert!(import.status.success(), "{cli}: {}", text(&import.stderr));
        let files = imported_tls_files(&config);
        let names: Vec<_> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["ca.pem", "cert.pem", "key.pem"], "{cli}");
        for f in &files {
            assert_eq!(mode(f), 0o600, "{cli}: {}", f.display());
        }
        assert_eq!(
            fs::read(&files[2]).unwrap(),
            fs::read(pki.client_dir("alice").join("key.pem")).unwrap()
        );

        let version = docker(&[
            "--context",
            "alice",
            "version",
            "--format",
            "{{.Server.Version}}",
        ]);
        assert!(version.status.success(), "{cli}: {}", text(&version.stderr));
        assert_eq!(text(&version.stdout).trim(), engine_version, "{cli}");

        let ps = docker(&["--context", "alice", "ps"]);
        assert!(ps.status.success(), "{cli}: {}", text(&ps.stderr));
        assert!(text(&ps.stdout).starts_with("CONTAINER ID"), "{cli}");

        // Not in alice's policy: the gateway, not the Engine, answers.
        let images = docker(&["--context", "alice", "images"]);
        let said = text(&images.stderr);
        assert!(!images.status.success(), "{cli}: {said}");
        assert!(
            said.contains("dockgate: client \"alice\" may not GET"),
            "{cli}: {said}"
        );
    }
    gateway.stop();
}

#[test]
fn the_archive_holds_the_client_files_and_the_key_is_0600() {
    let pki = Pki::new(&["alice"]);
    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("a.ctx");
    bundle(
        pki.path(),
        "alice",
        &[
            "--host",
            "tcp://Localhost:2376",
            "--out",
            file.to_str().unwrap(),
            "--context",
            "prod+alice",
        ],
    );
    assert_eq!(mode(&file), 0o600);
    let listing = tar_listing(&file);
    let expected = [
        ("-rw-r--r--", "meta.json"),
        ("drwx------", "tls"),
        ("drwx------", "tls/docker"),
        ("-rw-------", "tls/docker/ca.pem"),
        ("-rw-------", "tls/docker/cert.pem"),
        ("-rw-------", "tls/docker/key.pem"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(m, n)| (m.to_string(), n.to_string()))
        .collect();
    assert_eq!(listing, expected);
    for name in ["ca", "cert", "key"] {
        assert_eq!(
            tar_entry(&file, &format!("tls/docker/{name}.pem")),
            fs::read(pki.client_dir("alice").join(format!("{name}.pem"))).unwrap(),
            "{name}.pem"
        );
    }
    let meta: serde_json::Value = serde_json::from_slice(&tar_entry(&file, "meta.json")).unwrap();
    assert_eq!(
        meta,
        serde_json::json!({
            "Name": "prod+alice",
            "Metadata": {"Description": "dockgate client alice"},
            "Endpoints": {"docker": {"Host": "tcp://localhost:2376", "SkipTLSVerify": false}},
        })
    );
}

#[test]
fn bad_arguments_fail_clearly_and_leave_no_file() {
    let pki = Pki::new(&["alice", "a", "leaver"]);
    pki.revoke("leaver");
    let dir = pki.path().to_str().unwrap().to_owned();
    let no_ca = tempfile::tempdir().unwrap();
    let no_ca = no_ca.path().to_str().unwrap().to_owned();
    let host = "tcp://localhost:2376";
    let cases: &[(&[&str], &str)] = &[
        (
            &["alice", "--dir", &dir, "--host", host, "--context", "a/b"],
            "bad context name \"a/b\": '/' is not allowed (^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$)",
        ),
        (
            &["a", "--dir", &dir, "--host", host],
            "bad context name \"a\": docker context names have at least 2 characters",
        ),
        (
            &[
                "alice",
                "--dir",
                &dir,
                "--host",
                host,
                "--context",
                "default",
            ],
            "bad context name \"default\": the docker CLI reserves it",
        ),
        (
            &["../alice", "--dir", &dir, "--host", host],
            "bad client name \"../alice\"",
        ),
        (
            &["alice", "--dir", &dir, "--host", "localhost:2376"],
            "bad --host \"localhost:2376\": expected tcp://HOST:PORT",
        ),
        (
            &["alice", "--dir", &dir, "--host", "tcp://localhost"],
            "bad --host \"tcp://localhost\": needs a port",
        ),
        (
            &["alice", "--dir", &dir, "--host", "tcp://localhost:99999"],
            "the port must be a number from 1 to 65535",
        ),
        (
            &["bob", "--dir", &dir, "--host", host],
            &format!(
                "no client \"bob\" in {dir}: issue it with `dockgate pki client bob --dir {dir}`"
            ),
        ),
        (
            &["leaver", "--dir", &dir, "--host", host],
            "is revoked; issue a new one with `dockgate pki renew leaver",
        ),
        (&["alice", "--dir", &no_ca, "--host", host], "no CA in"),
    ];
    for (args, expected) in cases {
        let out_dir = tempfile::tempdir().unwrap();
        let file = out_dir.path().join("out.dockercontext");
        let mut all = vec!["bundle"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--out", file.to_str().unwrap()]);
        let out = dockgate_pki(&all);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        let left: Vec<_> = fs::read_dir(out_dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{args:?} left {left:?}");
    }

    // Without --out the file is named after the context in the current
    // folder; nothing appears there either.
    let cwd = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dockgate"))
        .args(["pki", "bundle", "bob", "--dir", &dir, "--host", host])
        .current_dir(cwd.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(fs::read_dir(cwd.path()).unwrap().count(), 0);

    let missing = pki.path().join("no/such/folder/x.ctx");
    let out = dockgate_pki(&[
        "bundle",
        "alice",
        "--dir",
        &dir,
        "--host",
        host,
        "--out",
        missing.to_str().unwrap(),
    ]);
    assert!(
        text(&out.stderr).contains("no such folder for --out"),
        "{}",
        text(&out.stderr)
    );
    assert!(!pki.path().join("no").exists());
}

#[test]
fn an_existing_file_is_replaced_only_with_force() {
    let pki = Pki::new(&["alice"]);
    let dir = pki.path().to_str().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let file = cwd.path().join("alice.dockercontext");
    fs::write(&file, b"keep me").unwrap();
    let run_in_cwd = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_dockgate"))
            .args(["pki", "bundle", "alice", "--dir", dir])
            .args(["--host", "tcp://localhost:2376"])
            .args(extra)
            .current_dir(cwd.path())
            .output()
            .unwrap()
    };
    let refused = run_in_cwd(&[]);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("alice.dockercontext already exists; pass --force"),
        "{}",
        text(&refused.stderr)
    );
    assert_eq!(fs::read(&file).unwrap(), b"keep me");

    let forced = run_in_cwd(&["--force"]);
    assert!(forced.status.success(), "{}", text(&forced.stderr));
    assert_eq!(mode(&file), 0o600);
    assert_eq!(tar_listing(&file).len(), 6);
    assert_eq!(fs::read_dir(cwd.path()).unwrap().count(), 1);
}

#[test]
fn a_host_the_server_certificate_does_not_name_gets_a_note() {
    let pki = Pki::new(&["alice"]);
    let out_dir = tempfile::tempdir().unwrap();
    let out = |host: &str| {
        let file = out_dir.path().join(format!("{}.ctx", host.len()));
        bundle(
            pki.path(),
            "alice",
            &["--host", host, "--out", file.to_str().unwrap()],
        )
    };
    // The test PKI's server certificate names localhost and 127.0.0.1.
    assert!(!out("tcp://127.0.0.1:2376").contains("note:"));
    let report = out("tcp://docker.example.com:2376");
    assert!(
        report.contains(
            "note: the server certificate's SANs (DNS:localhost, IP:127.0.0.1) do not name this host"
        ),
        "{report}"
    );
    assert!(report.contains("--san DNS:docker.example.com"), "{report}");
}

#[test]
fn bundle_waits_for_a_command_that_changes_the_folder() {
    let pki = Pki::new(&["alice"]);
    let dir = pki.path();
    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("alice.dockercontext");
    let held = hold_lock(dir, libc::LOCK_EX);
    let mut child = Command::new(env!("CARGO_BIN_EXE_dockgate"))
        .args(["pki", "bundle", "alice", "--host", "tcp://localhost:2376"])
        .arg("--dir")
        .arg(dir)
        .arg("--out")
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    eventually("the bundle reaches the lock", || {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("finished while the lock was held: {status}");
        }
        has_lock_open(child.id(), dir)
    });
    for _ in 0..5 {
        assert!(child.try_wait().unwrap().is_none());
        assert_eq!(fs::read_dir(out_dir.path()).unwrap().count(), 0);
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(held);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(tar_listing(&file).len(), 6);

    // A reader does not hold it up.
    let reader = hold_lock(dir, libc::LOCK_SH);
    bundle(
        dir,
        "alice",
        &[
            "--host",
            "tcp://localhost:2376",
            "--out",
            file.to_str().unwrap(),
            "--force",
        ],
    );
    drop(reader);
}

#[test]
fn pki_client_prints_the_bundle_command() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("certs");
    let d = dir.to_str().unwrap();
    for args in [
        &["init", "--dir", d][..],
        &["server", "--dir", d, "--san", "DNS:gw.example.com"],
    ] {
        assert!(dockgate_pki(args).status.success());
    }
    let out = dockgate_pki(&["client", "carol", "--dir", d]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let canonical = dir.canonicalize().unwrap();
    let line = format!(
        "dockgate pki bundle carol --dir {} --host tcp://gw.example.com:2376",
        canonical.display()
    );
    assert!(stdout.contains(&line), "{stdout}");
    assert!(
        stdout.contains("docker context import carol carol.dockercontext"),
        "{stdout}"
    );

    // A name the docker CLI would not take as a context gets no such line.
    let out = dockgate_pki(&["client", "c", "--dir", d]);
    assert!(out.status.success());
    assert!(!text(&out.stdout).contains("pki bundle"));
}
