//! The health checker: which members are monitored, when each is probed, and
//! what a verdict does to the data plane.
//!
//! One tokio task per monitored member sleeps until its next probe; a single
//! sweeper reads the data plane's connect-failure counters every
//! [`PASSIVE_SWEEP`]. Both feed the member's [`Tracker`] under a short lock,
//! and a status change is applied (`set_up`), logged and announced in that
//! same section so the three can never disagree in order. Never touches
//! SQLite; the controller persists the [`MemberStatusChange`]s.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior, sleep_until};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::probe::{ProbeError, Prober};
use super::tracker::{Tracker, Transition};
use super::{MemberStatusChange, MonitorSettings, PoolMonitorSpec};
use crate::dataplane::{MemberState, MemberStates};
use crate::model::{HealthMonitorType, LoadBalancerId, MemberId, OperatingStatus, PoolId};
use crate::sync::lock;

/// How often the sweeper reads the data plane's passive signal: a member that
/// refuses connections leaves rotation this soon, not at its next probe.
pub(crate) const PASSIVE_SWEEP: Duration = Duration::from_millis(200);

/// Probes members of monitored pools and steers their readiness. Share it as
/// an `Arc`; dropping the last handle stops every probe.
pub struct HealthChecker {
    inner: Arc<Inner>,
}

struct Inner {
    member_states: Arc<MemberStates>,
    /// Parent of every task's token: cancelled by the app's shutdown or when
    /// the checker is dropped.
    tasks: CancellationToken,
    runtime: tokio::runtime::Handle,
    events: mpsc::UnboundedSender<MemberStatusChange>,
    prober: Arc<Prober>,
    /// Told the type and result of every probe (metrics); set once.
    observer: Arc<std::sync::OnceLock<ProbeObserver>>,
    registry: Mutex<Registry>,
}

#[derive(Default)]
struct Registry {
    pools: HashMap<PoolId, PoolSlot>,
    /// Every member with a probe task, keyed by id (member ids are unique
    /// across pools).
    monitored: HashMap<MemberId, Arc<Watched>>,
    sweeper_started: bool,
}

/// The last spec applied for one pool.
struct PoolSlot {
    /// `Some` while the pool has an enabled monitor; member tasks subscribe.
    settings: Option<watch::Sender<Arc<MonitorSettings>>>,
    members: HashMap<MemberId, SocketAddr>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.tasks.cancel();
    }
}

/// What a monitored member's status rests on, for people reading it: the
/// last probe and, since the last change, the status with its cause. Kept in
/// memory only; a restart starts over.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MemberHealth {
    /// The verdict; `None` while a new member awaits its first result.
    pub status: Option<OperatingStatus>,
    /// Why the status is what it is (`connect failed: Connection refused
    /// (os error 111), 2 consecutive failures`); `None` before the first change.
    pub cause: Option<String>,
    /// When the status last changed, in Unix seconds.
    pub since: Option<i64>,
    /// The most recent active probe; `None` before the first one ends.
    pub last_probe: Option<LastProbe>,
}

/// One finished probe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LastProbe {
    /// PING, TCP, HTTP or HTTPS.
    #[serde(rename = "type")]
    pub kind: HealthMonitorType,
    /// `success`, `failure`, or `error` when the probe could not run at all.
    pub result: &'static str,
    /// The failure's reason; `None` on success.
    pub detail: Option<String>,
    /// How long the probe took, in milliseconds.
    pub latency_ms: u64,
    /// When it ended, in Unix seconds.
    pub at: i64,
}

/// Wall-clock Unix seconds, for what people read; scheduling uses `Instant`.
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Receives (probe type, result) after each probe.
pub type ProbeObserver = Box<dyn Fn(&str, &str) + Send + Sync>;

impl HealthChecker {
    /// A checker probing nothing; spawns nothing until a monitored pool is
    /// applied. Must be called inside a tokio runtime (its tasks run there).
    /// Status changes arrive on the returned receiver, one per change.
    pub fn new(
        members: Arc<MemberStates>,
        shutdown: CancellationToken,
    ) -> (Self, mpsc::UnboundedReceiver<MemberStatusChange>) {
        let (events, receiver) = mpsc::unbounded_channel();
        let inner = Inner {
            member_states: members,
            tasks: shutdown.child_token(),
            runtime: tokio::runtime::Handle::current(),
            events,
            prober: Arc::new(Prober::new()),
            observer: Arc::new(std::sync::OnceLock::new()),
            registry: Mutex::new(Registry::default()),
        };
        (
            Self {
                inner: Arc::new(inner),
            },
            receiver,
        )
    }

