//! The objects a request body names, and the body rewritten to name them
//! by full ID and to carry the tenant's label.
//!
//! Bodies are read with the inspector's Go-compatible reader, so a field is
//! found under every spelling the Engine accepts, and a body in which two
//! keys fold to a field read here is refused. The rewritten body keeps every
//! other member exactly as sent.

use crate::request::inspect::json::{self, fold, Object, Value};
use crate::request::inspect::options::bind_spec::{BindSpec, Source};

use super::{Kind, Lookup, Role, Scope, TenantRefusal, LABEL};

/// Network modes that name no network object.
const BUILTIN_NETWORKS: [&str; 5] = ["", "default", "bridge", "host", "none"];

/// Whether a network mode names no network object.
pub fn is_builtin_network(mode: &str) -> bool {
    BUILTIN_NETWORKS.contains(&mode)
}

/// The host settings that may join another container: `container:<ref>`.
const CONTAINER_MODES: [&str; 3] = ["PidMode", "IpcMode", "Cgroup"];

fn unreadable(what: impl Into<String>) -> TenantRefusal {
    TenantRefusal::Unreadable(what.into())
}

fn parse(bytes: &[u8]) -> Result<Value, TenantRefusal> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Object::default()));
    }
    json::parse(bytes).map_err(|e| unreadable(e.to_string()))
}

/// The index of the one member that folds to `name`, refusing two.
fn member(object: &Object, name: &str) -> Result<Option<usize>, TenantRefusal> {
    let wanted = fold(name);
    let mut found = None;
    for (i, (key, value)) in object.members.iter().enumerate() {
        if fold(key) == wanted {
            if found.is_some() {
                return Err(unreadable(format!(
                    "{name} is given more than once (keys match case-insensitively)"
                )));
            }
            if *value != Value::Null {
                found = Some(i);
            }
        }
    }
    Ok(found)
}

