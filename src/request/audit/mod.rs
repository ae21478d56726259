//! One structured event per request, emitted when the exchange is over.
//!
//! A request's outcome (bytes each way, how long a stream stayed open) is
//! only known at its end, so the [`Record`] travels with the response body
//! ([`Metered`]) or the tunnel and is emitted exactly once: when the body
//! ends, when it is dropped because the client went away, or when the tunnel
//! closes. Field names are stable; log pipelines key on them. The line
//! itself is written by [`mod@line`].

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper::{Method, Uri};

use crate::config::Config;
use crate::request::identity::Identity;
use crate::request::refusal::Reason;
use crate::run::metrics::ClientLabel;

pub mod line;

/// What was decided about a request and by which rule.
#[derive(Debug, Clone)]
pub enum Decision {
    Allow {
        policy: Arc<str>,
        rule: Arc<str>,
        /// The grants its query and body used (audit mode only): the
        /// rendered [`crate::config::needed::Needed`].
        grants: Box<str>,
    },
    /// `policy`: the policy whose grants refused the request, when its rule allowed it.
    Deny {
        reason: Reason,
        policy: Option<Arc<str>>,
    },
    /// A client in audit mode: forwarded, though enforce mode would have
    /// refused it for `reason` (`detail` says what it would have answered).
    WouldDeny {
        reason: Reason,
        policy: Option<Arc<str>>,
        detail: Box<str>,
        /// Every grant its query and body need, granted or not.
        grants: Box<str>,
    },
}

/// Byte counters shared by the request body, response body and tunnel.
#[derive(Debug, Default)]
pub struct Meter {
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
}

/// The audit record of one request.
#[derive(Debug)]
pub struct Record {
    client: Option<Arc<str>>,
    /// The tenant the client is confined to, if any.
    tenant: Option<Arc<str>>,
    /// The client as the metrics name it: only configured names.
    label: ClientLabel,
    serial: Option<Arc<str>>,
    peer: Arc<str>,
    method: Method,
    /// The path as received, copied out of the request. A clone of the
    /// `Uri` would be cheaper per request, but it shares the connection's
    /// read buffer (hyper parses the target in place), so a record riding
    /// along with a long stream would pin a whole buffer for a few bytes.
    path: Box<str>,
    /// The query pairs decisions can depend on
    /// ([`crate::request::judge::logged_query`]); `None` for most
    /// requests, which have none.
    query: Option<Box<str>>,
    decision: Option<Decision>,
    status: u16,
    upgraded: bool,
    started: Instant,
    pub meter: Arc<Meter>,
    /// Admitted under `[log] audit = "required"`: the line is queued even
    /// past the log queue's capacity, as promised when it was admitted.
    reserved: bool,
    emitted: bool,
}

/// Audit is required and its lines cannot be queued now.
#[derive(Debug, Clone, Copy)]
pub struct AuditUnavailable;

impl Record {
    /// The record of a request judged by `config`; `query`: the pairs of
    /// its query the line keeps.
    pub fn new(
        config: &Config,
        identity: Option<&Identity>,
        peer: &Arc<str>,
        method: &Method,
        uri: &Uri,
        query: Option<Box<str>>,
    ) -> Record {
        Record {
            client: identity.map(|i| Arc::clone(&i.name)),
            tenant: identity
                .and_then(|i| config.clients.get(&*i.name))
                .and_then(|c| c.tenant.clone()),
            label: ClientLabel::new(identity.map(|i| &i.name), config),
            serial: identity.map(|i| Arc::clone(&i.serial)),
            peer: Arc::clone(peer),
            method: method.clone(),
            path: uri.path().into(),
            query,
            decision: None,
            status: 0,
            upgraded: false,
            started: Instant::now(),
            meter: Arc::default(),
            reserved: false,
            emitted: false,
        }
    }

