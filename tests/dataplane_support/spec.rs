//! Spec builders for the data-plane tests: load balancers, listeners,
//! pools and members as the data plane takes them, and TLS material.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ballast::dataplane::{
    ListenerSpec, LoadBalancerSpec, MemberSpec, Persistence, PoolSpec, StatsBase, TlsMaterial,
};
use ballast::model::{
    CertificateId, LbAlgorithm, ListenerId, LoadBalancerId, MemberId, PoolId, Protocol,
};

use super::{Member, self_signed};

/// A pool of `protocol` over `members`.
pub fn pool(
    protocol: Protocol,
    algorithm: LbAlgorithm,
    persistence: Option<Persistence>,
    members: Vec<MemberSpec>,
) -> PoolSpec {
    PoolSpec {
        id: PoolId::new(),
        protocol,
        algorithm,
        persistence,
        members,
    }
}

/// A round-robin pool of `protocol` over `members`, without persistence,
/// as [`listener`] takes it.
pub fn round_robin(protocol: Protocol, members: Vec<MemberSpec>) -> Option<PoolSpec> {
    Some(pool(protocol, LbAlgorithm::RoundRobin, None, members))
}

/// `members` each at weight 1.
pub fn weight_one(members: &[Member]) -> Vec<MemberSpec> {
    members.iter().map(|m| m.spec(1)).collect()
}

/// An HTTP round-robin pool over `members` (weight 1 each) with `persistence`.
pub fn http_pool_with(persistence: Persistence, members: &[Member]) -> PoolSpec {
    let members = weight_one(members);
    pool(
        Protocol::Http,
        LbAlgorithm::RoundRobin,
        Some(persistence),
        members,
    )
}

/// A listener of `protocol` on `port`, round robin over `members` in a pool
/// of the same protocol.
pub fn round_robin_listener(
    protocol: Protocol,
    port: u16,
    members: Vec<MemberSpec>,
) -> ListenerSpec {
    listener(protocol, port, round_robin(protocol, members))
}

/// A load balancer on `ip` with an HTTP listener on `http_port` over `http`
/// and a TCP listener on `tcp_port` over `tcp`, both round robin.
pub fn http_and_tcp(
    ip: IpAddr,
    (http_port, http): (u16, Vec<MemberSpec>),
    (tcp_port, tcp): (u16, Vec<MemberSpec>),
) -> LoadBalancerSpec {
    lb(
        ip,
        vec![
            round_robin_listener(Protocol::Http, http_port, http),
            round_robin_listener(Protocol::Tcp, tcp_port, tcp),
        ],
    )
}

/// A listener of `protocol` on `port` without limit, TLS or stats base.
pub fn listener(protocol: Protocol, port: u16, pool: Option<PoolSpec>) -> ListenerSpec {
    ListenerSpec {
        id: ListenerId::new(),
        name: "test".into(),
        protocol,
        protocol_port: port,
        connection_limit: None,
        tls: None,
        pool,
        stats_base: StatsBase::default(),
    }
}

/// A load balancer on `vip` with `listeners`.
pub fn lb(vip: IpAddr, listeners: Vec<ListenerSpec>) -> LoadBalancerSpec {
    LoadBalancerSpec {
        id: LoadBalancerId::new(),
        vip,
        listeners,
    }
}

/// A member spec for a server the test runs itself at `address`.
pub fn member_at(address: SocketAddr) -> MemberSpec {
    MemberSpec {
        id: MemberId::new(),
        address,
        weight: 1,
    }
}

/// A listener's TLS material: a certificate chain and its key (PEM).
pub fn tls_material(chain: String, key: String) -> Arc<TlsMaterial> {
    Arc::new(TlsMaterial {
        certificate_id: CertificateId::new(),
        certificate_chain_pem: chain,
        private_key_pem: key,
    })
}

/// TLS material of a fresh [`self_signed`] certificate.
pub fn self_signed_material() -> Arc<TlsMaterial> {
    let (cert, key) = self_signed();
    tls_material(cert, key)
}
