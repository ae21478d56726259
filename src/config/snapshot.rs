//! Everything a reload swaps at once: the validated config, the TLS
//! material built from its files, and the Engine client. A snapshot is
//! immutable; the running gateway holds the current one in a watch channel,
//! judges each request by the snapshot current when the request arrives,
//! and re-checks open connections whenever a new one is published: their
//! certificate must still name the same client, and when the CA or CRL changed, their
//! certificate must pass again.

use std::path::Path;
use std::sync::Arc;

use crate::config::files::{self, Reads, Unsettled};
use crate::config::tls::{Tls, TlsError, TrustDigest};
use crate::config::{Config, ConfigError};
use crate::request::identity::{Identity, Proof};
use crate::request::upstream::Upstream;

#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Tls(#[from] TlsError),
    #[error("{0}")]
    Unsettled(#[from] Unsettled),
}

#[derive(Clone)]
pub struct Snapshot {
    pub config: Arc<Config>,
    pub tls: Tls,
    pub upstream: Upstream,
}

impl Snapshot {
    /// Loads and checks the config and the TLS material it names: the one
    /// judgement `check`, `serve` and a reload share. Every file is read
    /// until it reads the same twice ([`files`]). With `previous` (a
    /// reload), a config that would drop every client or the CRL without
    /// saying so is refused too ([`Config::may_replace`]), and the Engine
    /// client is kept when the socket and timeout did not change.
    pub fn load(path: &Path, previous: Option<&Snapshot>) -> Result<Snapshot, LoadError> {
        let (config, tls) = files::settled(|reads| Snapshot::read(path, reads))??;
        if let Some(previous) = previous {
            config.may_replace(&previous.config)?;
        }
        let upstream = match previous {
            Some(p)
                if p.upstream.socket() == config.upstream
                    && p.upstream.connect_timeout() == config.limits.upstream_connect_timeout =>
            {
                p.upstream.clone()
            }
            _ => Upstream::new(&config.upstream, config.limits.upstream_connect_timeout),
        };
        Ok(Snapshot {
            config: Arc::new(config),
            tls,
            upstream,
        })
    }

    fn read(path: &Path, reads: &Reads) -> Result<(Config, Tls), LoadError> {
        let config = Config::read(path, reads)?;
        let tls = Tls::read(&config.tls, reads)?;
        Ok((config, tls))
    }

    /// Whether a connection opened under an earlier snapshot may stay open
    /// under this one: its certificate must still resolve to the same
    /// configured client (its name, SAN or key may have changed), and its
    /// certificate must pass this snapshot's verifier (CA and CRL). The
    /// certificate is verified again only when this snapshot trusts other
    /// CA or CRL material than `trusted`, what it last passed under (then
    /// `trusted` becomes this snapshot's); a reload that changed no TLS
    /// file costs open connections a lookup per SAN and CN. Returns whether it
    /// was verified again.
    pub fn still_admits(
        &self,
        identity: &Identity,
        trusted: &mut TrustDigest,
    ) -> Result<bool, String> {
        if !self.config.clients.contains_key(&*identity.name) {
            return Err("client removed from the configuration".into());
        }
        let (chain, presented) = match &identity.proof {
            Proof::Certificate {
                chain, presented, ..
            } => (chain, presented),
            // No CA or CRL vouches for a local peer: its socket and
            // credentials must still name the same client.
            Proof::Local(peer) => {
                return match peer.resolve(&self.config) {
                    Ok(name) if name == identity.name => Ok(false),
                    Ok(name) => Err(format!(
                        "the peer is now client {name:?} in the configuration, not {:?}",
                        identity.name
                    )),
                    Err(e) => Err(format!("the peer no longer names the client: {e}")),
                };
            }
        };
        match presented.resolve(&self.config) {
            Ok(name) if name == identity.name => {}
            Ok(name) => {
                return Err(format!(
                    "the certificate is now client {name:?} in the configuration, not {:?}",
                    identity.name
                ))
            }
            Err(e) => return Err(format!("the certificate no longer names the client: {e}")),
        }
        if *trusted == self.tls.trust {
            return Ok(false);
        }
        self.tls
            .still_trusts(chain)
            .map_err(|e| format!("certificate no longer accepted: {e}"))?;
        *trusted = self.tls.trust;
        Ok(true)
    }
}
