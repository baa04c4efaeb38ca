//! Giving memory back after a burst of connections.
//!
//! Measured (issue 14): 3,000 concurrent requests with 60 KB headers took
//! the process from 32 MB to 470 MB of RSS, and once every connection had
//! closed (descriptors back to 54) RSS stayed at 470 MB for good; with
//! `MALLOC_ARENA_MAX=1` too. Nothing was held: the connections' buffers
//! were freed to glibc's malloc, which only returns memory at the very top
//! of a heap, and a few long-lived allocations made during the burst sit
//! above the freed ones. `malloc_trim(0)` releases the free pages inside
//! every heap (`madvise`), which brings RSS back to about the start.
//!
//! So a loop samples the live connection count every second and trims once
//! the count has fallen to under half of its peak since the last trim (and
//! by at least [`TRIM_AFTER_DROP`] connections): a cost paid after bursts
//! only, on the blocking pool, never on the hot path.

use std::sync::Weak;
use std::time::Duration;

use tracing::debug;

use super::drain::ConnTracker;

/// How many connections must have closed since the peak before a trim.
const TRIM_AFTER_DROP: usize = 256;

/// How often the connection count is sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// Sample `tracker` until it is gone and trim the allocator after bursts.
pub(crate) async fn trim_after_bursts(tracker: Weak<ConnTracker>) {
    let mut ticks = tokio::time::interval(SAMPLE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut peak = 0;
    loop {
        ticks.tick().await;
        let Some(now) = tracker.upgrade().map(|t| t.count()) else {
            return;
        };
        peak = peak.max(now);
        if !burst_over(peak, now) {
            continue;
        }
        peak = now;
        // Walks every heap under its lock: milliseconds for a large one,
        // so not on a worker's own thread.
        match tokio::task::spawn_blocking(trim).await {
            Ok(released) => debug!(released, "allocator trimmed after a burst"),
            Err(error) => debug!(%error, "allocator trim failed"),
        }
    }
}

/// Whether the connections have fallen from `peak` far enough to trim.
fn burst_over(peak: usize, now: usize) -> bool {
    peak >= now + TRIM_AFTER_DROP && now < peak / 2
}

/// Return free heap memory to the system; true when some was released.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn trim() -> bool {
    unsafe extern "C" {
        /// glibc: release free memory from the heaps (`malloc.h`).
        fn malloc_trim(pad: usize) -> i32;
    }
    // SAFETY: malloc_trim takes no pointers and only works on glibc's own
    // heaps under their locks; it is safe to call from any thread at any
    // time.
    unsafe { malloc_trim(0) != 0 }
}

/// Other allocators return memory on their own.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_large_fall_from_the_peak_is_a_burst_over() {
        assert!(!burst_over(0, 0));
        assert!(!burst_over(300, 200), "not under half");
        assert!(!burst_over(200, 0), "too few closed");
        assert!(burst_over(3000, 10));
        assert!(burst_over(600, 299));
    }
}
