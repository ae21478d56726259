//! Audit logs read back, for `policy learn`, `policy diff` and `explain
//! --from-log`: the lines [`crate::request::audit::line`] writes, in either
//! layout, from files as logrotate leaves them (plain, or gzip-compressed:
//! told by the magic bytes, not the name) or as `journalctl` prints them
//! (a prefix before the line is passed over).
//!
//! Every other line (the gateway's own log lines, anything else) is
//! counted and passed over. A line is read as a whole or not at all: each
//! string field is a JSON string, so a value a client chose (a CN, a
//! path) cannot end a field or forge another.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use hyper::{Method, Uri};

use crate::request::audit::line::TARGET;
use crate::request::judge::route::{self, Route};
use crate::request::path;

/// Where a text line's fields start: its level, target and message.
const TEXT_MARKER: &str = "  INFO dockgate::request::audit: request ";

/// One audit line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Logged {
    /// RFC 3339, as written (UTC, fixed width, so they sort as text).
    pub timestamp: String,
    pub client: String,
    /// The tenant the client was confined to; empty when it was not.
    pub tenant: String,
    pub method: String,
    /// The path as the client sent it, version prefix included.
    pub path: String,
    /// The query pairs decisions can depend on, as received
    /// ([`crate::request::judge::logged_query`]); `None` for a line written
    /// before the field existed, which kept no query at all.
    pub query: Option<String>,
    pub decision: String,
    pub policy: String,
    pub rule: String,
    pub reason: String,
    pub detail: String,
    /// The grants the request needed; `None` for a line written before
    /// the field existed (then `detail` names the first one, if any).
    pub grants: Option<String>,
}

/// Where a line was read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Place {
    pub file: String,
    /// 1-based.
    pub line: usize,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// What a line of a log file turned out to be.
#[derive(Debug)]
pub enum Entry {
    Audit(Box<Logged>),
    /// Some other log line.
    Other,
    /// An audit line that cannot be read.
    Unreadable(String),
}

/// Opens `path`, decompressing it if it starts with gzip's magic bytes.
pub fn open(path: &Path) -> io::Result<Box<dyn BufRead>> {
    let mut file = BufReader::new(File::open(path)?);
    let gzip = file.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    Ok(if gzip {
        Box::new(BufReader::new(flate2::bufread::MultiGzDecoder::new(file)))
    } else {
        Box::new(file)
    })
}

/// Calls `each` with every line of the file at `path`, in order.
pub fn read(path: &Path, mut each: impl FnMut(Place, Entry)) -> io::Result<()> {
    let name = path.display().to_string();
    let mut reader = open(path)?;
    let mut buf = Vec::new();
    let mut number = 0;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            return Ok(());
        }
        number += 1;
        let text = String::from_utf8_lossy(&buf);
        let place = Place {
            file: name.clone(),
            line: number,
        };
        each(place, parse(text.trim_end_matches(['\n', '\r'])));
    }
}

/// The `number`th line (1-based) of the file at `path`.
pub fn line_of(path: &Path, number: usize) -> io::Result<Option<String>> {
    let mut reader = open(path)?;
    let mut buf = Vec::new();
    for _ in 0..number {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            return Ok(None);
        }
    }
    let text = String::from_utf8_lossy(&buf);
    Ok(Some(text.trim_end_matches(['\n', '\r']).to_owned()))
}

/// Reads one line of a log.
pub fn parse(line: &str) -> Entry {
    let marker = line.find(TEXT_MARKER);
    let brace = line.find('{');
    match (marker, brace) {
        (Some(m), b) if b.is_none_or(|b| m < b) => text(line, m),
        (_, Some(b)) => json(&line[b..]),
        _ => Entry::Other,
    }
}

