//! Hop-by-hop header handling (RFC 9110 §7.6.1): headers that describe one
//! connection are dropped when a message crosses to the other side, together
//! with every header the `Connection` field names. The gateway itself adds
//! back `Connection: Upgrade` and `Upgrade` where it forwards an upgrade.

use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Header names that never cross the gateway (besides `Upgrade`, which
/// the gateway re-adds itself where it forwards an upgrade). Parsed once.
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Removes hop-by-hop headers, including `Upgrade` and everything named in
/// `Connection`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none: one pass over the names they do carry is
    // cheaper than nine hashed removals.
    if !headers.keys().any(|name| HOP_BY_HOP.contains(name)) {
        return;
    }
    if headers.contains_key(header::CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// The protocol a request asks to upgrade to, when it asks in the way
/// HTTP/1.1 defines: an `Upgrade` header *and* the `upgrade` token in
/// `Connection`. Only a single header value is accepted.
pub fn requested_upgrade(headers: &HeaderMap) -> Option<Result<HeaderValue, ()>> {
    let connection_says = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    let mut values = headers.get_all(header::UPGRADE).iter();
    match (connection_says, values.next(), values.next()) {
        (_, None, _) => None,
        (false, Some(_), _) => None,
        (true, Some(v), None) => Some(Ok(v.clone())),
        (true, Some(_), Some(_)) => Some(Err(())),
    }
}

/// The media type of a `Content-Type` value, lower-cased, without parameters.
pub fn media_type(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let essence = text.split(';').next()?.trim();
    Some(essence.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_listed_and_standard_hop_by_hop_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            "keep-alive, X-Secret, upgrade".parse().unwrap(),
        );
        h.insert("x-secret", "1".parse().unwrap());
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        h.insert("upgrade", "tcp".parse().unwrap());
        h.insert("te", "trailers".parse().unwrap());
        h.insert("transfer-encoding", "chunked".parse().unwrap());
        h.insert("x-registry-auth", "abc".parse().unwrap());
        strip_hop_by_hop(&mut h);
        let left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["x-registry-auth"]);
    }

    #[test]
    fn upgrade_needs_both_headers() {
        let mut h = HeaderMap::new();
        h.insert("upgrade", "tcp".parse().unwrap());
        assert!(requested_upgrade(&h).is_none());
        h.insert("connection", "Upgrade".parse().unwrap());
        assert_eq!(
            requested_upgrade(&h),
            Some(Ok(HeaderValue::from_static("tcp")))
        );
        h.append("upgrade", "h2c".parse().unwrap());
        assert_eq!(requested_upgrade(&h), Some(Err(())));
    }

    #[test]
    fn media_type_ignores_case_and_parameters() {
        let v = HeaderValue::from_static("Application/X-WWW-Form-URLEncoded ; charset=utf-8");
        assert_eq!(
            media_type(&v).as_deref(),
            Some("application/x-www-form-urlencoded")
        );
    }
}
