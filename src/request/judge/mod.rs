//! The judge: the one place that decides whether a request reaches the
//! Engine. The gateway calls it for every request, `dockgate explain` calls
//! it for a request described on the command line, and whatever audits or
//! learns from decisions reads the [`Trail`] it leaves.
//!
//! A request is judged in two stages, because its body arrives after its
//! head and is only read where the route needs it:
//!
//! 1. [`head`]: the method and target ([`crate::request::path`]), header shapes the
//!    Engine could read differently, the client's identity and connection
//!    limit, the client's policies (the first rule that matches decides; a
//!    rule's query constraints read the query as the Engine does), the
//!    Engine's route for the request ([`route`]), and every check that needs
//!    no body: the query and the grant-only routes ([`crate::request::inspect`]).
//! 2. [`body`]: for routes whose JSON body can grant the host, the body
//!    exactly as it will be forwarded.
//!
//! The route is looked up in the table of the Engine's own router, not
//! guessed from the rule that allowed the request: what is inspected depends
//! only on where the Engine will send the request. A route the table does
//! not know is refused unless the deciding policy grants `unknown_routes`.
//!
//! Both stages are pure: no I/O, no clock, nothing but their arguments.
//!
//! [`logged_query`] picks the part of a query the request's audit line
//! keeps, so that `policy diff` and `explain --from-log` can take a query's
//! decision again from a log.

pub mod logged_query;
pub mod route;
mod trail;

use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Uri};

use crate::config::grants::Grants;
use crate::config::needed::{Need, Needed};
use crate::config::policy::{self, Allowed};
use crate::config::Config;
use crate::request::headers;
use crate::request::identity::IdentityError;
use crate::request::inspect::{self, Endpoint};
use crate::request::path::{self, Target};
use crate::request::refusal::Refusal;

use crate::request::tenant;
pub use crate::request::tenant::{Answer, Edits, Plan};
pub use route::Route;
pub use trail::{Step, Trail};

/// Who sent the request, as the connection established it.
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    /// The certificate's name, or why the certificate names no one.
    pub name: Result<&'a str, &'a IdentityError>,
    /// Set when the client is over its connection limit.
    pub over_limit: Option<usize>,
}

/// The parts of a request head the judge reads.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
}

/// A request whose head passed: what allowed it, and what is still to judge.
#[derive(Debug)]
pub struct Passed<'c> {
    pub target: Target,
    /// The Engine's route; `None` only for an unknown route a policy granted.
    pub route: Option<&'static Route>,
    pub allowed: Allowed<'c>,
    /// The upgrade protocol the client asked for (`tcp`, `h2c`), if any.
    pub upgrade: Option<HeaderValue>,
    /// The body inspection still to do: [`body`] must be called with the
    /// complete body before forwarding.
    pub reads_body: Option<Endpoint>,
    /// For a client in audit mode: the first refusal enforce mode would
    /// have answered; the request is forwarded and audited as `would_deny`.
    pub would_deny: Option<Refusal>,
    /// The client is in audit mode.
    pub audit: bool,
    /// In audit mode, on a route whose query or body is inspected: every
    /// grant they need, granted or not ([`needed`]), for the audit line.
    /// `None`: not counted (enforce mode, or nothing to inspect).
    pub needed: Option<Needed>,
    /// The confinement still to do, for a client confined to a tenant:
    /// [`body`] (when [`Plan::reads_body`]), then [`confine`] with the
    /// Engine's answer for each object the request names.
    pub tenancy: Option<Plan>,
}

impl Passed<'_> {
    /// Whether the body must be read before the request is decided.
    pub fn reads_body(&self) -> bool {
        self.reads_body.is_some() || self.tenancy.as_ref().is_some_and(Plan::reads_body)
    }
}

