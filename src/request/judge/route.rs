//! The Engine API's route table: every route the Engine's router has served
//! from Engine 17.06 to the newest, in the order the router tries them, and
//! what dockgate must inspect on each.
//!
//! The Engine registers its routes with gorilla/mux, one router after another
//! (checkpoints first, "or the DELETE gets masked", then containers, images,
//! system, volumes, build, session, swarm, plugins, distribution, networks,
//! debug, gRPC), each route once with the `/v{version:[0-9.]+}` prefix and
//! once without. A request goes to the first route whose method and path
//! template match. Templates are matched as mux matches them:
//! * `{name:.*}` is a greedy regular expression that crosses `/` and may be
//!   empty, so `/containers/a/b/start` starts the container `a/b`, and
//!   `/containers/x/exec/start` starts `x/exec`;
//! * `{name:.+}` is the same but never empty;
//! * a bare `{id}` is one non-empty segment (`[^/]+`).
//!
//! The API version does not change which handler a path reaches (a minimum
//! version is checked inside the handler), so the table is matched on the
//! route with its version prefix removed ([`crate::request::path`]). Where
//! Engines in that range route differently (newer ones also register the
//! debug routes under the version prefix), the broader form is kept: it can
//! only make dockgate inspect more. Engines 1.12 and 1.13 (2016), whose
//! swarm routes took names with `/`, are not covered.
//!
//! A path no route matches is one the Engine would answer 404 or 405, or one
//! that a newer Engine than this table added: [`find`] returns `None` and
//! the judge refuses it unless the policy grants unknown routes.

use std::collections::HashMap;
use std::sync::LazyLock;

use hyper::Method;

use crate::request::inspect::Endpoint;

/// One route of the Engine's router.
#[derive(Debug)]
pub struct Route {
    /// The method mux requires; HEAD is only ever its own route.
    pub method: Method,
    /// The path template exactly as the Engine registers it.
    pub template: &'static str,
    /// The Engine's name for what the route does, for messages and `explain`.
    pub name: &'static str,
    /// What dockgate inspects beyond the allow rule: the body, query or grant
    /// a request to this route needs. `None`: the rule alone decides.
    pub inspect: Option<Endpoint>,
    tokens: Vec<Token>,
}

/// A piece of a compiled template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(&'static str),
    /// `{name}`: `[^/]+`.
    Segment,
    /// `{name:.*}` (`nonempty` false) or `{name:.+}`: any run of bytes, `/` included.
    Any {
        nonempty: bool,
    },
}

