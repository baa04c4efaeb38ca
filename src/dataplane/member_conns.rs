//! Kept-alive HTTP/1.1 connections to members, reused across requests and
//! across spec applies: [`MemberConns`] holds one member's (by address and
//! TLS), and [`MemberConnsRegistry`] finds the one a new listener config
//! should share.
//!
//! A connection goes back to the idle list only after its response body was
//! read to the end (see `http::body::MemberBody`); a checkout skips closed
//! ones. Each data plane worker has its own idle list, so a request borrows
//! a connection whose task runs on its own thread (no cross-thread wakeups);
//! a list is a short `Mutex<Vec<_>>` section, one push or pop, uncontended.
//!
//! Idle connections expire: [`expire_idle_loop`] calls `expire_idle` every
//! half idle timeout, which advances the epoch and closes connections
//! returned two or more epochs ago (unused for between a half and a whole
//! idle timeout), so a burst does not leave members holding sockets forever.
//! No clock is read on the hot path: a checkin stamps the current epoch.
//!
//! Also the plain TCP connect (timeout, TCP_NODELAY) the L4 relay uses.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tracing::debug;

use socket2::{Domain, Protocol, Socket, Type};

use super::coalesce::Coalescing;
use super::loops::{LoopGuard, Outgoing};
use super::tls::member_server_name;
use super::workers;
use crate::sync::lock;

/// Idle connections kept per member beyond which returned ones are closed.
const MAX_IDLE: usize = 1024;

/// How long a checkout waits for a just-returned connection to become ready.
/// Its task normally gets there within microseconds (it only has to run once
/// after the response ended); only a connection still streaming a request
/// body its member did not wait for stays busy. Generous, so a worker
/// starved by the OS for a moment does not churn connections.
const READY_GRACE: Duration = Duration::from_millis(250);

/// A request sender on a member connection.
pub type Sender = SendRequest<Incoming>;

/// The kept-alive connections of one member (by address and TLS).
pub struct MemberConns {
    address: SocketAddr,
    tls: Option<TlsConnector>,
    connect_timeout: Duration,
    /// Where each connection's local address is recorded.
    loops: Arc<LoopGuard>,
    /// Idle connections by data plane worker, oldest first.
    idle: Box<[Mutex<Vec<Idle>>]>,
    /// Advanced by `expire_idle`; stamps checkins.
    epoch: AtomicU64,
}

/// A connection waiting in an idle list, with the epoch it came back in.
struct Idle {
    sender: Sender,
    epoch: u64,
}

impl MemberConns {
    /// No connections yet to `address`, shared by `workers` data plane workers;
    /// `tls` re-encrypts towards the member.
    pub fn new(
        address: SocketAddr,
        tls: Option<TlsConnector>,
        connect_timeout: Duration,
        loops: Arc<LoopGuard>,
        workers: usize,
    ) -> Self {
        Self {
            address,
            tls,
            connect_timeout,
            loops,
            idle: (0..workers.max(1)).map(|_| Mutex::default()).collect(),
            epoch: AtomicU64::new(0),
        }
    }

    /// The idle list of the worker running the caller.
    fn idle(&self) -> &Mutex<Vec<Idle>> {
        &self.idle[workers::current() % self.idle.len()]
    }

    /// A ready idle connection, if any.
    pub async fn checkout(&self) -> Option<Sender> {
        loop {
            let sender = lock(self.idle()).pop()?.sender;
            if sender.is_closed() {
                continue;
            }
            if sender.is_ready() {
                return Some(sender);
            }
            // The previous response just ended; the connection task may not
            // have run since. Waiting for it is far cheaper than a new
            // connection (dropping busy ones churned connections under high
            // concurrency); one still busy after the grace period (its request
            // body still streaming) is dropped.
            let mut sender = sender;
            // Boxed: the timer is rarely needed, and inline it would grow
            // every request's future (moved whole into hyper per request).
            let ready = Box::pin(tokio::time::timeout(READY_GRACE, sender.ready()));
            if let Ok(Ok(())) = ready.await {
                return Some(sender);
            }
        }
    }

    /// Return a connection whose exchange completed.
    pub fn checkin(&self, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = lock(self.idle());
        if idle.len() < MAX_IDLE {
            let epoch = self.epoch.load(Ordering::Relaxed);
            idle.push(Idle { sender, epoch });
        }
    }

    /// Open a new connection (TCP connect bounded by the connect timeout, then
    /// TLS when re-encrypting). Upgrades are enabled so the same path serves
    /// WebSocket requests.
    pub async fn connect(&self) -> io::Result<Sender> {
        let (tcp, outgoing) = connect_tcp(self.address, self.connect_timeout, &self.loops).await?;
        match &self.tls {
            None => handshake(tcp, outgoing).await,
            Some(connector) => {
                let name = member_server_name(self.address.ip());
                let tls = tokio::time::timeout(self.connect_timeout, connector.connect(name, tcp))
                    .await
                    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake"))??;
                handshake(tls, outgoing).await
            }
        }
    }