/// Judges a request's head. On success the request may be forwarded once
/// [`Passed::reads_body`] (if any) has passed [`body`].
pub fn head<'c>(
    config: &'c Config,
    client: Client<'_>,
    request: Head<'_>,
    trail: &mut Trail,
) -> Result<Passed<'c>, Refusal> {
    let method = request.method;
    let non_canonical = |reason| Refusal::NonCanonical {
        method: method.to_string(),
        path: request.uri.path().to_owned(),
        reason,
    };
    path::check_method(method).map_err(non_canonical)?;
    let target = path::canonicalize(request.uri).map_err(non_canonical)?;
    trail.note(|| Step::Canonical {
        path: request.uri.path().to_owned(),
        version: target.version.clone(),
        route: target.route.clone(),
    });
    let upgrade = check_headers(request.headers)?;

    let name = client.name.map_err(|e| Refusal::Identity(e.clone()))?;
    if let Some(limit) = client.over_limit {
        return Err(Refusal::TooManyConnections {
            client: name.to_owned(),
            limit,
        });
    }
    let configured = config
        .clients
        .get(name)
        .ok_or_else(|| Refusal::UnknownClient {
            client: name.to_owned(),
        })?;
    let policies = &configured.policies;
    let audit = configured.mode == crate::config::Mode::Audit;
    let mut would_deny = None;
    let route = route::find(method, &target.route);
    let query = policy::Query::read(request.uri.query())
        .without(|key| route.is_some_and(|r| r.ignores_query(key, target.version.as_deref())));
    if trail.is_on() {
        let mut decided = false;
        for policy in policies {
            let found = policy.match_request(method, &target.route, &query);
            if let Some((rule, miss)) = &found.missed {
                trail.note(|| Step::QueryMiss {
                    policy: policy.name.to_string(),
                    rule: rule.to_string(),
                    miss: miss.to_string(),
                });
            }
            let rule = found.rule;
            trail.note(|| Step::Policy {
                policy: policy.name.to_string(),
                request: format!("{method} {}", target.route),
                rule: rule.map(|r| r.to_string()),
                decides: rule.is_some() && !decided,
            });
            decided |= rule.is_some();
        }
    }
    let allowed = match policy::decide(policies, method, &target.route, &query) {
        Ok(allowed) => allowed,
        Err(missed) => {
            let query_miss = missed.map(near_miss).transpose()?;
            let refusal = Refusal::NotAllowed {
                client: name.to_owned(),
                method: method.to_string(),
                path: request.uri.path().to_owned(),
                policies: policies
                    .iter()
                    .map(|p| &*p.name)
                    .collect::<Vec<_>>()
                    .join(", "),
                query_miss,
            };
            soften(audit, refusal, &mut would_deny, trail)?;
            Allowed::nothing()
        }
    };
    let grants = &allowed.policy.grants;

    trail.note(|| Step::Route {
        name: route.map(|r| r.name),
        template: route.map(|r| r.template),
        path_known: route.is_some() || route::path_is_known(&target.route),
    });
    let forbidden = |refusal| Refusal::Forbidden {
        client: name.to_owned(),
        method: method.to_string(),
        path: request.uri.path().to_owned(),
        policy: std::sync::Arc::clone(&allowed.policy.name),
        refusal: Box::new(refusal),
    };
    let inspect = match route {
        Some(route) => route.inspect,
        None if grants.unknown_routes() => None,
        None => {
            let what = if route::path_is_known(&target.route) {
                format!("the Engine has no {method} route for {}", target.route)
            } else {
                format!(
                    "no Engine API route that dockgate knows has the path {}",
                    target.route
                )
            };
            soften(
                audit,
                Refusal::UnknownRoute {
                    client: name.to_owned(),
                    method: method.to_string(),
                    path: request.uri.path().to_owned(),
                    what,
                    policy: std::sync::Arc::clone(&allowed.policy.name),
                },
                &mut would_deny,
                trail,
            )?;
            None
        }
    };
    let mut needed = None;
    let reads_body = match inspect {
        Some(endpoint) if endpoint.reads_body() => {
            // The query is the head's: judge it now, the body once it is read.
            if endpoint == Endpoint::ContainerStart {
                if let Err(r) = inspect::judge(endpoint, request.uri.query(), &[], grants) {
                    let refusal = read_past(audit, endpoint, request.uri.query(), &[], r);
                    soften(
                        audit,
                        refusal_for_query(refusal, forbidden),
                        &mut would_deny,
                        trail,
                    )?;
                }
            }
            trail.note(|| Step::BodyToInspect {
                endpoint,
                policy: allowed.policy.name.to_string(),
            });
            Some(endpoint)
        }
        Some(endpoint) => {
            if audit {
                needed = Some(self::needed(endpoint, request.uri.query(), &[]));
            }
            match inspect::judge(endpoint, request.uri.query(), &[], grants) {
                Ok(()) => {}
                Err(r) => {
                    let refusal = read_past(audit, endpoint, request.uri.query(), &[], r);
                    soften(
                        audit,
                        refusal_for_query(refusal, forbidden),
                        &mut would_deny,
                        trail,
                    )?;
                }
            }
            trail.note(|| Step::Inspected {
                endpoint,
                policy: allowed.policy.name.to_string(),
            });
            None
        }
        None => None,
    };
    let tenancy = match &configured.tenant {
        None if config.tenants_in_use => {
            let plan = tenant::unconfined(route.map(|r| r.name));
            if let Some(plan) = &plan {
                trail.note(|| Step::TenantPlan {
                    tenant: String::new(),
                    scope: format!("{:?}", plan.scope),
                    lookups: Vec::new(),
                });
            }
            plan
        }
        None => None,
        Some(tenant) => {
            let found = route.map(|r| (r.name, r.capture(&target.route).unwrap_or("")));
            let plan = tenant::plan(tenant, found, &target.route, request.uri.query()).map_err(
                |refusal| Refusal::Tenant {
                    client: name.to_owned(),
                    tenant: std::sync::Arc::clone(tenant),
                    method: method.to_string(),
                    path: request.uri.path().to_owned(),
                    refusal: Box::new(refusal),
                },
            )?;
            trail.note(|| Step::TenantPlan {
                tenant: tenant.to_string(),
                scope: format!("{:?}", plan.scope),
                lookups: plan.lookups.iter().map(|l| l.to_string()).collect(),
            });
            Some(plan)
        }
    };
    Ok(Passed {
        target,
        route,
        allowed,
        upgrade,
        reads_body,
        would_deny,
        audit,
        needed,
        tenancy,
    })
}