/// `(method, template, name, inspection)` in the Engine's registration order.
type Entry = (&'static str, &'static str, &'static str, Option<Endpoint>);

use Endpoint as E;

#[rustfmt::skip]
const TABLE: &[Entry] = &[
    // Checkpoints (experimental): `checkpoint-dir` and `CheckpointDir` name
    // host paths the Engine writes to and restores from.
    ("GET", "/containers/{name:.*}/checkpoints", "ContainerCheckpointList", Some(E::Checkpoint)),
    ("POST", "/containers/{name:.*}/checkpoints", "ContainerCheckpointCreate", Some(E::Checkpoint)),
    ("DELETE", "/containers/{name}/checkpoints/{checkpoint}", "ContainerCheckpointDelete", Some(E::Checkpoint)),
    // Containers.
    ("HEAD", "/containers/{name:.*}/archive", "ContainerArchiveStat", None),
    ("GET", "/containers/json", "ContainerList", None),
    ("GET", "/containers/{name:.*}/export", "ContainerExport", None),
    ("GET", "/containers/{name:.*}/changes", "ContainerChanges", None),
    ("GET", "/containers/{name:.*}/json", "ContainerInspect", None),
    ("GET", "/containers/{name:.*}/top", "ContainerTop", Some(E::ContainerTop)),
    ("GET", "/containers/{name:.*}/logs", "ContainerLogs", None),
    ("GET", "/containers/{name:.*}/stats", "ContainerStats", None),
    ("GET", "/containers/{name:.*}/attach/ws", "ContainerAttachWebsocket", None),
    ("GET", "/exec/{id:.*}/json", "ExecInspect", None),
    ("GET", "/containers/{name:.*}/archive", "ContainerArchive", None),
    ("POST", "/containers/create", "ContainerCreate", Some(E::ContainerCreate)),
    ("POST", "/containers/{name:.*}/kill", "ContainerKill", None),
    ("POST", "/containers/{name:.*}/pause", "ContainerPause", None),
    ("POST", "/containers/{name:.*}/unpause", "ContainerUnpause", None),
    ("POST", "/containers/{name:.*}/restart", "ContainerRestart", None),
    ("POST", "/containers/{name:.*}/start", "ContainerStart", Some(E::ContainerStart)),
    ("POST", "/containers/{name:.*}/stop", "ContainerStop", None),
    ("POST", "/containers/{name:.*}/wait", "ContainerWait", None),
    ("POST", "/containers/{name:.*}/resize", "ContainerResize", None),
    ("POST", "/containers/{name:.*}/attach", "ContainerAttach", None),
    // Engines before 25.0 (API 1.20 and older clients).
    ("POST", "/containers/{name:.*}/copy", "ContainerCopy", None),
    ("POST", "/containers/{name:.*}/exec", "ExecCreate", Some(E::ExecCreate)),
    ("POST", "/exec/{name:.*}/start", "ExecStart", None),
    ("POST", "/exec/{name:.*}/resize", "ExecResize", None),
    ("POST", "/containers/{name:.*}/rename", "ContainerRename", None),
    ("POST", "/containers/{name:.*}/update", "ContainerUpdate", Some(E::ContainerUpdate)),
    ("POST", "/containers/prune", "ContainerPrune", None),
    ("POST", "/commit", "ImageCommit", None),
    ("PUT", "/containers/{name:.*}/archive", "PutContainerArchive", None),
    ("DELETE", "/containers/{name:.*}", "ContainerDelete", None),
    // Images.
    ("GET", "/images/json", "ImageList", None),
    ("GET", "/images/search", "ImageSearch", None),
    ("GET", "/images/get", "ImageGetAll", None),
    ("GET", "/images/{name:.*}/get", "ImageGet", None),
    ("GET", "/images/{name:.*}/history", "ImageHistory", None),
    ("GET", "/images/{name:.*}/json", "ImageInspect", None),
    ("GET", "/images/{name:.*}/attestations", "ImageAttestations", None),
    ("POST", "/images/load", "ImageLoad", None),
    ("POST", "/images/create", "ImageCreate", None),
    ("POST", "/images/{name:.*}/push", "ImagePush", None),
    ("POST", "/images/{name:.*}/tag", "ImageTag", None),
    ("POST", "/images/prune", "ImagePrune", None),
    ("DELETE", "/images/{name:.*}", "ImageDelete", None),
    // System.
    ("GET", "/_ping", "SystemPing", None),
    ("HEAD", "/_ping", "SystemPingHead", None),
    ("GET", "/events", "SystemEvents", None),
    ("GET", "/info", "SystemInfo", None),
    ("GET", "/version", "SystemVersion", None),
    ("GET", "/system/df", "SystemDataUsage", None),
    ("POST", "/auth", "SystemAuth", None),
    // Volumes.
    ("GET", "/volumes", "VolumeList", None),
    ("GET", "/volumes/{name:.*}", "VolumeInspect", None),
    ("POST", "/volumes/create", "VolumeCreate", Some(E::VolumeCreate)),
    ("POST", "/volumes/prune", "VolumePrune", None),
    // Cluster volumes only.
    ("PUT", "/volumes/{name:.*}", "VolumeUpdate", Some(E::SwarmMembership)),
    ("DELETE", "/volumes/{name:.*}", "VolumeDelete", None),
    // Build.
    ("POST", "/build", "ImageBuild", Some(E::Build)),
    ("POST", "/build/prune", "BuildPrune", None),
    ("POST", "/build/cancel", "BuildCancel", None),
    // BuildKit's session: the Engine calls into the client over it (for the
    // build context, registry credentials, secrets the client chose to
    // share); the client asks nothing of the Engine. The build that uses it
    // is `POST /build`, whose query is inspected, or `/grpc`, which needs
    // its grant.
    ("POST", "/session", "Session", None),
    // Swarm: joining, creating or changing a cluster hands the host to
    // whoever manages it. Its inspect answers with the manager join token
    // (whoever reads it can join as a manager) and the unlock key opens its
    // raft log: reading either is membership too.
    ("POST", "/swarm/init", "SwarmInit", Some(E::SwarmMembership)),
    ("POST", "/swarm/join", "SwarmJoin", Some(E::SwarmMembership)),
    ("POST", "/swarm/leave", "SwarmLeave", Some(E::SwarmMembership)),
    ("GET", "/swarm", "SwarmInspect", Some(E::SwarmMembership)),
    ("GET", "/swarm/unlockkey", "SwarmUnlockkey", Some(E::SwarmMembership)),
    ("POST", "/swarm/update", "SwarmUpdate", Some(E::SwarmMembership)),
    ("POST", "/swarm/unlock", "SwarmUnlock", Some(E::SwarmMembership)),
    ("GET", "/services", "ServiceList", None),
    ("GET", "/services/{id}", "ServiceInspect", None),
    ("POST", "/services/create", "ServiceCreate", Some(E::ServiceCreate)),
    ("POST", "/services/{id}/update", "ServiceUpdate", Some(E::ServiceUpdate)),
    ("DELETE", "/services/{id}", "ServiceDelete", None),
    ("GET", "/services/{id}/logs", "ServiceLogs", None),
    ("GET", "/nodes", "NodeList", None),
    ("GET", "/nodes/{id}", "NodeInspect", None),
    ("DELETE", "/nodes/{id}", "NodeDelete", Some(E::SwarmMembership)),
    ("POST", "/nodes/{id}/update", "NodeUpdate", Some(E::SwarmMembership)),
    ("GET", "/tasks", "TaskList", None),
    ("GET", "/tasks/{id}", "TaskInspect", None),
    ("GET", "/tasks/{id}/logs", "TaskLogs", None),
    ("GET", "/secrets", "SecretList", None),
    ("POST", "/secrets/create", "SecretCreate", None),
    ("DELETE", "/secrets/{id}", "SecretDelete", None),
    ("GET", "/secrets/{id}", "SecretInspect", None),
    ("POST", "/secrets/{id}/update", "SecretUpdate", None),
    ("GET", "/configs", "ConfigList", None),
    ("POST", "/configs/create", "ConfigCreate", None),
    ("DELETE", "/configs/{id}", "ConfigDelete", None),
    ("GET", "/configs/{id}", "ConfigInspect", None),
    ("POST", "/configs/{id}/update", "ConfigUpdate", None),
    // Plugins run with the host privileges they ask for.
    ("GET", "/plugins", "PluginList", None),
    ("GET", "/plugins/{name:.*}/json", "PluginInspect", None),
    ("GET", "/plugins/privileges", "GetPluginPrivileges", None),
    ("DELETE", "/plugins/{name:.*}", "PluginDelete", None),
    ("POST", "/plugins/{name:.*}/enable", "PluginEnable", None),
    ("POST", "/plugins/{name:.*}/disable", "PluginDisable", None),
    ("POST", "/plugins/pull", "PluginPull", Some(E::PluginInstall)),
    ("POST", "/plugins/{name:.*}/push", "PluginPush", None),
    ("POST", "/plugins/{name:.*}/upgrade", "PluginUpgrade", Some(E::PluginUpgrade)),
    ("POST", "/plugins/{name:.*}/set", "PluginSet", Some(E::PluginSet)),
    ("POST", "/plugins/create", "PluginCreate", Some(E::PluginCreate)),
    // Distribution.
    ("GET", "/distribution/{name:.*}/json", "DistributionInspect", None),
    // Networks.
    ("GET", "/networks", "NetworkList", None),
    ("GET", "/networks/{id:.+}", "NetworkInspect", None),
    ("POST", "/networks/create", "NetworkCreate", None),
    ("POST", "/networks/{id:.*}/connect", "NetworkConnect", None),
    ("POST", "/networks/{id:.*}/disconnect", "NetworkDisconnect", None),
    ("POST", "/networks/prune", "NetworkPrune", None),
    ("DELETE", "/networks/{id:.*}", "NetworkDelete", None),
    // Debug (only when the Engine runs with debug on).
    ("GET", "/debug/vars", "DebugVars", None),
    ("GET", "/debug/pprof/", "DebugPprofIndex", None),
    ("GET", "/debug/pprof/cmdline", "DebugPprofCmdline", None),
    ("GET", "/debug/pprof/profile", "DebugPprofProfile", None),
    ("GET", "/debug/pprof/symbol", "DebugPprofSymbol", None),
    ("GET", "/debug/pprof/trace", "DebugPprofTrace", None),
    ("GET", "/debug/pprof/{name}", "DebugPprof", None),
    // BuildKit's control API: it can ask for the `network.host` and
    // `security.insecure` entitlements, which cannot be inspected here.
    ("POST", "/grpc", "BuildKit", Some(E::BuildKit)),
];

/// Route names and the query parameters their handlers read: moby's
/// `postContainersKill`, `postContainersStop`, `postContainersRestart`
/// (`signal` from API 1.42), `postContainersWait`, `deleteContainers`,
/// `postContainersResize` and `postContainerExecResize`.
const QUERY_PARAMETERS: &[(&str, &[&str])] = &[
    ("ContainerKill", &["signal"]),
    ("ContainerStop", &["t", "signal"]),
    ("ContainerRestart", &["t", "signal"]),
    ("ContainerWait", &["condition"]),
    ("ContainerDelete", &["force", "v", "link"]),
    ("ContainerResize", &["h", "w"]),
    ("ExecResize", &["h", "w"]),
];

/// Whether some route's handler is listed as reading the query key `key`.
pub fn is_query_parameter(key: &str) -> bool {
    QUERY_PARAMETERS.iter().any(|(_, keys)| keys.contains(&key))
}

/// Query parameters a route's handler reads only from an API version on,
/// and ignores when the request names an older one: moby's
/// `postContainersStop` and `postContainersRestart` read `signal` from 1.42
/// (Engine 23.0), `postContainersWait` reads `condition` from 1.30.
const QUERY_PARAMETERS_SINCE: &[(&str, &str, &str)] = &[
    ("ContainerStop", "signal", "1.42"),
    ("ContainerRestart", "signal", "1.42"),
    ("ContainerWait", "condition", "1.30"),
];

/// Every route, compiled once.
pub static ROUTES: LazyLock<Vec<Route>> = LazyLock::new(|| {
    TABLE
        .iter()
        .map(|&(method, template, name, inspect)| Route {
            method: method.parse().expect("the table's methods are valid"),
            template,
            name,
            inspect,
            tokens: compile(template),
        })
        .collect()
});

/// The routes whose template starts with each first path segment, in table
/// order. Every template starts with a literal segment, so a path can only
/// match routes filed under its own first segment, and trying them in
/// table order keeps the router's first-match order.
static BY_FIRST_SEGMENT: LazyLock<HashMap<&'static str, Vec<&'static Route>>> =
    LazyLock::new(|| {
        let mut index: HashMap<&'static str, Vec<&'static Route>> = HashMap::new();
        for route in ROUTES.iter() {
            let segment = first_segment(route.template);
            assert!(
                !segment.contains('{'),
                "{} must start with a literal segment",
                route.template
            );
            index.entry(segment).or_default().push(route);
        }
        index
    });

/// `containers` for `/containers/...`.
fn first_segment(path: &str) -> &str {
    let rest = path.strip_prefix('/').unwrap_or(path);
    rest.split('/').next().unwrap_or("")
}

/// The routes a path may match, in table order.
fn candidates(route: &str) -> impl Iterator<Item = &'static Route> {
    BY_FIRST_SEGMENT
        .get(first_segment(route))
        .into_iter()
        .flatten()
        .copied()
}

