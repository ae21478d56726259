//! The inspector's verdict when a request may not pass.
//!
//! Three answers, because the client is told different things: a request that asks for
//! something the client's policy does not grant (`explain` shows what would grant it), one that
//! sets a field dockgate does not know (no grant allows it), and a body that cannot be read the
//! one way the Engine would read it. The judge wraps them in the request path's
//! [`crate::request::refusal::Refusal`], which alone maps refusals to statuses (403, 403, 400).

/// Why a request was refused by the inspector.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The request asks for something not granted. `field` names the field as the Engine
    /// calls it (e.g. `HostConfig.Privileged`), `needs` the grant that would allow it (e.g.
    /// `privileged = true`).
    #[error("{field} is not granted to this client (needs grant `{needs}`)")]
    Forbidden { field: String, needs: String },
    /// The request sets a field dockgate does not know, so it cannot tell what it grants;
    /// no grant allows it. `field` is the path as the client wrote it (e.g. `HostConfig.Foo`),
    /// `zero` the values that are accepted all the same.
    #[error("{field} is not a field dockgate knows, so it cannot tell what it grants; only {zero} is accepted")]
    UnknownField { field: String, zero: &'static str },
    /// The body or query cannot be judged unambiguously (malformed JSON, duplicate keys
    /// that fold to the same field, trailing data, wrong types, invalid UTF-8, bad escapes...).
    #[error("request cannot be inspected unambiguously: {0}")]
    Ambiguous(String),
}

impl Refusal {
    pub(crate) fn forbidden(field: impl Into<String>, needs: impl Into<String>) -> Refusal {
        Refusal::Forbidden {
            field: field.into(),
            needs: needs.into(),
        }
    }

    pub(crate) fn unknown_field(field: impl Into<String>, zero: &'static str) -> Refusal {
        Refusal::UnknownField {
            field: field.into(),
            zero,
        }
    }

    pub(crate) fn ambiguous(why: impl Into<String>) -> Refusal {
        Refusal::Ambiguous(why.into())
    }
}