    /// Whether the request may go on as far as its audit line is
    /// concerned: always, unless `[log] audit = "required"` and the log
    /// queue is full. An admitted request's line is then sure to be queued.
    pub fn admit(&mut self) -> Result<(), AuditUnavailable> {
        if let Some(writer) = crate::run::logging::required_audit() {
            if !writer.has_room() {
                return Err(AuditUnavailable);
            }
            self.reserved = true;
        }
        Ok(())
    }

    pub fn decide(&mut self, decision: Decision) {
        self.decision = Some(decision);
    }

    pub fn set_status(&mut self, status: u16) {
        self.status = status;
    }

    pub fn set_upgraded(&mut self) {
        self.upgraded = true;
    }

    /// Emits the event; later calls (and the drop) do nothing.
    pub fn emit(&mut self) {
        if std::mem::replace(&mut self.emitted, true) {
            return;
        }
        let (decision, policy, rule, reason, detail, grants) = match &self.decision {
            Some(Decision::Allow {
                policy,
                rule,
                grants,
            }) => ("allow", &**policy, &**rule, None, "", &**grants),
            Some(Decision::Deny { reason, policy }) => (
                "deny",
                policy.as_deref().unwrap_or(""),
                "",
                Some(*reason),
                "",
                "",
            ),
            Some(Decision::WouldDeny {
                reason,
                policy,
                detail,
                grants,
            }) => (
                "would_deny",
                policy.as_deref().unwrap_or(""),
                "",
                Some(*reason),
                &**detail,
                &**grants,
            ),
            None => ("deny", "", "", Some(Reason::Unjudged), "", ""),
        };
        let elapsed = self.started.elapsed();
        if let Some(log) = crate::run::logging::audit_output() {
            let fields = line::Fields {
                client: self.client.as_deref().unwrap_or(""),
                tenant: self.tenant.as_deref().unwrap_or(""),
                serial: self.serial.as_deref().unwrap_or(""),
                peer: &self.peer,
                method: self.method.as_str(),
                path: &self.path,
                query: self.query.as_deref().unwrap_or(""),
                decision,
                policy,
                rule,
                reason: reason.map_or("", Reason::as_str),
                detail,
                grants,
                status: self.status,
                upgraded: self.upgraded,
                bytes_in: self.meter.bytes_in.load(Ordering::Relaxed),
                bytes_out: self.meter.bytes_out.load(Ordering::Relaxed),
                duration: elapsed,
            };
            let mut out = Vec::with_capacity(384);
            line::render(&fields, log.format, std::time::SystemTime::now(), &mut out);
            if self.reserved {
                log.writer.append_reserved(tracing::Level::INFO, &out);
            } else {
                log.writer.append(tracing::Level::INFO, &out);
            }
        }
        crate::run::metrics::observe_request(decision, reason, &self.label, self.status, elapsed);
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        self.emit();
    }
}

/// A body that counts the bytes through it and, for responses, carries the
/// request's [`Record`] until the body ends.
pub struct Metered<B> {
    inner: B,
    meter: Arc<Meter>,
    direction: Direction,
    record: Option<Record>,
}

#[derive(Debug, Clone, Copy)]
pub enum Direction {
    /// Client → Engine.
    In,
    /// Engine → client.
    Out,
}

impl<B> Metered<B> {
    pub fn request(inner: B, meter: Arc<Meter>) -> Metered<B> {
        Metered {
            inner,
            meter,
            direction: Direction::In,
            record: None,
        }
    }

    pub fn response(inner: B, record: Record) -> Metered<B> {
        Metered {
            inner,
            meter: Arc::clone(&record.meter),
            direction: Direction::Out,
            record: Some(record),
        }
    }
}

impl<B> Body for Metered<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let counter = match this.direction {
                        Direction::In => &this.meter.bytes_in,
                        Direction::Out => &this.meter.bytes_out,
                    };
                    counter.fetch_add(data.len() as u64, Ordering::Relaxed);
                }
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => {
                if let Some(record) = this.record.as_mut() {
                    record.emit();
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
