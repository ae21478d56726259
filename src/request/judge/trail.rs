//! The trail a judgement leaves: each step the judge took, in order, for
//! `dockgate explain` and for anything that audits or learns from decisions.
//!
//! The request path judges with the trail off, and then no step is built.

use std::fmt;

use crate::request::inspect::Endpoint;

/// One step of a judgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The target is canonical; `route` is what policies and the route table match.
    Canonical {
        path: String,
        version: Option<String>,
        route: String,
    },
    /// One of the client's policies, in order: the rule that matches, if any.
    Policy {
        policy: String,
        /// `METHOD route`, as the policy matched it.
        request: String,
        rule: Option<String>,
        /// Whether this is the first policy with a match, the one that decides.
        decides: bool,
    },
    /// A rule of `policy` matched the method and path but not the query.
    QueryMiss {
        policy: String,
        rule: String,
        miss: String,
    },
    /// The Engine's route for the request (`None`: no route matches).
    Route {
        name: Option<&'static str>,
        template: Option<&'static str>,
        /// Whether some route matches the path under another method.
        path_known: bool,
    },
    /// The request's body will be inspected against the deciding policy's grants.
    BodyToInspect { endpoint: Endpoint, policy: String },
    /// The request's query, body or route was inspected and needs nothing
    /// the deciding policy lacks.
    Inspected { endpoint: Endpoint, policy: String },
    /// The client is confined to `tenant`: what the route is to it, and the
    /// objects the Engine will be asked about (each must be the tenant's).
    TenantPlan {
        tenant: String,
        scope: String,
        lookups: Vec<String>,
    },
    /// The client is in audit mode: enforce mode would refuse this; the
    /// judgement goes on, and the request will be forwarded.
    WouldDeny { refusal: String },
    /// Every object was the tenant's; the request is rewritten so the
    /// Engine acts on exactly those.
    Confined {
        tenant: String,
        route: Option<String>,
        query: Option<String>,
        body_rewritten: bool,
    },
}

/// The steps of one judgement, or nothing when nobody reads them.
#[derive(Debug, Default)]
pub struct Trail {
    steps: Option<Vec<Step>>,
}

impl Trail {
    /// A trail that keeps nothing: the request path's.
    pub fn off() -> Trail {
        Trail { steps: None }
    }

    /// A trail that keeps every step.
    pub fn on() -> Trail {
        Trail {
            steps: Some(Vec::new()),
        }
    }

    pub fn is_on(&self) -> bool {
        self.steps.is_some()
    }

    /// Records a step; `step` is only called when the trail is on.
    pub fn note(&mut self, step: impl FnOnce() -> Step) {
        if let Some(steps) = &mut self.steps {
            steps.push(step());
        }
    }

    pub fn steps(&self) -> &[Step] {
        self.steps.as_deref().unwrap_or(&[])
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Canonical {
                path,
                version: Some(v),
                route,
            } => write!(
                f,
                "path {path:?} is canonical; API version prefix v{v} stripped: policies match {route:?}"
            ),
            Step::Canonical { route, .. } => {
                write!(f, "path {route:?} is canonical; policies match it as is")
            }
            Step::Policy {
                policy,
                rule: Some(rule),
                decides: true,
                ..
            } => write!(f, "policy {policy:?}: rule {rule:?} matches; it decides"),
            Step::Policy {
                policy,
                rule: Some(rule),
                decides: false,
                ..
            } => write!(
                f,
                "policy {policy:?}: rule {rule:?} would match, but an earlier policy decided"
            ),
            Step::Policy {
                policy,
                request,
                rule: None,
                ..
            } => write!(f, "policy {policy:?}: no rule matches {request}"),
            Step::QueryMiss { policy, rule, miss } => write!(
                f,
                "policy {policy:?}: rule {rule:?} matches the method and path, but not the query: {miss}"
            ),
            Step::Route {
                name: Some(name),
                template: Some(template),
                ..
            } => write!(f, "the Engine routes it to {name} ({template})"),
            Step::Route {
                path_known: true, ..
            } => write!(f, "the Engine has a route for this path, but not for this method"),
            Step::Route { .. } => write!(f, "no Engine API route that dockgate knows has this path"),
            Step::BodyToInspect { endpoint, policy } => write!(
                f,
                "{endpoint:?}: the request's body is inspected against the grants of policy {policy:?}"
            ),
            Step::Inspected { endpoint, policy } => write!(
                f,
                "{endpoint:?}: nothing in it needs a grant that policy {policy:?} lacks"
            ),
            Step::TenantPlan { tenant, scope, .. } if tenant.is_empty() => write!(
                f,
                "unconfined ({scope}): unless it names a tenant in dockgate.tenant, what it creates is marked as no tenant's, so it cannot inherit one from its image"
            ),
            Step::TenantPlan {
                tenant,
                scope,
                lookups,
            } if lookups.is_empty() => write!(
                f,
                "confined to tenant {tenant:?} ({scope}): names no object to check"
            ),
            Step::TenantPlan {
                tenant,
                scope,
                lookups,
            } => write!(
                f,
                "confined to tenant {tenant:?} ({scope}): the Engine is asked about {}; each must carry the label dockgate.tenant={tenant}",
                lookups.join(", ")
            ),
            Step::WouldDeny { refusal } => write!(
                f,
                "audit mode: enforce mode would refuse it ({refusal}); it is forwarded and logged as would_deny"
            ),
            Step::Confined {
                tenant,
                route,
                query,
                body_rewritten,
            } => {
                write!(f, "every object is tenant {tenant:?}'s")?;
                if let Some(route) = route {
                    write!(f, "; forwarded as {route}")?;
                }
                if let Some(query) = query {
                    write!(f, "; query becomes {query}")?;
                }
                if *body_rewritten {
                    write!(f, "; the body names objects by ID and carries the tenant's label")?;
                }
                Ok(())
            }
        }
    }
}
