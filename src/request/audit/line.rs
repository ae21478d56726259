//! An audit event as one line: text in the layout of the other log lines,
//! or one JSON object with the same keys tracing's JSON formatter uses
//! (`timestamp`, `level`, `message`, the fields, `target`).
//!
//! Written by hand because it runs once per request: tracing's formatter
//! escapes strings one `char` at a time, which made up most of a line's
//! cost; this copies runs of plain bytes at once. Every
//! string is quoted and escaped the JSON way in both layouts, so nothing a
//! client controls (a certificate's CN, a refused path) can forge a line or
//! a field.

use std::cell::Cell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::LogFormat;

/// The target audit lines carry; filters (`RUST_LOG`) name it.
pub const TARGET: &str = "dockgate::request::audit";

/// What one audit line says.
pub struct Fields<'a> {
    pub client: &'a str,
    /// The tenant the client is confined to; empty when it is not.
    pub tenant: &'a str,
    pub serial: &'a str,
    /// `address:port` on TLS, `unix:PATH pid=N uid=N gid=N` on a local
    /// socket ([`crate::request::local::LocalPeer`]); formatted once per
    /// connection.
    pub peer: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    /// The query pairs decisions can depend on, as received
    /// ([`crate::request::judge::logged_query`]); empty when there are none.
    pub query: &'a str,
    pub decision: &'a str,
    pub policy: &'a str,
    pub rule: &'a str,
    pub reason: &'a str,
    /// For `would_deny`: the refusal enforce mode would have answered.
    pub detail: &'a str,
    /// The grants the request's query and body used or would have needed
    /// (audit mode), as a TOML inline table; empty otherwise.
    pub grants: &'a str,
    pub status: u16,
    pub upgraded: bool,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub duration: Duration,
}

/// Appends the line for `fields`, newline included, to `out`.
pub fn render(fields: &Fields<'_>, format: LogFormat, now: SystemTime, out: &mut Vec<u8>) {
    match format {
        LogFormat::Text => text(fields, now, out),
        LogFormat::Json => json(fields, now, out),
    }
}

fn text(f: &Fields<'_>, now: SystemTime, out: &mut Vec<u8>) {
    timestamp(now, out);
    out.extend_from_slice(b"  INFO ");
    out.extend_from_slice(TARGET.as_bytes());
    out.extend_from_slice(b": request");
    for (key, value) in strings(f) {
        out.push(b' ');
        out.extend_from_slice(key.as_bytes());
        out.push(b'=');
        quoted(value, out);
    }
    out.extend_from_slice(b" peer=");
    // A TCP address as it is; a local peer (`unix:PATH pid=N uid=N
    // gid=N`) has spaces and an admin's path, so it is quoted.
    if f.peer
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"[]:.%_-".contains(&b))
    {
        out.extend_from_slice(f.peer.as_bytes());
    } else {
        quoted(f.peer, out);
    }
    numbers(f, " ", "=", out);
    out.push(b'\n');
}

fn json(f: &Fields<'_>, now: SystemTime, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"timestamp\":\"");
    timestamp(now, out);
    out.extend_from_slice(b"\",\"level\":\"INFO\",\"message\":\"request\"");
    for (key, value) in strings(f) {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        quoted(value, out);
    }
    out.extend_from_slice(b",\"peer\":");
    quoted(f.peer, out);
    numbers(f, ",\"", "\":", out);
    out.extend_from_slice(b",\"target\":\"");
    out.extend_from_slice(TARGET.as_bytes());
    out.extend_from_slice(b"\"}\n");
}

fn strings<'a>(f: &Fields<'a>) -> [(&'static str, &'a str); 12] {
    [
        ("client", f.client),
        ("tenant", f.tenant),
        ("serial", f.serial),
        ("method", f.method),
        ("path", f.path),
        ("query", f.query),
        ("decision", f.decision),
        ("policy", f.policy),
        ("rule", f.rule),
        ("reason", f.reason),
        ("detail", f.detail),
        ("grants", f.grants),
    ]
}