/// What the refusal of a request no rule allowed says of a rule that
/// matched all but its query; a query the Engine could read otherwise is
/// refused outright, in every mode.
fn near_miss(missed: policy::Missed<'_>) -> Result<String, Refusal> {
    let rule = format!(
        "rule {:?} of policy {:?}",
        missed.rule.text(),
        missed.policy.name
    );
    match missed.miss {
        policy::Miss::Mismatch(why) => Ok(format!(
            "{rule} matches but for its query constraint: {why}"
        )),
        unreadable @ policy::Miss::Unreadable(_) => Err(Refusal::BadRequest(format!(
            "{rule} cannot judge the query: {unreadable}"
        ))),
    }
}

/// The refusal of a confined client's request.
fn tenant_refusal(
    plan: &Plan,
    client: &str,
    request: Head<'_>,
) -> impl Fn(tenant::TenantRefusal) -> Refusal {
    let tenant = std::sync::Arc::clone(&plan.tenant);
    let client = client.to_owned();
    let method = request.method.to_string();
    let path = request.uri.path().to_owned();
    move |refusal| Refusal::Tenant {
        client: client.clone(),
        tenant: std::sync::Arc::clone(&tenant),
        method: method.clone(),
        path: path.clone(),
        refusal: Box::new(refusal),
    }
}

