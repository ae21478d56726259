//! `dockgate check` and `dockgate explain` on fixture folders of good and bad
//! configurations. Each fixture states what it expects in its leading
//! comments: `# exit: N` and any number of `# expect: TEXT` lines that must
//! appear in the output (with the temporary folder's path removed).

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/configs")
        .join(kind);
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
}

/// A folder with `certs/` (CA, server certificate, CRL) and a second CA.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    dockgate::pki::init_ca(&certs, "fixture CA", 3650, false).unwrap();
    dockgate::pki::issue_server(&certs, &["DNS:localhost"], 30, false).unwrap();
    let other = dir.path().join("other");
    dockgate::pki::init_ca(&other, "another CA", 3650, false).unwrap();
    std::fs::copy(other.join("ca.pem"), certs.join("other-ca.pem")).unwrap();
    dir
}

fn run(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dockgate"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.code().unwrap_or(-1),
        text.replace(&format!("{}/", dir.display()), ""),
    )
}

fn check_fixture(fixture: &Path) {
    let dir = workspace();
    let name = fixture.file_name().unwrap().to_str().unwrap();
    let text = std::fs::read_to_string(fixture).unwrap();
    std::fs::write(dir.path().join(name), &text).unwrap();
    let expected_exit: i32 = text
        .lines()
        .find_map(|l| l.strip_prefix("# exit: "))
        .expect("fixture states its exit")
        .parse()
        .unwrap();
    let (exit, output) = run(dir.path(), &["check", "--config", name]);
    assert_eq!(exit, expected_exit, "{name}: exit status\n{output}");
    for expect in text.lines().filter_map(|l| l.strip_prefix("# expect: ")) {
        assert!(
            output.contains(expect),
            "{name}: missing {expect:?} in\n{output}"
        );
    }
}

#[test]
fn good_configs_pass_check() {
    for fixture in fixtures("good") {
        check_fixture(&fixture);
    }
}

#[test]
fn bad_configs_fail_check_naming_file_line_and_key() {
    for fixture in fixtures("bad") {
        check_fixture(&fixture);
    }
}

#[test]
fn the_shipped_example_config_is_valid() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("config")).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/dockgate.toml"),
        root.path().join("config/dockgate.toml"),
    )
    .unwrap();
    let certs = root.path().join("certs");
    dockgate::pki::quickstart_pki(&certs, "localhost").unwrap();
    let (exit, output) = run(root.path(), &["check", "--config", "config/dockgate.toml"]);
    assert_eq!(exit, 0, "{output}");
    assert!(
        output.contains("client admin: policies operator"),
        "{output}"
    );
}

#[test]
fn explain_shows_the_deciding_policy_rule_and_missing_grant() {
    let dir = workspace();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/configs/good/full.toml"),
        dir.path().join("full.toml"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("binds.json"),
        r#"{"Image":"app","HostConfig":{"Binds":["/srv/app/data:/data","/etc:/host-etc:ro"]}}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("ok.json"), r#"{"Image":"app","HostConfig":{"Binds":["/srv/app/data:/data"],"CapAdd":["NET_BIND_SERVICE"]}}"#).unwrap();
    let cases: &[(&[&str], i32, &[&str])] = &[
        (
            &["GET", "/v1.41/containers/json"],
            0,
            &[
                "API version prefix v1.41 stripped",
                "ALLOW by policy \"read-only\", rule \"GET /containers/json\"",
            ],
        ),
        (
            &["GET", "/images/library/busybox/json"],
            0,
            &["rule \"GET /images/**/json\""],
        ),
        (
            &["DELETE", "/containers/x"],
            1,
            &[
                "policy \"deploy\": no rule matches DELETE /containers/x",
                "DENY (403)",
            ],
        ),
        (
            &["GET", "/containers/%2e%2e/json"],
            1,
            &["DENY (400)", "not canonical"],
        ),
        (
            &["CONNECT", "/_ping"],
            1,
            &["DENY (400)", "CONNECT is not used by the Engine API"],
        ),
        (
            &["--body", "binds.json", "POST", "/v1.41/containers/create"],
            1,
            &[
                "DENY (403): HostConfig.Binds (/etc)",
                "[policies.deploy.grants]",
            ],
        ),
        (
            &["--body", "ok.json", "POST", "/v1.41/containers/create"],
            0,
            &["nothing in it needs a grant", "ALLOW by policy \"deploy\""],
        ),
        (&["POST", "/containers/create"], 0, &["no --body given"]),
    ];
    for (args, exit, expects) in cases {
        let mut full = vec!["explain", "--config", "full.toml", "--client", "deploy"];
        full.extend_from_slice(args);
        let (code, output) = run(dir.path(), &full);
        assert_eq!(code, *exit, "{args:?}\n{output}");
        for e in *expects {
            assert!(output.contains(e), "{args:?}: missing {e:?} in\n{output}");
        }
    }
    let (code, output) = run(
        dir.path(),
        &[
            "explain",
            "--config",
            "full.toml",
            "--client",
            "stranger",
            "GET",
            "/_ping",
        ],
    );
    assert_eq!(code, 1);
    assert!(
        output.contains("client \"stranger\" is not in the configuration"),
        "{output}"
    );
}
