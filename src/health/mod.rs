//! Health monitoring: probes members, counts rise/fall, steers the data plane
//! through the shared member states and rolls statuses up (issue #5).
//!
//! The controller hands [`HealthChecker`] one [`PoolMonitorSpec`] per pool
//! and reads [`MemberStatusChange`]s back to persist. This module writes only
//! `MemberState::set_up` (readiness) in the data plane; it never touches
//! SQLite and never sees listeners.
//!
//! - `probe` — PING, TCP, HTTP, HTTPS probes.
//! - `tracker` — consecutive-result counting (rise/fall).
//! - `checker` — the scheduler: one task per monitored member plus one
//!   sweeper for the data plane's passive connect-failure signal.
//! - `rollup` — operating-status roll-up from member to load balancer.

mod checker;
pub mod probe;
pub mod rollup;
mod tracker;

use std::net::SocketAddr;

pub use checker::{HealthChecker, LastProbe, MemberHealth};
pub use probe::{ProbeError, Prober};

use crate::model::{
    HealthMonitorType, HttpMethod, LoadBalancerId, MemberId, OperatingStatus, PoolId,
};

/// Settings of one pool's health monitor, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitorSettings {
    pub kind: HealthMonitorType,
    /// Seconds between probes of one member; 0 acts as 1.
    pub delay_secs: u32,
    /// Seconds one probe may take, connect and answer included.
    pub timeout_secs: u32,
    /// Consecutive failures that take an ONLINE member OFFLINE; 0 acts as 1.
    pub fall_threshold: u32,
    /// Consecutive successes that bring a down member ONLINE; 0 acts as 1.
    pub rise_threshold: u32,
    /// HTTP/HTTPS only.
    pub http_method: HttpMethod,
    /// HTTP/HTTPS only: path and query of the request.
    pub url_path: String,
    /// HTTP/HTTPS only: see [`crate::model::parse_expected_codes`]; an unparsable value
    /// fails every probe (the API validates it first).
    pub expected_codes: String,
}

/// What to monitor in one pool. `monitor: None` = no monitor or a disabled
/// one: no probes, members stay up and ONLINE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolMonitorSpec {
    pub pool_id: PoolId,
    pub load_balancer_id: LoadBalancerId,
    pub monitor: Option<MonitorSettings>,
    /// Enabled members only, with the address probes go to.
    pub members: Vec<(MemberId, SocketAddr)>,
}

/// Emitted once per change of a monitored member's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberStatusChange {
    pub member_id: MemberId,
    pub pool_id: PoolId,
    pub load_balancer_id: LoadBalancerId,
    /// Where the member is probed (for the events feed, which people read
    /// by address).
    pub address: SocketAddr,
    /// ONLINE, OFFLINE, or ERROR when the probe cannot run at all (no ICMP
    /// socket).
    pub status: OperatingStatus,
    /// Why, e.g. `connect failed: Connection refused (os error 111), 2 consecutive failures`.
    pub cause: String,
}
