//! Allow rules and the compiled policies that match requests against them.
//!
//! A rule is `"METHOD PATH-GLOB"`. METHOD is one Engine API method or `*`.
//! PATH-GLOB is matched against the canonical route path (see
//! [`crate::request::path`]), so it never carries an API version prefix. In the glob,
//! `*` matches within one path segment and `**` across segments
//! (`GET /images/**/json` matches `/images/library/busybox/json`); `?`,
//! `[abc]` and `{a,b}` work as in shell globs.
//!
//! A rule may also constrain query parameters, because some requests mean
//! different things by their query alone (`kill?signal=HUP` reloads,
//! `kill` without a signal is SIGKILL): `"POST /containers/*/kill?signal=HUP|SIGHUP"`.
//! After the last `?` that is followed by `=` and no `/` come `KEY=VALUES`
//! constraints joined by `&`; VALUES are alternatives joined by `|`, and an
//! empty alternative (`signal=|HUP`) lets the key be absent. A constrained
//! key must appear exactly once, written literally (no percent escape, no
//! `+`), with one of the values exactly as written; an empty value is never
//! one. The query is read as the Engine reads it ([`build_query::params`]);
//! a query the Engine could read differently (a repeated constrained key, an
//! encoded one, `;`, a bad escape) is [`Miss::Unreadable`] and never matches.
//! Parameters a rule does not name are not constrained by it.
//!
//! Policies are allowlists: nothing matches, nothing is allowed.

use std::fmt;
use std::sync::Arc;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use hyper::Method;

use crate::config::grants::Grants;
use crate::request::inspect::build_query::{self, Param};

/// One parsed allow rule, kept in its written form for audit and `explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `None` for `*`.
    pub method: Option<Method>,
    pub glob: String,
    /// What the rule asks of the query; empty: nothing.
    pub query: Vec<Constraint>,
    /// `METHOD GLOB[?QUERY]` as written once at load; the audit event of
    /// every request it allows shares it.
    text: Arc<str>,
}

/// What a rule asks of one query parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    pub key: String,
    /// The values allowed, in written order; `""` lets the key be absent.
    pub values: Vec<String>,
}

/// Why a rule whose method and path match does not match the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    /// The query reads one way, and a constrained parameter is absent,
    /// empty or another value.
    Mismatch(String),
    /// The Engine could read the query differently from dockgate; such a
    /// request is refused in every mode.
    Unreadable(String),
}

impl fmt::Display for Miss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Miss::Mismatch(why) => f.write_str(why),
            Miss::Unreadable(why) => write!(f, "{why} (the Engine could read it otherwise)"),
        }
    }
}

/// A request's query as the Engine reads it, or why it cannot be read one way.
#[derive(Debug, Clone)]
pub struct Query(Result<Vec<Param>, String>);

impl Query {
    /// Reads the raw query (without `?`) as Go's `url.ParseQuery` does.
    pub fn read(query: Option<&str>) -> Query {
        Query(
            build_query::params(query.unwrap_or("")).map_err(|e| match e {
                crate::request::inspect::Refusal::Ambiguous(why) => why,
                other => other.to_string(),
            }),
        )
    }

    /// The query without the parameters the Engine ignores (`ignored` says
    /// which): a parameter the route's handler does not read at the
    /// request's API version is absent to the Engine, and so to the rules.
    pub fn without(self, ignored: impl Fn(&str) -> bool) -> Query {
        Query(
            self.0
                .map(|params| params.into_iter().filter(|p| !ignored(&p.key)).collect()),
        )
    }
}

/// Why a rule could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("a rule is \"METHOD PATH-GLOB\", for example \"GET /containers/json\"")]
    Shape,
    #[error("method {0:?} is not one the Engine API uses (GET, HEAD, POST, PUT, DELETE or *)")]
    Method(String),
    #[error("the path glob must start with \"/\"")]
    Relative,
    #[error("rules match paths without the API version prefix: write {0:?}")]
    Versioned(String),
    #[error("bad glob: {0}")]
    Glob(String),
    #[error(
        "query constraint {0:?} is not KEY=VALUE|VALUE... (an empty VALUE lets the key be absent)"
    )]
    QueryShape(String),
    #[error("{0:?} in a query constraint may hold only letters, digits, '-', '.', '_' and '~': a client percent-encodes anything else, and an encoded parameter never matches")]
    QueryText(String),
    #[error("query parameter {0:?} is constrained twice")]
    QueryRepeated(String),
}

