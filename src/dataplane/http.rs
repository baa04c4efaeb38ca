//! The HTTP/1.1 reverse proxy: one hyper server connection per client,
//! requests forwarded over pooled keep-alive member connections with bodies
//! streamed both ways (never buffered whole).
//!
//! Failures are classified by side: no usable member is 503; a member that
//! refuses the connection is retried on another member (nothing was sent, so
//! any method is safe to retry), up to three members, then 502; a member that
//! fails after the request went out is 502 (or a cut response body).

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::Entry;
use hyper::header::{
    CACHE_CONTROL, CONNECTION, CONTENT_TYPE, HeaderName, HeaderValue, SET_COOKIE, TE, TRAILER,
    UPGRADE,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Request, Response, StatusCode, Version};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tracing::debug;

use super::balance::Tried;
use super::head_timeout::{self, Activity, InFlight};
use super::listener::{ListenerShared, MemberLoad, MemberRuntime};
use super::member_pool::{MemberPool, Sender};
use super::persistence::find_cookie;
use super::stats::CountingIo;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Upper bound on connection attempts for one request (stale pooled
/// connections plus distinct members).
const MAX_ATTEMPTS: usize = 6;

/// On drain, how long a connection that has not sent its first request yet
/// gets to send it.
const FIRST_REQUEST_GRACE: Duration = Duration::from_secs(1);

/// Per client connection state the service reads on each request.
struct ClientConn {
    shared: Arc<ListenerShared>,
    ip: IpAddr,
    /// The client address as an `X-Forwarded-For` element.
    ip_value: HeaderValue,
    activity: Arc<Activity>,
    /// Notified when the first request arrives.
    first_request: Notify,
    /// Set while the connection sheds its hyper state: the shutdown hyper
    /// makes on its way out is skipped and the socket stays open.
    keep_open: AtomicBool,
    /// The member side of an upgrade the member accepted (101), relayed by
    /// the connection once hyper hands the client socket back.
    upgrade: Mutex<Option<MemberUpgrade>>,
}

struct MemberUpgrade {
    member: hyper::upgrade::OnUpgrade,
    /// The member's load and its connection, held until the relay ends.
    _held: (MemberLoad, Sender),
}

/// A client stream the connection can wait on, between requests, without
/// reading from it, so an idle kept-alive connection holds no HTTP state.
pub(crate) trait Park {
    /// The socket to wait on; `None` while the stream holds bytes of its
    /// own to pass on first.
    fn socket(&self) -> Option<&TcpStream>;
}

impl Park for CountingIo<TcpStream> {
    fn socket(&self) -> Option<&TcpStream> {
        Some(self.get_ref())
    }
}

impl Park for tokio_rustls::server::TlsStream<CountingIo<TcpStream>> {
    fn socket(&self) -> Option<&TcpStream> {
        let (io, session) = self.get_ref();
        // No decrypted bytes waiting to be read (rustls wants more from the
        // socket) and no records of its own waiting to go out (a session
        // ticket, say): what comes next comes through the socket.
        (session.wants_read() && !session.wants_write()).then(|| io.get_ref())
    }
}

/// Wait until a new client sends its first bytes (a request head or a TLS
/// hello), holding no protocol state meanwhile: a connection that sits idle
/// costs its task only, not hyper's (or rustls's) buffers. False when it
/// sent nothing within the header timeout, or within the first-request grace
/// once draining.
pub(crate) async fn client_spoke(shared: &ListenerShared, stream: &TcpStream) -> bool {
    let timeout = shared.ctx.config.client_header_timeout;
    tokio::select! {
        r = tokio::time::timeout(timeout, spoke(stream)) => r.unwrap_or(false),
        _ = shared.ctx.drain.cancelled() => tokio::time::timeout(FIRST_REQUEST_GRACE, spoke(stream))
            .await
            .unwrap_or(false),
    }
}

/// Whether the client sent bytes (false: it closed). A peek, not
/// `readable()`: tokio reports a new socket readable before the first read
/// has found it empty.
async fn spoke(stream: &TcpStream) -> bool {
    matches!(stream.peek(&mut [0u8; 1]).await, Ok(n) if n > 0)
}

/// Serve HTTP/1.1 on one client connection until it closes, draining
/// gracefully (finish the request in flight, then close) on shutdown.
///
/// A kept-alive connection idle for a sweep period (1-2 s) sheds its hyper
/// connection, buffers included, and waits for the client's next bytes
/// holding only its task (see `head_timeout`); bytes hyper had read but not
/// parsed are replayed to the next one. An upgrade (101) ends hyper's part
/// too: the connection relays the bytes itself.
pub(crate) async fn serve<S>(shared: Arc<ListenerShared>, io: S, peer: SocketAddr)
where
    S: AsyncRead + AsyncWrite + Park + Unpin + Send + 'static,
{
    let ip = peer.ip().to_canonical();
    let ip_value = HeaderValue::from_str(&ip.to_string()).expect("an IP address is a valid header");
    let activity = Arc::new(Activity::default());
    let _watch = head_timeout::watch(&activity);
    let client = Arc::new(ClientConn {
        shared,
        ip,
        ip_value,
        activity: activity.clone(),
        first_request: Notify::new(),
        keep_open: AtomicBool::new(false),
        upgrade: Mutex::new(None),
    });
    let mut io = ClientIo {
        inner: io,
        replay: Bytes::new(),
        client: client.clone(),
    };
    loop {
        // Boxed, each in a statement of its own, so that what a connection
        // keeps while it waits without hyper is only `parked`'s state.
        let hyper = Box::pin(run_hyper(&client, io));
        let Some(back) = hyper.await else {
            return;
        };
        io = back.io;
        if let Some(upgrade) = back.upgrade {
            let relay = Box::pin(relay_upgraded(io, back.unread, upgrade));
            relay.await;
            return;
        }
        io.replay = back.unread;
        if io.replay.is_empty() && !parked(&client, &io).await {
            return;
        }
    }
}

/// What hyper hands back when it stops serving a connection that goes on.
struct Handback<S> {
    io: ClientIo<S>,
    /// Bytes hyper had read but not parsed.
    unread: Bytes,
    /// The member's side, when the connection was upgraded.
    upgrade: Option<MemberUpgrade>,
}

/// Serve requests with a new hyper connection until the connection closes
/// (`None`), or until hyper hands the socket back: idle, it shed its state,
/// or it was upgraded.
async fn run_hyper<S>(client: &Arc<ClientConn>, io: ClientIo<S>) -> Option<Handback<S>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = &client.activity;
    let drain = &client.shared.ctx.drain;
    let service = {
        let client = client.clone();
        service_fn(move |req| {
            let client = client.clone();
            if !client.activity.started() {
                client.first_request.notify_one();
            }
            let flight = InFlight::begin(&client.activity);
            async move {
                let mut resp = proxy(&client, req).await;
                if let ProxyBody::Member(body) = resp.body_mut() {
                    // In flight until the member's body has been passed on.
                    body.flight = Some(flight);
                }
                Ok::<_, Infallible>(resp)
            }
        })
    };
    // Boxed: a few hundred bytes the connection does not keep while it
    // waits without hyper.
    let mut conn = Box::new(
        http1::Builder::new()
            // A client may shut down its sending side once the request is
            // out and still get the response (HAProxy's default too). It
            // also keeps hyper from probing the socket for EOF while a
            // request is in flight, a read that made it allocate a fresh
            // 8 KiB read buffer per request (the old one still held the
            // request's headers).
            .half_close(true)
            // No hyper header timer: see `head_timeout` (the select below).
            .serve_connection(TokioIo::new(io), service),
    );

    let shed = tokio::select! {
        r = &mut *conn => {
            if let Err(error) = r {
                debug!(%error, "client connection ended with an error");
            }
            false
        }
        _ = activity.expired.raised() => {
            // Slow-header clients and forgotten keep-alive connections
            // are closed instead of holding memory and a
            // connection_limit slot.
            debug!("no request head within the header timeout; closing");
            return None;
        }
        _ = shed_requested(activity) => true,
        _ = drain.cancelled() => {
            let mut ended = None;
            if !activity.started() {
                // Accepted just before the drain: the client has likely
                // written its request already. Answer it (with
                // `Connection: close`) instead of cutting the
                // connection.
                tokio::select! {
                    r = &mut *conn => ended = Some(r),
                    _ = client.first_request.notified() => {}
                    _ = tokio::time::sleep(FIRST_REQUEST_GRACE) => {}
                }
            }
            let ended = match ended {
                Some(ended) => ended,
                None => {
                    Pin::new(&mut *conn).graceful_shutdown();
                    (&mut *conn).await
                }
            };
            if let Err(error) = ended {
                debug!(%error, "client connection ended with an error while draining");
            }
            false
        }
    };
    if shed {
        // Idle: hyper closes at once and hands the socket back (a
        // response still being written is finished first; the client
        // was not told the connection would close, so it stays open).
        client.keep_open.store(true, Ordering::Relaxed);
        Pin::new(&mut *conn).graceful_shutdown();
        let ended = tokio::select! {
            ended = &mut *conn => ended,
            _ = activity.expired.raised() => {
                debug!("no request head within the header timeout; closing");
                return None;
            }
        };
        client.keep_open.store(false, Ordering::Relaxed);
        if let Err(error) = ended {
            debug!(%error, "client connection ended with an error");
            return None;
        }
    }
    let upgrade = client.upgrade.lock().expect("upgrade slot").take();
    if !shed && upgrade.is_none() {
        // Done; hyper has shut the connection down.
        return None;
    }
    let parts = conn.into_parts();
    Some(Handback {
        io: parts.io.into_inner(),
        // A copy, so hyper's read buffer (kilobytes) is freed however little
        // of it is left.
        unread: Bytes::copy_from_slice(&parts.read_buf),
        upgrade,
    })
}

