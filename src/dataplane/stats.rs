//! Per-listener traffic counters, bumped with relaxed atomics on the hot path
//! and read as a snapshot by the API and the periodic persister.
//!
//! Also holds `CountingIo`, the wrapper that counts bytes on the client side
//! of every connection (TCP relay, HTTP, TLS on the wire) so every protocol
//! reports exact byte counts the same way.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::sweep::Activity;
use crate::model::{ListenerStats, StatsBase};

/// Live counters of one listener. Totals start from the persisted base.
#[derive(Debug, Default)]
pub struct ListenerCounters {
    /// Bytes received from clients (client -> Ballast).
    pub bytes_in: AtomicU64,
    /// Bytes sent to clients (Ballast -> client).
    pub bytes_out: AtomicU64,
    /// Client connections open now.
    pub active_connections: AtomicU64,
    /// Client connections accepted, ever (including the persisted base).
    pub total_connections: AtomicU64,
}

impl ListenerCounters {
    /// Counters resuming from persisted totals.
    pub fn seeded(base: StatsBase) -> Self {
        Self {
            bytes_in: AtomicU64::new(base.bytes_in),
            bytes_out: AtomicU64::new(base.bytes_out),
            active_connections: AtomicU64::new(0),
            total_connections: AtomicU64::new(base.total_connections),
        }
    }

    /// A point-in-time copy (each field read on its own; they may be a few
    /// bytes apart from each other under load).
    pub fn snapshot(&self) -> ListenerStats {
        ListenerStats {
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            active_connections: self.active_connections.load(Ordering::Relaxed),
            total_connections: self.total_connections.load(Ordering::Relaxed),
        }
    }
}

/// Counts a client connection as open until dropped.
pub struct ActiveConnection {
    counters: Arc<ListenerCounters>,
}

impl ActiveConnection {
    /// Bumps `total_connections` and `active_connections`.
    pub fn open(counters: Arc<ListenerCounters>) -> Self {
        counters.total_connections.fetch_add(1, Ordering::Relaxed);
        counters.active_connections.fetch_add(1, Ordering::Relaxed);
        Self { counters }
    }
}

impl Drop for ActiveConnection {
    fn drop(&mut self) {
        self.counters
            .active_connections
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// A client-side stream that adds what it reads to `bytes_in` and what it
/// writes to `bytes_out` of its listener, and marks the connection's
/// client-side progress for the data timeouts (see `sweep`).
pub struct CountingIo<S> {
    inner: S,
    counters: Arc<ListenerCounters>,
    activity: Arc<Activity>,
}

impl<S> CountingIo<S> {
    /// Wrap the client stream of a listener; `activity` is the connection's.
    pub(crate) fn new(inner: S, counters: Arc<ListenerCounters>, activity: Arc<Activity>) -> Self {
        Self {
            inner,
            counters,
            activity,
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for CountingIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        if read > 0 {
            self.counters
                .bytes_in
                .fetch_add(read as u64, Ordering::Relaxed);
            self.activity.client_progress();
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CountingIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = poll {
            self.counters
                .bytes_out
                .fetch_add(n as u64, Ordering::Relaxed);
            self.activity.client_progress();
        }
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = super::coalesce::poll_write_vectored(Pin::new(&mut self.inner), cx, bufs);
        if let Poll::Ready(Ok(n)) = poll {
            self.counters
                .bytes_out
                .fetch_add(n as u64, Ordering::Relaxed);
            self.activity.client_progress();
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        // Large vectored writes still reach the socket as writev.
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