    /// Start a new epoch and close the connections idle since two epochs
    /// ago; returns how many were closed.
    pub fn expire_idle(&self) -> usize {
        let now = self.epoch.fetch_add(1, Ordering::Relaxed) + 1;
        let mut closed = 0;
        for idle in &self.idle {
            let expired: Vec<Idle> = {
                let mut idle = lock(idle);
                let stale = idle.partition_point(|c| c.epoch + 2 <= now);
                idle.drain(..stale).collect()
            };
            closed += expired.len();
        }
        closed
    }

    /// Drop every idle connection (member removed or data plane stopping).
    pub fn clear(&self) {
        for idle in &self.idle {
            lock(idle).clear();
        }
    }
}

/// Every member's kept-alive connections by (address, TLS), shared by all
/// listeners; an entry lives while a listener config refers to it.
#[derive(Default)]
pub(crate) struct MemberConnsRegistry {
    by_member: Mutex<HashMap<(SocketAddr, bool), Weak<MemberConns>>>,
}

impl MemberConnsRegistry {
    /// The connections to `address` (re-encrypted with `tls` when given),
    /// shared with every config already using them, else new ones over
    /// `workers` idle lists.
    pub fn get(
        &self,
        address: SocketAddr,
        tls: Option<&TlsConnector>,
        connect_timeout: Duration,
        loops: &Arc<LoopGuard>,
        workers: usize,
    ) -> Arc<MemberConns> {
        let key = (address, tls.is_some());
        let mut by_member = lock(&self.by_member);
        if let Some(conns) = by_member.get(&key).and_then(Weak::upgrade) {
            return conns;
        }
        let conns = Arc::new(MemberConns::new(
            address,
            tls.cloned(),
            connect_timeout,
            loops.clone(),
            workers,
        ));
        by_member.insert(key, Arc::downgrade(&conns));
        conns
    }

    /// Forget members no config refers to any more (their connections
    /// closed when the last config holding them was dropped).
    pub fn forget_unused(&self) {
        lock(&self.by_member).retain(|_, c| c.strong_count() > 0);
    }

    /// Drop every idle connection of every member (the data plane stops).
    pub fn clear(&self) {
        lock(&self.by_member)
            .values()
            .filter_map(Weak::upgrade)
            .for_each(|c| c.clear());
    }

    fn live(&self) -> Vec<Arc<MemberConns>> {
        lock(&self.by_member)
            .values()
            .filter_map(Weak::upgrade)
            .collect()
    }
}

/// Close idle member connections every half idle timeout until the registry
/// (the data plane) is gone.
pub(crate) async fn expire_idle_loop(registry: Weak<MemberConnsRegistry>, idle_timeout: Duration) {
    let mut tick = tokio::time::interval((idle_timeout / 2).max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(registry) = registry.upgrade() else {
            return;
        };
        let live = registry.live();
        drop(registry);
        let closed: usize = live.iter().map(|c| c.expire_idle()).sum();
        if closed > 0 {
            debug!(closed, "idle member connections closed");
        }
    }
}

async fn handshake<S>(stream: S, outgoing: Outgoing) -> io::Result<Sender>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = http1::Builder::new()
        .handshake(TokioIo::new(Coalescing(stream)))
        .await
        .map_err(io::Error::other)?;
    tokio::spawn(async move {
        let _outgoing = outgoing;
        if let Err(error) = conn.with_upgrades().await {
            debug!(%error, "member connection ended");
        }
    });
    Ok(sender)
}

/// Connect to a member with a timeout and TCP_NODELAY; the connection's
/// address pair is known to `loops` (see `loops`) until the returned
/// guard is dropped.
pub async fn connect_tcp(
    address: SocketAddr,
    timeout: Duration,
    loops: &Arc<LoopGuard>,
) -> io::Result<(TcpStream, Outgoing)> {
    // Non-blocking from the start: one syscall, not socket + two fcntl.
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )?;
    socket.set_tcp_nodelay(true)?;
    match socket.connect(&address.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    // The kernel chose the local address in `connect`: recorded before the
    // handshake can complete and reach our own accept loop, should the
    // member be one of our listeners.
    let outgoing = loops.outgoing(
        socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("a TCP socket has an IP address"))?,
        address,
    );
    let stream = TcpStream::from_std(socket.into())?;
    tokio::time::timeout(timeout, stream.writable())
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    if let Some(error) = stream.take_error()? {
        return Err(error);
    }
    Ok((stream, outgoing))
}

/// `connect` on a non-blocking socket: the handshake goes on in the
/// background.
const EINPROGRESS: i32 = 115;
