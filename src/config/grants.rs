//! What a policy lets its clients do to the host: the raw TOML form and its compiled form.
//!
//! [`RawGrants`] mirrors `[policies.NAME.grants]` exactly; [`Grants::compile`] validates it
//! (absolute path globs, known namespace names, well-formed capability names) and compiles the
//! globs once. Every key and its default is documented in the module doc of `inspect`.

use globset::{GlobBuilder, GlobMatcher};
use serde::Deserialize;

/// Grants exactly as written under `[policies.NAME.grants]`. Everything defaults to "not
/// granted".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawGrants {
    pub privileged: bool,
    pub bind_mounts: Vec<String>,
    pub read_only_bind_mounts: Vec<String>,
    pub capabilities: Vec<String>,
    pub host_namespaces: Vec<String>,
    pub container_namespaces: Vec<String>,
    pub devices: Vec<String>,
    pub device_requests: bool,
    pub device_cgroup_rules: bool,
    pub security_opt: bool,
    pub sysctls: Vec<String>,
    pub cgroup_parent: bool,
    pub runtimes: Vec<String>,
    pub volumes_from: bool,
    pub volume_mount_options: bool,
    pub volume_types: Vec<String>,
    pub log_drivers: Vec<String>,
    pub plugins: bool,
    pub swarm_services: bool,
    pub buildkit: bool,
    pub swarm: bool,
    pub checkpoints: bool,
    pub unknown_routes: bool,
}

impl RawGrants {
    /// Every grant there is: what a policy trusted with the whole host would
    /// carry. Tests and fuzzing use it to get past every grant check.
    pub fn everything() -> RawGrants {
        let all = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        RawGrants {
            privileged: true,
            bind_mounts: all(&["/**"]),
            read_only_bind_mounts: all(&["/**"]),
            capabilities: all(&["ALL"]),
            host_namespaces: all(HOST_NAMESPACES),
            container_namespaces: all(CONTAINER_NAMESPACES),
            devices: all(&["/**"]),
            device_requests: true,
            device_cgroup_rules: true,
            security_opt: true,
            sysctls: all(&["**"]),
            cgroup_parent: true,
            runtimes: all(&["nvidia", "kata"]),
            volumes_from: true,
            volume_mount_options: true,
            volume_types: all(&["nfs", "nfs4", "cifs", "overlay", "ext4", "xfs", "btrfs"]),
            log_drivers: all(&[
                "syslog",
                "gelf",
                "fluentd",
                "awslogs",
                "splunk",
                "gcplogs",
                "logentries",
                "etwlogs",
            ]),
            plugins: true,
            swarm_services: true,
            buildkit: true,
            swarm: true,
            checkpoints: true,
            unknown_routes: true,
        }
    }
}

/// A grant that cannot be compiled; names the key and the offending value.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error("grants.{key}: {value:?} {why}")]
    Invalid {
        key: &'static str,
        value: String,
        why: String,
    },
}

fn invalid(key: &'static str, value: &str, why: impl Into<String>) -> GrantError {
    GrantError::Invalid {
        key,
        value: value.to_owned(),
        why: why.into(),
    }
}

/// Namespaces whose `host` mode may be granted, keyed as in `host_namespaces`.
pub const HOST_NAMESPACES: &[&str] = &["network", "pid", "ipc", "uts", "userns", "cgroupns"];
/// Namespaces that may join another container's (`container:<id>`), keyed as in
/// `container_namespaces`.
/// `links` stands for legacy links, which share another container's network and copy its
/// environment into the new one.
pub const CONTAINER_NAMESPACES: &[&str] = &["network", "pid", "ipc", "uts", "cgroup", "links"];

/// Compiled globs, kept as separate matchers so that `merge` cannot fail.
#[derive(Debug, Clone, Default)]
pub struct GlobList {
    matchers: Vec<GlobMatcher>,
}

