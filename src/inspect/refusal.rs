//! The inspector's verdict when a request may not pass, and the HTTP status it maps to.
//!
//! Two kinds only, because the gateway answers them differently: a request that asks for
//! something the client's policy does not grant (403, and `explain` shows what would grant it),
//! and a body that cannot be read the one way the Engine would read it (400).

/// Why a request was refused by the inspector.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// 403: the request asks for something not granted. `field` names the field as the Engine
    /// calls it (e.g. `HostConfig.Privileged`), `needs` the grant that would allow it (e.g.
    /// `privileged = true`).
    #[error("{field} is not granted to this client (needs grant `{needs}`)")]
    Forbidden { field: String, needs: String },
    /// 400: the body or query cannot be judged unambiguously (malformed JSON, duplicate keys
    /// that fold to the same field, trailing data, wrong types, invalid UTF-8, bad escapes...).
    #[error("request cannot be inspected unambiguously: {0}")]
    Ambiguous(String),
}

impl Refusal {
    /// The HTTP status the gateway answers with.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Forbidden { .. } => 403,
            Refusal::Ambiguous(_) => 400,
        }
    }

    pub(crate) fn forbidden(field: impl Into<String>, needs: impl Into<String>) -> Refusal {
        Refusal::Forbidden {
            field: field.into(),
            needs: needs.into(),
        }
    }

    pub(crate) fn ambiguous(why: impl Into<String>) -> Refusal {
        Refusal::Ambiguous(why.into())
    }
}
