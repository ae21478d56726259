//! The local unix sockets dockgate serves: `local_listen` and each local
//! client's own `socket`. They are created at start, follow the
//! configuration on reload (new ones bound, dropped ones closed and
//! removed) and removed on stop.
//!
//! A socket has its configured mode from the first moment anyone can
//! reach it: it is bound inside a fresh private (0700) folder next to its
//! path, given its mode there, then linked onto its path, which fails if
//! something took the path meanwhile. What is at the path already is
//! replaced only if it is a socket nobody answers on (one a previous run
//! left); anything else, or a socket in use, is an error naming the path,
//! and is left as it was.
//!
//! Whoever can write to a socket's folder can swap names there for links:
//! the private folder is worked in through a handle opened when it was
//! made, and a socket's mode is changed only on the inode dockgate
//! created, so nothing a name was swapped for is followed, given a mode
//! or removed.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use crate::config::identities::LocalSocket;
use crate::config::Config;
use crate::request::accept::{self, Listener};
use crate::request::shared::Shared;
use crate::request::workers::Handoff;

#[derive(Debug, Clone, thiserror::Error)]
pub enum SocketError {
    #[error("{}: exists and is not a socket; dockgate replaces only a socket a previous run left", .0.display())]
    NotASocket(PathBuf),
    #[error("{}: a socket another process answers on", .0.display())]
    InUse(PathBuf),
    #[error("{}: cannot create the socket: {source}", path.display())]
    Create {
        path: PathBuf,
        source: Arc<io::Error>,
    },
}

impl SocketError {
    fn create(path: &Path) -> impl FnOnce(io::Error) -> SocketError + '_ {
        move |source| SocketError::Create {
            path: path.to_owned(),
            source: Arc::new(source),
        }
    }
}

/// The inode a socket file was created as, so that only that file is
/// ever removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    fn of(path: &Path) -> io::Result<FileId> {
        Ok(FileId::from(&fs::symlink_metadata(path)?))
    }

    fn from(meta: &fs::Metadata) -> FileId {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// A handle on what is at `path` itself, a link included (`O_PATH`, which
/// opens a socket file too, without connecting).
fn open_handle(path: &Path, flags: libc::c_int) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_NOFOLLOW | flags)
        .open(path)
}

/// The path the kernel resolves to `file`'s inode itself, whatever its
/// name is now.
fn through(file: &fs::File) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

/// Gives the socket file at `path` `mode` if it is still the one created
/// as `id`; never a link or a file that took its place.
fn set_mode(path: &Path, id: FileId, mode: u32) -> io::Result<()> {
    let handle = open_handle(path, 0)?;
    if FileId::from(&handle.metadata()?) != id {
        return Err(io::Error::other(
            "it is no longer the socket dockgate created",
        ));
    }
    fs::set_permissions(through(&handle), fs::Permissions::from_mode(mode))
}

/// Private folders are told apart by the process and a counter.
static PRIVATE: AtomicU64 = AtomicU64::new(0);

/// Creates the socket `socket` names, with its mode from the first moment.
fn create(socket: &LocalSocket) -> Result<(UnixListener, FileId), SocketError> {
    let path = &socket.path;
    clear_stale(path)?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let private = parent.join(format!(
        ".dockgate-{}-{}",
        std::process::id(),
        PRIVATE.fetch_add(1, Ordering::Relaxed)
    ));
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&private)
        .map_err(SocketError::create(path))?;
    let made = (|| {
        // The folder by a handle taken now: its name may be swapped for a
        // link or another folder from here on, the handle not. One owned
        // by someone else was swapped in before the handle was taken.
        let folder = open_handle(&private, libc::O_DIRECTORY)?;
        // SAFETY: geteuid cannot fail.
        if folder.metadata()?.uid() != unsafe { libc::geteuid() } {
            return Err(io::Error::other(format!(
                "{} was replaced while the socket was made",
                private.display()
            )));
        }
        let inside = through(&folder).join("s");
        let listener = UnixListener::bind(&inside)?;
        let linked = (|| {
            // Nobody else can write in the folder: its names are dockgate's.
            fs::set_permissions(&inside, fs::Permissions::from_mode(socket.mode))?;
            let id = FileId::of(&inside)?;
            // A link, unlike a rename, never replaces what is at the path.
            fs::hard_link(&inside, path)?;
            listener.set_nonblocking(true)?;
            Ok(id)
        })();
        let _ = fs::remove_file(&inside);
        linked.map(|id| (listener, id))
    })();
    let _ = fs::remove_dir(&private);
    made.map_err(SocketError::create(path))
}

