//! Write coalescing, socket writes shaped for the kernel: hyper hands a
//! response or request over as a head and a body chunk
//! (`poll_write_vectored`). For the short messages that make up most HTTP
//! traffic, one plain `send(2)` of the two copied together costs measurably
//! less kernel time than `writev(2)` (bench/dataplane.sh: ~10% CPU per
//! request at 200 connections); large writes keep `writev`, where copying
//! would cost more than it saves. Client sockets coalesce through
//! `stats::CountingIo`, member sockets through [`Coalescing`].

use std::cell::RefCell;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Vectored writes up to this many bytes are copied into one buffer.
const COALESCE_MAX: usize = 4096;

thread_local! {
    /// Scratch space for coalescing; per thread, so idle connections hold none.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(COALESCE_MAX));
}

/// `poll_write_vectored` for `inner`, as one plain write when the buffers
/// are few bytes (or only one is non-empty). Same contract as writev: the
/// count returned is a prefix of the buffers' concatenation.
pub(crate) fn poll_write_vectored<S: AsyncWrite + ?Sized>(
    mut inner: Pin<&mut S>,
    cx: &mut Context<'_>,
    bufs: &[IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    let mut non_empty = bufs.iter().filter(|b| !b.is_empty());
    let Some(first) = non_empty.next() else {
        return Poll::Ready(Ok(0));
    };
    if non_empty.next().is_none() {
        return inner.poll_write(cx, first);
    }
    let total: usize = bufs.iter().map(|b| b.len()).sum();
    if total > COALESCE_MAX {
        return inner.poll_write_vectored(cx, bufs);
    }
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut scratch) => {
            scratch.clear();
            for b in bufs {
                scratch.extend_from_slice(b);
            }
            inner.as_mut().poll_write(cx, &scratch)
        }
        // A coalescing stream under another one (TLS over a counted socket).
        Err(_) => inner.as_mut().poll_write_vectored(cx, bufs),
    })
}

/// A member-side stream whose vectored writes go through
/// [`poll_write_vectored`].
pub(crate) struct Coalescing<S>(pub S);

impl<S: AsyncRead + Unpin> AsyncRead for Coalescing<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Coalescing<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        poll_write_vectored(Pin::new(&mut self.0), cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn small_and_large_vectored_writes_arrive_byte_exact() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let mut a = Coalescing(a);
        let big = vec![7u8; COALESCE_MAX * 3];
        let cases: [&[&[u8]]; 4] = [
            &[b"head ", b"", b"body"],
            &[b"", b"only"],
            &[b"x", &big, b"y"],
            &[],
        ];
        let mut expected = Vec::new();
        for bufs in cases {
            let mut slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
            let mut slices = &mut slices[..];
            while !slices.is_empty() {
                let n = a.write_vectored(slices).await.unwrap();
                if n == 0 {
                    break;
                }
                IoSlice::advance_slices(&mut slices, n);
            }
            bufs.iter().for_each(|b| expected.extend_from_slice(b));
        }
        a.shutdown().await.unwrap();
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, expected);
    }
}
