//! A `HostConfig.Devices` (or `Resources.Devices`) entry, as the Engine hands it to
//! `oci.DevicesFromPath`.
//!
//! `PathOnHost` is not a glob and not cleaned: the Engine stats it as given (relative to its
//! own working directory if relative), follows a symlink, and when it is a directory adds every
//! device below it. It is therefore judged as a clean absolute path against `devices` (a
//! granted directory grants the devices below it); `..` is refused, symlinks are a known limit.
//! `CgroupPermissions` only narrows access to that device: it must be a string of distinct
//! `r`, `w`, `m` (empty means the Engine's default), as the devices cgroup reads it. No request
//! body carries the CLI's `host:container:perms` string form; the CLI splits it itself.

use super::super::host_path::check_device;
use super::super::json::Object;
use super::super::{Grants, Refusal};

/// Whether `perms` is a devices-cgroup access string: distinct letters among `r`, `w`, `m`.
pub fn valid_permissions(perms: &str) -> bool {
    let mut seen = String::new();
    for c in perms.chars() {
        if !"rwm".contains(c) || seen.contains(c) {
            return false;
        }
        seen.push(c);
    }
    true
}

/// Judges one `Devices` entry at `field`.
pub fn judge(device: &Object, field: &str, grants: &Grants) -> Result<(), Refusal> {
    let text = |name: &str| -> Result<&str, Refusal> {
        let path = format!("{field}.{name}");
        Ok(match device.field(name, &path)? {
            Some(v) => v.as_str(&path)?,
            None => "",
        })
    };
    let perms = text("CgroupPermissions")?;
    if !valid_permissions(perms) {
        return Err(Refusal::ambiguous(format!(
            "{field}.CgroupPermissions {perms:?} is not a combination of r, w and m"
        )));
    }
    check_device(text("PathOnHost")?, grants, &format!("{field}.PathOnHost"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions() {
        for (perms, valid) in [
            ("", true),
            ("r", true),
            ("rwm", true),
            ("mwr", true),
            ("rr", false),
            ("rwmx", false),
            ("RWM", false),
            ("a", false),
            ("rw ", false),
            ("rw\na *:* rwm", false),
        ] {
            assert_eq!(valid_permissions(perms), valid, "{perms:?}");
        }
    }
}
