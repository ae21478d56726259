//! `loadgen fake-engine`: an Engine stand-in on a unix socket that costs
//! almost nothing per request, so what the benchmark sees through a proxy
//! is the proxy's own cost.
//!
//! * `GET /_ping` (any version prefix) → `OK`
//! * `GET /bench/stream?bytes=N` → N bytes, chunked
//! * `POST /bench/upload` → reads the body, answers with its length
//! * `GET /events` → 200 with headers, then nothing, forever

use std::convert::Infallible;
use std::path::Path;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::UnixListener;

use crate::body::BenchBody;

pub async fn run(socket: &Path) -> std::io::Result<()> {
    let _ = std::fs::remove_file(socket);
    let listener = UnixListener::bind(socket)?;
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let conn =
                http1::Builder::new().serve_connection(TokioIo::new(stream), service_fn(answer));
            let _ = conn.await;
        });
    }
}

async fn answer(req: Request<Incoming>) -> Result<Response<BenchBody>, Infallible> {
    let path = strip_version(req.uri().path()).to_owned();
    let response = match (req.method().as_str(), path.as_str()) {
        ("GET" | "HEAD", "/_ping") => Response::new(BenchBody::text("OK".into())),
        ("GET", "/bench/stream") => {
            let bytes = query_u64(req.uri().query(), "bytes").unwrap_or(0);
            Response::new(BenchBody::sized(bytes))
        }
        ("POST", "/bench/upload") => {
            let mut body = req.into_body();
            let mut total = 0u64;
            while let Some(frame) = body.frame().await {
                match frame {
                    Ok(frame) => total += frame.data_ref().map_or(0, |d| d.len() as u64),
                    Err(_) => break,
                }
            }
            Response::new(BenchBody::text(total.to_string()))
        }
        ("GET", "/events") => Response::new(BenchBody::Silent),
        _ => {
            let mut r = Response::new(BenchBody::text(
                "{\"message\":\"not in the fake engine\"}".into(),
            ));
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
    };
    Ok(response)
}

/// `/v1.41/_ping` → `/_ping`, as the Engine's router does.
fn strip_version(path: &str) -> &str {
    if let Some(rest) = path.strip_prefix("/v") {
        if let Some(i) = rest.find('/') {
            if rest[..i].chars().all(|c| c.is_ascii_digit() || c == '.') {
                return &rest[i..];
            }
        }
    }
    path
}

fn query_u64(query: Option<&str>, key: &str) -> Option<u64> {
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}