    /// Have `observe(type, result)` called after every probe, with result
    /// `success`, `failure` or `error` (the probe cannot run). Set once;
    /// later calls are ignored.
    pub fn observe_probes(&self, observe: ProbeObserver) {
        // A second observer is ignored by contract.
        let _ = self.inner.observer.set(observe);
    }

    /// Start, update or stop probing one pool; idempotent. Members that stay
    /// keep their counters and status; a monitor change (type, delay,
    /// thresholds, HTTP settings) reaches their tasks without restarting
    /// them or other pools. A member new to monitoring is taken out of
    /// rotation until its first success and probed at once — except one that
    /// was already serving in this pool before the pool gained its monitor,
    /// which stays ONLINE until `fall_threshold` failures. `monitor: None`
    /// stops the pool's probes and puts its members in rotation. A member
    /// that leaves the spec (deleted or disabled) loses its shared state.
    /// Call before the data plane applies the same change, so a new member
    /// never receives traffic before its first probe.
    pub fn apply_pool(&self, spec: PoolMonitorSpec) {
        let inner = &self.inner;
        let mut registry = lock(&inner.registry);
        let Registry {
            pools,
            monitored,
            sweeper_started,
        } = &mut *registry;
        let slot = pools.entry(spec.pool_id).or_insert_with(|| PoolSlot {
            settings: None,
            members: HashMap::new(),
        });
        let wanted: HashMap<MemberId, SocketAddr> = spec.members.iter().copied().collect();

        for (id, address) in &slot.members {
            if wanted.get(id) != Some(address) {
                // Gone, or moved to another address: a moved member starts
                // over as a new one.
                if let Some(watched) = monitored.remove(id) {
                    watched.retire();
                }
            }
            if !wanted.contains_key(id) {
                inner.member_states.remove(*id);
            }
        }

        match spec.monitor {
            None => {
                if slot.settings.take().is_some() {
                    tracing::info!(pool_id = %spec.pool_id, "health monitor off: members in rotation");
                }
                for id in wanted.keys() {
                    // Retire first: a probe still in flight must not take the
                    // member back out after it is put in rotation below.
                    if let Some(watched) = monitored.remove(id) {
                        watched.retire();
                    }
                    inner.member_states.get_or_insert(*id, true).set_up(true);
                }
            }
            Some(settings) => {
                let was_monitored = slot.settings.is_some();
                let sender = slot.settings.get_or_insert_with(|| {
                    tracing::info!(pool_id = %spec.pool_id, kind = %settings.kind, "health monitor on");
                    watch::channel(Arc::new(settings.clone())).0
                });
                sender.send_if_modified(|current| {
                    let changed = **current != settings;
                    if changed {
                        tracing::info!(pool_id = %spec.pool_id, kind = %settings.kind, "health monitor changed");
                        *current = Arc::new(settings.clone());
                    }
                    changed
                });
                if !*sweeper_started {
                    *sweeper_started = true;
                    inner.runtime.spawn(sweep_passive_failures(
                        Arc::downgrade(inner),
                        inner.tasks.clone(),
                    ));
                }
                for (&id, &address) in &wanted {
                    if monitored.contains_key(&id) {
                        continue;
                    }
                    let serving = !was_monitored && slot.members.get(&id) == Some(&address);
                    let state = inner.member_states.get_or_insert(id, false);
                    let tracker = if serving {
                        Tracker::online()
                    } else {
                        state.set_up(false);
                        Tracker::undecided()
                    };
                    let watched = Arc::new(Watched {
                        member_id: id,
                        pool_id: spec.pool_id,
                        load_balancer_id: spec.load_balancer_id,
                        address,
                        state,
                        guarded: Mutex::new(Guarded {
                            tracker,
                            retired: false,
                            last_probe: None,
                            changed: None,
                        }),
                        settings: sender.subscribe(),
                        events: inner.events.clone(),
                        cancel: inner.tasks.child_token(),
                    });
                    monitored.insert(id, watched.clone());
                    let prober = inner.prober.clone();
                    let observer = inner.observer.clone();
                    let probe = move |settings: Arc<MonitorSettings>, address| {
                        let prober = prober.clone();
                        let observer = observer.clone();
                        async move {
                            let result = prober.probe(&settings, address).await;
                            if let Some(observe) = observer.get() {
                                observe(settings.kind.as_str(), outcome_of(&result));
                            }
                            result
                        }
                    };
                    let span = tracing::info_span!("member_health", member_id = %id, %address);
                    let settings = sender.subscribe();
                    inner
                        .runtime
                        .spawn(run_member(watched, settings, probe).instrument(span));
                }
            }
        }
        slot.members = wanted;
    }

