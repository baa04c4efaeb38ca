//! The in-process proxy: one bound socket per enabled listener, relaying
//! traffic to pool members.
//!
//! It takes plain specs (`spec.rs`) and answers with counters; it knows
//! nothing of Rocket, SQL or the health checker beyond the shared
//! `MemberStates` registry it reads on every pick.
//!
//! Layout: `listener.rs` binds, accepts under the connection limit and owns
//! the swappable per-listener config; `tcp.rs` is the L4 relay; `http.rs` the
//! HTTP/1.1 reverse proxy over `member_pool.rs` keep-alive connections;
//! `tls.rs` terminates and re-encrypts; `balance/` picks members;
//! `persistence.rs` keeps sessions on their member; `stats.rs` counts;
//! `workers.rs` runs the data plane's own single-threaded runtimes.
//!
//! Applying a spec builds new immutable listener configs and swaps them in
//! (arc-swap); the hot path never takes the apply lock.

pub mod balance;
mod head_timeout;
mod http;
mod io;
mod listener;
mod member_pool;
pub mod member_state;
mod persistence;
mod signal;
pub mod spec;
pub mod stats;
mod tcp;
mod tls;
mod workers;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper::header::HeaderValue;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::model::{ListenerId, ListenerStats, LoadBalancerId, Protocol};
use balance::{Candidate, Selector, member_cookie_key};
use listener::{
    ConnTracker, Context, ListenerConfig, ListenerShared, MemberRuntime, Mode, PoolRuntime,
};
use member_pool::MemberPool;
pub use member_state::{MemberState, MemberStates};
use persistence::StickTable;
use signal::StopSignal;
pub use spec::*;
use stats::ListenerCounters;
pub use tls::member_connector as member_tls_connector;
use workers::Workers;

