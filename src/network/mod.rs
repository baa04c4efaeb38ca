//! Network drivers: where VIP addresses live on the host.
//!
//! Shaped after Octavia's network driver interface. Address *allocation*
//! (reserving the next free address of a network for a port) happens in the
//! API request's own transaction, in `store::ports`, so a 202 already carries
//! the VIP; the driver owns the host side: describing networks and plugging /
//! unplugging VIP addresses. It never touches the store.

pub mod local;
pub mod noop;

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use ipnet::IpNet;
use serde::Serialize;

use crate::model::{NetworkId, NetworkMode};

/// A boxed future, so the trait stays object safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a host-side network operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("network {0} is not configured")]
    UnknownNetwork(NetworkId),
    #[error("interface {interface} not found")]
    NoSuchInterface { interface: String },
    #[error("netlink: {0}")]
    Netlink(String),
}

/// A host network VIPs are allocated from, as `GET /v1/networks` shows it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Network {
    pub id: NetworkId,
    pub name: String,
    pub cidr: IpNet,
    pub mode: NetworkMode,
    pub interface: Option<String>,
}

/// The host side of VIPs. Plug and unplug are idempotent: plugging a VIP that
/// is already there, or unplugging one that is gone, succeeds.
pub trait NetworkDriver: Send + Sync {
    /// Every network the driver offers.
    fn networks(&self) -> &[Network];

    /// One network by id.
    fn get_network(&self, id: NetworkId) -> Option<&Network> {
        self.networks().iter().find(|n| n.id == id)
    }

    /// Make `ip` reachable on the host so listeners can bind it.
    fn plug_vip(&self, network: NetworkId, ip: IpAddr) -> BoxFuture<'_, Result<(), NetworkError>>;

    /// Remove what `plug_vip` added.
    fn unplug_vip(&self, network: NetworkId, ip: IpAddr)
    -> BoxFuture<'_, Result<(), NetworkError>>;
}
