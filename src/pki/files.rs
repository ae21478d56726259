//! Where the PKI lives on disk and how it is written. Every file is written
//! to a temporary name in its final directory, synced, then renamed into
//! place, so a reloading gateway never reads half a file. A command that
//! writes several files stages them all first and renames them only when
//! every one was written, so a failure leaves nothing new behind. Keys are
//! created with mode 0600 from the first byte.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::PkiError;

/// Mode of private keys: readable by the owner only.
pub const KEY_MODE: u32 = 0o600;
/// Mode of certificates, CRLs and the index.
pub const PUBLIC_MODE: u32 = 0o644;
/// Mode of directories holding keys.
pub const PRIVATE_DIR_MODE: u32 = 0o700;
/// Mode of the PKI folder itself: the gateway's service user reads the
/// server certificate, CA and CRL from it.
pub const PUBLIC_DIR_MODE: u32 = 0o755;

/// The file names inside a `--dir`.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The `--dir` itself.
    pub dir: PathBuf,
}

impl Layout {
    /// The layout of `dir`.
    pub fn new(dir: &Path) -> Layout {
        Layout {
            dir: dir.to_path_buf(),
        }
    }
    /// The CA certificate, `ca.pem`.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    /// The CA key, `ca-key.pem`.
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca-key.pem")
    }
    /// The root above the CA, `root-ca.pem` (`init --intermediate`).
    pub fn root_cert(&self) -> PathBuf {
        self.dir.join("root-ca.pem")
    }
    /// The root's key, `root-ca-key.pem`: meant to be moved offline.
    pub fn root_key(&self) -> PathBuf {
        self.dir.join("root-ca-key.pem")
    }
    /// The root's CRL, `root-crl.pem`, copied into `crl.pem` after the CA's.
    pub fn root_crl(&self) -> PathBuf {
        self.dir.join("root-crl.pem")
    }
    /// The CRL, `crl.pem`.
    pub fn crl(&self) -> PathBuf {
        self.dir.join("crl.pem")
    }
    /// The index of everything issued, `index.toml`.
    pub fn index(&self) -> PathBuf {
        self.dir.join("index.toml")
    }
    /// The lock the commands take turns with, `pki.lock` (see `lock`).
    pub fn lock(&self) -> PathBuf {
        self.dir.join("pki.lock")
    }
    /// The server certificate, `server-cert.pem`.
    pub fn server_cert(&self) -> PathBuf {
        self.dir.join("server-cert.pem")
    }
    /// The server key, `server-key.pem`.
    pub fn server_key(&self) -> PathBuf {
        self.dir.join("server-key.pem")
    }
    /// Where a replaced server certificate is kept.
    pub fn old_server_cert(&self, serial: &str) -> PathBuf {
        self.dir.join(format!("server-cert.{serial}.pem"))
    }
    /// The directory handed to a client (`DOCKER_CERT_PATH`).
    pub fn client_dir(&self, name: &str) -> PathBuf {
        self.dir.join("clients").join(name)
    }
    /// A client's certificate.
    pub fn client_cert(&self, name: &str) -> PathBuf {
        self.client_dir(name).join("cert.pem")
    }
    /// A client's key.
    pub fn client_key(&self, name: &str) -> PathBuf {
        self.client_dir(name).join("key.pem")
    }
    /// A client's copy of the CA certificate.
    pub fn client_ca(&self, name: &str) -> PathBuf {
        self.client_dir(name).join("ca.pem")
    }
    /// Where a client's replaced certificate is kept.
    pub fn old_client_cert(&self, name: &str, serial: &str) -> PathBuf {
        self.client_dir(name).join(format!("cert.{serial}.pem"))
    }
}

/// Reads a whole file, naming it in the error.
pub fn read(path: &Path) -> Result<Vec<u8>, PkiError> {
    fs::read(path).map_err(|e| PkiError::io(path, e))
}

