//! The raw byte tunnel behind `docker exec -it`, `attach`, `run -i` and
//! BuildKit sessions, opened only after the Engine answered 101.
//!
//! Each direction is pumped on its own and half-closes the other side when
//! its source ends: `echo hi | docker exec -i C cat` works because the
//! client's end of stdin reaches the Engine as a write shutdown while the
//! container's output keeps flowing back. Docker clients end stdin with a TLS
//! close_notify (rustls: a clean EOF) or, in older versions, with a bare TCP
//! FIN (rustls: `UnexpectedEof`); both are an end of input, not a failure.
//! A real error in one direction (a reset) ends both.

use std::io;

use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::request::audit::Meter;
use std::sync::atomic::Ordering;

const BUFFER: usize = 16 * 1024;

/// Carries bytes both ways until both directions have ended or one failed.
pub async fn splice(client: Upgraded, engine: Upgraded, meter: &Meter) -> io::Result<()> {
    let (mut client_read, mut client_write) = tokio::io::split(TokioIo::new(client));
    let (mut engine_read, mut engine_write) = tokio::io::split(TokioIo::new(engine));
    let inbound = pump(&mut client_read, &mut engine_write, &meter.bytes_in);
    let outbound = pump(&mut engine_read, &mut client_write, &meter.bytes_out);
    tokio::pin!(inbound, outbound);
    let (mut inbound_done, mut outbound_done) = (false, false);
    while !(inbound_done && outbound_done) {
        tokio::select! {
            result = &mut inbound, if !inbound_done => { result?; inbound_done = true; }
            result = &mut outbound, if !outbound_done => { result?; outbound_done = true; }
        }
    }
    Ok(())
}

/// Copies until `from` ends, then shuts down `to`'s write side.
async fn pump<R, W>(
    from: &mut R,
    to: &mut W,
    counter: &std::sync::atomic::AtomicU64,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; BUFFER];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n]).await?;
        to.flush().await?;
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
    match to.shutdown().await {
        Ok(()) => Ok(()),
        // The other side may already be gone; its own direction reports that.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotConnected | io::ErrorKind::BrokenPipe
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}
