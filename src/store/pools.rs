//! Pool rows (0 or 1 per listener).

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::{Result, now, parse_col};
use crate::model::{
    LbAlgorithm, ListenerId, OperatingStatus, PoolId, Protocol, ProvisioningStatus,
    SessionPersistence,
};

/// A pool, serialized exactly as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Pool {
    pub id: PoolId,
    #[serde(skip)]
    pub listener_id: ListenerId,
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
}

const COLUMNS: &str = "id, listener_id, protocol, lb_algorithm, persistence_type, cookie_name, \
     name, description, enabled, operating_status, provisioning_status";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Pool> {
    const T: &str = "pools";
    let kind: Option<String> = row.get(4)?;
    Ok(Pool {
        id: parse_col(T, &row.get::<_, String>(0)?)?,
        listener_id: parse_col(T, &row.get::<_, String>(1)?)?,
        protocol: parse_col(T, &row.get::<_, String>(2)?)?,
        lb_algorithm: parse_col(T, &row.get::<_, String>(3)?)?,
        session_persistence: match kind {
            Some(k) => Some(SessionPersistence {
                kind: parse_col(T, &k)?,
                cookie_name: row.get(5)?,
            }),
            None => None,
        },
        name: row.get(6)?,
        description: row.get(7)?,
        enabled: row.get(8)?,
        operating_status: parse_col(T, &row.get::<_, String>(9)?)?,
        provisioning_status: parse_col(T, &row.get::<_, String>(10)?)?,
    })
}

/// The pool `id` of listener `listener`.
pub fn get(conn: &Connection, listener: ListenerId, id: PoolId) -> Result<Option<Pool>> {
    let sql = format!("SELECT {COLUMNS} FROM pools WHERE id = ?1 AND listener_id = ?2");
    Ok(conn
        .query_row(&sql, [id.to_string(), listener.to_string()], from_row)
        .optional()?)
}

/// The pool of a listener, if it has one.
pub fn of_listener(conn: &Connection, listener: ListenerId) -> Result<Option<Pool>> {
    let sql = format!("SELECT {COLUMNS} FROM pools WHERE listener_id = ?1");
    Ok(conn
        .query_row(&sql, [listener.to_string()], from_row)
        .optional()?)
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
        &format!("INSERT INTO pools ({COLUMNS}, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"),
        params![
            p.id.to_string(),
            p.listener_id.to_string(),
            p.protocol.as_str(),
            p.lb_algorithm.as_str(),
            p.session_persistence.as_ref().map(|s| s.kind.as_str()),
            p.session_persistence.as_ref().and_then(|s| s.cookie_name.clone()),
            p.name,
            p.description,
            p.enabled,
            p.operating_status.as_str(),
            p.provisioning_status.as_str(),
            now()
        ],
    )?;
    Ok(())
}

/// Write every mutable field of `p`.
pub fn update(conn: &Connection, p: &Pool) -> Result<()> {
    conn.execute(
        "UPDATE pools SET protocol = ?2, lb_algorithm = ?3, persistence_type = ?4, \
         cookie_name = ?5, name = ?6, description = ?7, enabled = ?8, operating_status = ?9, \
         provisioning_status = ?10 WHERE id = ?1",
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
        ],
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
