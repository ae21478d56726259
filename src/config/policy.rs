//! Allow rules and the compiled policies that match requests against them.
//!
//! A rule is `"METHOD PATH-GLOB"`. METHOD is one Engine API method or `*`.
//! PATH-GLOB is matched against the canonical route path (see
//! [`crate::request::path`]), so it never carries an API version prefix. In the glob,
//! `*` matches within one path segment and `**` across segments
//! (`GET /images/**/json` matches `/images/library/busybox/json`); `?`,
//! `[abc]` and `{a,b}` work as in shell globs.
//!
//! Policies are allowlists: nothing matches, nothing is allowed.

use std::fmt;
use std::sync::Arc;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use hyper::Method;

use crate::config::grants::Grants;

/// One parsed allow rule, kept in its written form for audit and `explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `None` for `*`.
    pub method: Option<Method>,
    pub glob: String,
    /// `METHOD GLOB` as written once at load; the audit event of every
    /// request it allows shares it.
    text: Arc<str>,
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
        if !glob.starts_with('/') {
            return Err(RuleError::Relative);
        }
        if let Some((first, rest)) = glob[1..].split_once('/') {
            if crate::request::path::is_version_segment(first) {
                return Err(RuleError::Versioned(format!("/{rest}")));
            }
        }
        let text = format!("{} {glob}", method.as_ref().map_or("*", Method::as_str));
        Ok(Rule {
            method,
            glob: glob.to_owned(),
            text: text.into(),
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

    /// The first rule, in written order, that allows `method` on `route`.
    pub fn first_match(&self, method: &Method, route: &str) -> Option<&Rule> {
        self.globs
            .matches(route)
            .into_iter()
            .map(|i| &self.rules[i])
            .find(|rule| rule.matches_method(method))
    }
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

/// Finds the first policy, in the client's order, with a rule allowing the request.
pub fn decide<'a>(
    policies: &'a [Arc<Policy>],
    method: &Method,
    route: &str,
) -> Option<Allowed<'a>> {
    policies.iter().find_map(|policy| {
        policy
            .first_match(method, route)
            .map(|rule| Allowed { policy, rule })
    })
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
                .first_match(&method.parse().unwrap(), path)
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
        let verdict = decide(&policies, &Method::GET, "/info").unwrap();
        assert_eq!(
            (&*verdict.policy.name, verdict.rule.to_string().as_str()),
            ("a", "GET /info")
        );
        let verdict = decide(&policies, &Method::DELETE, "/containers/x").unwrap();
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
}
