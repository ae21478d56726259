//! The query of `POST /build`, read as Go's `url.ParseQuery` and `Request.FormValue` read it.
//!
//! The build body is a tar stream and passes untouched; the query chooses the network and
//! cgroup of the build containers. Go before 1.17 also split on `;` and later versions drop
//! such pairs, so a raw `;` is refused. A bad percent escape (Go drops the pair) and a repeated
//! inspected key (FormValue takes the first) are refused too. Keys are case-sensitive.

use super::{Grants, Refusal};

/// `POST /build`.
pub fn judge(query: Option<&str>, grants: &Grants) -> Result<(), Refusal> {
    let Some(query) = query else {
        return Ok(());
    };
    let pairs = parse(query)?;
    let value = |key: &str| -> Result<Option<&str>, Refusal> {
        let mut found = pairs.iter().filter(|(k, _)| k == key);
        let first = found.next();
        if found.next().is_some() {
            return Err(Refusal::ambiguous(format!(
                "query parameter {key} is repeated"
            )));
        }
        Ok(first.map(|(_, v)| v.as_str()))
    };
    if let Some(mode) = value("networkmode")? {
        let lower = mode.to_ascii_lowercase();
        if lower == "host" && !grants.host_namespaces.iter().any(|n| n == "network") {
            return Err(Refusal::forbidden(
                "networkmode (host)",
                "host_namespaces including \"network\"",
            ));
        }
        if lower.starts_with("container:")
            && !grants.container_namespaces.iter().any(|n| n == "network")
        {
            return Err(Refusal::forbidden(
                format!("networkmode ({mode})"),
                "container_namespaces including \"network\"",
            ));
        }
    }
    if let Some(parent) = value("cgroupparent")? {
        if !parent.is_empty() && !grants.cgroup_parent {
            return Err(Refusal::forbidden("cgroupparent", "cgroup_parent = true"));
        }
    }
    // Not read by current Engines; refused in case one does.
    if let Some(opt) = value("securityopt")? {
        if !opt.is_empty() && !grants.security_opt {
            return Err(Refusal::forbidden("securityopt", "security_opt = true"));
        }
    }
    Ok(())
}

/// Decoded `(key, value)` pairs in order. Pairs whose key is not inspected may be anything.
pub(super) fn parse(query: &str) -> Result<Vec<(String, String)>, Refusal> {
    if query.contains(';') {
        return Err(Refusal::ambiguous(
            "query contains ';', which Go versions split differently",
        ));
    }
    let mut pairs = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = unescape(key)?;
        let value = unescape(value)?;
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// Go's `QueryUnescape`: `+` is a space, `%XX` a byte; the result must be UTF-8 here.
fn unescape(text: &str) -> Result<String, Refusal> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| {
                        u8::from_str_radix(h, 16)
                            .ok()
                            .filter(|_| !h.starts_with('+'))
                    });
                let Some(byte) = hex else {
                    return Err(Refusal::ambiguous(format!(
                        "bad percent escape in query: {text:?}"
                    )));
                };
                out.push(byte);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out)
        .map_err(|_| Refusal::ambiguous(format!("query is not UTF-8 after decoding: {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_like_go() {
        let pairs = parse("a=1&b=x+y&c=%2Fz&&d&networ%6Bmode=host").unwrap();
        let want = [
            ("a", "1"),
            ("b", "x y"),
            ("c", "/z"),
            ("d", ""),
            ("networkmode", "host"),
        ];
        let got: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(got, want);
        for bad in ["a=%", "a=%2", "a=%zz", "a=%+1", "a=1;b=2", "a=%ff"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
