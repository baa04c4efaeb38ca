//! Listener rows.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::{Result, now, parse_col, tags_from_sql, tags_to_sql};
use crate::model::{
    CertificateId, ListenerId, LoadBalancerId, OperatingStatus, Protocol, ProvisioningStatus,
};

/// A listener, serialized exactly as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Listener {
    pub id: ListenerId,
    #[serde(skip)]
    pub load_balancer_id: LoadBalancerId,
    pub protocol: Protocol,
    pub protocol_port: u16,
    /// `None` is unlimited.
    pub connection_limit: Option<u32>,
    pub default_tls_container_id: Option<CertificateId>,
    pub tenant_id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub enabled: bool,
    pub provisioning_status: ProvisioningStatus,
    pub operating_status: OperatingStatus,
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

const COLUMNS: &str = "id, load_balancer_id, protocol, protocol_port, connection_limit, \
     default_tls_container_id, tenant_id, name, description, enabled, provisioning_status, \
     operating_status, tags, created_at, updated_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Listener> {
    const T: &str = "listeners";
    let tls: Option<String> = row.get(5)?;
    Ok(Listener {
        id: parse_col(T, &row.get::<_, String>(0)?)?,
        load_balancer_id: parse_col(T, &row.get::<_, String>(1)?)?,
        protocol: parse_col(T, &row.get::<_, String>(2)?)?,
        protocol_port: row.get(3)?,
        connection_limit: row.get(4)?,
        default_tls_container_id: tls.map(|t| parse_col(T, &t)).transpose()?,
        tenant_id: row.get(6)?,
        name: row.get(7)?,
        description: row.get(8)?,
        enabled: row.get(9)?,
        provisioning_status: parse_col(T, &row.get::<_, String>(10)?)?,
        operating_status: parse_col(T, &row.get::<_, String>(11)?)?,
        tags: tags_from_sql(T, &row.get::<_, String>(12)?)?,
        created_at: row.get(13)?,
        updated_at: row.get(14)?,
    })
}

/// The listener `id` of load balancer `lb`.
pub fn get(conn: &Connection, lb: LoadBalancerId, id: ListenerId) -> Result<Option<Listener>> {
    let sql = format!("SELECT {COLUMNS} FROM listeners WHERE id = ?1 AND load_balancer_id = ?2");
    Ok(conn
        .query_row(&sql, [id.to_string(), lb.to_string()], from_row)
        .optional()?)
}

/// The listeners of a load balancer, oldest first.
pub fn list(conn: &Connection, lb: LoadBalancerId) -> Result<Vec<Listener>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM listeners WHERE load_balancer_id = ?1 ORDER BY created_at, rowid"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([lb.to_string()], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The listener `id`, whatever its load balancer.
pub fn find(conn: &Connection, id: ListenerId) -> Result<Option<Listener>> {
    let sql = format!("SELECT {COLUMNS} FROM listeners WHERE id = ?1");
    Ok(conn
        .query_row(&sql, [id.to_string()], from_row)
        .optional()?)
}

/// Every listener, oldest first.
pub fn list_all(conn: &Connection) -> Result<Vec<Listener>> {
    let sql = format!("SELECT {COLUMNS} FROM listeners ORDER BY created_at, rowid");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Whether any listener (of any load balancer) has this id.
pub fn id_taken(conn: &Connection, id: ListenerId) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM listeners WHERE id = ?1",
            [id.to_string()],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// The listener of `lb` on `port`, other than `except`.
pub fn port_taken(
    conn: &Connection,
    lb: LoadBalancerId,
    port: u16,
    except: Option<ListenerId>,
) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM listeners WHERE load_balancer_id = ?1 AND protocol_port = ?2 \
             AND id != ?3",
            params![
                lb.to_string(),
                port,
                except.map(|e| e.to_string()).unwrap_or_default()
            ],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Whether any listener uses the certificate.
pub fn uses_certificate(conn: &Connection, cert: CertificateId) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM listeners WHERE default_tls_container_id = ?1",
            [cert.to_string()],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Insert a new listener.
pub fn insert(conn: &Connection, l: &Listener) -> Result<()> {
    conn.execute(
        &format!("INSERT INTO listeners ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, NULL)"),
        params![
            l.id.to_string(),
            l.load_balancer_id.to_string(),
            l.protocol.as_str(),
            l.protocol_port,
            l.connection_limit,
            l.default_tls_container_id.map(|c| c.to_string()),
            l.tenant_id,
            l.name,
            l.description,
            l.enabled,
            l.provisioning_status.as_str(),
            l.operating_status.as_str(),
            tags_to_sql(&l.tags),
            l.created_at
        ],
    )?;
    Ok(())
}

/// Write every mutable field of `l` and stamp `updated_at`.
pub fn update(conn: &Connection, l: &Listener) -> Result<()> {
    conn.execute(
        "UPDATE listeners SET protocol = ?2, protocol_port = ?3, connection_limit = ?4, \
         default_tls_container_id = ?5, name = ?6, description = ?7, enabled = ?8, \
         provisioning_status = ?9, operating_status = ?10, tags = ?11, updated_at = ?12 \
         WHERE id = ?1",
        params![
            l.id.to_string(),
            l.protocol.as_str(),
            l.protocol_port,
            l.connection_limit,
            l.default_tls_container_id.map(|c| c.to_string()),
            l.name,
            l.description,
            l.enabled,
            l.provisioning_status.as_str(),
            l.operating_status.as_str(),
            tags_to_sql(&l.tags),
            now(),
        ],
    )?;
    Ok(())
}

/// Set a listener's provisioning status.
pub fn set_status(conn: &Connection, id: ListenerId, status: ProvisioningStatus) -> Result<()> {
    super::set_provisioning_status_of(conn, "listeners", &id.to_string(), status)
}

/// Set the operating status; returns whether it changed.
pub fn set_operating_status(
    conn: &Connection,
    id: ListenerId,
    status: OperatingStatus,
) -> Result<bool> {
    super::set_operating_status_of(conn, "listeners", &id.to_string(), status)
}

/// Delete a listener row (its pool, members and monitor cascade).
pub fn delete(conn: &Connection, id: ListenerId) -> Result<()> {
    conn.execute("DELETE FROM listeners WHERE id = ?1", [id.to_string()])?;
    Ok(())
}

/// Load balancers (not deleted) with at least one listener that has a
/// connection_limit.
pub fn limited_load_balancers(conn: &Connection) -> Result<Vec<LoadBalancerId>> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT l.load_balancer_id FROM listeners l \
         JOIN load_balancers b ON b.id = l.load_balancer_id \
         WHERE l.connection_limit IS NOT NULL AND b.provisioning_status != 'DELETED'",
    )?;
    let rows = stmt.query_map([], |r| {
        crate::store::parse_col::<LoadBalancerId>("listeners", &r.get::<_, String>(0)?)
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
