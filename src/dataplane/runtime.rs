//! What a listener serves with at run time: the state every listener of one
//! data plane shares ([`Context`]), the part of a listener that outlives
//! config swaps ([`ListenerShared`]), one immutable version of its config
//! ([`ListenerConfig`], with its pool and members ready to pick from), and
//! how a new version is built from a spec ([`ConfigBuilder`]).
//!
//! A listener's config sits behind an `ArcSwap`: a TCP connection keeps the
//! config it was accepted with; an HTTP connection loads the newest one per
//! request, so a removed member gets no new requests even on kept-alive
//! client connections. Building a config reads the member registry and the
//! kept-alive member connections, nothing else: not the store, not the API.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arc_swap::ArcSwap;
use hyper::header::HeaderValue;
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::DataPlaneConfig;
use super::balance::{Candidate, Selector, Tried, member_cookie_key};
use super::drain::{ConnTracker, StopSignal};
use super::loops::LoopGuard;
use super::member_conns::{MemberConns, MemberConnsRegistry};
use super::member_state::{MemberState, MemberStates};
use super::persistence::{self, Choice, StickTable};
use super::spec::{ListenerSpec, Persistence, PoolSpec};
use super::stats::ListenerCounters;
use crate::model::{ListenerId, MemberId, Protocol};

/// What every listener of one data plane shares.
pub(crate) struct Context {
    /// The data plane's tunables (timeouts, workers).
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
    /// Kept-alive HTTP connections idle without HTTP state
    /// (`http::client::serve`).
    pub parked: AtomicUsize,
    /// The hop token and our member connections' addresses (`loops`).
    pub loops: Arc<LoopGuard>,
    /// Process-wide connection cap (HAProxy's global `maxconn`): every
    /// accepted client holds a permit.
    pub conn_cap: Arc<Semaphore>,
    /// The permits `conn_cap` started with.
    pub max_connections: usize,
    /// Permits for the TCP relay's 64 KiB bulk buffers (`tcp::bulk_buffers`).
    pub bulk_buffers: Semaphore,
}

/// The part of a listener that outlives config swaps.
pub(crate) struct ListenerShared {
    pub id: ListenerId,
    /// The newest config; swapped whole when the spec changes.
    pub config: ArcSwap<ListenerConfig>,
    /// Kept for the life of the process (seeded once from the spec).
    pub counters: Arc<ListenerCounters>,
    /// SOURCE_IP persistence, kept across config swaps.
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
    /// The spec this version was built from (compared to skip no-op swaps).
    pub spec: ListenerSpec,
    pub mode: Mode,
    /// Permits = connection_limit; `None` is unlimited.
    pub limiter: Option<Arc<Semaphore>>,
    /// `None`: HTTP answers 503, TCP closes.
    pub pool: Option<PoolRuntime>,
    /// `X-Forwarded-Proto` value.
    pub forwarded_proto: HeaderValue,
    /// `X-Forwarded-Port` value.
    pub forwarded_port: HeaderValue,
    /// The listener's address as a `Host` value, for HTTP/1.0 requests
    /// that carry none.
    pub host: HeaderValue,
}

/// A pool ready to pick from.
pub(crate) struct PoolRuntime {
    /// The algorithm over the members' candidates.
    pub selector: Selector,
    /// Same indices as the selector's candidates.
    pub members: Vec<MemberRuntime>,
    /// How sessions stay on their member; `None` for none.
    pub persistence: Option<Persistence>,
}

/// One member ready to receive traffic.
pub(crate) struct MemberRuntime {
    pub id: MemberId,
    pub address: SocketAddr,
    /// Health and load, shared with the health checker and other listeners.
    pub state: Arc<MemberState>,
    /// Opaque cookie value naming this member.
    pub cookie_key: String,
    /// `Set-Cookie` value inserted for HTTP_COOKIE persistence.
    pub set_cookie: Option<HeaderValue>,
    /// Kept-alive HTTP connections to this member.
    pub conns: Arc<MemberConns>,
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

    /// Persistence first (cookie member, then stick table), else the
    /// algorithm; see [`persistence::choose`].
    pub fn choose(
        &self,
        client: IpAddr,
        cookie_member: Option<usize>,
        stick: &StickTable,
        tried: &Tried,
    ) -> Option<Choice> {
        persistence::choose(
            self.persistence.as_ref(),
            &self.selector,
            |i| self.members[i].id,
            client,
            cookie_member,
            stick,
            tried,
        )
    }
}

