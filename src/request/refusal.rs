//! Everything that stops a request on its way to the Engine, as one enum,
//! and the one function that turns it into the response the client sees.
//!
//! Responses carry `{"message": "..."}` because that is what the docker CLI
//! and SDKs print as `Error response from daemon: ...`. Every message names
//! the gateway, so a refused user knows who refused and why.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{header, Response, StatusCode};

use std::sync::Arc;

use crate::request::identity::IdentityError;
use crate::request::inspect;
use crate::request::path::PathError;
use crate::request::tenant::TenantRefusal;
use crate::request::upstream::UpstreamError;

/// Why a request was not forwarded (or not answered by the Engine).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("dockgate refused {method} {path}: {reason}")]
    NonCanonical {
        method: String,
        path: String,
        reason: PathError,
    },
    #[error("dockgate refused the request: {0}")]
    BadRequest(String),
    #[error("dockgate refused the {subject}: {0}", subject = .0.subject())]
    Identity(IdentityError),
    #[error("dockgate: client {client:?} is not in the gateway's configuration")]
    UnknownClient { client: String },
    #[error("dockgate: client {client:?} may not {method} {path} (no rule in policies {policies} allows it{})", query_note(.query_miss))]
    NotAllowed {
        client: String,
        method: String,
        path: String,
        policies: String,
        /// A rule that matched all but the query, and why not the query.
        query_miss: Option<String>,
    },
    #[error("dockgate: client {client:?} may not {method} {path}: {refusal} (policy {policy:?})")]
    Forbidden {
        client: String,
        method: String,
        path: String,
        /// The policy whose rule allowed the request and whose grants refused it.
        policy: Arc<str>,
        refusal: Box<inspect::Refusal>,
    },
    #[error("dockgate: client {client:?} may not {method} {path}: {what}; a route dockgate does not know needs grant `unknown_routes = true` (policy {policy:?})")]
    UnknownRoute {
        client: String,
        method: String,
        path: String,
        /// What the route table says of the method and path.
        what: String,
        policy: Arc<str>,
    },
    #[error("dockgate: client {client:?}{} may not {method} {path}: {refusal}", tenant_note(.tenant))]
    Tenant {
        client: String,
        tenant: Arc<str>,
        method: String,
        path: String,
        refusal: Box<TenantRefusal>,
    },
    #[error("dockgate refused the request body: {0}")]
    UnjudgeableBody(String),
    /// The query cannot be judged as the Engine will read it, or asks for
    /// what no grant allows; never forwarded, in any mode.
    #[error("dockgate refused the request's query: {0}")]
    UnjudgeableQuery(String),
    #[error("dockgate: request body over the {limit}-byte limit for inspected requests")]
    BodyTooLarge { limit: usize },
    #[error("dockgate: client {client:?} has {limit} connections open, its limit (max_connections_per_client; tunnels count until they end)")]
    TooManyConnections { client: String, limit: usize },
    #[error("dockgate: {0}")]
    Upstream(#[from] UpstreamError),
    #[error("dockgate: the Docker Engine switched protocols without being asked to")]
    UnexpectedUpgrade,
    #[error("dockgate: this gateway audits every request and its audit log cannot take more lines now (the log output has stopped draining); try again later")]
    AuditUnavailable,
}

/// `; rule "..." ... matches but for its query constraint: ...`, or nothing.
fn query_note(miss: &Option<String>) -> String {
    match miss {
        Some(miss) => format!("; {miss}"),
        None => String::new(),
    }
}

/// ` (tenant "NAME")`, or nothing for an unconfined client's create.
fn tenant_note(tenant: &str) -> String {
    if tenant.is_empty() {
        String::new()
    } else {
        format!(" (tenant {tenant:?})")
    }
}

