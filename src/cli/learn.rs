//! `dockgate policy learn`: from audit logs, for each client, the
//! narrowest policy that would have allowed everything it did.
//!
//! Only `allow` and `would_deny` lines teach: what was forwarded, or would
//! have been but for the policy. Each logged path is matched to the
//! Engine's route with the judge's own canonicalisation and route table
//! ([`crate::request::judge::route`]), and the route's template gives the
//! rule: every name or ID it took becomes `*` (`**` when the name holds a
//! `/`), the version prefix goes. The grants are the items each line's
//! `grants` field lists (or, in a line from before that field, the one its
//! `detail` names). Whatever cannot become a rule or grant (a route the
//! table does not know, a body no grant allows, a line refused for a
//! reason no policy decides) is reported in comments, never learned.
//! On a kill, the rule also names the signals sent
//! ([`crate::cli::learned_query`]).
//!
//! The output is sorted throughout: the same logs give the same text.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;

use hyper::{Method, Uri};

use crate::cli::audit_log::{self, Entry, Logged, Place};
use crate::cli::learned_query;
use crate::config::needed::{toml_string, Need, Needed};
use crate::request::judge::route;
use crate::request::path;

/// How often something was seen, and the first request that showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub count: u64,
    /// `timestamp method path` of the earliest line, and where it was read.
    pub first: (String, String, String, Place),
}

impl Seen {
    fn new(logged: &Logged, place: &Place) -> Seen {
        Seen {
            count: 0,
            first: (
                logged.timestamp.clone(),
                logged.method.clone(),
                logged.path.clone(),
                place.clone(),
            ),
        }
    }

    /// Counts one more line; the earliest by timestamp (then by place) is
    /// the first, whatever order the files were given in.
    fn add(&mut self, logged: &Logged, place: &Place) {
        self.count += 1;
        let candidate = (&logged.timestamp, place);
        if candidate < (&self.first.0, &self.first.3) {
            *self = Seen {
                count: self.count,
                ..Seen::new(logged, place)
            };
        }
    }

    /// Counts `other`'s lines here too, keeping the earlier first line.
    fn absorb(&mut self, other: &Seen) {
        self.count += other.count;
        if (&other.first.0, &other.first.3) < (&self.first.0, &self.first.3) {
            self.first = other.first.clone();
        }
    }

    fn note(map: &mut BTreeMap<String, Seen>, key: String, logged: &Logged, place: &Place) {
        map.entry(key)
            .or_insert_with(|| Seen::new(logged, place))
            .add(logged, place);
    }
}

impl std::fmt::Display for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (at, method, path, _) = &self.first;
        write!(
            f,
            "{}, first {} {} {}",
            counted(self.count, "request"),
            printable(at),
            printable(method),
            printable(path)
        )
    }
}

/// What one client's lines taught.
#[derive(Debug, Default)]
pub struct ClientLog {
    /// `METHOD GLOB` → the lines it covers.
    pub rules: BTreeMap<String, Seen>,
    /// `METHOD GLOB` → what its lines sent for the query key its learned
    /// rule constrains; only rules whose route has one.
    pub queries: BTreeMap<String, Sent>,
    pub grants: BTreeMap<Need, Seen>,
    /// Not learned, each with why: unknown routes, refusals no policy
    /// decides, bodies no grant allows.
    pub not_learned: BTreeMap<String, Seen>,
    /// The tenants its lines were confined to (`""`: none).
    pub tenants: BTreeSet<String>,
}

/// What the lines of one rule sent for the query key a learned rule
/// constrains ([`learned_query`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub key: &'static str,
    /// Each value as logged; `""`: a request without the key.
    pub values: BTreeSet<String>,
    /// Why no constraint can be written, each with the lines that showed
    /// it; the rule is then left unconstrained.
    pub unwritable: BTreeMap<String, Seen>,
}

impl Sent {
    fn new(key: &'static str) -> Sent {
        Sent {
            key,
            values: BTreeSet::new(),
            unwritable: BTreeMap::new(),
        }
    }