/// Decides a confined client's request with the Engine's answer for each
/// object it names ([`Plan::lookups`], in order): every object must be the
/// tenant's. Returns how the request must be rewritten so that the Engine
/// acts on exactly the objects judged.
pub fn confine(
    passed: &Passed<'_>,
    client: &str,
    request: Head<'_>,
    body: &[u8],
    answers: &[Answer],
    trail: &mut Trail,
) -> Result<Edits, Refusal> {
    let Some(plan) = &passed.tenancy else {
        return Ok(Edits::default());
    };
    let edits = tenant::decide(
        plan,
        &passed.target.route,
        request.uri.query(),
        body,
        answers,
    )
    .map_err(tenant_refusal(plan, client, request))?;
    trail.note(|| Step::Confined {
        tenant: plan.tenant.to_string(),
        route: edits.route.clone(),
        query: edits.query.clone(),
        body_rewritten: edits.body.is_some(),
    });
    Ok(edits)
}

/// Judges the complete body of a request whose head passed with
/// [`Passed::reads_body`] set, exactly as it will be forwarded.
pub fn body(
    passed: &mut Passed<'_>,
    client: &str,
    request: Head<'_>,
    bytes: &[u8],
    trail: &mut Trail,
) -> Result<(), Refusal> {
    // An unconfined client's create is only marked: it names nothing to look up.
    let confined = |p: &&mut Plan| p.reads_body() && p.is_confined();
    if let Some(plan) = passed.tenancy.as_mut().filter(confined) {
        let refuse = tenant_refusal(plan, client, request);
        let before = plan.lookups.len();
        plan.add_body(bytes).map_err(refuse)?;
        trail.note(|| Step::TenantPlan {
            tenant: plan.tenant.to_string(),
            scope: "body".into(),
            lookups: plan.lookups[before..]
                .iter()
                .map(|l| l.to_string())
                .collect(),
        });
    }
    let Some(endpoint) = passed.reads_body else {
        return Ok(());
    };
    if passed.audit {
        passed.needed = Some(needed(endpoint, request.uri.query(), bytes));
    }
    let forbidden = |refusal| Refusal::Forbidden {
        client: client.to_owned(),
        method: request.method.to_string(),
        path: request.uri.path().to_owned(),
        policy: std::sync::Arc::clone(&passed.allowed.policy.name),
        refusal: Box::new(refusal),
    };
    if let Err(r) = inspect::judge(
        endpoint,
        request.uri.query(),
        bytes,
        &passed.allowed.policy.grants,
    ) {
        let refusal = read_past(passed.audit, endpoint, request.uri.query(), bytes, r);
        soften(
            passed.audit,
            refusal_for(refusal, forbidden),
            &mut passed.would_deny,
            trail,
        )?;
    }
    trail.note(|| Step::Inspected {
        endpoint,
        policy: passed.allowed.policy.name.to_string(),
    });
    Ok(())
}

/// In audit mode a refusal of what the policies allow is noted (the first
/// one is what enforce mode would have answered) and the judgement goes on;
/// every other refusal stands.
fn soften(
    audit: bool,
    refusal: Refusal,
    would_deny: &mut Option<Refusal>,
    trail: &mut Trail,
) -> Result<(), Refusal> {
    if !(audit && refusal.auditable()) {
        return Err(refusal);
    }
    trail.note(|| Step::WouldDeny {
        refusal: refusal.to_string(),
    });
    would_deny.get_or_insert(refusal);
    Ok(())
}

/// In audit mode, an inspector refusal of what a grant could allow is
/// softened only if the rest of the request can be judged too: the
/// inspector stops at its first refusal, and an ambiguity after it would
/// otherwise reach the Engine. The request is read again with every grant
/// and past unknown fields; anything that reading still refuses stands as
/// a request that cannot be judged.
fn read_past(
    audit: bool,
    endpoint: Endpoint,
    query: Option<&str>,
    body: &[u8],
    refusal: inspect::Refusal,
) -> inspect::Refusal {
    if !audit || matches!(refusal, inspect::Refusal::Ambiguous(_)) {
        return refusal;
    }
    match inspect::judge(endpoint, query, body, Grants::reading_past()) {
        Ok(()) => refusal,
        Err(ambiguous @ inspect::Refusal::Ambiguous(_)) => ambiguous,
        Err(other) => inspect::Refusal::ambiguous(format!(
            "{refusal}, and past it {other}, which no grant allows"
        )),
    }
}

