//! `pki.lock`: the advisory lock that makes `dockgate pki` commands on one
//! folder take turns.
//!
//! Every command that changes the folder holds the lock exclusively from its
//! first read of the CA, index or CRL to its last rename. Without it, two
//! commands that start together both read the same index and the second
//! rename drops the first one's entry (an issued certificate missing from
//! the index, a revocation missing from the CRL), though both report
//! success. `list` holds it shared, so it reads between commands.
//! `inspect` takes none: it reads one file, and every file is replaced
//! whole by a rename.
//!
//! The lock is flock(2) on an empty file next to the CA. The kernel drops
//! it when its holder exits, however it exits, so there is never a stale
//! lock to clear by hand. The file is created 0600: anyone who can open a
//! file can flock it, and so could stall every pki command. Nothing is ever
//! written to it, so no command can leave it half-written; it is not CA
//! material (nothing reads, copies or lists it), and deleting it between
//! commands is harmless.
//!
//! A command that finds the lock taken polls for it for up to
//! [`LOCK_WAIT`], then fails naming the file, rather than hang behind a
//! stuck command.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use super::files::{Layout, Staged, PUBLIC_DIR_MODE};
use super::PkiError;

/// How long a command waits for another to finish. A command holds the
/// lock for one key generation, one signature and a few synced writes, so
/// this covers a long queue of them; a holder slower than this is stuck.
pub const LOCK_WAIT: Duration = Duration::from_secs(60);

/// Mode of the lock file: only its owner may open it, and so lock it.
const LOCK_MODE: u32 = 0o600;

/// The first pause between attempts; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(2);
/// The longest pause between attempts, short next to a command's run.
const MAX_PAUSE: Duration = Duration::from_millis(50);

/// How the lock is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// With other readers, excluding writers.
    Shared,
    /// Alone.
    Exclusive,
}

/// The held lock on a PKI folder. Dropping it (closing the file) releases
/// it. The commands' inner steps take it as an argument, so none of them
/// can run on the folder without it.
#[derive(Debug)]
pub struct PkiLock {
    /// The folder it guards.
    layout: Layout,
    /// The open lock file, which the lock belongs to.
    file: File,
}

impl PkiLock {
    /// Takes the exclusive lock on `dir`, which must hold a CA. Without
    /// one, fails with [`PkiError::NoCa`] before creating anything.
    pub fn exclusive(dir: &Path) -> Result<PkiLock, PkiError> {
        let layout = Layout::new(dir);
        if !layout.ca_cert().exists() {
            return Err(PkiError::NoCa {
                dir: dir.to_path_buf(),
            });
        }
        acquire(layout, Access::Exclusive, LOCK_WAIT)
    }

    /// Takes the shared lock on the existing folder `dir`, for reading.
    /// `None` when the lock file cannot be opened for lack of permission
    /// (someone else's folder, or a read-only one): the reader then goes
    /// ahead unlocked, as every file is replaced whole by a rename and a
    /// reader of one file never sees half of it.
    pub fn shared(dir: &Path) -> Result<Option<PkiLock>, PkiError> {
        match acquire(Layout::new(dir), Access::Shared, LOCK_WAIT) {
            Ok(lock) => Ok(Some(lock)),
            Err(PkiError::Io { source, .. })
                if matches!(
                    source.kind(),
                    io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The folder this lock guards.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Removes the lock file while still holding it, so a failed first
    /// command can remove the folder it made. A command waiting on the
    /// removed file notices when it gets it and starts over.
    fn discard(self) {
        let PkiLock { layout, file } = self;
        let _ = fs::remove_file(layout.lock());
        // Only now let go of the lock.
        drop(file);
    }
}

/// Creates `dir` if it is missing, takes the exclusive lock in it and runs
/// `work`. If `work` fails in a folder this call created, the lock file and
/// the folders go again: a failed first command leaves nothing behind.
pub fn in_new_dir<T>(
    dir: &Path,
    work: impl FnOnce(&PkiLock) -> Result<T, PkiError>,
) -> Result<T, PkiError> {
    let mut dirs = Staged::new();
    dirs.create_dir(dir, PUBLIC_DIR_MODE)?;
    let lock = acquire(Layout::new(dir), Access::Exclusive, LOCK_WAIT)?;
    match work(&lock) {
        Ok(done) => {
            dirs.commit()?;
            Ok(done)
        }
        Err(e) => {
            if dirs.created_any() {
                lock.discard();
            }
            // Removes the folders this call made, if they are empty now.
            drop(dirs);
            Err(e)
        }
    }
}

/// Opens (creating it if needed) the lock file of `layout` and takes it,
/// polling for up to `wait`.
fn acquire(layout: Layout, access: Access, wait: Duration) -> Result<PkiLock, PkiError> {
    let path = layout.lock();
    let deadline = Instant::now() + wait;
    let mut pause = FIRST_PAUSE;
    let gave_up = || PkiError::Locked {
        path: path.clone(),
        waited: wait.as_secs(),
    };
    loop {
        let file = open(&path).map_err(|e| PkiError::io(&path, e))?;
        loop {
            match try_lock(&file, access) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(gave_up());
                    }
                    thread::sleep(pause.min(deadline - now));
                    pause = (pause * 2).min(MAX_PAUSE);
                }
                Err(e) => return Err(PkiError::io(&path, e)),
            }
        }
        // A holder may have removed the file (see `discard`) while this
        // command waited on it; a lock on a removed file guards nothing, as
        // the next command locks a new file of the same name.
        if is_current(&file, &path).map_err(|e| PkiError::io(&path, e))? {
            return Ok(PkiLock { layout, file });
        }
        if Instant::now() >= deadline {
            return Err(gave_up());
        }
    }
}

