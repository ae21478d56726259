//! Checks for the names that end up in certificates and file paths: client
//! names (a common name and a directory under `clients/`) and subject
//! alternative names (`DNS:` and `IP:` for servers, `DNS:` and `URI:` for
//! clients). Everything is checked before any
//! file is touched, so bad input never leaves anything behind.

use std::fmt;
use std::net::IpAddr;

use super::PkiError;

/// Longest client name: the X.520 upper bound for a common name.
const MAX_CLIENT_NAME: usize = 64;
/// Longest DNS name in presentation form without the trailing dot (RFC 1035).
const MAX_DNS_NAME: usize = 253;
/// Longest DNS label (RFC 1035).
const MAX_DNS_LABEL: usize = 63;

/// Checks that `name` is usable both as a certificate common name and as a
/// directory name: 1–64 characters of `[A-Za-z0-9._-]`, not starting with
/// `.` or `-` (no hidden files, nothing that looks like a flag, no `..`).
pub fn check_client_name(name: &str) -> Result<(), PkiError> {
    let bad = |reason: &str| PkiError::BadName {
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    if name.is_empty() {
        return Err(bad("empty"));
    }
    if name.len() > MAX_CLIENT_NAME {
        return Err(bad("longer than 64 characters"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(bad(&format!(
            "{c:?} is not allowed (use A-Z, a-z, 0-9, '.', '_', '-')"
        )));
    }
    if name.starts_with('.') || name.starts_with('-') {
        return Err(bad("must not start with '.' or '-'"));
    }
    Ok(())
}

/// One subject alternative name of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum San {
    /// A DNS name, possibly with a leading `*.` wildcard label.
    Dns(String),
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
    /// A URI, such as a SPIFFE ID: what a client may be known by
    /// (`[clients.NAME] san`). Kept exactly as given.
    Uri(String),
}

impl San {
    /// Parses `DNS:name`, `IP:address` or `URI:uri` (the prefix is case-insensitive).
    pub fn parse(text: &str) -> Result<San, PkiError> {
        let bad = |reason: &str| PkiError::BadSan {
            san: text.to_owned(),
            reason: reason.to_owned(),
        };
        let expected =
            "expected DNS:<name> or IP:<address> (servers), DNS:<name> or URI:<uri> (clients)";
        let Some((kind, value)) = text.split_once(':') else {
            return Err(bad(expected));
        };
        match kind.to_ascii_uppercase().as_str() {
            "DNS" => {
                check_dns_name(value).map_err(|reason| bad(&reason))?;
                Ok(San::Dns(value.to_ascii_lowercase()))
            }
            "IP" => value
                .parse::<IpAddr>()
                .map(San::Ip)
                .map_err(|_| bad("not an IPv4 or IPv6 address")),
            "URI" if !value.contains(':') => {
                Err(bad("a URI has a scheme, such as spiffe://example.org/ci"))
            }
            "URI" if !value.bytes().all(|b| b.is_ascii_graphic()) => {
                Err(bad("a URI is printable ASCII without spaces"))
            }
            "URI" => Ok(San::Uri(value.to_owned())),
            _ => Err(bad(expected)),
        }
    }

    /// Guesses the SAN for a bare host name or address (as `quickstart` gets it).
    pub fn for_host(host: &str) -> Result<San, PkiError> {
        match host.parse::<IpAddr>() {
            Ok(ip) => Ok(San::Ip(ip)),
            Err(_) => San::parse(&format!("DNS:{host}")),
        }
    }

    /// The name as it should appear in a certificate's common name.
    pub fn value(&self) -> String {
        match self {
            San::Dns(name) => name.clone(),
            San::Ip(ip) => ip.to_string(),
            San::Uri(uri) => uri.clone(),
        }
    }
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            San::Dns(name) => write!(f, "DNS:{name}"),
            San::Ip(ip) => write!(f, "IP:{ip}"),
            San::Uri(uri) => write!(f, "URI:{uri}"),
        }
    }
}

/// Checks a DNS name in the form certificate verifiers accept: labels of
/// 1–63 `[A-Za-z0-9-]` not starting or ending with '-', at most 253
/// characters, no trailing dot, and optionally `*.` as the whole first label.
pub(super) fn check_dns_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty DNS name".into());
    }
    if name.ends_with('.') {
        return Err("trailing dot".into());
    }
    if name.len() > MAX_DNS_NAME {
        return Err("longer than 253 characters".into());
    }
    let rest = match name.strip_prefix("*.") {
        Some(rest) if rest.contains('.') => rest,
        Some(_) => return Err("a wildcard needs at least two labels after \"*.\"".into()),
        None => name,
    };
    for label in rest.split('.') {
        if label.is_empty() {
            return Err("empty label".into());
        }
        if label.len() > MAX_DNS_LABEL {
            return Err(format!("label {label:?} is longer than 63 characters"));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(format!("{c:?} is not allowed in a DNS label"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label {label:?} starts or ends with '-'"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_names() {
        for good in ["admin", "ci-runner.01", "A_b", &"x".repeat(64)] {
            assert!(check_client_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".hidden",
            "-flag",
            "a/b",
            "..",
            "é",
            "a b",
            &"x".repeat(65),
        ] {
            assert!(check_client_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sans() {
        assert_eq!(
            San::parse("DNS:Docker.Example.com").unwrap(),
            San::Dns("docker.example.com".into())
        );
        assert_eq!(
            San::parse("ip:::1").unwrap(),
            San::Ip("::1".parse().unwrap())
        );
        assert_eq!(
            San::parse("DNS:*.example.com").unwrap().to_string(),
            "DNS:*.example.com"
        );
        let reasons = [
            ("DNS:foo.", "trailing dot"),
            ("DNS:", "empty DNS name"),
            ("DNS:a..b", "empty label"),
            ("DNS:-a.b", "starts or ends with '-'"),
            ("DNS:a_b.c", "is not allowed"),
            ("DNS:*.com", "wildcard"),
            ("DNS:a.*.com", "is not allowed"),
            ("IP:300.1.1.1", "not an IPv4"),
            ("host.example.com", "expected DNS"),
            ("URI:x", "has a scheme"),
            ("URI:spiffe://a b", "without spaces"),
            ("URL:x:y", "expected DNS"),
        ];
        for (san, reason) in reasons {
            let err = San::parse(san).unwrap_err().to_string();
            assert!(err.contains(reason), "{san}: {err}");
        }
        assert_eq!(
            San::parse("uri:spiffe://example.org/CI")
                .unwrap()
                .to_string(),
            "URI:spiffe://example.org/CI"
        );
        let long_label = format!("DNS:{}.com", "a".repeat(64));
        assert!(San::parse(&long_label).is_err());
        let long_name = format!("DNS:{}", vec!["a".repeat(60); 5].join("."));
        assert!(San::parse(&long_name).is_err());
    }
}
