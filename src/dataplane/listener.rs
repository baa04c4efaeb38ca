//! Listening sockets: bind `vip:protocol_port`, accept under the
//! connection_limit and the process-wide cap, hand each client to a worker
//! and there to the TCP relay or the HTTP proxy (unless it is one of our
//! own member connections coming back: a loop), and end it when the drain
//! time is up.
//!
//! One socket per listener, accepted on by one worker, which hands the
//! connections round robin to all workers (see `workers`). The config a
//! connection starts with is the listener's newest (`runtime`). Nothing here
//! reads the store or the API.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use socket2::{Domain, Protocol as SockProtocol, Socket, Type};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, debug_span, warn};

use super::runtime::{ListenerConfig, ListenerShared, Mode};
use super::stats::{ActiveConnection, CountingIo};
use super::sweep::{self, Activity};
use super::{http, tcp};

/// Listen backlog; clients over the connection_limit wait here.
const BACKLOG: i32 = 4096;

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
    // The listening socket is bound to one VIP:port, so every accepted
    // connection's local address is this one: read once, not per accept.
    let local = listener.local_addr().ok();
    // Accepted through mio, not tokio's `TcpListener`: a connection comes
    // out registered with no reactor, so the worker that serves it registers
    // it once (tokio's accept would register it here, and a hand-off to
    // another worker would then deregister and register it again).
    let listener = match register(listener) {
        Ok(listener) => listener,
        Err(error) => {
            warn!(listener_id = %shared.id, %error, "cannot register the listening socket");
            return;
        }
    };
    let cap = shared.ctx.conn_cap.clone();
    let mut backoff = Duration::ZERO;
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
        // Then a slot under the process-wide cap: at the cap every listener
        // leaves new clients in its backlog, and the descriptors kept back
        // serve the API, health probes and member connections.
        let global = tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            p = cap.clone().acquire_owned() => match p {
                Ok(p) => p,
                // Never closed; treat it as the end of this listener anyway.
                Err(_) => return,
            },
        };
        let accepted = tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            r = listener.async_io(Interest::READABLE, mio::net::TcpListener::accept) => r,
        };
        match accepted {
            Ok((stream, peer)) => {
                let stream = std::net::TcpStream::from(stream);
                backoff = Duration::ZERO;
                // One of our own member connections coming back (see `loops`).
                let looped = local.is_some_and(|local| shared.ctx.loops.is_own(peer, local));
                spawn_connection(&shared, stream, peer, looped, (permit, global));
            }
            Err(error) => {
                // EMFILE and friends: back off (doubling up to a second)
                // instead of spinning, and say so once per streak.
                if backoff.is_zero() {
                    warn!(listener_id = %shared.id, %error, "accept failed; backing off");
                }
                backoff = (backoff * 2).clamp(ACCEPT_BACKOFF_MIN, ACCEPT_BACKOFF_MAX);
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
            }
        }
    }
}

/// The listening socket, registered with this worker's reactor for accepts.
#[allow(unsafe_code)]
fn register(listener: std::net::TcpListener) -> io::Result<AsyncFd<mio::net::TcpListener>> {
    let listener = mio::net::TcpListener::from_std(listener);
    // SAFETY: the `AsyncFd` owns the mio listener, which owns its descriptor
    // and always returns that same one from `as_raw_fd`; it is closed only
    // when the listener is dropped, after the `AsyncFd` deregistered it.
    unsafe { AsyncFd::register_with_interest(listener, Interest::READABLE) }
        .map_err(io::Error::from)
}

/// The first and the longest wait after a failed accept.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

