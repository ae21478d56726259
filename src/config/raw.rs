//! The configuration file exactly as written: serde structs that mirror the
//! TOML, with spans kept wherever validation may need to point at a line.
//! Nothing here is checked beyond its TOML type; [`super::Config::load`] checks the rest.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Address the TLS listener binds, `host:port`.
    pub listen: Spanned<String>,
    /// The one shared local socket, where clients are known by the peer's
    /// uid or gid (`[clients.NAME] uids`, `gids`).
    pub local_listen: Option<Spanned<String>>,
    /// Its file mode, octal; `"0660"` when absent.
    pub local_listen_mode: Option<Spanned<String>>,
    /// The Engine's unix socket.
    #[serde(default = "default_upstream")]
    pub upstream: Spanned<String>,
    pub tls: RawTls,
    #[serde(default)]
    pub clients: BTreeMap<String, RawClient>,
    #[serde(default)]
    pub policies: BTreeMap<String, RawPolicy>,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub metrics: Option<RawMetrics>,
    /// `true` when having no `[clients.*]` at all is meant: without it, a
    /// reload refuses a config that would drop every client.
    pub allow_no_clients: Option<Spanned<bool>>,
}

fn default_upstream() -> Spanned<String> {
    Spanned::new(0..0, "/var/run/docker.sock".to_owned())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub ca: Spanned<String>,
    pub cert: Spanned<String>,
    pub key: Spanned<String>,
    /// One CRL file, or an array of them (one per issuing CA, say).
    pub crl: Option<Spanned<RawPaths>>,
    /// `true` when having no `crl` is meant: without it, a reload refuses a
    /// config that would drop the running one's CRL.
    pub allow_no_crl: Option<Spanned<bool>>,
}

/// A path, or an array of paths: `crl = "crl.pem"` and
/// `crl = ["root.crl", "int.crl"]` both parse.
#[derive(Debug)]
pub struct RawPaths(pub Vec<String>);

impl<'de> Deserialize<'de> for RawPaths {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<RawPaths, D::Error> {
        // A visitor rather than `#[serde(untagged)]`, whose error ("did not
        // match any variant") would not say what is expected.
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawPaths;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a path or an array of paths")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawPaths, E> {
                Ok(RawPaths(vec![v.to_owned()]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RawPaths, A::Error> {
                let mut paths = Vec::new();
                while let Some(path) = seq.next_element::<String>()? {
                    paths.push(path);
                }
                Ok(RawPaths(paths))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    /// Names of policies, consulted in order.
    pub policies: Spanned<Vec<Spanned<String>>>,
    /// The tenant whose objects the client is confined to; none: unconfined.
    pub tenant: Option<Spanned<String>>,
    /// `URI:...` or `DNS:...`: the client is known by this SAN, not its CN.
    pub san: Option<Spanned<String>>,
    /// The SHA-256 of the one key the client's certificate may have, in hex.
    pub spki_sha256: Option<Spanned<String>>,
    /// `"enforce"` (the default) or `"audit"`.
    pub mode: Option<Spanned<String>>,
    /// A unix socket dockgate serves this client, and only it, on.
    pub socket: Option<Spanned<String>>,
    /// That socket's file mode, octal; `"0660"` when absent.
    pub socket_mode: Option<Spanned<String>>,
    /// On `local_listen`, the peers with one of these uids are this client.
    pub uids: Option<Spanned<Vec<u32>>>,
    /// On `local_listen`, the peers with one of these (primary) gids are
    /// this client, unless their uid names another.
    pub gids: Option<Spanned<Vec<u32>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    /// Allow rules, `"METHOD PATH-GLOB"`.
    pub allow: Vec<Spanned<String>>,
    /// What requests this policy allows may ask of the host (privileged
    /// mode, host mounts, ...). Nothing unless written down.
    pub grants: Option<Spanned<crate::config::grants::RawGrants>>,
}

/// Resource limits; every field has a default, so `[limits]` is optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLimits {
    pub handshake_timeout: Spanned<String>,
    pub request_header_timeout: Spanned<String>,
    pub upstream_connect_timeout: Spanned<String>,
    pub shutdown_grace: Spanned<String>,
    pub max_header_bytes: usize,
    pub max_connections: usize,
    pub max_connections_per_client: usize,
    /// Connections still in their TLS handshake; 256 (at most
    /// `max_connections`) when absent.
    pub max_handshakes: Option<Spanned<usize>>,
    /// Of those, from one source address (IPv6: one /64); 32 (at most
    /// `max_handshakes`) when absent.
    pub max_handshakes_per_address: Option<Spanned<usize>>,
    pub max_inspected_body_bytes: usize,
    /// Threads serving connections; one per available core when absent.
    pub worker_threads: Option<usize>,
}

impl Default for RawLimits {
    fn default() -> Self {
        let d = |s: &str| Spanned::new(0..0, s.to_owned());
        RawLimits {
            handshake_timeout: d("10s"),
            request_header_timeout: d("30s"),
            upstream_connect_timeout: d("5s"),
            shutdown_grace: d("10s"),
            max_header_bytes: 64 * 1024,
            max_connections: 4096,
            max_connections_per_client: 256,
            max_handshakes: None,
            max_handshakes_per_address: None,
            max_inspected_body_bytes: 1024 * 1024,
            worker_threads: None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    /// `"text"` (default) or `"json"`.
    pub format: Option<Spanned<String>>,
    /// A tracing filter such as `"info"` or `"dockgate=debug"`; `RUST_LOG` wins.
    pub level: Option<Spanned<String>>,
    /// `"best-effort"` (default) or `"required"`.
    pub audit: Option<Spanned<String>>,
    /// Bytes of log lines held while the output does not take them.
    pub queue_bytes: Option<Spanned<usize>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    /// Address of the plain-HTTP metrics listener; loopback unless you mean it.
    pub listen: Spanned<String>,
}