    /// `?signal=|HUP`, or nothing when some line's value cannot be named.
    fn constraint(&self) -> String {
        if !self.unwritable.is_empty() {
            return String::new();
        }
        let values: Vec<&str> = self.values.iter().map(String::as_str).collect();
        format!("?{}={}", self.key, values.join("|"))
    }

    /// Whether a rule learned from `self` allows every request one learned
    /// from `other` does.
    fn covers(&self, other: &Sent) -> bool {
        !self.unwritable.is_empty()
            || (self.key == other.key
                && other.unwritable.is_empty()
                && other.values.is_subset(&self.values))
    }

    fn absorb(&mut self, other: &Sent) {
        self.values.extend(other.values.iter().cloned());
        for (why, seen) in &other.unwritable {
            match self.unwritable.get_mut(why) {
                Some(into) => into.absorb(seen),
                None => {
                    self.unwritable.insert(why.clone(), seen.clone());
                }
            }
        }
    }
}

/// Everything the logs taught.
#[derive(Debug, Default)]
pub struct Learning {
    pub clients: BTreeMap<String, ClientLog>,
    pub files: usize,
    pub audit_lines: u64,
    pub other_lines: u64,
    /// Audit lines that could not be read, and lines without a client.
    pub unreadable: BTreeMap<String, Seen>,
}

/// What a logged request's target is, as a rule would match it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `METHOD GLOB`, the narrowest rule for the route.
    Rule(String),
    /// A path the route table does not know: `METHOD /route`.
    Unknown(String),
    /// Not a target the gateway would judge at all.
    Invalid(String),
}

/// The rule a logged request teaches.
pub fn target(method: &str, path: &str) -> Target {
    let Ok(method) = method.parse::<Method>() else {
        return Target::Invalid(format!("{method:?} is not a method"));
    };
    if let Err(e) = path::check_method(&method) {
        return Target::Invalid(e.to_string());
    }
    let canonical = match path.parse::<Uri>().map(|uri| path::canonicalize(&uri)) {
        Ok(Ok(target)) => target,
        Ok(Err(e)) => return Target::Invalid(e.to_string()),
        Err(e) => return Target::Invalid(format!("not a request target: {e}")),
    };
    let found = route::find(&method, &canonical.route);
    match found.and_then(|r| r.rule_glob(&canonical.route)) {
        Some(glob) => Target::Rule(format!("{method} {glob}")),
        None => Target::Unknown(format!("{method} {}", canonical.route)),
    }
}

/// Whether the route of a logged request has its query or body inspected.
fn inspects(logged: &Logged) -> bool {
    audit_log::route(&logged.method, &logged.path).is_some_and(|r| r.inspect.is_some())
}

/// The grants a logged request needed: its `grants` field, or in a line
/// from before it, the one grant its `detail` names.
pub fn needed(logged: &Logged) -> Needed {
    match &logged.grants {
        Some(field) => Needed::parse(field).unwrap_or_else(|why| Needed {
            ungrantable: Some(format!("unreadable grants field ({why})")),
            ..Needed::default()
        }),
        None => from_detail(logged),
    }
}

fn from_detail(logged: &Logged) -> Needed {
    let mut needed = Needed::default();
    if logged.decision != "would_deny" {
        return needed;
    }
    if let Some((_, rest)) = logged.detail.split_once("(needs grant `") {
        let short = rest.split_once('`').map(|(n, _)| n);
        match short.and_then(Need::parse).or_else(|| Need::parse(rest)) {
            Some(need) => {
                needed.items.insert(need);
            }
            None => needed.ungrantable = Some(logged.detail.clone()),
        }
    } else if logged.reason == "unknown_field" {
        needed.ungrantable = Some(logged.detail.clone());
    }
    needed
}

/// Reasons a refused line may have that a policy decides: the line is
/// judged again by `policy diff`, never learned from.
pub const POLICY_REASONS: &[&str] = &["no_rule", "unknown_route", "body_rule", "unknown_field"];

