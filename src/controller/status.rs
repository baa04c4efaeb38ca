//! Writes operating statuses: computes the roll-up of one load balancer from
//! its tree and writes only the statuses that changed.

use rusqlite::Connection;

use crate::health::rollup;
use crate::model::{ListenerId, MemberId, OperatingStatus, ProvisioningStatus};
use crate::store::tree::LoadBalancerTree;
use crate::store::{self, Result};

/// Live inputs of the roll-up that the store does not hold.
pub trait StatusInputs {
    /// The probe verdict of a monitored member; `None` when not monitored.
    fn probed(&self, member: MemberId) -> Option<OperatingStatus>;
    /// Whether a listener is at its connection_limit now.
    fn at_connection_limit(&self, listener: ListenerId) -> bool;
}

/// Recompute and write the operating statuses of the whole tree. Objects
/// pending deletion are skipped; a load balancer that is not serving (not
/// yet ACTIVE once, or DELETED) keeps its status. Returns how many changed.
pub fn write_rollup(
    conn: &Connection,
    tree: &LoadBalancerTree,
    inputs: &dyn StatusInputs,
) -> Result<usize> {
    let lb = &tree.load_balancer;
    if matches!(
        lb.provisioning_status,
        ProvisioningStatus::Deleted | ProvisioningStatus::PendingDelete
    ) {
        return Ok(0);
    }
    let mut changed = 0;
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
                    changed +=
                        usize::from(store::members::set_operating_status(conn, m.id, status)?);
                    members.push((m.enabled, status));
                }
                let status = rollup::pool_status(pt.pool.enabled, &members);
                changed += usize::from(store::pools::set_operating_status(
                    conn, pt.pool.id, status,
                )?);
                Some(status)
            }
            _ => None,
        };
        let enabled = l.enabled && lb.enabled;
        let status =
            rollup::listener_status(enabled, pool_status, inputs.at_connection_limit(l.id));
        changed += usize::from(store::listeners::set_operating_status(conn, l.id, status)?);
        listener_statuses.push((l.enabled, status));
    }
    let status = rollup::load_balancer_status(lb.enabled, &listener_statuses);
    changed += usize::from(store::load_balancers::set_operating_status(
        conn, lb.id, status,
    )?);
    Ok(changed)
}
