//! The request-target canonicaliser: turns what a client sent into the one
//! route path the Engine's router will see, or refuses it.
//!
//! The Engine routes on the *percent-decoded* path, strips an optional
//! `/v{version:[0-9.]+}` prefix, and redirects paths that are not clean. A
//! policy is only sound if it judges the same string the router matches, so
//! this module accepts a path only when there is exactly one reading of it:
//!
//! * origin-form only (`/path?query`); absolute-form and `*` are refused;
//! * every byte is an RFC 3986 path character (no backslash, quote, space,
//!   non-ASCII, NUL or control byte);
//! * no empty segments (`//`, trailing `/`) and no dot segments (`.`, `..`);
//! * percent escapes are well-formed and never decode to `/`, `.`, `%`, `\`,
//!   a control byte or a non-ASCII byte, so decoding cannot create segments,
//!   dot segments or a second round of escapes.
//!
//! The gateway forwards the target exactly as received; because the decoded
//! form is unique, the Engine's reading of it is the [`Target::route`] judged
//! here.

use std::fmt;

use hyper::{Method, Uri};

/// A request target that passed canonicalisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The decoded path with any API version prefix removed: what policies match.
    pub route: String,
    /// The API version prefix the client used (`1.41` for `/v1.41/...`), if any.
    pub version: Option<String>,
}

/// Why a request target or method was refused before any policy was consulted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("method {0} is not used by the Engine API")]
    Method(String),
    #[error("the request target must be a path (origin-form), not {0:?}")]
    NotOriginForm(String),
    #[error("byte {byte:#04x} at offset {offset} is not allowed in a path")]
    Byte { byte: u8, offset: usize },
    #[error("malformed percent escape at offset {0}")]
    BadEscape(usize),
    #[error("percent escape %{escape} at offset {offset} decodes to a byte that would change the path's meaning")]
    ForbiddenEscape { escape: String, offset: usize },
    #[error("empty path segment (\"//\" or a trailing \"/\")")]
    EmptySegment,
    #[error("dot segment (\".\" or \"..\") in path")]
    DotSegment,
    #[error("nothing follows the API version prefix")]
    VersionOnly,
}

/// The methods the Engine API routes. Everything else (CONNECT above all:
/// never a tunnel to the socket) is refused before matching.
pub fn check_method(method: &Method) -> Result<(), PathError> {
    match *method {
        Method::GET | Method::HEAD | Method::POST | Method::PUT | Method::DELETE => Ok(()),
        ref other => Err(PathError::Method(truncate(other.as_str()))),
    }
}

/// Canonicalises a request target; see the module documentation.
pub fn canonicalize(uri: &Uri) -> Result<Target, PathError> {
    if uri.scheme().is_some() || uri.authority().is_some() {
        return Err(PathError::NotOriginForm(truncate(&uri.to_string())));
    }
    let raw = uri.path();
    if !raw.starts_with('/') {
        return Err(PathError::NotOriginForm(truncate(raw)));
    }
    let decoded = decode(raw)?;
    check_segments(&decoded)?;
    let (version, route) = split_version(&decoded)?;
    Ok(Target {
        route: route.to_owned(),
        version: version.map(str::to_owned),
    })
}

/// Decodes percent escapes after checking every raw byte.
fn decode(raw: &str) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(PathError::BadEscape(i))?;
            let value = parse_hex(hex).ok_or(PathError::BadEscape(i))?;
            if matches!(value, b'/' | b'.' | b'%' | b'\\') || !(0x20..0x7f).contains(&value) {
                return Err(PathError::ForbiddenEscape {
                    escape: String::from_utf8_lossy(hex).into_owned(),
                    offset: i,
                });
            }
            out.push(char::from(value));
            i += 3;
        } else if is_path_byte(b) {
            out.push(char::from(b));
            i += 1;
        } else {
            return Err(PathError::Byte { byte: b, offset: i });
        }
    }
    Ok(out)
}

fn parse_hex(pair: &[u8]) -> Option<u8> {
    let digit = |c: u8| (c as char).to_digit(16);
    Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8)
}

/// RFC 3986 `pchar` plus `/`, without `%` (handled by the caller).
fn is_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b)
}

fn check_segments(path: &str) -> Result<(), PathError> {
    if path == "/" {
        return Ok(());
    }
    for segment in path[1..].split('/') {
        match segment {
            "" => return Err(PathError::EmptySegment),
            "." | ".." => return Err(PathError::DotSegment),
            _ => {}
        }
    }
    Ok(())
}

/// Splits `/v1.41/rest` into (`1.41`, `/rest`) the way the Engine's router
/// does: the first segment is `v` followed by one or more of `[0-9.]`.
fn split_version(path: &str) -> Result<(Option<&str>, &str), PathError> {
    let first_end = path[1..].find('/').map_or(path.len(), |i| i + 1);
    let first = &path[1..first_end];
    if !is_version_segment(first) {
        return Ok((None, path));
    }
    if first_end == path.len() {
        return Err(PathError::VersionOnly);
    }
    Ok((Some(&first[1..]), &path[first_end..]))
}

