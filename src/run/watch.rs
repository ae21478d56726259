//! Reloads when the TLS files change on disk, as if the admin had sent
//! SIGHUP: a timer that fetches a PKI's CRL, or a renewal that rewrites the
//! server certificate, is enough for the gateway to act on it. Every file
//! counts: the CA bundle, the certificate, the key and each CRL.
//!
//! The files named by the running configuration are looked at every
//! [`INTERVAL`]: their size, modification time and inode, which a rewrite
//! in place or a rename over them changes. A change runs a reload, which
//! validates exactly as SIGHUP's does and keeps the old set when the new
//! one is invalid; the same files are not tried again until they change
//! once more. The watch ends when draining starts.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::config::TlsFiles;
use crate::run::shutdown::Shutdown;

/// How often the TLS files are looked at.
pub const INTERVAL: Duration = Duration::from_secs(2);

/// What a file looks like from outside: enough to notice a rewrite.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Missing,
    File {
        len: u64,
        modified: Option<SystemTime>,
        inode: u64,
    },
}

/// Each TLS file of the configuration with how it looked.
type Fingerprint = Vec<(PathBuf, Seen)>;

/// Watches the TLS files the running configuration names (`files`) until
/// draining starts, calling `reload` (off the runtime: it blocks) when
/// they change.
pub async fn tls_files<F, R>(files: F, reload: R, shutdown: Shutdown)
where
    F: Fn() -> TlsFiles,
    R: Fn() + Clone + Send + 'static,
{
    let mut last = fingerprint(&files()).await;
    loop {
        tokio::select! {
            () = shutdown.draining() => return,
            () = tokio::time::sleep(INTERVAL) => {}
        }
        let now = fingerprint(&files()).await;
        let same_files = now.iter().map(|(p, _)| p).eq(last.iter().map(|(p, _)| p));
        if !same_files {
            // A reload named other files, and read them as it did.
            last = now;
            continue;
        }
        if now == last {
            continue;
        }
        let changed: Vec<String> = now
            .iter()
            .filter(|entry| !last.contains(entry))
            .map(|(path, _)| path.display().to_string())
            .collect();
        tracing::info!(changed = %changed.join(", "), "TLS files changed on disk: reloading");
        // The reload logs its own outcome; a failed one keeps the old set.
        let _ = tokio::task::spawn_blocking(reload.clone()).await;
        // The files the reload read: a change after this point is new.
        last = now;
    }
}

async fn fingerprint(tls: &TlsFiles) -> Fingerprint {
    let mut out = Vec::new();
    for path in [&tls.ca, &tls.cert, &tls.key].into_iter().chain(&tls.crl) {
        let seen = match tokio::fs::metadata(path).await {
            Ok(meta) => Seen::File {
                len: meta.len(),
                modified: meta.modified().ok(),
                inode: meta.ino(),
            },
            Err(_) => Seen::Missing,
        };
        out.push((path.clone(), seen));
    }
    out
}
