//! The in-process proxy: one bound socket per enabled listener, relaying
//! traffic to pool members.
//!
//! It takes plain specs (`spec.rs`) and answers with counters; it knows
//! nothing of Rocket, SQL or the health checker beyond the shared
//! `MemberStates` registry it reads on every pick.
//!
//! Layout:
//! - `mod.rs` — the [`DataPlane`] handle: apply and remove specs, read
//!   counters, shut down.
//! - `spec.rs` — the plain specs the controller hands in.
//! - `runtime.rs` — what listeners serve with: the shared context, a
//!   listener's swappable config, its pool and members ready to pick from,
//!   and how a config is built from a spec.
//! - `listener.rs` — bind, accept under the connection limit and the
//!   process-wide cap, hand each client to a worker and a protocol, end it
//!   when the drain time is up.
//! - `drain.rs` — the drain and hard-stop signals and the count of live
//!   connections shutdown waits on.
//! - `workers.rs` — the data plane's own single-threaded runtimes.
//! - `tcp.rs` — the L4 relay.
//! - `http/` — the HTTP/1.1 reverse proxy: the client connection's life
//!   (`client.rs`), forwarding a request to a member (`forward.rs`), the
//!   response bodies (`body.rs`).
//! - `sweep.rs` — the per-worker connection sweep: header timeout, shedding
//!   idle connections, the member response timeout (504), the client and
//!   member data timeouts.
//! - `member_conns.rs` — kept-alive connections to each member.
//! - `coalesce.rs` — write coalescing (one `send` instead of `writev`).
//! - `tls.rs` — terminates and re-encrypts.
//! - `balance/` — picks members (round robin, least connections, source IP).
//! - `persistence.rs` — keeps sessions on their member (cookie, stick table).
//! - `member_state.rs` — each member's health and load, shared with the
//!   health checker.
//! - `stats.rs` — per-listener counters and the byte-counting client stream.
//! - `loops.rs` — request loops stopped at run time (hop token, our own
//!   member connections coming back).
//! - `memory.rs` — giving memory back to the system after a burst.
//!
//! Applying a spec builds new immutable listener configs and swaps them in
//! (arc-swap); the hot path never takes the apply lock.

pub mod balance;
mod coalesce;
mod drain;
mod http;
mod listener;
mod loops;
mod member_conns;
pub mod member_state;
mod memory;
mod persistence;
mod runtime;
pub mod spec;
pub mod stats;
mod sweep;
mod tcp;
mod tls;
mod workers;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

use crate::model::{ListenerId, ListenerStats, LoadBalancerId, Protocol};
use crate::sync::{lock, read, write};
use drain::{ConnTracker, StopSignal};
use member_conns::MemberConnsRegistry;
pub use member_state::{MemberState, MemberStates};
use persistence::StickTable;
use runtime::{ConfigBuilder, Context, ListenerShared, Mode};
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
    /// A connection moving data (a TCP session, an upgraded connection, an
    /// HTTP response under way) whose client side makes no progress this
    /// long is closed (Octavia's `timeout_client_data`). Checked by the
    /// sweep: closed up to one sweep period later.
    pub client_data_timeout: Duration,
    /// The same for the member side (Octavia's `timeout_member_data`).
    pub member_data_timeout: Duration,
    /// Client connections over all listeners (HAProxy's global
    /// `maxconn`); `None` derives it from the descriptor limit. At the cap
    /// listeners stop accepting and clients wait in the backlog.
    pub max_connections: Option<usize>,
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
            client_data_timeout: Duration::from_secs(50),
            member_data_timeout: Duration::from_secs(50),
            max_connections: None,
        }
    }
}

