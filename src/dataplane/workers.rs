//! The data plane's own threads: one single-threaded tokio runtime per
//! worker, like HAProxy's `nbthread`.
//!
//! Every listener binds one socket, and one worker accepts on it (listeners
//! are spread over the workers in turn). The accepting worker hands each
//! connection round robin to a worker, moving the socket to that worker's
//! reactor (see `listener`), which keeps connection_limit exact and the
//! spread even. A connection then lives on that one worker, together with
//! the member connections it borrows from that worker's idle lists (see
//! `member_conns`): past the hand-over, the hot path never wakes another
//! thread and never pays a work-stealing scheduler. Each worker also runs
//! its connection sweep (`sweep`). The API, the store and the health
//! checker keep their own runtime, so a burst of control-plane work does
//! not sit in front of proxied requests.

use std::cell::Cell;
use std::io;
use std::sync::mpsc;
use std::thread;

use tokio::runtime::{Builder, Handle};
use tokio_util::sync::CancellationToken;

thread_local! {
    static WORKER: Cell<usize> = const { Cell::new(0) };
}

/// Index of the worker running the caller (0 off the worker threads).
pub(crate) fn current() -> usize {
    WORKER.get()
}

/// The worker threads; dropping this stops them (their open connections
/// are closed with their runtimes).
pub(crate) struct Workers {
    handles: Vec<Handle>,
    stop: CancellationToken,
}

impl Workers {
    /// Start `count` workers (at least one).
    pub fn start(count: usize) -> io::Result<Self> {
        let stop = CancellationToken::new();
        let mut handles = Vec::with_capacity(count.max(1));
        for index in 0..count.max(1) {
            let (ready, built) = mpsc::channel();
            let stop = stop.clone();
            thread::Builder::new()
                .name(format!("ballast-dp-{index}"))
                .spawn(move || {
                    WORKER.set(index);
                    let runtime = match Builder::new_current_thread().enable_all().build() {
                        Ok(runtime) => runtime,
                        Err(error) => {
                            let _ = ready.send(Err(error));
                            return;
                        }
                    };
                    let _ = ready.send(Ok(runtime.handle().clone()));
                    runtime.block_on(stop.cancelled());
                })?;
            let handle = built
                .recv()
                .map_err(|_| io::Error::other("a data plane worker died while starting"))??;
            handles.push(handle);
        }
        Ok(Self { handles, stop })
    }

    /// One runtime handle per worker, in worker order.
    pub fn handles(&self) -> &[Handle] {
        &self.handles
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_run_on_their_own_worker() {
        let workers = Workers::start(2).unwrap();
        let seen: Vec<usize> = workers
            .handles()
            .iter()
            .map(|h| {
                let (tx, rx) = mpsc::channel();
                h.spawn(async move { tx.send(current()).unwrap() });
                rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap()
            })
            .collect();
        assert_eq!(seen, vec![0, 1]);
    }

    #[test]
    fn zero_means_one_worker() {
        assert_eq!(Workers::start(0).unwrap().handles().len(), 1);
    }
}
