//! How a certificate is known as a client: by its subject CN (the
//! `[clients.NAME]` key, the default), or by one subject alternative name
//! (`san = "URI:..."` or `"DNS:..."`), and, either way, optionally pinned
//! to one key (`spki_sha256`). This file holds those values, checked and
//! normalized, and the index a certificate is resolved against
//! ([`crate::request::identity`]).
//!
//! The rule that keeps resolution unambiguous:
//!
//! 1. The certificate's SANs are looked up first. A SAN that is some
//!    client's `san` makes the certificate that client, and its CN is not
//!    looked at. No two clients may have the same `san` (refused at load);
//!    a certificate whose SANs name two different clients names no one.
//! 2. Otherwise its CN is looked up among the clients without `san`: table
//!    keys are unique, so at most one matches.
//! 3. The client found must have the certificate's key if it pins one. A
//!    certificate that fails its pin is refused; it does not fall back to
//!    another client.
//!
//! CN and SAN matching never compete: a client known by CN `web` and one
//! known by `san = "DNS:web"` are distinct, and a certificate carrying both
//! is the SAN client.
//!
//! A local client (`socket`, `uids` or `gids`) is known only on unix
//! sockets, never by a certificate: its name is no CN, and it can have no
//! `san` or `spki_sha256`. On its own `socket`, whoever can open the socket
//! is the client. On the shared `local_listen` socket, the peer's
//! credentials as the kernel reports them (`SO_PEERCRED`: the uid and the
//! primary gid of the process that connected) are looked up:
//!
//! 1. A client listing the peer's uid is the peer.
//! 2. Otherwise a client listing the peer's gid is; supplementary groups
//!    are not looked at (the kernel does not report them).
//!
//! No two clients may list the same uid, the same gid or the same socket
//! (refused at load), so each step finds one client at most.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// One subject alternative name a client is known by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum San {
    /// A URI, compared exactly (SPIFFE IDs are case-sensitive).
    Uri(Box<str>),
    /// A DNS name, kept in ASCII lowercase: DNS names compare without case.
    Dns(Box<str>),
}

impl San {
    /// Parses `URI:...` or `DNS:...` as written in the config.
    pub fn parse(text: &str) -> Result<San, String> {
        let expected = "expected \"URI:<uri>\" (a SPIFFE ID, say) or \"DNS:<name>\"";
        let Some((kind, value)) = text.split_once(':') else {
            return Err(format!("{text:?}: {expected}"));
        };
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "{text:?}: the name must be printable ASCII without spaces"
            ));
        }
        match kind {
            "URI" if value.contains(':') => Ok(San::Uri(value.into())),
            "URI" => Err(format!(
                "{text:?}: a URI has a scheme, such as spiffe://example.org/ci"
            )),
            "DNS" => Ok(San::dns(value)),
            _ => Err(format!("{text:?}: {expected}")),
        }
    }

    /// A DNS SAN as a certificate carries it, normalized for comparison.
    pub fn dns(name: &str) -> San {
        San::Dns(name.to_ascii_lowercase().into())
    }
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            San::Uri(uri) => write!(f, "URI:{uri}"),
            San::Dns(name) => write!(f, "DNS:{name}"),
        }
    }
}

/// The SHA-256 of a certificate's SubjectPublicKeyInfo (DER): what
/// `openssl x509 -pubkey -noout | openssl pkey -pubin -outform DER |
/// sha256sum` prints. It names a key, so it survives renewals that keep
/// the key and fails for a certificate with another key and the same name.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Spki(pub [u8; 32]);

impl Spki {
    /// Parses 64 hex digits, either case.
    pub fn parse(text: &str) -> Result<Spki, String> {
        let bad = || {
            format!(
                "{text:?} is not a SHA-256 in hex (64 digits 0-9, a-f); compute it with `openssl x509 -in cert.pem -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum`"
            )
        };
        if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let mut out = [0; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(Spki(out))
    }

    /// The hash of `spki`, a SubjectPublicKeyInfo in DER.
    pub fn of(spki: &[u8]) -> Spki {
        let digest = ring::digest::digest(&ring::digest::SHA256, spki);
        let mut out = [0; 32];
        out.copy_from_slice(digest.as_ref());
        Spki(out)
    }
}

impl fmt::Display for Spki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Spki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Spki({self})")
    }
}

