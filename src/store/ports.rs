//! Port rows: address reservations on a host network, and VIP allocation.

use std::collections::HashSet;
use std::net::IpAddr;

use ipnet::IpNet;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::{Result, StoreError, now, parse_col};
use crate::model::{LoadBalancerId, NetworkId, PortId};

/// A port, serialized exactly as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Port {
    pub id: PortId,
    pub network_id: NetworkId,
    pub ip_address: IpAddr,
    pub load_balancer_id: Option<LoadBalancerId>,
    /// Created for a VIP (goes with its load balancer) rather than by a client.
    #[serde(skip)]
    pub owned: bool,
    /// The project that owns it: the reserving caller's, or for a VIP port
    /// its load balancer's (None: made without identity, seen only by
    /// those who see every project). Not part of `/v1`'s port body.
    #[serde(skip)]
    pub project_id: Option<String>,
}

const COLUMNS: &str = "id, network_id, ip_address, load_balancer_id, owned, project_id";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Port> {
    const T: &str = "ports";
    let lb: Option<String> = row.get(3)?;
    Ok(Port {
        id: parse_col(T, &row.get::<_, String>(0)?)?,
        network_id: parse_col(T, &row.get::<_, String>(1)?)?,
        ip_address: parse_col(T, &row.get::<_, String>(2)?)?,
        load_balancer_id: lb.map(|l| parse_col(T, &l)).transpose()?,
        owned: row.get(4)?,
        project_id: row.get(5)?,
    })
}

/// The port `id`.
pub fn get(conn: &Connection, id: PortId) -> Result<Option<Port>> {
    let sql = format!("SELECT {COLUMNS} FROM ports WHERE id = ?1");
    Ok(conn
        .query_row(&sql, [id.to_string()], from_row)
        .optional()?)
}

/// Every port, oldest first.
pub fn list(conn: &Connection) -> Result<Vec<Port>> {
    let sql = format!("SELECT {COLUMNS} FROM ports ORDER BY created_at, rowid");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Insert a port.
pub fn insert(conn: &Connection, p: &Port) -> Result<()> {
    conn.execute(
        "INSERT INTO ports \
         (id, network_id, ip_address, load_balancer_id, owned, created_at, project_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            p.id.to_string(),
            p.network_id.to_string(),
            p.ip_address.to_string(),
            p.load_balancer_id.map(|l| l.to_string()),
            p.owned,
            now(),
            p.project_id
        ],
    )?;
    Ok(())
}

/// Bind a free port to a load balancer; a port without a project takes the
/// load balancer's (a VIP port made for it).
pub fn attach(conn: &Connection, id: PortId, lb: LoadBalancerId) -> Result<()> {
    conn.execute(
        "UPDATE ports SET load_balancer_id = ?2, project_id = COALESCE(project_id, \
         (SELECT tenant_id FROM load_balancers WHERE id = ?2)) WHERE id = ?1",
        params![id.to_string(), lb.to_string()],
    )?;
    Ok(())
}

/// Release the ports of a load balancer that reached DELETED: ports made for
/// it are removed, a client's own port is kept, free again.
pub fn release_for(conn: &Connection, lb: LoadBalancerId) -> Result<()> {
    conn.execute(
        "DELETE FROM ports WHERE load_balancer_id = ?1 AND owned = 1",
        [lb.to_string()],
    )?;
    conn.execute(
        "UPDATE ports SET load_balancer_id = NULL WHERE load_balancer_id = ?1",
        [lb.to_string()],
    )?;
    Ok(())
}

/// Delete a port row.
pub fn delete(conn: &Connection, id: PortId) -> Result<()> {
    conn.execute("DELETE FROM ports WHERE id = ?1", [id.to_string()])?;
    Ok(())
}

/// Reserve an address on `network` (`cidr`): `requested` if it is a free host
/// address of the CIDR, else the next free host address. Messages name the
/// network as people know it: `name` and CIDR, not its id.
pub fn allocate_address(
    conn: &Connection,
    network: NetworkId,
    name: &str,
    cidr: IpNet,
    requested: Option<IpAddr>,
) -> Result<IpAddr> {
    let mut stmt = conn.prepare_cached("SELECT ip_address FROM ports WHERE network_id = ?1")?;
    let taken: HashSet<IpAddr> = stmt
        .query_map([network.to_string()], |r| r.get::<_, String>(0))?
        .filter_map(|r| r.ok().and_then(|s| s.parse().ok()))
        .collect();
    match requested {
        Some(ip) => {
            let is_host = cidr.contains(&ip) && cidr.hosts().any(|h| h == ip);
            if !is_host {
                return Err(StoreError::invalid(
                    "ip_address",
                    format!("{ip} is not a host address of network {name} ({cidr})"),
                ));
            }
            if taken.contains(&ip) {
                return Err(StoreError::conflict(
                    "port",
                    format!("{ip} is already in use on network {name} ({cidr})"),
                ));
            }
            Ok(ip)
        }
        None => cidr.hosts().find(|h| !taken.contains(h)).ok_or_else(|| {
            StoreError::conflict(
                "port",
                format!("network {name} ({cidr}) has no free address"),
            )
        }),
    }
}