impl Learning {
    /// Reads every file; `only` keeps one client's lines.
    pub fn read(paths: &[PathBuf], only: Option<&str>) -> io::Result<Learning> {
        let mut learning = Learning::default();
        for path in paths {
            audit_log::read(path, |place, entry| match entry {
                Entry::Audit(logged) if only.is_none_or(|c| c == logged.client) => {
                    learning.add(&logged, &place);
                }
                Entry::Audit(_) => {}
                Entry::Other => learning.other_lines += 1,
                Entry::Unreadable(why) => {
                    let why = format!("unreadable audit line: {}", printable(&why));
                    Seen::note(&mut learning.unreadable, why, &Logged::default(), &place);
                }
            })
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            learning.files += 1;
        }
        Ok(learning)
    }

    /// Learns from one line.
    pub fn add(&mut self, logged: &Logged, place: &Place) {
        self.audit_lines += 1;
        if logged.client.is_empty() {
            let why = format!(
                "no client ({} {})",
                printable(&logged.decision),
                printable(&logged.reason)
            );
            Seen::note(&mut self.unreadable, why, logged, place);
            return;
        }
        let client = self.clients.entry(logged.client.clone()).or_default();
        client.tenants.insert(logged.tenant.clone());
        let not_learned = &mut client.not_learned;
        match logged.decision.as_str() {
            "allow" | "would_deny" => {}
            "deny" => {
                let why = format!("refused ({}), not learned", printable(&logged.reason));
                return Seen::note(not_learned, why, logged, place);
            }
            other => {
                let why = format!("decision {:?}, not learned", printable(other));
                return Seen::note(not_learned, why, logged, place);
            }
        }
        match target(&logged.method, &logged.path) {
            Target::Rule(rule) => {
                if let Some(key) = learned_query::key(&logged.method, &logged.path) {
                    let sent = client
                        .queries
                        .entry(rule.clone())
                        .or_insert_with(|| Sent::new(key));
                    match learned_query::value(logged.query.as_deref(), key) {
                        Ok(value) => {
                            sent.values.insert(value);
                        }
                        Err(why) => Seen::note(&mut sent.unwritable, why, logged, place),
                    }
                }
                Seen::note(&mut client.rules, rule, logged, place);
            }
            Target::Unknown(route) => {
                let why = format!("a route dockgate does not know: {}", printable(&route));
                return Seen::note(not_learned, why, logged, place);
            }
            Target::Invalid(why) => {
                let why = format!("not a target dockgate judges: {}", printable(&why));
                return Seen::note(not_learned, why, logged, place);
            }
        }
        let needed = needed(logged);
        for need in needed.items {
            client
                .grants
                .entry(need)
                .or_insert_with(|| Seen::new(logged, place))
                .add(logged, place);
        }
        if let Some(why) = needed.ungrantable {
            let why = format!("its body needs what no grant allows: {}", printable(&why));
            Seen::note(not_learned, why, logged, place);
        } else if logged.grants.is_none() && logged.decision == "would_deny" {
            let why = "logged before the grants field: only the first missing grant is known";
            Seen::note(not_learned, why.into(), logged, place);
        } else if logged.decision == "allow"
            && logged.grants.as_deref().is_none_or(str::is_empty)
            && inspects(logged)
        {
            let why = "allowed with no record of the grants its body or query used \
                       (enforce mode): the grants learned may not cover it";
            Seen::note(not_learned, why.into(), logged, place);
        }
    }

    /// The learned policies as configuration text, one client after another.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# dockgate policy learn: {} audit lines from {} file{}; {} other lines passed over.",
            self.audit_lines,
            self.files,
            if self.files == 1 { "" } else { "s" },
            self.other_lines
        );
        for (why, seen) in &self.unreadable {
            let _ = writeln!(out, "# not learned: {why} ({seen})");
        }
        for (name, client) in &self.clients {
            out.push('\n');
            render_client(name, client, &mut out);
        }
        out
    }
}

