//! `index.toml`: the record of every certificate issued from a `--dir`
//! (name, kind, serial, SANs, validity, fingerprint, revocation) and the CRL
//! counter. `list`, `revoke` and `renew` find certificates here by name or
//! serial; `revoke` rebuilds the CRL from it. It is human-readable TOML and
//! always rewritten whole, atomically, with the files it describes.

use std::path::Path;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use toml::value::{Date, Datetime, Offset, Time};

use super::files::{self, Layout, Staged, PUBLIC_MODE};
use super::PkiError;

/// Written at the top of `index.toml`.
const HEADER: &str = "# Certificates issued by `dockgate pki` from this directory.\n\
# Rewritten by every pki command; revoke with `dockgate pki revoke`, not by editing.\n\n";

/// The whole index file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// Number of the last CRL written; each new CRL gets the next one, so
    /// verifiers can tell a newer CRL from an older one.
    pub crl_number: u64,
    /// Every certificate issued, oldest first.
    #[serde(default, rename = "cert")]
    pub certs: Vec<Entry>,
}

/// One issued certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// `ca`, `server`, or the client name: what `revoke` and `renew` take.
    pub name: String,
    /// What the certificate is for.
    pub kind: Kind,
    /// Serial number, lowercase hex without separators.
    pub serial: String,
    /// Subject alternative names as `DNS:…`/`IP:…` (servers only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sans: Vec<String>,
    /// Start of validity.
    pub not_before: Datetime,
    /// End of validity.
    pub not_after: Datetime,
    /// SHA-256 of the DER certificate, colon-separated uppercase hex.
    pub sha256: String,
    /// Whether it has been revoked.
    pub status: Status,
    /// When it was revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Datetime>,
}

/// What a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The certificate authority.
    Ca,
    /// The gateway's server certificate.
    Server,
    /// A client certificate.
    Client,
}

impl Kind {
    /// The name used in listings.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ca => "ca",
            Kind::Server => "server",
            Kind::Client => "client",
        }
    }
}

/// The revocation state recorded in the index (expiry is computed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Not revoked.
    Valid,
    /// Listed in the CRL.
    Revoked,
}

impl Entry {
    /// `valid`, `revoked` or `expired` as of `now`.
    pub fn status_at(&self, now: OffsetDateTime) -> &'static str {
        match self.status {
            Status::Revoked => "revoked",
            Status::Valid if from_toml(&self.not_after).is_some_and(|t| t < now) => "expired",
            Status::Valid => "valid",
        }
    }
}

impl Index {
    /// Reads the index of `layout`; a missing file is an empty index.
    pub fn load(layout: &Layout) -> Result<Index, PkiError> {
        let path = layout.index();
        if !path.exists() {
            return Ok(Index::default());
        }
        let bytes = files::read(&path)?;
        let text = String::from_utf8(bytes).map_err(|_| PkiError::Index {
            path: path.clone(),
            reason: "not UTF-8".into(),
        })?;
        toml::from_str(&text).map_err(|e| PkiError::Index {
            path,
            reason: e.to_string(),
        })
    }