fn text(line: &str, marker: usize) -> Entry {
    let timestamp = line[..marker]
        .split_whitespace()
        .next_back()
        .unwrap_or("")
        .to_owned();
    let mut rest = &line[marker + TEXT_MARKER.len()..];
    let mut fields = Vec::new();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            return Entry::Unreadable(format!("no value after {rest:?}"));
        };
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Entry::Unreadable(format!("{key:?} is not a field name"));
        }
        let (value, after) = if after.starts_with('"') {
            let mut strings = serde_json::Deserializer::from_str(after).into_iter::<String>();
            match strings.next() {
                Some(Ok(value)) => (value, &after[strings.byte_offset()..]),
                _ => return Entry::Unreadable(format!("field {key}: not a quoted string")),
            }
        } else {
            let end = bare_end(after);
            (after[..end].to_owned(), &after[end..])
        };
        fields.push((key, value));
        rest = match after.strip_prefix(' ') {
            Some(next) => next,
            None if after.is_empty() => after,
            None => return Entry::Unreadable(format!("field {key}: no space after its value")),
        };
    }
    logged(
        timestamp,
        fields.into_iter().map(|(k, v)| (k.to_owned(), Some(v))),
    )
}

/// Where an unquoted value ends: before the next ` key=`. Numbers and
/// booleans have no spaces, but the peer is written as it is, and may
/// (`unix:` forms).
fn bare_end(value: &str) -> usize {
    let bytes = value.as_bytes();
    let mut at = 0;
    while let Some(space) = value[at..].find(' ') {
        let start = at + space + 1;
        let name = bytes[start..]
            .iter()
            .take_while(|b| b.is_ascii_lowercase() || **b == b'_')
            .count();
        if name > 0 && bytes.get(start + name) == Some(&b'=') {
            return at + space;
        }
        at = start;
    }
    value.len()
}

fn json(object: &str) -> Entry {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(object)
    else {
        return Entry::Other;
    };
    let text = |key: &str| map.get(key).and_then(|v| v.as_str());
    if text("target") != Some(TARGET) || text("message") != Some("request") {
        return Entry::Other;
    }
    let timestamp = text("timestamp").unwrap_or("").to_owned();
    let fields = map
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned)));
    logged(timestamp, fields)
}

/// The line from its fields; `None` values are fields that are not strings.
fn logged(timestamp: String, fields: impl Iterator<Item = (String, Option<String>)>) -> Entry {
    let mut logged = Logged {
        timestamp,
        ..Logged::default()
    };
    let mut seen = Vec::new();
    for (key, value) in fields {
        let slot = match key.as_str() {
            "client" => &mut logged.client,
            "tenant" => &mut logged.tenant,
            "method" => &mut logged.method,
            "path" => &mut logged.path,
            "query" => logged.query.get_or_insert_default(),
            "decision" => &mut logged.decision,
            "policy" => &mut logged.policy,
            "rule" => &mut logged.rule,
            "reason" => &mut logged.reason,
            "detail" => &mut logged.detail,
            "grants" => logged.grants.get_or_insert_default(),
            _ => continue,
        };
        if seen.contains(&key) {
            return Entry::Unreadable(format!("field {key} twice"));
        }
        let Some(value) = value else {
            return Entry::Unreadable(format!("field {key} is not a string"));
        };
        *slot = value;
        seen.push(key);
    }
    for required in ["client", "method", "path", "decision"] {
        if !seen.iter().any(|k| k == required) {
            return Entry::Unreadable(format!("no {required} field"));
        }
    }
    Entry::Audit(Box::new(logged))
}

/// The Engine route a logged method and path reach, read as the judge
/// reads them; `None` for a target it would refuse or a route it does not
/// know.
pub fn route(method: &str, path: &str) -> Option<&'static Route> {
    let method = method.parse::<Method>().ok()?;
    let uri = path.parse::<Uri>().ok()?;
    let canonical = path::canonicalize(&uri).ok()?;
    route::find(&method, &canonical.route)
}