/// Counts a connection or request against a member for LEAST_CONNECTIONS.
pub(crate) struct MemberLoad(Arc<MemberState>);

impl MemberLoad {
    /// Count one more on `state` until dropped.
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

/// Builds listener configs from specs, resolving members against the
/// registry the health checker writes and sharing kept-alive member
/// connections between configs.
pub(crate) struct ConfigBuilder<'a> {
    pub ctx: &'a Context,
    /// The member registry the health checker writes.
    pub members: &'a MemberStates,
    /// Kept-alive member connections, shared between configs.
    pub conns: &'a MemberConnsRegistry,
}

impl ConfigBuilder<'_> {
    /// The config serving `l` on `address`; `old` is the version it
    /// replaces (its connection limiter carries over), `acceptor` the TLS
    /// acceptor of a terminating HTTPS listener.
    pub fn build(
        &self,
        l: &ListenerSpec,
        address: SocketAddr,
        old: Option<&ListenerConfig>,
        acceptor: Option<TlsAcceptor>,
    ) -> ListenerConfig {
        let mode = match (l.protocol, acceptor) {
            (Protocol::Tcp, _) | (Protocol::Https, None) => Mode::Tcp,
            (Protocol::Http, _) => Mode::Http,
            (Protocol::Https, Some(a)) => Mode::Https(a),
        };
        let forwarded_proto = HeaderValue::from_static(match mode {
            Mode::Https(_) => "https",
            _ => "http",
        });
        let reencrypt = !matches!(mode, Mode::Tcp);
        ListenerConfig {
            limiter: limiter(l, old),
            spec: l.clone(),
            mode,
            pool: l.pool.as_ref().map(|p| self.pool(p, reencrypt)),
            forwarded_proto,
            forwarded_port: HeaderValue::from(l.protocol_port),
            host: HeaderValue::from_str(&address.to_string())
                .expect("a socket address is a valid header value"),
        }
    }

    /// The pool of `p`; `reencrypt` when the listener speaks HTTP to its
    /// members (an HTTPS pool then gets TLS).
    fn pool(&self, p: &PoolSpec, reencrypt: bool) -> PoolRuntime {
        let tls = (reencrypt && p.protocol == Protocol::Https).then_some(&self.ctx.member_tls);
        let cookie_name = match &p.persistence {
            Some(Persistence::HttpCookie { cookie_name }) => Some(cookie_name.as_str()),
            _ => None,
        };
        let mut candidates = Vec::with_capacity(p.members.len());
        let mut members = Vec::with_capacity(p.members.len());
        for m in &p.members {
            let state = self.members.get(m.id);
            let cookie_key = member_cookie_key(m.id);
            let set_cookie = cookie_name.and_then(|name| {
                HeaderValue::from_str(&format!("{name}={cookie_key}; Path=/")).ok()
            });
            candidates.push(Candidate::new(m.weight, state.clone(), m.address));
            members.push(MemberRuntime {
                id: m.id,
                address: m.address,
                state,
                cookie_key,
                set_cookie,
                conns: self.conns.get(
                    m.address,
                    tls,
                    self.ctx.config.member_connect_timeout,
                    &self.ctx.loops,
                    self.ctx.workers.len(),
                ),
            });
        }
        PoolRuntime {
            selector: Selector::new(p.algorithm, candidates),
            members,
            persistence: p.persistence.clone(),
        }
    }
}

/// The semaphore for the new config: the old one resized when both have a
/// limit (connections holding permits keep counting), else a new one.
fn limiter(l: &ListenerSpec, old: Option<&ListenerConfig>) -> Option<Arc<Semaphore>> {
    let old_sem = old.and_then(|o| o.limiter.clone());
    let old_limit = old.and_then(|o| o.spec.connection_limit);
    match (old_sem, old_limit, l.connection_limit) {
        (Some(sem), Some(before), Some(after)) => {
            if after > before {
                sem.add_permits((after - before) as usize);
            } else if after < before {
                // Take the surplus out as connections close.
                let sem2 = sem.clone();
                tokio::spawn(async move {
                    if let Ok(p) = sem2.acquire_many_owned(before - after).await {
                        p.forget();
                    }
                });
            }
            Some(sem)
        }
        (old_sem, _, after) => {
            if let Some(sem) = old_sem {
                // Wakes an accept loop waiting on it to read the new config.
                sem.close();
            }
            // Connections accepted under the old limit are not counted by
            // the new semaphore (their permits return to the old one).
            after.map(|n| Arc::new(Semaphore::new(n as usize)))
        }
    }
}
