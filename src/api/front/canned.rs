//! The JSON fault in place of hyper's own answer to a request head it cannot
//! parse. hyper's HTTP/1 server answers a malformed request line or header (a
//! target with a backtick or DEL, a header line without a colon), a too-long
//! target or a too-large header section itself, with an empty 400, 414 or
//! 431, before any service runs; hyper 1.12 has no option to change that
//! answer. [`FaultingIo`] wraps the connection and writes the API's JSON fault
//! with the same status instead.
//!
//! Recognising the canned answer: hyper writes one only while no response is
//! in progress on the connection, as a lone head with `content-length: 0`,
//! and then closes. The front's service counts the responses it hands to
//! hyper ([`Answers::handed`]) and each response head written uses one up, so
//! a 400, 414 or 431 head written while none is pending is hyper's own. When a
//! head does not start a write (queued behind unflushed bytes) it goes
//! unrecognised: a response is then merely left as it was, never replaced.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Responses the service handed to hyper whose head has not been written.
#[derive(Clone, Debug, Default)]
pub struct Answers(Arc<AtomicUsize>);

impl Answers {
    /// The service is handing hyper a response: its head is hyper's next
    /// write.
    pub fn handed(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether a response's head is yet to be written.
    fn pending(&self) -> bool {
        self.0.load(Ordering::Acquire) > 0
    }

    /// A response's head was written.
    fn take(&self) {
        // None pending cannot happen (a head is counted only when one was);
        // saturating keeps the count sane regardless.
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }
}

/// What a write starts with.
enum Head {
    /// A head of a response the service handed over.
    Answer,
    /// hyper's canned answer, and the fault to write instead.
    Canned(Vec<u8>),
    /// Body bytes, the rest of a head, or an interim 1xx.
    Neither,
}

/// A connection whose canned parse-error answers become JSON faults.
pub struct FaultingIo<S> {
    inner: S,
    answers: Answers,
    /// The fault being written in place of a canned answer, and how much of
    /// it went out.
    replacement: Option<(Vec<u8>, usize)>,
}

impl<S> FaultingIo<S> {
    /// Wrap `inner`; the service reports its responses to `answers`.
    pub fn new(inner: S, answers: Answers) -> Self {
        Self {
            inner,
            answers,
            replacement: None,
        }
    }

    /// What a write of `buf` starts: a response's head, hyper's canned
    /// answer (with the fault to write instead), or neither.
    fn classify(&self, buf: &[u8]) -> Head {
        let Some(status) = buf.strip_prefix(b"HTTP/1.1 ").and_then(|s| s.get(..3)) else {
            return Head::Neither;
        };
        if status.first() == Some(&b'1') {
            // 100 Continue: hyper's own interim answer, no response's head.
            return Head::Neither;
        }
        if self.answers.pending() {
            return Head::Answer;
        }
        let (code, message) = match status {
            b"400" => (400, "the request line or a header could not be parsed"),
            b"414" => (414, "the request target is too long"),
            b"431" => (431, "the request header fields are too large"),
            _ => return Head::Neither,
        };
        let lower = buf.to_ascii_lowercase();
        if !lower.windows(19).any(|w| w == b"content-length: 0\r\n") {
            return Head::Neither;
        }
        Head::Canned(fault_response(code, message))
    }

    /// Write `buf` through; a response head that went out (even in part)
    /// uses up its pending answer. Retried writes are not counted twice:
    /// only a write that took bytes counts.
    fn pass_write(
        &mut self,
        cx: &mut Context<'_>,
        head: bool,
        write: impl FnOnce(Pin<&mut S>, &mut Context<'_>) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>>
    where
        S: Unpin,
    {
        let result = write(Pin::new(&mut self.inner), cx);
        if head && matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.answers.take();
        }
        result
    }

    /// Write what is left of the replacement; Ready once it is all out.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>
    where
        S: AsyncWrite + Unpin,
    {
        while let Some((bytes, written)) = &mut self.replacement {
            if *written == bytes.len() {
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }

    /// Swallow hyper's canned answer of `len` bytes: the replacement goes
    /// out now or at the next flush.
    fn substitute(
        &mut self,
        cx: &mut Context<'_>,
        fault: Vec<u8>,
        len: usize,
    ) -> Poll<io::Result<usize>>
    where
        S: AsyncWrite + Unpin,
    {
        self.replacement = Some((fault, 0));
        match self.poll_drain(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            // Pending: the flush hyper does next finishes the replacement.
            _ => Poll::Ready(Ok(len)),
        }
    }
}

/// The whole response for a canned answer (or any answer the front writes
/// before hyper runs): the API's fault, closing.
pub(super) fn fault_response(code: u16, message: &str) -> Vec<u8> {
    let status = rocket::http::Status::new(code);
    let (_, (_, body)) = super::super::error::fault(status, message);
    let mut out = format!(
        "HTTP/1.1 {code} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n",
        status.reason_lossy(),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

impl<S: AsyncRead + Unpin> AsyncRead for FaultingIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FaultingIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_drain(cx))?;
        match self.classify(buf) {
            Head::Canned(fault) => self.substitute(cx, fault, buf.len()),
            head => {
                let head = matches!(head, Head::Answer);
                self.pass_write(cx, head, |io, cx| io.poll_write(cx, buf))
            }
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_drain(cx))?;
        let first = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &b[..]);
        match self.classify(first) {
            Head::Canned(fault) => {
                let len = bufs.iter().map(|b| b.len()).sum();
                self.substitute(cx, fault, len)
            }
            head => {
                let head = matches!(head, Head::Answer);
                self.pass_write(cx, head, |io, cx| io.poll_write_vectored(cx, bufs))
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// hyper 1.12's answer to an unparsable request head, byte for byte
    /// but the date.
    const CANNED: &[u8] = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\
        content-length: 0\r\ndate: Sun, 06 Dec 2026 15:01:51 GMT\r\n\r\n";

    /// What the peer receives when `writes` go through a [`FaultingIo`];
    /// `true` before a write: the service handed a response first.
    async fn received(writes: &[(bool, &[u8])]) -> String {
        let (mut peer, ours) = tokio::io::duplex(64 * 1024);
        let answers = Answers::default();
        let mut io = FaultingIo::new(ours, answers.clone());
        for (handed, bytes) in writes {
            if *handed {
                answers.handed();
            }
            io.write_all(bytes).await.unwrap();
        }
        io.shutdown().await.unwrap();
        drop(io);
        let mut out = String::new();
        peer.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn hypers_canned_answer_becomes_the_json_fault() {
        let out = received(&[(false, CANNED)]).await;
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
        assert!(head.contains("content-type: application/json"), "{head}");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["faultcode"], "Client");
    }

    #[tokio::test]
    async fn the_services_own_empty_400_passes_and_a_later_canned_one_is_replaced() {
        let service_400 = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
        let out = received(&[(true, service_400), (false, CANNED)]).await;
        let (first, rest) = out.split_at(service_400.len());
        assert_eq!(first.as_bytes(), service_400);
        assert!(rest.contains("application/json"), "{rest}");
    }

    #[tokio::test]
    async fn an_interim_100_continue_neither_counts_nor_is_replaced() {
        let cont = b"HTTP/1.1 100 Continue\r\n\r\n";
        let answer = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
        // The service took the body (100 Continue) and then answered.
        let out = received(&[(false, cont), (true, answer)]).await;
        assert_eq!(out.as_bytes(), [&cont[..], &answer[..]].concat());
    }
}
