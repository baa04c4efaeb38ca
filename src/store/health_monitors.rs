//! Health monitor rows (0 or 1 per pool; the pool id is the key).

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::{Result, now, parse_col};
use crate::model::{HealthMonitorType, HttpMethod, PoolId, ProvisioningStatus};

/// A health monitor, serialized exactly as the API shows it (it has no id).
#[derive(Clone, Debug, Serialize)]
pub struct HealthMonitor {
    #[serde(skip)]
    pub pool_id: PoolId,
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
}

const COLUMNS: &str = "pool_id, type, delay, timeout, fall_threshold, rise_threshold, \
     http_method, url_path, expected_codes, enabled, provisioning_status";

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
    })
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
        &format!("INSERT INTO health_monitors ({COLUMNS}, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"),
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
            now()
        ],
    )?;
    Ok(())
}

/// Write every mutable field of `h`.
pub fn update(conn: &Connection, h: &HealthMonitor) -> Result<()> {
    conn.execute(
        "UPDATE health_monitors SET type = ?2, delay = ?3, timeout = ?4, fall_threshold = ?5, \
         rise_threshold = ?6, http_method = ?7, url_path = ?8, expected_codes = ?9, enabled = ?10, \
         provisioning_status = ?11 WHERE pool_id = ?1",
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