impl GlobList {
    /// Compiles path-like globs: `*` stays within one `/`-separated component, `**` crosses
    /// them. `absolute` requires each pattern to be an absolute, clean path. A pattern ending in
    /// `/**` also matches the directory itself.
    fn compile(key: &'static str, patterns: &[String], absolute: bool) -> Result<Self, GrantError> {
        let mut matchers = Vec::new();
        for pattern in patterns {
            if absolute {
                if !pattern.starts_with('/') {
                    return Err(invalid(key, pattern, "is not an absolute path"));
                }
                if pattern.split('/').any(|part| part == "." || part == "..") {
                    return Err(invalid(key, pattern, "contains '.' or '..'"));
                }
            } else if pattern.is_empty() {
                return Err(invalid(key, pattern, "is empty"));
            }
            let mut add = |p: &str| -> Result<(), GrantError> {
                let glob = GlobBuilder::new(p)
                    .literal_separator(absolute)
                    .backslash_escape(true)
                    .build()
                    .map_err(|e| invalid(key, pattern, e.kind().to_string()))?;
                matchers.push(glob.compile_matcher());
                Ok(())
            };
            add(pattern)?;
            if let Some(dir) = pattern.strip_suffix("/**") {
                add(if dir.is_empty() { "/" } else { dir })?;
            }
        }
        Ok(GlobList { matchers })
    }

    pub fn matches(&self, candidate: &str) -> bool {
        self.matchers.iter().any(|m| m.is_match(candidate))
    }

    fn union(lists: impl Iterator<Item = GlobList>) -> GlobList {
        GlobList {
            matchers: lists.flat_map(|l| l.matchers).collect(),
        }
    }
}

/// Compiled, validated grants.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    pub(crate) privileged: bool,
    /// Host paths that may be bind-mounted read-write (and read-only).
    pub(crate) bind_mounts: GlobList,
    /// Host paths that may be bind-mounted only read-only.
    pub(crate) read_only_bind_mounts: GlobList,
    /// Normalised capability names (upper case, no `CAP_` prefix); may hold `ALL`.
    pub(crate) capabilities: Vec<String>,
    pub(crate) host_namespaces: Vec<String>,
    pub(crate) container_namespaces: Vec<String>,
    pub(crate) devices: GlobList,
    pub(crate) device_requests: bool,
    pub(crate) device_cgroup_rules: bool,
    pub(crate) security_opt: bool,
    pub(crate) sysctls: GlobList,
    pub(crate) cgroup_parent: bool,
    pub(crate) runtimes: Vec<String>,
    pub(crate) volumes_from: bool,
    /// Any local-volume filesystem type and data option (host paths in them are still judged).
    pub(crate) volume_mount_options: bool,
    /// Local-volume filesystem types, matched exactly as the kernel does.
    pub(crate) volume_types: Vec<String>,
    /// Logging drivers that make the Engine connect out from the host, by exact name.
    pub(crate) log_drivers: Vec<String>,
    pub(crate) plugins: bool,
    pub(crate) swarm_services: bool,
    pub(crate) buildkit: bool,
    pub(crate) swarm: bool,
    pub(crate) checkpoints: bool,
    pub(crate) unknown_routes: bool,
    /// Never from configuration: every value passes and fields dockgate does
    /// not know are passed over, so that the inspector reads a request to its
    /// end ([`Grants::reading_past`]).
    pub(crate) read_past: bool,
}

/// Capability names as the Engine normalises them: upper case, without the `CAP_` prefix.
pub fn normalize_capability(name: &str) -> String {
    let upper = name.to_ascii_uppercase();
    match upper.strip_prefix("CAP_") {
        Some(rest) => rest.to_owned(),
        None => upper,
    }
}

fn names(key: &'static str, values: &[String], known: &[&str]) -> Result<Vec<String>, GrantError> {
    values
        .iter()
        .map(|v| {
            if known.contains(&v.as_str()) {
                Ok(v.clone())
            } else {
                Err(invalid(
                    key,
                    v,
                    format!("is not one of {}", known.join(", ")),
                ))
            }
        })
        .collect()
}