/// The numeric and boolean fields; `open` and `sep` surround each key.
fn numbers(f: &Fields<'_>, open: &str, sep: &str, out: &mut Vec<u8>) {
    let micros = f.duration.as_micros() as u64;
    let key = |name: &str, out: &mut Vec<u8>| {
        out.extend_from_slice(open.as_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(sep.as_bytes());
    };
    key("status", out);
    decimal(u64::from(f.status), 1, out);
    key("upgraded", out);
    out.extend_from_slice(if f.upgraded { b"true" } else { b"false" });
    key("bytes_in", out);
    decimal(f.bytes_in, 1, out);
    key("bytes_out", out);
    decimal(f.bytes_out, 1, out);
    key("duration_ms", out);
    decimal(micros / 1000, 1, out);
    out.push(b'.');
    decimal(micros % 1000, 3, out);
}

/// `n` in decimal, zero-padded to at least `width` digits. (Not through
/// `core::fmt`, which costs several times more per number.)
fn decimal(mut n: u64, width: usize, out: &mut Vec<u8>) {
    let mut digits = [b'0'; 20];
    let mut start = digits.len();
    while n > 0 || digits.len() - start < width {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&digits[start..]);
}

/// `value` in double quotes, escaped as a JSON string: `"` `\\` and control
/// characters escaped, everything else (UTF-8 included) as is. Runs of
/// plain bytes, usually the whole value, are copied at once.
fn quoted(value: &str, out: &mut Vec<u8>) {
    let bytes = value.as_bytes();
    out.push(b'"');
    let mut plain = 0;
    while let Some(at) = bytes[plain..].iter().position(|&b| needs_escape(b)) {
        let i = plain + at;
        out.extend_from_slice(&bytes[plain..i]);
        match bytes[i] {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            byte => {
                out.extend_from_slice(b"\\u00");
                out.push(b"0123456789abcdef"[usize::from(byte >> 4)]);
                out.push(b"0123456789abcdef"[usize::from(byte & 0xf)]);
            }
        }
        plain = i + 1;
    }
    out.extend_from_slice(&bytes[plain..]);
    out.push(b'"');
}

fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\' || byte == 0x7f
}

/// RFC 3339 in UTC with microseconds, like the other log lines:
/// `2026-11-22T23:23:24.530243Z`.
pub fn timestamp(now: SystemTime, out: &mut Vec<u8>) {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    SECOND.with(|cached| {
        let (at, text) = cached.get();
        if at == secs {
            out.extend_from_slice(&text);
        } else {
            let start = out.len();
            date_and_time(secs, out);
            if let Ok(text) = out[start..].try_into() {
                cached.set((secs, text));
            }
        }
    });
    decimal(since.subsec_micros().into(), 6, out);
    out.push(b'Z');
}

thread_local! {
    /// The second this thread last rendered, and its text up to the
    /// fraction: lines come many to a second, so the calendar arithmetic
    /// runs once per second, not once per line.
    static SECOND: Cell<(u64, [u8; 20])> = const { Cell::new((u64::MAX, [0; 20])) };
}

/// `2026-11-22T23:23:24.` for `secs` since the epoch.
fn date_and_time(secs: u64, out: &mut Vec<u8>) {
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let of_day = secs % 86_400;
    decimal(year.max(0) as u64, 4, out);
    out.push(b'-');
    decimal(month.into(), 2, out);
    out.push(b'-');
    decimal(day.into(), 2, out);
    out.push(b'T');
    decimal(of_day / 3600, 2, out);
    out.push(b':');
    decimal(of_day / 60 % 60, 2, out);
    out.push(b':');
    decimal(of_day % 60, 2, out);
    out.push(b'.');
}

