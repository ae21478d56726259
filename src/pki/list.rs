//! `pki list`: the index as a table, one row per certificate ever issued,
//! with the expiry status computed now.

use std::path::Path;

use time::OffsetDateTime;

use super::files::Layout;
use super::index::{self, Index};
use super::inspect::days_left;
use super::lock::PkiLock;
use super::{cert, PkiError};

/// The table for the index in `dir`.
pub fn list(dir: &Path) -> Result<String, PkiError> {
    let layout = Layout::new(dir);
    if !layout.ca_cert().exists() && !layout.index().exists() {
        return Err(PkiError::NoCa {
            dir: dir.to_path_buf(),
        });
    }
    let _lock = PkiLock::shared(dir)?;
    let index = Index::load(&layout)?;
    let now = OffsetDateTime::now_utc();
    let mut rows = vec![[
        "NAME".to_owned(),
        "KIND".to_owned(),
        "SERIAL".to_owned(),
        "EXPIRES".to_owned(),
        "STATUS".to_owned(),
    ]];
    for e in &index.certs {
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
    Ok(out)
}