/// Removes a socket at `path` nobody answers on; an error for anything
/// else there.
fn clear_stale(path: &Path) -> Result<(), SocketError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(SocketError::create(path)(e)),
    };
    if !meta.file_type().is_socket() {
        return Err(SocketError::NotASocket(path.to_owned()));
    }
    match answered(path) {
        Ok(true) => Err(SocketError::InUse(path.to_owned())),
        Ok(false) => {
            tracing::info!(socket = %path.display(), "removing the stale socket a previous run left");
            fs::remove_file(path).map_err(SocketError::create(path))
        }
        Err(e) => Err(SocketError::create(path)(e)),
    }
}

/// Whether a process listens on the socket at `path`, asked without
/// waiting: a blocking connect to a listener whose queue is full (busy,
/// or one that never accepts) would hold start or a reload for ever.
fn answered(path: &Path) -> io::Result<bool> {
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;

    let bytes = path.as_os_str().as_bytes();
    // SAFETY: sockaddr_un is plain data, valid all zeroes.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    if bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a path a unix socket can have",
        ));
    }
    for (to, from) in addr.sun_path.iter_mut().zip(bytes) {
        *to = *from as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1;
    // SAFETY: socket takes no pointers.
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just made and nothing else owns it.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: addr is a sockaddr_un and len does not exceed it.
    let connected = unsafe {
        libc::connect(
            socket.as_raw_fd(),
            std::ptr::addr_of!(addr).cast(),
            len as libc::socklen_t,
        )
    };
    if connected == 0 {
        return Ok(true);
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        // A listener whose queue is full.
        Some(libc::EAGAIN) => Ok(true),
        Some(libc::ECONNREFUSED) => Ok(false),
        _ => Err(error),
    }
}

/// Removes the socket file at `path` if it is still the one created as `id`.
fn remove(path: &Path, id: FileId) {
    if FileId::of(path).is_ok_and(|now| now == id) {
        if let Err(error) = fs::remove_file(path) {
            tracing::warn!(socket = %path.display(), %error, "cannot remove the socket");
        }
    }
}

/// The sockets `config` asks for, by path.
fn wanted(config: &Config) -> BTreeMap<PathBuf, LocalSocket> {
    let own = config
        .clients
        .values()
        .filter_map(|c| c.known_by.local.as_ref()?.socket.as_ref());
    config
        .local_listen
        .iter()
        .chain(own)
        .map(|s| (s.path.clone(), s.clone()))
        .collect()
}

/// One socket dockgate created.
struct Open {
    mode: u32,
    id: FileId,
    /// Until it is served: bound, connections queue in the kernel.
    pending: Option<UnixListener>,
    /// Ends its accept loop.
    stop: CancellationToken,
}

impl Open {
    /// Ends its accept loop and removes its file, still dockgate's.
    fn close(self, path: &Path) {
        self.stop.cancel();
        drop(self.pending);
        remove(path, self.id);
    }
}

/// What accept loops need: the runtime they run on and what they share.
pub struct Serving {
    pub runtime: Handle,
    pub shared: Arc<Shared>,
    pub handoff: Arc<Handoff>,
}

/// Sockets created for a configuration not yet in force.
pub struct Bound(Vec<(PathBuf, UnixListener, FileId, u32)>);

/// Every local socket dockgate has created and not removed.
#[derive(Default)]
pub struct Sockets {
    open: BTreeMap<PathBuf, Open>,
    serving: Option<Serving>,
    /// Stopping: every socket is gone, and a reload adds none.
    closed: bool,
}

impl Sockets {
    /// Creates the sockets `config` adds to those open; none if one
    /// cannot be (those just created are removed again).
    pub fn bind(&self, config: &Config) -> Result<Bound, SocketError> {
        let mut bound = Vec::new();
        if self.closed {
            return Ok(Bound(bound));
        }
        for (path, socket) in wanted(config) {
            if self.open.contains_key(&path) {
                continue;
            }
            match create(&socket) {
                Ok((listener, id)) => bound.push((path, listener, id, socket.mode)),
                Err(e) => {
                    for (path, listener, id, _) in bound {
                        drop(listener);
                        remove(&path, id);
                    }
                    return Err(e);
                }
            }
        }
        Ok(Bound(bound))
    }

