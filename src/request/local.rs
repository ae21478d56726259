//! A peer on one of dockgate's unix sockets: the socket it connected to
//! and its credentials as the kernel reported them at `connect`
//! (`SO_PEERCRED`), which a client cannot forge. What names the client is
//! [`crate::request::identity`]'s; this is what it goes by, and how the
//! audit line shows it.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

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
}

impl LocalPeer {
    /// The credentials of the peer of `stream`, accepted on `socket`.
    pub fn of(stream: &UnixStream, socket: &Arc<Path>) -> std::io::Result<LocalPeer> {
        let cred = stream.peer_cred()?;
        Ok(LocalPeer {
            socket: Arc::clone(socket),
            pid: cred.pid(),
            uid: cred.uid(),
            gid: cred.gid(),
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
        assert_eq!(
            peer.to_string(),
            format!("unix:/run/dockgate/t.sock pid={pid} uid={uid} gid={gid}")
        );
    }
}