/// Names matched exactly against what a request names: only the empty name is refused
/// (nothing could match it, so it is a mistake).
fn non_empty(key: &'static str, values: &[String]) -> Result<Vec<String>, GrantError> {
    values
        .iter()
        .map(|v| {
            if v.is_empty() {
                Err(invalid(key, v, "is empty"))
            } else {
                Ok(v.clone())
            }
        })
        .collect()
}

impl Grants {
    /// Validates and compiles raw grants.
    pub fn compile(raw: &RawGrants) -> Result<Grants, GrantError> {
        let capabilities = raw
            .capabilities
            .iter()
            .map(|c| {
                let n = normalize_capability(c);
                let ok = !n.is_empty() && n.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
                if ok {
                    Ok(n)
                } else {
                    Err(invalid("capabilities", c, "is not a capability name"))
                }
            })
            .collect::<Result<_, _>>()?;
        let runtimes = non_empty("runtimes", &raw.runtimes)?;
        let volume_types = non_empty("volume_types", &raw.volume_types)?;
        let log_drivers = non_empty("log_drivers", &raw.log_drivers)?;
        Ok(Grants {
            privileged: raw.privileged,
            bind_mounts: GlobList::compile("bind_mounts", &raw.bind_mounts, true)?,
            read_only_bind_mounts: GlobList::compile(
                "read_only_bind_mounts",
                &raw.read_only_bind_mounts,
                true,
            )?,
            capabilities,
            host_namespaces: names("host_namespaces", &raw.host_namespaces, HOST_NAMESPACES)?,
            container_namespaces: names(
                "container_namespaces",
                &raw.container_namespaces,
                CONTAINER_NAMESPACES,
            )?,
            devices: GlobList::compile("devices", &raw.devices, true)?,
            device_requests: raw.device_requests,
            device_cgroup_rules: raw.device_cgroup_rules,
            security_opt: raw.security_opt,
            sysctls: GlobList::compile("sysctls", &raw.sysctls, false)?,
            cgroup_parent: raw.cgroup_parent,
            runtimes,
            volumes_from: raw.volumes_from,
            volume_mount_options: raw.volume_mount_options,
            volume_types,
            log_drivers,
            plugins: raw.plugins,
            swarm_services: raw.swarm_services,
            buildkit: raw.buildkit,
            swarm: raw.swarm,
            checkpoints: raw.checkpoints,
            unknown_routes: raw.unknown_routes,
            read_past: false,
        })
    }

    /// Whether requests to routes the route table does not know may pass.
    pub fn unknown_routes(&self) -> bool {
        self.unknown_routes
    }