/// The connection cap when the descriptor limit cannot be read (or is
/// unlimited).
const DEFAULT_MAX_CONNECTIONS: usize = 100_000;

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
    /// Kept-alive member connections, shared by listeners.
    member_conns: Arc<MemberConnsRegistry>,
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
        let member_conns = Arc::new(MemberConnsRegistry::default());
        let timeouts = sweep::Timeouts {
            header: config.client_header_timeout,
            member_response: config.member_response_timeout,
            client_data: config.client_data_timeout,
            member_data: config.member_data_timeout,
        };
        for worker in workers.handles() {
            worker.spawn(sweep::sweep(timeouts));
        }
        let max_connections = config.max_connections.unwrap_or_else(|| {
            // Read after `limits::raise_nofile_limit` (app start); 0 = unknown.
            match crate::limits::nofile_soft_limit() {
                0 => DEFAULT_MAX_CONNECTIONS,
                nofile => listener::derived_max_connections(nofile),
            }
        });
        info!(max_connections, "data plane connection cap");
        let tracker = Arc::new(ConnTracker::default());
        workers.handles()[0].spawn(memory::trim_after_bursts(Arc::downgrade(&tracker)));
        workers.handles()[0].spawn(member_conns::expire_idle_loop(
            Arc::downgrade(&member_conns),
            config.member_idle_timeout,
        ));
        Ok(Self {
            ctx: Arc::new(Context {
                config,
                tracker,
                drain: StopSignal::new(),
                hard: StopSignal::new(),
                member_tls: tls::member_connector(),
                workers: workers.handles().to_vec(),
                parked: AtomicUsize::new(0),
                // Member connections: about one per client, plus kept-alive.
                loops: Arc::new(loops::LoopGuard::new(max_connections.saturating_mul(2))),
                conn_cap: Arc::new(tokio::sync::Semaphore::new(max_connections)),
                max_connections,
                bulk_buffers: tcp::bulk_buffers(max_connections),
            }),
            members,
            serving: tokio::sync::Mutex::new(HashMap::new()),
            served: RwLock::new(Served::default()),
            counters: Mutex::new(HashMap::new()),
            member_conns,
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
        let mut acceptors = tls_acceptors(lb, &spec)?;
        let wanted: HashMap<ListenerId, SocketAddr> = spec
            .listeners
            .iter()
            .map(|l| (l.id, SocketAddr::new(spec.vip, l.protocol_port)))
            .collect();
        // Release ports first: a listener may move onto a port another one
        // of this load balancer gives up in the same spec.
        self.close_unwanted(lb, &wanted).await;
        for l in &spec.listeners {
            let address = wanted[&l.id];
            let acceptor = acceptors.remove(&l.id);
            if let Some(handle) = lb.listeners.get(&l.id) {
                self.swap_config(handle, l, acceptor);
                continue;
            }
            let handle = self.start_listener(l, address, acceptor)?;
            lb.listeners.insert(l.id, handle);
        }
        self.served_mut().specs.insert(spec.id, spec.clone());
        lb.spec = Some(spec);
        self.member_conns.forget_unused();
        Ok(())
    }

    /// Close the listeners of `lb` that `wanted` drops or moves to another
    /// address; a dropped one is no longer served.
    async fn close_unwanted(
        &self,
        lb: &mut LoadBalancerServing,
        wanted: &HashMap<ListenerId, SocketAddr>,
    ) {
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
    }

    /// Swap in a config built from `l` for a listener that stays bound, when
    /// its spec changed; established connections keep the one they have.
    fn swap_config(
        &self,
        handle: &ListenerHandle,
        l: &ListenerSpec,
        acceptor: Option<TlsAcceptor>,
    ) {
        let old = handle.shared.config.load_full();
        if old.spec != *l {
            let cfg = self
                .config_builder()
                .build(l, handle.address, Some(&old), acceptor);
            handle.shared.config.store(Arc::new(cfg));
            info!(listener_id = %l.id, address = %handle.address, "listener config swapped");
        }
    }

    /// Bind `l` on `address` and start accepting on the next worker in turn.
    fn start_listener(
        &self,
        l: &ListenerSpec,
        address: SocketAddr,
        acceptor: Option<TlsAcceptor>,
    ) -> Result<ListenerHandle, DataPlaneError> {
        let socket = listener::bind(address).map_err(|source| DataPlaneError::Bind {
            listener_id: l.id,
            address,
            source,
        })?;
        let counters = self.counters_for(l);
        let cfg = self.config_builder().build(l, address, None, acceptor);
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
        let task = workers[acceptor]
            .spawn(listener::accept_loop(socket, shared.clone(), cancel.clone()).instrument(span));
        info!(listener_id = %l.id, %address, protocol = %l.protocol, "listener accepting");
        self.served_mut().listeners.insert(l.id, shared.clone());
        Ok(ListenerHandle {
            shared,
            address,
            cancel,
            task,
        })
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
        self.member_conns.forget_unused();
        Ok(())
    }

    /// Kept-alive HTTP client connections idle between requests that hold
    /// no HTTP state (shed a second or two after their last request), over
    /// all listeners.
    pub fn parked_connections(&self) -> usize {
        self.ctx.parked.load(Ordering::Relaxed)
    }

    /// The process-wide connection cap in force.
    pub fn max_connections(&self) -> usize {
        self.ctx.max_connections
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
        self.member_conns.clear();
        info!("data plane stopped");
    }

    fn served_ref(&self) -> RwLockReadGuard<'_, Served> {
        read(&self.served)
    }

    fn served_mut(&self) -> RwLockWriteGuard<'_, Served> {
        write(&self.served)
    }

    fn counters_for(&self, l: &ListenerSpec) -> Arc<ListenerCounters> {
        lock(&self.counters)
            .entry(l.id)
            .or_insert_with(|| Arc::new(ListenerCounters::seeded(l.stats_base)))
            .clone()
    }

    fn config_builder(&self) -> ConfigBuilder<'_> {
        ConfigBuilder {
            ctx: &self.ctx,
            members: &self.members,
            conns: &self.member_conns,
        }
    }
}

/// The TLS acceptor of every terminating HTTPS listener of `spec`, checked
/// before anything changes; one whose material is unchanged is reused.
fn tls_acceptors(
    lb: &LoadBalancerServing,
    spec: &LoadBalancerSpec,
) -> Result<HashMap<ListenerId, TlsAcceptor>, DataPlaneError> {
    let mut acceptors = HashMap::new();
    for l in &spec.listeners {
        let (Protocol::Https, Some(material)) = (l.protocol, &l.tls) else {
            continue;
        };
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
    Ok(acceptors)
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
