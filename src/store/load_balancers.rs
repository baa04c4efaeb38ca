//! Load balancer rows.

use std::net::IpAddr;

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::{Result, now, parse_col, tags_from_sql, tags_to_sql};
use crate::model::{LoadBalancerId, NetworkId, OperatingStatus, PortId, ProvisioningStatus};

/// A load balancer, serialized exactly as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct LoadBalancer {
    pub id: LoadBalancerId,
    pub vip: Vip,
    pub tenant_id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub enabled: bool,
    pub provisioning_status: ProvisioningStatus,
    pub operating_status: OperatingStatus,
    /// Why the last provisioning flow failed (logs only, not the API).
    #[serde(skip)]
    pub last_error: Option<String>,
    /// When it reached DELETED (seconds since the epoch).
    #[serde(skip)]
    pub deleted_at: Option<i64>,
    /// v2 tags (v1 does not show them).
    #[serde(skip)]
    pub tags: Vec<String>,
    /// Seconds since the epoch; set by [`insert`].
    #[serde(skip)]
    pub created_at: i64,
    /// Seconds since the epoch of the last change of any kind.
    #[serde(skip)]
    pub updated_at: i64,
}

/// The virtual IP of a load balancer.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Vip {
    pub ip_address: IpAddr,
    pub port_id: PortId,
    pub network_id: NetworkId,
}

const COLUMNS: &str = "id, tenant_id, name, description, enabled, provisioning_status, \
     operating_status, vip_address, vip_port_id, vip_network_id, last_error, deleted_at, tags, \
     created_at, updated_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<LoadBalancer> {
    const T: &str = "load_balancers";
    Ok(LoadBalancer {
        id: parse_col(T, &row.get::<_, String>(0)?)?,
        tenant_id: row.get(1)?,
        name: row.get(2)?,
        description: row.get(3)?,
        enabled: row.get(4)?,
        provisioning_status: parse_col(T, &row.get::<_, String>(5)?)?,
        operating_status: parse_col(T, &row.get::<_, String>(6)?)?,
        vip: Vip {
            ip_address: parse_col(T, &row.get::<_, String>(7)?)?,
            port_id: parse_col(T, &row.get::<_, String>(8)?)?,
            network_id: parse_col(T, &row.get::<_, String>(9)?)?,
        },
        last_error: row.get(10)?,
        deleted_at: row.get(11)?,
        tags: tags_from_sql(T, &row.get::<_, String>(12)?)?,
        created_at: row.get(13)?,
        updated_at: row.get(14)?,
    })
}

/// The load balancer `id`, DELETED ones included.
pub fn get(conn: &Connection, id: LoadBalancerId) -> Result<Option<LoadBalancer>> {
    let sql = format!("SELECT {COLUMNS} FROM load_balancers WHERE id = ?1");
    Ok(conn
        .query_row(&sql, [id.to_string()], from_row)
        .optional()?)
}

