//! A `HostConfig.Binds` entry, read with the Engine's Linux parser (`volume/mounts/
//! linux_parser.go`, unchanged in its grammar from Engine 20.10 to 28).
//!
//! `source:target[:mode]`: more than two `:` or an empty first part are refused by the Engine;
//! two parts whose second is a valid mode (`/data:ro`) are refused too. The mode is a `,` list
//! in which every element belongs to one class and each class appears at most once:
//! `rw`/`ro`, `z`/`Z`, a propagation (`private`, `rprivate`, `slave`, `rslave`, `shared`,
//! `rshared`), `nocopy`, a consistency (`consistent`, `cached`, `delegated`). Matching is
//! exact; an empty mode is valid, an empty element is not. An absolute source is a bind mount
//! (read-only exactly when the mode holds `ro`), anything else a named volume.
//!
//! `z` and `Z` make the Engine relabel the source for SELinux, writing to the host tree even
//! when the mount is read-only, so a bind with either needs a read-write grant.

use super::super::host_path::{check_bind, Access};
use super::super::{Grants, Refusal};

/// What a `Binds` entry mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source<'a> {
    /// Only a target: a new anonymous volume.
    Anonymous,
    /// A named volume, created with no options if missing.
    Volume(&'a str),
    /// A host path.
    Host(&'a str),
}

/// A parsed `Binds` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindSpec<'a> {
    pub source: Source<'a>,
    /// The Engine mounts it read-only.
    pub read_only: bool,
    /// `z` or `Z`: the Engine relabels the source.
    pub relabel: bool,
}

/// The mode classes, in the Engine's order.
const CLASSES: [&[&str]; 5] = [
    &["rw", "ro"],
    &["z", "Z"],
    &[
        "private", "rprivate", "slave", "rslave", "shared", "rshared",
    ],
    &["nocopy"],
    &["consistent", "cached", "delegated"],
];

/// The Engine's `linuxValidMountMode`.
pub fn valid_mode(mode: &str) -> bool {
    if mode.is_empty() {
        return true;
    }
    let mut counts = [0usize; 5];
    for element in mode.split(',') {
        match CLASSES.iter().position(|class| class.contains(&element)) {
            Some(class) => counts[class] += 1,
            None => return false,
        }
    }
    counts.iter().all(|&n| n <= 1)
}

impl<'a> BindSpec<'a> {
    /// Parses `raw` as `ParseMountRaw` does, or says why the Engine would refuse it.
    pub fn parse(raw: &'a str) -> Result<BindSpec<'a>, String> {
        if raw.matches(':').count() > 2 {
            return Err("has more than two ':'".into());
        }
        let parts: Vec<&str> = raw.splitn(3, ':').collect();
        if parts[0].is_empty() {
            return Err("has an empty first part".into());
        }
        let (source, mode) = match parts.as_slice() {
            [_] => {
                return Ok(BindSpec {
                    source: Source::Anonymous,
                    read_only: false,
                    relabel: false,
                })
            }
            [_, second] if valid_mode(second) => {
                return Err(format!("has a mode ({second:?}) but no target"))
            }
            [source, _] => (*source, ""),
            [source, _, mode] => (*source, *mode),
            _ => unreachable!("splitn(3) yields at most three parts"),
        };
        if !valid_mode(mode) {
            return Err(format!("has an invalid mode {mode:?}"));
        }
        let source = if source.starts_with('/') {
            Source::Host(source)
        } else {
            Source::Volume(source)
        };
        let has = |word: &str| mode.split(',').any(|m| m == word);
        Ok(BindSpec {
            source,
            read_only: has("ro"),
            relabel: has("z") || has("Z"),
        })
    }
}

/// Judges one `Binds` entry at `field`.
pub fn judge(raw: &str, field: &str, grants: &Grants) -> Result<(), Refusal> {
    let spec = BindSpec::parse(raw)
        .map_err(|why| Refusal::ambiguous(format!("{field}: {raw:?} {why}")))?;
    match spec.source {
        // A `Binds` entry is always an rbind: `:ro` is read-only above submounts at best, and
        // `z`/`Z` relabel the host tree whatever the mode.
        Source::Host(path) => {
            let access = if spec.read_only && !spec.relabel {
                Access::ReadOnlyAboveSubmounts
            } else {
                Access::ReadWrite
            };
            check_bind(path, access, grants, field)
        }
        Source::Anonymous | Source::Volume(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        for (mode, valid) in [
            ("", true),
            ("ro", true),
            ("rw", true),
            ("z,ro", true),
            ("ro,Z,rslave,nocopy,cached", true),
            ("ro,rw", false),
            ("ro,ro", false),
            ("z,Z", false),
            ("shared,slave", false),
            ("RO", false),
            (" ro", false),
            ("ro,", false),
            (",ro", false),
            ("rbind", false),
            ("bind", false),
            ("nocopy,nocopy", false),
        ] {
            assert_eq!(valid_mode(mode), valid, "{mode:?}");
        }
    }

    #[test]
    fn specs() {
        use Source::*;
        /// Source, read-only, relabel; `None` when the Engine refuses the spec.
        type Parsed<'a> = Option<(Source<'a>, bool, bool)>;
        let rows: &[(&str, Parsed)] = &[
            ("/data", Some((Anonymous, false, false))),
            ("vol:/data", Some((Volume("vol"), false, false))),
            ("vol:/data:ro", Some((Volume("vol"), true, false))),
            ("/srv:/data", Some((Host("/srv"), false, false))),
            ("/srv:/data:", Some((Host("/srv"), false, false))),
            ("/srv:/data:ro", Some((Host("/srv"), true, false))),
            ("/srv:/data:rw", Some((Host("/srv"), false, false))),
            ("/srv:/data:z,ro", Some((Host("/srv"), true, true))),
            ("/srv:/data:ro,rshared", Some((Host("/srv"), true, false))),
            ("/srv:/data:ro,rw", None),
            ("/srv:/data:RO", None),
            ("/srv:/data:ro:x", None),
            ("/srv:ro", None),
            ("/srv:", None),
            (":/data", None),
            ("", None),
            ("rel/path:/data", Some((Volume("rel/path"), false, false))),
        ];
        for (raw, want) in rows {
            let got = BindSpec::parse(raw)
                .ok()
                .map(|s| (s.source, s.read_only, s.relabel));
            assert_eq!(&got, want, "{raw:?}");
        }
    }
}
