//! The grants a request needed: what the judge collects for a client in
//! audit mode, what the audit line's `grants` field says, and what
//! `dockgate policy learn` and `policy diff` read back.
//!
//! The inspector names a missing grant in its refusal
//! (`needs grant `bind_mounts matching "/srv"``); [`Need::parse`] reads that
//! text back as one grant item. So the same words serve a live request (the
//! judge collects them one refusal at a time) and an old log line (its
//! `detail`, from before the `grants` field). The field itself is a TOML
//! inline table in the config's own keys, `{ bind_mounts = ["/srv"],
//! privileged = true }`, holding only what the request asked of the host:
//! never a body, a query or an environment.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::config::grants::{Grants, RawGrants};

/// Boolean grants a body or query can need.
const FLAGS: &[&str] = &[
    "buildkit",
    "cgroup_parent",
    "checkpoints",
    "device_cgroup_rules",
    "device_requests",
    "plugins",
    "privileged",
    "security_opt",
    "swarm",
    "swarm_services",
    "volume_mount_options",
    "volumes_from",
];
/// List grants whose values are globs (paths, sysctl names).
const GLOBS: &[&str] = &["bind_mounts", "devices", "read_only_bind_mounts", "sysctls"];
/// List grants whose values are names, compared exactly.
const NAMES: &[&str] = &[
    "capabilities",
    "container_namespaces",
    "host_namespaces",
    "log_drivers",
    "runtimes",
    "volume_types",
];

/// One grant item: a boolean grant, or one value of a list grant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Need {
    /// The key under `[policies.NAME.grants]`.
    pub key: &'static str,
    /// The value the request named, as it named it (a path, not a glob);
    /// `None` for a boolean grant.
    pub value: Option<String>,
}

impl Need {
    /// Reads the `needs` text of an inspector refusal; `None` when it names
    /// no single grant item (a request the client must change instead).
    pub fn parse(needs: &str) -> Option<Need> {
        if let Some(key) = needs.strip_suffix(" = true") {
            return known(FLAGS, key).map(|key| Need { key, value: None });
        }
        if let Some(rest) = needs.strip_prefix("bind_mounts or read_only_bind_mounts matching ") {
            return Some(Need {
                key: "read_only_bind_mounts",
                value: Some(debug_string(rest)?),
            });
        }
        let (key, rest) = needs.split_once(' ')?;
        let (key, rest) = match (
            rest.strip_prefix("matching "),
            rest.strip_prefix("including "),
        ) {
            (Some(rest), _) => (known(GLOBS, key)?, rest),
            (_, Some(rest)) => (known(NAMES, key)?, rest),
            _ => return None,
        };
        Some(Need {
            key,
            value: Some(debug_string(rest)?),
        })
    }

    /// Whether `grants` allows this item, read as the inspector reads it.
    pub fn granted_by(&self, grants: &Grants) -> bool {
        let value = self.value.as_deref().unwrap_or("");
        let has = |list: &[String]| list.iter().any(|v| v == value);
        match self.key {
            "privileged" => grants.privileged,
            "device_requests" => grants.device_requests,
            "device_cgroup_rules" => grants.device_cgroup_rules,
            "security_opt" => grants.security_opt,
            "cgroup_parent" => grants.cgroup_parent,
            "volumes_from" => grants.volumes_from,
            "volume_mount_options" => grants.volume_mount_options,
            "plugins" => grants.plugins,
            "swarm_services" => grants.swarm_services,
            "buildkit" => grants.buildkit,
            "swarm" => grants.swarm,
            "checkpoints" => grants.checkpoints,
            "bind_mounts" => grants.bind_mounts.matches(value),
            "read_only_bind_mounts" => {
                grants.bind_mounts.matches(value) || grants.read_only_bind_mounts.matches(value)
            }
            "devices" => grants.devices.matches(value),
            "sysctls" => grants.sysctls.matches(value),
            "capabilities" => grants.capability(value),
            "host_namespaces" => has(&grants.host_namespaces),
            "container_namespaces" => has(&grants.container_namespaces),
            "runtimes" => has(&grants.runtimes),
            "log_drivers" => has(&grants.log_drivers),
            "volume_types" => grants.volume_mount_options || has(&grants.volume_types),
            _ => false,
        }
    }

    /// The value as it is written in a policy: a glob matching exactly
    /// this path or name, for the keys whose values are globs.
    pub fn config_value(&self) -> Option<String> {
        let value = self.value.as_deref()?;
        Some(if GLOBS.contains(&self.key) {
            glob_literal(value)
        } else {
            value.to_owned()
        })
    }
}

