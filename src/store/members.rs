//! Member rows.

use std::net::IpAddr;

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::{Result, now, parse_col, tags_from_sql, tags_to_sql};
use crate::model::{MemberId, OperatingStatus, PoolId, ProvisioningStatus};

/// A pool member, serialized exactly as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Member {
    pub id: MemberId,
    #[serde(skip)]
    pub pool_id: PoolId,
    pub ip_address: IpAddr,
    pub protocol_port: u16,
    /// 0..=256; 0 takes no new connections.
    pub weight: u32,
    pub subnet_id: Option<String>,
    pub enabled: bool,
    pub operating_status: OperatingStatus,
    /// Kept internally: the seed's member has no provisioning_status.
    #[serde(skip)]
    pub provisioning_status: ProvisioningStatus,
    /// v2 name (v1 does not show it).
    #[serde(skip)]
    pub name: Option<String>,
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

const COLUMNS: &str = "id, pool_id, ip_address, protocol_port, weight, subnet_id, enabled, \
     operating_status, provisioning_status, name, tags, created_at, updated_at";
/// How many columns [`from_row`] reads.
const COLUMN_COUNT: usize = 13;

fn from_row(row: &Row<'_>) -> rusqlite::Result<Member> {
    const T: &str = "members";
    Ok(Member {
        id: parse_col(T, &row.get::<_, String>(0)?)?,
        pool_id: parse_col(T, &row.get::<_, String>(1)?)?,
        ip_address: parse_col(T, &row.get::<_, String>(2)?)?,
        protocol_port: row.get(3)?,
        weight: row.get(4)?,
        subnet_id: row.get(5)?,
        enabled: row.get(6)?,
        operating_status: parse_col(T, &row.get::<_, String>(7)?)?,
        provisioning_status: parse_col(T, &row.get::<_, String>(8)?)?,
        name: row.get(9)?,
        tags: tags_from_sql(T, &row.get::<_, String>(10)?)?,
        created_at: row.get(11)?,
        updated_at: row.get(12)?,
    })
}

/// The member `id` of pool `pool`.
pub fn get(conn: &Connection, pool: PoolId, id: MemberId) -> Result<Option<Member>> {
    let sql = format!("SELECT {COLUMNS} FROM members WHERE id = ?1 AND pool_id = ?2");
    Ok(conn
        .query_row(&sql, [id.to_string(), pool.to_string()], from_row)
        .optional()?)
}

/// The members of a pool, oldest first.
pub fn list(conn: &Connection, pool: PoolId) -> Result<Vec<Member>> {
    let sql =
        format!("SELECT {COLUMNS} FROM members WHERE pool_id = ?1 ORDER BY created_at, rowid");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([pool.to_string()], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Whether any member has this id.
pub fn id_taken(conn: &Connection, id: MemberId) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM members WHERE id = ?1",
            [id.to_string()],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Whether another member of `pool` has this address and port.
pub fn address_taken(
    conn: &Connection,
    pool: PoolId,
    ip: IpAddr,
    port: u16,
    except: Option<MemberId>,
) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM members WHERE pool_id = ?1 AND ip_address = ?2 AND protocol_port = ?3 \
             AND id != ?4",
            params![
                pool.to_string(),
                ip.to_string(),
                port,
                except.map(|e| e.to_string()).unwrap_or_default()
            ],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Insert a new member.
pub fn insert(conn: &Connection, m: &Member) -> Result<()> {
    conn.execute(
        &format!("INSERT INTO members ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, NULL)"),
        params![
            m.id.to_string(),
            m.pool_id.to_string(),
            m.ip_address.to_string(),
            m.protocol_port,
            m.weight,
            m.subnet_id,
            m.enabled,
            m.operating_status.as_str(),
            m.provisioning_status.as_str(),
            m.name,
            tags_to_sql(&m.tags),
            m.created_at
        ],
    )?;
    Ok(())
}

/// Write every mutable field of `m` and stamp `updated_at`.
pub fn update(conn: &Connection, m: &Member) -> Result<()> {
    conn.execute(
        "UPDATE members SET protocol_port = ?2, weight = ?3, enabled = ?4, operating_status = ?5, \
         provisioning_status = ?6, name = ?7, tags = ?8, updated_at = ?9 WHERE id = ?1",
        params![
            m.id.to_string(),
            m.protocol_port,
            m.weight,
            m.enabled,
            m.operating_status.as_str(),
            m.provisioning_status.as_str(),
            m.name,
            tags_to_sql(&m.tags),
            now(),
        ],
    )?;
    Ok(())
}

/// Set a member's (internal) provisioning status.
pub fn set_status(conn: &Connection, id: MemberId, status: ProvisioningStatus) -> Result<()> {
    super::set_provisioning_status_of(conn, "members", &id.to_string(), status)
}

/// Set the operating status; returns whether it changed.
pub fn set_operating_status(
    conn: &Connection,
    id: MemberId,
    status: OperatingStatus,
) -> Result<bool> {
    super::set_operating_status_of(conn, "members", &id.to_string(), status)
}

/// Delete a member row.
pub fn delete(conn: &Connection, id: MemberId) -> Result<()> {
    conn.execute("DELETE FROM members WHERE id = ?1", [id.to_string()])?;
    Ok(())
}

/// Every member with its load balancer, for `/metrics`.
pub fn all_with_load_balancer(
    conn: &Connection,
) -> Result<Vec<(crate::model::LoadBalancerId, Member)>> {
    let member_columns: Vec<String> = COLUMNS.split(", ").map(|c| format!("m.{c}")).collect();
    // The load balancer id comes last so `from_row` reads the member as usual.
    let sql = format!(
        "SELECT {}, p.load_balancer_id FROM members m JOIN pools p ON p.id = m.pool_id",
        member_columns.join(", ")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], |r| {
        let lb = parse_col("pools", &r.get::<_, String>(COLUMN_COUNT)?)?;
        Ok((lb, from_row(r)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
