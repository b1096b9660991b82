//! Lingering close after a refused body, so the refusal reaches the client.
//!
//! A server that answers before it has read the request body (413, or any error that leaves
//! the body unread) and then closes the socket with unread bytes in it makes the kernel send a
//! TCP reset. A client that writes its whole request before reading (Python `requests`, many
//! SDKs) is still writing when the reset arrives; it fails with "connection reset" or "broken
//! pipe" and never reads the OperationOutcome that was sent. Mature servers (nginx
//! `lingering_close`, Apache's lingering close) instead half-close the write side after the
//! answer, then read and discard what the client still sends until it closes, bounded in bytes
//! and in time so that the drain cannot be used to hold a connection.
//!
//! Two pieces do that here: [`WatchedBody`] records that a request's body was dropped before
//! its end, and [`LingeringIo`], the connection's socket, drains before it closes when (and only
//! when) that happened. Connections whose bodies were read close at once, as before.
//!
//! A refused TLS handshake ends the same way. Under TLS 1.3 a client finishes its side of the
//! handshake, and sends its request, before the server has judged its certificate; the server's
//! alert ("unknown CA") followed by a close with that request unread made a reset that could
//! destroy the alert, and the client (the proxy, forwarding to a receiver that does not trust
//! it) saw "connection reset" and answered 503 instead of the 403 the refusal calls for.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// How much a closing connection reads and discards after a refused body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Linger {
    /// Bytes read and discarded at most; a client that sends more is cut off (reset).
    pub max_bytes: u64,
    /// Time spent draining at most, from the moment the answer has been sent.
    pub max_time: Duration,
}

impl Default for Linger {
    /// 16 MiB covers a body sixteen times the default body limit; 5 s is what nginx waits for
    /// more data (`lingering_timeout`) and no longer than a client may already take to send a
    /// head or a body.
    fn default() -> Self {
        Linger {
            max_bytes: 16 * 1024 * 1024,
            max_time: Duration::from_secs(5),
        }
    }
}

/// Shared between a connection's socket and the bodies of its requests: whether the latest
/// request's body was left unread.
#[derive(Clone, Debug, Default)]
pub(super) struct Unread(Arc<AtomicBool>);

impl Unread {
    /// A new request starts: what an earlier, fully answered one left no longer matters.
    pub(super) fn reset(&self) {
        self.0.store(false, Ordering::Relaxed);
    }

    /// The connection ends with what the client sent unread: a body dropped before its end, or
    /// a request sent on a handshake the server refused.
    pub(super) fn mark(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A request body that reports, when dropped, whether it was read to its end.
pub(super) struct WatchedBody {
    inner: Incoming,
    ended: bool,
    unread: Unread,
}

impl WatchedBody {
    pub(super) fn new(inner: Incoming, unread: Unread) -> Self {
        let ended = inner.is_end_stream();
        WatchedBody {
            inner,
            ended,
            unread,
        }
    }
}

impl Body for WatchedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if frame.is_none() || self.inner.is_end_stream() {
            self.ended = true;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for WatchedBody {
    fn drop(&mut self) {
        if !self.is_end_stream() {
            self.unread.mark();
        }
    }
}

/// A connection's socket that, asked to shut down after a refused body, sends its FIN and then
/// drains within [`Linger`] before reporting the shutdown done (after which the socket closes).
pub(super) struct LingeringIo<S> {
    inner: S,
    unread: Unread,
    linger: Linger,
    drain: Option<Drain>,
}

/// The state of a drain in progress.
struct Drain {
    deadline: Pin<Box<Sleep>>,
    left: u64,
    write_shut: bool,
}

impl<S> LingeringIo<S> {
    pub(super) fn new(inner: S, unread: Unread, linger: Linger) -> Self {
        LingeringIo {
            inner,
            unread,
            linger,
            drain: None,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> LingeringIo<S> {
    /// Sends FIN, then reads and discards until the client closes, an error, or a bound.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let linger = self.linger;
        let drain = self.drain.get_or_insert_with(|| Drain {
            deadline: Box::pin(tokio::time::sleep(linger.max_time)),
            left: linger.max_bytes,
            write_shut: false,
        });
        if !drain.write_shut {
            // The answer is flushed before hyper asks for a shutdown; the FIN tells the client
            // that nothing more comes, and the drain that follows keeps its answer readable.
            ready!(Pin::new(&mut self.inner).poll_shutdown(cx))?;
            drain.write_shut = true;
        }
        if drain.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Ok(()));
        }
        let mut scratch = [0u8; 8 * 1024];
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.inner).poll_read(cx, &mut buf) {
                Poll::Pending => return Poll::Pending,
                // Closed by the client or failed: nothing left to protect.
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {
                    drain.left = drain.left.saturating_sub(buf.filled().len() as u64);
                    if drain.left == 0 {
                        return Poll::Ready(Ok(()));
                    }
                }
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for LingeringIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for LingeringIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.unread.is_set() {
            this.poll_drain(cx)
        } else {
            Pin::new(&mut this.inner).poll_shutdown(cx)
        }
    }
}
