//! `PkiError`: every way a `dockgate pki` command can fail, each message
//! naming the file, flag or value at fault so the one printed line is enough
//! to fix the problem.

use std::path::PathBuf;

/// Why a `pki` command failed.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A file system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory being read or written.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// The command would replace an existing key or certificate.
    #[error("{} already exists; pass --force to replace it", path.display())]
    Exists {
        /// The file that would have been replaced.
        path: PathBuf,
    },

    /// There is no CA to issue from.
    #[error("no CA in {dir}: run `dockgate pki init --dir {dir}` first", dir = dir.display())]
    NoCa {
        /// The `--dir` that was searched.
        dir: PathBuf,
    },

    /// A client name is not usable as a file name and common name.
    #[error("bad client name {name:?}: {reason}")]
    BadName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A subject alternative name is malformed.
    #[error("bad SAN {san:?}: {reason}")]
    BadSan {
        /// The SAN as given.
        san: String,
        /// What is wrong with it.
        reason: String,
    },

    /// `pki server` was run without any `--san`.
    #[error(
        "at least one --san is required, e.g. --san DNS:docker.example.com --san IP:192.0.2.10"
    )]
    NoSan,

    /// `--days` is out of range.
    #[error("--days {days} is out of range: use 1 to {max}")]
    BadDays {
        /// The value given.
        days: u32,
        /// The largest accepted value.
        max: u32,
    },

    /// The CA has expired (or is not yet valid), so nothing it signs would verify.
    #[error("the CA in {} is not valid now (valid until {not_after}); create a new one with `dockgate pki init --force`", path.display())]
    CaNotValid {
        /// The CA certificate file.
        path: PathBuf,
        /// Its notAfter, formatted.
        not_after: String,
    },

    /// A key or certificate file could not be parsed.
    #[error("{}: {reason}", path.display())]
    Parse {
        /// The file that could not be parsed.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// The index could not be read or written.
    #[error("{}: {reason}", path.display())]
    Index {
        /// The index file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// rcgen refused to build a key, certificate or CRL.
    #[error("creating {what}: {source}")]
    Generate {
        /// What was being created.
        what: String,
        /// The underlying error.
        source: rcgen::Error,
    },

    /// A freshly issued certificate did not verify against the CA.
    #[error("the new {what} certificate does not verify against the CA: {reason}")]
    Verify {
        /// Which certificate.
        what: String,
        /// The check that failed.
        reason: String,
    },

    /// No certificate in the index matches a name or serial.
    #[error("no certificate named or with serial {query:?} in {}", index.display())]
    NotFound {
        /// The name or serial asked for.
        query: String,
        /// The index searched.
        index: PathBuf,
    },

    /// Every certificate with this name is already revoked.
    #[error("{name} (serial {serial}) is already revoked")]
    AlreadyRevoked {
        /// The certificate's name.
        name: String,
        /// Its serial in hex.
        serial: String,
    },

    /// Another command kept the folder's lock for longer than a command waits.
    #[error("{} is held by another `dockgate pki` command on this folder; gave up after waiting {waited} s for it to finish", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// How long this command waited, in seconds.
        waited: u64,
    },

    /// `pki bundle` was asked for a client this folder has not issued.
    #[error("no client {name:?} in {dir}: issue it with `dockgate pki client {name} --dir {dir}`", dir = dir.display())]
    NoClient {
        /// The client name.
        name: String,
        /// The `--dir` searched.
        dir: PathBuf,
    },

    /// A client's certificate could not get anyone through the gateway.
    #[error("the certificate of client {name:?} (serial {serial}) {reason}; issue a new one with `dockgate pki renew {name} --dir {dir}`", dir = dir.display())]
    ClientUnusable {
        /// The client name.
        name: String,
        /// The `--dir` it is in.
        dir: PathBuf,
        /// The certificate's serial, hex.
        serial: String,
        /// `is revoked` or `expired on …`.
        reason: String,
    },

    /// A `docker context` name the docker CLI would refuse.
    #[error("bad context name {name:?}: {reason}")]
    BadContext {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A gateway address that is not `tcp://HOST:PORT`.
    #[error("bad --host {host:?}: {reason}")]
    BadHost {
        /// The address as given.
        host: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The request makes no sense for this kind of certificate.
    #[error("{0}")]
    Unsupported(String),
}

impl PkiError {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PkiError::Io {
            path: path.into(),
            source,
        }
    }

    /// Wraps an rcgen error with what was being created.
    pub(crate) fn generate(what: impl Into<String>, source: rcgen::Error) -> Self {
        PkiError::Generate {
            what: what.into(),
            source,
        }
    }
}