/// The proleptic Gregorian date of a day number counted from 1970-01-01
/// (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields<'a>(client: &'a str, path: &'a str) -> Fields<'a> {
        Fields {
            client,
            tenant: "",
            serial: "0a1b",
            peer: "127.0.0.1:40000",
            method: "GET",
            path,
            query: "",
            decision: "allow",
            policy: "ci",
            rule: "GET /_ping",
            reason: "",
            detail: "",
            grants: "{ privileged = true }",
            status: 200,
            upgraded: false,
            bytes_in: 0,
            bytes_out: 2,
            duration: Duration::from_micros(1_234_567),
        }
    }

    fn at(secs: u64, micros: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, micros * 1000)
    }

    #[test]
    fn text_lines_read_like_the_other_log_lines() {
        let mut out = Vec::new();
        render(
            &fields("ci-runner", "/v1.43/_ping"),
            LogFormat::Text,
            at(1_795_389_804, 530_243),
            &mut out,
        );
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out,
            "2026-11-22T23:23:24.530243Z  INFO dockgate::request::audit: request client=\"ci-runner\" \
             tenant=\"\" serial=\"0a1b\" method=\"GET\" path=\"/v1.43/_ping\" query=\"\" decision=\"allow\" policy=\"ci\" \
             rule=\"GET /_ping\" reason=\"\" detail=\"\" \
             grants=\"{ privileged = true }\" peer=127.0.0.1:40000 status=200 upgraded=false \
             bytes_in=0 bytes_out=2 duration_ms=1234.567\n"
        );
    }

    #[test]
    fn a_local_peer_is_one_quoted_field() {
        let peer = "unix:/run/dockgate/a b.sock pid=123 uid=0 gid=0";
        let mut out = Vec::new();
        let f = Fields {
            peer,
            ..fields("traefik", "/_ping")
        };
        render(&f, LogFormat::Text, at(0, 0), &mut out);
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.contains(" peer=\"unix:/run/dockgate/a b.sock pid=123 uid=0 gid=0\" status=200"),
            "{out}"
        );
    }

    #[test]
    fn json_lines_parse_with_every_field_and_hostile_strings_intact() {
        let client = "evil\"} {\"client\":\"admin\n\u{1}\\ ünï";
        let path = "/containers/\"x\"/json";
        let mut out = Vec::new();
        render(&fields(client, path), LogFormat::Json, at(0, 7), &mut out);
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.ends_with("}\n") && out.matches('\n').count() == 1,
            "{out}"
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["timestamp"], "1970-01-01T00:00:00.000007Z");
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["message"], "request");
        assert_eq!(v["target"], "dockgate::request::audit");
        assert_eq!(v["client"], client);
        assert_eq!(v["path"], path);
        assert_eq!(v["peer"], "127.0.0.1:40000");
        assert_eq!(v["grants"], "{ privileged = true }");
        assert_eq!(v["status"], 200);
        assert_eq!(v["upgraded"], false);
        assert_eq!(v["bytes_out"], 2);
        assert_eq!(v["duration_ms"], 1234.567);
    }

    #[test]
    fn the_query_field_keeps_repeated_keys_and_escapes_hostile_bytes() {
        // As received, so percent escapes stay; what a client could still
        // put there raw (a quote, a backslash) is escaped like any string.
        let query = "signal=HUP&signal=KILL&signal=\"x\\\u{1}&;";
        for format in [LogFormat::Text, LogFormat::Json] {
            let mut out = Vec::new();
            let f = Fields {
                query,
                ..fields("ci", "/v1.41/containers/x/kill")
            };
            render(&f, format, at(0, 0), &mut out);
            let out = String::from_utf8(out).unwrap();
            assert_eq!(out.matches('\n').count(), 1, "{out}");
            match format {
                LogFormat::Text => assert!(
                    out.contains(
                        r#" path="/v1.41/containers/x/kill" query="signal=HUP&signal=KILL&signal=\"x\\\u0001&;" decision="allow" "#
                    ),
                    "{out}"
                ),
                LogFormat::Json => {
                    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
                    assert_eq!(v["query"], query);
                }
            }
        }
    }

    #[test]
    fn text_lines_cannot_be_split_by_a_client() {
        let mut out = Vec::new();
        render(
            &fields("a\nb\rc", "/x"),
            LogFormat::Text,
            at(0, 0),
            &mut out,
        );
        let out = String::from_utf8(out).unwrap();
        assert_eq!(out.matches('\n').count(), 1);
        assert!(out.contains(r#"client="a\nb\rc""#), "{out}");
    }

    #[test]
    fn timestamps_stay_right_across_seconds_and_days() {
        let mut out = Vec::new();
        for (secs, micros) in [
            (1_795_389_804, 1),
            (1_795_389_804, 999_999),
            (1_795_391_999, 0),
            (1_795_392_000, 5),
            (1_795_389_804, 2),
        ] {
            timestamp(at(secs, micros), &mut out);
            out.push(b' ');
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2026-11-22T23:23:24.000001Z 2026-11-22T23:23:24.999999Z \
             2026-11-22T23:59:59.000000Z 2026-11-23T00:00:00.000005Z \
             2026-11-22T23:23:24.000002Z "
        );
    }

    #[test]
    fn every_control_character_is_escaped() {
        let mut out = Vec::new();
        quoted("a\u{7f}b\u{1b}\"\\\t", &mut out);
        assert_eq!(out, br#""a\u007fb\u001b\"\\\t""#);
    }

    #[test]
    fn numbers_are_decimal_and_padded() {
        let mut out = Vec::new();
        for (n, width) in [(0, 1), (7, 3), (1234, 2), (u64::MAX, 1), (5, 6)] {
            decimal(n, width, &mut out);
            out.push(b' ');
        }
        assert_eq!(out, b"0 007 1234 18446744073709551615 000005 ");
    }

    #[test]
    fn dates_match_a_calendar() {
        for (days, date) in [
            (0, (1970, 1, 1)),
            (59, (1970, 3, 1)),
            (11_016, (2000, 2, 29)),
            (20_779, (2026, 11, 22)),
            (-1, (1969, 12, 31)),
            (2_932_896, (9999, 12, 31)),
        ] {
            assert_eq!(civil_from_days(days), date, "day {days}");
        }
    }
}