impl Rule {
    /// Parses `"METHOD PATH-GLOB"`.
    pub fn parse(text: &str) -> Result<Rule, RuleError> {
        let mut words = text.split_whitespace();
        let (Some(method), Some(glob), None) = (words.next(), words.next(), words.next()) else {
            return Err(RuleError::Shape);
        };
        let method = match method {
            "*" => None,
            m => {
                let parsed: Method = m.parse().map_err(|_| RuleError::Method(m.to_owned()))?;
                crate::request::path::check_method(&parsed)
                    .map_err(|_| RuleError::Method(m.to_owned()))?;
                Some(parsed)
            }
        };
        let (glob, query) = split_query(glob);
        if !glob.starts_with('/') {
            return Err(RuleError::Relative);
        }
        let query = match query {
            Some(query) => parse_constraints(query)?,
            None => Vec::new(),
        };
        if let Some((first, rest)) = glob[1..].split_once('/') {
            if crate::request::path::is_version_segment(first) {
                return Err(RuleError::Versioned(format!("/{rest}")));
            }
        }
        let mut text = format!("{} {glob}", method.as_ref().map_or("*", Method::as_str));
        for (i, c) in query.iter().enumerate() {
            let sep = if i == 0 { '?' } else { '&' };
            text.push_str(&format!("{sep}{}={}", c.key, c.values.join("|")));
        }
        Ok(Rule {
            method,
            glob: glob.to_owned(),
            query,
            text: text.into(),
        })
    }

    /// Whether the query meets every constraint. A query that cannot be
    /// read one way is reported as such before any mismatch, so that it is
    /// refused in every mode.
    pub fn check_query(&self, query: &Query) -> Result<(), Miss> {
        if self.query.is_empty() {
            return Ok(());
        }
        let params = query
            .0
            .as_ref()
            .map_err(|why| Miss::Unreadable(why.clone()))?;
        let mut mismatch = None;
        for constraint in &self.query {
            let key = &constraint.key;
            let mut found = params.iter().filter(|p| p.key == *key);
            let (first, again) = (found.next(), found.next());
            if again.is_some() {
                return Err(Miss::Unreadable(format!("{key} is repeated")));
            }
            let allowed = || {
                let values: Vec<&str> = constraint
                    .values
                    .iter()
                    .map(|v| if v.is_empty() { "(absent)" } else { v })
                    .collect();
                values.join(" or ")
            };
            let why = match first {
                Some(p) if !p.literal => {
                    return Err(Miss::Unreadable(format!(
                        "{key} is written with a percent escape or '+'"
                    )))
                }
                None if constraint.values.iter().any(String::is_empty) => continue,
                Some(p) if !p.value.is_empty() && constraint.values.contains(&p.value) => continue,
                None => format!(
                    "{key} is absent, so the Engine's default applies; the rule allows {}",
                    allowed()
                ),
                Some(p) if p.value.is_empty() => {
                    format!("{key} is empty; the rule allows {}", allowed())
                }
                Some(p) => format!(
                    "{key} is {:?}; the rule allows {}",
                    short(&p.value),
                    allowed()
                ),
            };
            mismatch.get_or_insert(why);
        }
        match mismatch {
            Some(why) => Err(Miss::Mismatch(why)),
            None => Ok(()),
        }
    }