fn render_client(name: &str, client: &ClientLog, out: &mut String) {
    let policy = format!("learned-{name}");
    let rules = merged(&client.rules, &client.queries);
    let requests: u64 = rules.values().map(|(s, _)| s.count).sum();
    let _ = writeln!(
        out,
        "# Client {}: {} taught {} and {}.",
        toml_string(name),
        counted(requests, "request"),
        counted(rules.len() as u64, "rule"),
        counted(client.grants.len() as u64, "grant"),
    );
    out.push_str(
        "# Keep how the client is known (san, spki_sha256, socket, uids, gids); without `mode` it is enforced.\n",
    );
    let _ = writeln!(out, "[clients.{}]", key(name));
    let _ = writeln!(out, "policies = [{}]", toml_string(&policy));
    let tenants: Vec<&String> = client.tenants.iter().collect();
    match tenants.as_slice() {
        [only] if !only.is_empty() => {
            let _ = writeln!(out, "tenant = {}", toml_string(only));
        }
        [_] | [] => {}
        several => {
            let names: Vec<String> = several.iter().map(|t| toml_string(t)).collect();
            let _ = writeln!(
                out,
                "# its lines were confined to several tenants (\"\" is none): {}",
                printable(&names.join(", "))
            );
        }
    }
    let _ = writeln!(out, "\n[policies.{}]", key(&policy));
    out.push_str("allow = [\n");
    for (rule, (seen, sent)) in &rules {
        let constraint = sent.as_ref().map(Sent::constraint).unwrap_or_default();
        for (why, seen) in sent.iter().flat_map(|s| &s.unwritable) {
            let _ = writeln!(
                out,
                "  # {} not constrained: {} ({seen})",
                sent.as_ref().map_or("", |s| s.key),
                printable(why)
            );
        }
        let _ = writeln!(
            out,
            "  {},  # {seen}",
            toml_string(&format!("{rule}{constraint}"))
        );
    }
    out.push_str("]\n");
    if !client.grants.is_empty() {
        let _ = writeln!(out, "\n[policies.{}.grants]", key(&policy));
        let mut keys: Vec<&str> = client.grants.keys().map(|n| n.key).collect();
        keys.dedup();
        for grant in keys {
            let items = client.grants.iter().filter(|(n, _)| n.key == grant);
            let mut list = String::new();
            for (need, seen) in items {
                match need.config_value() {
                    None => {
                        let _ = writeln!(out, "{grant} = true  # {seen}");
                    }
                    Some(value) => {
                        let _ = writeln!(list, "  {},  # {seen}", toml_string(&value));
                    }
                }
            }
            if !list.is_empty() {
                let _ = write!(out, "{grant} = [\n{list}]\n");
            }
        }
    }
    for (why, seen) in &client.not_learned {
        let _ = writeln!(out, "# not learned: {why} ({seen})");
    }
}

/// The rules without those another covers: `GET /containers/*/json` goes
/// where `GET /containers/**/json` was learned too (a name with a `/`),
/// its requests counted there. A rule whose query constraint allows what
/// the wider one's does not (a signal only it sent, or no constraint at
/// all) stays: merged, it would widen the other.
fn merged(
    rules: &BTreeMap<String, Seen>,
    queries: &BTreeMap<String, Sent>,
) -> BTreeMap<String, (Seen, Option<Sent>)> {
    let mut out: BTreeMap<String, (Seen, Option<Sent>)> = rules
        .iter()
        .map(|(rule, seen)| (rule.clone(), (seen.clone(), queries.get(rule).cloned())))
        .collect();
    for (rule, seen) in rules {
        let sent = queries.get(rule);
        let wider = rule
            .match_indices("/*")
            .filter(|(at, _)| !rule[at + 2..].starts_with('*'))
            .map(|(at, _)| format!("{}/**{}", &rule[..at], &rule[at + 2..]))
            .find(|wider| {
                rules.contains_key(wider)
                    && match (queries.get(wider), sent) {
                        (None, _) => true,
                        (Some(wide), Some(narrow)) => wide.covers(narrow),
                        (Some(_), None) => false,
                    }
            });
        if let Some(wider) = wider {
            out.remove(rule);
            let into = out.get_mut(&wider).expect("the wider rule is kept");
            into.0.absorb(seen);
            if let (Some(into), Some(sent)) = (&mut into.1, sent) {
                into.absorb(sent);
            }
        }
    }
    out
}