/// Resolves when the sweep asks an idle connection to shed its state (a
/// request that arrived since keeps it). Only once a request has been
/// served: until then hyper does not count the connection idle and would
/// close it only after a request.
async fn shed_requested(activity: &Activity) {
    loop {
        activity.shed.raised().await;
        activity.shed.lower();
        if activity.started() && activity.idle() {
            return;
        }
    }
}

/// Wait, holding no HTTP state, for the client's next bytes (at once if
/// the stream holds some). False when the connection is to close instead:
/// the client closed it, the header timeout expired, or the data plane is
/// draining (no request is in flight).
async fn parked<S: Park>(client: &ClientConn, io: &ClientIo<S>) -> bool {
    let Some(socket) = io.inner.socket() else {
        return true;
    };
    let ctx = &client.shared.ctx;
    ctx.parked.fetch_add(1, Ordering::Relaxed);
    let spoke = tokio::select! {
        spoke = spoke(socket) => spoke,
        _ = client.activity.expired.raised() => false,
        _ = ctx.drain.cancelled() => false,
    };
    ctx.parked.fetch_sub(1, Ordering::Relaxed);
    spoke
}

/// Relay an upgraded connection: the bytes hyper read past the request
/// first, then both ways until either side closes.
async fn relay_upgraded<S>(mut client: ClientIo<S>, early: Bytes, upgrade: MemberUpgrade)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let member = match upgrade.member.await {
        Ok(member) => member,
        Err(error) => {
            debug!(%error, "upgrade did not complete");
            return;
        }
    };
    let mut member = TokioIo::new(member);
    if let Err(error) = member.write_all(&early).await {
        debug!(%error, "upgraded connection ended with an error");
        return;
    }
    if let Err(error) = tokio::io::copy_bidirectional(&mut client, &mut member).await {
        debug!(%error, "upgraded connection ended with an error");
    }
}

