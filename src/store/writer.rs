//! The one writer thread: every write transaction of the process runs here,
//! so writers queue in-process (not in SQLite's sleeping busy handler) and
//! writes that arrive together share one commit and one fsync.
//!
//! Each queued operation runs inside its own savepoint of the batch's
//! IMMEDIATE transaction; one that fails is rolled back alone. Answers go
//! out only after the commit, so nobody sees an acknowledged write that a
//! crash could still take back.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};

use rusqlite::{Connection, TransactionBehavior};
use tracing::error;

use super::{Result, StoreError};

/// Hands an operation's result to its caller once the commit is known.
pub type Deliver = Box<dyn FnOnce(Result<()>) + Send>;

/// One queued write.
pub trait Write: Send {
    /// Run on the writer's connection (inside a savepoint); say whether to
    /// keep what was done, and how to deliver the result after the commit.
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Deliver);
    /// The write could not run at all.
    fn abort(self: Box<Self>, error: StoreError);
}

/// A queued write.
pub type Op = Box<dyn Write>;

/// Most operations one commit takes.
const MAX_BATCH: usize = 128;

/// Start the writer thread on `conn`.
pub fn spawn(conn: Connection) -> Result<Sender<Op>> {
    let (sender, receiver) = channel::<Op>();
    std::thread::Builder::new()
        .name("ballast-store-writer".into())
        .spawn(move || run(conn, receiver))
        .map_err(|e| StoreError::Task(format!("cannot start the writer thread: {e}")))?;
    Ok(sender)
}

fn run(mut conn: Connection, queue: Receiver<Op>) {
    // Ends when every Store handle (and so every sender) is gone.
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        commit_batch(&mut conn, batch);
    }
}

fn commit_batch(conn: &mut Connection, batch: Vec<Op>) {
    let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            // Nothing ran: every operation learns why.
            let reason = e.to_string();
            for op in batch {
                op.abort(StoreError::Task(format!(
                    "write transaction failed: {reason}"
                )));
            }
            return;
        }
    };
    let mut delivers = Vec::with_capacity(batch.len());
    for op in batch {
        let sp = match tx.savepoint() {
            Ok(sp) => sp,
            Err(e) => {
                op.abort(StoreError::Sqlite(e));
                continue;
            }
        };
        match catch_unwind(AssertUnwindSafe(|| op.run(&sp))) {
            Ok((true, deliver)) => match sp.commit() {
                Ok(()) => delivers.push(deliver),
                Err(e) => deliver(Err(StoreError::Sqlite(e))),
            },
            // Dropping the savepoint rolls back what the operation did.
            Ok((false, deliver)) => {
                drop(sp);
                delivers.push(deliver);
            }
            Err(_) => {
                // The caller's answer channel went down with the panic; it
                // sees "abandoned" and answers 500.
                error!("a write operation panicked; its changes were rolled back");
            }
        }
    }
    let committed = tx.commit();
    let failure = committed.as_ref().err().map(|e| e.to_string());
    for deliver in delivers {
        deliver(match &failure {
            None => Ok(()),
            Some(reason) => Err(StoreError::Task(format!("commit failed: {reason}"))),
        });
    }
}
