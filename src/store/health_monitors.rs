//! Health monitor rows (0 or 1 per pool; the pool id is the key, and each
//! has its own id, which v2 shows and v1 does not).

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::{Result, now, parse_col, tags_from_sql, tags_to_sql};
use crate::model::{HealthMonitorId, HealthMonitorType, HttpMethod, PoolId, ProvisioningStatus};

/// A health monitor, serialized exactly as the v1 API shows it (no id).
#[derive(Clone, Debug, Serialize)]
pub struct HealthMonitor {
    /// v2's id of the monitor (v1 addresses it by its pool).
    #[serde(skip)]
    pub id: HealthMonitorId,
    #[serde(skip)]
    pub pool_id: PoolId,
    /// v2 name (v1 does not show it).
    #[serde(skip)]
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: HealthMonitorType,
    /// Seconds between probes, >= 1.
    pub delay: u32,
    /// Seconds a probe may take, 1..=delay.
    pub timeout: u32,
    pub fall_threshold: u32,
    pub rise_threshold: u32,
    pub http_method: HttpMethod,
    pub url_path: String,
    pub expected_codes: String,
    pub enabled: bool,
    /// Kept internally: the seed's monitor has no provisioning_status.
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

const COLUMNS: &str = "pool_id, type, delay, timeout, fall_threshold, rise_threshold, \
     http_method, url_path, expected_codes, enabled, provisioning_status, id, name, tags, \
     created_at, updated_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<HealthMonitor> {
    const T: &str = "health_monitors";
    Ok(HealthMonitor {
        pool_id: parse_col(T, &row.get::<_, String>(0)?)?,
        kind: parse_col(T, &row.get::<_, String>(1)?)?,
        delay: row.get(2)?,
        timeout: row.get(3)?,
        fall_threshold: row.get(4)?,
        rise_threshold: row.get(5)?,
        http_method: parse_col(T, &row.get::<_, String>(6)?)?,
        url_path: row.get(7)?,
        expected_codes: row.get(8)?,
        enabled: row.get(9)?,
        provisioning_status: parse_col(T, &row.get::<_, String>(10)?)?,
        id: parse_col(T, &row.get::<_, String>(11)?)?,
        name: row.get(12)?,
        tags: tags_from_sql(T, &row.get::<_, String>(13)?)?,
        created_at: row.get(14)?,
        updated_at: row.get(15)?,
    })
}

/// The monitor `id`, whatever its pool.
pub fn find(conn: &Connection, id: HealthMonitorId) -> Result<Option<HealthMonitor>> {
    let sql = format!("SELECT {COLUMNS} FROM health_monitors WHERE id = ?1");
    Ok(conn
        .query_row(&sql, [id.to_string()], from_row)
        .optional()?)
}

/// Every monitor, oldest first.
pub fn list_all(conn: &Connection) -> Result<Vec<HealthMonitor>> {
    let sql = format!("SELECT {COLUMNS} FROM health_monitors ORDER BY created_at, rowid");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The monitor of a pool, if it has one.
pub fn get(conn: &Connection, pool: PoolId) -> Result<Option<HealthMonitor>> {
    let sql = format!("SELECT {COLUMNS} FROM health_monitors WHERE pool_id = ?1");
    Ok(conn
        .query_row(&sql, [pool.to_string()], from_row)
        .optional()?)
}

/// Insert a pool's monitor.
pub fn insert(conn: &Connection, h: &HealthMonitor) -> Result<()> {
    conn.execute(
        &format!("INSERT INTO health_monitors ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, NULL)"),
        params![
            h.pool_id.to_string(),
            h.kind.as_str(),
            h.delay,
            h.timeout,
            h.fall_threshold,
            h.rise_threshold,
            h.http_method.as_str(),
            h.url_path,
            h.expected_codes,
            h.enabled,
            h.provisioning_status.as_str(),
            h.id.to_string(),
            h.name,
            tags_to_sql(&h.tags),
            h.created_at
        ],
    )?;
    Ok(())
}

/// Write every mutable field of `h` and stamp `updated_at`.
pub fn update(conn: &Connection, h: &HealthMonitor) -> Result<()> {
    conn.execute(
        "UPDATE health_monitors SET type = ?2, delay = ?3, timeout = ?4, fall_threshold = ?5, \
         rise_threshold = ?6, http_method = ?7, url_path = ?8, expected_codes = ?9, enabled = ?10, \
         provisioning_status = ?11, name = ?12, tags = ?13, updated_at = ?14 WHERE pool_id = ?1",
        params![
            h.pool_id.to_string(),
            h.kind.as_str(),
            h.delay,
            h.timeout,
            h.fall_threshold,
            h.rise_threshold,
            h.http_method.as_str(),
            h.url_path,
            h.expected_codes,
            h.enabled,
            h.provisioning_status.as_str(),
            h.name,
            tags_to_sql(&h.tags),
            now(),
        ],
    )?;
    Ok(())
}

/// Set a monitor's (internal) provisioning status.
pub fn set_status(conn: &Connection, pool: PoolId, status: ProvisioningStatus) -> Result<()> {
    conn.execute(
        "UPDATE health_monitors SET provisioning_status = ?2 WHERE pool_id = ?1",
        params![pool.to_string(), status.as_str()],
    )?;
    Ok(())
}

/// Delete a pool's monitor.
pub fn delete(conn: &Connection, pool: PoolId) -> Result<()> {
    conn.execute(
        "DELETE FROM health_monitors WHERE pool_id = ?1",
        [pool.to_string()],
    )?;
    Ok(())
}