impl std::fmt::Display for Need {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.value {
            None => write!(f, "{} = true", self.key),
            Some(v) => write!(f, "{} including {}", self.key, toml_string(v)),
        }
    }
}

fn known(keys: &[&'static str], key: &str) -> Option<&'static str> {
    keys.iter().copied().find(|k| *k == key)
}

/// The string a Rust `{:?}` wrote at the start of `text`.
fn debug_string(text: &str) -> Option<String> {
    let mut chars = text.strip_prefix('"')?.chars();
    let mut out = String::new();
    loop {
        match chars.next()? {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                '0' => out.push('\0'),
                c @ ('\\' | '"' | '\'') => out.push(c),
                'u' => {
                    let rest = chars.as_str().strip_prefix('{')?;
                    let (hex, after) = rest.split_once('}')?;
                    out.push(char::from_u32(u32::from_str_radix(hex, 16).ok()?)?);
                    chars = after.chars();
                }
                _ => return None,
            },
            c => out.push(c),
        }
    }
}

/// A glob matching exactly `value`: every glob metacharacter escaped.
fn glob_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `value` as a TOML basic string (which reads JSON's escapes too).
pub fn toml_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c < ' ' || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Every grant item one request needed, and what stopped the count short.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needed {
    pub items: BTreeSet<Need>,
    /// A refusal no grant allows (a field dockgate does not know, a log
    /// option only an explicit driver may set), or too many items to
    /// count: the request needs more than `items`, and no policy can
    /// allow it as it is.
    pub ungrantable: Option<String>,
}

/// The key the field uses for [`Needed::ungrantable`].
const UNGRANTABLE: &str = "ungrantable";

impl Needed {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty() && self.ungrantable.is_none()
    }

    /// The items as grants a policy could hold.
    pub fn grants(&self) -> Result<Grants, String> {
        let mut raw = RawGrants::default();
        for need in &self.items {
            let value = need.config_value().unwrap_or_default();
            let list = match need.key {
                "privileged" => &mut raw.privileged,
                "device_requests" => &mut raw.device_requests,
                "device_cgroup_rules" => &mut raw.device_cgroup_rules,
                "security_opt" => &mut raw.security_opt,
                "cgroup_parent" => &mut raw.cgroup_parent,
                "volumes_from" => &mut raw.volumes_from,
                "volume_mount_options" => &mut raw.volume_mount_options,
                "plugins" => &mut raw.plugins,
                "swarm_services" => &mut raw.swarm_services,
                "buildkit" => &mut raw.buildkit,
                "swarm" => &mut raw.swarm,
                "checkpoints" => &mut raw.checkpoints,
                key => {
                    let list = match key {
                        "bind_mounts" => &mut raw.bind_mounts,
                        "read_only_bind_mounts" => &mut raw.read_only_bind_mounts,
                        "devices" => &mut raw.devices,
                        "sysctls" => &mut raw.sysctls,
                        "capabilities" => &mut raw.capabilities,
                        "host_namespaces" => &mut raw.host_namespaces,
                        "container_namespaces" => &mut raw.container_namespaces,
                        "runtimes" => &mut raw.runtimes,
                        "log_drivers" => &mut raw.log_drivers,
                        _ => &mut raw.volume_types,
                    };
                    list.push(value);
                    continue;
                }
            };
            *list = true;
        }
        Grants::compile(&raw).map_err(|e| e.to_string())
    }

    /// The items `grants` does not allow.
    pub fn missing<'n>(&'n self, grants: &Grants) -> Vec<&'n Need> {
        self.items
            .iter()
            .filter(|n| !n.granted_by(grants))
            .collect()
    }

    /// The audit field: a TOML inline table, keys and values sorted (`{}`
    /// when nothing was needed).
    pub fn render(&self) -> String {
        if self.is_empty() {
            return "{}".into();
        }
        let mut out = String::from("{");
        let mut keys: Vec<&str> = self.items.iter().map(|n| n.key).collect();
        keys.dedup();
        let mut first = true;
        let mut sep = |out: &mut String| {
            out.push_str(if std::mem::take(&mut first) {
                " "
            } else {
                ", "
            });
        };
        for key in keys {
            sep(&mut out);
            let values: Vec<String> = self
                .items
                .iter()
                .filter(|n| n.key == key)
                .filter_map(|n| n.value.as_deref().map(toml_string))
                .collect();
            if FLAGS.contains(&key) {
                let _ = write!(out, "{key} = true");
            } else {
                let _ = write!(out, "{key} = [{}]", values.join(", "));
            }
        }
        if let Some(why) = &self.ungrantable {
            sep(&mut out);
            let _ = write!(out, "{UNGRANTABLE} = {}", toml_string(why));
        }
        out.push_str(" }");
        out
    }

    /// Reads the audit field back; an empty field (nothing counted) reads
    /// as nothing needed.
    pub fn parse(field: &str) -> Result<Needed, String> {
        let mut needed = Needed::default();
        if field.is_empty() {
            return Ok(needed);
        }
        let table: toml::Table =
            toml::from_str(&format!("g = {field}")).map_err(|e| e.message().to_owned())?;
        let Some(toml::Value::Table(grants)) = table.get("g") else {
            return Err("not a table".into());
        };
        for (key, value) in grants {
            match value {
                toml::Value::String(why) if key == UNGRANTABLE => {
                    needed.ungrantable = Some(why.clone());
                }
                toml::Value::Boolean(true) => {
                    let key = known(FLAGS, key).ok_or_else(|| format!("unknown grant {key}"))?;
                    needed.items.insert(Need { key, value: None });
                }
                toml::Value::Array(values) => {
                    let key = known(GLOBS, key)
                        .or_else(|| known(NAMES, key))
                        .ok_or_else(|| format!("unknown grant {key}"))?;
                    for value in values {
                        let value = value
                            .as_str()
                            .ok_or_else(|| format!("{key}: not a string"))?;
                        needed.items.insert(Need {
                            key,
                            value: Some(value.to_owned()),
                        });
                    }
                }
                _ => return Err(format!("{key}: not a grant")),
            }
        }
        Ok(needed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn need(key: &'static str, value: Option<&str>) -> Need {
        Need {
            key,
            value: value.map(str::to_owned),
        }
    }

    #[test]
    fn refusal_texts_read_back_as_grant_items() {
        let table = [
            ("privileged = true", Some(need("privileged", None))),
            ("swarm_services = true", Some(need("swarm_services", None))),
            ("unknown_routes = true", None),
            (
                r#"bind_mounts matching "/srv/ci""#,
                Some(need("bind_mounts", Some("/srv/ci"))),
            ),
            (
                r#"bind_mounts matching "/srv": this read-only bind is recursive, and ..."#,
                Some(need("bind_mounts", Some("/srv"))),
            ),
            (
                r#"bind_mounts or read_only_bind_mounts matching "/a \"b\"\\\n\u{1b}""#,
                Some(need("read_only_bind_mounts", Some("/a \"b\"\\\n\u{1b}"))),
            ),
            (
                r#"capabilities including "NET_ADMIN""#,
                Some(need("capabilities", Some("NET_ADMIN"))),
            ),
            (
                r#"host_namespaces including "network""#,
                Some(need("host_namespaces", Some("network"))),
            ),
            (
                r#"log_drivers including "json-file" (it reads "labels-regex")"#,
                Some(need("log_drivers", Some("json-file"))),
            ),
            ("an explicit LogConfig.Type in log_drivers", None),
            (r#"capabilities matching "X""#, None),
            (r#"privileged including "x""#, None),
            (r#"devices matching "/dev/x"#, None),
            (r#"sysctls matching "a\q""#, None),
        ];
        for (text, want) in table {
            assert_eq!(Need::parse(text), want, "{text}");
        }
    }

    #[test]
    fn the_field_reads_back_as_written() {
        let mut needed = Needed::default();
        for n in [
            need("privileged", None),
            need("bind_mounts", Some("/b")),
            need("bind_mounts", Some("/a \"x\"\n\u{7f}ü")),
            need("capabilities", Some("SYS_ADMIN")),
        ] {
            needed.items.insert(n);
        }
        let field = needed.render();
        assert_eq!(
            field,
            r#"{ bind_mounts = ["/a \"x\"\n\u007fü", "/b"], capabilities = ["SYS_ADMIN"], privileged = true }"#
        );
        assert_eq!(Needed::parse(&field).unwrap(), needed);
        needed.ungrantable = Some("HostConfig.Foo \"}".into());
        assert_eq!(Needed::parse(&needed.render()).unwrap(), needed);
        assert_eq!(Needed::parse("").unwrap(), Needed::default());
        assert_eq!(Needed::default().render(), "{}");
        assert_eq!(Needed::parse("{}").unwrap(), Needed::default());
        for bad in [
            "{ nope = true }",
            "{ privileged = 1 }",
            "x",
            "{ bind_mounts = [1] }",
        ] {
            assert!(Needed::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn items_compile_to_grants_that_allow_exactly_them() {
        let mut needed = Needed::default();
        for n in [
            need("bind_mounts", Some("/srv/[x]*")),
            need("read_only_bind_mounts", Some("/ro")),
            need("sysctls", Some("net.ipv4.ip_forward")),
            need("capabilities", Some("NET_ADMIN")),
            need("volume_types", Some("nfs")),
            need("privileged", None),
        ] {
            needed.items.insert(n);
        }
        let grants = needed.grants().unwrap();
        assert!(needed.missing(&grants).is_empty());
        assert!(grants.bind_mounts.matches("/srv/[x]*"));
        assert!(
            !grants.bind_mounts.matches("/srv/xy"),
            "escaped, not a glob"
        );
        for other in [
            need("bind_mounts", Some("/ro")),
            need("read_only_bind_mounts", Some("/srv")),
            need("capabilities", Some("SYS_ADMIN")),
            need("sysctls", Some("net.ipv4.conf")),
            need("swarm", None),
        ] {
            assert!(!other.granted_by(&grants), "{other}");
        }
        assert!(need("read_only_bind_mounts", Some("/srv/[x]*")).granted_by(&grants));
    }

    /// The judge's count, on bodies that need each kind of grant: every
    /// refusal text reads back as the item that makes the inspector pass.
    #[test]
    fn the_judge_counts_every_grant_a_body_needs() {
        use crate::request::inspect::Endpoint as E;
        use crate::request::judge::needed;
        let create = |host_config: &str| format!(r#"{{"Image":"x","HostConfig":{host_config}}}"#);
        let table: Vec<(E, Option<&str>, String, &str)> = vec![
            (E::ContainerCreate, None, create("{}"), "{}"),
            (
                E::ContainerCreate,
                None,
                create(
                    r#"{"Privileged":true,"Binds":["/:/host"],
                    "Mounts":[{"Type":"bind","Source":"/srv/ro","Target":"/ro","ReadOnly":true,"BindOptions":{"NonRecursive":true}}],
                    "CapAdd":["net_admin","CAP_SYS_TIME"],"PidMode":"host","IpcMode":"container:x",
                    "Sysctls":{"net.ipv4.ip_forward":"1"},"Runtime":"kata","VolumesFrom":["y"],
                    "Devices":[{"PathOnHost":"/dev/fuse","PathInContainer":"/dev/fuse","CgroupPermissions":"rwm"}],
                    "LogConfig":{"Type":"json-file","Config":{"syslog-address":"x"}},
                    "SecurityOpt":["seccomp=unconfined"],"CgroupParent":"/x"}"#,
                ),
                r#"{ bind_mounts = ["/"], capabilities = ["NET_ADMIN", "SYS_TIME"], cgroup_parent = true, container_namespaces = ["ipc"], devices = ["/dev/fuse"], host_namespaces = ["pid"], log_drivers = ["json-file"], privileged = true, read_only_bind_mounts = ["/srv/ro"], runtimes = ["kata"], security_opt = true, sysctls = ["net.ipv4.ip_forward"], volumes_from = true }"#,
            ),
            (
                E::ContainerCreate,
                None,
                create(r#"{"Privileged":true,"Frobnicate":1}"#),
                r#"{ ungrantable = "HostConfig.Frobnicate is not a field dockgate knows, so it cannot tell what it grants; only its zero value (null, false, 0, \"\", [] or {}) is accepted" }"#,
            ),
            (
                E::ExecCreate,
                None,
                r#"{"Cmd":["sh"],"Privileged":true}"#.into(),
                "{ privileged = true }",
            ),
            (
                E::Build,
                Some("networkmode=host&buildargs=%7B%22TOKEN%22%3A%22secret%22%7D"),
                String::new(),
                r#"{ host_namespaces = ["network"] }"#,
            ),
            (E::PluginInstall, None, String::new(), "{ plugins = true }"),
            (
                E::VolumeCreate,
                None,
                r#"{"Name":"v","DriverOpts":{"type":"none","o":"bind","device":"/srv/data"}}"#
                    .into(),
                r#"{ bind_mounts = ["/srv/data"] }"#,
            ),
        ];
        let caps: Vec<String> = (0..40)
            .map(|i| format!("\"CAP_X{}\"", "Y".repeat(i)))
            .collect();
        let many = needed(
            E::ContainerCreate,
            None,
            create(&format!(r#"{{"CapAdd":[{}]}}"#, caps.join(","))).as_bytes(),
        );
        assert_eq!(many.items.len(), 32);
        assert_eq!(many.ungrantable.as_deref(), Some("more than 32 grants"));
        for (endpoint, query, body, want) in table {
            let got = needed(endpoint, query, body.as_bytes());
            assert_eq!(got.render(), want, "{body}");
            assert!(!got.render().contains("secret"));
            if got.ungrantable.is_none() {
                let grants = got.grants().unwrap();
                let judged =
                    crate::request::inspect::judge(endpoint, query, body.as_bytes(), &grants);
                assert_eq!(judged, Ok(()), "{body}: the counted grants allow it");
            }
        }
    }
}
