//! Volumes whose local-driver options mount host paths, devices or filesystems:
//! `POST /volumes/create`, and volume `Mounts` that create their volume on the fly.
//!
//! The local driver (Engine `volume/local/local_unix.go`) accepts exactly the keys `type`,
//! `o`, `device` and `size` (any other key, in any case, is refused by the Engine and here);
//! `device` and `type` need each other and `o` needs both. It then calls
//! `mount(device, volume, type, flags, data)` with `o` split by [`MountOptions`]. What the
//! kernel does with that call decides the grant:
//! - `MS_REMOUNT` (`remount`): the volume's own mount changes flags; needs
//!   `volume_mount_options`.
//! - `MS_BIND` (`bind`, `rbind`): `device` is a host path bind-mounted on the volume; `type` and
//!   the data are ignored. Judged like any bind mount, read-only only when `ro` is the last word
//!   on `MS_RDONLY` (the Engine then remounts the bind read-only).
//! - Otherwise a new mount of filesystem `type`, which must be granted (`tmpfs` always is,
//!   `volume_types` names others exactly, as the kernel matches them, `volume_mount_options`
//!   allows any). Unless the type is one whose kernel driver reads `device` as a name (nfs,
//!   overlay, proc...), `device` is a block device checked against `devices`. Data options that
//!   name host paths (overlay's `lowerdir`, `upperdir`, `workdir`; `journal_path`, `logdev`,
//!   `rtdev`, btrfs's `device`) need the bind or device grant for every path; any other data
//!   option containing a `/` needs `volume_mount_options`.

use super::host_path::{check_bind, check_device, Access};
use super::json::{self, Object, Value};
use super::options::mount_flags::MountOptions;
use super::{Grants, Refusal};

/// The keys the local driver accepts; the Engine refuses any other.
const KEYS: [&str; 4] = ["type", "o", "device", "size"];

/// Filesystems whose kernel driver never looks `device` up as a path: it is a remote name
/// (`host:/export`, `//server/share`) or ignored.
const DEVICE_IS_A_NAME: &[&str] = &[
    "tmpfs",
    "ramfs",
    "overlay",
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "proc",
    "sysfs",
    "devpts",
    "mqueue",
    "cgroup",
    "cgroup2",
    "hugetlbfs",
    "bpf",
    "tracefs",
    "debugfs",
    "securityfs",
    "configfs",
    "pstore",
    "efivarfs",
    "binfmt_misc",
    "fusectl",
];

/// A data option naming host paths, and how the kernel uses them.
enum PathUse {
    /// Directories only read (overlay lower layers): a read-only bind grant suffices.
    ReadOnlyDirs,
    /// Directories written (overlay upper and work directories).
    WritableDir,
    /// A block device (external journal, log or realtime device, extra btrfs device).
    Device,
}

/// Data options whose value the kernel resolves as a host path.
const PATH_OPTIONS: &[(&str, PathUse)] = &[
    ("lowerdir", PathUse::ReadOnlyDirs),
    ("lowerdir+", PathUse::ReadOnlyDirs),
    ("datadir+", PathUse::ReadOnlyDirs),
    ("upperdir", PathUse::WritableDir),
    ("workdir", PathUse::WritableDir),
    ("journal_path", PathUse::Device),
    ("logdev", PathUse::Device),
    ("rtdev", PathUse::Device),
    ("device", PathUse::Device),
];

/// `POST /volumes/create`.
pub fn judge_create(body: &[u8], grants: &Grants) -> Result<(), Refusal> {
    let value = json::parse(body)?;
    super::schema::check_shape(super::schema::Shape::VolumeCreate, &value, grants.read_past)?;
    let config = value.as_object("the volume create body")?;
    // A cluster volume is a swarm CSI volume, mounted on whichever nodes the cluster picks.
    if let Some(spec) = config.field("ClusterVolumeSpec", "ClusterVolumeSpec")? {
        if !spec.is_zero() && !grants.swarm {
            return Err(Refusal::forbidden("ClusterVolumeSpec", "swarm = true"));
        }
    }
    let driver = match config.field("Driver", "Driver")? {
        Some(v) => v.as_str("Driver")?,
        None => "",
    };
    match config.field("DriverOpts", "DriverOpts")? {
        Some(opts) => {
            check_local_options(driver, opts.as_object("DriverOpts")?, "DriverOpts", grants)
        }
        None => Ok(()),
    }
}

/// The `VolumeOptions` of a volume `Mounts` entry at `field`: its `DriverConfig` creates the
/// volume with these options if it does not exist yet.
pub fn judge_mount_options(options: &Object, field: &str, grants: &Grants) -> Result<(), Refusal> {
    let driver_path = format!("{field}.DriverConfig");
    let Some(driver) = options.field("DriverConfig", &driver_path)? else {
        return Ok(());
    };
    let driver = driver.as_object(&driver_path)?;
    let name = match driver.field("Name", &format!("{driver_path}.Name"))? {
        Some(v) => v.as_str(&format!("{driver_path}.Name"))?,
        None => "",
    };
    let opts_path = format!("{driver_path}.Options");
    match driver.field("Options", &opts_path)? {
        Some(opts) => check_local_options(name, opts.as_object(&opts_path)?, &opts_path, grants),
        None => Ok(()),
    }
}