/// Why applying a spec failed.
#[derive(Debug, thiserror::Error)]
pub enum DataPlaneError {
    #[error("cannot bind listener {listener_id} on {address}: {source}")]
    Bind {
        listener_id: ListenerId,
        address: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid TLS material for listener {listener_id}: {reason}")]
    Tls {
        listener_id: ListenerId,
        reason: String,
    },
    #[error("the data plane is shutting down")]
    ShuttingDown,
}

/// Tunables of the data plane.
#[derive(Clone, Debug)]
pub struct DataPlaneConfig {
    /// How long SIGTERM waits for in-flight connections before closing them.
    pub drain_timeout: Duration,
    /// Connect timeout towards a member (also bounds a member TLS handshake).
    pub member_connect_timeout: Duration,
    /// How long a client may take to complete a TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// SOURCE_IP persistence: a client unseen this long loses its member.
    pub stick_table_idle: Duration,
    /// HTTP: how long a client may take to send a request head, idle
    /// keep-alive time included, before its connection is closed (checked
    /// every second, or every half timeout if shorter, so closed up to one
    /// such period later; a new connection that sends nothing at all, after
    /// exactly this long).
    pub client_header_timeout: Duration,
    /// Worker threads carrying the traffic (HAProxy's `nbthread`).
    pub workers: usize,
    /// A kept-alive member connection unused for this long (at most) is
    /// closed.
    pub member_idle_timeout: Duration,
    /// HTTP: a member that has not begun its response this long after the
    /// request went out gets the client a 504 (HAProxy's `timeout server`).
    /// Checked by the header-timeout sweep, so it fires up to one sweep
    /// period (at most a second) later.
    pub member_response_timeout: Duration,
}

impl Default for DataPlaneConfig {
    fn default() -> Self {
        Self {
            drain_timeout: Duration::from_secs(5),
            member_connect_timeout: Duration::from_secs(3),
            tls_handshake_timeout: Duration::from_secs(10),
            stick_table_idle: Duration::from_secs(30 * 60),
            client_header_timeout: Duration::from_secs(30),
            workers: default_workers(),
            member_idle_timeout: Duration::from_secs(10),
            member_response_timeout: Duration::from_secs(60),
        }
    }
}

/// One worker per CPU.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// One bound listener and its accept task.
struct ListenerHandle {
    shared: Arc<ListenerShared>,
    address: SocketAddr,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl ListenerHandle {
    /// Stop accepting; the socket is closed when this returns. Established
    /// connections carry on with the config they have.
    async fn close(self) {
        self.cancel.cancel();
        if let Err(error) = self.task.await {
            warn!(listener_id = %self.shared.id, %error, "accept task failed");
        }
        info!(listener_id = %self.shared.id, address = %self.address, "listener closed");
    }
}

#[derive(Default)]
struct LoadBalancerServing {
    /// The spec fully applied; `None` while (or after failing) applying.
    spec: Option<LoadBalancerSpec>,
    listeners: HashMap<ListenerId, ListenerHandle>,
}

/// What reads (stats, `served`) look at; a short lock off the hot path.
#[derive(Default)]
struct Served {
    listeners: HashMap<ListenerId, Arc<ListenerShared>>,
    specs: HashMap<LoadBalancerId, LoadBalancerSpec>,
}

/// Member connection pools by (address, TLS); a pool lives while a listener
/// config refers to it.
type MemberPools = Mutex<HashMap<(SocketAddr, bool), Weak<MemberPool>>>;

/// Close idle member connections every half idle timeout until the data
/// plane is gone.
async fn expire_idle_member_connections(pools: Weak<MemberPools>, idle_timeout: Duration) {
    let mut tick = tokio::time::interval((idle_timeout / 2).max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(pools) = pools.upgrade() else { return };
        let live: Vec<Arc<MemberPool>> = pools
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter_map(Weak::upgrade)
            .collect();
        drop(pools);
        let closed: usize = live.iter().map(|p| p.expire_idle()).sum();
        if closed > 0 {
            debug!(closed, "idle member connections closed");
        }
    }
}

/// Handle to the data plane; cheap to share behind an `Arc`.
pub struct DataPlane {
    ctx: Arc<Context>,
    members: Arc<MemberStates>,
    /// Serialises applies and removes (they await socket closes).
    serving: tokio::sync::Mutex<HashMap<LoadBalancerId, LoadBalancerServing>>,
    served: RwLock<Served>,
    /// Counters by listener id, kept for the life of the process so a
    /// listener seeds from `stats_base` once and never goes backwards.
    counters: Mutex<HashMap<ListenerId, Arc<ListenerCounters>>>,
    /// Keep-alive member connections by (address, TLS), shared by listeners.
    member_pools: Arc<MemberPools>,
    stopping: AtomicBool,
    /// Which worker runs the next listener's accept loop.
    next_acceptor: AtomicUsize,
    /// Declared last: dropped after everything above, it stops the threads.
    _workers: Workers,
}

impl DataPlane {
    /// A data plane serving nothing yet, its worker threads started. Call
    /// inside a tokio runtime (applies run on the caller's runtime).
    pub fn new(config: DataPlaneConfig, members: Arc<MemberStates>) -> std::io::Result<Self> {
        let workers = Workers::start(config.workers)?;
        let member_pools = Arc::new(MemberPools::default());
        for worker in workers.handles() {
            worker.spawn(head_timeout::sweep(
                config.client_header_timeout,
                config.member_response_timeout,
            ));
        }
        workers.handles()[0].spawn(expire_idle_member_connections(
            Arc::downgrade(&member_pools),
            config.member_idle_timeout,
        ));
        Ok(Self {
            ctx: Arc::new(Context {
                config,
                tracker: Arc::new(ConnTracker::default()),
                drain: StopSignal::new(),
                hard: StopSignal::new(),
                member_tls: tls::member_connector(),
                workers: workers.handles().to_vec(),
                parked: AtomicUsize::new(0),
            }),
            members,
            serving: tokio::sync::Mutex::new(HashMap::new()),
            served: RwLock::new(Served::default()),
            counters: Mutex::new(HashMap::new()),
            member_pools,
            stopping: AtomicBool::new(false),
            next_acceptor: AtomicUsize::new(0),
            _workers: workers,
        })
    }

    /// The member registry shared with the health checker.
    pub fn member_states(&self) -> &Arc<MemberStates> {
        &self.members
    }

