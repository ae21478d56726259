//! The request path: judge one request, then forward it to the Engine or
//! answer with the reason it was refused.
//!
//! [`crate::request::judge`] decides; the gateway reads what the judge needs (the
//! body, where the route's body is inspected) and carries out the verdict.
//! Only a request that passed is sent upstream, and it is sent with the same
//! target bytes and (for inspected requests) the same body bytes that were
//! judged.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::http::request::Parts;
use hyper::upgrade::OnUpgrade;
use hyper::{Request, Response, StatusCode, Uri};
use tokio_util::task::TaskTracker;

use crate::config::snapshot::Snapshot;
use crate::request::audit::{Decision, Metered, Record};
use crate::request::headers;
use crate::request::identity::{Identity, IdentityError};
use crate::request::judge::{self, Trail};
use crate::request::ownership::Asker;
use crate::request::path::Target;
use crate::request::refusal::Refusal;
use crate::request::shared::{Lease, Shared};
use crate::request::tenant::{Kind, TenantRefusal};
use crate::request::upstream::{EngineLink, Upstream, UpstreamBody};

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
    /// This connection's place under the connection limits; a tunnel it
    /// turns into keeps it.
    pub lease: Arc<Lease>,
}

impl Gateway {
    /// The service hyper calls for each request. hyper allocates a slot the
    /// size of this future once per connection and keeps it for the
    /// connection's life, streams included, while the work it stands for
    /// (judging, the Engine link, the dial) is only needed until the
    /// response head is back. So the work lives in a box of its
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
            judge::logged_query::pairs(req.method(), req.uri()),
        );
        let result = self.judge_and_forward(&snapshot, req, &mut record).await;
        Ok(match result {
            Ok(Forwarded::Response(response)) => {
                record.set_status(response.status().as_u16());
                response.map(|body| Metered::response(body, record))
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
                    Arc::clone(&self.lease),
                );
                switch_response(response)
            }
            Err(refusal) => {
                if !refusal.after_forwarding() {
                    record.decide(Decision::Deny {
                        reason: refusal.reason(),
                        policy: refusal.policy().cloned(),
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
        record
            .admit()
            .map_err(|crate::request::audit::AuditUnavailable| Refusal::AuditUnavailable)?;
        let (mut parts, body) = req.into_parts();
        let config = &snapshot.config;
        let client = judge::Client {
            name: self.identity.as_ref().map(|i| &*i.name),
            over_limit: self.over_limit,
        };
        let head = judge::Head {
            method: &parts.method,
            uri: &parts.uri,
            headers: &parts.headers,
        };
        let mut passed = judge::head(config, client, head, &mut Trail::off())?;
        let name = client.name.unwrap_or_default();
        let limits = &config.limits;
        let mut body = if passed.reads_body() {
            let bytes = read_inspected_body(
                body,
                limits.max_inspected_body_bytes,
                limits.request_header_timeout,
            )
            .await?;
            judge::body(&mut passed, name, head, &bytes, &mut Trail::off())?;
            RequestBody::Judged(bytes)
        } else {
            RequestBody::Streamed(body)
        };
        let mut filter_answer = false;
        let mut remember_exec = false;
        if let Some(plan) = &passed.tenancy {
            let asker = Asker {
                link: &self.link,
                upstream: &snapshot.upstream,
                tasks: &self.shared.tasks,
                timeout: limits.request_header_timeout,
                exec_owners: &self.shared.exec_owners,
            };
            let judged = match &body {
                RequestBody::Judged(bytes) => Some(&bytes[..]),
                RequestBody::Streamed(_) => None,
            };
            let edits = confine(&asker, &passed, plan, name, head, judged)
                .await
                .inspect_err(|refusal| {
                    // The Engine failed a question before anything was
                    // decided: the request was refused for it.
                    if refusal.after_forwarding() {
                        record.decide(Decision::Deny {
                            reason: refusal.reason(),
                            policy: None,
                        });
                    }
                })?;
            if edits.route.is_some() || edits.query.is_some() {
                parts.uri = rewritten_target(&passed.target, &parts.uri, &edits)?;
            }
            if let Some(rewritten) = edits.body {
                body = RequestBody::Judged(Bytes::from(rewritten));
            }
            filter_answer = edits.filter_answer;
            remember_exec = edits.remember_exec;
        }
        let body = match body {
            RequestBody::Judged(bytes) => {
                // Forward exactly the bytes that were judged (and, for a
                // confined client, rewritten to name what was judged).
                record
                    .meter
                    .bytes_in
                    .fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
                Full::new(bytes)
                    .map_err(|never| match never {})
                    .boxed_unsync()
            }
            RequestBody::Streamed(body) => {
                Metered::request(body, Arc::clone(&record.meter)).boxed_unsync()
            }
        };
        let grants: Box<str> = passed
            .needed
            .as_ref()
            .map_or("".into(), |n| n.render().into());
        record.decide(match passed.would_deny.take() {
            // Audit mode: forwarded all the same, and said so.
            Some(refusal) => Decision::WouldDeny {
                reason: refusal.reason(),
                policy: refusal.policy().cloned(),
                detail: refusal.to_string().into(),
                grants,
            },
            None => Decision::Allow {
                policy: Arc::clone(&passed.allowed.policy.name),
                rule: Arc::clone(passed.allowed.rule.text()),
                grants,
            },
        });
        let client_upgrade = passed
            .upgrade
            .and_then(|proto| Some((proto, parts.extensions.remove::<OnUpgrade>()?)));
        let engine = Engine {
            link: &self.link,
            upstream: &snapshot.upstream,
            tasks: &self.shared.tasks,
        };
        let tenant = passed.tenancy.as_ref().map(|p| Arc::clone(&p.tenant));
        let confined = passed
            .tenancy
            .as_ref()
            .is_some_and(judge::Plan::is_confined);
        match (forward(engine, parts, body, client_upgrade).await?, tenant) {
            (Forwarded::Response(response), Some(tenant)) if filter_answer => Ok(
                Forwarded::Response(filtered(response, &tenant, snapshot.upstream.socket()).await?),
            ),
            (Forwarded::Response(response), Some(_))
                if confined && response.status() == StatusCode::CONFLICT =>
            {
                Ok(Forwarded::Response(
                    without_ids(response, snapshot.upstream.socket()).await?,
                ))
            }
            (Forwarded::Response(response), Some(tenant)) if remember_exec => {
                let (response, id) = created_id(response, snapshot.upstream.socket()).await?;
                if let Some(id) = id {
                    self.shared.exec_owners.remember(&id, &tenant);
                }
                Ok(Forwarded::Response(response))
            }
            (forwarded, _) => Ok(forwarded),
        }
    }
}

/// Decides a confined client's request: asks the Engine about every object
/// it names, lets the judge decide, and creates the named volumes it mounts
/// for the tenant. An object of another tenant is refused in the words the
/// Engine uses for a missing one.
async fn confine(
    asker: &Asker<'_>,
    passed: &judge::Passed<'_>,
    plan: &judge::Plan,
    client: &str,
    head: judge::Head<'_>,
    body: Option<&[u8]>,
) -> Result<judge::Edits, Refusal> {
    let answers = asker.answers(&plan.lookups).await?;
    let body = body.unwrap_or_default();
    let edits = match judge::confine(passed, client, head, body, &answers, &mut Trail::off()) {
        Err(Refusal::Tenant {
            client,
            tenant,
            method,
            path,
            refusal,
        }) => {
            // Another tenant's object is missing, in the Engine's words.
            let refusal = match *refusal {
                TenantRefusal::Hidden {
                    kind, reference, ..
                } => TenantRefusal::Missing {
                    message: asker.missing_message(kind, &reference).await?,
                },
                other => other,
            };
            return Err(Refusal::Tenant {
                client,
                tenant,
                method,
                path,
                refusal: Box::new(refusal),
            });
        }
        other => other?,
    };
    for volume in &edits.create_volumes {
        if !asker.create_volume(volume, &plan.tenant).await? {
            let message = asker.missing_message(Kind::Volume, volume).await?;
            return Err(Refusal::Tenant {
                client: client.to_owned(),
                tenant: Arc::clone(&plan.tenant),
                method: head.method.to_string(),
                path: head.uri.path().to_owned(),
                refusal: Box::new(TenantRefusal::Missing { message }),
            });
        }
    }
    Ok(edits)
}

/// The request target after confinement: the version prefix the client
/// sent, the rewritten route, the rewritten query.
fn rewritten_target(target: &Target, uri: &Uri, edits: &judge::Edits) -> Result<Uri, Refusal> {
    let path = match (&edits.route, &target.version) {
        (Some(route), Some(version)) => format!("/v{version}{route}"),
        (Some(route), None) => route.clone(),
        (None, _) => uri.path().to_owned(),
    };
    let query = edits.query.as_deref().or(uri.query());
    let text = match query {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    text.parse()
        .map_err(|e| Refusal::BadRequest(format!("rewriting the target for the tenant: {e}")))
}

/// The Engine's answer, narrowed to the tenant's objects.
async fn filtered(
    response: Response<ResponseBody>,
    tenant: &str,
    socket: &std::path::Path,
) -> Result<Response<ResponseBody>, Refusal> {
    if response.status() != StatusCode::OK {
        return Ok(response);
    }
    let (mut parts, body) = response.into_parts();
    let failed = |message: String| answer_failed(socket, message);
    let bytes = Limited::new(body, MAX_FILTERED_ANSWER_BYTES)
        .collect()
        .await
        .map_err(|e| failed(format!("reading the answer to filter it: {e}")))?
        .to_bytes();
    let narrowed = crate::request::tenant::filter_data_usage(&bytes, tenant)
        .ok_or_else(|| failed("the disk usage answer is not the JSON the Engine sends".into()))?;
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = Full::new(Bytes::from(narrowed))
        .map_err(|never| match never {})
        .boxed_unsync();
    Ok(Response::from_parts(parts, body))
}

/// The ID a create answer names (`{"Id": ...}` with 201), and the answer
/// as it was, to pass on.
async fn created_id(
    response: Response<ResponseBody>,
    socket: &std::path::Path,
) -> Result<(Response<ResponseBody>, Option<String>), Refusal> {
    if response.status() != StatusCode::CREATED {
        return Ok((response, None));
    }
    let (parts, body) = response.into_parts();
    let bytes = Limited::new(body, MAX_FILTERED_ANSWER_BYTES)
        .collect()
        .await
        .map_err(|e| answer_failed(socket, format!("reading the exec create answer: {e}")))?
        .to_bytes();
    let id = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("Id")?.as_str().map(str::to_owned));
    let body = Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync();
    Ok((Response::from_parts(parts, body), id))
}

/// A conflict answer with the object IDs in its message left out.
async fn without_ids(
    response: Response<ResponseBody>,
    socket: &std::path::Path,
) -> Result<Response<ResponseBody>, Refusal> {
    let (mut parts, body) = response.into_parts();
    let bytes = Limited::new(body, MAX_FILTERED_ANSWER_BYTES)
        .collect()
        .await
        .map_err(|e| answer_failed(socket, format!("reading a conflict answer: {e}")))?
        .to_bytes();
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = Full::new(Bytes::from(crate::request::tenant::conflict_message(
        &bytes,
    )))
    .map_err(|never| match never {})
    .boxed_unsync();
    Ok(Response::from_parts(parts, body))
}

/// An Engine answer the gateway had to read and could not.
fn answer_failed(socket: &std::path::Path, message: String) -> Refusal {
    Refusal::Upstream(crate::request::upstream::UpstreamError::Failed {
        socket: socket.to_path_buf(),
        message,
    })
}

/// The largest answer read whole to be filtered.
const MAX_FILTERED_ANSWER_BYTES: usize = 64 << 20;

/// A request's body: read whole to be judged (and perhaps rewritten), or
/// streamed to the Engine as it arrives.
enum RequestBody {
    Judged(Bytes),
    Streamed(Incoming),
}

/// An answer's body on its way back.
type ResponseBody = UnsyncBoxBody<Bytes, hyper::Error>;

/// What an allowed request produced.
enum Forwarded {
    Response(Response<ResponseBody>),
    /// The Engine answered 101 to an upgrade the client asked for.
    Upgrade {
        response: Response<Incoming>,
        client: OnUpgrade,
        engine: OnUpgrade,
    },
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

/// Where an allowed request goes: this connection's Engine link, the
/// configured Engine, and the tracker that owns a new Engine connection.
struct Engine<'a> {
    link: &'a EngineLink,
    upstream: &'a Upstream,
    tasks: &'a TaskTracker,
}

/// Sends an allowed request to the Engine: the same method and target
/// bytes that were judged, end-to-end headers only, and `body`.
async fn forward(
    engine: Engine<'_>,
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

    let mut response = engine
        .link
        .send(engine.upstream, upstream_req, engine.tasks)
        .await?;
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
            Ok(Forwarded::Response(response.map(BodyExt::boxed_unsync)))
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