    /// Stop probing a deleted pool and forget its members' shared states.
    pub fn remove_pool(&self, pool_id: PoolId) {
        let inner = &self.inner;
        let mut registry = lock(&inner.registry);
        let Some(slot) = registry.pools.remove(&pool_id) else {
            return;
        };
        for id in slot.members.keys() {
            if let Some(watched) = registry.monitored.remove(id) {
                watched.retire();
            }
            inner.member_states.remove(*id);
        }
    }

    /// The probe verdict of a monitored member: `None` when it is not
    /// monitored; `Some(OFFLINE)` while a new member awaits its first result
    /// (it gets no traffic yet).
    pub fn member_status(&self, member_id: MemberId) -> Option<OperatingStatus> {
        let registry = lock(&self.inner.registry);
        registry
            .monitored
            .get(&member_id)
            .map(|watched| watched.status().unwrap_or(OperatingStatus::Offline))
    }

    /// The last probe of a monitored member and the cause of its status;
    /// `None` when it is not monitored.
    pub fn member_health(&self, member_id: MemberId) -> Option<MemberHealth> {
        let watched = lock(&self.inner.registry)
            .monitored
            .get(&member_id)
            .cloned()?;
        let guarded = lock(&watched.guarded);
        let (cause, since) = match &guarded.changed {
            Some((cause, since)) => (Some(cause.clone()), Some(*since)),
            None => (None, None),
        };
        Some(MemberHealth {
            status: guarded.tracker.status(),
            cause,
            since,
            last_probe: guarded.last_probe.clone(),
        })
    }
}

/// A probe's result as the metrics and the UI name it.
fn outcome_of(result: &Result<(), ProbeError>) -> &'static str {
    match result {
        Ok(()) => "success",
        Err(ProbeError::IcmpUnavailable { .. }) => "error",
        Err(_) => "failure",
    }
}

/// One monitored member, shared by its probe task, the sweeper and the
/// registry.
pub(crate) struct Watched {
    member_id: MemberId,
    pool_id: PoolId,
    load_balancer_id: LoadBalancerId,
    address: SocketAddr,
    state: Arc<MemberState>,
    guarded: Mutex<Guarded>,
    /// The pool's current settings (thresholds for the sweeper).
    settings: watch::Receiver<Arc<MonitorSettings>>,
    events: mpsc::UnboundedSender<MemberStatusChange>,
    cancel: CancellationToken,
}

struct Guarded {
    tracker: Tracker,
    /// Set when the member leaves monitoring: late results are dropped.
    retired: bool,
    last_probe: Option<LastProbe>,
    /// The cause of the last status change and when it happened (Unix s).
    changed: Option<(String, i64)>,
}

impl Watched {
    fn status(&self) -> Option<OperatingStatus> {
        lock(&self.guarded).tracker.status()
    }

    /// Stop the task and ignore any result still in flight.
    fn retire(&self) {
        self.cancel.cancel();
        lock(&self.guarded).retired = true;
    }

    fn record(&self, result: Result<(), ProbeError>, kind: HealthMonitorType, took: Duration) {
        {
            let mut guarded = lock(&self.guarded);
            if !guarded.retired {
                guarded.last_probe = Some(LastProbe {
                    kind,
                    result: outcome_of(&result),
                    detail: result.as_ref().err().map(ToString::to_string),
                    latency_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
                    at: unix_now(),
                });
            }
        }
        match result {
            Ok(()) => self.update(|tracker, rise, _| tracker.record_success(rise)),
            Err(error) => {
                tracing::debug!(member_id = %self.member_id, %error, "probe failed");
                let cause = error.to_string();
                let down = error.down_status();
                self.update(|tracker, _, fall| tracker.record_failures(1, down, &cause, fall));
            }
        }
    }

