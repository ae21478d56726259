//! Lingering close: the client socket of an HTTP connection, which keeps
//! reading and discarding what the client still sends after dockgate has
//! answered and closed its side, so that the answer is not lost.
//!
//! dockgate answers a refused request as soon as it has decided (a 403 from
//! the head, a 413 from the declared length), usually before the body has
//! arrived, and then closes the connection, since the unread body makes it
//! unusable. Closing a socket whose receive buffer still holds data makes
//! the kernel send a reset instead of a FIN, and a reset can throw away the
//! answer before the client reads it: a client that writes its whole body
//! before reading (Python's `requests`, hence docker-py) sees a broken pipe
//! instead of the refusal. So when the last request had a body, closing
//! means: send TLS close_notify and a FIN, then read and discard until the
//! client closes too, for at most [`LINGER_TIME`] and [`LINGER_BYTES`]
//! (nginx does the same and calls it lingering close). Past either bound
//! the socket is closed anyway: a client cannot hold it open by sending.
//!
//! The discarded bytes are read from the TCP socket, below TLS: nothing in
//! them is looked at, so there is no reason to decrypt them. A local
//! socket has no TLS, so they are read from the socket itself
//! ([`Transport`]).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use hyper::body::Body;
use hyper::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio::time::Sleep;
use tokio_rustls::server::TlsStream;

/// How long a closing connection keeps discarding what its client sends.
pub const LINGER_TIME: Duration = Duration::from_secs(5);

/// How much a closing connection discards before it closes regardless.
pub const LINGER_BYTES: u64 = 8 << 20;

/// Whether the request being answered on a connection has a body the
/// gateway may have left unread. The connection's service sets it; the
/// socket reads it when hyper closes the connection.
#[derive(Clone, Default)]
pub struct UnreadBody(Arc<AtomicBool>);

impl UnreadBody {
    /// A request arrived: whether its body may still be on its way.
    pub fn request<B: Body>(&self, body: &B) {
        self.0.store(!body.is_end_stream(), Ordering::Relaxed);
    }

    /// The answer to that request. A 101 hands the socket to a tunnel, whose
    /// own half-close must not swallow what the client sends afterwards.
    pub fn answered(&self, status: StatusCode) {
        if status == StatusCode::SWITCHING_PROTOCOLS {
            self.0.store(false, Ordering::Relaxed);
        }
    }

    fn may_be_unread(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A client connection's stream, TLS over TCP or a plain unix socket.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// The socket below any encryption, drained once our side is shut.
    type Raw: AsyncRead + Unpin;
    fn raw(&mut self) -> &mut Self::Raw;
}

impl Transport for TlsStream<TcpStream> {
    type Raw = TcpStream;
    fn raw(&mut self) -> &mut TcpStream {
        self.get_mut().0
    }
}

impl Transport for UnixStream {
    type Raw = UnixStream;
    fn raw(&mut self) -> &mut UnixStream {
        self
    }
}

/// A client connection's stream that lingers when it is shut down.
pub struct LingeringStream<S> {
    stream: S,
    unread: UnreadBody,
    closing: Closing,
}

enum Closing {
    Open,
    /// Our side is shut; discarding what the client sends until it closes,
    /// the deadline passes or `left` runs out.
    Draining {
        deadline: Pin<Box<Sleep>>,
        left: u64,
    },
    Done,
}

impl<S: Transport> LingeringStream<S> {
    pub fn new(stream: S, unread: UnreadBody) -> LingeringStream<S> {
        LingeringStream {
            stream,
            unread,
            closing: Closing::Open,
        }
    }

    /// Reads and discards until the client closes or a bound is reached.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Closing::Draining { deadline, left } = &mut self.closing else {
            return Poll::Ready(());
        };
        let mut buf = [0u8; 16 * 1024];
        loop {
            if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
            let mut read = ReadBuf::new(&mut buf);
            let raw = self.stream.raw();
            match ready!(Pin::new(raw).poll_read(cx, &mut read)) {
                // A reset ends it as well as a FIN: nothing more will arrive.
                Err(_) => return Poll::Ready(()),
                Ok(()) if read.filled().is_empty() => return Poll::Ready(()),
                Ok(()) => {
                    *left = left.saturating_sub(read.filled().len() as u64);
                    if *left == 0 {
                        return Poll::Ready(());
                    }
                }
            }
        }
    }
}

impl<S: Transport> AsyncRead for LingeringStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl<S: Transport> AsyncWrite for LingeringStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Closing::Open = this.closing {
            ready!(Pin::new(&mut this.stream).poll_shutdown(cx))?;
            this.closing = if this.unread.may_be_unread() {
                Closing::Draining {
                    deadline: Box::pin(tokio::time::sleep(LINGER_TIME)),
                    left: LINGER_BYTES,
                }
            } else {
                Closing::Done
            };
        }
        ready!(this.poll_drain(cx));
        this.closing = Closing::Done;
        Poll::Ready(Ok(()))
    }
}
