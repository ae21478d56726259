//! The query of `POST /build`, read as Go's `url.ParseQuery` and `Request.FormValue` read it.
//!
//! The build body is a tar stream and passes untouched; the query chooses the network and
//! cgroup of the build containers. Go before 1.17 also split on `;` and later versions drop
//! such pairs, so a raw `;` is refused. A bad percent escape (Go drops the pair) and a repeated
//! inspected key (FormValue takes the first) are refused too. Keys are case-sensitive.
//!
//! Default deny: a key the build route of no Engine version reads (`KNOWN`) is refused unless
//! its value is empty, so a parameter a newer Engine gives a meaning cannot pass unjudged.

use super::{Grants, Refusal};

/// `POST /build`.
pub fn judge(query: Option<&str>, grants: &Grants) -> Result<(), Refusal> {
    let Some(query) = query else {
        return Ok(());
    };
    let pairs = parse(query)?;
    if let Some((key, _)) = pairs.iter().find(|(key, value)| {
        !grants.read_past && !value.is_empty() && !KNOWN.contains(&key.as_str())
    }) {
        return Err(Refusal::unknown_field(
            format!("query parameter {key:?}"),
            "an empty value",
        ));
    }
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

/// Every query parameter the Engine's build route has read, Engine 1.0 to now (moby's
/// `postBuild` and `newImageBuildOptions`).
const KNOWN: &[&str] = &[
    // Engine 1.0.
    "t",
    "remote",
    "q",
    "nocache",
    "rm",
    "forcerm",
    // Engine 1.4 to 1.6.
    "pull",
    "dockerfile",
    "memory",
    "memswap",
    "cpushares",
    "cpusetcpus",
    // Engine 1.8 to 1.10.
    "cpusetmems",
    "cpuperiod",
    "cpuquota",
    "buildargs",
    "cgroupparent",
    "ulimits",
    "isolation",
    "shmsize",
    // Engine 1.12 and 1.13.
    "labels",
    "cachefrom",
    "networkmode",
    "securityopt",
    "squash",
    // Engine 17.06 to 20.10.
    "extrahosts",
    "target",
    "platform",
    "session",
    "buildid",
    "version",
    "outputs",
];

/// Decoded `(key, value)` pairs in order. Pairs whose key is not inspected may be anything.
pub fn parse(query: &str) -> Result<Vec<(String, String)>, Refusal> {
    Ok(params(query)?
        .into_iter()
        .map(|p| (p.key, p.value))
        .collect())
}

/// One decoded query pair, and whether it was written exactly as it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub key: String,
    pub value: String,
    /// Neither key nor value holds a percent escape or a `+`: what a
    /// policy rule names is matched only where no decoding was involved.
    pub literal: bool,
}

/// The pairs of [`parse`], each with whether it was written literally.
pub fn params(query: &str) -> Result<Vec<Param>, Refusal> {
    if query.contains(';') {
        return Err(Refusal::ambiguous(
            "query contains ';', which Go versions split differently",
        ));
    }
    let mut params = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = unescape(raw_key)?;
        let value = unescape(raw_value)?;
        let literal = key == raw_key && value == raw_value;
        params.push(Param {
            key,
            value,
            literal,
        });
    }
    Ok(params)
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

    #[test]
    fn unknown_parameters_pass_only_when_empty() {
        let grants = Grants::none();
        let passes = [
            "t=app%3A1&remote=&q=1&nocache=1&rm=1&forcerm=0&pull=1&dockerfile=Dockerfile",
            "memory=1&memswap=-1&cpushares=2&cpusetcpus=0&cpusetmems=0&cpuperiod=1&cpuquota=1",
            "buildargs=%7B%7D&cgroupparent=&ulimits=%5B%5D&isolation=&shmsize=0&labels=%7B%7D",
            "cachefrom=%5B%5D&networkmode=default&securityopt=&squash=0&extrahosts=a%3A1.2.3.4",
            "target=t&platform=linux&session=s&buildid=b&version=1&outputs=",
            "foo&bar=&Baz=",
        ];
        for query in passes {
            assert_eq!(judge(Some(query), &grants), Ok(()), "{query}");
        }
        let refused = [
            ("foo=1", "query parameter \"foo\""),
            ("t=x&devices=%2Fdev%2Fsda", "query parameter \"devices\""),
            // Keys are case-sensitive in Go: this is not `networkmode`.
            ("NetworkMode=host", "query parameter \"NetworkMode\""),
            ("networ%6Bmode2=host", "query parameter \"networkmode2\""),
        ];
        for (query, field) in refused {
            match judge(Some(query), &grants) {
                Err(Refusal::UnknownField { field: got, .. }) => assert_eq!(got, field, "{query}"),
                other => panic!("{query}: {other:?}"),
            }
        }
    }
}
