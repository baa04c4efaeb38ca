//! Pool rows. A pool belongs to a load balancer; it is the default pool of at
//! most one listener (`listener_id`) or stands alone (v2 only).

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::{Result, now, parse_col, tags_from_sql, tags_to_sql};
use crate::model::{
    LbAlgorithm, ListenerId, LoadBalancerId, OperatingStatus, PoolId, Protocol, ProvisioningStatus,
    SessionPersistence,
};

/// A pool, serialized exactly as the v1 API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Pool {
    pub id: PoolId,
    #[serde(skip)]
    pub load_balancer_id: LoadBalancerId,
    /// The listener whose default pool this is; `None` for a standalone pool.
    #[serde(skip)]
    pub listener_id: Option<ListenerId>,
    pub protocol: Protocol,
    pub lb_algorithm: LbAlgorithm,
    pub session_persistence: Option<SessionPersistence>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub enabled: bool,
    pub operating_status: OperatingStatus,
    /// Kept internally: the seed's pool has no provisioning_status.
    #[serde(skip)]
    pub provisioning_status: ProvisioningStatus,
    /// v2 tags (v1 does not show them).
    #[serde(skip)]
    pub tags: Vec<String>,
    /// Seconds since the epoch; set by [`insert`].
    #[serde(skip)]
    pub created_at: i64,
    /// Seconds since the epoch of the last [`update`]; `None` until then.
    #[serde(skip)]
    pub updated_at: Option<i64>,
}

const COLUMNS: &str = "id, load_balancer_id, listener_id, protocol, lb_algorithm, \
     persistence_type, cookie_name, name, description, enabled, operating_status, \
     provisioning_status, tags, created_at, updated_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Pool> {
    const T: &str = "pools";
    let kind: Option<String> = row.get(5)?;
    let listener: Option<String> = row.get(2)?;
    Ok(Pool {
        id: parse_col(T, &row.get::<_, String>(0)?)?,
        load_balancer_id: parse_col(T, &row.get::<_, String>(1)?)?,
        listener_id: listener.map(|l| parse_col(T, &l)).transpose()?,
        protocol: parse_col(T, &row.get::<_, String>(3)?)?,
        lb_algorithm: parse_col(T, &row.get::<_, String>(4)?)?,
        session_persistence: match kind {
            Some(k) => Some(SessionPersistence {
                kind: parse_col(T, &k)?,
                cookie_name: row.get(6)?,
            }),
            None => None,
        },
        name: row.get(7)?,
        description: row.get(8)?,
        enabled: row.get(9)?,
        operating_status: parse_col(T, &row.get::<_, String>(10)?)?,
        provisioning_status: parse_col(T, &row.get::<_, String>(11)?)?,
        tags: tags_from_sql(T, &row.get::<_, String>(12)?)?,
        created_at: row.get(13)?,
        updated_at: row.get(14)?,
    })
}

