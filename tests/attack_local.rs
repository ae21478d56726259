//! Attacks on the local sockets' files by a user who can write to the
//! folder a socket is in: what takes the socket's place is never followed,
//! given a mode or removed by dockgate.

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use support::fake_engine::FakeEngine;
use support::process::{self, Reloaded};
use support::{config_text, Pki};

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o777
}

fn client(socket: &Path, mode: &str) -> String {
    format!(
        "[clients.app]\npolicies = [\"ping\"]\nsocket = \"{}\"\nsocket_mode = \"{mode}\"\n\
         [policies.ping]\nallow = [\"GET /_ping\"]\n",
        socket.display()
    )
}

/// The socket is swapped for a link to a file only its owner may read;
/// a reload that widens the socket's mode leaves that file's mode alone,
/// and stop removes neither the link nor the file.
#[test]
fn a_reload_never_gives_its_mode_to_what_replaced_the_socket() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&[]);
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("app.sock");
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "key").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();

    let mut served = process::serve(&config_text(&pki, engine.path(), &client(&socket, "0660")));
    assert_eq!(mode(&socket), 0o660);
    std::fs::remove_file(&socket).unwrap();
    std::os::unix::fs::symlink(&secret, &socket).unwrap();

    std::fs::write(
        &served.config,
        config_text(&pki, engine.path(), &client(&socket, "0666")),
    )
    .unwrap();
    assert_eq!(served.reload(), Reloaded::Applied);
    assert_eq!(mode(&secret), 0o600, "the reload chmodded through the link");

    let (status, log) = served.stop();
    assert!(status.success(), "{log}");
    assert!(std::fs::symlink_metadata(&socket).unwrap().is_symlink());
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "key");
    assert_eq!(engine.request_count(), 0);
}