/// Opens the lock file, creating it empty with [`LOCK_MODE`] whatever the
/// umask. Refuses a symbolic link or anything but a regular file there.
fn open(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW);
    let file = match options.clone().create_new(true).mode(LOCK_MODE).open(path) {
        Ok(file) => {
            file.set_permissions(Permissions::from_mode(LOCK_MODE))?;
            file
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => options.open(path)?,
        Err(e) => return Err(e),
    };
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file; remove it and run the command again",
        ));
    }
    Ok(file)
}

/// One non-blocking attempt at flock(2).
fn try_lock(file: &File, access: Access) -> io::Result<()> {
    let op = match access {
        Access::Shared => libc::LOCK_SH,
        Access::Exclusive => libc::LOCK_EX,
    };
    // SAFETY: flock only takes the descriptor, which `file` keeps open for
    // the length of the call.
    if unsafe { libc::flock(file.as_raw_fd(), op | libc::LOCK_NB) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether `path` still names the file `file` has open.
fn is_current(file: &File, path: &Path) -> io::Result<bool> {
    let held = file.metadata()?;
    match fs::symlink_metadata(path) {
        Ok(now) => Ok(now.dev() == held.dev() && now.ino() == held.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder with the lock file taken exclusively through a descriptor
    /// of its own (flock locks conflict between open files, even in one
    /// process).
    fn held(dir: &Path) -> File {
        let lock = acquire(Layout::new(dir), Access::Exclusive, Duration::ZERO).unwrap();
        lock.file
    }

    #[test]
    fn a_held_lock_makes_others_give_up_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let holder = held(dir.path());
        for access in [Access::Exclusive, Access::Shared] {
            let err = acquire(Layout::new(dir.path()), access, Duration::ZERO).unwrap_err();
            let text = err.to_string();
            let path = dir.path().join("pki.lock");
            assert!(
                text.contains(&format!(
                    "{} is held by another `dockgate pki` command",
                    path.display()
                )),
                "{text}"
            );
        }
        drop(holder);
        acquire(Layout::new(dir.path()), Access::Exclusive, Duration::ZERO).unwrap();
    }

    #[test]
    fn readers_share_and_exclude_writers() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let first = acquire(layout.clone(), Access::Shared, Duration::ZERO).unwrap();
        let second = acquire(layout.clone(), Access::Shared, Duration::ZERO).unwrap();
        assert!(acquire(layout.clone(), Access::Exclusive, Duration::ZERO).is_err());
        drop((first, second));
        acquire(layout, Access::Exclusive, Duration::ZERO).unwrap();
    }

    #[test]
    fn the_lock_file_is_empty_and_private() {
        let dir = tempfile::tempdir().unwrap();
        drop(held(dir.path()));
        let meta = fs::metadata(dir.path().join("pki.lock")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, LOCK_MODE);
        assert_eq!(meta.len(), 0);
    }

    #[test]
    fn a_lock_on_a_removed_file_is_not_taken() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pki.lock");
        let stale = open(&path).unwrap();
        fs::remove_file(&path).unwrap();
        assert!(!is_current(&stale, &path).unwrap());
        // The next command gets a new file, and the lock on it.
        let lock = acquire(Layout::new(dir.path()), Access::Exclusive, Duration::ZERO).unwrap();
        assert!(is_current(&lock.file, &path).unwrap());
    }

    #[test]
    fn a_symlink_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::os::unix::fs::symlink(&target, dir.path().join("pki.lock")).unwrap();
        assert!(acquire(Layout::new(dir.path()), Access::Exclusive, Duration::ZERO).is_err());
        assert!(!target.exists());
    }

    #[test]
    fn a_failed_first_command_leaves_no_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/certs");
        let result: Result<(), PkiError> = in_new_dir(&dir, |lock| {
            assert!(lock.layout().lock().exists());
            Err(PkiError::NoSan)
        });
        assert!(result.is_err());
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
        in_new_dir(&dir, |_| Ok(())).unwrap();
        assert!(dir.join("pki.lock").exists());
    }
}