/// The route the Engine's router sends `method route` to, if it has one.
/// `route` is the canonical path with the version prefix removed.
pub fn find(method: &Method, route: &str) -> Option<&'static Route> {
    candidates(route).find(|r| r.method == *method && matches(&r.tokens, route))
}

/// Whether some route, under any method, matches `route`: tells a wrong
/// method (the Engine's 405) from an unknown path in refusals.
pub fn path_is_known(route: &str) -> bool {
    candidates(route).any(|r| matches(&r.tokens, route))
}

/// Whether API version `a` is below `b` as moby's `versions.LessThan`
/// compares them: part by part as numbers, a missing or empty part as 0.
fn version_below(a: &str, b: &str) -> bool {
    // Go's Atoi gives 0 for an empty part and saturates on overflow; a
    // version prefix holds only digits and dots.
    let number = |part: Option<&str>| -> u64 {
        part.filter(|p| !p.is_empty())
            .map_or(0, |p| p.parse().unwrap_or(u64::MAX))
    };
    let (mut a, mut b) = (a.split('.'), b.split('.'));
    loop {
        let (x, y) = (a.next(), b.next());
        if x.is_none() && y.is_none() {
            return false;
        }
        match number(x).cmp(&number(y)) {
            std::cmp::Ordering::Less => return true,
            std::cmp::Ordering::Greater => return false,
            std::cmp::Ordering::Equal => {}
        }
    }
}