/// Fails with [`PkiError::Exists`] if `path` exists and `force` is off.
pub fn refuse_overwrite(path: &Path, force: bool) -> Result<(), PkiError> {
    if !force && path.symlink_metadata().is_ok() {
        return Err(PkiError::Exists {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// A set of files written to temporary names, renamed into place together by
/// [`Staged::commit`]. Dropping it uncommitted removes the temporaries and
/// any directories it created.
#[derive(Debug, Default)]
pub struct Staged {
    /// (temporary path, final path) in the order they are renamed.
    files: Vec<(PathBuf, PathBuf)>,
    /// Directories this transaction created, deepest last.
    created_dirs: Vec<PathBuf>,
    /// Set once every rename succeeded.
    committed: bool,
}

impl Staged {
    /// An empty transaction.
    pub fn new() -> Staged {
        Staged::default()
    }

    /// Creates `dir` and its missing parents with `mode`, remembering which
    /// ones were new so an aborted transaction can remove them. The mode is
    /// set whatever the umask: a service user must be able to enter the
    /// certificates' folder even when an admin with umask 077 made it.
    pub fn create_dir(&mut self, dir: &Path, mode: u32) -> Result<(), PkiError> {
        let mut missing = Vec::new();
        let mut cur = Some(dir);
        while let Some(d) = cur {
            if d.as_os_str().is_empty() || d.exists() {
                break;
            }
            missing.push(d.to_path_buf());
            cur = d.parent();
        }
        for d in missing.into_iter().rev() {
            DirBuilder::new()
                .mode(mode)
                .create(&d)
                .map_err(|e| PkiError::io(&d, e))?;
            self.created_dirs.push(d.clone());
            fs::set_permissions(&d, fs::Permissions::from_mode(mode))
                .map_err(|e| PkiError::io(&d, e))?;
        }
        Ok(())
    }

    /// Whether [`Staged::create_dir`] made any folder.
    pub fn created_any(&self) -> bool {
        !self.created_dirs.is_empty()
    }

    /// Writes `contents` to a new temporary file next to `path` with `mode`
    /// set at creation, and syncs it. The file appears at `path` on commit.
    pub fn write(&mut self, path: &Path, contents: &[u8], mode: u32) -> Result<(), PkiError> {
        let tmp = temp_name(path);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(|e| PkiError::io(&tmp, e))?;
        // Record it before writing so a failed write still cleans up.
        self.files.push((tmp.clone(), path.to_path_buf()));
        // The umask may have narrowed the mode; certificates must be readable.
        file.set_permissions(fs::Permissions::from_mode(mode))
            .and_then(|()| file.write_all(contents))
            .and_then(|()| file.sync_all())
            .map_err(|e| PkiError::io(&tmp, e))
    }

    /// Copies the current contents of `from` to `to` (used to keep a
    /// replaced certificate), as part of this transaction.
    pub fn keep_copy(&mut self, from: &Path, to: &Path, mode: u32) -> Result<(), PkiError> {
        let contents = read(from)?;
        self.write(to, &contents, mode)
    }

    /// Renames every staged file into place, then syncs the directories.
    /// If a rename fails, files renamed so far stay (each is complete) and
    /// the remaining temporaries are removed.
    pub fn commit(mut self) -> Result<(), PkiError> {
        let files = std::mem::take(&mut self.files);
        let mut dirs: Vec<PathBuf> = Vec::new();
        for (i, (tmp, dest)) in files.iter().enumerate() {
            if let Err(e) = fs::rename(tmp, dest) {
                for (rest, _) in &files[i..] {
                    let _ = fs::remove_file(rest);
                }
                self.created_dirs.clear();
                self.committed = true;
                return Err(PkiError::io(dest, e));
            }
            if let Some(parent) = dest.parent() {
                if !dirs.iter().any(|d| d == parent) {
                    dirs.push(parent.to_path_buf());
                }
            }
        }
        self.committed = true;
        for dir in dirs {
            // Make the renames durable; a failure here loses nothing written.
            if let Ok(d) = File::open(&dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        for (tmp, _) in &self.files {
            let _ = fs::remove_file(tmp);
        }
        for dir in self.created_dirs.iter().rev() {
            let _ = fs::remove_dir(dir);
        }
    }
}

/// A temporary name in the same directory as `path`, hidden and unique to
/// this process and moment.
fn temp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    path.with_file_name(format!(".{name}.tmp-{}-{nanos}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_files_appear_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("sub/key.pem");
        let mut staged = Staged::new();
        staged.create_dir(&dir.path().join("sub"), 0o700).unwrap();
        staged.write(&key, b"secret", KEY_MODE).unwrap();
        assert!(!key.exists());
        staged.commit().unwrap();
        assert_eq!(fs::read(&key).unwrap(), b"secret");
        let mode = fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn dropped_transaction_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut staged = Staged::new();
            staged.create_dir(&dir.path().join("a/b"), 0o700).unwrap();
            staged
                .write(&dir.path().join("a/b/x"), b"x", PUBLIC_MODE)
                .unwrap();
        }
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
