//! The client header timeout (HAProxy's `timeout http-request`): an HTTP
//! client connection with no request in flight that completes no request
//! head for a while (idle keep-alive time included) is closed.
//!
//! hyper can time each head itself, but that costs a clock read, a boxed
//! timer inserted into and removed from the timer wheel, and an extra wakeup
//! per request. Here a request costs two counter updates: each worker sweeps
//! its connections every half timeout and closes one that showed no
//! activity for two sweeps in a row, so between one and one and a half
//! timeouts after its last activity. The registry is per worker thread, as
//! a connection never leaves its worker.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::signal::StopSignal;

/// One client connection's activity, shared by its task and the sweep.
#[derive(Default)]
pub(crate) struct Activity {
    /// Request heads received so far.
    heads: AtomicU64,
    /// Requests whose response has not finished yet.
    in_flight: AtomicU32,
    /// Cancelled by the sweep: the connection is to be closed.
    pub expired: StopSignal,
}

impl Activity {
    /// Whether any request head arrived yet.
    pub fn started(&self) -> bool {
        self.heads.load(Ordering::Relaxed) > 0
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

/// Sweep this worker's connections every half `timeout`, forever (the
/// worker's runtime ends it).
pub(crate) async fn sweep(timeout: Duration) {
    let mut ticks = tokio::time::interval((timeout / 2).max(Duration::from_millis(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let expired = REGISTRY.with_borrow_mut(sweep_once);
        // Woken outside the borrow: a woken task runs later anyway, but
        // keep the registry free while anything else happens.
        expired.iter().for_each(|a| a.expired.cancel());
    }
}

/// Advance every entry by one sweep; the connections to close.
fn sweep_once(registry: &mut Registry) -> Vec<Arc<Activity>> {
    let mut expired = Vec::new();
    for entry in registry.slots.iter_mut().flatten() {
        let Some(activity) = entry.activity.upgrade() else {
            continue;
        };
        let heads = activity.heads.load(Ordering::Relaxed);
        if activity.in_flight.load(Ordering::Relaxed) > 0 {
            // Busy; and the sweep after the response finished counts as
            // activity, so the idle time is measured from that end.
            entry.seen_heads = u64::MAX;
            entry.idle_sweeps = 0;
            continue;
        }
        if heads != entry.seen_heads {
            entry.seen_heads = heads;
            entry.idle_sweeps = 0;
            continue;
        }
        entry.idle_sweeps += 1;
        if entry.idle_sweeps == 2 {
            expired.push(activity);
        }
    }
    expired
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sweeps_until_expired(registry: &mut Registry, max: usize) -> Option<usize> {
        (1..=max).find(|_| !sweep_once(registry).is_empty())
    }

    #[test]
    fn idle_expires_on_the_third_sweep_and_activity_or_a_request_in_flight_holds_it_off() {
        let activity = Arc::new(Activity::default());
        let _watch = watch(&activity);
        REGISTRY.with_borrow_mut(|r| {
            // New: the first sweep counts as activity, two idle ones expire.
            assert_eq!(sweeps_until_expired(r, 10), Some(3));
        });

        let activity = Arc::new(Activity::default());
        let _watch = watch(&activity);
        REGISTRY.with_borrow_mut(|r| {
            sweep_once(r);
            sweep_once(r);
            // A head arrives: the count starts over.
            drop(InFlight::begin(&activity));
            assert!(sweep_once(r).iter().all(|a| !Arc::ptr_eq(a, &activity)));
            // A request in flight (a long response) is never idle, and the
            // idle time counts from its end: three more sweeps.
            let request = InFlight::begin(&activity);
            for _ in 0..10 {
                assert!(sweep_once(r).iter().all(|a| !Arc::ptr_eq(a, &activity)));
            }
            drop(request);
            let expired_after =
                (1..=10).find(|_| sweep_once(r).iter().any(|a| Arc::ptr_eq(a, &activity)));
            assert_eq!(expired_after, Some(3));
        });
        assert!(activity.started());
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
