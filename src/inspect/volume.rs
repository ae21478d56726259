//! Volumes whose local-driver options mount host paths or devices: `POST /volumes/create`,
//! and volume `Mounts` that create their volume on the fly.
//!
//! The `local` driver passes `type`, `device` and `o` to mount(2). `o=bind` (or `rbind`) makes
//! `device` a host path bind-mounted into the volume; an absolute `device` otherwise names a
//! block device; other combinations (nfs, overlay with `lowerdir=/...`) need
//! `volume_mount_options`. tmpfs volumes carry no host path and pass.

use super::host_path::{check_bind, check_device};
use super::json::{self, Object, Value};
use super::{Grants, Refusal};

/// `POST /volumes/create`.
pub fn judge_create(body: &[u8], grants: &Grants) -> Result<(), Refusal> {
    let value = json::parse(body)?;
    super::schema::check_known(super::schema::Shape::VolumeCreate, &value)?;
    let config = value.as_object("the volume create body")?;
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
    let option = |key: &str| -> Result<&str, Refusal> {
        let path = format!("{field}.{key}");
        Ok(match opts.entry(key, &path)? {
            None | Some(Value::Null) => "",
            Some(v) => v.as_str(&path)?,
        })
    };
    let (kind, device, o) = (option("type")?, option("device")?, option("o")?);
    if kind.is_empty() && device.is_empty() && o.is_empty() {
        return Ok(());
    }
    let flags: Vec<String> = o
        .split(',')
        .map(|f| f.trim().to_ascii_lowercase())
        .collect();
    let has = |flag: &str| flags.iter().any(|f| f == flag);
    if has("bind") || has("rbind") {
        return check_bind(device, has("ro"), grants, &format!("{field}.device"));
    }
    let paths_in_o = o.contains('/');
    if kind == "tmpfs" && !paths_in_o {
        return Ok(());
    }
    if device.starts_with('/') && !paths_in_o {
        return check_device(device, grants, &format!("{field}.device"));
    }
    if grants.volume_mount_options {
        return Ok(());
    }
    Err(Refusal::forbidden(
        format!("{field} (type={kind:?} device={device:?} o={o:?})"),
        "volume_mount_options = true",
    ))
}
