//! The shipped systemd unit: hardened to an exposure of 1.5 or less by
//! systemd's own assessment, and still declaring what dockgate needs.

use std::process::Command;

const UNIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/dockgate.service");

#[test]
fn the_unit_is_hardened_to_an_exposure_of_at_most_1_5() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install systemd-analyze"
        );
        eprintln!("*** systemd-analyze missing: the unit's exposure was NOT checked ***");
        return;
    }
    // --threshold is on systemd's 0-100 scale: 15 is an exposure of 1.5.
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--threshold=15", UNIT])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let overall = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_default();
    assert!(
        out.status.success(),
        "exposure above 1.5: {overall}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{overall}");
}

#[test]
fn the_unit_runs_unprivileged_with_notify_reload_and_socket_access() {
    let unit = std::fs::read_to_string(UNIT).unwrap();
    for line in [
        "Type=notify",
        r#"ExecReload=/bin/sh -c 'kill -HUP "$$MAINPID"'"#,
        "User=dockgate",
        "SupplementaryGroups=docker",
        "CapabilityBoundingSet=",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "RestartPreventExitStatus=64",
    ] {
        assert!(unit.lines().any(|l| l == line), "missing {line:?}");
    }
    let uncommented: Vec<_> = unit
        .lines()
        .filter(|l| l.contains('=') && !l.starts_with('#'))
        .collect();
    let lines: Vec<_> = unit.lines().collect();
    for directive in uncommented {
        let i = lines.iter().position(|l| *l == directive).unwrap();
        let documented = lines[..i]
            .iter()
            .rev()
            .take_while(|l| !l.is_empty() && !l.starts_with('['))
            .any(|l| l.starts_with('#'));
        assert!(
            documented,
            "directive without a comment above it: {directive}"
        );
    }
}
