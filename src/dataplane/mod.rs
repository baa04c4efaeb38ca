//! The in-process proxy: one bound socket per enabled listener, relaying
//! traffic to pool members.
//!
//! It takes plain specs (`spec.rs`) and answers with counters; it knows
//! nothing of Rocket, SQL or the health checker beyond the shared
//! `MemberStates` registry it reads on every pick.
//!
//! STAND-IN: this version records the specs it is asked to serve and binds
//! nothing; the data-plane issue (#4) replaces the body, keeping this API.

pub mod member_state;
pub mod spec;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::model::{ListenerId, ListenerStats, LoadBalancerId};
pub use member_state::{MemberState, MemberStates};
pub use spec::*;

/// Why applying a spec failed.
#[derive(Debug, thiserror::Error)]
pub enum DataPlaneError {
    #[error("cannot bind listener {listener_id} on {address}: {source}")]
    Bind {
        listener_id: ListenerId,
        address: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid TLS material for listener {listener_id}: {reason}")]
    Tls {
        listener_id: ListenerId,
        reason: String,
    },
}

/// Tunables of the data plane.
#[derive(Clone, Debug)]
pub struct DataPlaneConfig {
    /// How long SIGTERM waits for in-flight connections before closing them.
    pub drain_timeout: Duration,
    /// Connect timeout towards a member.
    pub member_connect_timeout: Duration,
}

impl Default for DataPlaneConfig {
    fn default() -> Self {
        Self {
            drain_timeout: Duration::from_secs(5),
            member_connect_timeout: Duration::from_secs(3),
        }
    }
}

/// Handle to the data plane; cheap to share behind an `Arc`.
pub struct DataPlane {
    members: Arc<MemberStates>,
    applied: Mutex<HashMap<LoadBalancerId, LoadBalancerSpec>>,
}

impl DataPlane {
    /// A data plane serving nothing yet.
    pub fn new(_config: DataPlaneConfig, members: Arc<MemberStates>) -> Self {
        Self {
            members,
            applied: Mutex::new(HashMap::new()),
        }
    }

    /// The member registry shared with the health checker.
    pub fn member_states(&self) -> &Arc<MemberStates> {
        &self.members
    }

    /// Serve exactly `spec` for its load balancer: bind new listeners, rebind
    /// moved ones, close removed ones, swap pools atomically. When this
    /// returns Ok every listener of the spec accepts connections and every
    /// port it no longer names is closed. Applying the same spec twice
    /// changes nothing.
    pub async fn apply(&self, spec: LoadBalancerSpec) -> Result<(), DataPlaneError> {
        let mut applied = self.applied.lock().expect("data plane map poisoned");
        applied.insert(spec.id, spec);
        Ok(())
    }

    /// Stop serving a load balancer; its ports are closed when this returns.
    pub async fn remove(&self, id: LoadBalancerId) -> Result<(), DataPlaneError> {
        let mut applied = self.applied.lock().expect("data plane map poisoned");
        applied.remove(&id);
        Ok(())
    }

    /// The spec currently served for a load balancer, if any.
    pub fn served(&self, id: LoadBalancerId) -> Option<LoadBalancerSpec> {
        let applied = self.applied.lock().expect("data plane map poisoned");
        applied.get(&id).cloned()
    }

    /// Live counters of a listener the data plane serves (totals include the
    /// spec's `stats_base`); `None` when it serves no such listener.
    pub fn listener_stats(&self, id: ListenerId) -> Option<ListenerStats> {
        let applied = self.applied.lock().expect("data plane map poisoned");
        applied
            .values()
            .flat_map(|lb| lb.listeners.iter())
            .find(|l| l.id == id)
            .map(|l| ListenerStats {
                bytes_in: l.stats_base.bytes_in,
                bytes_out: l.stats_base.bytes_out,
                active_connections: 0,
                total_connections: l.stats_base.total_connections,
            })
    }

    /// Counters of every listener served, for periodic persistence.
    pub fn all_listener_stats(&self) -> Vec<(ListenerId, ListenerStats)> {
        let applied = self.applied.lock().expect("data plane map poisoned");
        let ids: Vec<ListenerId> = applied
            .values()
            .flat_map(|lb| lb.listeners.iter().map(|l| l.id))
            .collect();
        drop(applied);
        ids.into_iter()
            .filter_map(|id| self.listener_stats(id).map(|s| (id, s)))
            .collect()
    }

    /// Whether a listener is at its connection_limit now (DEGRADED roll-up).
    pub fn at_connection_limit(&self, _id: ListenerId) -> bool {
        false
    }

    /// Stop accepting everywhere, let in-flight connections finish for at
    /// most the drain timeout, then close them.
    pub async fn shutdown(&self) {
        let mut applied = self.applied.lock().expect("data plane map poisoned");
        applied.clear();
    }
}