    /// Puts `config`'s sockets in force, once `config` is: serves those
    /// `bound` created, gives those kept a changed mode, and closes and
    /// removes those `config` dropped.
    pub fn commit(&mut self, bound: Bound, config: &Config) {
        let wanted = wanted(config);
        let dropped: Vec<PathBuf> = self
            .open
            .keys()
            .filter(|p| !wanted.contains_key(*p))
            .cloned()
            .collect();
        for path in dropped {
            if let Some(open) = self.open.remove(&path) {
                open.close(&path);
                tracing::info!(socket = %path.display(), "socket removed");
            }
        }
        for (path, socket) in &wanted {
            let Some(open) = self.open.get_mut(path) else {
                continue;
            };
            if open.mode != socket.mode {
                match set_mode(path, open.id, socket.mode) {
                    Ok(()) => open.mode = socket.mode,
                    Err(error) => {
                        tracing::error!(socket = %path.display(), %error, "cannot change the socket's mode")
                    }
                }
            }
        }
        for (path, listener, id, mode) in bound.0 {
            tracing::info!(socket = %path.display(), mode = format!("{mode:04o}"), "socket created");
            self.open.insert(
                path,
                Open {
                    mode,
                    id,
                    pending: Some(listener),
                    stop: CancellationToken::new(),
                },
            );
        }
        self.start();
    }

    /// Serves every socket from now on, those bound already and those a
    /// reload adds.
    pub fn serve(&mut self, serving: Serving) {
        self.serving = Some(serving);
        self.start();
    }

    /// Starts an accept loop for each socket not yet served, once serving.
    fn start(&mut self) {
        let Some(serving) = &self.serving else {
            return;
        };
        let _entered = serving.runtime.enter();
        for (path, open) in &mut self.open {
            let Some(listener) = open.pending.take() else {
                continue;
            };
            let listener = match tokio::net::UnixListener::from_std(listener) {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::error!(socket = %path.display(), %error, "cannot serve the socket");
                    continue;
                }
            };
            let listener = Listener::Local(listener, Arc::from(path.as_path()));
            serving.shared.tasks.spawn_on(
                accept::serve(
                    listener,
                    Arc::clone(&serving.shared),
                    Arc::clone(&serving.handoff),
                    open.stop.clone().cancelled_owned(),
                ),
                &serving.runtime,
            );
        }
    }

    /// Stops serving and removes every socket.
    pub fn close(&mut self) {
        self.closed = true;
        self.serving = None;
        for (path, open) in std::mem::take(&mut self.open) {
            open.close(&path);
        }
    }
}

impl Drop for Sockets {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    fn socket(dir: &Path, name: &str, mode: u32) -> LocalSocket {
        LocalSocket {
            path: dir.join(name),
            mode,
        }
    }

    fn temp() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "dockgate-sockets-{}-{}",
            std::process::id(),
            PRIVATE.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_socket_has_its_mode_and_the_private_folder_is_gone() {
        let dir = temp();
        let s = socket(&dir, "a.sock", 0o640);
        let (_listener, _) = create(&s).unwrap();
        let meta = fs::symlink_metadata(&s.path).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.mode() & 0o777, 0o640);
        let left: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["a.sock"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_stale_socket_is_replaced_and_a_live_one_or_a_file_is_not() {
        let dir = temp();
        let s = socket(&dir, "a.sock", 0o660);
        drop(UnixListener::bind(&s.path).unwrap());
        let (live, _) = create(&s).unwrap();
        assert!(matches!(create(&s), Err(SocketError::InUse(_))));
        drop(live);
        fs::remove_file(&s.path).unwrap();
        fs::write(&s.path, "keep").unwrap();
        let err = create(&s).unwrap_err();
        assert!(matches!(err, SocketError::NotASocket(_)), "{err}");
        assert!(err.to_string().contains(&*s.path.to_string_lossy()));
        assert_eq!(fs::read_to_string(&s.path).unwrap(), "keep");
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A listener that never accepts, its queue full: connecting to it
    /// would wait for ever, and start or a reload with it.
    #[test]
    fn a_socket_whose_listener_is_busy_is_in_use_at_once() {
        let dir = temp();
        let s = socket(&dir, "a.sock", 0o660);
        let busy = UnixListener::bind(&s.path).unwrap();
        // SAFETY: listening again only changes the backlog, to none.
        assert_eq!(unsafe { libc::listen(busy.as_raw_fd(), 0) }, 0);
        let _queued = UnixStream::connect(&s.path).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let path = s.path.clone();
        std::thread::spawn(move || tx.send(clear_stale(&path)));
        // A guard against a hang, not a measurement.
        let got = rx.recv_timeout(std::time::Duration::from_secs(60));
        assert!(matches!(got, Ok(Err(SocketError::InUse(_)))), "{got:?}");
        assert!(fs::symlink_metadata(&s.path).is_ok());
        drop(busy);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_the_file_created_is_removed() {
        let dir = temp();
        let s = socket(&dir, "a.sock", 0o660);
        let (listener, id) = create(&s).unwrap();
        drop(listener);
        fs::remove_file(&s.path).unwrap();
        fs::write(&s.path, "someone else's").unwrap();
        remove(&s.path, id);
        assert!(s.path.exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