    /// Count the connect failures the data plane saw since the last look.
    fn take_passive_failures(&self) {
        self.record_passive(self.state.take_connect_failures());
    }

    fn record_passive(&self, count: u32) {
        if count > 0 {
            let cause = format!("data plane failed to connect {count} time(s)");
            self.update(|tracker, _, fall| {
                tracker.record_failures(count, OperatingStatus::Offline, &cause, fall)
            });
        }
    }

    fn update(&self, count: impl FnOnce(&mut Tracker, u32, u32) -> Option<Transition>) {
        // Copied out first: the watch lock is never taken under the tracker's.
        let (rise, fall) = {
            let settings = self.settings.borrow();
            (settings.rise_threshold, settings.fall_threshold)
        };
        let mut guarded = lock(&self.guarded);
        if guarded.retired {
            return;
        }
        let Some(change) = count(&mut guarded.tracker, rise, fall) else {
            return;
        };
        guarded.changed = Some((change.cause.clone(), unix_now()));
        // Under the lock, so a concurrent probe and sweep apply their
        // verdicts in the order they were counted.
        self.state.set_up(change.status == OperatingStatus::Online);
        let (member_id, pool_id, address) = (self.member_id, self.pool_id, self.address);
        let (status, cause) = (change.status, &change.cause);
        if status == OperatingStatus::Online {
            tracing::info!(%member_id, %pool_id, %address, %status, %cause, "member {address} {status}: {cause}");
        } else {
            tracing::warn!(%member_id, %pool_id, %address, %status, %cause, "member {address} {status}: {cause}");
        }
        // Ignored on failure: a dropped receiver means the app is shutting
        // down and nobody will persist statuses any more.
        let _ = self.events.send(MemberStatusChange {
            member_id,
            pool_id,
            load_balancer_id: self.load_balancer_id,
            address,
            status,
            cause: change.cause,
        });
    }
}

/// Seconds between probes; a zero delay would spin, so it acts as 1.
fn delay_of(settings: &MonitorSettings) -> Duration {
    Duration::from_secs(u64::from(settings.delay_secs.max(1)))
}

/// Granularity of probe slots: members sharing a slot are probed in one
/// wake-up of the runtime, which costs far less than one wake-up each.
const SLOT: Duration = Duration::from_millis(10);