/// Every load balancer, oldest first.
pub fn list(conn: &Connection) -> Result<Vec<LoadBalancer>> {
    let sql = format!("SELECT {COLUMNS} FROM load_balancers ORDER BY created_at, rowid");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Whether a load balancer with this id exists (in any state).
pub fn exists(conn: &Connection, id: LoadBalancerId) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM load_balancers WHERE id = ?1",
            [id.to_string()],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Insert a new load balancer.
pub fn insert(conn: &Connection, lb: &LoadBalancer) -> Result<()> {
    let ts = lb.created_at;
    conn.execute(
        "INSERT INTO load_balancers (id, tenant_id, name, description, enabled, \
         provisioning_status, operating_status, vip_address, vip_port_id, vip_network_id, \
         created_at, updated_at, tags) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12)",
        params![
            lb.id.to_string(),
            lb.tenant_id,
            lb.name,
            lb.description,
            lb.enabled,
            lb.provisioning_status.as_str(),
            lb.operating_status.as_str(),
            lb.vip.ip_address.to_string(),
            lb.vip.port_id.to_string(),
            lb.vip.network_id.to_string(),
            ts,
            tags_to_sql(&lb.tags)
        ],
    )?;
    Ok(())
}

/// Write the mutable fields of `lb` (name, description, enabled, statuses,
/// tags).
pub fn update(conn: &Connection, lb: &LoadBalancer) -> Result<()> {
    conn.execute(
        "UPDATE load_balancers SET name = ?2, description = ?3, enabled = ?4, \
         provisioning_status = ?5, operating_status = ?6, updated_at = ?7, tags = ?8 \
         WHERE id = ?1",
        params![
            lb.id.to_string(),
            lb.name,
            lb.description,
            lb.enabled,
            lb.provisioning_status.as_str(),
            lb.operating_status.as_str(),
            now(),
            tags_to_sql(&lb.tags)
        ],
    )?;
    Ok(())
}

/// Set the provisioning status; `last_error` is kept only for ERROR.
pub fn set_status(
    conn: &Connection,
    id: LoadBalancerId,
    status: ProvisioningStatus,
    last_error: Option<&str>,
) -> Result<()> {
    conn.execute(
        "UPDATE load_balancers SET provisioning_status = ?2, last_error = ?3, updated_at = ?4 \
         WHERE id = ?1",
        params![id.to_string(), status.as_str(), last_error, now()],
    )?;
    Ok(())
}

/// Set the operating status; returns whether it changed.
pub fn set_operating_status(
    conn: &Connection,
    id: LoadBalancerId,
    status: OperatingStatus,
) -> Result<bool> {
    super::set_operating_status_of(conn, "load_balancers", &id.to_string(), status)
}

/// Mark a load balancer DELETED / OFFLINE (it stays readable until purged).
pub fn mark_deleted(conn: &Connection, id: LoadBalancerId) -> Result<()> {
    let ts = now();
    conn.execute(
        "UPDATE load_balancers SET provisioning_status = 'DELETED', operating_status = 'OFFLINE', \
         last_error = NULL, updated_at = ?2, deleted_at = ?2 WHERE id = ?1",
        params![id.to_string(), ts],
    )?;
    Ok(())
}

/// Remove DELETED load balancers that reached DELETED before `before`.
pub fn purge_deleted_before(conn: &Connection, before: i64) -> Result<usize> {
    Ok(conn.execute(
        "DELETE FROM load_balancers WHERE provisioning_status = 'DELETED' AND deleted_at < ?1",
        [before],
    )?)
}

/// Remove every listener and pool of a load balancer (members and monitors
/// cascade): the end of its delete.
pub fn delete_children(conn: &Connection, id: LoadBalancerId) -> Result<()> {
    conn.execute(
        "DELETE FROM listeners WHERE load_balancer_id = ?1",
        [id.to_string()],
    )?;
    conn.execute(
        "DELETE FROM pools WHERE load_balancer_id = ?1",
        [id.to_string()],
    )?;
    Ok(())
}

/// Move every PENDING_* object under a load balancer to `to` (the end of a
/// provisioning job). With `apply_deletes`, objects pending deletion are
/// removed instead (their children go with them by cascade).
pub fn settle_children(
    conn: &Connection,
    lb: LoadBalancerId,
    to: ProvisioningStatus,
    apply_deletes: bool,
) -> Result<()> {
    let lb = lb.to_string();
    let pools = "SELECT id FROM pools WHERE load_balancer_id = ?1";
    if apply_deletes {
        // Children go first only by cascade: deleting a listener takes its
        // pool, members and monitor with it.
        conn.execute(
            "DELETE FROM listeners WHERE load_balancer_id = ?1 AND provisioning_status = 'PENDING_DELETE'",
            [&lb],
        )?;
        conn.execute(
            "DELETE FROM pools WHERE load_balancer_id = ?1 AND provisioning_status = 'PENDING_DELETE'",
            [&lb],
        )?;
        conn.execute(
            &format!("DELETE FROM members WHERE pool_id IN ({pools}) AND provisioning_status = 'PENDING_DELETE'"),
            [&lb],
        )?;
        conn.execute(
            &format!("DELETE FROM health_monitors WHERE pool_id IN ({pools}) AND provisioning_status = 'PENDING_DELETE'"),
            [&lb],
        )?;
    }
    let pending = "provisioning_status IN ('PENDING_CREATE', 'PENDING_UPDATE', 'PENDING_DELETE')";
    let to = to.as_str();
    conn.execute(
        &format!("UPDATE listeners SET provisioning_status = ?2 WHERE load_balancer_id = ?1 AND {pending}"),
        [&lb, to],
    )?;
    conn.execute(
        &format!(
            "UPDATE pools SET provisioning_status = ?2 WHERE load_balancer_id = ?1 AND {pending}"
        ),
        [&lb, to],
    )?;
    conn.execute(
        &format!(
            "UPDATE members SET provisioning_status = ?2 WHERE pool_id IN ({pools}) AND {pending}"
        ),
        [&lb, to],
    )?;
    conn.execute(
        &format!("UPDATE health_monitors SET provisioning_status = ?2 WHERE pool_id IN ({pools}) AND {pending}"),
        [&lb, to],
    )?;
    Ok(())
}
