//! `pki list`: the index as a table, one row per certificate ever issued,
//! with the expiry status computed now; and `pki list --expiring WINDOW`,
//! the certificates in force that end within the window, for cron.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use time::{Duration, OffsetDateTime};

use super::files::Layout;
use super::index::{self, Entry, Index, Status};
use super::inspect::days_left;
use super::lock::PkiLock;
use super::{cert, PkiError};

/// The table for the index in `dir`.
pub fn list(dir: &Path) -> Result<String, PkiError> {
    let index = load(dir)?;
    let now = OffsetDateTime::now_utc();
    Ok(table(index.certs.iter(), now))
}

/// How far ahead `--expiring` looks: whole days (`30d`) or hours (`12h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    count: u32,
    unit: Unit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Days,
    Hours,
}

impl Window {
    /// The longest window taken: a century, far beyond any lifetime `pki`
    /// gives and far from overflowing a date.
    const MAX_DAYS: u32 = 36_500;

    pub fn duration(self) -> Duration {
        match self.unit {
            Unit::Days => Duration::days(i64::from(self.count)),
            Unit::Hours => Duration::hours(i64::from(self.count)),
        }
    }
}

impl FromStr for Window {
    type Err = String;

    fn from_str(text: &str) -> Result<Window, String> {
        let bad = || {
            format!("{text:?} is not a window: write a whole number of days or hours, such as 30d or 12h")
        };
        let (number, unit) = match text.strip_suffix('d') {
            Some(n) => (n, Unit::Days),
            None => (text.strip_suffix('h').ok_or_else(bad)?, Unit::Hours),
        };
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let count: u32 = number.parse().map_err(|_| bad())?;
        let days = match unit {
            Unit::Days => count,
            Unit::Hours => count / 24,
        };
        if days > Window::MAX_DAYS {
            return Err(format!("{text:?} is longer than {} days", Window::MAX_DAYS));
        }
        Ok(Window { count, unit })
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.unit {
            Unit::Days => write!(f, "{}d", self.count),
            Unit::Hours => write!(f, "{}h", self.count),
        }
    }
}

/// What `pki list --expiring` found.
#[derive(Debug)]
pub struct Expiring {
    /// The table of the certificates that end within the window; empty
    /// when none does.
    pub table: String,
    /// How many certificates that is.
    pub count: usize,
}

/// The certificates in force in `dir` that end within `window` from now or
/// have ended: for each name (`ca`, `server`, each client), its newest
/// certificate that is not revoked. Older certificates of a name were
/// renewed, so their end is expected; a revoked one no longer matters.
pub fn expiring(dir: &Path, window: Window) -> Result<Expiring, PkiError> {
    let index = load(dir)?;
    let now = OffsetDateTime::now_utc();
    let deadline = now + window.duration();
    // Newest first, the first non-revoked certificate of each name.
    let mut named = HashSet::new();
    let mut found: Vec<&Entry> = index
        .certs
        .iter()
        .rev()
        .filter(|e| e.status == Status::Valid && named.insert((e.kind.as_str(), &e.name)))
        // An end the index cannot read is reported, not assumed far away.
        .filter(|e| index::from_toml(&e.not_after).is_none_or(|t| t <= deadline))
        .collect();
    found.reverse();
    Ok(Expiring {
        count: found.len(),
        table: if found.is_empty() {
            String::new()
        } else {
            table(found.into_iter(), now)
        },
    })
}

fn load(dir: &Path) -> Result<Index, PkiError> {
    let layout = Layout::new(dir);
    if !layout.ca_cert().exists() && !layout.index().exists() {
        return Err(PkiError::NoCa {
            dir: dir.to_path_buf(),
        });
    }
    let _lock = PkiLock::shared(dir)?;
    Index::load(&layout)
}

/// NAME, KIND, SERIAL, EXPIRES and STATUS of `entries`, in columns.
fn table<'a>(entries: impl Iterator<Item = &'a Entry>, now: OffsetDateTime) -> String {
    let mut rows = vec![[
        "NAME".to_owned(),
        "KIND".to_owned(),
        "SERIAL".to_owned(),
        "EXPIRES".to_owned(),
        "STATUS".to_owned(),
    ]];
    for e in entries {
        let expires = match index::from_toml(&e.not_after) {
            Some(t) => format!("{} ({})", cert::day(t), days_left(t)),
            None => e.not_after.to_string(),
        };
        rows.push([
            e.name.clone(),
            e.kind.as_str().to_owned(),
            e.serial.clone(),
            expires,
            e.status_at(now).to_owned(),
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_as_days_or_hours() {
        let w: Window = "30d".parse().unwrap();
        assert_eq!(w.duration(), Duration::days(30));
        assert_eq!(w.to_string(), "30d");
        let w: Window = "12h".parse().unwrap();
        assert_eq!(w.duration(), Duration::hours(12));
        assert_eq!("0d".parse::<Window>().unwrap().duration(), Duration::ZERO);
        for bad in [
            "",
            "d",
            "30",
            "30 d",
            "-1d",
            "+3d",
            "1.5d",
            "3w",
            "30D",
            "99999999999d",
            "36501d",
        ] {
            let err = bad.parse::<Window>().unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{bad}: {err}");
        }
    }
}
