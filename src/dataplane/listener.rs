//! Listening sockets: bind `vip:protocol_port`, accept under the
//! connection_limit, hand each client to the TCP relay or the HTTP proxy.
//!
//! A listener's config sits behind an `ArcSwap`: a TCP connection keeps the
//! config it was accepted with; an HTTP connection loads the newest one per
//! request, so a removed member gets no new requests even on kept-alive
//! client connections. Nothing here reads the store or the API.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper::header::HeaderValue;
use socket2::{Domain, Protocol as SockProtocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_util::sync::CancellationToken;

use super::signal::StopSignal;
use tracing::{Instrument, debug, debug_span, warn};

use super::DataPlaneConfig;
use super::balance::{Selector, Tried};
use super::member_pool::MemberPool;
use super::member_state::MemberState;
use super::persistence::StickTable;
use super::spec::{ListenerSpec, Persistence};
use super::stats::{ActiveConnection, CountingIo, ListenerCounters};
use super::workers;
use crate::model::{ListenerId, MemberId};

/// Listen backlog; clients over the connection_limit wait here.
const BACKLOG: i32 = 4096;

/// What every listener of one data plane shares.
pub(crate) struct Context {
    pub config: DataPlaneConfig,
    /// Counts connection tasks so shutdown can wait for them.
    pub tracker: Arc<ConnTracker>,
    /// Cancelled when shutdown starts draining: HTTP connections finish the
    /// request in flight and close.
    pub drain: StopSignal,
    /// Cancelled when the drain time is up: every connection task ends.
    pub hard: StopSignal,
    /// Re-encryption towards HTTPS members.
    pub member_tls: TlsConnector,
    /// The data plane workers' runtimes; connections are spread over them.
    pub workers: Vec<Handle>,
    /// Kept-alive HTTP connections idle without HTTP state (`http::serve`).
    pub parked: AtomicUsize,
}

/// Counts live connection tasks; `wait_idle` returns when there are none.
#[derive(Default)]
pub(crate) struct ConnTracker {
    count: AtomicUsize,
    idle: Notify,
}

/// Held by a tracked task; dropping it untracks.
pub(crate) struct Tracked(Arc<ConnTracker>);

impl ConnTracker {
    pub fn track(self: &Arc<Self>) -> Tracked {
        self.count.fetch_add(1, Ordering::AcqRel);
        Tracked(self.clone())
    }

    pub fn count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    pub async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            // Register before checking the count so a drop in between wakes us.
            notified.as_mut().enable();
            if self.count() == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// The part of a listener that outlives config swaps.
pub(crate) struct ListenerShared {
    pub id: ListenerId,
    pub config: ArcSwap<ListenerConfig>,
    pub counters: Arc<ListenerCounters>,
    pub stick: StickTable,
    pub ctx: Arc<Context>,
    /// Round-robin cursor over the workers for accepted connections.
    pub next_worker: AtomicUsize,
}

/// How a listener serves its clients.
pub(crate) enum Mode {
    /// L4 relay (TCP, and HTTPS passthrough).
    Tcp,
    /// HTTP/1.1 reverse proxy in clear text.
    Http,
    /// HTTP/1.1 reverse proxy behind TLS termination.
    Https(TlsAcceptor),
}

/// One immutable version of a listener's config.
pub(crate) struct ListenerConfig {
    pub spec: ListenerSpec,
    pub mode: Mode,
    /// Permits = connection_limit; `None` is unlimited.
    pub limiter: Option<Arc<Semaphore>>,
    pub pool: Option<PoolRuntime>,
    /// `X-Forwarded-Proto` value.
    pub forwarded_proto: HeaderValue,
    /// `X-Forwarded-Port` value.
    pub forwarded_port: HeaderValue,
}

/// A pool ready to pick from.
pub(crate) struct PoolRuntime {
    pub selector: Selector,
    /// Same indices as the selector's candidates.
    pub members: Vec<MemberRuntime>,
    pub persistence: Option<Persistence>,
}

/// One member ready to receive traffic.
pub(crate) struct MemberRuntime {
    pub id: MemberId,
    pub address: SocketAddr,
    pub state: Arc<MemberState>,
    /// Opaque cookie value naming this member.
    pub cookie_key: String,
    /// `Set-Cookie` value inserted for HTTP_COOKIE persistence.
    pub set_cookie: Option<HeaderValue>,
    /// Keep-alive HTTP connections to this member.
    pub conns: Arc<MemberPool>,
}

/// A member picked for a connection or request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Choice {
    pub index: usize,
    /// Whether the response should (re)insert the persistence cookie.
    pub set_cookie: bool,
}

impl PoolRuntime {
    /// The cookie name when the pool uses HTTP_COOKIE persistence.
    pub fn cookie_name(&self) -> Option<&str> {
        match &self.persistence {
            Some(Persistence::HttpCookie { cookie_name }) => Some(cookie_name),
            _ => None,
        }
    }

    /// Index of the usable member whose cookie key is `value`.
    pub fn member_for_cookie(&self, value: &[u8]) -> Option<usize> {
        self.members
            .iter()
            .position(|m| m.cookie_key.as_bytes() == value)
            .filter(|i| self.selector.candidates()[*i].usable())
    }

    /// Persistence first (cookie member, then stick table), else the algorithm.
    pub fn choose(
        &self,
        client: IpAddr,
        cookie_member: Option<usize>,
        stick: &StickTable,
        tried: &Tried,
    ) -> Option<Choice> {
        let candidates = self.selector.candidates();
        match &self.persistence {
            Some(Persistence::HttpCookie { .. }) => {
                if let Some(i) = cookie_member.filter(|i| !tried.contains(*i)) {
                    return Some(Choice {
                        index: i,
                        set_cookie: false,
                    });
                }
                let index = self.selector.pick(client, tried)?;
                Some(Choice {
                    index,
                    set_cookie: true,
                })
            }
            Some(Persistence::SourceIp) => {
                if let Some(id) = stick.get(client)
                    && let Some(i) = self.members.iter().position(|m| m.id == id)
                    && candidates[i].usable()
                    && !tried.contains(i)
                {
                    return Some(Choice {
                        index: i,
                        set_cookie: false,
                    });
                }
                let index = self.selector.pick(client, tried)?;
                stick.put(client, self.members[index].id);
                Some(Choice {
                    index,
                    set_cookie: false,
                })
            }
            None => self.selector.pick(client, tried).map(|index| Choice {
                index,
                set_cookie: false,
            }),
        }
    }
}

/// Counts a connection or request against a member for LEAST_CONNECTIONS.
pub(crate) struct MemberLoad(Arc<MemberState>);

impl MemberLoad {
    pub fn new(state: &Arc<MemberState>) -> Self {
        state.active_connections.fetch_add(1, Ordering::Relaxed);
        Self(state.clone())
    }
}

impl Drop for MemberLoad {
    fn drop(&mut self) {
        self.0.active_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Bind a listening socket with SO_REUSEADDR (a restart finds the port free
/// despite TIME_WAIT) and a deep backlog. It is registered with a reactor by
/// the worker that accepts on it (`accept_loop`).
pub(crate) fn bind(address: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(SockProtocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Accept until `cancel`; the socket closes when this returns.
pub(crate) async fn accept_loop(
    listener: std::net::TcpListener,
    shared: Arc<ListenerShared>,
    cancel: CancellationToken,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(error) => {
            warn!(listener_id = %shared.id, %error, "cannot register the listening socket");
            return;
        }
    };
    loop {
        let limiter = shared.config.load().limiter.clone();
        // Take the permit before accepting, so a listener at its limit leaves
        // new clients in the kernel backlog (HAProxy's maxconn behaviour).
        let permit = match limiter {
            Some(sem) => tokio::select! {
                biased;
                _ = cancel.cancelled() => return,
                p = sem.acquire_owned() => match p {
                    Ok(p) => Some(p),
                    // Closed: the limit was replaced; look at the new config.
                    Err(_) => continue,
                },
            },
            None => None,
        };
        let accepted = tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, peer)) => spawn_connection(&shared, stream, peer, permit),
            Err(error) => {
                // EMFILE and friends: back off instead of spinning.
                warn!(listener_id = %shared.id, %error, "accept failed");
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
            }
        }
    }
}

fn spawn_connection(
    shared: &Arc<ListenerShared>,
    stream: TcpStream,
    peer: SocketAddr,
    permit: Option<OwnedSemaphorePermit>,
) {
    // Best effort: a socket that refuses NODELAY still works.
    let _ = stream.set_nodelay(true);
    let tracked = shared.ctx.tracker.track();
    let active = ActiveConnection::open(shared.counters.clone());
    let cfg = shared.config.load_full();
    let shared = shared.clone();
    let span = debug_span!("connection", listener_id = %shared.id, %peer);
    // Accepting on one socket and handing connections round-robin to the
    // workers is HAProxy's model too: one wakeup per connection buys an even
    // spread and keeps connection_limit exact (no per-worker backlogs).
    let workers = &shared.ctx.workers;
    let target = shared.next_worker.fetch_add(1, Ordering::Relaxed) % workers.len();
    let worker = workers[target].clone();
    // The accept loop runs on a worker; a socket handed to another one moves
    // to that worker's reactor, so its readiness wakes no other thread.
    let stream = if target == workers::current() {
        Accepted::Here(stream)
    } else {
        match stream.into_std() {
            Ok(std) => Accepted::Moved(std),
            Err(error) => {
                debug!(%error, "cannot hand the connection to a worker");
                return;
            }
        }
    };
    worker.spawn(
        async move {
            let _held = (tracked, active, permit);
            let stream = match stream {
                Accepted::Here(stream) => stream,
                Accepted::Moved(std) => match TcpStream::from_std(std) {
                    Ok(stream) => stream,
                    Err(error) => {
                        debug!(%error, "cannot register the connection on its worker");
                        return;
                    }
                },
            };
            let hard = shared.ctx.hard.clone();
            tokio::select! {
                _ = serve(shared, cfg, stream, peer) => {}
                _ = hard.cancelled() => debug!("closed at the end of the drain time"),
            }
        }
        .instrument(span),
    );
}

/// An accepted client on its way to the worker that serves it.
enum Accepted {
    /// Already registered with the serving worker's reactor.
    Here(TcpStream),
    /// Deregistered; the serving worker registers it.
    Moved(std::net::TcpStream),
}

async fn serve(
    shared: Arc<ListenerShared>,
    cfg: Arc<ListenerConfig>,
    stream: TcpStream,
    peer: SocketAddr,
) {
    if !matches!(cfg.mode, Mode::Tcp) && !super::http::client_spoke(&shared, &stream).await {
        debug!("closed before sending anything");
        return;
    }
    // Each protocol's state (hyper's connection, a TLS session, the relay)
    // is boxed on its own, allocated only once the client spoke and only as
    // large as that protocol needs: an idle HTTP connection keeps under
    // 1 KiB of it, not the ~10 KiB a TLS handshake takes. Boxed in a
    // statement of its own: a future built in the statement that awaits it
    // would be laid out inside this task as well.
    let protocol: Pin<Box<dyn Future<Output = ()> + Send + '_>> = match &cfg.mode {
        Mode::Tcp => Box::pin(super::tcp::relay(shared.clone(), cfg.clone(), stream, peer)),
        Mode::Http => {
            let io = CountingIo::new(stream, shared.counters.clone());
            Box::pin(super::http::serve(shared, io, peer))
        }
        Mode::Https(acceptor) => Box::pin(serve_https(shared, acceptor, stream, peer)),
    };
    protocol.await
}

async fn serve_https(
    shared: Arc<ListenerShared>,
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
) {
    let io = CountingIo::new(stream, shared.counters.clone());
    let timeout = shared.ctx.config.tls_handshake_timeout;
    match tokio::time::timeout(timeout, acceptor.accept(io)).await {
        Ok(Ok(tls)) => super::http::serve(shared, tls, peer).await,
        Ok(Err(error)) => debug!(%error, "TLS handshake failed"),
        Err(_) => debug!("TLS handshake timed out"),
    }
}
