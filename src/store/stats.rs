//! Persisted listener counter totals.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Result, now};
use crate::model::{ListenerId, ListenerStats, StatsBase};

/// The persisted totals of a listener (zeros when none yet).
pub fn get(conn: &Connection, listener: ListenerId) -> Result<StatsBase> {
    Ok(conn
        .query_row(
            "SELECT bytes_in, bytes_out, total_connections FROM listener_stats \
             WHERE listener_id = ?1",
            [listener.to_string()],
            |r| {
                Ok(StatsBase {
                    bytes_in: r.get::<_, i64>(0)? as u64,
                    bytes_out: r.get::<_, i64>(1)? as u64,
                    total_connections: r.get::<_, i64>(2)? as u64,
                })
            },
        )
        .optional()?
        .unwrap_or_default())
}

/// Persist live totals. Counters never go backwards
/// ([`StatsBase::at_least`]): a smaller value than the stored one is ignored.
pub fn save(conn: &Connection, listener: ListenerId, stats: &ListenerStats) -> Result<()> {
    // The listener may be gone already (deleted while we read its counters):
    // nothing to keep then.
    let exists: bool = conn
        .query_row(
            "SELECT 1 FROM listeners WHERE id = ?1",
            [listener.to_string()],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if !exists {
        return Ok(());
    }
    // Read and write in the caller's transaction: no other writer can slip
    // a larger total in between.
    let totals = stats.totals().at_least(get(conn, listener)?);
    conn.execute(
        "INSERT INTO listener_stats (listener_id, bytes_in, bytes_out, total_connections, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (listener_id) DO UPDATE SET \
         bytes_in = excluded.bytes_in, \
         bytes_out = excluded.bytes_out, \
         total_connections = excluded.total_connections, \
         updated_at = excluded.updated_at",
        params![
            listener.to_string(),
            totals.bytes_in as i64,
            totals.bytes_out as i64,
            totals.total_connections as i64,
            now()
        ],
    )?;
    Ok(())
}

/// Persist the live totals of several listeners ([`save`] each).
pub fn save_all(conn: &Connection, stats: &[(ListenerId, ListenerStats)]) -> Result<()> {
    for (listener, s) in stats {
        save(conn, *listener, s)?;
    }
    Ok(())
}

/// Every listener with its load balancer, name (empty when unset) and
/// persisted totals (zeros when none yet), for `/metrics`.
pub fn all_listener_totals(
    conn: &Connection,
) -> Result<Vec<(ListenerId, crate::model::LoadBalancerId, String, StatsBase)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT l.id, l.load_balancer_id, coalesce(l.name, ''), coalesce(s.bytes_in, 0), \
         coalesce(s.bytes_out, 0), coalesce(s.total_connections, 0) \
         FROM listeners l LEFT JOIN listener_stats s ON s.listener_id = l.id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            super::parse_col("listeners", &r.get::<_, String>(0)?)?,
            super::parse_col("listeners", &r.get::<_, String>(1)?)?,
            r.get::<_, String>(2)?,
            StatsBase {
                bytes_in: r.get::<_, i64>(3)? as u64,
                bytes_out: r.get::<_, i64>(4)? as u64,
                total_connections: r.get::<_, i64>(5)? as u64,
            },
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