fn query(conn: &Connection, filter: &str, args: impl rusqlite::Params) -> Result<Vec<Pool>> {
    let sql = format!("SELECT {COLUMNS} FROM pools {filter} ORDER BY created_at, rowid");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(args, from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The pool `id` of listener `listener`.
pub fn get(conn: &Connection, listener: ListenerId, id: PoolId) -> Result<Option<Pool>> {
    let sql = format!("SELECT {COLUMNS} FROM pools WHERE id = ?1 AND listener_id = ?2");
    Ok(conn
        .query_row(&sql, [id.to_string(), listener.to_string()], from_row)
        .optional()?)
}

/// The pool `id`, whatever it belongs to.
pub fn find(conn: &Connection, id: PoolId) -> Result<Option<Pool>> {
    let sql = format!("SELECT {COLUMNS} FROM pools WHERE id = ?1");
    Ok(conn
        .query_row(&sql, [id.to_string()], from_row)
        .optional()?)
}

/// The default pool of a listener, if it has one.
pub fn of_listener(conn: &Connection, listener: ListenerId) -> Result<Option<Pool>> {
    let sql = format!("SELECT {COLUMNS} FROM pools WHERE listener_id = ?1");
    Ok(conn
        .query_row(&sql, [listener.to_string()], from_row)
        .optional()?)
}

/// Every pool of a load balancer (default and standalone), oldest first.
pub fn of_load_balancer(conn: &Connection, lb: LoadBalancerId) -> Result<Vec<Pool>> {
    query(conn, "WHERE load_balancer_id = ?1", [lb.to_string()])
}

/// The standalone pools (no listener) of a load balancer, oldest first.
pub fn standalone(conn: &Connection, lb: LoadBalancerId) -> Result<Vec<Pool>> {
    query(
        conn,
        "WHERE load_balancer_id = ?1 AND listener_id IS NULL",
        [lb.to_string()],
    )
}

/// Every pool, oldest first.
pub fn list_all(conn: &Connection) -> Result<Vec<Pool>> {
    query(conn, "", [])
}

/// Whether any pool has this id.
pub fn id_taken(conn: &Connection, id: PoolId) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM pools WHERE id = ?1",
            [id.to_string()],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Insert a new pool.
pub fn insert(conn: &Connection, p: &Pool) -> Result<()> {
    conn.execute(
        &format!(
            "INSERT INTO pools ({COLUMNS}) VALUES \
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, NULL)"
        ),
        params![
            p.id.to_string(),
            p.load_balancer_id.to_string(),
            p.listener_id.map(|l| l.to_string()),
            p.protocol.as_str(),
            p.lb_algorithm.as_str(),
            p.session_persistence.as_ref().map(|s| s.kind.as_str()),
            p.session_persistence
                .as_ref()
                .and_then(|s| s.cookie_name.clone()),
            p.name,
            p.description,
            p.enabled,
            p.operating_status.as_str(),
            p.provisioning_status.as_str(),
            tags_to_sql(&p.tags),
            p.created_at
        ],
    )?;
    Ok(())
}

/// Write every mutable field of `p` (its listener link included) and stamp
/// `updated_at`.
pub fn update(conn: &Connection, p: &Pool) -> Result<()> {
    conn.execute(
        "UPDATE pools SET protocol = ?2, lb_algorithm = ?3, persistence_type = ?4, \
         cookie_name = ?5, name = ?6, description = ?7, enabled = ?8, operating_status = ?9, \
         provisioning_status = ?10, listener_id = ?11, tags = ?12, updated_at = ?13 WHERE id = ?1",
        params![
            p.id.to_string(),
            p.protocol.as_str(),
            p.lb_algorithm.as_str(),
            p.session_persistence.as_ref().map(|s| s.kind.as_str()),
            p.session_persistence
                .as_ref()
                .and_then(|s| s.cookie_name.clone()),
            p.name,
            p.description,
            p.enabled,
            p.operating_status.as_str(),
            p.provisioning_status.as_str(),
            p.listener_id.map(|l| l.to_string()),
            tags_to_sql(&p.tags),
            now(),
        ],
    )?;
    Ok(())
}

/// Detach the default pool of `listener`, if any, making it standalone (v2
/// deletes a listener but keeps its pool).
pub fn detach_from_listener(conn: &Connection, listener: ListenerId) -> Result<()> {
    conn.execute(
        "UPDATE pools SET listener_id = NULL WHERE listener_id = ?1",
        [listener.to_string()],
    )?;
    Ok(())
}

/// Set a pool's (internal) provisioning status.
pub fn set_status(conn: &Connection, id: PoolId, status: ProvisioningStatus) -> Result<()> {
    super::set_provisioning_status_of(conn, "pools", &id.to_string(), status)
}

/// Set the operating status; returns whether it changed.
pub fn set_operating_status(
    conn: &Connection,
    id: PoolId,
    status: OperatingStatus,
) -> Result<bool> {
    super::set_operating_status_of(conn, "pools", &id.to_string(), status)
}

/// Delete a pool row (members and monitor cascade).
pub fn delete(conn: &Connection, id: PoolId) -> Result<()> {
    conn.execute("DELETE FROM pools WHERE id = ?1", [id.to_string()])?;
    Ok(())
}