impl Route {
    /// The value the template's first variable takes in `route`, as the
    /// Engine's router captures it (greedy), if this route matches.
    pub fn capture<'r>(&self, route: &'r str) -> Option<&'r str> {
        capture_first(&self.tokens, route, None)
    }

    /// A path this route matches: each variable is `x`.
    pub fn example(&self) -> String {
        self.tokens
            .iter()
            .map(|t| match t {
                Token::Literal(lit) => lit,
                Token::Segment | Token::Any { .. } => "x",
            })
            .collect()
    }

    /// The API version from which the route's handler reads query
    /// parameter `key`, if it does not read it in every version.
    pub fn reads_query_since(&self, key: &str) -> Option<&'static str> {
        QUERY_PARAMETERS_SINCE
            .iter()
            .find(|(name, k, _)| *name == self.name && *k == key)
            .map(|(_, _, since)| *since)
    }

    /// Whether the handler ignores query parameter `key` in a request that
    /// names API `version` (its path prefix). Without a prefix the Engine
    /// uses its own version, which dockgate does not know: taken as read.
    pub fn ignores_query(&self, key: &str, version: Option<&str>) -> bool {
        match (self.reads_query_since(key), version) {
            (Some(since), Some(version)) => version_below(version, since),
            _ => false,
        }
    }

    /// Every query parameter the route's handler reads, Engine 17.06 to
    /// now, for the routes a query constraint is written for; `None` for
    /// a route not listed. A rule that constrains another key constrains
    /// nothing the Engine acts on.
    pub fn query_parameters(&self) -> Option<&'static [&'static str]> {
        QUERY_PARAMETERS
            .iter()
            .find(|(name, _)| *name == self.name)
            .map(|(_, keys)| *keys)
    }

    /// The narrowest allow-rule glob for `route` on this route, if it
    /// matches: the template with each variable as `*`, or `**` where the
    /// name it took holds a `/` (`/containers/*/start`, `/images/**/json`).
    /// Only the first variable may take a `/`; later ones are segments.
    pub fn rule_glob(&self, route: &str) -> Option<String> {
        let captured = self.capture(route)?;
        let mut glob = String::new();
        for token in &self.tokens {
            match token {
                Token::Literal(lit) => glob.push_str(lit),
                Token::Any { .. } if captured.contains('/') => glob.push_str("**"),
                Token::Segment | Token::Any { .. } => glob.push('*'),
            }
        }
        Some(glob)
    }
}