/// Judges the options of a volume driven by `driver`; only the local driver mounts them.
pub fn check_local_options(
    driver: &str,
    opts: &Object,
    field: &str,
    grants: &Grants,
) -> Result<(), Refusal> {
    if !(driver.is_empty() || driver == "local") {
        return Ok(());
    }
    for (key, _) in &opts.members {
        if !KEYS.contains(&key.as_str()) {
            return Err(Refusal::ambiguous(format!(
                "{field}: {key:?} is not a local volume option (the Engine accepts only type, o, device and size)"
            )));
        }
    }
    // A Go map keeps a null value as "", present.
    let option = |key: &str| -> Result<Option<&str>, Refusal> {
        let path = format!("{field}.{key}");
        Ok(match opts.entry(key, &path)? {
            None => None,
            Some(Value::Null) => Some(""),
            Some(v) => Some(v.as_str(&path)?),
        })
    };
    let (kind, device, o) = (option("type")?, option("device")?, option("o")?);
    option("size")?;
    let has = |key: &str| opts.members.iter().any(|(k, _)| k == key);
    for (key, needs) in [
        ("device", &["type"][..]),
        ("type", &["device"][..]),
        ("o", &["device", "type"][..]),
    ] {
        if let Some(missing) = needs.iter().find(|n| has(key) && !has(n)) {
            return Err(Refusal::ambiguous(format!(
                "{field}: {key:?} without {missing:?} (the Engine refuses it)"
            )));
        }
    }
    let (kind, device, o) = (kind.unwrap_or(""), device.unwrap_or(""), o.unwrap_or(""));
    // The Engine mounts only when `device` or `type` is set, and fails without `device`.
    if device.is_empty() {
        return Ok(());
    }
    let parsed = MountOptions::parse(o);
    if parsed.remount() {
        if grants.volume_mount_options {
            return Ok(());
        }
        return Err(Refusal::forbidden(
            format!("{field}.o (remount)"),
            "volume_mount_options = true",
        ));
    }
    if parsed.bind() {
        // moby remounts a read-only bind's top only: with `rbind`, mounts below stay writable.
        let access = match (parsed.read_only(), parsed.recursive()) {
            (false, _) => Access::ReadWrite,
            (true, false) => Access::ReadOnly,
            (true, true) => Access::ReadOnlyAboveSubmounts,
        };
        return check_bind(device, access, grants, &format!("{field}.device"));
    }
    let type_granted = kind == "tmpfs"
        || grants.volume_mount_options
        || grants.volume_types.iter().any(|t| t == kind);
    if !type_granted {
        return Err(Refusal::forbidden(
            format!("{field}.type ({kind})"),
            format!("volume_types including {kind:?}"),
        ));
    }
    if !DEVICE_IS_A_NAME.contains(&kind) {
        check_device(device, grants, &format!("{field}.device"))?;
    }
    for element in &parsed.data {
        check_data(element, field, grants)?;
    }
    Ok(())
}

/// One data element of `o` for a new mount.
fn check_data(element: &str, field: &str, grants: &Grants) -> Result<(), Refusal> {
    let path = format!("{field}.o");
    let (key, value) = element.split_once('=').unwrap_or((element, ""));
    let Some((_, using)) = PATH_OPTIONS.iter().find(|(name, _)| *name == key) else {
        if element.contains('/') && !grants.volume_mount_options {
            return Err(Refusal::forbidden(
                format!("{path} ({element})"),
                "volume_mount_options = true",
            ));
        }
        return Ok(());
    };
    match using {
        PathUse::Device => check_device(value, grants, &format!("{path} ({key})")),
        PathUse::WritableDir => {
            check_bind(value, Access::ReadWrite, grants, &format!("{path} ({key})"))
        }
        PathUse::ReadOnlyDirs => {
            // overlayfs escapes ':' in a layer with '\'; rather than unescape, refuse.
            if value.contains('\\') {
                return Err(Refusal::ambiguous(format!(
                    "{path}: {key} {value:?} contains '\\'"
                )));
            }
            // `::` separates data-only layers, so empty layers are skipped.
            for layer in value.split(':').filter(|l| !l.is_empty()) {
                check_bind(layer, Access::ReadOnly, grants, &format!("{path} ({key})"))?;
            }
            if value.split(':').all(str::is_empty) {
                return Err(Refusal::ambiguous(format!("{path}: {key} names no layer")));
            }
            Ok(())
        }
    }
}
