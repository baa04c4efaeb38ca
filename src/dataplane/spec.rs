//! The plain specs the controller hands the data plane: one per load balancer.
//!
//! They carry everything a listener needs to serve (addresses, algorithm,
//! persistence, limits, TLS material) and nothing of the API or the store.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Persisted counter totals a listener resumes from; a model type, named
/// here too because the spec carries it.
pub use crate::model::StatsBase;
use crate::model::{
    CertificateId, LbAlgorithm, ListenerId, LoadBalancerId, MemberId, PoolId, Protocol,
};

/// Everything one load balancer serves. Only enabled listeners of an enabled
/// load balancer appear here; an empty `listeners` closes every port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadBalancerSpec {
    pub id: LoadBalancerId,
    /// The VIP address every listener binds on.
    pub vip: IpAddr,
    pub listeners: Vec<ListenerSpec>,
}

/// One listening socket on `vip:protocol_port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerSpec {
    pub id: ListenerId,
    /// Shown in logs and metrics labels.
    pub name: String,
    pub protocol: Protocol,
    pub protocol_port: u16,
    /// Concurrent client connections allowed; `None` is unlimited.
    pub connection_limit: Option<u32>,
    /// Set for an HTTPS listener that terminates TLS; `None` for an HTTPS
    /// listener means TLS passthrough (L4).
    pub tls: Option<Arc<TlsMaterial>>,
    /// `None` (or a pool with no usable member): HTTP answers 503, TCP closes.
    pub pool: Option<PoolSpec>,
    /// Counter totals persisted before this process started; the data plane
    /// seeds a listener's counters with them the first time it sees the
    /// listener and ignores them on later applies.
    pub stats_base: StatsBase,
}

/// A listener's pool: who gets the traffic and how they are picked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolSpec {
    pub id: PoolId,
    /// Protocol spoken to members. HTTPS under a TLS-terminating listener
    /// means re-encrypt (without verifying the member's certificate).
    pub protocol: Protocol,
    pub algorithm: LbAlgorithm,
    pub persistence: Option<Persistence>,
    /// Enabled members only. A member with weight 0 gets no new connections.
    pub members: Vec<MemberSpec>,
}

/// Session persistence as the data plane applies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Persistence {
    /// Insert `Set-Cookie: <cookie_name>=<opaque member key>` and route
    /// requests carrying it to that member while it is usable.
    HttpCookie { cookie_name: String },
    /// Keep a client address on its member (stick table with idle expiry).
    SourceIp,
}

/// One member of a pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberSpec {
    pub id: MemberId,
    pub address: SocketAddr,
    /// 0..=256; 0 means no new connections.
    pub weight: u32,
}

/// PEM material of a TLS-terminating listener.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsMaterial {
    pub certificate_id: CertificateId,
    /// Leaf certificate followed by any intermediates, PEM.
    pub certificate_chain_pem: String,
    /// Private key, PEM. Never logged.
    pub private_key_pem: String,
}

impl fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key must never reach a log line.
        f.debug_struct("TlsMaterial")
            .field("certificate_id", &self.certificate_id)
            .finish_non_exhaustive()
    }
}
