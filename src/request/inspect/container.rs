//! The HostConfig rules: container create, the legacy HostConfig body of start, update, exec.
//!
//! The Engine's create wrapper embeds a deprecated `*HostConfig` next to `HostConfig`, so API
//! clients can put host fields at the top level of the body (Engine 20.10 and older API
//! versions read them). Every rule is therefore applied to the top-level object as well as to
//! `HostConfig`.

use super::host_path::{check_bind, Access};
use super::json::{self, Object, Value};
use super::options::{bind_spec, device, log_config, security_opt};
use super::volume;
use super::{build_query, Grants, Refusal};
use crate::config::grants::normalize_capability;

/// `POST /containers/create`.
pub fn judge_create(body: &[u8], grants: &Grants) -> Result<(), Refusal> {
    if body.is_empty() {
        return Err(Refusal::ambiguous("container create needs a JSON body"));
    }
    let value = json::parse(body)?;
    super::schema::check_shape(
        super::schema::Shape::ContainerCreate,
        &value,
        grants.read_past,
    )?;
    judge_wrapper(value.as_object("the create body")?, grants)
}

/// The Engine's container-config wrapper, read by create and by legacy start: the container
/// config, `HostConfig`, `NetworkingConfig`, and the deprecated host fields at the top level.
fn judge_wrapper(top: &Object, grants: &Grants) -> Result<(), Refusal> {
    if let Some(host_config) = top.field("HostConfig", "HostConfig")? {
        judge_host_config(host_config.as_object("HostConfig")?, "HostConfig.", grants)?;
    }
    judge_host_config(top, "", grants)?;
    if let Some(networking) = top.field("NetworkingConfig", "NetworkingConfig")? {
        judge_networking(networking.as_object("NetworkingConfig")?, grants)?;
    }
    Ok(())
}

/// `POST /containers/{id}/start`. Before API 1.24 the Engine decodes a start body with the
/// same container-config wrapper as create (a nested `HostConfig`, and host fields at the top
/// level) and applies its host settings; from 1.24 on it refuses a body. The version prefix is
/// the client's to choose, so every body is judged as the older Engines read it. The query's
/// `checkpoint` and `checkpoint-dir` restore the container from a host directory.
pub fn judge_start(query: Option<&str>, body: &[u8], grants: &Grants) -> Result<(), Refusal> {
    if let Some(query) = query {
        for (key, value) in build_query::parse(query)? {
            let restores = key == "checkpoint" || key == "checkpoint-dir";
            if restores && !value.is_empty() && !grants.checkpoints {
                return Err(Refusal::forbidden(
                    format!("query parameter {key}"),
                    "checkpoints = true",
                ));
            }
        }
    }
    if body.is_empty() {
        return Ok(());
    }
    let value = json::parse(body)?;
    super::schema::check_shape(
        super::schema::Shape::ContainerStart,
        &value,
        grants.read_past,
    )?;
    match value {
        Value::Null => Ok(()),
        value => judge_wrapper(value.as_object("the start body")?, grants),
    }
}

/// `POST /containers/{id}/update`: an UpdateConfig embeds Resources.
pub fn judge_update(body: &[u8], grants: &Grants) -> Result<(), Refusal> {
    let value = json::parse(body)?;
    super::schema::check_shape(
        super::schema::Shape::ContainerUpdate,
        &value,
        grants.read_past,
    )?;
    judge_resources(value.as_object("the update body")?, "", grants)
}

/// `POST /containers/{id}/exec`.
pub fn judge_exec(body: &[u8], grants: &Grants) -> Result<(), Refusal> {
    let value = json::parse(body)?;
    super::schema::check_shape(super::schema::Shape::ExecCreate, &value, grants.read_past)?;
    let config = value.as_object("the exec body")?;
    if let Some(v) = config.field("Privileged", "Privileged")? {
        if v.as_bool("Privileged")? && !grants.privileged {
            return Err(Refusal::forbidden("Privileged", "privileged = true"));
        }
    }
    Ok(())
}

