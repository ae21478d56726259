//! `pki inspect FILE`: what a certificate says, in the terms that matter
//! for a Docker TLS setup (names, validity, usages, CA flag, key type,
//! fingerprint). Works on any PEM certificate, not only ours.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;

use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;

use super::{cert, PkiError};

/// Describes the certificate in `path`, one `field: value` per line.
pub fn inspect(path: &Path) -> Result<String, PkiError> {
    let der = cert::read_cert_der(path)?;
    let (_, c) = X509Certificate::from_der(&der).map_err(|e| PkiError::Parse {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let validity = c.validity();
    let not_before = validity.not_before.to_datetime();
    let not_after = validity.not_after.to_datetime();
    let mut out = String::new();
    let mut line = |label: &str, value: String| {
        let _ = writeln!(out, "{:<18} {value}", format!("{label}:"));
    };
    line("file", path.display().to_string());
    line("subject", c.subject().to_string());
    line("issuer", c.issuer().to_string());
    line("serial", cert::serial_hex(c.raw_serial()));
    line("not before", cert::timestamp(not_before));
    line(
        "not after",
        format!("{} ({})", cert::timestamp(not_after), days_left(not_after)),
    );
    line("SANs", sans(&c));
    line("key usage", key_usage(&c));
    line("ext key usage", ext_key_usage(&c));
    line("basic constraints", basic_constraints(&c));
    line("key type", key_type(&c));
    line("sha256", cert::fingerprint(&der));
    Ok(out)
}

/// "N days left" or "expired N days ago".
pub fn days_left(not_after: OffsetDateTime) -> String {
    let days = (not_after - OffsetDateTime::now_utc()).whole_days();
    if not_after < OffsetDateTime::now_utc() {
        format!("expired {} days ago", -days)
    } else {
        format!("{days} days left")
    }
}

/// The extension with this parse, if present, and its criticality.
fn find<'a, T>(
    c: &'a X509Certificate<'_>,
    pick: impl Fn(&'a ParsedExtension<'_>) -> Option<T>,
) -> Option<(T, bool)> {
    c.iter_extensions()
        .find_map(|ext| pick(ext.parsed_extension()).map(|v| (v, ext.critical)))
}

/// Appends " (critical)" when it is.
fn critical(text: String, is_critical: bool) -> String {
    if is_critical {
        format!("{text} (critical)")
    } else {
        text
    }
}

fn sans(c: &X509Certificate<'_>) -> String {
    let Some((names, _)) = find(c, |e| match e {
        ParsedExtension::SubjectAlternativeName(san) => Some(&san.general_names),
        _ => None,
    }) else {
        return "none".into();
    };
    names
        .iter()
        .map(|name| match name {
            GeneralName::DNSName(d) => format!("DNS:{d}"),
            GeneralName::IPAddress(bytes) => match bytes.len() {
                4 => format!(
                    "IP:{}",
                    IpAddr::from(<[u8; 4]>::try_from(*bytes).unwrap_or_default())
                ),
                16 => format!(
                    "IP:{}",
                    IpAddr::from(<[u8; 16]>::try_from(*bytes).unwrap_or_default())
                ),
                _ => "IP:<malformed>".into(),
            },
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn key_usage(c: &X509Certificate<'_>) -> String {
    match find(c, |e| match e {
        ParsedExtension::KeyUsage(ku) => Some(ku.to_string()),
        _ => None,
    }) {
        Some((text, crit)) => critical(text, crit),
        None => "none".into(),
    }
}

fn ext_key_usage(c: &X509Certificate<'_>) -> String {
    let Some((eku, crit)) = find(c, |e| match e {
        ParsedExtension::ExtendedKeyUsage(eku) => Some(eku),
        _ => None,
    }) else {
        return "none".into();
    };
    let mut names: Vec<String> = [
        (eku.any, "any"),
        (eku.server_auth, "serverAuth"),
        (eku.client_auth, "clientAuth"),
        (eku.code_signing, "codeSigning"),
        (eku.email_protection, "emailProtection"),
        (eku.time_stamping, "timeStamping"),
        (eku.ocsp_signing, "OCSPSigning"),
    ]
    .into_iter()
    .filter(|(set, _)| *set)
    .map(|(_, name)| name.to_owned())
    .collect();
    names.extend(eku.other.iter().map(|oid| oid.to_id_string()));
    critical(names.join(", "), crit)
}

fn basic_constraints(c: &X509Certificate<'_>) -> String {
    match find(c, |e| match e {
        ParsedExtension::BasicConstraints(bc) => Some(bc),
        _ => None,
    }) {
        Some((bc, crit)) => {
            let text = match (bc.ca, bc.path_len_constraint) {
                (true, Some(n)) => format!("CA:TRUE, pathlen:{n}"),
                (true, None) => "CA:TRUE".into(),
                (false, _) => "CA:FALSE".into(),
            };
            critical(text, crit)
        }
        None => "none".into(),
    }
}

fn key_type(c: &X509Certificate<'_>) -> String {
    match c.public_key().parsed() {
        Ok(PublicKey::EC(point)) => match point.key_size() {
            256 => "ECDSA P-256".into(),
            384 => "ECDSA P-384".into(),
            521 | 528 => "ECDSA P-521".into(),
            bits => format!("ECDSA {bits}-bit"),
        },
        Ok(PublicKey::RSA(rsa)) => format!("RSA {}-bit", rsa.key_size()),
        Ok(_) => format!(
            "other ({})",
            c.public_key().algorithm.algorithm.to_id_string()
        ),
        Err(e) => format!("unreadable ({e})"),
    }
}