    /// The file contents for this index.
    pub fn to_toml(&self, path: &Path) -> Result<String, PkiError> {
        let body = toml::to_string_pretty(self).map_err(|e| PkiError::Index {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(format!("{HEADER}{body}"))
    }

    /// Adds this index to `staged`, readable by all like the certificates it
    /// lists, so it lands together with the files it describes.
    pub fn stage(&self, staged: &mut Staged, layout: &Layout) -> Result<(), PkiError> {
        let path = layout.index();
        staged.write(&path, self.to_toml(&path)?.as_bytes(), PUBLIC_MODE)
    }

    /// The newest certificate called `name`.
    pub fn newest(&self, name: &str) -> Option<&Entry> {
        self.certs.iter().rev().find(|e| e.name == name)
    }

    /// The newest non-revoked server certificate.
    pub fn current_server(&self) -> Option<&Entry> {
        self.certs
            .iter()
            .rev()
            .find(|e| e.kind == Kind::Server && e.status == Status::Valid)
    }

    /// Finds what `revoke` means by `query`: a serial (hex, colons and a
    /// `0x` prefix allowed) or a name, which picks the newest non-revoked
    /// certificate of that name, or the newest revoked one if all are.
    pub fn lookup(&self, query: &str) -> Option<usize> {
        let serial = normalize_serial(query);
        if let Some(i) = self.certs.iter().position(|e| e.serial == serial) {
            return Some(i);
        }
        let named = || {
            self.certs
                .iter()
                .enumerate()
                .rev()
                .filter(|(_, e)| e.name == query)
        };
        named()
            .find(|(_, e)| e.status == Status::Valid)
            .or_else(|| named().next())
            .map(|(i, _)| i)
    }
}

/// Lowercase hex without separators, leading `0x` or leading zeros.
pub fn normalize_serial(text: &str) -> String {
    let lower = text.trim().to_ascii_lowercase();
    let hex: String = lower
        .strip_prefix("0x")
        .unwrap_or(&lower)
        .chars()
        .filter(|c| *c != ':')
        .collect();
    let trimmed = hex.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".into()
    } else {
        trimmed.into()
    }
}

/// Converts a UTC time to a TOML datetime (whole seconds).
pub fn to_toml(t: OffsetDateTime) -> Datetime {
    let t = t.to_offset(time::UtcOffset::UTC);
    Datetime {
        date: Some(Date {
            year: t.year() as u16,
            month: t.month() as u8,
            day: t.day(),
        }),
        time: Some(Time {
            hour: t.hour(),
            minute: t.minute(),
            second: t.second(),
            nanosecond: 0,
        }),
        offset: Some(Offset::Z),
    }
}

/// Converts a TOML datetime back; `None` if it is not a full UTC datetime.
pub fn from_toml(d: &Datetime) -> Option<OffsetDateTime> {
    let (date, t) = (d.date?, d.time?);
    let date = time::Date::from_calendar_date(
        i32::from(date.year),
        time::Month::try_from(date.month).ok()?,
        date.day,
    )
    .ok()?;
    let t = time::Time::from_hms(t.hour, t.minute, t.second).ok()?;
    let offset = match d.offset {
        None | Some(Offset::Z) => time::UtcOffset::UTC,
        Some(Offset::Custom { minutes }) => {
            time::UtcOffset::from_whole_seconds(i32::from(minutes) * 60).ok()?
        }
    };
    Some(time::PrimitiveDateTime::new(date, t).assume_offset(offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, serial: &str, status: Status) -> Entry {
        let now = to_toml(OffsetDateTime::now_utc());
        Entry {
            name: name.into(),
            kind: Kind::Client,
            serial: serial.into(),
            sans: vec![],
            not_before: now,
            not_after: now,
            sha256: "AA".into(),
            status,
            revoked_at: None,
        }
    }

    #[test]
    fn round_trips_and_looks_up() {
        let index = Index {
            crl_number: 3,
            certs: vec![
                entry("alice", "4a01", Status::Valid),
                entry("alice", "4a02", Status::Revoked),
                entry("bob", "4b01", Status::Valid),
            ],
        };
        let text = index.to_toml(Path::new("index.toml")).unwrap();
        assert!(text.contains("crl_number = 3"), "{text}");
        assert!(text.contains("[[cert]]"), "{text}");
        let back: Index = toml::from_str(&text).unwrap();
        assert_eq!(back.certs, index.certs);
        assert_eq!(index.lookup("alice"), Some(0));
        assert_eq!(index.lookup("4A:02"), Some(1));
        assert_eq!(index.lookup("0x4b01"), Some(2));
        assert_eq!(index.lookup("carol"), None);
        assert_eq!(index.newest("alice").unwrap().serial, "4a02");
    }

    #[test]
    fn datetimes_convert_both_ways() {
        let t = time::macros::datetime!(2031-02-03 04:05:06 UTC);
        let d = to_toml(t);
        assert_eq!(d.to_string(), "2031-02-03T04:05:06Z");
        assert_eq!(from_toml(&d), Some(t));
    }
}