/// Calls `visit` for each object reference in `object` (and, for a
/// container config, in its nested `HostConfig` and `NetworkingConfig`),
/// with a mutable slot to rewrite it in.
fn walk(
    scope: Scope,
    top: &mut Object,
    visit: &mut dyn FnMut(Slot<'_>) -> Result<(), TenantRefusal>,
) -> Result<(), TenantRefusal> {
    match scope {
        Scope::ContainerCreate | Scope::ContainerStart => {
            if let Some(i) = member(top, "HostConfig")? {
                match &mut top.members[i].1 {
                    Value::Object(host) => walk_host(host, "HostConfig.", visit)?,
                    _ => return Err(unreadable("HostConfig is not an object")),
                }
            }
            walk_host(top, "", visit)?;
            if let Some(i) = member(top, "NetworkingConfig")? {
                let Value::Object(networking) = &mut top.members[i].1 else {
                    return Err(unreadable("NetworkingConfig is not an object"));
                };
                if let Some(j) = member(networking, "EndpointsConfig")? {
                    let Value::Object(endpoints) = &mut networking.members[j].1 else {
                        return Err(unreadable(
                            "NetworkingConfig.EndpointsConfig is not an object",
                        ));
                    };
                    for (key, endpoint) in &mut endpoints.members {
                        if !BUILTIN_NETWORKS.contains(&key.as_str()) {
                            visit(Slot {
                                kind: Kind::Network,
                                field: "NetworkingConfig.EndpointsConfig",
                                text: key,
                                form: Form::Whole,
                            })?;
                        }
                        endpoint_links(endpoint, "NetworkingConfig.EndpointsConfig.Links", visit)?;
                    }
                }
            }
        }
        Scope::NetworkMember => {
            if let Some(i) = member(top, "Container")? {
                let Value::String(text) = &mut top.members[i].1 else {
                    return Err(unreadable("Container is not a string"));
                };
                visit(Slot {
                    kind: Kind::Container,
                    field: "Container",
                    text,
                    form: Form::Whole,
                })?;
            }
            if let Some(i) = member(top, "EndpointConfig")? {
                endpoint_links(&mut top.members[i].1, "EndpointConfig.Links", visit)?;
            }
        }
        Scope::Creates(Kind::Volume) => {
            if let Some(i) = member(top, "Name")? {
                let Value::String(text) = &mut top.members[i].1 else {
                    return Err(unreadable("Name is not a string"));
                };
                // An empty name is the Engine's to choose.
                if !text.is_empty() {
                    visit(Slot {
                        kind: Kind::Volume,
                        field: "Name",
                        text,
                        form: Form::NewName,
                    })?;
                }
            }
        }
        Scope::Creates(Kind::Network) => {
            if let Some(i) = member(top, "ConfigFrom")? {
                let Value::Object(from) = &mut top.members[i].1 else {
                    return Err(unreadable("ConfigFrom is not an object"));
                };
                if let Some(j) = member(from, "Network")? {
                    let Value::String(text) = &mut from.members[j].1 else {
                        return Err(unreadable("ConfigFrom.Network is not a string"));
                    };
                    visit(Slot {
                        kind: Kind::Network,
                        field: "ConfigFrom.Network",
                        text,
                        form: Form::Whole,
                    })?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// The `Links` of an endpoint's settings: containers on the same network
/// that the new one reaches under an alias.
fn endpoint_links(
    endpoint: &mut Value,
    field: &'static str,
    visit: &mut dyn FnMut(Slot<'_>) -> Result<(), TenantRefusal>,
) -> Result<(), TenantRefusal> {
    let Value::Object(endpoint) = endpoint else {
        return match endpoint {
            Value::Null => Ok(()),
            _ => Err(unreadable(format!(
                "{field}: the endpoint is not an object"
            ))),
        };
    };
    containers(endpoint, "Links", field, Form::Link, visit)
}

/// Visits each container named in the string list `name` of `object`
/// (`field` names it in messages).
fn containers(
    object: &mut Object,
    name: &str,
    field: &'static str,
    form: Form,
    visit: &mut dyn FnMut(Slot<'_>) -> Result<(), TenantRefusal>,
) -> Result<(), TenantRefusal> {
    let Some(i) = member(object, name)? else {
        return Ok(());
    };
    let Value::Array(items) = &mut object.members[i].1 else {
        return Err(unreadable(format!("{field} is not an array")));
    };
    for item in items {
        let Value::String(text) = item else {
            return Err(unreadable(format!("{field} holds a non-string")));
        };
        visit(Slot {
            kind: Kind::Container,
            field,
            text,
            form,
        })?;
    }
    Ok(())
}

/// How a reference sits in its string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// The whole string.
    Whole,
    /// After `container:`.
    ContainerMode,
    /// `ref[:mode]` of `VolumesFrom`.
    VolumesFrom,
    /// `ref[:alias]` of `Links`.
    Link,
    /// A named volume's name (never rewritten: the name is its ID).
    Volume,
    /// A named volume the Engine would create with a driver or options of
    /// the client's choosing if it were missing.
    VolumeWithOptions,
    /// The name a create gives a volume: the Engine answers with the
    /// volume already under that name, which must then be the tenant's.
    NewName,
}

/// One reference in a body, and the string it sits in.
struct Slot<'a> {
    kind: Kind,
    field: &'static str,
    text: &'a mut String,
    form: Form,
}

impl Slot<'_> {
    /// The reference as the Engine reads it.
    fn reference(&self) -> String {
        match self.form {
            Form::Whole | Form::Volume | Form::VolumeWithOptions | Form::NewName => {
                self.text.clone()
            }
            Form::ContainerMode => self.text["container:".len()..].to_owned(),
            Form::VolumesFrom => self.text.split(':').next().unwrap_or("").to_owned(),
            Form::Link => self.text.split(':').next().unwrap_or("").to_owned(),
        }
    }

    /// Names the object by `id` instead, meaning the same to the Engine.
    fn rewrite(&mut self, id: &str) {
        *self.text = match self.form {
            Form::Volume | Form::VolumeWithOptions | Form::NewName => return,
            Form::Whole => id.to_owned(),
            Form::ContainerMode => format!("container:{id}"),
            Form::VolumesFrom => match self.text.split_once(':') {
                Some((_, mode)) => format!("{id}:{mode}"),
                None => id.to_owned(),
            },
            // Without an alias the Engine names the link after the
            // reference; keep that name.
            Form::Link => match self.text.split_once(':') {
                Some((_, alias)) => format!("{id}:{alias}"),
                None => format!("{id}:{}", self.text.trim_start_matches('/')),
            },
        };
    }
}

/// The host settings of a container config: `HostConfig`, or the legacy
/// host fields at the top of the body (`prefix` says which).
fn walk_host(
    host: &mut Object,
    prefix: &str,
    visit: &mut dyn FnMut(Slot<'_>) -> Result<(), TenantRefusal>,
) -> Result<(), TenantRefusal> {
    let name_of = |name: &'static str, nested: &'static str| {
        if prefix.is_empty() {
            name
        } else {
            nested
        }
    };
    if let Some(i) = member(host, "NetworkMode")? {
        let Value::String(text) = &mut host.members[i].1 else {
            return Err(unreadable(format!("{prefix}NetworkMode is not a string")));
        };
        let f = name_of("NetworkMode", "HostConfig.NetworkMode");
        if text.starts_with("container:") {
            visit(Slot {
                kind: Kind::Container,
                field: f,
                text,
                form: Form::ContainerMode,
            })?;
        } else if !BUILTIN_NETWORKS.contains(&text.as_str()) {
            visit(Slot {
                kind: Kind::Network,
                field: f,
                text,
                form: Form::Whole,
            })?;
        }
    }
    for mode in CONTAINER_MODES {
        if let Some(i) = member(host, mode)? {
            let Value::String(text) = &mut host.members[i].1 else {
                return Err(unreadable(format!("{prefix}{mode} is not a string")));
            };
            if text.starts_with("container:") {
                let f = match (mode, prefix.is_empty()) {
                    ("PidMode", true) => "PidMode",
                    ("PidMode", false) => "HostConfig.PidMode",
                    ("IpcMode", true) => "IpcMode",
                    ("IpcMode", false) => "HostConfig.IpcMode",
                    (_, true) => "Cgroup",
                    (_, false) => "HostConfig.Cgroup",
                };
                visit(Slot {
                    kind: Kind::Container,
                    field: f,
                    text,
                    form: Form::ContainerMode,
                })?;
            }
        }
    }
    let lists: [(&str, &'static str, &'static str, Form); 2] = [
        (
            "VolumesFrom",
            "VolumesFrom",
            "HostConfig.VolumesFrom",
            Form::VolumesFrom,
        ),
        ("Links", "Links", "HostConfig.Links", Form::Link),
    ];
    for (name, top_name, nested_name, form) in lists {
        containers(host, name, name_of(top_name, nested_name), form, visit)?;
    }
    // A named volume in `Binds` that is missing is created with this driver.
    let volume_driver = match member(host, "VolumeDriver")? {
        Some(i) => !host.members[i].1.is_zero(),
        None => false,
    };
    if let Some(i) = member(host, "Binds")? {
        let Value::Array(items) = &mut host.members[i].1 else {
            return Err(unreadable(format!("{prefix}Binds is not an array")));
        };
        for item in items {
            let Value::String(text) = item else {
                return Err(unreadable(format!("{prefix}Binds holds a non-string")));
            };
            let spec = BindSpec::parse(text).map_err(unreadable)?;
            if let Source::Volume(name) = spec.source {
                let mut name = name.to_owned();
                visit(Slot {
                    kind: Kind::Volume,
                    field: name_of("Binds", "HostConfig.Binds"),
                    text: &mut name,
                    form: if volume_driver {
                        Form::VolumeWithOptions
                    } else {
                        Form::Volume
                    },
                })?;
            }
        }
    }
    if let Some(i) = member(host, "Mounts")? {
        let Value::Array(items) = &mut host.members[i].1 else {
            return Err(unreadable(format!("{prefix}Mounts is not an array")));
        };
        for item in items {
            let Value::Object(mount) = item else {
                return Err(unreadable(format!("{prefix}Mounts holds a non-object")));
            };
            let text_of = |mount: &Object, name: &str| -> Result<String, TenantRefusal> {
                match member(mount, name)? {
                    None => Ok(String::new()),
                    Some(i) => match &mount.members[i].1 {
                        Value::String(s) => Ok(s.clone()),
                        _ => Err(unreadable(format!(
                            "{prefix}Mounts[].{name} is not a string"
                        ))),
                    },
                }
            };
            if text_of(mount, "Type")? == "volume" {
                let mut source = text_of(mount, "Source")?;
                let options = match member(mount, "VolumeOptions")? {
                    Some(i) => !mount.members[i].1.is_zero(),
                    None => false,
                };
                if !source.is_empty() {
                    visit(Slot {
                        kind: Kind::Volume,
                        field: name_of("Mounts", "HostConfig.Mounts"),
                        text: &mut source,
                        form: if options {
                            Form::VolumeWithOptions
                        } else {
                            Form::Volume
                        },
                    })?;
                }
            }
        }
    }
    Ok(())
}

/// The objects a body names, for the Engine to be asked about.
pub fn references(scope: Scope, bytes: &[u8]) -> Result<Vec<Lookup>, TenantRefusal> {
    let mut value = parse(bytes)?;
    let Value::Object(top) = &mut value else {
        return Err(unreadable("the body is not a JSON object"));
    };
    let mut out = Vec::new();
    walk(scope, top, &mut |slot| {
        let role = match slot.form {
            Form::Volume => Role::MountedVolume { creatable: true },
            Form::VolumeWithOptions => Role::MountedVolume { creatable: false },
            Form::NewName => Role::NewName,
            _ => Role::Reference {
                field: slot.field.to_owned(),
            },
        };
        out.push(Lookup {
            kind: slot.kind,
            reference: slot.reference(),
            role,
        });
        Ok(())
    })?;
    Ok(out)
}

/// The body naming every object by the ID it resolved to and, for what
/// creates an object, carrying the tenant's label. `None`: unchanged.
pub fn rewrite(
    scope: Scope,
    bytes: &[u8],
    tenant: &str,
    id_of: &dyn Fn(Kind, &str) -> Option<String>,
) -> Result<Option<Vec<u8>>, TenantRefusal> {
    let labels = matches!(scope, Scope::ContainerCreate | Scope::Creates(_));
    if !labels && bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let mut value = parse(bytes)?;
    let Value::Object(top) = &mut value else {
        return Err(unreadable("the body is not a JSON object"));
    };
    walk(scope, top, &mut |mut slot| {
        if let Some(id) = id_of(slot.kind, &slot.reference()) {
            slot.rewrite(&id);
        }
        Ok(())
    })?;
    if labels {
        label(top, tenant)?;
    }
    if scope == Scope::Creates(Kind::Network) {
        // Without it the Engine makes a second network under a name another
        // tenant's network has (its references by name would then fail),
        // and its warning names that network's ID.
        top.members
            .retain(|(k, _)| fold(k) != fold("CheckDuplicate"));
        top.members
            .push(("CheckDuplicate".into(), Value::Bool(true)));
    }
    if matches!(scope, Scope::ContainerCreate | Scope::ContainerStart) {
        mount_labels(top, tenant)?;
    }
    Ok(Some(value.to_json().into_bytes()))
}

/// Refuses a volume mount whose `VolumeOptions.Labels` give the volume the
/// Engine creates for it (an anonymous one) another tenant's label.
fn mount_labels(top: &Object, tenant: &str) -> Result<(), TenantRefusal> {
    let mut hosts = vec![top];
    if let Some(i) = member(top, "HostConfig")? {
        if let Value::Object(host) = &top.members[i].1 {
            hosts.push(host);
        }
    }
    for host in hosts {
        let Some(i) = member(host, "Mounts")? else {
            continue;
        };
        let Value::Array(mounts) = &host.members[i].1 else {
            continue;
        };
        for mount in mounts {
            let Value::Object(mount) = mount else {
                continue;
            };
            let Some(j) = member(mount, "VolumeOptions")? else {
                continue;
            };
            let Value::Object(options) = &mount.members[j].1 else {
                return Err(unreadable("Mounts[].VolumeOptions is not an object"));
            };
            let Some(k) = member(options, "Labels")? else {
                continue;
            };
            let Value::Object(labels) = &options.members[k].1 else {
                return Err(unreadable("Mounts[].VolumeOptions.Labels is not an object"));
            };
            forged(labels, tenant)?;
        }
    }
    Ok(())
}

/// Refuses a `LABEL` key in `labels` naming another tenant.
fn forged(labels: &Object, tenant: &str) -> Result<(), TenantRefusal> {
    for (key, value) in &labels.members {
        if key == LABEL && *value != Value::String(tenant.to_owned()) {
            return Err(TenantRefusal::ForgedLabel {
                value: match value {
                    Value::String(s) => s.clone(),
                    other => other.to_json(),
                },
                tenant: tenant.into(),
            });
        }
    }
    Ok(())
}

/// An unconfined client's container config with `dockgate.tenant` set to
/// no tenant, unless the client named one. `None`: unchanged.
pub fn mark(bytes: &[u8]) -> Result<Option<Vec<u8>>, TenantRefusal> {
    let mut value = parse(bytes)?;
    let Value::Object(top) = &mut value else {
        return Err(unreadable("the body is not a JSON object"));
    };
    if let Some(i) = member(top, "Labels")? {
        if let Value::Object(labels) = &top.members[i].1 {
            if labels.members.iter().any(|(k, _)| k == LABEL) {
                return Ok(None);
            }
        }
    }
    label(top, "")?;
    Ok(Some(value.to_json().into_bytes()))
}

/// Sets the tenant's label in the body's `Labels`, refusing one the client
/// set to another tenant.
fn label(top: &mut Object, tenant: &str) -> Result<(), TenantRefusal> {
    let i = match member(top, "Labels")? {
        Some(i) => i,
        None => {
            // Drop a `"Labels": null` so the new member is the only one.
            top.members
                .retain(|(k, v)| !(fold(k) == fold("Labels") && *v == Value::Null));
            top.members
                .push(("Labels".into(), Value::Object(Object::default())));
            top.members.len() - 1
        }
    };
    let Value::Object(labels) = &mut top.members[i].1 else {
        return Err(unreadable("Labels is not an object"));
    };
    forged(labels, tenant)?;
    labels.members.retain(|(k, _)| k != LABEL);
    labels
        .members
        .push((LABEL.into(), Value::String(tenant.to_owned())));
    Ok(())
}
