//! `dockgate explain`: how the gateway would judge one request, step by
//! step, for admins writing policies. It runs the same code as the request
//! path (canonicalisation, policy matching, body inspection) on a request
//! described on the command line.

use std::fmt;

use hyper::{Method, Uri};

use crate::config::Config;
use crate::inspect;
use crate::path;
use crate::policy;

/// The steps taken and the verdict.
#[derive(Debug)]
pub struct Explanation {
    pub steps: Vec<String>,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow { policy: String, rule: String },
    Deny { status: u16, reason: String },
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for step in &self.steps {
            writeln!(f, "  {step}")?;
        }
        match &self.verdict {
            Verdict::Allow { policy, rule } => {
                write!(f, "ALLOW by policy {policy:?}, rule {rule:?}")
            }
            Verdict::Deny { status, reason } => write!(f, "DENY ({status}): {reason}"),
        }
    }
}

/// Explains the verdict on `method target` from `client`, with an optional
/// request body for the endpoints whose bodies are inspected.
pub fn explain(
    config: &Config,
    client: &str,
    method: &str,
    target: &str,
    body: Option<&[u8]>,
) -> Explanation {
    let mut steps = Vec::new();
    let deny = |steps, status, reason: String| Explanation {
        steps,
        verdict: Verdict::Deny { status, reason },
    };

    let Ok(method) = method.parse::<Method>() else {
        return deny(steps, 400, format!("{method:?} is not an HTTP method"));
    };
    if let Err(e) = path::check_method(&method) {
        return deny(
            steps,
            400,
            format!("refused before any policy is consulted: {e}"),
        );
    }
    let uri = match target.parse::<Uri>() {
        Ok(uri) => uri,
        Err(e) => {
            return deny(
                steps,
                400,
                format!("{target:?} is not a request target: {e}"),
            )
        }
    };
    let canonical = match path::canonicalize(&uri) {
        Ok(t) => t,
        Err(e) => {
            return deny(
                steps,
                400,
                format!("refused before any policy is consulted, as not canonical: {e}"),
            )
        }
    };
    match &canonical.version {
        Some(v) => steps.push(format!(
            "path {:?} is canonical; API version prefix v{v} stripped: policies match {:?}",
            uri.path(),
            canonical.route
        )),
        None => steps.push(format!(
            "path {:?} is canonical; policies match it as is",
            canonical.route
        )),
    }

    let Some(policies) = config.clients.get(client) else {
        return deny(
            steps,
            403,
            format!(
                "client {client:?} is not in the configuration: every request it sends gets 403"
            ),
        );
    };
    let mut decided = None;
    for p in policies {
        match p.first_match(&method, &canonical.route) {
            Some(rule) if decided.is_none() => {
                steps.push(format!(
                    "policy {:?}: rule {:?} matches; it decides",
                    p.name,
                    rule.to_string()
                ));
                decided = Some((p, rule));
            }
            Some(rule) => steps.push(format!(
                "policy {:?}: rule {:?} would match, but an earlier policy decided",
                p.name,
                rule.to_string()
            )),
            None => steps.push(format!(
                "policy {:?}: no rule matches {method} {}",
                p.name, canonical.route
            )),
        }
    }
    let Some((policy, rule)) = decided else {
        let names: Vec<_> = policies.iter().map(|p| &*p.name).collect();
        return deny(
            steps,
            403,
            format!(
                "no rule in policies {} allows {method} {}",
                names.join(", "),
                canonical.route
            ),
        );
    };
    let allowed = policy::Allowed { policy, rule };

    if let Some(endpoint) = inspect::endpoint(&method, &canonical.route) {
        let what = if endpoint.reads_body() {
            "body"
        } else {
            "query and grants"
        };
        steps.push(format!(
            "{endpoint:?}: the request's {what} is inspected against the grants of policy {:?}",
            allowed.policy.name
        ));
        let body = match (endpoint.reads_body(), body) {
            (true, None) => {
                steps.push("no --body given: the path is allowed, and the body will decide (pass --body FILE to judge one)".into());
                None
            }
            (true, Some(b)) => Some(b),
            (false, _) => Some(&[][..]),
        };
        if let Some(body) = body {
            if let Err(refusal) =
                inspect::judge(endpoint, uri.query(), body, &allowed.policy.grants)
            {
                let status = refusal.status();
                let reason = match refusal {
                    inspect::Refusal::Forbidden { field, needs } => {
                        format!("{field} needs a grant the policy lacks: add {needs} under [policies.{}.grants]", allowed.policy.name)
                    }
                    unknown @ inspect::Refusal::UnknownField { .. } => unknown.to_string(),
                    inspect::Refusal::Ambiguous(why) => {
                        format!("the body cannot be judged unambiguously: {why}")
                    }
                };
                return deny(steps, status, reason);
            }
            steps.push("nothing in it needs a grant the policy lacks".into());
        }
    }
    Explanation {
        steps,
        verdict: Verdict::Allow {
            policy: allowed.policy.name.to_string(),
            rule: allowed.rule.to_string(),
        },
    }
}