/// Every HostConfig rule, on the fields of `config`, naming fields with `prefix`.
fn judge_host_config(config: &Object, prefix: &str, grants: &Grants) -> Result<(), Refusal> {
    let get = |name: &str| -> Result<Option<&Value>, Refusal> {
        config.field(name, &format!("{prefix}{name}"))
    };
    let path = |name: &str| format!("{prefix}{name}");

    if let Some(v) = get("Privileged")? {
        if v.as_bool(&path("Privileged"))? && !grants.privileged {
            return Err(Refusal::forbidden(path("Privileged"), "privileged = true"));
        }
    }
    // Engine 1.13's host binary run as the container's init, and the raw LXC
    // configuration of the oldest Engines: both reach past any grant.
    for name in ["InitPath", "LxcConf"] {
        if let Some(v) = get(name)? {
            if !v.is_zero() && !grants.privileged {
                return Err(Refusal::forbidden(path(name), "privileged = true"));
            }
        }
    }
    // OCI annotations reach the runtime and its hooks, which act on some of them.
    if let Some(v) = get("Annotations")? {
        if !v.is_zero() && !grants.security_opt {
            return Err(Refusal::forbidden(
                path("Annotations"),
                "security_opt = true",
            ));
        }
    }
    if let Some(v) = get("Binds")? {
        for bind in v.as_strings(&path("Binds"))? {
            judge_bind(bind, &path("Binds"), grants)?;
        }
    }
    if let Some(v) = get("Mounts")? {
        for mount in v.as_array(&path("Mounts"))? {
            judge_mount(mount.as_object(&path("Mounts"))?, &path("Mounts"), grants)?;
        }
    }
    if let Some(v) = get("VolumesFrom")? {
        if !v.as_strings(&path("VolumesFrom"))?.is_empty() && !grants.volumes_from {
            return Err(Refusal::forbidden(
                path("VolumesFrom"),
                "volumes_from = true",
            ));
        }
    }
    // Legacy links join another container's network and copy its environment in.
    if let Some(v) = get("Links")? {
        let links = v.as_strings(&path("Links"))?;
        if !links.is_empty() && !grants.container_namespaces.iter().any(|n| n == "links") {
            return Err(Refusal::forbidden(
                format!("{} ({})", path("Links"), links.join(", ")),
                "container_namespaces including \"links\"",
            ));
        }
    }
    for mode in NAMESPACE_MODES {
        if let Some(v) = get(mode.field)? {
            let field = path(mode.field);
            judge_namespace(mode, v.as_str(&field)?, &field, grants)?;
        }
    }
    if let Some(v) = get("CapAdd")? {
        for cap in v.as_str_slice(&path("CapAdd"))? {
            let name = normalize_capability(cap);
            if !grants.capability(&name) {
                return Err(Refusal::forbidden(
                    format!("{} ({name})", path("CapAdd")),
                    format!("capabilities including {name:?}"),
                ));
            }
        }
    }
    // API 1.40's `Capabilities` replaces the default set: anything beyond
    // Docker's defaults in it is an addition like `CapAdd`.
    if let Some(v) = get("Capabilities")? {
        for cap in v.as_str_slice(&path("Capabilities"))? {
            let name = normalize_capability(cap);
            if !DEFAULT_CAPABILITIES.contains(&name.as_str()) && !grants.capability(&name) {
                return Err(Refusal::forbidden(
                    format!("{} ({name})", path("Capabilities")),
                    format!("capabilities including {name:?}"),
                ));
            }
        }
    }
    if let Some(v) = get("SecurityOpt")? {
        for opt in v.as_strings(&path("SecurityOpt"))? {
            security_opt::judge(opt, &path("SecurityOpt"), grants)?;
        }
    }
    // An explicit list replaces the Engine's defaults, so any list can unmask /proc paths.
    for name in ["MaskedPaths", "ReadonlyPaths"] {
        if let Some(v) = get(name)? {
            v.as_strings(&path(name))?;
            if !grants.security_opt {
                return Err(Refusal::forbidden(path(name), "security_opt = true"));
            }
        }
    }
    if let Some(v) = get("Sysctls")? {
        let sysctls = v.as_object(&path("Sysctls"))?;
        for (key, value) in &sysctls.members {
            if *value != Value::Null {
                value.as_str(&path("Sysctls"))?;
            }
            // runc accepts both `net.ipv4.x` and `net/ipv4/x`.
            let name = key.replace('/', ".");
            if !grants.sysctls.matches(&name) {
                return Err(Refusal::forbidden(
                    format!("{} ({name})", path("Sysctls")),
                    format!("sysctls matching {name:?}"),
                ));
            }
        }
    }
    if let Some(v) = get("Runtime")? {
        let runtime = v.as_str(&path("Runtime"))?;
        let default = runtime.is_empty() || runtime == "runc";
        if !default && !grants.read_past && !grants.runtimes.iter().any(|r| r == runtime) {
            return Err(Refusal::forbidden(
                format!("{} ({runtime})", path("Runtime")),
                format!("runtimes including {runtime:?}"),
            ));
        }
    }
    if let Some(v) = get("LogConfig")? {
        log_config::judge(v.as_object(&path("LogConfig"))?, &path("LogConfig"), grants)?;
    }
    judge_resources(config, prefix, grants)
}

