//! The connection sweep: each data plane worker visits its HTTP client
//! connections once a period and raises a flag on those that are due for
//! one of three things.
//!
//! - **Header timeout** (HAProxy's `timeout http-request`): a connection with
//!   no request in flight that completes no request head for a while (idle
//!   keep-alive time included) is closed.
//! - **Shedding**: the first idle sweep tells a kept-alive connection to shed
//!   its HTTP state (see `http::client`): between one and two periods after
//!   its last activity an idle connection holds no hyper buffers.
//! - **Member response timeout** (HAProxy's `timeout server`): a request
//!   still waiting for its member's response head after enough sweeps is
//!   answered 504 (see `http::forward`).
//! - **Data timeouts** (Octavia's `timeout_client_data` and
//!   `timeout_member_data`): a connection moving data (a TCP relay, an
//!   upgraded HTTP connection, an HTTP response on its way) whose client
//!   side, or member side, made no progress for its timeout is closed: a
//!   client that never reads, an idle TCP session, a member that
//!   blackholes. Progress is a counter the client stream (`CountingIo`)
//!   and the member side bump on every read or write that moved bytes.
//!
//! hyper can time each head itself, but that costs a clock read, a boxed
//! timer inserted into and removed from the timer wheel, and an extra wakeup
//! per request. Here a request costs two counter updates: each worker sweeps
//! its connections every [`SHED_AFTER`] (or every half timeout if that is
//! shorter) and closes one that showed no activity for a timeout's worth of
//! sweeps, so between one timeout and one timeout plus a sweep period after
//! its last activity. The registry is per worker thread, as a connection
//! never leaves its worker.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A flag the sweep raises for the one task that waits on it (the
/// connection's own): registering costs no lock or allocation, and the
/// connection's task brings the same waker every time.
#[derive(Default)]
pub(crate) struct Flag {
    raised: AtomicBool,
    waker: AtomicWaker,
}

