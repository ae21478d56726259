//! The policies dockgate ships for the software that commonly holds the
//! Docker socket (Traefik, Portainer, Watchtower, Homepage, Prometheus,
//! GitLab Runner), named in a client's `policies` as `preset:NAME`.
//!
//! Each preset is a TOML file under `config/presets/`, written exactly as
//! the body of a `[policies.NAME]` table and compiled into the binary. It
//! is parsed and validated by the same code as a configured policy, once,
//! on first use; a unit test compiles every one, so a broken preset fails
//! the build's tests rather than a config load. The `preset:` prefix keeps
//! preset names apart from configured ones: a config cannot define a
//! policy under that prefix, so no configured table can stand in for a
//! preset.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use crate::config::policy::Policy;
use crate::config::raw::RawPolicy;
use crate::config::{ConfigError, Validator};

/// What a client's `policies` entry starts with to name a preset.
pub const PREFIX: &str = "preset:";

/// Every preset: its name and its file, in the order `dockgate preset list`
/// shows them.
const PRESETS: &[(&str, &str)] = &[
    ("traefik", include_str!("../../config/presets/traefik.toml")),
    (
        "portainer-ro",
        include_str!("../../config/presets/portainer-ro.toml"),
    ),
    (
        "portainer",
        include_str!("../../config/presets/portainer.toml"),
    ),
    (
        "watchtower",
        include_str!("../../config/presets/watchtower.toml"),
    ),
    (
        "homepage",
        include_str!("../../config/presets/homepage.toml"),
    ),
    (
        "prometheus",
        include_str!("../../config/presets/prometheus.toml"),
    ),
    (
        "gitlab-runner",
        include_str!("../../config/presets/gitlab-runner.toml"),
    ),
];

/// Every preset compiled, under its bare name. Compiled once: every
/// config that names a preset shares its policy.
static COMPILED: LazyLock<BTreeMap<&'static str, Arc<Policy>>> = LazyLock::new(|| {
    PRESETS
        .iter()
        .map(|&(name, text)| {
            let policy = compile(name, text).unwrap_or_else(|e| {
                panic!("the shipped preset {name} compiles (tests say so): {e}")
            });
            (name, Arc::new(policy))
        })
        .collect()
});

/// The preset named `name` (without the prefix).
pub fn find(name: &str) -> Option<Arc<Policy>> {
    COMPILED.get(name).cloned()
}

/// The names of every preset, without the prefix.
pub fn names() -> impl Iterator<Item = &'static str> {
    PRESETS.iter().map(|&(name, _)| name)
}

/// A preset's file as shipped, comments included: what it allows and why.
pub fn text(name: &str) -> Option<&'static str> {
    PRESETS
        .iter()
        .find(|&&(n, _)| n == name)
        .map(|&(_, text)| text)
}

/// Parses and validates one preset file as a `[policies.NAME]` table; the
/// policy is called `preset:NAME`, the name audit lines and `explain` show.
fn compile(name: &str, text: &str) -> Result<Policy, ConfigError> {
    let file = format!("config/presets/{name}.toml");
    let whole = |problems| ConfigError {
        file: file.clone().into(),
        problems,
    };
    let raw: RawPolicy = toml::from_str(text).map_err(|e| {
        whole(vec![crate::config::Problem {
            line: None,
            key: String::new(),
            message: e.to_string(),
        }])
    })?;
    let mut v = Validator {
        text,
        problems: Vec::new(),
    };
    let policy = v.policy(&format!("{PREFIX}{name}"), &raw);
    match policy {
        Some(policy) if v.problems.is_empty() => Ok(policy),
        _ => Err(whole(v.problems)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::grants::Grants;
    use crate::request::judge::route::ROUTES;

    /// The presets that must never change anything: GET and HEAD only.
    const READ_ONLY: &[&str] = &["traefik", "portainer-ro", "homepage", "prometheus"];

    #[test]
    fn every_preset_compiles_under_its_prefixed_name() {
        for name in names() {
            let policy = compile(name, text(name).unwrap()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&*policy.name, format!("preset:{name}"));
            assert!(!policy.rules.is_empty(), "{name} allows something");
            assert_eq!(&*find(name).unwrap().name, &*policy.name);
        }
        assert!(find("nonexistent").is_none());
        assert_eq!(names().count(), PRESETS.len());
    }

    #[test]
    fn no_preset_grants_anything() {
        for name in names() {
            let raw: RawPolicy = toml::from_str(text(name).unwrap()).unwrap();
            assert!(raw.grants.is_none(), "{name} carries grants");
        }
    }

    /// Every rule of every preset lets through at least one route of the
    /// Engine's table: a rule no route matches is a typo that would
    /// silently allow nothing.
    #[test]
    fn every_rule_names_a_route_the_table_knows() {
        for name in names() {
            for rule in &find(name).unwrap().rules {
                let one = Policy::compile("one", vec![rule.clone()], Grants::none()).unwrap();
                let known = ROUTES
                    .iter()
                    .any(|route| one.first_match(&route.method, &route.example()).is_some());
                assert!(known, "preset {name}: rule {rule} matches no Engine route");
            }
        }
    }

    /// Reads that hand out more than state: stdin (the websocket attach),
    /// files out of containers and images, the swarm's unlock key.
    const NOT_READS: &[&str] = &[
        "ContainerAttachWebsocket",
        "ContainerExport",
        "ContainerArchive",
        "ContainerArchiveStat",
        "ImageGet",
        "ImageGetAll",
        "SwarmUnlockkey",
    ];

    #[test]
    fn read_only_presets_only_read() {
        for name in READ_ONLY {
            let policy = find(name).unwrap();
            for rule in &policy.rules {
                let method = rule.method.as_ref().map(|m| m.as_str());
                assert!(
                    matches!(method, Some("GET" | "HEAD")),
                    "preset {name}: {rule} is not a read"
                );
            }
            for route in ROUTES.iter().filter(|r| NOT_READS.contains(&r.name)) {
                let path = route.example();
                assert!(
                    policy.first_match(&route.method, &path).is_none(),
                    "preset {name} allows {} {path}",
                    route.method
                );
            }
        }
    }
}
