//! Attacks on the local sockets: on their files by a user who can write to
//! the folder a socket is in (what takes the socket's place is never
//! followed, given a mode or removed by dockgate), and on the connection
//! limits by a local user no client lists.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;

use support::fake_engine::FakeEngine;
use support::process::{self, Reloaded};
use support::{config_text, eventually, parse_response, text, Gateway, Pki};

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

/// `n` connections to `socket` made by a thread running as uid and gid
/// 65534: the kernel records the credentials of the thread that connects,
/// and the raw system calls change only that thread's, not the gateway's
/// running in this process.
fn connect_as_nobody(socket: &Path, n: usize) -> Vec<UnixStream> {
    let socket = socket.to_owned();
    std::thread::spawn(move || {
        // SAFETY: setresgid and setresuid take integers; as raw system
        // calls they change this thread's credentials only.
        unsafe {
            assert_eq!(libc::syscall(libc::SYS_setresgid, 65534, 65534, 65534), 0);
            assert_eq!(libc::syscall(libc::SYS_setresuid, 65534, 65534, 65534), 0);
        }
        (0..n)
            .map(|_| UnixStream::connect(&socket).unwrap())
            .collect()
    })
    .join()
    .unwrap()
}

/// A local user no client lists, on a shared socket anyone may open,
/// holds connections without sending a request: they count against
/// `max_connections_per_client` by its uid as a client's would, so it
/// never takes every connection from the clients.
#[test]
fn an_unlisted_local_user_never_takes_every_connection() {
    let engine = FakeEngine::start();
    let pki = Pki::new(&[]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let shared = dir.path().join("docker.sock");
    let body = format!(
        "local_listen = \"{}\"\nlocal_listen_mode = \"0666\"\n\
         [clients.root]\npolicies = [\"ping\"]\nuids = [0]\n\
         [policies.ping]\nallow = [\"GET /_ping\"]\n\
         [limits]\nmax_connections = 40\nmax_connections_per_client = 2\nshutdown_grace = \"2s\"\n",
        shared.display()
    );
    let gateway = Gateway::start(&pki, engine.path(), &body);
    let held = connect_as_nobody(&shared, 40);
    for stream in &held {
        stream.set_nonblocking(true).unwrap();
    }
    let closed = || {
        held.iter()
            .filter(|s| matches!((&mut &**s).read(&mut [0u8; 64]), Ok(0)))
            .count()
    };
    // Two counted, sixteen answered 429 once they ask; the rest closed.
    eventually("connections past the uid's limit are closed", || {
        closed() == 40 - 2 - 16
    });

    let mut stream = UnixStream::connect(&shared).unwrap();
    stream
        .write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    match stream.read_to_end(&mut raw) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("{e}"),
    }
    assert!(
        !raw.is_empty(),
        "the listed client's connection was closed unanswered"
    );
    let (status, answer) = parse_response(&raw);
    assert_eq!(status, 200, "{}", text(&answer));
    assert_eq!(engine.request_count(), 1);
    drop(held);
    gateway.stop();
}