impl Flag {
    /// Resolves once the flag is raised.
    pub fn raised(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(|cx| {
            if self.raised.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            self.waker.register(cx.waker());
            if self.raised.load(Ordering::Acquire) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }

    fn raise(&self) {
        self.raised.store(true, Ordering::Release);
        self.waker.wake();
    }

    pub fn lower(&self) {
        self.raised.store(false, Ordering::Relaxed);
    }
}

/// One client connection's activity, shared by its task and the sweep.
#[derive(Default)]
pub(crate) struct Activity {
    /// Reads and writes on the client side that moved bytes.
    client_io: AtomicU64,
    /// Reads and writes on the member side (response body frames for HTTP)
    /// that moved bytes.
    member_io: AtomicU64,
    /// Set for a relay (TCP, or an upgraded HTTP connection): only the data
    /// timeouts apply.
    relay: AtomicBool,
    /// Request heads received so far.
    heads: AtomicU64,
    /// Requests whose response has not finished yet.
    in_flight: AtomicU32,
    /// Raised by the sweep: the connection is to be closed.
    pub expired: Flag,
    /// Set while a request waits for its member's response head (one at a
    /// time: HTTP/1.1 requests on a connection are served in turn).
    awaiting_member: AtomicBool,
    /// Raised by the sweep: the member took too long to answer.
    pub member_late: Flag,
    /// Raised by the sweep: idle for a whole period, the connection may shed
    /// its HTTP state until the client sends again.
    pub shed: Flag,
}

impl Activity {
    /// Whether any request head arrived yet.
    pub fn started(&self) -> bool {
        self.heads.load(Ordering::Relaxed) > 0
    }

    /// Mark the current request as waiting for its member's response head,
    /// or as done waiting. Done also clears a late mark the sweep may have
    /// set as the response arrived: the sweep runs on the connection's own
    /// worker thread, so once the wait is over nothing marks it late again.
    pub fn awaiting_member(&self, waiting: bool) {
        self.awaiting_member.store(waiting, Ordering::Relaxed);
        if !waiting {
            self.member_late.lower();
        }
    }

    /// No request in flight (its response finished, or none came yet).
    pub fn idle(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0
    }

    /// The client side moved bytes. Only the connection's own task calls
    /// this: a load and a store, no read-modify-write.
    pub fn client_progress(&self) {
        bump(&self.client_io);
    }

    /// The member side moved bytes (the connection's own task only).
    pub fn member_progress(&self) {
        bump(&self.member_io);
    }

    /// From now on the connection relays bytes: only the data timeouts apply.
    pub fn relaying(&self) {
        self.relay.store(true, Ordering::Relaxed);
    }
}

fn bump(counter: &AtomicU64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(1),
        Ordering::Relaxed,
    );
}

/// A member-side stream that counts its progress on the client
/// connection's [`Activity`] (TCP relay, upgraded connections).
pub(crate) struct MemberIo<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> MemberIo<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for MemberIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.member_progress();
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for MemberIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = poll
            && n > 0
        {
            self.activity.member_progress();
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A request from its head until its response finished (dropped).
pub(crate) struct InFlight(Arc<Activity>);

impl InFlight {
    pub fn begin(activity: &Arc<Activity>) -> Self {
        // Only the connection's own task writes these: load and store, no
        // read-modify-write needed.
        let heads = &activity.heads;
        heads.store(heads.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        let n = &activity.in_flight;
        n.store(n.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        Self(activity.clone())
    }

    /// The connection's activity.
    pub fn activity(&self) -> &Activity {
        &self.0
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let n = &self.0.in_flight;
        n.store(
            n.load(Ordering::Relaxed).saturating_sub(1),
            Ordering::Relaxed,
        );
    }
}

struct Entry {
    activity: Weak<Activity>,
    /// `heads` at the last sweep.
    seen_heads: u64,
    /// Sweeps in a row that found no activity.
    idle_sweeps: u32,
    /// Sweeps in a row that found the same request waiting for its member.
    waiting_sweeps: u32,
    /// A request was in flight at the last sweep.
    busy: bool,
    /// `client_io` at the last sweep, and sweeps in a row it stayed so.
    seen_client_io: u64,
    client_idle_sweeps: u32,
    /// `member_io` at the last sweep, and sweeps in a row it stayed so.
    seen_member_io: u64,
    member_idle_sweeps: u32,
}

#[derive(Default)]
struct Registry {
    slots: Vec<Option<Entry>>,
    free: Vec<usize>,
}

thread_local! {
    static REGISTRY: RefCell<Registry> = RefCell::default();
}

/// A connection's place in its worker's registry; leaves it on drop.
pub(crate) struct Watch {
    slot: usize,
    activity: Weak<Activity>,
}

/// Put a connection under the sweep of the worker running the caller.
pub(crate) fn watch(activity: &Arc<Activity>) -> Watch {
    let weak = Arc::downgrade(activity);
    let entry = Entry {
        activity: weak.clone(),
        // Never equal to a count: the first sweep counts as activity, so a
        // new connection gets at least a whole timeout.
        seen_heads: u64::MAX,
        idle_sweeps: 0,
        waiting_sweeps: 0,
        busy: false,
        seen_client_io: 0,
        client_idle_sweeps: 0,
        seen_member_io: 0,
        member_idle_sweeps: 0,
    };
    let slot = REGISTRY.with_borrow_mut(|r| match r.free.pop() {
        Some(slot) => {
            r.slots[slot] = Some(entry);
            slot
        }
        None => {
            r.slots.push(Some(entry));
            r.slots.len() - 1
        }
    });
    Watch {
        slot,
        activity: weak,
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // `try_with`: a task dropped while its thread exits; the slot check:
        // one dropped on another thread must not free that thread's slot.
        let _ = REGISTRY.try_with(|r| {
            let mut r = r.borrow_mut();
            if let Some(Some(entry)) = r.slots.get(self.slot)
                && entry.activity.ptr_eq(&self.activity)
            {
                r.slots[self.slot] = None;
                r.free.push(self.slot);
            }
        });
    }
}

/// The longest sweep period: an idle kept-alive connection sheds its HTTP
/// state between one and two periods after its last activity.
pub(crate) const SHED_AFTER: Duration = Duration::from_secs(1);

/// How many sweeps in a row mean what.
#[derive(Clone, Copy)]
struct Limits {
    /// Idle sweeps that close a connection.
    expire_after: u32,
    /// Sweeps that find the same request still waiting for its member.
    late_after: u32,
    /// Sweeps without client-side progress that close a connection moving
    /// data.
    client_data_after: u32,
    /// Sweeps without member-side progress that close it.
    member_data_after: u32,
}

/// What the sweep times.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeouts {
    /// No request head (idle keep-alive included).
    pub header: Duration,
    /// No response head from the member.
    pub member_response: Duration,
    /// No progress on the client side while data is expected.
    pub client_data: Duration,
    /// No progress on the member side while data is expected.
    pub member_data: Duration,
}

/// Sweep this worker's connections every [`SHED_AFTER`] (or every half of
/// the shortest timeout that closes connections, if shorter), forever (the
/// worker's runtime ends it).
pub(crate) async fn sweep(timeouts: Timeouts) {
    let period = (timeouts
        .header
        .min(timeouts.client_data)
        .min(timeouts.member_data)
        / 2)
    .min(SHED_AFTER)
    .max(Duration::from_millis(1));
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let limits = Limits {
        expire_after: periods_in(timeouts.header, period),
        late_after: sweeps_for(timeouts.member_response, period),
        client_data_after: periods_in(timeouts.client_data, period),
        member_data_after: periods_in(timeouts.member_data, period),
    };
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Swept {
            expired,
            late,
            shed,
        } = REGISTRY.with_borrow_mut(|r| sweep_once(r, limits));
        // Woken outside the borrow: a woken task runs later anyway, but
        // keep the registry free while anything else happens.
        expired.iter().for_each(|a| a.expired.raise());
        late.iter().for_each(|a| a.member_late.raise());
        shed.iter().for_each(|a| a.shed.raise());
    }
}

/// Whole periods in `timeout` (at least one). An idle count starts at the
/// first sweep after the last activity, so this many idle sweeps prove an
/// idle time of at least `timeout`, and at most one period more.
fn periods_in(timeout: Duration, period: Duration) -> u32 {
    let whole = timeout.as_nanos().div_ceil(period.as_nanos().max(1));
    u32::try_from(whole).unwrap_or(u32::MAX).max(1)
}

/// Sweeps in a row that prove a wait of at least `timeout`: the first one
/// may come right after the wait began.
fn sweeps_for(timeout: Duration, period: Duration) -> u32 {
    periods_in(timeout, period).saturating_add(1)
}

/// What one sweep found.
#[derive(Default)]
struct Swept {
    /// Connections to close.
    expired: Vec<Arc<Activity>>,
    /// Requests whose member is late.
    late: Vec<Arc<Activity>>,
    /// Connections newly idle for a whole period.
    shed: Vec<Arc<Activity>>,
}

/// Advance the data timeouts of one entry: true when its client or member
/// side made no progress for its timeout while data was expected (a relay,
/// or an HTTP response past its head).
fn data_stalled(entry: &mut Entry, activity: &Activity, limits: Limits) -> bool {
    let client = activity.client_io.load(Ordering::Relaxed);
    let member = activity.member_io.load(Ordering::Relaxed);
    let expecting = activity.relay.load(Ordering::Relaxed)
        || (activity.in_flight.load(Ordering::Relaxed) > 0
            && !activity.awaiting_member.load(Ordering::Relaxed));
    let idle = |seen: &mut u64, now: u64, sweeps: &mut u32| {
        if !expecting || *seen != now {
            *seen = now;
            *sweeps = 0;
        } else {
            *sweeps = sweeps.saturating_add(1);
        }
        *sweeps
    };
    let client_idle = idle(
        &mut entry.seen_client_io,
        client,
        &mut entry.client_idle_sweeps,
    );
    let member_idle = idle(
        &mut entry.seen_member_io,
        member,
        &mut entry.member_idle_sweeps,
    );
    client_idle == limits.client_data_after || member_idle == limits.member_data_after
}

/// Advance every entry by one sweep.
fn sweep_once(registry: &mut Registry, limits: Limits) -> Swept {
    let Limits {
        expire_after,
        late_after,
        ..
    } = limits;
    let mut swept = Swept::default();
    for entry in registry.slots.iter_mut().flatten() {
        let Some(activity) = entry.activity.upgrade() else {
            continue;
        };
        if data_stalled(entry, &activity, limits) {
            swept.expired.push(activity);
            continue;
        }
        if activity.relay.load(Ordering::Relaxed) {
            continue;
        }
        let heads = activity.heads.load(Ordering::Relaxed);
        if activity.awaiting_member.load(Ordering::Relaxed) {
            // The same request as at the last sweep (no new head since)?
            if heads == entry.seen_heads {
                entry.waiting_sweeps += 1;
            } else {
                entry.waiting_sweeps = 1;
            }
            if entry.waiting_sweeps == late_after {
                swept.late.push(activity.clone());
            }
        } else {
            entry.waiting_sweeps = 0;
        }
        if activity.in_flight.load(Ordering::Relaxed) > 0 {
            // Busy; and the sweep after the response finished counts as
            // activity, so the idle time is measured from that end. The
            // request is known by its head count.
            entry.seen_heads = heads;
            entry.idle_sweeps = 0;
            entry.busy = true;
            continue;
        }
        if std::mem::take(&mut entry.busy) {
            entry.seen_heads = heads;
            entry.idle_sweeps = 0;
            continue;
        }
        if heads != entry.seen_heads {
            entry.seen_heads = heads;
            entry.idle_sweeps = 0;
            continue;
        }
        entry.idle_sweeps += 1;
        if entry.idle_sweeps == 1 {
            swept.shed.push(activity.clone());
        }
        if entry.idle_sweeps == expire_after {
            swept.expired.push(activity);
        }
    }
    swept
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Limits as with a period of half the header timeout.
    const HALVES: Limits = Limits {
        expire_after: 2,
        late_after: u32::MAX,
        client_data_after: u32::MAX,
        member_data_after: u32::MAX,
    };

    fn expired(registry: &mut Registry, activity: &Arc<Activity>) -> bool {
        let swept = sweep_once(registry, HALVES);
        swept.expired.iter().any(|a| Arc::ptr_eq(a, activity))
    }

    #[test]
    fn the_period_is_a_second_at_most_and_the_timeout_a_whole_number_of_them() {
        let s = Duration::from_secs;
        assert_eq!(periods_in(s(30), s(1)), 30);
        assert_eq!(periods_in(s(30), s(15)), 2);
        assert_eq!(
            periods_in(Duration::from_millis(300), Duration::from_millis(150)),
            2
        );
        assert_eq!(periods_in(Duration::from_millis(2500), s(1)), 3);
        assert_eq!(periods_in(Duration::ZERO, s(1)), 1);
    }

    #[test]
    fn the_first_idle_sweep_asks_once_to_shed_and_activity_asks_again() {
        let activity = Arc::new(Activity::default());
        let _watch = watch(&activity);
        let limits = Limits {
            expire_after: 5,
            ..HALVES
        };
        let shed = |r: &mut Registry| {
            let swept = sweep_once(r, limits);
            swept.shed.iter().any(|a| Arc::ptr_eq(a, &activity))
        };
        REGISTRY.with_borrow_mut(|r| {
            // The first sweep counts as activity; the next one is idle.
            assert_eq!((1..=10).find(|_| shed(r)), Some(2));
            assert!((1..=10).all(|_| !shed(r)), "once per idle stretch");
            // A request, in flight across sweeps, then done: idle again.
            let request = InFlight::begin(&activity);
            assert!(!activity.idle());
            assert!(!shed(r) && !shed(r));
            drop(request);
            assert!(activity.idle());
            assert_eq!((1..=10).find(|_| shed(r)), Some(2));
        });
    }

    #[test]
    fn idle_expires_on_the_third_sweep_and_activity_or_a_request_in_flight_holds_it_off() {
        let activity = Arc::new(Activity::default());
        let _watch = watch(&activity);
        REGISTRY.with_borrow_mut(|r| {
            // New: the first sweep counts as activity, two idle ones expire.
            assert_eq!((1..=10).find(|_| expired(r, &activity)), Some(3));
        });

        let activity = Arc::new(Activity::default());
        let _watch = watch(&activity);
        REGISTRY.with_borrow_mut(|r| {
            assert!(!expired(r, &activity));
            assert!(!expired(r, &activity));
            // A head arrives: the count starts over.
            drop(InFlight::begin(&activity));
            assert!(!expired(r, &activity));
            // A request in flight (a long response) is never idle, and the
            // idle time counts from its end: three more sweeps.
            let request = InFlight::begin(&activity);
            for _ in 0..10 {
                assert!(!expired(r, &activity));
            }
            drop(request);
            assert_eq!((1..=10).find(|_| expired(r, &activity)), Some(3));
        });
        assert!(activity.started());
    }

    #[test]
    fn a_request_waiting_for_its_member_is_late_after_the_sweeps_that_prove_the_timeout() {
        let period = Duration::from_millis(100);
        // 250 ms: three periods, plus one as the first may come at once.
        let late_after = sweeps_for(Duration::from_millis(250), period);
        assert_eq!(late_after, 4);
        assert_eq!(sweeps_for(Duration::from_millis(200), period), 3);

        let activity = Arc::new(Activity::default());
        let _watch = watch(&activity);
        let late = |r: &mut Registry| {
            let limits = Limits {
                expire_after: u32::MAX,
                late_after,
                ..HALVES
            };
            let swept = sweep_once(r, limits);
            swept.late.iter().for_each(|a| a.member_late.raise());
            swept.late.iter().any(|a| Arc::ptr_eq(a, &activity))
        };
        REGISTRY.with_borrow_mut(|r| {
            let first = InFlight::begin(&activity);
            activity.awaiting_member(true);
            assert_eq!((1..=10).find(|_| late(r)), Some(4), "late once");
            assert!((1..=10).all(|_| !late(r)), "and only once");
            // The waiting task sees the mark; done waiting clears it, so the
            // next request does not inherit it.
            let mut wait = Box::pin(activity.member_late.raised());
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            assert!(wait.as_mut().poll(&mut cx).is_ready());
            drop(wait);
            activity.awaiting_member(false);
            let mut wait = Box::pin(activity.member_late.raised());
            assert!(wait.as_mut().poll(&mut cx).is_pending());
            drop(wait);
            // Answered; the next request waits: counted from its own start.
            activity.awaiting_member(false);
            drop(first);
            assert!(!late(r));
            let _second = InFlight::begin(&activity);
            activity.awaiting_member(true);
            assert_eq!((1..=10).find(|_| late(r)), Some(4));
        });
    }

    #[test]
    fn a_dropped_watch_leaves_the_registry_and_its_slot_is_reused() {
        let count = || REGISTRY.with_borrow(|r| r.slots.iter().flatten().count());
        let before = count();
        let a = Arc::new(Activity::default());
        let w = watch(&a);
        assert_eq!(count(), before + 1);
        drop(w);
        assert_eq!(count(), before);
        let len = REGISTRY.with_borrow(|r| r.slots.len());
        let _w = watch(&a);
        assert_eq!(REGISTRY.with_borrow(|r| r.slots.len()), len, "slot reused");
    }
}