    /// Serve exactly `spec` for its load balancer: bind new listeners, rebind
    /// moved ones, close removed ones, swap pools atomically. When this
    /// returns Ok every listener of the spec accepts connections and every
    /// port it no longer names is closed. Applying the same spec twice
    /// changes nothing. TLS material is checked before anything changes.
    pub async fn apply(&self, spec: LoadBalancerSpec) -> Result<(), DataPlaneError> {
        if self.stopping.load(Ordering::Acquire) {
            return Err(DataPlaneError::ShuttingDown);
        }
        let mut serving = self.serving.lock().await;
        let lb = serving.entry(spec.id).or_default();
        if lb.spec.as_ref() == Some(&spec) {
            return Ok(());
        }
        lb.spec = None;

        let mut acceptors = HashMap::new();
        for l in &spec.listeners {
            if let (Protocol::Https, Some(material)) = (l.protocol, &l.tls) {
                let reuse = lb.listeners.get(&l.id).and_then(|h| {
                    let old = h.shared.config.load();
                    match (&old.mode, &old.spec.tls) {
                        (Mode::Https(a), Some(m)) if m == material => Some(a.clone()),
                        _ => None,
                    }
                });
                let acceptor = match reuse {
                    Some(a) => a,
                    None => tls::acceptor(material).map_err(|reason| DataPlaneError::Tls {
                        listener_id: l.id,
                        reason,
                    })?,
                };
                acceptors.insert(l.id, acceptor);
            }
        }

        // Release ports first: a listener may move onto a port another one
        // of this load balancer gives up in the same spec.
        let wanted: HashMap<ListenerId, SocketAddr> = spec
            .listeners
            .iter()
            .map(|l| (l.id, SocketAddr::new(spec.vip, l.protocol_port)))
            .collect();
        let to_close: Vec<ListenerId> = lb
            .listeners
            .iter()
            .filter(|(id, h)| wanted.get(id) != Some(&h.address))
            .map(|(id, _)| *id)
            .collect();
        for id in to_close {
            if let Some(handle) = lb.listeners.remove(&id) {
                handle.close().await;
            }
            if !wanted.contains_key(&id) {
                self.served_mut().listeners.remove(&id);
            }
        }

        for l in &spec.listeners {
            let address = wanted[&l.id];
            let acceptor = acceptors.remove(&l.id);
            if let Some(handle) = lb.listeners.get(&l.id) {
                let old = handle.shared.config.load_full();
                if old.spec != *l {
                    let cfg = self.build_config(l, Some(&old), acceptor);
                    handle.shared.config.store(Arc::new(cfg));
                    info!(listener_id = %l.id, %address, "listener config swapped");
                }
                continue;
            }
            let socket = listener::bind(address).map_err(|source| DataPlaneError::Bind {
                listener_id: l.id,
                address,
                source,
            })?;
            let counters = self.counters_for(l);
            let cfg = self.build_config(l, None, acceptor);
            let shared = Arc::new(ListenerShared {
                id: l.id,
                config: ArcSwap::from_pointee(cfg),
                counters,
                stick: StickTable::new(self.ctx.config.stick_table_idle),
                ctx: self.ctx.clone(),
                next_worker: AtomicUsize::new(0),
            });
            let cancel = CancellationToken::new();
            let span = info_span!("listener", listener_id = %l.id, %address);
            let workers = &self.ctx.workers;
            let acceptor = self.next_acceptor.fetch_add(1, Ordering::Relaxed) % workers.len();
            // Bound here, registered by the worker that accepts on it.
            let task = workers[acceptor].spawn(
                listener::accept_loop(socket, shared.clone(), cancel.clone()).instrument(span),
            );
            info!(listener_id = %l.id, %address, protocol = %l.protocol, "listener accepting");
            self.served_mut().listeners.insert(l.id, shared.clone());
            lb.listeners.insert(
                l.id,
                ListenerHandle {
                    shared,
                    address,
                    cancel,
                    task,
                },
            );
        }

        self.served_mut().specs.insert(spec.id, spec.clone());
        lb.spec = Some(spec);
        self.sweep_member_pools();
        Ok(())
    }

    /// Stop serving a load balancer; its ports are closed when this returns.
    pub async fn remove(&self, id: LoadBalancerId) -> Result<(), DataPlaneError> {
        let mut serving = self.serving.lock().await;
        if let Some(lb) = serving.remove(&id) {
            let ids: Vec<ListenerId> = lb.listeners.keys().copied().collect();
            for handle in lb.listeners.into_values() {
                handle.close().await;
            }
            let mut served = self.served_mut();
            for lid in ids {
                served.listeners.remove(&lid);
            }
            served.specs.remove(&id);
        }
        drop(serving);
        self.sweep_member_pools();
        Ok(())
    }

    /// Kept-alive HTTP client connections idle between requests that hold
    /// no HTTP state (shed a second or two after their last request), over
    /// all listeners.
    pub fn parked_connections(&self) -> usize {
        self.ctx.parked.load(Ordering::Relaxed)
    }

    /// The spec currently served for a load balancer, if any.
    pub fn served(&self, id: LoadBalancerId) -> Option<LoadBalancerSpec> {
        self.served_ref().specs.get(&id).cloned()
    }

    /// Live counters of a listener the data plane serves (totals include the
    /// spec's `stats_base`); `None` when it serves no such listener.
    pub fn listener_stats(&self, id: ListenerId) -> Option<ListenerStats> {
        self.served_ref()
            .listeners
            .get(&id)
            .map(|l| l.counters.snapshot())
    }

    /// Counters of every listener served, for periodic persistence.
    pub fn all_listener_stats(&self) -> Vec<(ListenerId, ListenerStats)> {
        self.served_ref()
            .listeners
            .iter()
            .map(|(id, l)| (*id, l.counters.snapshot()))
            .collect()
    }