    /// Whether the glob ends in `?KEY` with no `=`: a wildcard where a
    /// query constraint was likely meant.
    pub fn looks_like_a_query(&self) -> bool {
        self.glob.rsplit_once('?').is_some_and(|(_, tail)| {
            !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
    }

    /// The rule as text, shared rather than copied.
    pub fn text(&self) -> &Arc<str> {
        &self.text
    }

    fn matches_method(&self, method: &Method) -> bool {
        self.method.as_ref().is_none_or(|m| m == method)
    }
}

/// Splits `GLOB?QUERY` at the last `?` followed by a `=` and no `/`; any
/// other `?` belongs to the glob.
fn split_query(target: &str) -> (&str, Option<&str>) {
    match target.rsplit_once('?') {
        Some((glob, query)) if query.contains('=') && !query.contains('/') => (glob, Some(query)),
        _ => (target, None),
    }
}

/// Whether a query constraint can name `text` as a key or value: only
/// what a client sends unencoded (letters, digits, `-`, `.`, `_`, `~`).
pub fn is_constraint_text(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// `KEY=V|V&KEY=V`: keys and values are what a client sends unencoded.
fn parse_constraints(query: &str) -> Result<Vec<Constraint>, RuleError> {
    let mut constraints: Vec<Constraint> = Vec::new();
    for part in query.split('&') {
        let Some((key, values)) = part.split_once('=') else {
            return Err(RuleError::QueryShape(part.to_owned()));
        };
        if key.is_empty() {
            return Err(RuleError::QueryShape(part.to_owned()));
        }
        for text in std::iter::once(key).chain(values.split('|')) {
            if !is_constraint_text(text) {
                return Err(RuleError::QueryText(text.to_owned()));
            }
        }
        if constraints.iter().any(|c| c.key == key) {
            return Err(RuleError::QueryRepeated(key.to_owned()));
        }
        constraints.push(Constraint {
            key: key.to_owned(),
            values: values.split('|').map(str::to_owned).collect(),
        });
    }
    Ok(constraints)
}

/// Client input quoted in a refusal; keep it short.
fn short(text: &str) -> String {
    const MAX: usize = 64;
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A named list of rules compiled into one glob matcher.
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: Arc<str>,
    pub rules: Vec<Rule>,
    /// What the requests this policy allows may ask of the host.
    pub grants: Grants,
    globs: GlobSet,
}

impl Policy {
    pub fn compile(name: &str, rules: Vec<Rule>, grants: Grants) -> Result<Policy, RuleError> {
        let mut set = GlobSetBuilder::new();
        for rule in &rules {
            let glob = GlobBuilder::new(&rule.glob)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| RuleError::Glob(e.kind().to_string()))?;
            set.add(glob);
        }
        let globs = set.build().map_err(|e| RuleError::Glob(e.to_string()))?;
        Ok(Policy {
            name: name.into(),
            rules,
            grants,
            globs,
        })
    }

    /// The first rule, in written order, that allows `method` on `route`
    /// with `query`, and the first rule before it that matched all but the
    /// query (one the Engine could read otherwise ahead of a mismatch).
    /// What [`decide`] asks of each policy.
    pub fn match_request(&self, method: &Method, route: &str, query: &Query) -> Match<'_> {
        let mut found = Match {
            rule: None,
            missed: None,
        };
        let candidates = self.globs.matches(route).into_iter();
        for rule in candidates
            .map(|i| &self.rules[i])
            .filter(|r| r.matches_method(method))
        {
            match rule.check_query(query) {
                Ok(()) => {
                    found.rule = Some(rule);
                    break;
                }
                Err(miss) => {
                    let unreadable = matches!(miss, Miss::Unreadable(_));
                    let first_unreadable = found
                        .missed
                        .as_ref()
                        .is_none_or(|(_, m)| unreadable && !matches!(m, Miss::Unreadable(_)));
                    if first_unreadable {
                        found.missed = Some((rule, miss));
                    }
                }
            }
        }
        found
    }

    /// The first rule, in written order, whose method and glob match,
    /// whatever its query constraints: which rule lets some request to a
    /// route through, for questions about routes rather than requests.
    pub fn first_match(&self, method: &Method, route: &str) -> Option<&Rule> {
        self.rules_matching(route)
            .find(|rule| rule.matches_method(method))
    }

    /// The rules whose glob matches `route`, whatever the method and query.
    pub fn rules_matching(&self, route: &str) -> impl Iterator<Item = &Rule> {
        self.globs
            .matches(route)
            .into_iter()
            .map(|i| &self.rules[i])
    }

    /// Query-constrained rules that never decide, each with the earlier
    /// rule of the policy that allows the same method on the same glob
    /// whatever the query.
    pub fn shadowed_constraints(&self) -> Vec<(&Rule, &Rule)> {
        let mut found = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.query.is_empty() {
                continue;
            }
            let earlier = self.rules[..i].iter().find(|e| {
                e.query.is_empty()
                    && e.glob == rule.glob
                    && (e.method.is_none() || e.method == rule.method)
            });
            if let Some(earlier) = earlier {
                found.push((rule, earlier));
            }
        }
        found
    }
}

