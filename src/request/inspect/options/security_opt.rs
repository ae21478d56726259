//! A `HostConfig.SecurityOpt` entry, read with the Engine's `parseSecurityOpt`
//! (`daemon/daemon_unix.go`).
//!
//! `no-new-privileges`, `disable` and (Engine 25+) `writable-cgroups` are whole words. Anything
//! else is `key=value`, split at the first `=`, or, only when there is no `=`, `key:value`
//! split at the first `:` (the deprecated separator: `label:disable` is `label=disable`).
//! Keys are exact: `label`, `apparmor`, `seccomp`, and the booleans `no-new-privileges` and
//! `writable-cgroups`, read with Go's `strconv.ParseBool`. The Engine refuses an entry without a
//! separator, a bad boolean and any other key (`systempaths=unconfined` is a CLI option the
//! CLI turns into empty `MaskedPaths`/`ReadonlyPaths`).

use super::super::{Grants, Refusal};

/// A parsed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecurityOpt<'a> {
    NoNewPrivileges(bool),
    WritableCgroups(bool),
    /// `label=...`; the bare word `disable` is `Label("disable")`.
    Label(&'a str),
    AppArmor(&'a str),
    Seccomp(&'a str),
    /// A key no Engine version reads; it refuses the entry.
    Unknown(&'a str),
}

/// Go's `strconv.ParseBool`.
fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

impl<'a> SecurityOpt<'a> {
    /// Parses `opt`, or says why the Engine would refuse it.
    pub fn parse(opt: &'a str) -> Result<SecurityOpt<'a>, String> {
        match opt {
            "no-new-privileges" => return Ok(SecurityOpt::NoNewPrivileges(true)),
            "writable-cgroups" => return Ok(SecurityOpt::WritableCgroups(true)),
            "disable" => return Ok(SecurityOpt::Label("disable")),
            _ => {}
        }
        let (key, value) = match opt.split_once('=') {
            Some(pair) => pair,
            None => opt
                .split_once(':')
                .ok_or_else(|| "has neither '=' nor ':'".to_owned())?,
        };
        let boolean =
            |value: &str| parse_bool(value).ok_or_else(|| format!("{value:?} is not a boolean"));
        Ok(match key {
            "label" => SecurityOpt::Label(value),
            "apparmor" => SecurityOpt::AppArmor(value),
            "seccomp" => SecurityOpt::Seccomp(value),
            "no-new-privileges" => SecurityOpt::NoNewPrivileges(boolean(value)?),
            "writable-cgroups" => SecurityOpt::WritableCgroups(boolean(value)?),
            other => SecurityOpt::Unknown(other),
        })
    }

    /// Only tightens confinement: no new privileges, or Docker's default AppArmor profile.
    pub fn is_safe(&self) -> bool {
        matches!(
            self,
            SecurityOpt::NoNewPrivileges(true) | SecurityOpt::AppArmor("docker-default")
        )
    }
}

/// Judges one `SecurityOpt` entry at `field`: malformed entries are refused even with
/// `security_opt`, safe ones always pass, the rest need the grant.
pub fn judge(opt: &str, field: &str, grants: &Grants) -> Result<(), Refusal> {
    let parsed = SecurityOpt::parse(opt)
        .map_err(|why| Refusal::ambiguous(format!("{field}: {opt:?} {why}")))?;
    if parsed.is_safe() || grants.security_opt {
        return Ok(());
    }
    Err(Refusal::forbidden(
        format!("{field} ({opt})"),
        "security_opt = true",
    ))
}

#[cfg(test)]
mod tests {
    use super::SecurityOpt::*;
    use super::*;

    #[test]
    fn grammar() {
        let rows: &[(&str, Option<SecurityOpt>)] = &[
            ("no-new-privileges", Some(NoNewPrivileges(true))),
            ("no-new-privileges=true", Some(NoNewPrivileges(true))),
            ("no-new-privileges=1", Some(NoNewPrivileges(true))),
            ("no-new-privileges:True", Some(NoNewPrivileges(true))),
            ("no-new-privileges=false", Some(NoNewPrivileges(false))),
            ("no-new-privileges:0", Some(NoNewPrivileges(false))),
            ("no-new-privileges=yes", None),
            ("no-new-privileges=", None),
            ("no-new-privileges=tRue", None),
            ("No-New-Privileges", None),
            ("disable", Some(Label("disable"))),
            ("label=disable", Some(Label("disable"))),
            ("label:disable", Some(Label("disable"))),
            ("label=type:spc_t", Some(Label("type:spc_t"))),
            ("label:type:spc_t", Some(Label("type:spc_t"))),
            ("seccomp=unconfined", Some(Seccomp("unconfined"))),
            ("seccomp:unconfined", Some(Seccomp("unconfined"))),
            ("seccomp:a=b", Some(Unknown("seccomp:a"))),
            ("apparmor=docker-default", Some(AppArmor("docker-default"))),
            ("apparmor:unconfined", Some(AppArmor("unconfined"))),
            ("writable-cgroups", Some(WritableCgroups(true))),
            ("writable-cgroups=false", Some(WritableCgroups(false))),
            ("systempaths=unconfined", Some(Unknown("systempaths"))),
            ("Label=disable", Some(Unknown("Label"))),
            ("nonsense", None),
            ("", None),
        ];
        for (opt, want) in rows {
            let got = SecurityOpt::parse(opt).ok();
            assert_eq!(&got, want, "{opt:?}");
        }
    }

    #[test]
    fn safe_entries() {
        for (opt, safe) in [
            ("no-new-privileges", true),
            ("no-new-privileges:t", true),
            ("apparmor=docker-default", true),
            ("apparmor:docker-default", true),
            ("no-new-privileges=false", false),
            ("apparmor=unconfined", false),
            ("label:disable", false),
            ("writable-cgroups=false", false),
        ] {
            assert_eq!(SecurityOpt::parse(opt).unwrap().is_safe(), safe, "{opt:?}");
        }
    }
}