/// The Resources fields that reach the host: devices and the cgroup parent.
fn judge_resources(config: &Object, prefix: &str, grants: &Grants) -> Result<(), Refusal> {
    let path = |name: &str| format!("{prefix}{name}");
    if let Some(v) = config.field("Devices", &path("Devices"))? {
        for entry in v.as_array(&path("Devices"))? {
            device::judge(entry.as_object(&path("Devices"))?, &path("Devices"), grants)?;
        }
    }
    if let Some(v) = config.field("DeviceRequests", &path("DeviceRequests"))? {
        if !v.as_array(&path("DeviceRequests"))?.is_empty() && !grants.device_requests {
            return Err(Refusal::forbidden(
                path("DeviceRequests"),
                "device_requests = true",
            ));
        }
    }
    if let Some(v) = config.field("DeviceCgroupRules", &path("DeviceCgroupRules"))? {
        let rules = v.as_strings(&path("DeviceCgroupRules"))?;
        if !rules.is_empty() && !grants.device_cgroup_rules {
            return Err(Refusal::forbidden(
                path("DeviceCgroupRules"),
                "device_cgroup_rules = true",
            ));
        }
    }
    if let Some(v) = config.field("CgroupParent", &path("CgroupParent"))? {
        if !v.as_str(&path("CgroupParent"))?.is_empty() && !grants.cgroup_parent {
            return Err(Refusal::forbidden(
                path("CgroupParent"),
                "cgroup_parent = true",
            ));
        }
    }
    Ok(())
}

/// A `Binds` entry, read with the Engine's Linux parser grammar.
fn judge_bind(bind: &str, field: &str, grants: &Grants) -> Result<(), Refusal> {
    bind_spec::judge(bind, field, grants)
}

/// A `Mounts` entry.
fn judge_mount(mount: &Object, field: &str, grants: &Grants) -> Result<(), Refusal> {
    let text = |name: &str| -> Result<&str, Refusal> {
        let path = format!("{field}.{name}");
        Ok(match mount.field(name, &path)? {
            Some(v) => v.as_str(&path)?,
            None => "",
        })
    };
    match text("Type")? {
        "bind" => {
            let flag = |object: &Object, name: &str, path: &str| -> Result<bool, Refusal> {
                match object.field(name, &format!("{path}.{name}"))? {
                    Some(v) => v.as_bool(&format!("{path}.{name}")),
                    None => Ok(false),
                }
            };
            let options_path = format!("{field}.BindOptions");
            let (writes_host, non_recursive, read_only_non_recursive) =
                match mount.field("BindOptions", &options_path)? {
                    Some(Value::Null) | None => (false, false, false),
                    Some(v) => {
                        let options = v.as_object(&options_path)?;
                        (
                            // The Engine creates a missing source on the host.
                            flag(options, "CreateMountpoint", &options_path)?,
                            // Mounts below the source do not appear in the container.
                            flag(options, "NonRecursive", &options_path)?,
                            // Submounts of the source stay writable.
                            flag(options, "ReadOnlyNonRecursive", &options_path)?,
                        )
                    }
                };
            // `ReadOnlyForceRecursive` is not trusted: Engines before 25.0 ignore it.
            let access = if !flag(mount, "ReadOnly", field)? || writes_host {
                Access::ReadWrite
            } else if non_recursive {
                Access::ReadOnly
            } else if read_only_non_recursive {
                Access::ReadWrite
            } else {
                Access::ReadOnlyAboveSubmounts
            };
            check_bind(text("Source")?, access, grants, &format!("{field}.Source"))
        }
        "volume" => match mount.field("VolumeOptions", &format!("{field}.VolumeOptions"))? {
            Some(v) => volume::judge_mount_options(
                v.as_object(&format!("{field}.VolumeOptions"))?,
                &format!("{field}.VolumeOptions"),
                grants,
            ),
            None => Ok(()),
        },
        "tmpfs" | "npipe" | "cluster" | "image" => Ok(()),
        other => Err(Refusal::ambiguous(format!(
            "{field}.Type {other:?} is not a mount type the inspector knows"
        ))),
    }
}