/// Whether a path segment is an API version prefix as the Engine's router
/// reads one: `v` and then one or more of `[0-9.]`.
pub fn is_version_segment(segment: &str) -> bool {
    segment.len() > 1
        && segment.starts_with('v')
        && segment[1..]
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.')
}

/// Error messages quote client input; keep them short.
fn truncate(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.route)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(target: &str) -> Result<Target, PathError> {
        canonicalize(&target.parse::<Uri>().expect("test targets parse as URIs"))
    }

    #[test]
    fn accepts_canonical_paths_and_strips_versions() {
        let cases = [
            ("/_ping", "/_ping", None),
            ("/", "/", None),
            (
                "/v1.41/containers/json?all=1",
                "/containers/json",
                Some("1.41"),
            ),
            ("/v1/info", "/info", Some("1")),
            ("/v1.41.0/info", "/info", Some("1.41.0")),
            ("/v./info", "/info", Some(".")),
            ("/v1..2/info", "/info", Some("1..2")),
            (
                "/images/library/busybox:latest/json",
                "/images/library/busybox:latest/json",
                None,
            ),
            ("/containers/ab%63d/json", "/containers/abcd/json", None),
            ("/containers/v1/json", "/containers/v1/json", None),
            ("/version1/x", "/version1/x", None),
            ("/v/x", "/v/x", None),
        ];
        for (input, route, version) in cases {
            let t = canon(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(t.route, route, "{input}");
            assert_eq!(t.version.as_deref(), version, "{input}");
        }
    }

    #[test]
    fn refuses_every_ambiguous_form() {
        type Expect = fn(&PathError) -> bool;
        let cases: &[(&str, Expect)] = &[
            ("/containers/x%2Fjson", |e| {
                matches!(e, PathError::ForbiddenEscape { .. })
            }),
            ("/containers/x%2fjson", |e| {
                matches!(e, PathError::ForbiddenEscape { .. })
            }),
            ("/containers/%2e%2e/json", |e| {
                matches!(e, PathError::ForbiddenEscape { .. })
            }),
            ("/containers/%252F/json", |e| {
                matches!(e, PathError::ForbiddenEscape { .. })
            }),
            ("/containers/%00/json", |e| {
                matches!(e, PathError::ForbiddenEscape { .. })
            }),
            ("/containers/%0a/json", |e| {
                matches!(e, PathError::ForbiddenEscape { .. })
            }),
            ("/containers/%5c/json", |e| {
                matches!(e, PathError::ForbiddenEscape { .. })
            }),
            ("/containers/%c3%a9/json", |e| {
                matches!(e, PathError::ForbiddenEscape { .. })
            }),
            ("/containers/%zz/json", |e| {
                matches!(e, PathError::BadEscape(_))
            }),
            ("/containers/%4", |e| matches!(e, PathError::BadEscape(_))),
            ("/containers//json", |e| *e == PathError::EmptySegment),
            ("//containers/json", |e| *e == PathError::EmptySegment),
            ("/containers/json/", |e| *e == PathError::EmptySegment),
            ("/containers/./json", |e| *e == PathError::DotSegment),
            ("/containers/../info", |e| *e == PathError::DotSegment),
            ("/v1.41/../info", |e| *e == PathError::DotSegment),
            ("/v1.41", |e| *e == PathError::VersionOnly),
            ("/v1.41/", |e| *e == PathError::EmptySegment),
            ("/containers/\"x\"/json", |e| {
                matches!(e, PathError::Byte { byte: b'"', .. })
            }),
            ("/containers/a|b/json", |e| {
                matches!(e, PathError::Byte { byte: b'|', .. })
            }),
            ("http://docker/containers/json", |e| {
                matches!(e, PathError::NotOriginForm(_))
            }),
            ("*", |e| matches!(e, PathError::NotOriginForm(_))),
        ];
        for (input, expected) in cases {
            match canon(input) {
                Ok(t) => panic!("{input} was accepted as {t:?}"),
                Err(e) => assert!(expected(&e), "{input}: unexpected error {e:?}"),
            }
        }
    }

    #[test]
    fn methods_outside_the_engine_api_are_refused() {
        for ok in ["GET", "HEAD", "POST", "PUT", "DELETE"] {
            assert!(check_method(&ok.parse().unwrap()).is_ok(), "{ok}");
        }
        for bad in ["CONNECT", "OPTIONS", "TRACE", "PATCH", "get", "PROPFIND"] {
            assert!(check_method(&bad.parse().unwrap()).is_err(), "{bad}");
        }
    }
}
