//! Response bodies as the client gets them: a member's, streamed through
//! (never buffered whole) and giving its member connection back once read
//! to the end, or a short one of our own (503, 502, 504).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};

use crate::dataplane::member_conns::{MemberConns, Sender};
use crate::dataplane::runtime::MemberLoad;
use crate::dataplane::sweep::InFlight;

/// A response body: streamed from a member, or a short one of our own.
pub(crate) enum ProxyBody {
    Member(MemberBody),
    Static(Option<Bytes>),
}

impl ProxyBody {
    /// Keep the client's request counted in flight until a member's body
    /// has been passed on (our own bodies are done when sent).
    pub fn hold_in_flight(&mut self, flight: InFlight) {
        if let ProxyBody::Member(body) = self {
            body.flight = Some(flight);
        }
    }
}

/// A member's response body; on drop after its end, the member connection
/// goes back to its member's idle list (otherwise it is closed with the
/// body).
pub(crate) struct MemberBody {
    inner: Incoming,
    ended: bool,
    sender: Option<Sender>,
    conns: Arc<MemberConns>,
    _load: MemberLoad,
    /// Keeps the client's request counted in flight.
    flight: Option<InFlight>,
}

impl MemberBody {
    /// The body of a response that came over `sender`, a connection of
    /// `conns`; `load` counts the member busy until the body is dropped.
    pub fn new(inner: Incoming, sender: Sender, conns: Arc<MemberConns>, load: MemberLoad) -> Self {
        Self {
            inner,
            ended: false,
            sender: Some(sender),
            conns,
            _load: load,
            flight: None,
        }
    }
}

impl Drop for MemberBody {
    fn drop(&mut self) {
        if (self.ended || self.inner.is_end_stream())
            && let Some(sender) = self.sender.take()
        {
            self.conns.checkin(sender);
        }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            ProxyBody::Member(body) => {
                let poll = Pin::new(&mut body.inner).poll_frame(cx);
                match &poll {
                    Poll::Ready(None) => body.ended = true,
                    // The member side moved (see `sweep`'s data timeouts).
                    Poll::Ready(Some(_)) => {
                        if let Some(flight) = &body.flight {
                            flight.activity().member_progress();
                        }
                    }
                    Poll::Pending => {}
                }
                poll
            }
            ProxyBody::Static(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Member(body) => body.ended || body.inner.is_end_stream(),
            ProxyBody::Static(data) => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Member(body) => body.inner.size_hint(),
            ProxyBody::Static(data) => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}