    /// Whether a listener is at its connection_limit now (DEGRADED roll-up).
    pub fn at_connection_limit(&self, id: ListenerId) -> bool {
        let served = self.served_ref();
        let Some(l) = served.listeners.get(&id) else {
            return false;
        };
        let limit = l.config.load().spec.connection_limit;
        limit.is_some_and(|limit| {
            l.counters.active_connections.load(Ordering::Relaxed) >= u64::from(limit)
        })
    }

    /// Stop accepting everywhere, let in-flight connections finish for at
    /// most the drain timeout, then close them. Counters stay readable so the
    /// caller can persist them afterwards.
    pub async fn shutdown(&self) {
        self.stopping.store(true, Ordering::Release);
        let mut serving = self.serving.lock().await;
        let handles: Vec<ListenerHandle> = serving
            .values_mut()
            .flat_map(|lb| {
                lb.spec = None;
                lb.listeners.drain().map(|(_, h)| h)
            })
            .collect();
        for h in &handles {
            h.cancel.cancel();
        }
        for h in handles {
            h.close().await;
        }
        let open = self.ctx.tracker.count();
        info!(open_connections = open, "data plane draining");
        self.ctx.drain.cancel();
        let drained =
            tokio::time::timeout(self.ctx.config.drain_timeout, self.ctx.tracker.wait_idle())
                .await
                .is_ok();
        if !drained {
            warn!(
                open_connections = self.ctx.tracker.count(),
                "drain time is up; closing the remaining connections"
            );
        }
        self.ctx.hard.cancel();
        // Tasks end at their next poll after the hard cancel; bounded anyway.
        let _ = tokio::time::timeout(Duration::from_secs(1), self.ctx.tracker.wait_idle()).await;
        if let Ok(pools) = self.member_pools.lock() {
            pools
                .values()
                .filter_map(Weak::upgrade)
                .for_each(|p| p.clear());
        }
        info!("data plane stopped");
    }

    fn served_ref(&self) -> std::sync::RwLockReadGuard<'_, Served> {
        // A panic while holding this lock leaves plain maps behind: still valid.
        self.served.read().unwrap_or_else(|e| e.into_inner())
    }

    fn served_mut(&self) -> std::sync::RwLockWriteGuard<'_, Served> {
        self.served.write().unwrap_or_else(|e| e.into_inner())
    }

    fn counters_for(&self, l: &ListenerSpec) -> Arc<ListenerCounters> {
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        counters
            .entry(l.id)
            .or_insert_with(|| Arc::new(ListenerCounters::seeded(l.stats_base)))
            .clone()
    }

    fn member_pool(&self, address: SocketAddr, tls: bool) -> Arc<MemberPool> {
        let mut pools = self.member_pools.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pool) = pools.get(&(address, tls)).and_then(Weak::upgrade) {
            return pool;
        }
        let pool = Arc::new(MemberPool::new(
            address,
            tls.then(|| self.ctx.member_tls.clone()),
            self.ctx.config.member_connect_timeout,
            self.ctx.workers.len(),
        ));
        pools.insert((address, tls), Arc::downgrade(&pool));
        pool
    }

    /// Forget pools no config refers to any more (their connections closed
    /// when the last config holding them was dropped).
    fn sweep_member_pools(&self) {
        let mut pools = self.member_pools.lock().unwrap_or_else(|e| e.into_inner());
        pools.retain(|_, p| p.strong_count() > 0);
    }

    fn build_config(
        &self,
        l: &ListenerSpec,
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
        let pool = l.pool.as_ref().map(|p| {
            let tls = reencrypt && p.protocol == Protocol::Https;
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
                    conns: self.member_pool(m.address, tls),
                });
            }
            PoolRuntime {
                selector: Selector::new(p.algorithm, candidates),
                members,
                persistence: p.persistence.clone(),
            }
        });
        ListenerConfig {
            limiter: self.limiter(l, old),
            spec: l.clone(),
            mode,
            pool,
            forwarded_proto,
            forwarded_port: HeaderValue::from(l.protocol_port),
        }
    }

    /// The semaphore for the new config: the old one resized when both have a
    /// limit (connections holding permits keep counting), else a new one.
    fn limiter(&self, l: &ListenerSpec, old: Option<&ListenerConfig>) -> Option<Arc<Semaphore>> {
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
}

impl Drop for DataPlane {
    fn drop(&mut self) {
        // Without a shutdown call, at least stop the accept tasks so the
        // ports close when the runtime next polls them.
        for lb in self.serving.get_mut().values() {
            for h in lb.listeners.values() {
                h.cancel.cancel();
            }
        }
    }
}