fn compile(template: &'static str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        match rest.find('{') {
            Some(0) => {
                let end = rest.find('}').expect("the table's variables are closed");
                let var = &rest[1..end];
                tokens.push(match var.split_once(':') {
                    None => Token::Segment,
                    Some((_, ".*")) => Token::Any { nonempty: false },
                    Some((_, ".+")) => Token::Any { nonempty: true },
                    Some((_, other)) => panic!("unsupported pattern {other} in {template}"),
                });
                rest = &rest[end + 1..];
            }
            Some(i) => {
                tokens.push(Token::Literal(&rest[..i]));
                rest = &rest[i..];
            }
            None => {
                tokens.push(Token::Literal(rest));
                rest = "";
            }
        }
    }
    tokens
}

/// Whether `path` matches the whole template.
fn matches(tokens: &[Token], path: &str) -> bool {
    capture_first(tokens, path, None).is_some()
}

/// Matches `path` against `tokens` as an anchored regular expression with
/// greedy variables (longest first, backtracking), and returns the text the
/// first variable captured (`""` for a template without variables).
fn capture_first<'p>(tokens: &[Token], path: &'p str, first: Option<&'p str>) -> Option<&'p str> {
    let Some((token, rest)) = tokens.split_first() else {
        return path.is_empty().then_some(first.unwrap_or(""));
    };
    match token {
        Token::Literal(lit) => capture_first(rest, path.strip_prefix(lit)?, first),
        Token::Segment => {
            let longest = path.find('/').unwrap_or(path.len());
            (1..=longest)
                .rev()
                .filter(|&n| path.is_char_boundary(n))
                .find_map(|n| capture_first(rest, &path[n..], first.or(Some(&path[..n]))))
        }
        Token::Any { nonempty } => {
            let min = usize::from(*nonempty);
            // Followed by one last literal, the variable is what precedes it:
            // the only way to match, so the greedy one.
            if let [Token::Literal(last)] = rest {
                let captured = path.strip_suffix(last)?;
                return (captured.len() >= min).then_some(first.unwrap_or(captured));
            }
            (min..=path.len())
                .rev()
                .filter(|&n| path.is_char_boundary(n))
                .find_map(|n| capture_first(rest, &path[n..], first.or(Some(&path[..n]))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(method: &str, path: &str) -> Option<&'static str> {
        find(&method.parse().unwrap(), path).map(|r| r.name)
    }

    #[test]
    fn versions_compare_part_by_part_as_numbers() {
        for (a, b, below) in [
            ("1.41", "1.42", true),
            ("1.42", "1.42", false),
            ("1.43", "1.42", false),
            ("1.4", "1.42", true),
            ("1.041", "1.42", true),
            ("1.42.0", "1.42", false),
            ("1..42", "1.42", true),
            ("2", "1.42", false),
            ("1", "1.42", true),
            ("1.99999999999999999999999", "1.42", false),
        ] {
            assert_eq!(version_below(a, b), below, "{a} < {b}");
        }
    }

    #[test]
    fn routes_as_the_engine_router_does() {
        let table = [
            ("GET", "/containers/json", Some("ContainerList")),
            ("GET", "/containers/abc/json", Some("ContainerInspect")),
            // Names and aliases contain '/': the greedy variable takes them.
            ("GET", "/containers/a/b/json", Some("ContainerInspect")),
            ("POST", "/containers/a/b/start", Some("ContainerStart")),
            ("POST", "/containers/x/exec/start", Some("ContainerStart")),
            ("POST", "/containers/x/start/exec", Some("ExecCreate")),
            ("POST", "/containers/a/b/c/update", Some("ContainerUpdate")),
            ("POST", "/containers/create", Some("ContainerCreate")),
            ("POST", "/containers/create/start", Some("ContainerStart")),
            ("POST", "/exec/123/start", Some("ExecStart")),
            ("DELETE", "/containers/a/b", Some("ContainerDelete")),
            // The checkpoint router comes first.
            (
                "DELETE",
                "/containers/a/checkpoints/b",
                Some("ContainerCheckpointDelete"),
            ),
            (
                "DELETE",
                "/containers/a/x/checkpoints/b",
                Some("ContainerDelete"),
            ),
            (
                "GET",
                "/images/library/busybox:latest/json",
                Some("ImageInspect"),
            ),
            ("GET", "/images/json", Some("ImageList")),
            ("GET", "/images/get", Some("ImageGetAll")),
            (
                "POST",
                "/plugins/vieux/sshfs:latest/upgrade",
                Some("PluginUpgrade"),
            ),
            ("GET", "/networks/a/b", Some("NetworkInspect")),
            ("GET", "/services/x", Some("ServiceInspect")),
            ("GET", "/services/x/y", None),
            ("POST", "/services/x/update", Some("ServiceUpdate")),
            ("HEAD", "/_ping", Some("SystemPingHead")),
            ("HEAD", "/info", None),
            ("POST", "/info", None),
            ("GET", "/containers//json", Some("ContainerInspect")),
            ("POST", "/containers/start", None),
            ("GET", "/nope", None),
            ("POST", "/session", Some("Session")),
            ("POST", "/swarm/join", Some("SwarmJoin")),
        ];
        for (method, path, want) in table {
            assert_eq!(name(method, path), want, "{method} {path}");
        }
    }

    #[test]
    fn captures_greedily() {
        let route = find(&Method::POST, "/containers/a/b/start").unwrap();
        assert_eq!(route.capture("/containers/a/b/start"), Some("a/b"));
        let route = find(&Method::DELETE, "/containers/a/checkpoints/b").unwrap();
        assert_eq!(route.capture("/containers/a/checkpoints/b"), Some("a"));
        let route = find(&Method::GET, "/containers/json").unwrap();
        assert_eq!(route.capture("/containers/json"), Some(""));
    }

    #[test]
    fn every_inspected_endpoint_has_a_route() {
        for endpoint in Endpoint::ALL {
            assert!(
                ROUTES.iter().any(|r| r.inspect == Some(endpoint)),
                "{endpoint:?} has no route"
            );
        }
    }

    /// The index and the suffix shortcut change nothing: every template,
    /// filled with names that look like other routes, is found as a plain
    /// scan of the table in order finds it.
    #[test]
    fn the_index_finds_what_a_scan_in_table_order_finds() {
        let values = [
            "x",
            "a/b",
            "x/json",
            "x/start",
            "x/exec/y",
            "c/checkpoints/d",
            "é",
        ];
        let methods = [
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::DELETE,
        ];
        let mut checked = 0;
        for template in ROUTES.iter().map(|r| r.template) {
            for value in values {
                let mut path = String::new();
                let mut rest = template;
                while let Some(open) = rest.find('{') {
                    path.push_str(&rest[..open]);
                    path.push_str(value);
                    rest = &rest[rest.find('}').unwrap() + 1..];
                }
                path.push_str(rest);
                for method in &methods {
                    let scanned = ROUTES.iter().find(|r| {
                        r.method == *method && capture_first(&r.tokens, &path, None).is_some()
                    });
                    let found = find(method, &path);
                    assert_eq!(
                        found.map(|r| r.name),
                        scanned.map(|r| r.name),
                        "{method} {path}"
                    );
                    if let (Some(found), Some(scanned)) = (found, scanned) {
                        assert_eq!(found.capture(&path), scanned.capture(&path), "{path}");
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked > 4000, "{checked}");
    }

    #[test]
    fn names_outside_ascii_never_split_a_character() {
        assert_eq!(name("GET", "/services/é"), Some("ServiceInspect"));
        assert_eq!(name("GET", "/containers/é/json"), Some("ContainerInspect"));
        let route = find(&Method::GET, "/services/éé").unwrap();
        assert_eq!(route.capture("/services/éé"), Some("éé"));
    }

    #[test]
    fn a_wrong_method_is_told_from_an_unknown_path() {
        assert!(path_is_known("/info"));
        assert!(!path_is_known("/nope"));
    }

    #[test]
    fn examples_match_their_routes_and_listed_parameters_name_routes() {
        for route in ROUTES.iter() {
            assert!(
                matches(&route.tokens, &route.example()),
                "{}",
                route.template
            );
        }
        for (name, _) in QUERY_PARAMETERS {
            assert!(ROUTES.iter().any(|r| r.name == *name), "{name}");
        }
        let kill = find(&Method::POST, "/containers/x/kill").unwrap();
        assert_eq!(kill.example(), "/containers/x/kill");
        assert_eq!(kill.query_parameters(), Some(&["signal"][..]));
    }
}