impl Refusal {
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::NonCanonical { .. }
            | Refusal::BadRequest(_)
            | Refusal::UnjudgeableBody(_)
            | Refusal::UnjudgeableQuery(_) => StatusCode::BAD_REQUEST,
            Refusal::Identity(_)
            | Refusal::UnknownClient { .. }
            | Refusal::NotAllowed { .. }
            | Refusal::UnknownRoute { .. }
            | Refusal::Forbidden { .. } => StatusCode::FORBIDDEN,
            Refusal::Tenant { refusal, .. } => match **refusal {
                TenantRefusal::Hidden { .. } | TenantRefusal::Missing { .. } => {
                    StatusCode::NOT_FOUND
                }
                TenantRefusal::Unreadable(_) => StatusCode::BAD_REQUEST,
                TenantRefusal::NotConfinable { .. }
                | TenantRefusal::TakenName { .. }
                | TenantRefusal::ForgedLabel { .. }
                | TenantRefusal::ForeignTag { .. } => StatusCode::FORBIDDEN,
            },
            Refusal::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::TooManyConnections { .. } => StatusCode::TOO_MANY_REQUESTS,
            Refusal::Upstream(UpstreamError::ConnectTimeout { .. }) => StatusCode::GATEWAY_TIMEOUT,
            Refusal::Upstream(_) | Refusal::UnexpectedUpgrade => StatusCode::BAD_GATEWAY,
            Refusal::AuditUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Why, as the audit line and the metrics name it.
    pub fn reason(&self) -> Reason {
        match self {
            Refusal::NonCanonical { .. } => Reason::NonCanonical,
            Refusal::BadRequest(_) => Reason::BadRequest,
            // A certificate that names no configured client is an unknown
            // client, as it was when clients were known by CN alone.
            Refusal::Identity(IdentityError::Unknown(_) | IdentityError::UnknownPeer { .. }) => {
                Reason::UnknownClient
            }
            Refusal::Identity(_) => Reason::BadIdentity,
            Refusal::UnknownClient { .. } => Reason::UnknownClient,
            Refusal::NotAllowed { .. } => Reason::NoRule,
            Refusal::UnknownRoute { .. } => Reason::UnknownRoute,
            Refusal::Forbidden { refusal, .. } => match **refusal {
                inspect::Refusal::UnknownField { .. } => Reason::UnknownField,
                _ => Reason::BodyRule,
            },
            Refusal::Tenant { refusal, .. } => match **refusal {
                TenantRefusal::Hidden { .. } | TenantRefusal::Missing { .. } => Reason::NotOwned,
                TenantRefusal::Unreadable(_) => Reason::UnjudgeableBody,
                _ => Reason::TenantRule,
            },
            Refusal::UnjudgeableBody(_) => Reason::UnjudgeableBody,
            Refusal::UnjudgeableQuery(_) => Reason::UnjudgeableQuery,
            Refusal::BodyTooLarge { .. } => Reason::BodyTooLarge,
            Refusal::TooManyConnections { .. } => Reason::ClientConnectionLimit,
            Refusal::Upstream(_) | Refusal::UnexpectedUpgrade => Reason::UpstreamError,
            Refusal::AuditUnavailable => Reason::AuditUnavailable,
        }
    }

    /// The policy whose grants refused the request, for audit.
    pub fn policy(&self) -> Option<&Arc<str>> {
        match self {
            Refusal::Forbidden { policy, .. } | Refusal::UnknownRoute { policy, .. } => {
                Some(policy)
            }
            _ => None,
        }
    }

    /// Whether a client in audit mode gets the request forwarded all the
    /// same: refusals of what its policies allow. What dockgate cannot
    /// judge, who the client is, its limits and its tenant never are.
    pub fn auditable(&self) -> bool {
        matches!(
            self,
            Refusal::NotAllowed { .. } | Refusal::UnknownRoute { .. } | Refusal::Forbidden { .. }
        )
    }

    /// Whether the Engine was involved (for audit: `decision = allow`).
    pub fn after_forwarding(&self) -> bool {
        matches!(self, Refusal::Upstream(_) | Refusal::UnexpectedUpgrade)
    }

    pub fn to_response(&self) -> Response<Full<Bytes>> {
        // A confined client is told of another tenant's object exactly what
        // the Engine says of a missing one.
        let message = match self {
            Refusal::Tenant { refusal, .. } => match &**refusal {
                TenantRefusal::Missing { message } => message.clone(),
                TenantRefusal::Hidden {
                    kind, reference, ..
                } => format!("No such {}: {reference}", kind.noun()),
                _ => self.to_string(),
            },
            other => other.to_string(),
        };
        let body = serde_json::json!({ "message": message }).to_string();
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = self.status();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        if matches!(
            self,
            Refusal::TooManyConnections { .. } | Refusal::Identity(_)
        ) {
            response.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
        }
        response
    }
}

/// Every reason a request is refused, by the stable name the audit line's
/// `reason` field and the metrics' `reason` label carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    NonCanonical,
    BadRequest,
    BadIdentity,
    UnknownClient,
    NoRule,
    UnknownRoute,
    BodyRule,
    UnknownField,
    /// A confined client named an object that is not its tenant's.
    NotOwned,
    /// A confined client asked for what its tenant may not do.
    TenantRule,
    UnjudgeableBody,
    UnjudgeableQuery,
    BodyTooLarge,
    ClientConnectionLimit,
    UpstreamError,
    AuditUnavailable,
    /// The exchange ended before it was judged (the client went away).
    Unjudged,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NonCanonical => "non_canonical",
            Reason::BadRequest => "bad_request",
            Reason::BadIdentity => "bad_identity",
            Reason::UnknownClient => "unknown_client",
            Reason::NoRule => "no_rule",
            Reason::UnknownRoute => "unknown_route",
            Reason::BodyRule => "body_rule",
            Reason::UnknownField => "unknown_field",
            Reason::NotOwned => "not_owned",
            Reason::TenantRule => "tenant_rule",
            Reason::UnjudgeableBody => "unjudgeable_body",
            Reason::UnjudgeableQuery => "unjudgeable_query",
            Reason::BodyTooLarge => "body_too_large",
            Reason::ClientConnectionLimit => "client_connection_limit",
            Reason::UpstreamError => "upstream_error",
            Reason::AuditUnavailable => "audit_unavailable",
            Reason::Unjudged => "unjudged",
        }
    }
}