/// Where in each interval a member's probe falls, derived from its id so
/// thousands of members spread evenly and keep their slot across restarts.
/// A multiple of [`SLOT`], below `delay`.
fn spread_offset(member_id: MemberId, delay: Duration) -> Duration {
    let (high, low) = member_id.0.as_u64_pair();
    let slots = u64::try_from(delay.as_millis() / SLOT.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    let slot_millis = SLOT.as_millis() as u64;
    Duration::from_millis((high ^ low) % slots * slot_millis)
}

/// When the second probe follows the one at once: at the member's own slot,
/// at least a tenth of `delay` later. The probe at once is off-slot (a whole
/// pool arrives together); from then on the member keeps its slot.
fn first_slot_after_probe_at_once(member_id: MemberId, delay: Duration) -> Duration {
    let offset = spread_offset(member_id, delay);
    if offset < delay / 10 {
        offset + delay
    } else {
        offset
    }
}

/// The life of one monitored member: probe at once, then every `delay` at
/// the member's own offset in the interval; re-time when the delay changes; end on retirement,
/// shutdown or when the pool loses its monitor. `probe` is the prober in
/// production and a scripted one in the timer tests.
async fn run_member<P, F>(
    watched: Arc<Watched>,
    mut settings: watch::Receiver<Arc<MonitorSettings>>,
    probe: P,
) where
    P: Fn(Arc<MonitorSettings>, SocketAddr) -> F,
    F: Future<Output = Result<(), ProbeError>>,
{
    let mut delay = delay_of(&settings.borrow_and_update());
    let mut next = Instant::now();
    let mut first = true;
    loop {
        tokio::select! {
            biased;
            () = watched.cancel.cancelled() => return,
            changed = settings.changed() => {
                if changed.is_err() {
                    return;
                }
                let new_delay = delay_of(&settings.borrow_and_update());
                if new_delay != delay {
                    delay = new_delay;
                    next = Instant::now() + spread_offset(watched.member_id, delay);
                }
                continue;
            }
            () = sleep_until(next) => {}
        }
        let current = settings.borrow_and_update().clone();
        let kind = current.kind;
        watched.take_passive_failures();
        let started = Instant::now();
        let result = tokio::select! {
            biased;
            () = watched.cancel.cancelled() => return,
            result = probe(current, watched.address) => result,
        };
        watched.record(result, kind, started.elapsed());
        next = if first {
            first = false;
            next + first_slot_after_probe_at_once(watched.member_id, delay)
        } else {
            next + delay
        };
        let now = Instant::now();
        if next <= now {
            // Behind schedule (a slow probe): wait a full delay rather than
            // firing a burst, like MissedTickBehavior::Delay.
            next = now + delay;
        }
    }
}

/// Read every monitored member's connect-failure counter each
/// [`PASSIVE_SWEEP`]: one task for all pools, a handful of atomic swaps per
/// member per second, no probe.
async fn sweep_passive_failures(inner: Weak<Inner>, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(PASSIVE_SWEEP);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let Some(inner) = inner.upgrade() else {
            return;
        };
        // Counted outside the registry lock: counting may log and send.
        let hit: Vec<(Arc<Watched>, u32)> = {
            let registry = lock(&inner.registry);
            registry
                .monitored
                .values()
                .filter_map(|w| {
                    let count = w.state.take_connect_failures();
                    (count > 0).then(|| (w.clone(), count))
                })
                .collect()
        };
        drop(inner);
        for (watched, count) in hit {
            watched.record_passive(count);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;
    use crate::model::{HealthMonitorType, HttpMethod};
    use OperatingStatus::{Offline, Online};

    fn settings(delay_secs: u32, fall: u32, rise: u32) -> MonitorSettings {
        MonitorSettings {
            kind: HealthMonitorType::Tcp,
            delay_secs,
            timeout_secs: 1,
            fall_threshold: fall,
            rise_threshold: rise,
            http_method: HttpMethod::Get,
            url_path: "/".into(),
            expected_codes: "200".into(),
        }
    }

    struct Harness {
        watched: Arc<Watched>,
        settings: watch::Sender<Arc<MonitorSettings>>,
        events: mpsc::UnboundedReceiver<MemberStatusChange>,
        /// Virtual times the scripted probe ran at.
        calls: Arc<Mutex<Vec<Instant>>>,
    }

    /// A member task whose probe answers from `script` (true = success;
    /// failure once the script runs out) instead of the network, so timer
    /// behaviour can be checked on tokio's paused clock.
    fn start_member(settings: MonitorSettings, script: &[bool]) -> Harness {
        let (settings_tx, settings_rx) = watch::channel(Arc::new(settings));
        let (events_tx, events) = mpsc::unbounded_channel();
        let member_id = MemberId::new();
        let watched = Arc::new(Watched {
            member_id,
            pool_id: PoolId::new(),
            load_balancer_id: LoadBalancerId::new(),
            address: "127.0.0.1:9".parse().unwrap(),
            state: MemberStates::new().get_or_insert(member_id, false),
            guarded: Mutex::new(Guarded {
                tracker: Tracker::undecided(),
                retired: false,
                last_probe: None,
                changed: None,
            }),
            settings: settings_tx.subscribe(),
            events: events_tx,
            cancel: CancellationToken::new(),
        });
        let script = Arc::new(Mutex::new(script.iter().copied().collect::<VecDeque<_>>()));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let probe = {
            let calls = calls.clone();
            move |_settings: Arc<MonitorSettings>, _address| {
                calls.lock().unwrap().push(Instant::now());
                let ok = script.lock().unwrap().pop_front().unwrap_or(false);
                async move {
                    if ok {
                        Ok(())
                    } else {
                        Err(ProbeError::NoResponse)
                    }
                }
            }
        };
        tokio::spawn(run_member(watched.clone(), settings_rx, probe));
        Harness {
            watched,
            settings: settings_tx,
            events,
            calls,
        }
    }

    /// The next status change and the virtual time it came at, bounded.
    async fn next_change(h: &mut Harness) -> (OperatingStatus, Instant) {
        let change = tokio::time::timeout(Duration::from_secs(600), h.events.recv())
            .await
            .expect("a status change within 600 virtual seconds")
            .expect("events channel open");
        (change.status, Instant::now())
    }

    #[tokio::test(start_paused = true)]
    async fn new_member_is_probed_at_once_and_rises_and_falls_by_the_thresholds() {
        let start = Instant::now();
        let mut h = start_member(
            settings(2, 2, 3),
            &[true, true, false, false, true, true, true],
        );

        let slot = first_slot_after_probe_at_once(h.watched.member_id, Duration::from_secs(2));
        let (status, at) = next_change(&mut h).await;
        assert_eq!((status, at - start), (Online, Duration::ZERO));
        assert!(h.watched.state.is_up());

        // Probes at 0, slot, slot+2, slot+4 s: failures at the last two make
        // two in a row.
        let (status, at) = next_change(&mut h).await;
        assert_eq!(
            (status, at - start),
            (Offline, slot + Duration::from_secs(4))
        );
        assert!(!h.watched.state.is_up());

        // Successes at slot + 6, 8, 10 s: the third brings it back.
        let (status, at) = next_change(&mut h).await;
        assert_eq!(
            (status, at - start),
            (Online, slot + Duration::from_secs(10))
        );
        assert!(h.watched.state.is_up());

        let calls = h.calls.lock().unwrap().clone();
        assert_eq!(calls[1] - calls[0], slot);
        let gaps: Vec<Duration> = calls[1..].windows(2).map(|w| w[1] - w[0]).collect();
        assert!(
            gaps.iter().all(|g| *g == Duration::from_secs(2)),
            "{gaps:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn passive_failures_count_before_the_next_probe() {
        let start = Instant::now();
        let mut h = start_member(settings(10, 3, 1), &[true, true, true]);
        assert_eq!(next_change(&mut h).await.0, Online);
        for _ in 0..3 {
            h.watched.state.report_connect_failure();
        }
        // Taken at the next probe, before it runs: three failures fall the
        // member even though that probe itself succeeds and then raises it.
        let slot = first_slot_after_probe_at_once(h.watched.member_id, Duration::from_secs(10));
        let (status, at) = next_change(&mut h).await;
        assert_eq!((status, at - start), (Offline, slot));
        let (status, _) = next_change(&mut h).await;
        assert_eq!(status, Online);
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_delay_retimes_the_member_within_one_new_interval() {
        let start = Instant::now();
        let mut h = start_member(settings(60, 1, 1), &[true; 8]);
        assert_eq!(next_change(&mut h).await.0, Online);
        tokio::time::sleep(Duration::from_secs(1)).await;
        h.settings.send_replace(Arc::new(settings(2, 1, 1)));
        // Wait (bounded) until the task has probed three times more.
        let deadline = start + Duration::from_secs(30);
        while h.calls.lock().unwrap().len() < 4 {
            assert!(Instant::now() < deadline, "probes did not speed up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let calls = h.calls.lock().unwrap().clone();
        assert!(
            calls[1] - start < Duration::from_secs(3),
            "first probe after the change waited {:?}",
            calls[1] - start
        );
        assert_eq!(calls[2] - calls[1], Duration::from_secs(2));
        assert_eq!(calls[3] - calls[2], Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_retired_member_is_never_probed_or_changed_again() {
        let mut h = start_member(settings(1, 1, 1), &[true]);
        assert_eq!(next_change(&mut h).await.0, Online);
        h.watched.retire();
        let probes = h.calls.lock().unwrap().len();
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(h.calls.lock().unwrap().len(), probes);
        assert!(h.events.try_recv().is_err());
        assert!(
            h.watched.state.is_up(),
            "retiring leaves readiness to the caller"
        );
    }

    #[test]
    fn the_slot_after_the_probe_at_once_is_never_immediate() {
        let delay = Duration::from_secs(1);
        for _ in 0..1000 {
            let slot = first_slot_after_probe_at_once(MemberId::new(), delay);
            assert!(slot >= delay / 10 && slot < delay + delay / 10, "{slot:?}");
        }
    }

    #[test]
    fn spread_offsets_stay_inside_the_interval_and_spread_out() {
        let delay = Duration::from_secs(1);
        let offsets: Vec<Duration> = (0..1000)
            .map(|_| spread_offset(MemberId::new(), delay))
            .collect();
        assert!(offsets.iter().all(|o| *o < delay));
        assert!(offsets.iter().all(|o| o.as_millis() % 10 == 0));
        // Ten 100 ms buckets, each holding some of 1000 random members.
        let mut buckets = [0u32; 10];
        for o in &offsets {
            buckets[(o.as_millis() / 100) as usize] += 1;
        }
        assert!(buckets.iter().all(|b| *b > 50), "{buckets:?}");
    }
}
