//! Asking the Engine who owns the objects a confined client's request
//! names ([`crate::request::tenant`] decides with the answers).
//!
//! Each reference is resolved by the Engine itself, with the inspect route
//! of its kind, so it is read exactly as the action will read it: full ID,
//! ID prefix, name, name with a leading `/`, link alias. The answer is the
//! object's full ID and its tenant label; the request is then forwarded
//! naming that ID. The questions go over the client connection's own Engine
//! link, one at a time, before the request itself.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::header::{HeaderValue, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use serde::Deserialize;
use tokio_util::task::TaskTracker;

use crate::request::tenant::{Answer, ExecOwners, Kind, Lookup, LABEL};
use crate::request::upstream::{EngineLink, Upstream, UpstreamError};

/// The fields of an inspect (or create) answer the questions read, by the
/// Engine's exact names; the rest of the answer is passed over unkept.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Inspected {
    /// Containers, images, networks.
    #[serde(rename = "Id")]
    id: Option<String>,
    /// Exec instances.
    #[serde(rename = "ID")]
    exec_id: Option<String>,
    /// Volumes, whose name is their ID.
    #[serde(rename = "Name")]
    name: Option<String>,
    /// An exec instance's container.
    #[serde(rename = "ContainerID")]
    container_id: Option<String>,
    /// Volumes and networks.
    #[serde(rename = "Labels")]
    labels: Option<Labels>,
    /// Containers and images keep their labels in their config.
    #[serde(rename = "Config")]
    config: Option<Config>,
    /// An error answer's text.
    message: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Config {
    #[serde(rename = "Labels")]
    labels: Option<Labels>,
}

/// Of a label map, only the tenant's label.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Labels {
    #[serde(rename = "dockgate.tenant")]
    tenant: Option<String>,
}

/// The largest inspect answer read; a container's is a few kilobytes.
const MAX_ANSWER_BYTES: usize = 4 << 20;

/// The Engine, as the questions reach it.
pub struct Asker<'a> {
    pub link: &'a EngineLink,
    pub upstream: &'a Upstream,
    pub tasks: &'a TaskTracker,
    /// How long one answer may take.
    pub timeout: Duration,
    /// Exec instances whose tenant is known without asking.
    pub exec_owners: &'a ExecOwners,
}

