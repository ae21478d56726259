//! The request path: judge one request, then forward it to the Engine or
//! answer with the reason it was refused.
//!
//! Judging happens in a fixed order, each step on exactly what will be
//! forwarded: method and target ([`crate::path`]), header shapes the Engine
//! could read differently, the client's identity, its policies, and the
//! request body where it could grant the host ([`crate::inspect`]). Only a
//! request that passed every step is sent upstream, and it is sent with the
//! same target bytes and (for inspected requests) the same body bytes that
//! were judged.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::http::request::Parts;
use hyper::upgrade::OnUpgrade;
use hyper::{Request, Response, StatusCode};

use crate::audit::{Decision, Metered, Record};
use crate::headers;
use crate::identity::{Identity, IdentityError};
use crate::inspect;
use crate::path;
use crate::policy;
use crate::refusal::Refusal;
use crate::server::Shared;
use crate::snapshot::Snapshot;
use crate::upstream::{EngineLink, Upstream, UpstreamBody};

/// What the gateway answers with.
pub type GatewayBody = Metered<UnsyncBoxBody<Bytes, hyper::Error>>;

/// The per-connection service: who is asking, and what they may do.
#[derive(Clone)]
pub struct Gateway {
    pub shared: Arc<Shared>,
    /// The client's address as `address:port`, for the audit log.
    pub peer: Arc<str>,
    pub identity: Result<Identity, IdentityError>,
    /// Set when the client is over its connection limit: every request on
    /// this connection is answered 429 and the connection closed.
    pub over_limit: Option<usize>,
    /// This connection's connection to the Engine.
    pub link: Arc<EngineLink>,
}

impl Gateway {
    /// The service hyper calls for each request. hyper allocates a slot the
    /// size of this future once per connection and keeps it for the
    /// connection's life, streams included, while the work it stands for
    /// (judging, the Engine link, the dial: about 3.4 KiB) is only needed
    /// until the response head is back. So the work lives in a box of its
    /// own, made per request and freed as soon as it answers.
    pub fn handle(
        self,
        req: Request<Incoming>,
    ) -> Pin<Box<dyn Future<Output = Result<Response<GatewayBody>, Infallible>> + Send>> {
        Box::pin(self.serve(req))
    }

    async fn serve(self, req: Request<Incoming>) -> Result<Response<GatewayBody>, Infallible> {
        let snapshot = self.shared.state.borrow().clone();
        let mut record = Record::new(
            &snapshot.config,
            self.identity.as_ref().ok(),
            &self.peer,
            req.method(),
            req.uri(),
        );
        let result = self.judge_and_forward(&snapshot, req, &mut record).await;
        Ok(match result {
            Ok(Forwarded::Response(response)) => {
                record.set_status(response.status().as_u16());
                response.map(|body| Metered::response(body.boxed_unsync(), record))
            }
            Ok(Forwarded::Upgrade {
                response,
                client,
                engine,
            }) => {
                record.set_status(101);
                record.set_upgraded();
                self.shared.spawn_tunnel(
                    self.identity.as_ref().ok().cloned(),
                    client,
                    engine,
                    record,
                );
                switch_response(response)
            }
            Err(refusal) => {
                if !refusal.after_forwarding() {
                    record.decide(Decision::Deny {
                        reason: refusal.reason(),
                    });
                }
                record.set_status(refusal.status().as_u16());
                tracing::debug!(client = self.identity.as_ref().map(|i| &*i.name).unwrap_or(""), error = %refusal, "refused");
                refusal.to_response().map(|body| {
                    Metered::response(body.map_err(|never| match never {}).boxed_unsync(), record)
                })
            }
        })
    }

