//! The one polling helper of the integration tests (STYLE: no sleeps as
//! synchronisation). `tests/common` and `tests/dataplane_support` both
//! include this file.
//!
//! It blocks. Async tests may call it from their body too: a
//! `#[tokio::test(flavor = "multi_thread")]` body runs on the runtime's
//! `block_on` thread, not on a worker, so the tasks it waits for (and the
//! data plane's own worker threads) keep running.

use std::time::{Duration, Instant};

/// Poll `cond` every 20 ms until it holds; panic after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
