//! Host paths as the Engine hands them to the kernel: cleaned, absolute, checked against grants.
//!
//! Go's `filepath.Clean` resolves `..` lexically, but the kernel resolves it through symlinks,
//! so `/srv/ci/link/..` may not be under `/srv/ci` at all. A source with a `..` component is
//! therefore refused as ambiguous rather than cleaned; `//` and `.` are cleaned away.

use super::{Grants, Refusal};

/// The cleaned form of absolute host path `raw`, or a refusal naming `field`.
pub fn clean(raw: &str, field: &str) -> Result<String, Refusal> {
    if !raw.starts_with('/') {
        return Err(Refusal::ambiguous(format!(
            "{field}: host path {raw:?} is not absolute"
        )));
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(Refusal::ambiguous(format!(
                    "{field}: host path {raw:?} contains '..'"
                )))
            }
            part => parts.push(part),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

/// Refuses a bind mount of host path `raw` unless granted (read-only grants count only when
/// the mount is read-only).
pub fn check_bind(raw: &str, read_only: bool, grants: &Grants, field: &str) -> Result<(), Refusal> {
    let path = clean(raw, field)?;
    if grants.bind_mounts.matches(&path)
        || (read_only && grants.read_only_bind_mounts.matches(&path))
    {
        return Ok(());
    }
    let needs = if read_only {
        format!("bind_mounts or read_only_bind_mounts matching {path:?}")
    } else {
        format!("bind_mounts matching {path:?}")
    };
    Err(Refusal::forbidden(format!("{field} ({path})"), needs))
}

/// Refuses access to host device `raw` unless granted.
pub fn check_device(raw: &str, grants: &Grants, field: &str) -> Result<(), Refusal> {
    let path = clean(raw, field)?;
    if grants.devices.matches(&path) {
        return Ok(());
    }
    Err(Refusal::forbidden(
        format!("{field} ({path})"),
        format!("devices matching {path:?}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning() {
        for (raw, want) in [
            ("/", Some("/")),
            ("//", Some("/")),
            ("/srv//ci/./x/", Some("/srv/ci/x")),
            ("/srv/ci/../../etc", None),
            ("/srv/..", None),
            ("srv/ci", None),
            ("", None),
            ("./x", None),
        ] {
            assert_eq!(clean(raw, "f").ok().as_deref(), want, "{raw}");
        }
    }
}
