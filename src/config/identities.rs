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

use std::collections::HashMap;
use std::fmt;

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

/// How one client's certificate is recognized.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownBy {
    /// Known by this SAN instead of its CN.
    pub san: Option<San>,
    /// Only with this key.
    pub spki: Option<Spki>,
}

/// The SANs clients are known by, each to its client: built once per
/// config so that resolving a certificate costs a lookup per SAN it carries.
#[derive(Debug, Clone, Default)]
pub struct Identities {
    by_san: HashMap<San, String>,
}

impl Identities {
    /// Indexes `clients` (name, how it is known). A SAN two clients claim
    /// comes back as `Err((first, second))`, in the order given; the index
    /// keeps the first.
    pub fn index<'a>(
        clients: impl IntoIterator<Item = (&'a str, &'a KnownBy)>,
    ) -> (Identities, Vec<(String, String)>) {
        let mut by_san: HashMap<San, String> = HashMap::new();
        let mut clashes = Vec::new();
        for (name, known) in clients {
            let Some(san) = &known.san else { continue };
            match by_san.get(san) {
                Some(first) => clashes.push((first.clone(), name.to_owned())),
                None => {
                    by_san.insert(san.clone(), name.to_owned());
                }
            }
        }
        (Identities { by_san }, clashes)
    }

    /// The client known by `san`, if any.
    pub fn by_san(&self, san: &San) -> Option<&str> {
        self.by_san.get(san).map(String::as_str)
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
            spki: None,
        };
        let b = KnownBy {
            san: Some(San::parse("DNS:web").unwrap()),
            spki: Some(Spki([1; 32])),
        };
        let cn = KnownBy::default();
        let (index, clashes) = Identities::index([("a", &a), ("b", &b), ("web", &cn)]);
        assert_eq!(clashes, [("a".to_owned(), "b".to_owned())]);
        assert_eq!(index.by_san(&San::dns("WEB")), Some("a"));
    }
}
