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

/// How a bind mount exposes its host tree to the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadWrite,
    /// Read-only all the way down: the mount is not recursive (mounts below the source do not
    /// appear in the container), and the source is remounted read-only.
    ReadOnly,
    /// Read-only at the top only: the mount is recursive and the Engine remounts only its top
    /// read-only (every Engine for a `:ro` bind; Engines before 25.0, and any Engine for API
    /// versions before 1.44, for `ReadOnly` mounts), so any filesystem mounted below the source
    /// on the host stays writable in the container.
    ReadOnlyAboveSubmounts,
}

/// Refuses a bind mount of host path `raw` unless granted. Read-only grants count only for
/// mounts that are read-only all the way down.
pub fn check_bind(raw: &str, access: Access, grants: &Grants, field: &str) -> Result<(), Refusal> {
    let path = clean(raw, field)?;
    if grants.bind_mounts.matches(&path)
        || (access == Access::ReadOnly && grants.read_only_bind_mounts.matches(&path))
    {
        return Ok(());
    }
    let needs = match access {
        Access::ReadOnly => format!("bind_mounts or read_only_bind_mounts matching {path:?}"),
        Access::ReadOnlyAboveSubmounts if grants.read_only_bind_mounts.matches(&path) => format!(
            "bind_mounts matching {path:?}: this read-only bind is recursive, and the Engine \
             leaves filesystems mounted below {path} writable; read_only_bind_mounts allows a \
             non-recursive one (--mount type=bind,readonly,bind-nonrecursive, or a local volume \
             with o=bind,ro)"
        ),
        Access::ReadWrite | Access::ReadOnlyAboveSubmounts => {
            format!("bind_mounts matching {path:?}")
        }
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
