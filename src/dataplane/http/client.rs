//! The life of one HTTP client connection: hyper serves its requests;
//! when the connection sits idle between requests it sheds hyper's state
//! and parks (waits for the client's next bytes holding only its task);
//! bytes hyper had read but not parsed are replayed to the next hyper
//! connection; an upgrade (101) ends hyper's part and the connection relays
//! the bytes itself. Drain answers a request already on its way, then
//! closes.
//!
//! What a request does is `forward`'s business; when to shed or close is
//! the sweep's (`sweep`), which this module only obeys.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::{HttpService, service_fn};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tracing::debug;

use super::body::ProxyBody;
use super::forward::{self, Forwarded, MemberUpgrade, Peer};
use crate::dataplane::runtime::ListenerShared;
use crate::dataplane::stats::CountingIo;
use crate::dataplane::sweep::{Activity, InFlight, MemberIo};
use crate::sync::lock;

/// On drain, how long a connection that has not sent its first request yet
/// gets to send it.
const FIRST_REQUEST_GRACE: Duration = Duration::from_secs(1);

/// Per client connection state the service reads on each request.
struct ClientConn {
    shared: Arc<ListenerShared>,
    peer: Peer,
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
/// sent nothing within the header timeout (or the client data timeout if
/// shorter), or within the first-request grace once draining.
pub(crate) async fn client_spoke(shared: &ListenerShared, stream: &TcpStream) -> bool {
    let config = &shared.ctx.config;
    let timeout = config.client_header_timeout.min(config.client_data_timeout);
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
/// holding only its task (see `sweep`); bytes hyper had read but not
/// parsed are replayed to the next one. An upgrade (101) ends hyper's part
/// too: the connection relays the bytes itself.
///
/// `activity` is the connection's, under its worker's sweep.
pub(crate) async fn serve<S>(
    shared: Arc<ListenerShared>,
    io: S,
    peer: SocketAddr,
    looped: bool,
    activity: Arc<Activity>,
) where
    S: AsyncRead + AsyncWrite + Park + Unpin + Send + 'static,
{
    // `looped`: one of our own member connections coming back; every
    // request on it is answered 508 (see `loops`).
    let client = Arc::new(ClientConn {
        shared,
        peer: Peer::new(peer, looped),
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
            let relay = Box::pin(relay_upgraded(io, back.unread, upgrade, &activity));
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

/// hyper's server connection over a client stream.
type HyperConn<S, F> = http1::Connection<TokioIo<ClientIo<S>>, F>;

/// Serve requests with a new hyper connection until the connection closes
/// (`None`), or until hyper hands the socket back: idle, it shed its state,
/// or it was upgraded.
async fn run_hyper<S>(client: &Arc<ClientConn>, io: ClientIo<S>) -> Option<Handback<S>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = {
        let client = client.clone();
        service_fn(move |req| {
            let client = client.clone();
            if !client.activity.started() {
                client.first_request.notify_one();
            }
            let flight = InFlight::begin(&client.activity);
            async move {
                let Forwarded {
                    mut response,
                    upgrade,
                } = forward::proxy(&client.shared, &client.peer, &client.activity, req).await;
                if upgrade.is_some() {
                    *lock(&client.upgrade) = upgrade;
                }
                response.body_mut().hold_in_flight(flight);
                Ok::<_, Infallible>(response)
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
            // No hyper header timer: see `sweep` (`until_stopped`).
            .serve_connection(TokioIo::new(io), service),
    );
    let shed = match until_stopped(client, &mut conn).await {
        Stopped::Expired => return None,
        Stopped::Ended => false,
        Stopped::Idle => {
            if !shed(client, &mut conn).await {
                return None;
            }
            true
        }
    };
    let upgrade = lock(&client.upgrade).take();
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

/// Why hyper stopped serving.
enum Stopped {
    /// hyper finished with the connection (closed, upgraded, or drained).
    Ended,
    /// The header timeout expired: close at once.
    Expired,
    /// The sweep found the connection idle: it may shed hyper's state.
    Idle,
}

/// Let hyper serve until it ends, the sweep expires the connection or finds
/// it idle, or the data plane drains.
async fn until_stopped<S, F>(client: &ClientConn, conn: &mut HyperConn<S, F>) -> Stopped
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: HttpService<Incoming, ResBody = ProxyBody, Error = Infallible> + Unpin,
{
    let activity = &client.activity;
    tokio::select! {
        r = &mut *conn => {
            if let Err(error) = r {
                debug!(%error, "client connection ended with an error");
            }
            Stopped::Ended
        }
        _ = activity.expired.raised() => {
            // Slow-header clients, forgotten keep-alive connections and
            // responses stuck on a side that stopped moving data are
            // closed instead of holding memory and a connection_limit slot.
            debug!("no request head, or no data, within its timeout; closing");
            Stopped::Expired
        }
        _ = shed_requested(activity) => Stopped::Idle,
        _ = client.shared.ctx.drain.cancelled() => {
            drained(client, conn).await;
            Stopped::Ended
        }
    }
}

/// Finish the connection on drain: the request in flight is answered (with
/// `Connection: close`), then hyper closes.
async fn drained<S, F>(client: &ClientConn, conn: &mut HyperConn<S, F>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: HttpService<Incoming, ResBody = ProxyBody, Error = Infallible> + Unpin,
{
    let mut ended = None;
    if !client.activity.started() {
        // Accepted just before the drain: the client has likely written its
        // request already. Answer it (with `Connection: close`) instead of
        // cutting the connection.
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
}

/// Shed hyper's state: hyper closes at once and hands the socket back (a
/// response still being written is finished first; the client was not told
/// the connection would close, so it stays open). False when the
/// connection is to close instead.
async fn shed<S, F>(client: &ClientConn, conn: &mut HyperConn<S, F>) -> bool
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: HttpService<Incoming, ResBody = ProxyBody, Error = Infallible> + Unpin,
{
    client.keep_open.store(true, Ordering::Relaxed);
    Pin::new(&mut *conn).graceful_shutdown();
    let ended = tokio::select! {
        ended = &mut *conn => ended,
        _ = client.activity.expired.raised() => {
            debug!("no request head within the header timeout; closing");
            return false;
        }
    };
    client.keep_open.store(false, Ordering::Relaxed);
    if let Err(error) = ended {
        debug!(%error, "client connection ended with an error");
        return false;
    }
    true
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
async fn relay_upgraded<S>(
    mut client: ClientIo<S>,
    early: Bytes,
    upgrade: MemberUpgrade,
    activity: &Arc<Activity>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // From here on only the data timeouts apply (see `sweep`).
    activity.relaying();
    let relay = async {
        let member = match upgrade.member.await {
            Ok(member) => member,
            Err(error) => {
                debug!(%error, "upgrade did not complete");
                return;
            }
        };
        let mut member = MemberIo::new(TokioIo::new(member), activity.clone());
        if let Err(error) = member.write_all(&early).await {
            debug!(%error, "upgraded connection ended with an error");
            return;
        }
        if let Err(error) = tokio::io::copy_bidirectional(&mut client, &mut member).await {
            debug!(%error, "upgraded connection ended with an error");
        }
    };
    tokio::select! {
        _ = relay => {}
        _ = activity.expired.raised() => debug!("no data within the data timeout; closing"),
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