/// A unix socket dockgate creates and serves, with the file mode it has
/// from its creation on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LocalSocket {
    pub path: PathBuf,
    pub mode: u32,
}

/// The default mode of a socket dockgate creates: its owner (dockgate) and
/// dockgate's group may connect, nobody else.
pub const DEFAULT_SOCKET_MODE: u32 = 0o660;

/// How a local client is known: by its own socket, by uids or gids on the
/// shared socket, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Local {
    /// Its own socket: whoever opens it is the client.
    pub socket: Option<LocalSocket>,
    /// On the shared socket, peers with one of these uids.
    pub uids: Vec<u32>,
    /// On the shared socket, peers with one of these primary gids (a uid
    /// match wins).
    pub gids: Vec<u32>,
}

/// How one client is recognized.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownBy {
    /// Known by this SAN instead of its CN.
    pub san: Option<San>,
    /// Only with this key.
    pub spki: Option<Spki>,
    /// Known only on unix sockets, never by a certificate.
    pub local: Option<Local>,
}

/// What two clients both claim: the key (`san`, `uids`, `gids`, `socket`),
/// the value, and the clients in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clash {
    pub key: &'static str,
    pub value: String,
    pub first: String,
    pub second: String,
}

/// The SANs, uids, gids and sockets clients are known by, each to its
/// client: built once per config so that resolving a certificate costs a
/// lookup per SAN it carries, and a local peer a lookup or two.
#[derive(Debug, Clone, Default)]
pub struct Identities {
    by_san: HashMap<San, String>,
    by_uid: HashMap<u32, String>,
    by_gid: HashMap<u32, String>,
    by_socket: HashMap<PathBuf, String>,
}