/// What one policy makes of a request.
#[derive(Debug, Clone)]
pub struct Match<'a> {
    /// The rule that allows it.
    pub rule: Option<&'a Rule>,
    /// A rule whose method and path match, and why its query does not.
    pub missed: Option<(&'a Rule, Miss)>,
}

/// A rule that matched all of a request but its query.
#[derive(Debug, Clone)]
pub struct Missed<'a> {
    pub policy: &'a Policy,
    pub rule: &'a Rule,
    pub miss: Miss,
}

/// The verdict on one request: which policy and rule allowed it.
#[derive(Debug, Clone, Copy)]
pub struct Allowed<'a> {
    pub policy: &'a Policy,
    pub rule: &'a Rule,
}

/// What a request no rule allowed is judged with, for a client in audit
/// mode: a policy without rules or grants, so whatever its body asks of the
/// host is recorded as well.
static NOTHING: std::sync::LazyLock<(Policy, Rule)> = std::sync::LazyLock::new(|| {
    let policy =
        Policy::compile("(no rule)", Vec::new(), Grants::none()).expect("an empty policy compiles");
    let rule = Rule {
        method: None,
        glob: String::new(),
        query: Vec::new(),
        text: "(no rule)".into(),
    };
    (policy, rule)
});

impl Allowed<'static> {
    /// `NOTHING`: no rule allowed the request, and nothing is granted.
    pub fn nothing() -> Allowed<'static> {
        Allowed {
            policy: &NOTHING.0,
            rule: &NOTHING.1,
        }
    }
}