    /// Every grant, and past what no grant allows: the inspector reads on
    /// where it would stop at a refusal, and refuses only what it cannot
    /// judge. Audit mode forwards a refused request only if this passes.
    pub fn reading_past() -> &'static Grants {
        static GRANTS: std::sync::OnceLock<Grants> = std::sync::OnceLock::new();
        GRANTS.get_or_init(|| Grants {
            read_past: true,
            ..Grants::compile(&RawGrants::everything()).expect("every grant compiles")
        })
    }

    /// Nothing granted: the default for a policy without a `grants` table.
    pub fn none() -> Grants {
        Grants::default()
    }

    /// The union of several policies' grants.
    pub fn merge(all: &[&Grants]) -> Grants {
        let any = |f: fn(&Grants) -> bool| all.iter().any(|g| f(g));
        let list = |f: fn(&Grants) -> &Vec<String>| {
            let mut out: Vec<String> = Vec::new();
            for g in all {
                for v in f(g) {
                    if !out.contains(v) {
                        out.push(v.clone());
                    }
                }
            }
            out
        };
        let globs = |f: fn(&Grants) -> &GlobList| GlobList::union(all.iter().map(|g| f(g).clone()));
        Grants {
            privileged: any(|g| g.privileged),
            bind_mounts: globs(|g| &g.bind_mounts),
            read_only_bind_mounts: globs(|g| &g.read_only_bind_mounts),
            capabilities: list(|g| &g.capabilities),
            host_namespaces: list(|g| &g.host_namespaces),
            container_namespaces: list(|g| &g.container_namespaces),
            devices: globs(|g| &g.devices),
            device_requests: any(|g| g.device_requests),
            device_cgroup_rules: any(|g| g.device_cgroup_rules),
            security_opt: any(|g| g.security_opt),
            sysctls: globs(|g| &g.sysctls),
            cgroup_parent: any(|g| g.cgroup_parent),
            runtimes: list(|g| &g.runtimes),
            volumes_from: any(|g| g.volumes_from),
            volume_mount_options: any(|g| g.volume_mount_options),
            volume_types: list(|g| &g.volume_types),
            log_drivers: list(|g| &g.log_drivers),
            plugins: any(|g| g.plugins),
            swarm_services: any(|g| g.swarm_services),
            buildkit: any(|g| g.buildkit),
            swarm: any(|g| g.swarm),
            checkpoints: any(|g| g.checkpoints),
            unknown_routes: any(|g| g.unknown_routes),
            read_past: any(|g| g.read_past),
        }
    }

    pub(crate) fn capability(&self, normalized: &str) -> bool {
        self.capabilities
            .iter()
            .any(|c| c == "ALL" || c == normalized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(toml_text: &str) -> RawGrants {
        toml::from_str(toml_text).expect("toml")
    }

    #[test]
    fn defaults_grant_nothing() {
        let g = Grants::compile(&raw("")).unwrap();
        assert!(!g.privileged && !g.plugins && !g.bind_mounts.matches("/"));
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<RawGrants>("privileges = true").is_err());
    }

    #[test]
    fn invalid_values_are_refused() {
        for text in [
            r#"bind_mounts = ["srv/**"]"#,
            r#"bind_mounts = ["/srv/../etc"]"#,
            r#"devices = ["dev/sda"]"#,
            r#"host_namespaces = ["net"]"#,
            r#"container_namespaces = ["userns"]"#,
            r#"capabilities = ["SYS ADMIN"]"#,
            r#"runtimes = [""]"#,
            r#"volume_types = [""]"#,
            r#"log_drivers = [""]"#,
            r#"sysctls = [""]"#,
            r#"bind_mounts = ["/srv/[ci"]"#,
        ] {
            assert!(Grants::compile(&raw(text)).is_err(), "{text}");
        }
    }

    #[test]
    fn globs() {
        let g = Grants::compile(&raw(r#"bind_mounts = ["/srv/ci/**", "/data/*/cache"]"#)).unwrap();
        for (path, ok) in [
            ("/srv/ci", true),
            ("/srv/ci/a/b", true),
            ("/srv/cix", false),
            ("/srv", false),
            ("/data/x/cache", true),
            ("/data/x/y/cache", false),
        ] {
            assert_eq!(g.bind_mounts.matches(path), ok, "{path}");
        }
    }

    #[test]
    fn merge_is_a_union() {
        let a = Grants::compile(&raw(r#"privileged = true
capabilities = ["cap_net_admin"]"#))
        .unwrap();
        let b = Grants::compile(&raw(r#"bind_mounts = ["/srv/**"]
capabilities = ["NET_ADMIN", "SYS_TIME"]"#))
        .unwrap();
        let m = Grants::merge(&[&a, &b]);
        assert!(m.privileged && m.bind_mounts.matches("/srv/x"));
        assert_eq!(m.capabilities, ["NET_ADMIN", "SYS_TIME"]);
        assert!(!Grants::merge(&[]).privileged);
    }
}
