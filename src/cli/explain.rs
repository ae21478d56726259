//! `dockgate explain`: how the gateway would judge one request, step by
//! step, for admins writing policies. It calls the request path's judge
//! ([`crate::request::judge`]) on a request described on the command line, with no
//! headers, and prints the trail the judge left. `--from-log` takes the request
//! from an audit line instead ([`logged`]), and `policy diff` judges every
//! logged request through [`refusal`], which calls [`explain`].
//!
//! A logged request is judged with its path and the query pairs its line
//! kept ([`crate::request::judge::logged_query`]). A rule that could
//! decide it but constrains a key the line could not have kept makes it
//! one that cannot be judged again ([`unjudgeable`]): the verdict would be
//! a guess.

use std::borrow::Cow;
use std::fmt;

use hyper::{HeaderMap, Method, Uri};

use crate::cli::audit_log::Logged;
use crate::config::policy::Query;
use crate::config::{preset, Config};
use crate::request::inspect;
use crate::request::judge::{self, route, Trail};
use crate::request::path;
use crate::request::refusal::Refusal;

/// The steps taken and the verdict.
#[derive(Debug)]
pub struct Explanation {
    pub steps: Vec<String>,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow {
        policy: String,
        rule: String,
    },
    Deny {
        status: u16,
        reason: String,
    },
    /// A client in audit mode: forwarded, though enforce mode would refuse it.
    WouldDeny {
        status: u16,
        reason: String,
    },
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
            Verdict::WouldDeny { status, reason } => write!(
                f,
                "FORWARDED in audit mode; enforce mode would DENY ({status}): {reason}"
            ),
        }
    }
}

/// Explains the verdict on `method target` from `client`, with an optional
/// request body for the routes whose bodies are inspected.
pub fn explain(
    config: &Config,
    client: &str,
    method: &str,
    target: &str,
    body: Option<&[u8]>,
) -> Explanation {
    let deny = |trail: &Trail, refusal: Refusal| Explanation {
        steps: steps(trail),
        verdict: Verdict::Deny {
            status: refusal.status().as_u16(),
            reason: reason(&refusal),
        },
    };
    let Ok(method) = method.parse::<Method>() else {
        return Explanation {
            steps: Vec::new(),
            verdict: Verdict::Deny {
                status: 400,
                reason: format!("{method:?} is not an HTTP method"),
            },
        };
    };
    let uri = match target.parse::<Uri>() {
        Ok(uri) => uri,
        Err(e) => {
            return Explanation {
                steps: Vec::new(),
                verdict: Verdict::Deny {
                    status: 400,
                    reason: format!("{target:?} is not a request target: {e}"),
                },
            }
        }
    };
    let headers = HeaderMap::new();
    let head = judge::Head {
        method: &method,
        uri: &uri,
        headers: &headers,
    };
    let who = judge::Client {
        name: Ok(client),
        over_limit: None,
    };
    let mut trail = Trail::on();
    let mut passed = match judge::head(config, who, head, &mut trail) {
        Ok(passed) => passed,
        Err(refusal) => return deny(&trail, refusal),
    };
    let mut steps_after = Vec::new();
    if passed.reads_body() {
        match body {
            None => steps_after.push("no --body given: the path is allowed, and the body will decide (pass --body FILE to judge one)".to_owned()),
            Some(bytes) => {
                if let Err(refusal) = judge::body(&mut passed, client, head, bytes, &mut trail) {
                    return deny(&trail, refusal);
                }
            }
        }
    }
    if let Some(plan) = &passed.tenancy {
        if !plan.lookups.is_empty() {
            steps_after.push(format!(
                "the gateway asks the Engine about each object above when the request arrives, and refuses it unless all are tenant {:?}'s",
                plan.tenant
            ));
        }
    }
    let mut all = steps(&trail);
    all.extend(steps_after);
    let verdict = match &passed.would_deny {
        Some(refusal) => Verdict::WouldDeny {
            status: refusal.status().as_u16(),
            reason: reason(refusal),
        },
        None => Verdict::Allow {
            policy: passed.allowed.policy.name.to_string(),
            rule: passed.allowed.rule.to_string(),
        },
    };
    Explanation {
        steps: all,
        verdict,
    }
}

/// The target a logged request is judged again with: its path, and the
/// query pairs the line kept.
pub fn target(line: &Logged) -> Cow<'_, str> {
    match line.query.as_deref() {
        Some(query) if !query.is_empty() => format!("{}?{query}", line.path).into(),
        _ => Cow::Borrowed(&line.path),
    }
}

/// Why `config` cannot judge a logged request again: a rule that could
/// decide it (one whose method and glob match and whose constraints on the
/// kept keys hold, up to the first that allows the query the line kept)
/// constrains a query key the line did not keep, so the request may have
/// matched it or not. `None`: the query the line kept decides as the one
/// received did.
pub fn unjudgeable(config: &Config, line: &Logged) -> Option<String> {
    let method = line.method.parse().ok()?;
    let target = target(line);
    let uri = target.parse().ok()?;
    // A target refused before any policy is consulted is judged as logged.
    let route = path::canonicalize(&uri).ok()?.route;
    let policies = &config.clients.get(&*line.client)?.policies;
    let found = route::find(&method, &route);
    let kept = match line.query {
        None => &[][..],
        Some(_) => found
            .and_then(route::Route::query_parameters)
            .unwrap_or(&[]),
    };
    let query = Query::read(uri.query());
    for policy in policies {
        let rules = policy
            .rules_matching(&route)
            .filter(|r| r.method.as_ref().is_none_or(|m| *m == method));
        for rule in rules {
            if let Some(c) = rule.query.iter().find(|c| !kept.contains(&&*c.key)) {
                // A rule the kept pairs already fail cannot match, whatever
                // the keys not kept held.
                let mut on_kept = rule.clone();
                on_kept.query.retain(|c| kept.contains(&&*c.key));
                if on_kept.check_query(&query).is_err() {
                    continue;
                }
                let why = match (&line.query, found) {
                    (None, _) => "the line predates the query field".to_owned(),
                    (Some(_), None) => {
                        "audit lines keep no query key on a route dockgate does not know".into()
                    }
                    (Some(_), Some(found)) if kept.is_empty() => {
                        format!("audit lines keep no query key on {}", found.name)
                    }
                    (Some(_), Some(found)) => format!(
                        "audit lines keep only {} on {}",
                        kept.join(", "),
                        found.name
                    ),
                };
                return Some(format!(
                    "cannot judge: the log did not record query key {:?} ({why}), which rule {:?} of policy {:?} constrains",
                    c.key,
                    rule.text(),
                    policy.name
                ));
            }
            if rule.check_query(&query).is_ok() {
                return None;
            }
        }
    }
    None
}

