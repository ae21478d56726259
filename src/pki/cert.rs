//! The building blocks every issued certificate shares: ECDSA P-256 keys,
//! random serials, the validity window (backdated for clock skew, clamped to
//! the CA), fingerprints, and the wrapper that keeps key PEM out of `Debug`.
//!
//! Only P-256 is offered: it is the one key type every Docker client (Go's
//! crypto/tls, docker-py, the Engine itself) accepts and it is fast to make.

use std::fmt;

use rcgen::{KeyPair, SerialNumber};
use ring::rand::{SecureRandom, SystemRandom};
use time::{Duration, OffsetDateTime};

use super::PkiError;

/// Default CA lifetime: ten years. Replacing a CA means redistributing it
/// to every client, so it should outlive everything it signs.
pub const DEFAULT_CA_DAYS: u32 = 3650;
/// Default server lifetime: 825 days, the longest TLS server lifetime Apple
/// platforms accept, so the certificate works for macOS clients as well.
pub const DEFAULT_SERVER_DAYS: u32 = 825;
/// Default client lifetime: one year. A leaked client key is only useful
/// until its certificate expires; revocation covers the time before that.
pub const DEFAULT_CLIENT_DAYS: u32 = 365;
/// Largest accepted `--days` (100 years).
pub const MAX_DAYS: u32 = 36_500;
/// How far notBefore is backdated so hosts with slow clocks accept new certificates.
pub const CLOCK_SKEW: Duration = Duration::minutes(5);

/// A private key in PEM form. Its `Debug` never shows the key.
pub struct KeyPem(pub String);

impl fmt::Debug for KeyPem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyPem([secret key elided])")
    }
}

/// Makes a fresh ECDSA P-256 key.
pub fn new_key() -> Result<KeyPair, PkiError> {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| PkiError::generate("an ECDSA P-256 key", e))
}

/// A random positive 16-byte serial. The top bit is cleared so the DER
/// integer is positive, and the next bit set so it never has a leading zero
/// byte and always prints as 32 hex digits (126 random bits).
pub fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| PkiError::Unsupported("the system random generator failed".into()))?;
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

/// Checks `--days`.
pub fn check_days(days: u32) -> Result<(), PkiError> {
    if days == 0 || days > MAX_DAYS {
        return Err(PkiError::BadDays {
            days,
            max: MAX_DAYS,
        });
    }
    Ok(())
}

/// A certificate's validity window.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Start, backdated by [`CLOCK_SKEW`].
    pub not_before: OffsetDateTime,
    /// End, possibly clamped.
    pub not_after: OffsetDateTime,
    /// Whether `not_after` was cut back to the CA's notAfter.
    pub clamped: bool,
}

/// The window for a certificate valid for `days` from now, never extending
/// past `ca_not_after` (a certificate cannot outlive the CA that signs it).
pub fn window(days: u32, ca_not_after: Option<OffsetDateTime>) -> Window {
    // Whole seconds: certificates store no fractions, and the index
    // should match the certificate exactly.
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| OffsetDateTime::now_utc());
    let wanted = now + Duration::days(i64::from(days));
    match ca_not_after {
        Some(limit) if limit < wanted => Window {
            not_before: now - CLOCK_SKEW,
            not_after: limit,
            clamped: true,
        },
        _ => Window {
            not_before: now - CLOCK_SKEW,
            not_after: wanted,
            clamped: false,
        },
    }
}

/// Lowercase hex of a serial's bytes, without separators.
pub fn serial_hex(bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    super::index::normalize_serial(&hex)
}

/// SHA-256 of `der` as colon-separated uppercase hex (the `openssl x509
/// -fingerprint -sha256` form).
pub fn fingerprint(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Reads the first certificate in the PEM file at `path` as DER.
pub fn read_cert_der(path: &std::path::Path) -> Result<Vec<u8>, PkiError> {
    let bytes = super::files::read(path)?;
    let bad = |reason: &str| PkiError::Parse {
        path: path.to_path_buf(),
        reason: reason.to_owned(),
    };
    let (_, pem) = x509_parser::pem::parse_x509_pem(&bytes)
        .map_err(|e| bad(&format!("not a PEM file ({e})")))?;
    if pem.label != "CERTIFICATE" {
        return Err(bad(&format!(
            "holds a {:?} PEM block, not a CERTIFICATE",
            pem.label
        )));
    }
    x509_parser::parse_x509_certificate(&pem.contents)
        .map_err(|e| bad(&format!("not an X.509 certificate ({e})")))?;
    Ok(pem.contents)
}

/// A date as `YYYY-MM-DD`.
pub fn day(t: OffsetDateTime) -> String {
    let d = t.date();
    format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
}

/// A time as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn timestamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{} {:02}:{:02}:{:02} UTC",
        day(t),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_positive_random_and_full_length() {
        let a = random_serial().unwrap().to_bytes();
        let b = random_serial().unwrap().to_bytes();
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        assert_eq!(a[0] & 0xc0, 0x40);
        assert_eq!(serial_hex(&a).len(), 32);
    }

    #[test]
    fn window_is_backdated_and_clamped() {
        let limit = OffsetDateTime::now_utc() + Duration::days(10);
        let w = window(365, Some(limit));
        assert!(w.clamped);
        assert_eq!(w.not_after, limit);
        assert!(w.not_before < OffsetDateTime::now_utc() - Duration::minutes(4));
        let w = window(5, Some(limit));
        assert!(!w.clamped);
    }

    #[test]
    fn key_pem_debug_hides_the_key() {
        let key = KeyPem("-----BEGIN PRIVATE KEY-----abc".into());
        assert!(!format!("{key:?}").contains("abc"));
    }
}
