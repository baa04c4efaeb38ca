//! The controller's durable job queue.
//!
//! A job is written in the same transaction as the API write it applies, so
//! an acknowledged write always has its job. States: pending -> running ->
//! done | failed; `running` jobs found at start-up are run again (flows are
//! idempotent).

use rusqlite::{Connection, OptionalExtension, params};

use super::{Result, now, parse_col};
use crate::model::{JobKind, LoadBalancerId};

/// An open job.
#[derive(Clone, Debug)]
pub struct Job {
    pub id: i64,
    pub load_balancer_id: LoadBalancerId,
    /// What the write was (logs and metrics).
    pub kind: JobKind,
    pub object_id: Option<String>,
    pub attempts: u32,
}

/// Queue a job.
pub fn insert(
    conn: &Connection,
    lb: LoadBalancerId,
    kind: JobKind,
    object_id: Option<String>,
) -> Result<i64> {
    conn.execute(
        "INSERT INTO jobs (load_balancer_id, kind, object_id, state, created_at) \
         VALUES (?1, ?2, ?3, 'pending', ?4)",
        params![lb.to_string(), kind.as_str(), object_id, now()],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Pending jobs, oldest first.
pub fn pending(conn: &Connection) -> Result<Vec<Job>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, load_balancer_id, kind, object_id, attempts FROM jobs \
         WHERE state = 'pending' ORDER BY id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Job {
            id: r.get(0)?,
            load_balancer_id: parse_col("jobs", &r.get::<_, String>(1)?)?,
            kind: parse_col("jobs", &r.get::<_, String>(2)?)?,
            object_id: r.get(3)?,
            attempts: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Claim a pending job; false when someone else already did.
pub fn claim(conn: &Connection, id: i64) -> Result<bool> {
    let n = conn.execute(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1 \
         WHERE id = ?1 AND state = 'pending'",
        [id],
    )?;
    Ok(n == 1)
}

/// Close a job as done.
pub fn finish(conn: &Connection, id: i64) -> Result<()> {
    conn.execute(
        "UPDATE jobs SET state = 'done', finished_at = ?2 WHERE id = ?1",
        params![id, now()],
    )?;
    Ok(())
}

/// Close a job as failed, keeping the cause.
pub fn fail(conn: &Connection, id: i64, error: &str) -> Result<()> {
    conn.execute(
        "UPDATE jobs SET state = 'failed', error = ?2, finished_at = ?3 WHERE id = ?1",
        params![id, error, now()],
    )?;
    Ok(())
}

/// Put jobs a previous process left running back in the queue.
pub fn requeue_running(conn: &Connection) -> Result<usize> {
    Ok(conn.execute(
        "UPDATE jobs SET state = 'pending' WHERE state = 'running'",
        [],
    )?)
}

/// Whether a load balancer has an open job.
pub fn has_open(conn: &Connection, lb: LoadBalancerId) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM jobs WHERE load_balancer_id = ?1 AND state IN ('pending', 'running')",
            [lb.to_string()],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Forget closed jobs finished before `before`.
pub fn purge_closed_before(conn: &Connection, before: i64) -> Result<usize> {
    Ok(conn.execute(
        "DELETE FROM jobs WHERE state IN ('done', 'failed') AND finished_at < ?1",
        [before],
    )?)
}
