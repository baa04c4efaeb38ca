//! What shutdown drains with: the one-way broadcast flags for the drain and
//! the hard stop ([`StopSignal`]), and the count of live connection tasks
//! shutdown waits on ([`ConnTracker`]).
//!
//! Every connection task waits on both flags for its whole life, and a
//! future in a `select!` is polled on each wakeup of its task, so waiting
//! must be cheap: after its first poll, a wait that has not fired costs one
//! atomic load and a waker comparison (tokio-util's `CancellationToken`
//! takes a mutex on every poll). The mutex here is taken once per waiter to
//! register, once to deregister, and once by `cancel`.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use tokio::sync::Notify;

use crate::sync::lock;

/// Cloned handles share one flag; `cancel` wakes every waiter, once.
#[derive(Clone, Default)]
pub struct StopSignal(Arc<Inner>);

#[derive(Default)]
struct Inner {
    cancelled: AtomicBool,
    waiters: Mutex<Waiters>,
}

/// Registered wakers; a slot is reused once its waiter is dropped.
#[derive(Default)]
struct Waiters {
    slots: Vec<Option<Waker>>,
    free: Vec<usize>,
}

impl StopSignal {
    pub fn new() -> Self {
        Self::default()
    }

    /// Set the flag and wake every waiter.
    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        let wakers: Vec<Waker> = lock(&self.0.waiters)
            .slots
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Resolves once `cancel` was called (at once if it already was).
    pub fn cancelled(&self) -> Cancelled {
        Cancelled {
            signal: self.0.clone(),
            slot: None,
            waker: None,
        }
    }
}

/// The future of [`StopSignal::cancelled`].
pub struct Cancelled {
    signal: Arc<Inner>,
    slot: Option<usize>,
    /// The waker registered in `slot`, to skip re-registering the same one.
    waker: Option<Waker>,
}

impl Future for Cancelled {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.signal.cancelled.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        if self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            return Poll::Pending;
        }
        let this = &mut *self;
        let mut waiters = lock(&this.signal.waiters);
        // Checked again under the lock: `cancel` sets the flag before it
        // takes the wakers, so a waker stored now is either taken by it or
        // the flag is seen here.
        if this.signal.cancelled.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        let slot = match this.slot {
            Some(slot) => slot,
            None => match waiters.free.pop() {
                Some(slot) => slot,
                None => {
                    waiters.slots.push(None);
                    waiters.slots.len() - 1
                }
            },
        };
        waiters.slots[slot] = Some(cx.waker().clone());
        drop(waiters);
        this.slot = Some(slot);
        this.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Cancelled {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            let mut waiters = lock(&self.signal.waiters);
            waiters.slots[slot] = None;
            waiters.free.push(slot);
        }
    }
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
    /// Count a task until the returned guard is dropped.
    pub fn track(self: &Arc<Self>) -> Tracked {
        self.count.fetch_add(1, Ordering::AcqRel);
        Tracked(self.clone())
    }

    /// Connection tasks live now.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Resolves once no connection task is live (at once if none is).
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn every_waiter_wakes_on_cancel_and_later_waits_resolve_at_once() {
        let signal = StopSignal::new();
        let waiters: Vec<_> = (0..10)
            .map(|_| {
                let s = signal.clone();
                tokio::spawn(async move { s.cancelled().await })
            })
            .collect();
        tokio::task::yield_now().await;
        assert!(!signal.0.cancelled.load(Ordering::SeqCst));
        signal.cancel();
        for w in waiters {
            tokio::time::timeout(Duration::from_secs(5), w)
                .await
                .expect("woken")
                .unwrap();
        }
        assert!(signal.0.cancelled.load(Ordering::SeqCst));
        tokio::time::timeout(Duration::from_secs(5), signal.cancelled())
            .await
            .expect("already cancelled");
    }

    #[tokio::test]
    async fn a_dropped_waiter_frees_its_slot() {
        let signal = StopSignal::new();
        for _ in 0..3 {
            let mut wait = Box::pin(signal.cancelled());
            let waker = Waker::noop();
            assert!(
                wait.as_mut()
                    .poll(&mut Context::from_waker(waker))
                    .is_pending()
            );
            drop(wait);
        }
        let waiters = lock(&signal.0.waiters);
        assert_eq!(waiters.slots.len(), 1, "one slot, reused");
        assert_eq!(waiters.free, vec![0]);
    }

    #[tokio::test]
    async fn a_waiter_polled_by_another_task_is_woken_there() {
        let signal = StopSignal::new();
        let mut wait = Box::pin(signal.cancelled());
        assert!(
            wait.as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending()
        );
        // Moved to a real task: the new waker replaces the noop one.
        let task = tokio::spawn(wait);
        tokio::task::yield_now().await;
        signal.cancel();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("woken through the new waker")
            .unwrap();
    }
}
