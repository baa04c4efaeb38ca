//! Provisioning flows. Every job of a load balancer converges it to what the
//! store says: build the full spec, plug the VIP, apply it to the data plane,
//! then commit the final statuses. Flows are idempotent, so a job interrupted
//! by a crash is simply run again.

use std::sync::Arc;

use crate::dataplane::{
    ListenerSpec, LoadBalancerSpec, MemberSpec, Persistence, PoolSpec, TlsMaterial,
};
use crate::health::{HealthChecker, MonitorSettings, PoolMonitorSpec};
use crate::model::{DEFAULT_COOKIE_NAME, ProvisioningStatus, SessionPersistenceType};
use crate::store::tree::{ListenerTree, LoadBalancerTree, PoolTree};

fn live(status: ProvisioningStatus) -> bool {
    !matches!(
        status,
        ProvisioningStatus::PendingDelete | ProvisioningStatus::Deleted
    )
}

/// What the data plane should serve for this tree: enabled listeners not
/// being deleted, with their enabled pool and enabled members.
pub fn build_spec(tree: &LoadBalancerTree) -> LoadBalancerSpec {
    let lb = &tree.load_balancer;
    let listeners = tree
        .listeners
        .iter()
        .filter(|lt| lt.listener.enabled && live(lt.listener.provisioning_status))
        .map(listener_spec)
        .collect();
    LoadBalancerSpec {
        id: lb.id,
        vip: lb.vip.ip_address,
        listeners,
    }
}

fn listener_spec(lt: &ListenerTree) -> ListenerSpec {
    let l = &lt.listener;
    let tls = lt.certificate.as_ref().map(|c| {
        let mut chain = c.certificate.trim_end().to_string();
        if let Some(inter) = &c.intermediates {
            chain.push('\n');
            chain.push_str(inter.trim_end());
        }
        chain.push('\n');
        Arc::new(TlsMaterial {
            certificate_id: c.id,
            certificate_chain_pem: chain,
            private_key_pem: c.private_key.clone(),
        })
    });
    ListenerSpec {
        id: l.id,
        name: l.name.clone().unwrap_or_default(),
        protocol: l.protocol,
        protocol_port: l.protocol_port,
        connection_limit: l.connection_limit,
        tls,
        pool: lt
            .pool
            .as_ref()
            .filter(|pt| pt.pool.enabled && live(pt.pool.provisioning_status))
            .map(pool_spec),
        stats_base: lt.stats,
    }
}

fn pool_spec(pt: &PoolTree) -> PoolSpec {
    let p = &pt.pool;
    PoolSpec {
        id: p.id,
        protocol: p.protocol,
        algorithm: p.lb_algorithm,
        persistence: p.session_persistence.as_ref().map(|sp| match sp.kind {
            SessionPersistenceType::HttpCookie => Persistence::HttpCookie {
                cookie_name: sp
                    .cookie_name
                    .clone()
                    .unwrap_or_else(|| DEFAULT_COOKIE_NAME.to_string()),
            },
            SessionPersistenceType::SourceIp => Persistence::SourceIp,
        }),
        members: pt
            .members
            .iter()
            .filter(|m| m.enabled && live(m.provisioning_status))
            .map(|m| MemberSpec {
                id: m.id,
                address: std::net::SocketAddr::new(m.ip_address, m.protocol_port),
                weight: m.weight,
            })
            .collect(),
    }
}

/// Tell the health checker what to probe for every pool of the tree: pools
/// that serve get their (enabled) monitor and enabled members; pools being
/// deleted, under a deleted or disabled listener, or of a disabled load
/// balancer stop probing.
pub fn sync_health(health: &HealthChecker, tree: &LoadBalancerTree) {
    let lb = &tree.load_balancer;
    // A standalone pool (v2) serves no listener, so nothing probes it; it may
    // have lost its listener just now.
    for pt in &tree.standalone_pools {
        health.remove_pool(pt.pool.id);
    }
    for lt in &tree.listeners {
        let Some(pt) = &lt.pool else { continue };
        let serving = lb.enabled
            && lt.listener.enabled
            && live(lt.listener.provisioning_status)
            && pt.pool.enabled
            && live(pt.pool.provisioning_status);
        if !serving {
            health.remove_pool(pt.pool.id);
            continue;
        }
        let monitor = pt
            .monitor
            .as_ref()
            .filter(|m| m.enabled && live(m.provisioning_status))
            .map(|m| MonitorSettings {
                kind: m.kind,
                delay_secs: m.delay,
                timeout_secs: m.timeout,
                fall_threshold: m.fall_threshold,
                rise_threshold: m.rise_threshold,
                http_method: m.http_method,
                url_path: m.url_path.clone(),
                expected_codes: m.expected_codes.clone(),
            });
        health.apply_pool(PoolMonitorSpec {
            pool_id: pt.pool.id,
            load_balancer_id: lb.id,
            monitor,
            members: pt
                .members
                .iter()
                .filter(|m| m.enabled && live(m.provisioning_status))
                .map(|m| {
                    (
                        m.id,
                        std::net::SocketAddr::new(m.ip_address, m.protocol_port),
                    )
                })
                .collect(),
        });
    }
}
