//! A load balancer with everything under it, read in one go for the
//! controller (spec building, roll-up).

use rusqlite::Connection;

use super::certificates::{self, Certificate};
use super::health_monitors::{self, HealthMonitor};
use super::listeners::{self, Listener};
use super::load_balancers::{self, LoadBalancer};
use super::members::{self, Member};
use super::pools::{self, Pool};
use super::{Result, stats};
use crate::dataplane::StatsBase;
use crate::model::LoadBalancerId;

/// A load balancer, its listeners (with their default pools) and its
/// standalone pools (v2: no listener, so they serve nothing).
#[derive(Clone, Debug)]
pub struct LoadBalancerTree {
    pub load_balancer: LoadBalancer,
    pub listeners: Vec<ListenerTree>,
    pub standalone_pools: Vec<PoolTree>,
}

/// A listener, its pool, its TLS certificate and persisted counters.
#[derive(Clone, Debug)]
pub struct ListenerTree {
    pub listener: Listener,
    pub certificate: Option<Certificate>,
    pub pool: Option<PoolTree>,
    pub stats: StatsBase,
}

/// A pool with its members and monitor.
#[derive(Clone, Debug)]
pub struct PoolTree {
    pub pool: Pool,
    pub members: Vec<Member>,
    pub monitor: Option<HealthMonitor>,
}

/// Read the whole tree of a load balancer; `None` when it does not exist.
pub fn load(conn: &Connection, id: LoadBalancerId) -> Result<Option<LoadBalancerTree>> {
    let Some(load_balancer) = load_balancers::get(conn, id)? else {
        return Ok(None);
    };
    let mut trees = Vec::new();
    for listener in listeners::list(conn, id)? {
        let certificate = match listener.default_tls_container_id {
            Some(cert) => certificates::get(conn, cert)?,
            None => None,
        };
        let pool = match pools::of_listener(conn, listener.id)? {
            Some(pool) => Some(pool_tree(conn, pool)?),
            None => None,
        };
        trees.push(ListenerTree {
            stats: stats::get(conn, listener.id)?,
            certificate,
            pool,
            listener,
        });
    }
    let standalone_pools = pools::standalone(conn, id)?
        .into_iter()
        .map(|pool| pool_tree(conn, pool))
        .collect::<Result<_>>()?;
    Ok(Some(LoadBalancerTree {
        load_balancer,
        listeners: trees,
        standalone_pools,
    }))
}

fn pool_tree(conn: &Connection, pool: Pool) -> Result<PoolTree> {
    Ok(PoolTree {
        members: members::list(conn, pool.id)?,
        monitor: health_monitors::get(conn, pool.id)?,
        pool,
    })
}

impl LoadBalancerTree {
    /// Every pool of the load balancer: listeners' default pools, then
    /// standalone ones.
    pub fn pools(&self) -> impl Iterator<Item = &PoolTree> {
        self.listeners
            .iter()
            .filter_map(|lt| lt.pool.as_ref())
            .chain(&self.standalone_pools)
    }
}