/// `1 rule`, `2 rules`.
fn counted(n: u64, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// A TOML key: bare when it can be.
fn key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if bare {
        name.to_owned()
    } else {
        toml_string(name)
    }
}

/// Text a log line carried, safe to print on one line (in a TOML comment
/// or on a terminal): control characters escaped.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_generalise_to_the_routes_templates() {
        let rule = |s: &str| Target::Rule(s.to_owned());
        let table = [
            ("GET", "/v1.41/_ping", rule("GET /_ping")),
            ("HEAD", "/_ping", rule("HEAD /_ping")),
            (
                "POST",
                "/v1.41/containers/3f2a9c0d1e2b3f2a9c0d1e2b3f2a9c0d1e2b3f2a9c0d1e2b3f2a9c0d1e2b3f2a/start",
                rule("POST /containers/*/start"),
            ),
            ("POST", "/v1.24/containers/create", rule("POST /containers/create")),
            ("GET", "/containers/web_1/json", rule("GET /containers/*/json")),
            ("GET", "/v1.41/containers/a/b/json", rule("GET /containers/**/json")),
            ("POST", "/v1.41/containers/x/exec", rule("POST /containers/*/exec")),
            ("POST", "/v1.41/exec/9a8b7c/start", rule("POST /exec/*/start")),
            ("GET", "/v1.41/exec/9a8b7c/json", rule("GET /exec/*/json")),
            ("GET", "/v1.41/images/busybox:latest/json", rule("GET /images/*/json")),
            (
                "GET",
                "/v1.41/images/registry.example.com:5000/team/app:1.2/json",
                rule("GET /images/**/json"),
            ),
            (
                "DELETE",
                "/v1.41/images/busybox@sha256:0123abcd",
                rule("DELETE /images/*"),
            ),
            ("DELETE", "/v1.41/images/localhost:5000/x", rule("DELETE /images/**")),
            ("POST", "/v1.41/images/a/b/tag", rule("POST /images/**/tag")),
            ("GET", "/v1.41/volumes/data-vol", rule("GET /volumes/*")),
            ("DELETE", "/v1.41/volumes/data-vol", rule("DELETE /volumes/*")),
            ("GET", "/v1.41/networks/my-net", rule("GET /networks/*")),
            ("POST", "/v1.41/networks/my-net/connect", rule("POST /networks/*/connect")),
            ("GET", "/v1.41/services/x", rule("GET /services/*")),
            ("DELETE", "/containers/a/checkpoints/b", rule("DELETE /containers/*/checkpoints/*")),
            ("PUT", "/v1.41/containers/c1/archive", rule("PUT /containers/*/archive")),
            ("HEAD", "/v1.41/containers/c1/archive", rule("HEAD /containers/*/archive")),
            ("POST", "/v1.41/build", rule("POST /build")),
            ("GET", "/v1.41/plugins/vieux/sshfs:latest/json", rule("GET /plugins/**/json")),
            ("GET", "/v1.41/no/such/route", Target::Unknown("GET /no/such/route".into())),
            ("PUT", "/v1.41/info", Target::Unknown("PUT /info".into())),
            ("GET", "/v1.41/services/x/y", Target::Unknown("GET /services/x/y".into())),
        ];
        for (method, path, want) in table {
            assert_eq!(target(method, path), want, "{method} {path}");
        }
        for (method, path) in [
            ("CONNECT", "/_ping"),
            ("GET", "/a/../b"),
            ("GET", "http://x/_ping"),
            ("GET", "/a b"),
            ("G\nET", "/"),
        ] {
            assert!(
                matches!(target(method, path), Target::Invalid(_)),
                "{method} {path}"
            );
        }
    }

    /// Each learned rule is a rule the config accepts, and the judge's
    /// policy matching allows the request it came from with it.
    #[test]
    fn learned_rules_match_what_they_came_from() {
        use crate::config::grants::Grants;
        use crate::config::policy::{Policy, Rule};
        for (method, path) in [
            ("POST", "/v1.41/containers/a/b/start"),
            ("GET", "/v1.41/images/r:5000/x/y:1/json"),
            ("DELETE", "/v1.41/images/sha256:abc"),
            ("GET", "/v1.41/containers/%5Bx%5D*/json"),
        ] {
            let Target::Rule(text) = target(method, path) else {
                panic!("{path}")
            };
            let rule = Rule::parse(&text).unwrap();
            let policy = Policy::compile("p", vec![rule], Grants::none()).unwrap();
            let uri: Uri = path.parse().unwrap();
            let route = path::canonicalize(&uri).unwrap().route;
            assert!(
                policy
                    .first_match(&method.parse().unwrap(), &route)
                    .is_some(),
                "{text} on {route}"
            );
        }
    }

    fn logged(
        decision: &str,
        reason: &str,
        path: &str,
        detail: &str,
        grants: Option<&str>,
    ) -> Logged {
        Logged {
            timestamp: "2026-11-22T23:23:24.000000Z".into(),
            client: "ci".into(),
            method: "POST".into(),
            path: path.into(),
            decision: decision.into(),
            reason: reason.into(),
            detail: detail.into(),
            grants: grants.map(str::to_owned),
            ..Logged::default()
        }
    }

    #[test]
    fn a_confined_client_stays_confined() {
        let place = Place {
            file: "log".into(),
            line: 1,
        };
        let mut learning = Learning::default();
        for (client, tenant) in [("a", "team-a"), ("a", "team-a"), ("b", "team-b"), ("b", "")] {
            let line = Logged {
                client: client.into(),
                tenant: tenant.into(),
                ..logged("allow", "", "/v1.41/containers/json", "", Some(""))
            };
            learning.add(&line, &place);
        }
        let text = learning.render();
        assert!(
            text.contains("policies = [\"learned-a\"]\ntenant = \"team-a\"\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "# its lines were confined to several tenants (\"\" is none): \"\", \"team-b\""
            ),
            "{text}"
        );
    }

    #[test]
    fn a_rule_another_covers_is_merged_into_it() {
        let place = Place {
            file: "log".into(),
            line: 1,
        };
        let mut rules = BTreeMap::new();
        for (rule, path, at) in [
            ("GET /containers/*/json", "/containers/a/json", "2"),
            ("GET /containers/**/json", "/containers/a/b/json", "3"),
            (
                "DELETE /containers/*/checkpoints/*",
                "/containers/a/checkpoints/b",
                "1",
            ),
            ("GET /images/*/json", "/images/x/json", "1"),
        ] {
            let line = Logged {
                timestamp: at.into(),
                method: "GET".into(),
                path: path.into(),
                ..Logged::default()
            };
            Seen::note(&mut rules, rule.into(), &line, &place);
        }
        let merged = merged(&rules, &BTreeMap::new());
        assert_eq!(
            merged.keys().collect::<Vec<_>>(),
            [
                "DELETE /containers/*/checkpoints/*",
                "GET /containers/**/json",
                "GET /images/*/json"
            ]
        );
        let (wider, _) = &merged["GET /containers/**/json"];
        assert_eq!((wider.count, &*wider.first.2), (2, "/containers/a/json"));
    }

    /// Kills, each `(path, query field)`.
    type Kills<'a> = &'a [(&'a str, Option<&'a str>)];

    /// A client's kills, each `(path, query field)`, learned: the allow
    /// rules written, and the lines of the policy that explain them.
    fn kills(lines: Kills<'_>) -> (Vec<String>, String) {
        let mut learning = Learning::default();
        for (i, (path, query)) in lines.iter().enumerate() {
            let line = Logged {
                timestamp: format!("2026-11-22T23:23:{:02}.000000Z", i),
                query: query.map(str::to_owned),
                ..logged("would_deny", "no_rule", path, "", Some(""))
            };
            let place = Place {
                file: "log".into(),
                line: i + 1,
            };
            learning.add(&line, &place);
        }
        let text = learning.render();
        let rules = text
            .lines()
            .filter(|l| l.starts_with("  \""))
            .map(|l| l.trim().split(",  #").next().unwrap().to_owned())
            .collect();
        (rules, text)
    }

    #[test]
    fn a_kill_learns_the_signals_it_was_sent() {
        let kill = "/v1.41/containers/web/kill";
        let table: [(Kills<'_>, &[&str]); 7] = [
            (
                &[(kill, Some("signal=HUP")), (kill, Some("signal=HUP"))],
                &[r#""POST /containers/*/kill?signal=HUP""#],
            ),
            (
                &[(kill, Some("signal=SIGHUP")), (kill, Some("signal=HUP"))],
                &[r#""POST /containers/*/kill?signal=HUP|SIGHUP""#],
            ),
            (
                &[(kill, Some("signal=HUP")), (kill, Some(""))],
                &[r#""POST /containers/*/kill?signal=|HUP""#],
            ),
            (
                &[(kill, Some("signal=HUP")), (kill, Some("signal=%48UP"))],
                &[r#""POST /containers/*/kill""#],
            ),
            (
                &[(kill, Some("signal=HUP")), (kill, None)],
                &[r#""POST /containers/*/kill""#],
            ),
            (&[(kill, None)], &[r#""POST /containers/*/kill""#]),
            // Other routes' query keys are not learned.
            (
                &[
                    ("/v1.43/containers/web/stop", Some("signal=TERM")),
                    ("/v1.41/containers/web/wait", Some("condition=removed")),
                    ("/v1.41/containers/web/restart", Some("t=5")),
                ],
                &[
                    r#""POST /containers/*/restart""#,
                    r#""POST /containers/*/stop""#,
                    r#""POST /containers/*/wait""#,
                ],
            ),
        ];
        for (lines, want) in table {
            let (rules, text) = kills(lines);
            assert_eq!(rules, want, "{text}");
            assert_eq!(text, kills(lines).1, "the same lines, the same text");
        }
        let (_, text) = kills(&[(kill, Some("signal=HUP")), (kill, Some("signal=%48UP"))]);
        assert!(
            text.contains("  # signal not constrained: signal was written with a percent escape or '+' (1 request, first 2026-11-22T23:23:01.000000Z POST /v1.41/containers/web/kill)\n  \"POST /containers/*/kill\",  # 2 requests, first 2026-11-22T23:23:00.000000Z"),
            "{text}"
        );
        let (_, text) = kills(&[(kill, None)]);
        assert!(
            text.contains(
                "# signal not constrained: some lines were logged before the query field"
            ),
            "{text}"
        );
    }

    /// A kill rule for names without a `/` goes into the one for names
    /// with one only when that one allows all its signals.
    #[test]
    fn a_constrained_rule_merges_only_into_one_that_covers_it() {
        let (short, long) = ("/v1.41/containers/web/kill", "/v1.41/containers/a/b/kill");
        let table: [(Kills<'_>, &[&str]); 5] = [
            (
                &[(short, Some("signal=HUP")), (long, Some("signal=HUP"))],
                &[r#""POST /containers/**/kill?signal=HUP""#],
            ),
            (
                &[
                    (short, Some("signal=HUP")),
                    (long, Some("signal=HUP")),
                    (long, Some("")),
                ],
                &[r#""POST /containers/**/kill?signal=|HUP""#],
            ),
            (
                &[(short, Some("")), (long, Some("signal=HUP"))],
                &[
                    r#""POST /containers/**/kill?signal=HUP""#,
                    r#""POST /containers/*/kill?signal=""#,
                ],
            ),
            (
                &[(short, Some("signal=%48UP")), (long, Some("signal=HUP"))],
                &[
                    r#""POST /containers/**/kill?signal=HUP""#,
                    r#""POST /containers/*/kill""#,
                ],
            ),
            (
                &[(short, Some("signal=HUP")), (long, None)],
                &[r#""POST /containers/**/kill""#],
            ),
        ];
        for (lines, want) in table {
            let (rules, text) = kills(lines);
            assert_eq!(rules, want, "{text}");
        }
    }

    /// A learned constraint is one the config accepts, and the judge's
    /// matching allows each line it was learned from with it.
    #[test]
    fn a_learned_signal_allows_the_kills_it_came_from() {
        use crate::config::grants::Grants;
        use crate::config::policy::{Policy, Query, Rule};
        let kill = "/v1.41/containers/web/kill";
        let queries = ["signal=HUP", "", "signal=SIGUSR1", "signal=9"];
        let lines: Vec<(&str, Option<&str>)> = queries.iter().map(|q| (kill, Some(*q))).collect();
        let (rules, _) = kills(&lines);
        let [rule] = &rules[..] else {
            panic!("{rules:?}")
        };
        let rule = Rule::parse(rule.trim_matches('"')).unwrap();
        assert_eq!(
            rule.text().as_ref(),
            "POST /containers/*/kill?signal=|9|HUP|SIGUSR1"
        );
        let policy = Policy::compile("p", vec![rule], Grants::none()).unwrap();
        let allows = |query: &str| {
            let query = Query::read(Some(query));
            policy
                .match_request(&Method::POST, "/containers/web/kill", &query)
                .rule
                .is_some()
        };
        for query in queries {
            assert!(allows(query), "{query}");
        }
        assert!(!allows("signal=KILL"));
        assert!(!allows("signal=HUP&signal=KILL"));
    }

    #[test]
    fn old_lines_teach_the_grant_their_detail_names() {
        let detail = "client \"ci\" may not POST /v1.41/containers/create: HostConfig.Binds (/a`) b) is not granted to this client (needs grant `bind_mounts matching \"/a`) b\"`) (policy \"p\")";
        let got = needed(&logged(
            "would_deny",
            "body_rule",
            "/v1.41/containers/create",
            detail,
            None,
        ));
        assert_eq!(got.render(), r#"{ bind_mounts = ["/a`) b"] }"#);
        let detail = "... (needs grant `privileged = true`) (policy \"p\")";
        let got = needed(&logged(
            "would_deny",
            "body_rule",
            "/containers/create",
            detail,
            None,
        ));
        assert_eq!(got.render(), "{ privileged = true }");
        let got = needed(&logged(
            "would_deny",
            "no_rule",
            "/containers/create",
            "client may not",
            None,
        ));
        assert!(got.is_empty());
        let got = needed(&logged(
            "would_deny",
            "unknown_field",
            "/containers/create",
            "HostConfig.X is not a field",
            None,
        ));
        assert!(got.ungrantable.is_some());
    }

    #[test]
    fn only_allowed_and_would_deny_lines_teach() {
        let place = Place {
            file: "log".into(),
            line: 1,
        };
        let mut learning = Learning::default();
        for line in [
            logged("allow", "", "/v1.41/containers/c1/start", "", Some("{}")),
            logged(
                "would_deny",
                "body_rule",
                "/v1.41/containers/create",
                "",
                Some("{ privileged = true }"),
            ),
            logged("deny", "non_canonical", "/v1.41/containers/../x", "", None),
            logged("deny", "client_connection_limit", "/v1.41/info", "", None),
            logged(
                "would_deny",
                "unknown_route",
                "/v1.41/no/route",
                "",
                Some(""),
            ),
            logged("deny", "unjudged", "/v1.41/info", "", None),
            // Enforce mode: what the body used was not counted.
            logged("allow", "", "/v1.41/containers/create", "", Some("")),
            logged("allow", "", "/v1.41/containers/create", "", Some("{}")),
        ] {
            learning.add(&line, &place);
        }
        let text = learning.render();
        let ci = &learning.clients["ci"];
        assert_eq!(
            ci.rules.keys().collect::<Vec<_>>(),
            ["POST /containers/*/start", "POST /containers/create"]
        );
        assert_eq!(ci.grants.len(), 1);
        assert_eq!(ci.not_learned.len(), 5, "{text}");
        assert!(text.contains("allowed with no record of the grants its body or query used (enforce mode): the grants learned may not cover it (1 request,"), "{text}");
        assert!(
            text.contains("# not learned: a route dockgate does not know: POST /no/route"),
            "{text}"
        );
        assert!(
            text.contains("# not learned: refused (non_canonical), not learned"),
            "{text}"
        );
        assert!(!text.contains("\"POST /no"), "{text}");
    }
}