/// Adds `value → name` to `map`, or records the clash with its first claimant.
fn claim<K: std::hash::Hash + Eq + Clone>(
    map: &mut HashMap<K, String>,
    clashes: &mut Vec<Clash>,
    (key, value, shown): (&'static str, &K, String),
    name: &str,
) {
    match map.get(value) {
        Some(first) if first != name => clashes.push(Clash {
            key,
            value: shown,
            first: first.clone(),
            second: name.to_owned(),
        }),
        Some(_) => {}
        None => {
            map.insert(value.clone(), name.to_owned());
        }
    }
}

impl Identities {
    /// Indexes `clients` (name, how it is known). A value two clients claim
    /// comes back as a [`Clash`]; the index keeps the first.
    pub fn index<'a>(
        clients: impl IntoIterator<Item = (&'a str, &'a KnownBy)>,
    ) -> (Identities, Vec<Clash>) {
        let mut index = Identities::default();
        let mut clashes = Vec::new();
        for (name, known) in clients {
            if let Some(san) = &known.san {
                claim(
                    &mut index.by_san,
                    &mut clashes,
                    ("san", san, san.to_string()),
                    name,
                );
            }
            let Some(local) = &known.local else { continue };
            for uid in &local.uids {
                let shown = uid.to_string();
                claim(&mut index.by_uid, &mut clashes, ("uids", uid, shown), name);
            }
            for gid in &local.gids {
                let shown = gid.to_string();
                claim(&mut index.by_gid, &mut clashes, ("gids", gid, shown), name);
            }
            if let Some(socket) = &local.socket {
                let shown = socket.path.display().to_string();
                claim(
                    &mut index.by_socket,
                    &mut clashes,
                    ("socket", &socket.path, shown),
                    name,
                );
            }
        }
        (index, clashes)
    }

    /// The client known by `san`, if any.
    pub fn by_san(&self, san: &San) -> Option<&str> {
        self.by_san.get(san).map(String::as_str)
    }

    /// The client whose own socket is `path`, if any.
    pub fn by_socket(&self, path: &Path) -> Option<&str> {
        self.by_socket.get(path).map(String::as_str)
    }

    /// The client a peer of the shared socket is: the one listing its uid,
    /// else the one listing its gid.
    /// An id that is `None` (one that names no one) matches nothing.
    pub fn by_peer(&self, uid: Option<u32>, gid: Option<u32>) -> Option<&str> {
        uid.and_then(|uid| self.by_uid.get(&uid))
            .or_else(|| gid.and_then(|gid| self.by_gid.get(&gid)))
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sans_parse_and_normalize() {
        assert_eq!(
            San::parse("URI:spiffe://example.org/CI").unwrap(),
            San::Uri("spiffe://example.org/CI".into())
        );
        assert_eq!(
            San::parse("DNS:Runner.Example.org").unwrap(),
            San::parse("DNS:runner.example.ORG").unwrap()
        );
        assert_ne!(
            San::parse("URI:spiffe://example.org/CI").unwrap(),
            San::parse("URI:spiffe://example.org/ci").unwrap()
        );
        for bad in [
            "spiffe://x/y",
            "uri:spiffe://x/y",
            "URI:",
            "URI:no-scheme",
            "DNS:a b",
            "IP:10.0.0.1",
            "DNS:",
        ] {
            assert!(San::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn spki_hashes_parse_in_either_case_and_print_lowercase() {
        let upper = "AB".repeat(32);
        let spki = Spki::parse(&upper).unwrap();
        assert_eq!(spki, Spki::parse(&"ab".repeat(32)).unwrap());
        assert_eq!(spki.to_string(), "ab".repeat(32));
        for bad in [
            "ab".repeat(31),
            "ab".repeat(33),
            "zz".repeat(32),
            format!("+{}", "a".repeat(63)),
        ] {
            assert!(Spki::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_san_claimed_twice_is_a_clash_naming_both_clients() {
        let a = KnownBy {
            san: Some(San::parse("DNS:Web").unwrap()),
            ..KnownBy::default()
        };
        let b = KnownBy {
            san: Some(San::parse("DNS:web").unwrap()),
            spki: Some(Spki([1; 32])),
            local: None,
        };
        let cn = KnownBy::default();
        let (index, clashes) = Identities::index([("a", &a), ("b", &b), ("web", &cn)]);
        let pairs: Vec<_> = clashes
            .iter()
            .map(|c| (c.key, c.first.as_str(), c.second.as_str()))
            .collect();
        assert_eq!(pairs, [("san", "a", "b")]);
        assert_eq!(index.by_san(&San::dns("WEB")), Some("a"));
    }

    #[test]
    fn a_uid_match_wins_over_a_gid_match_and_claims_clash() {
        let local = |uids: &[u32], gids: &[u32], socket: Option<&str>| KnownBy {
            local: Some(Local {
                socket: socket.map(|p| LocalSocket {
                    path: p.into(),
                    mode: DEFAULT_SOCKET_MODE,
                }),
                uids: uids.to_vec(),
                gids: gids.to_vec(),
            }),
            ..KnownBy::default()
        };
        let alice = local(&[1000], &[], None);
        let devs = local(&[], &[100], Some("/run/d.sock"));
        let (index, clashes) = Identities::index([("alice", &alice), ("devs", &devs)]);
        assert!(clashes.is_empty());
        assert_eq!(index.by_peer(Some(1000), Some(100)), Some("alice"));
        assert_eq!(index.by_peer(Some(1001), Some(100)), Some("devs"));
        assert_eq!(index.by_peer(Some(1001), Some(101)), None);
        assert_eq!(index.by_peer(None, Some(100)), Some("devs"));
        assert_eq!(index.by_peer(Some(1000), None), Some("alice"));
        assert_eq!(index.by_peer(None, None), None);
        assert_eq!(index.by_socket(Path::new("/run/d.sock")), Some("devs"));

        let bob = local(&[1000], &[100], Some("/run/d.sock"));
        let (_, clashes) = Identities::index([("alice", &alice), ("devs", &devs), ("bob", &bob)]);
        let keys: Vec<_> = clashes
            .iter()
            .map(|c| (c.key, c.value.as_str(), c.first.as_str(), c.second.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("uids", "1000", "alice", "bob"),
                ("gids", "100", "devs", "bob"),
                ("socket", "/run/d.sock", "devs", "bob"),
            ]
        );
    }
}