/// The client stream under hyper: first the bytes a shed hyper connection
/// had read but not parsed, then the stream itself.
struct ClientIo<S> {
    inner: S,
    replay: Bytes,
    client: Arc<ClientConn>,
}

impl<S: AsyncRead + Unpin> AsyncRead for ClientIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.replay.is_empty() {
            let n = self.replay.len().min(buf.remaining());
            buf.put_slice(&self.replay.split_to(n));
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ClientIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.client.keep_open.load(Ordering::Relaxed) {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

async fn proxy(client: &ClientConn, mut req: Request<Incoming>) -> Response<ProxyBody> {
    // One config load per request: the newest pool serves it, and the Arc
    // keeps that version alive until the response is built.
    let cfg = client.shared.config.load_full();
    let Some(pool) = cfg.pool.as_ref() else {
        return unavailable();
    };
    let upgrade = is_upgrade(req.headers());
    let cookie_member = pool
        .cookie_name()
        .and_then(|name| find_cookie(req.headers(), name))
        .and_then(|value| pool.member_for_cookie(value));
    prepare_request(
        &mut req,
        client,
        &cfg.forwarded_proto,
        &cfg.forwarded_port,
        upgrade,
    );

    let mut tried = Tried::default();
    for _ in 0..MAX_ATTEMPTS {
        let Some(choice) = pool.choose(client.ip, cookie_member, &client.shared.stick, &tried)
        else {
            return if tried.is_empty() {
                unavailable()
            } else {
                bad_gateway()
            };
        };
        let member = &pool.members[choice.index];
        let pooled = if upgrade {
            None
        } else {
            member.conns.checkout().await
        };
        let reused = pooled.is_some();
        let mut sender = match pooled {
            Some(s) => s,
            // Boxed: connecting (TCP, maybe TLS) is rare with keep-alive and
            // its future is large; inline it would be moved with every request.
            None => match Box::pin(member.conns.connect()).await {
                Ok(s) => s,
                Err(error) => {
                    member.state.report_connect_failure();
                    debug!(member_id = %member.id, %error, "member connect failed");
                    tried.push(choice.index);
                    if tried.is_full() {
                        return bad_gateway();
                    }
                    continue;
                }
            },
        };
        let load = MemberLoad::new(&member.state);
        client.activity.awaiting_member(true);
        let sent = tokio::select! {
            biased;
            sent = sender.try_send_request(req) => Some(sent),
            // The sweep found this request waiting too long (the member
            // connection is dropped: closed).
            _ = client.activity.member_late.raised() => None,
        };
        client.activity.awaiting_member(false);
        let Some(sent) = sent else {
            debug!(member_id = %member.id, "member response timed out");
            return gateway_timeout();
        };
        match sent {
            Ok(resp) => {
                return respond(
                    resp,
                    sender,
                    member,
                    load,
                    choice.set_cookie,
                    upgrade,
                    client,
                );
            }
            Err(mut e) => match e.take_message() {
                Some(back) => {
                    // The connection closed before the request went out
                    // (a kept-alive connection the member timed out): send it
                    // again on a fresh connection.
                    debug!(member_id = %member.id, error = %e.error(), reused, "request not sent; retrying");
                    req = back;
                    if !reused {
                        tried.push(choice.index);
                        if tried.is_full() {
                            return bad_gateway();
                        }
                    }
                }
                None => {
                    debug!(member_id = %member.id, error = %e.error(), "member failed the request");
                    return bad_gateway();
                }
            },
        }
    }
    bad_gateway()
}

fn respond(
    mut resp: Response<Incoming>,
    sender: Sender,
    member: &MemberRuntime,
    load: MemberLoad,
    set_cookie: bool,
    upgrade: bool,
    client: &ClientConn,
) -> Response<ProxyBody> {
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        if upgrade {
            // hyper sends the 101 and hands the client socket back to
            // `serve`, which relays it to the member's.
            let member = hyper::upgrade::on(&mut resp);
            *client.upgrade.lock().expect("upgrade slot") = Some(MemberUpgrade {
                member,
                _held: (load, sender),
            });
        }
        return resp.map(|_| ProxyBody::Static(None));
    }
    strip_hop_by_hop(resp.headers_mut());
    if set_cookie && let Some(v) = &member.set_cookie {
        resp.headers_mut().append(SET_COOKIE, v.clone());
    }
    let pool = member.conns.clone();
    resp.map(|inner| {
        ProxyBody::Member(MemberBody {
            inner,
            ended: false,
            sender: Some(sender),
            pool,
            _load: load,
            flight: None,
        })
    })
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(UPGRADE)
        && headers
            .get_all(CONNECTION)
            .iter()
            .any(|v| has_token(v.as_bytes(), b"upgrade"))
}

fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|b| *b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// Remove hop-by-hop headers, including those the `Connection` header names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none: one pass over the names (comparisons of
    // well-known names are cheap) instead of five hashed lookups.
    if !headers.keys().any(|k| {
        k == CONNECTION || k == KEEP_ALIVE || k == PROXY_CONNECTION || k == TE || k == TRAILER
    }) {
        return;
    }
    if headers.contains_key(CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(CONNECTION)
            .iter()
            .flat_map(|v| v.as_bytes().split(|b| *b == b','))
            .filter_map(|t| HeaderName::from_bytes(t.trim_ascii()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
        headers.remove(CONNECTION);
    }
    headers.remove(KEEP_ALIVE);
    headers.remove(PROXY_CONNECTION);
    headers.remove(TE);
    headers.remove(TRAILER);
}

fn prepare_request(
    req: &mut Request<Incoming>,
    client: &ClientConn,
    proto: &HeaderValue,
    port: &HeaderValue,
    upgrade: bool,
) {
    // Members always get HTTP/1.1 so their connections stay reusable.
    *req.version_mut() = Version::HTTP_11;
    let headers = req.headers_mut();
    if upgrade {
        // Keep Connection/Upgrade: the member must see the upgrade request.
        headers.remove(KEEP_ALIVE);
        headers.remove(PROXY_CONNECTION);
    } else {
        strip_hop_by_hop(headers);
    }
    // One lookup for the common case (no X-Forwarded-For yet).
    match headers.entry(X_FORWARDED_FOR) {
        Entry::Vacant(slot) => {
            slot.insert(client.ip_value.clone());
        }
        Entry::Occupied(mut found) => {
            let mut joined = BytesMut::new();
            for v in found.iter() {
                if !joined.is_empty() {
                    joined.put_slice(b", ");
                }
                joined.put_slice(v.as_bytes());
            }
            joined.put_slice(b", ");
            joined.put_slice(client.ip_value.as_bytes());
            let xff = HeaderValue::from_maybe_shared(joined.freeze())
                .unwrap_or_else(|_| client.ip_value.clone());
            // Replaces every earlier value with the one joined list.
            found.insert(xff);
        }
    }
    headers.insert(X_FORWARDED_PROTO, proto.clone());
    headers.insert(X_FORWARDED_PORT, port.clone());
}

/// The member did not answer in time. The client connection closes after
/// this response, as HAProxy's does.
fn gateway_timeout() -> Response<ProxyBody> {
    let mut resp = static_response(
        StatusCode::GATEWAY_TIMEOUT,
        "the member did not answer in time\n",
    );
    resp.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    resp
}

fn unavailable() -> Response<ProxyBody> {
    static_response(StatusCode::SERVICE_UNAVAILABLE, "no member is available\n")
}

fn bad_gateway() -> Response<ProxyBody> {
    static_response(StatusCode::BAD_GATEWAY, "the member failed\n")
}

fn static_response(status: StatusCode, body: &'static str) -> Response<ProxyBody> {
    let mut resp = Response::new(ProxyBody::Static(Some(Bytes::from_static(body.as_bytes()))));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// A response body: streamed from a member, or a short one of our own.
pub(crate) enum ProxyBody {
    Member(MemberBody),
    Static(Option<Bytes>),
}

/// A member's response body; on drop after its end, the member connection
/// goes back to the pool (otherwise it is closed with the body).
pub(crate) struct MemberBody {
    inner: Incoming,
    ended: bool,
    sender: Option<Sender>,
    pool: Arc<MemberPool>,
    _load: MemberLoad,
    /// Keeps the client's request counted in flight.
    flight: Option<InFlight>,
}

impl Drop for MemberBody {
    fn drop(&mut self) {
        if (self.ended || self.inner.is_end_stream())
            && let Some(sender) = self.sender.take()
        {
            self.pool.checkin(sender);
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
                if let Poll::Ready(None) = poll {
                    body.ended = true;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_named_headers_are_stripped() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive, X-Secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        h.insert(KEEP_ALIVE, HeaderValue::from_static("timeout=5"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn each_hop_by_hop_header_alone_is_stripped_and_others_kept() {
        for name in [CONNECTION, KEEP_ALIVE, PROXY_CONNECTION, TE, TRAILER] {
            let mut h = HeaderMap::new();
            h.insert("x-kept", HeaderValue::from_static("1"));
            h.insert(name.clone(), HeaderValue::from_static("x"));
            strip_hop_by_hop(&mut h);
            assert_eq!(h.len(), 1, "{name} was not stripped");
            assert!(h.contains_key("x-kept"));
        }
        let mut h = HeaderMap::new();
        h.insert("x-kept", HeaderValue::from_static("1"));
        h.insert(hyper::header::HOST, HeaderValue::from_static("a"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn upgrade_needs_both_headers() {
        let mut h = HeaderMap::new();
        h.insert(UPGRADE, HeaderValue::from_static("websocket"));
        assert!(!is_upgrade(&h));
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        assert!(is_upgrade(&h));
    }
}