fn spawn_connection(
    shared: &Arc<ListenerShared>,
    stream: std::net::TcpStream,
    peer: SocketAddr,
    looped: bool,
    permit: (Option<OwnedSemaphorePermit>, OwnedSemaphorePermit),
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
    // The socket is registered by the worker that serves it, with that
    // worker's reactor, so its readiness wakes no other thread.
    let worker = workers[target].clone();
    worker.spawn(
        async move {
            let _held = (tracked, active, permit);
            let stream = match TcpStream::from_std(stream) {
                Ok(stream) => stream,
                Err(error) => {
                    debug!(%error, "cannot register the connection on its worker");
                    return;
                }
            };
            let hard = shared.ctx.hard.clone();
            tokio::select! {
                _ = serve(shared, cfg, stream, peer, looped) => {}
                _ = hard.cancelled() => debug!("closed at the end of the drain time"),
            }
        }
        .instrument(span),
    );
}

async fn serve(
    shared: Arc<ListenerShared>,
    cfg: Arc<ListenerConfig>,
    stream: TcpStream,
    peer: SocketAddr,
    looped: bool,
) {
    if matches!(cfg.mode, Mode::Tcp) && looped {
        // One of our own member connections: the member leads back here.
        // Closing it ends the loop at its first turn. (HTTP answers 508
        // instead: see `http::forward`.)
        warn!(listener_id = %shared.id, %peer, "a member leads back to this listener (loop); closing");
        return;
    }
    if !matches!(cfg.mode, Mode::Tcp) && !http::client_spoke(&shared, &stream).await {
        debug!("closed before sending anything");
        return;
    }
    let activity = Arc::new(Activity::default());
    let _watch = sweep::watch(&activity);
    // Each protocol's state (hyper's connection, a TLS session, the relay)
    // is boxed on its own, allocated only once the client spoke and only as
    // large as that protocol needs: an idle HTTP connection keeps under
    // 1 KiB of it, not the ~10 KiB a TLS handshake takes. Boxed in a
    // statement of its own: a future built in the statement that awaits it
    // would be laid out inside this task as well.
    let protocol: Pin<Box<dyn Future<Output = ()> + Send + '_>> = match &cfg.mode {
        Mode::Tcp => Box::pin(tcp::relay(
            shared.clone(),
            cfg.clone(),
            stream,
            peer,
            activity,
        )),
        Mode::Http => {
            let io = CountingIo::new(stream, shared.counters.clone(), activity.clone());
            Box::pin(http::serve(shared, io, peer, looped, activity))
        }
        Mode::Https(acceptor) => Box::pin(serve_https(
            shared, acceptor, stream, peer, looped, activity,
        )),
    };
    protocol.await
}

async fn serve_https(
    shared: Arc<ListenerShared>,
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    looped: bool,
    activity: Arc<Activity>,
) {
    let io = CountingIo::new(stream, shared.counters.clone(), activity.clone());
    let timeout = shared.ctx.config.tls_handshake_timeout;
    match tokio::time::timeout(timeout, acceptor.accept(io)).await {
        Ok(Ok(tls)) => http::serve(shared, tls, peer, looped, activity).await,
        Ok(Err(error)) => debug!(%error, "TLS handshake failed"),
        Err(_) => debug!("TLS handshake timed out"),
    }
}

/// Descriptors kept out of the connection cap for the API, the store,
/// health probes, listening sockets and the process itself: a quarter of
/// the limit, between 64 and 1024.
fn reserved_descriptors(nofile: u64) -> u64 {
    (nofile / 4).clamp(64, 1024)
}

/// The process-wide connection cap derived from the descriptor limit
/// `nofile`: each proxied client needs a second descriptor for its member,
/// so half of what the reserve leaves (at least 1).
pub(crate) fn derived_max_connections(nofile: u64) -> usize {
    let cap = nofile.saturating_sub(reserved_descriptors(nofile)) / 2;
    usize::try_from(cap.max(1)).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_a_reserve_and_a_member_descriptor_per_client() {
        assert_eq!(derived_max_connections(1024), (1024 - 256) / 2);
        assert_eq!(derived_max_connections(20_000), (20_000 - 1024) / 2);
        assert_eq!(derived_max_connections(256), (256 - 64) / 2);
        assert_eq!(derived_max_connections(10), 1);
    }
}