impl Asker<'_> {
    /// The Engine's answer for each lookup, in order.
    pub async fn answers(&self, lookups: &[Lookup]) -> Result<Vec<Answer>, UpstreamError> {
        let mut out = Vec::with_capacity(lookups.len());
        for lookup in lookups {
            let known = match lookup.kind {
                Kind::Exec => self.exec_owners.tenant_of(&lookup.reference),
                _ => None,
            };
            out.push(match known {
                Some(tenant) => Answer::Found {
                    id: lookup.reference.clone(),
                    tenant: Some(tenant.to_string()),
                },
                None => self.answer(lookup.kind, &lookup.reference).await?,
            });
        }
        Ok(out)
    }

    async fn answer(&self, kind: Kind, reference: &str) -> Result<Answer, UpstreamError> {
        // The Engine reads a container name with or without its leading
        // `/`; in a path the `/` would make an empty segment.
        let reference = match kind {
            Kind::Container => reference.strip_prefix('/').unwrap_or(reference),
            _ => reference,
        };
        if reference.is_empty() {
            // No path names it; the Engine finds no such object either.
            return Ok(Answer::Missing {
                message: Box::pin(self.missing_message(kind, "")).await?,
            });
        }
        let (status, body) = self.get(&inspect_path(kind, reference)).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(Answer::Missing {
                message: message_of(&body),
            });
        }
        if status != StatusCode::OK {
            return Err(self.failed(format!(
                "asked who owns {} {reference:?}, the Engine answered {status}: {}",
                kind.noun(),
                message_of(&body)
            )));
        }
        let tenant = |labels: Option<Labels>| labels.and_then(|l| l.tenant);
        let found = match kind {
            Kind::Container | Kind::Image => (body.id, tenant(body.config.and_then(|c| c.labels))),
            Kind::Network => (body.id, tenant(body.labels)),
            Kind::Volume => (body.name, tenant(body.labels)),
            Kind::Exec => {
                // An exec instance is its container's.
                let container = body
                    .container_id
                    .ok_or_else(|| self.failed("an exec inspect without ContainerID".into()))?;
                let owner = match Box::pin(self.answer(Kind::Container, &container)).await? {
                    Answer::Found { tenant, .. } => tenant,
                    Answer::Missing { .. } => None,
                };
                (body.exec_id, owner)
            }
        };
        match found {
            (Some(id), tenant) => Ok(Answer::Found { id, tenant }),
            (None, _) => Err(self.failed(format!(
                "the Engine's {} inspect answer names no ID",
                kind.noun()
            ))),
        }
    }

    /// What the Engine says of a missing object of `kind`, in its own words,
    /// for `reference`: asked for a name no object has.
    pub async fn missing_message(
        &self,
        kind: Kind,
        reference: &str,
    ) -> Result<String, UpstreamError> {
        let probe = format!("dockgate-missing-{:016x}", rand_u64());
        match self.answer(kind, &probe).await? {
            Answer::Missing { message } => Ok(message.replace(&probe, reference)),
            Answer::Found { .. } => Ok(format!("No such {}: {reference}", kind.noun())),
        }
    }

    /// Creates the named volume for `tenant`; returns whether the volume now
    /// under that name is the tenant's (another may have made it first).
    pub async fn create_volume(&self, name: &str, tenant: &str) -> Result<bool, UpstreamError> {
        let body = serde_json::json!({ "Name": name, "Labels": { LABEL: tenant } }).to_string();
        let (status, answer) = self
            .request(Method::POST, "/volumes/create", Bytes::from(body))
            .await?;
        if status != StatusCode::CREATED && status != StatusCode::OK {
            return Err(self.failed(format!(
                "creating volume {name:?} for tenant {tenant:?}: the Engine answered {status}: {}",
                message_of(&answer)
            )));
        }
        Ok(answer.labels.and_then(|l| l.tenant).as_deref() == Some(tenant))
    }

    async fn get(&self, path: &str) -> Result<(StatusCode, Inspected), UpstreamError> {
        self.request(Method::GET, path, Bytes::new()).await
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<(StatusCode, Inspected), UpstreamError> {
        let has_body = !body.is_empty();
        let body = if has_body {
            Full::new(body)
                .map_err(|never| match never {})
                .boxed_unsync()
        } else {
            Empty::new().map_err(|never| match never {}).boxed_unsync()
        };
        let mut req = Request::new(body);
        *req.method_mut() = method;
        *req.uri_mut() = path
            .parse()
            .map_err(|e| self.failed(format!("bad lookup path {path:?}: {e}")))?;
        req.headers_mut()
            .insert(HOST, HeaderValue::from_static("docker"));
        if has_body {
            req.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let exchange = async {
            let response = self.link.send(self.upstream, req, self.tasks).await?;
            let status = response.status();
            let bytes = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| self.failed(format!("reading the Engine's answer: {e}")))?
                .to_bytes();
            Ok((
                status,
                // An answer that is not what the Engine sends names no ID
                // and no tenant: the question fails, or finds no owner.
                serde_json::from_slice(&bytes).unwrap_or_default(),
            ))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| self.failed(format!("no answer within {:?}", self.timeout)))?
    }

    fn failed(&self, message: String) -> UpstreamError {
        UpstreamError::Failed {
            socket: self.upstream.socket().to_path_buf(),
            message,
        }
    }
}

/// The inspect route for a reference of `kind`, the reference escaped so
/// that the Engine's router decodes it back to the same string.
fn inspect_path(kind: Kind, reference: &str) -> String {
    let mut escaped = String::new();
    for b in reference.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/' | b':') {
            escaped.push(b as char);
        } else {
            escaped.push_str(&format!("%{b:02X}"));
        }
    }
    match kind {
        Kind::Container => format!("/containers/{escaped}/json"),
        Kind::Exec => format!("/exec/{escaped}/json"),
        Kind::Volume => format!("/volumes/{escaped}"),
        Kind::Network => format!("/networks/{escaped}"),
        Kind::Image => format!("/images/{escaped}/json"),
    }
}

fn message_of(body: &Inspected) -> String {
    body.message.clone().unwrap_or_default()
}

/// A name no object has yet: random enough that no client guesses it.
fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tenant_label_is_read_where_each_kind_keeps_it() {
        let container: Inspected = serde_json::from_str(&format!(
            r#"{{"Id":"c1","Name":"/web","HostConfig":{{"Binds":null}},"Config":{{"Env":["A=1"],"Labels":{{"x":"y","{LABEL}":"team-a"}}}}}}"#
        ))
        .unwrap();
        assert_eq!(container.id.as_deref(), Some("c1"));
        assert_eq!(
            container
                .config
                .and_then(|c| c.labels)
                .and_then(|l| l.tenant),
            Some("team-a".to_owned())
        );
        let volume: Inspected =
            serde_json::from_str(r#"{"Name":"v","Labels":null,"Driver":"local"}"#).unwrap();
        assert_eq!(volume.name.as_deref(), Some("v"));
        assert!(volume.labels.is_none());
        let exec: Inspected =
            serde_json::from_str(r#"{"ID":"e","ContainerID":"c","Running":false}"#).unwrap();
        assert_eq!(
            (exec.exec_id.as_deref(), exec.container_id.as_deref()),
            (Some("e"), Some("c"))
        );
        let missing: Inspected =
            serde_json::from_str(r#"{"message":"No such container: x"}"#).unwrap();
        assert_eq!(message_of(&missing), "No such container: x");
    }
}