/// A HostConfig field that can put the container in a host namespace or another container's.
struct NamespaceMode {
    field: &'static str,
    /// Key in `host_namespaces` granting `host`.
    host: &'static str,
    /// Key in `container_namespaces` granting `container:<id>`, if the mode supports it.
    container: Option<&'static str>,
}

const NAMESPACE_MODES: &[NamespaceMode] = &[
    NamespaceMode {
        field: "NetworkMode",
        host: "network",
        container: Some("network"),
    },
    NamespaceMode {
        field: "PidMode",
        host: "pid",
        container: Some("pid"),
    },
    NamespaceMode {
        field: "IpcMode",
        host: "ipc",
        container: Some("ipc"),
    },
    NamespaceMode {
        field: "UTSMode",
        host: "uts",
        container: Some("uts"),
    },
    NamespaceMode {
        field: "UsernsMode",
        host: "userns",
        container: None,
    },
    NamespaceMode {
        field: "CgroupnsMode",
        host: "cgroupns",
        container: None,
    },
    NamespaceMode {
        field: "Cgroup",
        host: "cgroupns",
        container: Some("cgroup"),
    },
];

/// The Engine compares these values exactly; comparing without case refuses a few more
/// (harmless) network names but never lets a host mode through.
fn judge_namespace(
    mode: &NamespaceMode,
    value: &str,
    field: &str,
    grants: &Grants,
) -> Result<(), Refusal> {
    let lower = value.to_ascii_lowercase();
    if lower == "host" {
        if grants.host_namespaces.iter().any(|n| n == mode.host) {
            return Ok(());
        }
        return Err(Refusal::forbidden(
            format!("{field} ({value})"),
            format!("host_namespaces including {:?}", mode.host),
        ));
    }
    if lower.starts_with("container:") {
        let Some(key) = mode.container else {
            return Err(Refusal::ambiguous(format!(
                "{field} {value:?} is not a mode the Engine supports"
            )));
        };
        if grants.container_namespaces.iter().any(|n| n == key) {
            return Ok(());
        }
        return Err(Refusal::forbidden(
            format!("{field} ({value})"),
            format!("container_namespaces including {key:?}"),
        ));
    }
    Ok(())
}

/// `NetworkingConfig.EndpointsConfig` keyed by the `host` network.
fn judge_networking(networking: &Object, grants: &Grants) -> Result<(), Refusal> {
    let field = "NetworkingConfig.EndpointsConfig";
    let Some(endpoints) = networking.field("EndpointsConfig", field)? else {
        return Ok(());
    };
    for (name, settings) in &endpoints.as_object(field)?.members {
        if name.eq_ignore_ascii_case("host")
            && !grants.host_namespaces.iter().any(|n| n == "network")
        {
            return Err(Refusal::forbidden(
                format!("{field} (host)"),
                "host_namespaces including \"network\"",
            ));
        }
        if *settings == Value::Null {
            continue;
        }
        let path = format!("{field}.{name}.DriverOpts");
        let settings = settings.as_object(&format!("{field}.{name}"))?;
        if let Some(Value::Object(opts)) = settings.field("DriverOpts", &path)? {
            judge_endpoint_sysctls(opts, &path, grants)?;
        }
    }
    Ok(())
}

/// Engine 25 and later set per-interface sysctls from an endpoint driver option, a
/// comma-separated list of `name=value`; each needs the `sysctls` grant like `Sysctls` does.
fn judge_endpoint_sysctls(opts: &Object, field: &str, grants: &Grants) -> Result<(), Refusal> {
    const KEY: &str = "com.docker.network.endpoint.sysctls";
    let Some(value) = opts.entry(KEY, &format!("{field}.{KEY}"))? else {
        return Ok(());
    };
    if *value == Value::Null {
        return Ok(());
    }
    for setting in value.as_str(&format!("{field}.{KEY}"))?.split(',') {
        let name = setting.split_once('=').map_or(setting, |(n, _)| n).trim();
        if name.is_empty() {
            continue;
        }
        let name = name.replace('/', ".");
        if !grants.sysctls.matches(&name) {
            return Err(Refusal::forbidden(
                format!("{field}.{KEY} ({name})"),
                format!("sysctls matching {name:?}"),
            ));
        }
    }
    Ok(())
}

/// The capabilities every Docker container gets by default (moby's
/// `oci/caps` default set), in `normalize_capability` form.
const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];
