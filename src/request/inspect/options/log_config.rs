//! `HostConfig.LogConfig`: which logging driver the Engine runs for the container, with which
//! options.
//!
//! The drivers `json-file`, `local`, `journald` and `none` only write on the host; every other
//! built-in driver (`syslog`, `gelf`, `fluentd`, `awslogs`, `splunk`, `gcplogs`, `logentries`,
//! `etwlogs`) and every logging plugin makes the Engine connect out from the host, to
//! addresses the options name (`syslog-address=unix:///...`, `tcp://...`), or read host files
//! (`splunk-cacert`). Such a driver needs its exact name in `log_drivers`; the Engine looks
//! drivers up by exact name. An empty `Type` is the daemon's default driver, which may be one
//! of those, so with a local or default driver only options that every local driver reads and
//! that name no address or path pass; anything else needs the driver named explicitly and
//! granted.

use super::super::json::{Object, Value};
use super::super::{Grants, Refusal};

/// Drivers that only write on the host.
pub const LOCAL_DRIVERS: [&str; 4] = ["json-file", "local", "journald", "none"];

/// Options of the local drivers and the Engine's generic ones (`mode`, the dual-logging
/// cache); none names an address or a host path.
const PLAIN_OPTIONS: &[&str] = &[
    "max-size",
    "max-file",
    "compress",
    "labels",
    "labels-regex",
    "env",
    "env-regex",
    "tag",
    "mode",
    "max-buffer-size",
    "cache-disabled",
    "cache-max-size",
    "cache-max-file",
    "cache-compress",
];

/// Judges `LogConfig` at `field`.
pub fn judge(log_config: &Object, field: &str, grants: &Grants) -> Result<(), Refusal> {
    let type_path = format!("{field}.Type");
    let driver = match log_config.field("Type", &type_path)? {
        Some(v) => v.as_str(&type_path)?,
        None => "",
    };
    let granted = grants.read_past || grants.log_drivers.iter().any(|d| d == driver);
    if granted && !driver.is_empty() {
        return Ok(());
    }
    if !(driver.is_empty() || LOCAL_DRIVERS.contains(&driver)) {
        return Err(Refusal::forbidden(
            format!("{type_path} ({driver})"),
            format!("log_drivers including {driver:?}"),
        ));
    }
    let config_path = format!("{field}.Config");
    let Some(config) = log_config.field("Config", &config_path)? else {
        return Ok(());
    };
    for (key, value) in &config.as_object(&config_path)?.members {
        if *value != Value::Null {
            value.as_str(&config_path)?;
        }
        if !PLAIN_OPTIONS.contains(&key.as_str()) {
            let needs = if driver.is_empty() {
                "an explicit LogConfig.Type in log_drivers".to_owned()
            } else {
                format!("log_drivers including {driver:?} (it reads {key:?})")
            };
            return Err(Refusal::forbidden(format!("{config_path} ({key})"), needs));
        }
    }
    Ok(())
}