    async fn judge_and_forward(
        &self,
        snapshot: &Snapshot,
        req: Request<Incoming>,
        record: &mut Record,
    ) -> Result<Forwarded, Refusal> {
        let (mut parts, body) = req.into_parts();
        let method = parts.method.clone();
        // A refcounted copy: the path is only copied out when refusing.
        let uri = parts.uri.clone();
        let non_canonical = |reason| Refusal::NonCanonical {
            method: method.to_string(),
            path: uri.path().to_owned(),
            reason,
        };
        path::check_method(&method).map_err(non_canonical)?;
        let target = path::canonicalize(&parts.uri).map_err(non_canonical)?;
        let upgrade = check_headers(&parts.headers)?;

        let identity = self
            .identity
            .as_ref()
            .map_err(|e| Refusal::Identity(e.clone()))?;
        if let Some(limit) = self.over_limit {
            return Err(Refusal::TooManyConnections {
                client: identity.name.to_string(),
                limit,
            });
        }
        let config = &snapshot.config;
        let policies =
            config
                .clients
                .get(&*identity.name)
                .ok_or_else(|| Refusal::UnknownClient {
                    client: identity.name.to_string(),
                })?;
        let allowed = policy::decide(policies, &method, &target.route).ok_or_else(|| {
            Refusal::NotAllowed {
                client: identity.name.to_string(),
                method: method.to_string(),
                path: uri.path().to_owned(),
                policies: policies
                    .iter()
                    .map(|p| &*p.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        })?;

        let judge = |endpoint, bytes: &[u8]| {
            inspect::judge(endpoint, uri.query(), bytes, &allowed.policy.grants).map_err(
                |refusal| match refusal {
                    inspect::Refusal::Ambiguous(why) => Refusal::UnjudgeableBody(why),
                    forbidden => Refusal::Forbidden {
                        client: identity.name.to_string(),
                        method: method.to_string(),
                        path: uri.path().to_owned(),
                        reason: format!("{forbidden} (policy {:?})", allowed.policy.name),
                    },
                },
            )
        };
        let body = match inspect::endpoint(&method, &target.route) {
            Some(endpoint) if endpoint.reads_body() => {
                let limits = &config.limits;
                let bytes = read_inspected_body(
                    body,
                    limits.max_inspected_body_bytes,
                    limits.request_header_timeout,
                )
                .await?;
                judge(endpoint, &bytes)?;
                // Forward exactly the bytes that were judged.
                record
                    .meter
                    .bytes_in
                    .fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
                Full::new(bytes)
                    .map_err(|never| match never {})
                    .boxed_unsync()
            }
            Some(endpoint) => {
                judge(endpoint, &[])?;
                Metered::request(body, Arc::clone(&record.meter)).boxed_unsync()
            }
            None => Metered::request(body, Arc::clone(&record.meter)).boxed_unsync(),
        };
        record.decide(Decision::Allow {
            policy: Arc::clone(&allowed.policy.name),
            rule: Arc::clone(allowed.rule.text()),
        });
        let client_upgrade =
            upgrade.and_then(|proto| Some((proto, parts.extensions.remove::<OnUpgrade>()?)));
        forward(&self.link, &snapshot.upstream, parts, body, client_upgrade).await
    }
}

/// What an allowed request produced.
enum Forwarded {
    Response(Response<Incoming>),
    /// The Engine answered 101 to an upgrade the client asked for.
    Upgrade {
        response: Response<Incoming>,
        client: OnUpgrade,
        engine: OnUpgrade,
    },
}

/// Refuses header shapes the Engine could read differently from the gateway.
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
        // string, so a form body could change parameters the gateway judged.
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

/// Reads a body that must be judged, up to `limit` bytes and within `timeout`.
async fn read_inspected_body(
    body: Incoming,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<Bytes, Refusal> {
    if body.size_hint().lower() > limit as u64 {
        return Err(Refusal::BodyTooLarge { limit });
    }
    match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
        Err(_) => Err(Refusal::BadRequest(format!(
            "the request body did not arrive within {timeout:?}"
        ))),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(Refusal::BodyTooLarge { limit })
        }
        Ok(Err(e)) => Err(Refusal::BadRequest(format!(
            "reading the request body failed: {e}"
        ))),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// Sends an allowed request to the Engine: the same method and target
/// bytes that were judged, end-to-end headers only, and `body`.
async fn forward(
    link: &EngineLink,
    upstream: &Upstream,
    parts: Parts,
    body: UpstreamBody,
    upgrade: Option<(HeaderValue, OnUpgrade)>,
) -> Result<Forwarded, Refusal> {
    let mut headers = parts.headers;
    headers::strip_hop_by_hop(&mut headers);
    headers.remove(header::CONTENT_LENGTH);
    headers.insert(header::HOST, HeaderValue::from_static("docker"));
    let client_upgrade = upgrade.map(|(proto, on_upgrade)| {
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(header::UPGRADE, proto);
        on_upgrade
    });
    let mut upstream_req = Request::new(body);
    *upstream_req.method_mut() = parts.method;
    // The origin-form target exactly as received and judged.
    *upstream_req.uri_mut() = parts.uri;
    *upstream_req.headers_mut() = headers;

    let mut response = link.send(upstream, upstream_req).await?;
    match (response.status(), client_upgrade) {
        (StatusCode::SWITCHING_PROTOCOLS, Some(client)) => {
            let engine = hyper::upgrade::on(&mut response);
            Ok(Forwarded::Upgrade {
                response,
                client,
                engine,
            })
        }
        (StatusCode::SWITCHING_PROTOCOLS, None) => Err(Refusal::UnexpectedUpgrade),
        _ => {
            let mut response = response;
            headers::strip_hop_by_hop(response.headers_mut());
            Ok(Forwarded::Response(response))
        }
    }
}

/// The 101 the client sees: the Engine's, with its upgrade headers.
fn switch_response(engine_response: Response<Incoming>) -> Response<GatewayBody> {
    let (mut parts, _) = engine_response.into_parts();
    let proto = parts.headers.get(header::UPGRADE).cloned();
    headers::strip_hop_by_hop(&mut parts.headers);
    parts
        .headers
        .insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Some(proto) = proto {
        parts.headers.insert(header::UPGRADE, proto);
    }
    let empty = Full::new(Bytes::new())
        .map_err(|never| match never {})
        .boxed_unsync();
    Response::from_parts(parts, Metered::request(empty, Arc::default()))
}