/// Explains a logged request as if it arrived again: its client, method
/// and [`target`] as logged. Its body was not logged; `body` judges one, and
/// without it the line's `grants` field says what the body needed, which
/// [`refusal`] compares with the deciding policy.
/// Returns the explanation, what to print around it, and whether the
/// configuration would refuse the request or cannot judge it.
pub fn logged(
    config: &Config,
    line: &Logged,
    body: Option<&[u8]>,
) -> (Explanation, Vec<String>, bool) {
    let explanation = explain(config, &line.client, &line.method, &target(line), body);
    let mut notes = vec![format!(
        "logged {} as {}{}",
        line.timestamp,
        line.decision,
        if line.reason.is_empty() {
            String::new()
        } else {
            format!(" ({})", line.reason)
        }
    )];
    let unjudgeable = unjudgeable(config, line);
    if let Some(why) = &unjudgeable {
        notes.push(format!(
            "{why}; the verdict below is for the query the log kept, without it"
        ));
    }
    let refused = match (body, &explanation.verdict) {
        (Some(_), Verdict::Allow { .. }) => false,
        (Some(_), _) => true,
        (None, _) => {
            let grants = match &line.grants {
                Some(g) if g.is_empty() => {
                    "nothing of what its body and query needed (enforce mode, or nothing to inspect)"
                        .to_owned()
                }
                Some(g) if g == "{}" => "its body and query needed no grant".to_owned(),
                Some(g) => format!("its body and query needed {g}"),
                None => "the line predates the grants field".to_owned(),
            };
            notes.push(format!(
                "the body was not logged, so it is not judged here (pass --body FILE to judge one); the log says {grants}"
            ));
            let refusal = refusal(config, line);
            if let (Some(why), Verdict::Allow { .. }) = (&refusal, &explanation.verdict) {
                notes.push(format!("with what its body needed: {why}"));
            }
            refusal.is_some()
        }
    };
    (explanation, notes, refused || unjudgeable.is_some())
}

/// Why `config` refuses a logged request, judged again with its client,
/// method and [`target`], and what its `grants` field says its body needed;
/// `None`: it allows it. Ask [`unjudgeable`] first.
pub fn refusal(config: &Config, logged: &Logged) -> Option<String> {
    let explanation = explain(
        config,
        &logged.client,
        &logged.method,
        &target(logged),
        None,
    );
    match explanation.verdict {
        Verdict::Deny { status, reason } => Some(format!("DENY ({status}): {reason}")),
        Verdict::WouldDeny { status, reason } => Some(format!(
            "forwarded in audit mode; enforce mode would DENY ({status}): {reason}"
        )),
        Verdict::Allow { policy, .. } => {
            let needed = crate::cli::learn::needed(logged);
            if let Some(why) = &needed.ungrantable {
                return Some(format!(
                    "DENY (403): its body needs what no grant allows: {why}"
                ));
            }
            let grants = &config.policies.get(&policy)?.grants;
            let missing = needed.missing(grants);
            if missing.is_empty() {
                return None;
            }
            let missing: Vec<String> = missing.iter().map(|n| n.to_string()).collect();
            Some(format!(
                "DENY (403): its body needed grants policy {policy:?} lacks: {}",
                missing.join(", ")
            ))
        }
    }
}

fn steps(trail: &Trail) -> Vec<String> {
    trail.steps().iter().map(ToString::to_string).collect()
}

/// What an admin reads: for a missing grant, where to add it.
fn reason(refusal: &Refusal) -> String {
    match refusal {
        Refusal::Forbidden {
            policy, refusal, ..
        } => match &**refusal {
            // A preset cannot be edited: the grant goes in a policy of the
            // admin's, listed before the preset so that its rule decides.
            inspect::Refusal::Forbidden { field, needs } if policy.starts_with(preset::PREFIX) => format!(
                "{field} needs a grant the policy lacks: presets grant nothing; add a policy of your own with this route's rule and {needs} under its grants, listed before {policy}"
            ),
            inspect::Refusal::Forbidden { field, needs } => format!(
                "{field} needs a grant the policy lacks: add {needs} under [policies.{policy}.grants]"
            ),
            other => other.to_string(),
        },
        Refusal::UnjudgeableBody(why) => {
            format!("the body cannot be judged unambiguously: {why}")
        }
        Refusal::UnjudgeableQuery(why) => {
            format!("the query is refused whatever the policy: {why}")
        }
        Refusal::NonCanonical { reason, .. } => {
            format!("refused before any policy is consulted, as not canonical: {reason}")
        }
        Refusal::UnknownClient { client } => format!(
            "client {client:?} is not in the configuration: every request it sends gets 403"
        ),
        other => other.to_string(),
    }
}
