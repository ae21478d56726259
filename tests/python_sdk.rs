//! The Docker SDK for Python against the real Engine through the gateway:
//! a second, independent client implementation (requests/urllib3 TLS,
//! its own API version negotiation and error handling) that must work
//! unchanged and must see the gateway's refusals as ordinary API errors.
//!
//! The Python side is `tests/sdk/smoke.py`; it needs `pip install docker`.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::{real_engine, run, text, Gateway, Pki, SDK_ENV_OVERRIDES, TEST_IMAGE};

const POLICY: &str = r#"
[clients.admin]
policies = ["operator"]

[clients.viewer]
policies = ["read-only"]

[policies.operator]
allow = ["* /**"]

[policies.read-only]
allow = ["HEAD /_ping", "GET /_ping", "GET /version", "GET /info", "GET /containers/json", "GET /images/json"]
"#;

/// Removes the script's containers through the Engine's socket, whatever happened.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let names = ["-echo", "-privileged", "-viewer"].map(|suffix| format!("{}{suffix}", self.0));
        let _ = Command::new("/usr/local/bin/docker")
            .args(["-H", "unix:///var/run/docker.sock", "rm", "-f"])
            .args(names)
            .output();
    }
}

#[test]
fn the_python_sdk_works_through_the_gateway_and_sees_its_refusals() {
    let Some(socket) = real_engine() else { return };
    if !support::python_sdk_installed("the Python SDK test") {
        return;
    }
    let pki = Pki::new(&["admin", "viewer"]);
    let gateway = Gateway::start(&pki, &socket, POLICY);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let name = format!("dockgate-test-sdk-{}-{nanos:08x}", std::process::id());
    let cleanup = Cleanup(name.clone());

    let mut cmd = Command::new("python3");
    cmd.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/smoke.py"));
    // requests lets REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE replace the CA the
    // SDK configured (psf/requests#3829), and a proxy would sit in the middle.
    for var in SDK_ENV_OVERRIDES {
        cmd.env_remove(var);
    }
    cmd.env("DOCKGATE_PORT", gateway.addr.port().to_string())
        .env("DOCKGATE_ADMIN_CERTS", pki.client_dir("admin"))
        .env("DOCKGATE_VIEWER_CERTS", pki.client_dir("viewer"))
        .env("DOCKGATE_IMAGE", TEST_IMAGE)
        .env("DOCKGATE_CONTAINER", &cleanup.0)
        .stdin(Stdio::null());
    let out = run(cmd, Duration::from_secs(120));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "smoke.py failed: {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    let field = |key: &str| -> &str {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(": "))
            .unwrap_or_else(|| panic!("no {key} line in:\n{stdout}"))
    };

    assert_eq!(field("ping"), "True");
    assert!(!field("version").is_empty());
    assert_eq!(field("run"), "b'sdk\\n'");
    assert_eq!(field("viewer-list"), "True");
    let privileged = field("privileged");
    assert!(
        privileged.starts_with("403 dockgate: client \"admin\" may not POST"),
        "{privileged}"
    );
    assert!(privileged.contains("HostConfig.Privileged"), "{privileged}");
    let viewer = field("viewer-run");
    assert!(
        viewer.starts_with("403 dockgate: client \"viewer\" may not POST"),
        "{viewer}"
    );
    assert!(viewer.contains("read-only"), "{viewer}");

    // Neither refused container exists: the Engine never saw the requests.
    for refused in ["-privileged", "-viewer"] {
        let filter = format!("name={name}{refused}");
        let listed = Command::new("/usr/local/bin/docker")
            .args([
                "-H",
                "unix:///var/run/docker.sock",
                "ps",
                "-a",
                "-q",
                "--filter",
                &filter,
            ])
            .output()
            .unwrap();
        assert!(
            text(&listed.stdout).trim().is_empty(),
            "{filter} was created"
        );
    }
    drop(cleanup);
}