/// Reads a whole line given on the command line.
pub fn parse_one(line: &str) -> Result<Logged, String> {
    match parse(line.trim()) {
        Entry::Audit(logged) => Ok(*logged),
        Entry::Other => Err("this is not a dockgate audit line".into()),
        Entry::Unreadable(why) => Err(format!("this audit line cannot be read: {why}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LogFormat;
    use crate::request::audit::line::{render, Fields};
    use std::time::{Duration, UNIX_EPOCH};

    fn fields<'a>(
        client: &'a str,
        path: &'a str,
        query: &'a str,
        detail: &'a str,
        grants: &'a str,
    ) -> Fields<'a> {
        Fields {
            client,
            tenant: "",
            serial: "0a",
            peer: "unix: with spaces \"and quotes\"",
            method: "POST",
            path,
            query,
            decision: "would_deny",
            policy: "p",
            rule: "",
            reason: "body_rule",
            detail,
            grants,
            status: 201,
            upgraded: false,
            bytes_in: 1,
            bytes_out: 2,
            duration: Duration::from_millis(3),
        }
    }

    #[test]
    fn both_layouts_read_back_with_hostile_strings_intact() {
        let client = "evil\" decision=\"allow\" {\"target\":\"x\"} \n\u{1}\\ ünï";
        let path = "/v1.41/containers/\"x\"  INFO dockgate::request::audit: request client=\"admin\"/start";
        let detail = "needs grant `privileged = true`) \" grants=\"{ swarm = true }\"";
        let grants = "{ privileged = true }";
        let query = "signal=HUP&signal=\"KILL\" query=\"x\"&sig%6eal=%4B&;";
        for format in [LogFormat::Text, LogFormat::Json] {
            let mut out = b"Nov 26 12:00:00 host dockgate[7]: ".to_vec();
            render(
                &fields(client, path, query, detail, grants),
                format,
                UNIX_EPOCH + Duration::from_secs(1),
                &mut out,
            );
            let line = String::from_utf8(out).unwrap();
            let Entry::Audit(got) = parse(line.trim_end()) else {
                panic!("{format:?}: {line}");
            };
            assert_eq!(got.timestamp, "1970-01-01T00:00:01.000000Z", "{format:?}");
            assert_eq!(got.client, client, "{format:?}");
            assert_eq!(got.path, path, "{format:?}");
            assert_eq!(got.detail, detail, "{format:?}");
            assert_eq!(got.grants.as_deref(), Some(grants), "{format:?}");
            assert_eq!(got.query.as_deref(), Some(query), "{format:?}");
            assert_eq!(
                (&*got.method, &*got.decision, &*got.reason),
                ("POST", "would_deny", "body_rule")
            );
        }
    }

    #[test]
    fn other_lines_and_broken_lines_are_told_apart() {
        let old = r#"2026-11-22T23:23:24.530243Z  INFO dockgate::request::audit: request client="a" tenant="" serial="" method="GET" path="/_ping" decision="allow" policy="p" rule="GET /_ping" reason="" detail="" peer=1.2.3.4:5 status=200"#;
        let Entry::Audit(got) = parse(old) else {
            panic!()
        };
        assert_eq!(got.grants, None, "a line from before the field");
        assert_eq!(got.query, None, "a line from before the field");
        let mut out = Vec::new();
        render(
            &fields("a", "/_ping", "", "", ""),
            LogFormat::Json,
            UNIX_EPOCH,
            &mut out,
        );
        let Entry::Audit(got) = parse(String::from_utf8(out).unwrap().trim_end()) else {
            panic!()
        };
        assert_eq!(got.query.as_deref(), Some(""), "an empty field is kept");
        for (line, what) in [
            (
                "2026-11-22T23:23:24Z  INFO dockgate::run: configuration reloaded",
                "other",
            ),
            (
                r#"{"timestamp":"x","message":"request","target":"dockgate::run"}"#,
                "other",
            ),
            ("", "other"),
            (
                r#"{"timestamp":"x","message":"request","target":"dockgate::request::audit","client":"a","method":"GET","path":"/"}"#,
                "unreadable",
            ),
            (
                r#"{"message":"request","target":"dockgate::request::audit","client":1,"method":"GET","path":"/","decision":"allow"}"#,
                "unreadable",
            ),
            (
                r#"t  INFO dockgate::request::audit: request client="a" client="b" method="GET" path="/" decision="allow""#,
                "unreadable",
            ),
            (
                r#"t  INFO dockgate::request::audit: request client="a method="GET""#,
                "unreadable",
            ),
            (
                r#"t  INFO dockgate::request::audit: request Client="a""#,
                "unreadable",
            ),
        ] {
            let got = match parse(line) {
                Entry::Audit(_) => "audit",
                Entry::Other => "other",
                Entry::Unreadable(_) => "unreadable",
            };
            assert_eq!(got, what, "{line}");
        }
    }
}
