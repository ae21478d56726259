//! The `o` option of a local volume, split into mount(2) flags and filesystem data exactly as
//! the Engine does before calling mount(2).
//!
//! The local driver hands `o` to `github.com/moby/sys/mount`'s `parseOptions` (the same table
//! from Engine 20.10 to 28): the string is split on every `,` with nothing trimmed; an element
//! that is a key of the flag table with a non-zero flag sets or clears that flag, in order, so
//! the last of `ro`/`rw` wins; everything else (`BIND`, ` bind`, `defaults`, empty elements,
//! `lowerdir=...`) is passed to the filesystem as data. Matching is case-sensitive.

/// Linux mount(2) flags, as in `<linux/mount.h>`.
pub const MS_RDONLY: u64 = 1;
const MS_NOSUID: u64 = 2;
const MS_NODEV: u64 = 4;
const MS_NOEXEC: u64 = 8;
const MS_SYNCHRONOUS: u64 = 16;
pub const MS_REMOUNT: u64 = 32;
const MS_MANDLOCK: u64 = 64;
const MS_DIRSYNC: u64 = 128;
const MS_NOATIME: u64 = 1024;
const MS_NODIRATIME: u64 = 2048;
pub const MS_BIND: u64 = 4096;
pub const MS_REC: u64 = 16384;
const MS_UNBINDABLE: u64 = 1 << 17;
const MS_PRIVATE: u64 = 1 << 18;
const MS_SLAVE: u64 = 1 << 19;
const MS_SHARED: u64 = 1 << 20;
const MS_RELATIME: u64 = 1 << 21;
const MS_STRICTATIME: u64 = 1 << 24;

/// moby/sys/mount's flag table: name, whether it clears, the flag. `defaults` has flag 0 and
/// therefore ends up in the data, as in the Engine.
const FLAGS: &[(&str, bool, u64)] = &[
    ("defaults", false, 0),
    ("ro", false, MS_RDONLY),
    ("rw", true, MS_RDONLY),
    ("suid", true, MS_NOSUID),
    ("nosuid", false, MS_NOSUID),
    ("dev", true, MS_NODEV),
    ("nodev", false, MS_NODEV),
    ("exec", true, MS_NOEXEC),
    ("noexec", false, MS_NOEXEC),
    ("sync", false, MS_SYNCHRONOUS),
    ("async", true, MS_SYNCHRONOUS),
    ("dirsync", false, MS_DIRSYNC),
    ("remount", false, MS_REMOUNT),
    ("mand", false, MS_MANDLOCK),
    ("nomand", true, MS_MANDLOCK),
    ("atime", true, MS_NOATIME),
    ("noatime", false, MS_NOATIME),
    ("diratime", true, MS_NODIRATIME),
    ("nodiratime", false, MS_NODIRATIME),
    ("bind", false, MS_BIND),
    ("rbind", false, MS_BIND | MS_REC),
    ("unbindable", false, MS_UNBINDABLE),
    ("runbindable", false, MS_UNBINDABLE | MS_REC),
    ("private", false, MS_PRIVATE),
    ("rprivate", false, MS_PRIVATE | MS_REC),
    ("shared", false, MS_SHARED),
    ("rshared", false, MS_SHARED | MS_REC),
    ("slave", false, MS_SLAVE),
    ("rslave", false, MS_SLAVE | MS_REC),
    ("relatime", false, MS_RELATIME),
    ("norelatime", true, MS_RELATIME),
    ("strictatime", false, MS_STRICTATIME),
    ("nostrictatime", true, MS_STRICTATIME),
];

/// `o` as mount(2) receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions<'a> {
    /// The flags after every element was applied in order.
    pub flags: u64,
    /// The elements passed to the filesystem, in order (joined with `,` by the Engine).
    pub data: Vec<&'a str>,
}

impl<'a> MountOptions<'a> {
    /// Splits `o` as `parseOptions` does. It cannot fail: anything not a flag is data.
    pub fn parse(o: &'a str) -> MountOptions<'a> {
        let mut flags = 0;
        let mut data = Vec::new();
        for element in o.split(',') {
            match FLAGS
                .iter()
                .find(|(name, _, flag)| *name == element && *flag != 0)
            {
                Some((_, true, flag)) => flags &= !flag,
                Some((_, false, flag)) => flags |= flag,
                None => data.push(element),
            }
        }
        MountOptions { flags, data }
    }

    /// The kernel takes the bind path: `device` is a host path mounted on the volume. A
    /// remount takes precedence over a bind in the kernel's `do_mount`.
    pub fn bind(&self) -> bool {
        self.flags & MS_BIND != 0 && !self.remount()
    }

    /// The bind takes the mounts below `device` along (`rbind`).
    pub fn recursive(&self) -> bool {
        self.flags & MS_REC != 0
    }

    /// The kernel changes the flags of the volume's own mount point; `device` is ignored.
    pub fn remount(&self) -> bool {
        self.flags & MS_REMOUNT != 0
    }

    /// The result is read-only: for a bind, moby remounts it read-only when both `MS_BIND` and
    /// `MS_RDONLY` survive; for a new mount, `MS_RDONLY` is applied directly.
    pub fn read_only(&self) -> bool {
        self.flags & MS_RDONLY != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_as_the_engine_does() {
        // (o, bind, read-only, remount, data)
        let rows: &[(&str, bool, bool, bool, &[&str])] = &[
            ("", false, false, false, &[""]),
            ("bind", true, false, false, &[]),
            ("rbind", true, false, false, &[]),
            ("bind,ro", true, true, false, &[]),
            ("ro,bind", true, true, false, &[]),
            ("bind,ro,rw", true, false, false, &[]),
            ("bind,rw,ro", true, true, false, &[]),
            ("bind,ro,ro", true, true, false, &[]),
            ("bind,,ro", true, true, false, &[""]),
            ("BIND", false, false, false, &["BIND"]),
            ("Bind,RO", false, false, false, &["Bind", "RO"]),
            (" bind", false, false, false, &[" bind"]),
            ("bind ", false, false, false, &["bind "]),
            ("bind,defaults", true, false, false, &["defaults"]),
            ("remount,bind,ro", false, true, true, &[]),
            ("rbind,rslave,nosuid", true, false, false, &[]),
            (
                "size=10m,uid=1000",
                false,
                false,
                false,
                &["size=10m", "uid=1000"],
            ),
            (
                "lowerdir=/a:/b,upperdir=/u",
                false,
                false,
                false,
                &["lowerdir=/a:/b", "upperdir=/u"],
            ),
            ("ro,rw,ro", false, true, false, &[]),
        ];
        for (o, bind, ro, remount, data) in rows {
            let parsed = MountOptions::parse(o);
            assert_eq!(parsed.bind(), *bind, "{o:?} bind");
            assert_eq!(parsed.read_only(), *ro, "{o:?} read-only");
            assert_eq!(parsed.remount(), *remount, "{o:?} remount");
            assert_eq!(parsed.data, *data, "{o:?} data");
        }
    }
}
