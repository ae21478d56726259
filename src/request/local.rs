//! A peer on one of dockgate's unix sockets: the socket it connected to
//! and its credentials as the kernel reported them at `connect`
//! (`SO_PEERCRED`), which a client cannot forge. What names the client is
//! [`crate::request::identity`]'s; this is what it goes by, and how the
//! audit line shows it.
//!
//! In a user namespace (systemd's `PrivateUsers=yes`, which the shipped
//! unit leaves off for this reason; a container's) the kernel reports
//! every uid and gid the namespace does not map as one stand-in (65534):
//! such an id names no one, so it is kept apart and matches no client.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use tokio::net::UnixStream;

/// Who connected to a local socket, fixed for the life of the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPeer {
    /// The socket's path as configured: a client's own socket or
    /// `local_listen`.
    pub socket: Arc<Path>,
    /// The connecting process; the kernel may not know it (a peer in
    /// another pid namespace).
    pub pid: Option<i32>,
    pub uid: u32,
    /// The primary gid of the connecting process.
    pub gid: u32,
    /// The uid is one this process's user namespace maps, not the kernel's
    /// stand-in for all it does not.
    pub uid_mapped: bool,
    /// The same for the gid.
    pub gid_mapped: bool,
}

/// Whether `id` lies in one of the ranges of a `/proc/self/uid_map` or
/// `gid_map` (`inside outside count` per line).
fn in_map(id: u32, map: &str) -> bool {
    map.lines().any(|line| {
        let mut fields = line.split_whitespace().map(|f| f.parse::<u64>());
        match (fields.next(), fields.next(), fields.next()) {
            (Some(Ok(inside)), Some(Ok(_)), Some(Ok(count))) => {
                (inside..inside + count).contains(&u64::from(id))
            }
            _ => false,
        }
    })
}

/// This process's uid and gid maps, read once; `None` where they cannot be
/// read (no /proc), where every id is taken as mapped.
fn maps() -> &'static (Option<String>, Option<String>) {
    static MAPS: OnceLock<(Option<String>, Option<String>)> = OnceLock::new();
    MAPS.get_or_init(|| {
        (
            std::fs::read_to_string("/proc/self/uid_map").ok(),
            std::fs::read_to_string("/proc/self/gid_map").ok(),
        )
    })
}

impl LocalPeer {
    /// The credentials of the peer of `stream`, accepted on `socket`.
    pub fn of(stream: &UnixStream, socket: &Arc<Path>) -> std::io::Result<LocalPeer> {
        let cred = stream.peer_cred()?;
        let (uid_map, gid_map) = maps();
        let mapped = |id, map: &Option<String>| map.as_deref().is_none_or(|m| in_map(id, m));
        Ok(LocalPeer {
            socket: Arc::clone(socket),
            pid: cred.pid(),
            uid: cred.uid(),
            gid: cred.gid(),
            uid_mapped: mapped(cred.uid(), uid_map),
            gid_mapped: mapped(cred.gid(), gid_map),
        })
    }
}

/// `unix:PATH pid=N uid=N gid=N`, the audit line's `peer` (`pid=?` when
/// the kernel did not say).
impl fmt::Display for LocalPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unix:{} pid=", self.socket.display())?;
        match self.pid {
            Some(pid) => write!(f, "{pid}")?,
            None => f.write_str("?")?,
        }
        write!(f, " uid={} gid={}", self.uid, self.gid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_peer_is_this_process_and_shows_as_its_socket_and_ids() {
        let (a, _b) = UnixStream::pair().unwrap();
        let socket: Arc<Path> = Arc::from(Path::new("/run/dockgate/t.sock"));
        let peer = LocalPeer::of(&a, &socket).unwrap();
        // SAFETY: getuid, getgid and getpid cannot fail.
        let (uid, gid, pid) = unsafe { (libc::getuid(), libc::getgid(), libc::getpid()) };
        assert_eq!((peer.uid, peer.gid, peer.pid), (uid, gid, Some(pid)));
        assert!(peer.uid_mapped && peer.gid_mapped);
        assert_eq!(
            peer.to_string(),
            format!("unix:/run/dockgate/t.sock pid={pid} uid={uid} gid={gid}")
        );
    }

    #[test]
    fn an_id_outside_the_namespace_map_is_unmapped() {
        // The initial namespace maps every id.
        assert!(in_map(65534, "         0          0 4294967295\n"));
        // systemd's PrivateUsers=yes: root and the service user only.
        let private = "         0          0          1\n       998        998          1\n";
        assert!(in_map(0, private) && in_map(998, private));
        assert!(!in_map(65534, private) && !in_map(1000, private));
    }
}