/// Finds the first policy, in the client's order, with a rule allowing the
/// request. When none has, the rule that matched all but the query, if
/// any: the first whose query the Engine could read otherwise, or else the
/// first that did not match it.
pub fn decide<'a>(
    policies: &'a [Arc<Policy>],
    method: &Method,
    route: &str,
    query: &Query,
) -> Result<Allowed<'a>, Option<Missed<'a>>> {
    let mut missed: Option<Missed<'a>> = None;
    for policy in policies {
        let found = policy.match_request(method, route, query);
        if let Some(rule) = found.rule {
            return Ok(Allowed { policy, rule });
        }
        if let Some((rule, miss)) = found.missed {
            let unreadable = matches!(miss, Miss::Unreadable(_));
            let replaces = missed
                .as_ref()
                .is_none_or(|m| unreadable && !matches!(m.miss, Miss::Unreadable(_)));
            if replaces {
                missed = Some(Missed { policy, rule, miss });
            }
        }
    }
    Err(missed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(rules: &[&str]) -> Policy {
        let rules = rules.iter().map(|r| Rule::parse(r).unwrap()).collect();
        Policy::compile("test", rules, Grants::none()).unwrap()
    }

    #[test]
    fn globs_respect_segments() {
        let p = policy(&[
            "GET /containers/*/json",
            "GET /images/**/json",
            "* /exec/*/start",
            "HEAD /_ping",
        ]);
        let table = [
            (
                "GET",
                "/containers/abc/json",
                Some("GET /containers/*/json"),
            ),
            ("GET", "/containers/abc/def/json", None),
            ("POST", "/containers/abc/json", None),
            (
                "GET",
                "/images/library/busybox/json",
                Some("GET /images/**/json"),
            ),
            ("GET", "/images/busybox/json", Some("GET /images/**/json")),
            ("POST", "/exec/123/start", Some("* /exec/*/start")),
            ("DELETE", "/exec/123/start", Some("* /exec/*/start")),
            ("HEAD", "/_ping", Some("HEAD /_ping")),
            ("GET", "/_ping", None),
            ("GET", "/containers/json", None),
        ];
        for (method, path, expected) in table {
            let got = p
                .match_request(&method.parse().unwrap(), path, &Query::read(None))
                .rule
                .map(|r| r.to_string());
            assert_eq!(got.as_deref(), expected, "{method} {path}");
        }
    }

    #[test]
    fn first_policy_and_rule_in_order_decide() {
        let a = policy(&["GET /info", "* /**"]);
        let b = policy(&["GET /info"]);
        let policies = [
            Arc::new(Policy {
                name: "a".into(),
                ..a
            }),
            Arc::new(Policy {
                name: "b".into(),
                ..b
            }),
        ];
        let none = Query::read(None);
        let verdict = decide(&policies, &Method::GET, "/info", &none).unwrap();
        assert_eq!(
            (&*verdict.policy.name, verdict.rule.to_string().as_str()),
            ("a", "GET /info")
        );
        let verdict = decide(&policies, &Method::DELETE, "/containers/x", &none).unwrap();
        assert_eq!(verdict.rule.to_string(), "* /**");
    }

    #[test]
    fn bad_rules_say_why() {
        let table = [
            ("GET", RuleError::Shape),
            ("GET /a /b", RuleError::Shape),
            ("FETCH /a", RuleError::Method("FETCH".into())),
            ("CONNECT /a", RuleError::Method("CONNECT".into())),
            ("GET a/b", RuleError::Relative),
            (
                "GET /v1.41/containers/json",
                RuleError::Versioned("/containers/json".into()),
            ),
        ];
        for (text, expected) in table {
            assert_eq!(Rule::parse(text), Err(expected), "{text}");
        }
        let bad_glob = Policy::compile("p", vec![Rule::parse("GET /a/[").unwrap()], Grants::none());
        assert!(matches!(bad_glob, Err(RuleError::Glob(_))));
    }

    /// Which rule of a policy a kill matches, for each query: the rule's
    /// text, `Mismatch`, or `Unreadable` (refused in every mode).
    fn kill_verdicts(rules: &[&str], table: &[(Option<&str>, &str)]) {
        let p = policy(rules);
        for (query, expected) in table {
            let found = p.match_request(&Method::POST, "/containers/x/kill", &Query::read(*query));
            let got = match (found.rule, &found.missed) {
                (Some(rule), _) => rule.to_string(),
                (None, Some((_, Miss::Mismatch(_)))) => "Mismatch".to_owned(),
                (None, Some((_, Miss::Unreadable(_)))) => "Unreadable".to_owned(),
                (None, None) => "None".to_owned(),
            };
            assert_eq!(got, *expected, "{query:?}");
        }
    }

    #[test]
    fn query_constraints_match_only_one_reading() {
        let hup = "POST /containers/*/kill?signal=HUP|SIGHUP";
        kill_verdicts(
            &[hup],
            &[
                (Some("signal=HUP"), hup),
                (Some("signal=SIGHUP"), hup),
                (Some("signal=HUP&t=5"), hup),
                (Some("t=5&signal=HUP&&"), hup),
                // Go's keys are case-sensitive: the Engine reads only `signal`.
                (Some("signal=HUP&Signal=KILL"), hup),
                (Some("signal=KILL"), "Mismatch"),
                (Some("signal=1"), "Mismatch"),
                // Values are matched exactly as written in the rule.
                (Some("signal=hup"), "Mismatch"),
                // Absent: the Engine's default, SIGKILL.
                (None, "Mismatch"),
                (Some(""), "Mismatch"),
                (Some("t=5"), "Mismatch"),
                (Some("Signal=HUP"), "Mismatch"),
                (Some("SIGNAL=HUP"), "Mismatch"),
                // Empty is not absent to every handler, and no listed value.
                (Some("signal="), "Mismatch"),
                (Some("signal"), "Mismatch"),
                // Readings that could differ: never a match.
                (Some("signal=HUP&signal=KILL"), "Unreadable"),
                (Some("signal=KILL&signal=HUP"), "Unreadable"),
                (Some("signal=HUP&signal=HUP"), "Unreadable"),
                (Some("signal=HUP;signal=KILL"), "Unreadable"),
                (Some("signal=HUP&t=1;2"), "Unreadable"),
                (Some("signal=%53IGHUP"), "Unreadable"),
                (Some("signal=HUP%00"), "Unreadable"),
                (Some("signal=%"), "Unreadable"),
                (Some("signal=HUP&x=%zz"), "Unreadable"),
                (Some("signal=HUP&x=%ff"), "Unreadable"),
                (Some("sig%6Eal=HUP"), "Unreadable"),
                (Some("sig%6Eal=KILL"), "Unreadable"),
                (Some("signal=HUP&sig%6Eal=KILL"), "Unreadable"),
                (Some("signal=+HUP"), "Unreadable"),
                (Some("signal=H+UP"), "Unreadable"),
                (Some("signal+=HUP"), "Mismatch"),
            ],
        );
    }

    #[test]
    fn an_empty_alternative_lets_the_key_be_absent() {
        let rule = "POST /containers/*/kill?signal=|HUP";
        kill_verdicts(
            &[rule],
            &[
                (None, rule),
                (Some("t=1"), rule),
                (Some("Signal=KILL"), rule),
                (Some("signal=HUP"), rule),
                (Some("signal="), "Mismatch"),
                (Some("signal=KILL"), "Mismatch"),
                (Some("signal=HUP&signal=HUP"), "Unreadable"),
            ],
        );
    }

    #[test]
    fn every_constraint_must_hold_and_later_rules_still_match() {
        let both = "POST /containers/*/kill?signal=TERM&t=10";
        let any = "POST /containers/*/kill";
        kill_verdicts(
            &[both],
            &[
                (Some("t=10&signal=TERM"), both),
                (Some("signal=TERM"), "Mismatch"),
                (Some("t=10&signal=KILL"), "Mismatch"),
                // A mismatch does not hide what the Engine could read otherwise.
                (Some("signal=KILL&t=10&t=1"), "Unreadable"),
            ],
        );
        // Route-level questions ignore the query.
        let p = policy(&[both, any]);
        let first = p.first_match(&Method::POST, "/containers/x/kill");
        assert_eq!(first.map(|r| r.to_string()).as_deref(), Some(both));
        kill_verdicts(
            &[both, any],
            &[
                (Some("signal=KILL"), any),
                (Some("signal=TERM&signal=KILL"), any),
            ],
        );
    }

    #[test]
    fn constrained_rules_read_back_and_bad_ones_say_why() {
        for text in [
            "POST /containers/*/kill?signal=HUP|SIGHUP",
            "POST /containers/*/kill?signal=|HUP&t=10",
            "* /containers/*/kill?signal=",
        ] {
            assert_eq!(Rule::parse(text).unwrap().to_string(), text);
        }
        // A `?` without `=` after it, or with a `/` after it, is the glob's.
        for glob in ["GET /containers/ab?", "GET /containers/a?b=c/json"] {
            let rule = Rule::parse(glob).unwrap();
            assert!(rule.query.is_empty(), "{glob}");
            assert_eq!(rule.glob, &glob[4..], "{glob}");
        }
        let table = [
            ("POST /x?=HUP", RuleError::QueryShape("=HUP".into())),
            ("POST /x?signal=HUP&", RuleError::QueryShape(String::new())),
            ("POST /x?signal=HUP&t", RuleError::QueryShape("t".into())),
            ("POST /x?signal=H%55P", RuleError::QueryText("H%55P".into())),
            (
                "POST /x?signal=HUP;t=1",
                RuleError::QueryText("HUP;t=1".into()),
            ),
            (
                "POST /x?sig+nal=HUP",
                RuleError::QueryText("sig+nal".into()),
            ),
            ("POST /x?s=1&s=2", RuleError::QueryRepeated("s".into())),
            ("POST x?s=1", RuleError::Relative),
        ];
        for (text, expected) in table {
            assert_eq!(Rule::parse(text), Err(expected), "{text}");
        }
    }

    #[test]
    fn shadowed_constraints_and_glob_wildcards_are_found() {
        let p = policy(&[
            "POST /containers/*/kill?signal=HUP",
            "* /containers/*/kill",
            "POST /containers/*/kill?signal=TERM",
            "GET /containers/*/json?size=1",
            "POST /containers/*/json",
            "POST /containers/*/restart?t",
            "GET /images/ab?/json",
        ]);
        let shadowed: Vec<(String, String)> = p
            .shadowed_constraints()
            .into_iter()
            .map(|(r, e)| (r.to_string(), e.to_string()))
            .collect();
        assert_eq!(
            shadowed,
            [(
                "POST /containers/*/kill?signal=TERM".to_owned(),
                "* /containers/*/kill".to_owned()
            )]
        );
        let wildcards: Vec<String> = p
            .rules
            .iter()
            .filter(|r| r.looks_like_a_query())
            .map(|r| r.to_string())
            .collect();
        assert_eq!(wildcards, ["POST /containers/*/restart?t"]);
    }
}
