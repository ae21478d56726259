//! The bodies the benchmark needs, without boxing: nothing, a short text, a
//! fixed number of bytes sent in chunks, and a body that never produces
//! anything.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

/// Chunk size for generated streams: what a `docker save` or build context
/// pipe typically hands over per write.
pub const CHUNK: usize = 64 * 1024;

/// A body for either side of the benchmark.
pub enum BenchBody {
    Empty,
    /// `remaining` bytes without a length (so sent chunked), as clones of
    /// one shared chunk, so producing them costs no copying and the
    /// measurement is of the path, not of us.
    Sized {
        remaining: u64,
        chunk: Bytes,
    },
    /// Headers only, then silence: an idle `/events` stream.
    Silent,
    Text(Option<Bytes>),
}

impl BenchBody {
    /// `bytes` bytes, chunked.
    pub fn sized(bytes: u64) -> BenchBody {
        BenchBody::Sized {
            remaining: bytes,
            chunk: Bytes::from(vec![b'x'; CHUNK]),
        }
    }

    pub fn text(s: String) -> BenchBody {
        BenchBody::Text(Some(Bytes::from(s)))
    }
}

impl Body for BenchBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match &mut *self {
            BenchBody::Empty => Poll::Ready(None),
            BenchBody::Silent => Poll::Pending,
            BenchBody::Text(text) => Poll::Ready(text.take().map(|t| Ok(Frame::data(t)))),
            BenchBody::Sized {
                remaining, chunk, ..
            } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                let n = (*remaining).min(chunk.len() as u64) as usize;
                *remaining -= n as u64;
                Poll::Ready(Some(Ok(Frame::data(chunk.slice(..n)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            BenchBody::Empty => true,
            BenchBody::Silent => false,
            BenchBody::Text(t) => t.is_none(),
            BenchBody::Sized { remaining, .. } => *remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            BenchBody::Empty => SizeHint::with_exact(0),
            BenchBody::Silent | BenchBody::Sized { .. } => SizeHint::default(),
            BenchBody::Text(t) => SizeHint::with_exact(t.as_ref().map_or(0, |t| t.len() as u64)),
        }
    }
}