/// The most grant items one request's needs are counted to: each costs
/// the inspector another reading of the body.
const MOST_NEEDS: usize = 32;

/// Every grant the query and body need, from nothing granted: the
/// inspector stops at its first refusal, so it is asked again with each
/// grant it named added, until it passes or names none.
pub fn needed(endpoint: Endpoint, query: Option<&str>, body: &[u8]) -> Needed {
    let mut needed = Needed::default();
    let mut grants = Grants::none();
    loop {
        let refusal = match inspect::judge(endpoint, query, body, &grants) {
            Ok(()) => return needed,
            Err(refusal) => refusal,
        };
        let need = match &refusal {
            inspect::Refusal::Forbidden { needs, .. } => Need::parse(needs),
            _ => None,
        };
        let Some(need) = need.filter(|n| !needed.items.contains(n)) else {
            needed.ungrantable = Some(refusal.to_string());
            return needed;
        };
        if needed.items.len() == MOST_NEEDS {
            break;
        }
        needed.items.insert(need);
        match needed.grants() {
            Ok(more) => grants = more,
            Err(why) => {
                needed.ungrantable = Some(why);
                return needed;
            }
        }
    }
    needed.ungrantable = Some(format!("more than {MOST_NEEDS} grants"));
    needed
}

/// An inspector verdict on the body as the request path's refusal.
fn refusal_for(
    refusal: inspect::Refusal,
    forbidden: impl Fn(inspect::Refusal) -> Refusal,
) -> Refusal {
    match refusal {
        inspect::Refusal::Ambiguous(why) => Refusal::UnjudgeableBody(why),
        other => forbidden(other),
    }
}

/// An inspector verdict on the query alone (judged with the head) as the
/// request path's refusal: what the inspector cannot read there is the
/// query's, and the client is told so.
fn refusal_for_query(
    refusal: inspect::Refusal,
    forbidden: impl Fn(inspect::Refusal) -> Refusal,
) -> Refusal {
    match refusal {
        inspect::Refusal::Ambiguous(why) => Refusal::UnjudgeableQuery(why),
        other => forbidden(other),
    }
}

/// Refuses header shapes the Engine could read differently from the judge.
/// Returns the upgrade protocol the client asked for, if any.
fn check_headers(headers: &HeaderMap) -> Result<Option<HeaderValue>, Refusal> {
    let mut content_types = headers.get_all(header::CONTENT_TYPE).iter();
    if let (Some(ct), extra) = (content_types.next(), content_types.next()) {
        if extra.is_some() {
            return Err(Refusal::BadRequest(
                "more than one Content-Type header".into(),
            ));
        }
        // The Engine reads form fields (in the body) ahead of the query
        // string, so a form body could change parameters the judge read.
        match headers::media_type(ct).as_deref() {
            Some("application/x-www-form-urlencoded" | "multipart/form-data") => {
                return Err(Refusal::BadRequest("form-encoded bodies are not accepted: the Engine would read them as query parameters".into()));
            }
            None => return Err(Refusal::BadRequest("unreadable Content-Type header".into())),
            Some(_) => {}
        }
    }
    match headers::requested_upgrade(headers) {
        None => Ok(None),
        Some(Err(())) => Err(Refusal::BadRequest("more than one Upgrade header".into())),
        Some(Ok(proto)) => {
            let known = proto
                .to_str()
                .is_ok_and(|p| p.eq_ignore_ascii_case("tcp") || p.eq_ignore_ascii_case("h2c"));
            if known {
                Ok(Some(proto))
            } else {
                Err(Refusal::BadRequest(format!(
                    "upgrade to {proto:?} is not supported (only tcp and h2c)"
                )))
            }
        }
    }
}
