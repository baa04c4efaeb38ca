//! Operating statuses: computes the roll-up of one load balancer from its
//! tree and writes only the statuses that changed.

use rusqlite::Connection;

use crate::health::rollup;
use crate::model::{
    ListenerId, LoadBalancerId, MemberId, OperatingStatus, PoolId, ProvisioningStatus,
};
use crate::store::tree::LoadBalancerTree;
use crate::store::{self, Result};

/// Live inputs of the roll-up that the store does not hold.
pub trait StatusInputs {
    /// The probe verdict of a monitored member; `None` when not monitored.
    fn probed(&self, member: MemberId) -> Option<OperatingStatus>;
    /// Whether a listener is at its connection_limit now.
    fn at_connection_limit(&self, listener: ListenerId) -> bool;
}

/// One operating status to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Member(MemberId, OperatingStatus),
    Pool(PoolId, OperatingStatus),
    Listener(ListenerId, OperatingStatus),
    LoadBalancer(LoadBalancerId, OperatingStatus),
}

/// The statuses of the tree that differ from what the roll-up says now.
/// Objects pending deletion are skipped; a load balancer being deleted or
/// DELETED keeps its status.
pub fn plan(tree: &LoadBalancerTree, inputs: &dyn StatusInputs) -> Vec<Change> {
    let lb = &tree.load_balancer;
    let mut changes = Vec::new();
    if matches!(
        lb.provisioning_status,
        ProvisioningStatus::Deleted | ProvisioningStatus::PendingDelete
    ) {
        return changes;
    }
    let mut listener_statuses = Vec::new();
    for lt in &tree.listeners {
        let l = &lt.listener;
        if l.provisioning_status == ProvisioningStatus::PendingDelete {
            continue;
        }
        let pool_status = match &lt.pool {
            Some(pt) if pt.pool.provisioning_status != ProvisioningStatus::PendingDelete => {
                let monitored = pt.monitor.as_ref().is_some_and(|m| {
                    m.enabled && m.provisioning_status != ProvisioningStatus::PendingDelete
                });
                let mut members = Vec::new();
                for m in &pt.members {
                    if m.provisioning_status == ProvisioningStatus::PendingDelete {
                        continue;
                    }
                    let probed = if monitored {
                        // A monitored member not yet probed is not serving.
                        Some(inputs.probed(m.id).unwrap_or(OperatingStatus::Offline))
                    } else {
                        None
                    };
                    let status = rollup::member_status(m.enabled && pt.pool.enabled, probed);
                    if status != m.operating_status {
                        changes.push(Change::Member(m.id, status));
                    }
                    members.push((m.enabled, status));
                }
                let status = rollup::pool_status(pt.pool.enabled, &members);
                if status != pt.pool.operating_status {
                    changes.push(Change::Pool(pt.pool.id, status));
                }
                Some(status)
            }
            _ => None,
        };
        let enabled = l.enabled && lb.enabled;
        let status =
            rollup::listener_status(enabled, pool_status, inputs.at_connection_limit(l.id));
        if status != l.operating_status {
            changes.push(Change::Listener(l.id, status));
        }
        listener_statuses.push((l.enabled, status));
    }
    let status = rollup::load_balancer_status(lb.enabled, &listener_statuses);
    if status != lb.operating_status {
        changes.push(Change::LoadBalancer(lb.id, status));
    }
    changes
}

/// Write planned changes.
pub fn apply(conn: &Connection, changes: &[Change]) -> Result<()> {
    for change in changes {
        match *change {
            Change::Member(id, s) => store::members::set_operating_status(conn, id, s)?,
            Change::Pool(id, s) => store::pools::set_operating_status(conn, id, s)?,
            Change::Listener(id, s) => store::listeners::set_operating_status(conn, id, s)?,
            Change::LoadBalancer(id, s) => {
                store::load_balancers::set_operating_status(conn, id, s)?
            }
        };
    }
    Ok(())
}

/// Recompute and write the operating statuses of the whole tree; returns
/// how many changed.
pub fn write_rollup(
    conn: &Connection,
    tree: &LoadBalancerTree,
    inputs: &dyn StatusInputs,
) -> Result<usize> {
    let changes = plan(tree, inputs);
    apply(conn, &changes)?;
    Ok(changes.len())
}
