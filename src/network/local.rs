//! The `local` driver: VIPs are addresses of this host.
//!
//! `loopback` networks lie inside 127.0.0.0/8, which Linux delivers locally
//! as a whole, so plugging changes nothing. `interface` networks get each VIP
//! added as a /32 (or /128) on a named interface through netlink, which needs
//! CAP_NET_ADMIN.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures_util::TryStreamExt;
use rtnetlink::{AddressMessageBuilder, Handle};
use tracing::info;

use super::{BoxFuture, Network, NetworkDriver, NetworkError};
use crate::model::{NetworkId, NetworkMode};

/// errno values netlink answers with that mean "already as wanted".
const EEXIST: i32 = 17;
const ENOENT: i32 = 2;
const EADDRNOTAVAIL: i32 = 99;

/// The local network driver.
pub struct LocalDriver {
    networks: Vec<Network>,
}

impl LocalDriver {
    pub fn new(networks: Vec<Network>) -> Self {
        Self { networks }
    }

    fn network(&self, id: NetworkId) -> Result<&Network, NetworkError> {
        self.get_network(id).ok_or(NetworkError::UnknownNetwork(id))
    }
}

fn netlink_error(e: rtnetlink::Error) -> NetworkError {
    NetworkError::Netlink(e.to_string())
}

fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(msg) => Some(-msg.raw_code()),
        _ => None,
    }
}

async fn connect() -> Result<Handle, NetworkError> {
    let (connection, handle, _) =
        rtnetlink::new_connection().map_err(|e| NetworkError::Netlink(e.to_string()))?;
    tokio::spawn(connection);
    Ok(handle)
}

async fn link_index(handle: &Handle, interface: &str) -> Result<u32, NetworkError> {
    let mut links = handle
        .link()
        .get()
        .match_name(interface.to_string())
        .execute();
    match links.try_next().await {
        Ok(Some(link)) => Ok(link.header.index),
        Ok(None) => Err(NetworkError::NoSuchInterface {
            interface: interface.to_string(),
        }),
        // The kernel answers ENODEV for an unknown name.
        Err(e) if errno(&e) == Some(19) => Err(NetworkError::NoSuchInterface {
            interface: interface.to_string(),
        }),
        Err(e) => Err(netlink_error(e)),
    }
}

fn host_prefix(ip: IpAddr) -> u8 {
    if ip.is_ipv4() { 32 } else { 128 }
}

async fn add_address(interface: &str, ip: IpAddr) -> Result<(), NetworkError> {
    let handle = connect().await?;
    let index = link_index(&handle, interface).await?;
    match handle
        .address()
        .add(index, ip, host_prefix(ip))
        .execute()
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if errno(&e) == Some(EEXIST) => Ok(()),
        Err(e) => Err(netlink_error(e)),
    }
}

async fn del_address(interface: &str, ip: IpAddr) -> Result<(), NetworkError> {
    let handle = connect().await?;
    let index = match link_index(&handle, interface).await {
        Ok(index) => index,
        // No interface, so no address either: nothing to undo.
        Err(NetworkError::NoSuchInterface { .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    let message = match ip {
        IpAddr::V4(v4) => AddressMessageBuilder::<Ipv4Addr>::new()
            .index(index)
            .address(v4, host_prefix(ip))
            .build(),
        IpAddr::V6(v6) => AddressMessageBuilder::<Ipv6Addr>::new()
            .index(index)
            .address(v6, host_prefix(ip))
            .build(),
    };
    match handle.address().del(message).execute().await {
        Ok(()) => Ok(()),
        Err(e) if matches!(errno(&e), Some(EADDRNOTAVAIL | ENOENT)) => Ok(()),
        Err(e) => Err(netlink_error(e)),
    }
}

impl NetworkDriver for LocalDriver {
    fn networks(&self) -> &[Network] {
        &self.networks
    }

    fn plug_vip(&self, network: NetworkId, ip: IpAddr) -> BoxFuture<'_, Result<(), NetworkError>> {
        Box::pin(async move {
            let net = self.network(network)?;
            match (net.mode, &net.interface) {
                (NetworkMode::Loopback, _) => Ok(()),
                (NetworkMode::Interface, Some(interface)) => {
                    add_address(interface, ip).await?;
                    info!(%ip, %interface, "VIP plugged");
                    Ok(())
                }
                (NetworkMode::Interface, None) => Err(NetworkError::NoSuchInterface {
                    interface: String::new(),
                }),
            }
        })
    }

    fn unplug_vip(
        &self,
        network: NetworkId,
        ip: IpAddr,
    ) -> BoxFuture<'_, Result<(), NetworkError>> {
        Box::pin(async move {
            let net = self.network(network)?;
            match (net.mode, &net.interface) {
                (NetworkMode::Interface, Some(interface)) => {
                    del_address(interface, ip).await?;
                    info!(%ip, %interface, "VIP unplugged");
                    Ok(())
                }
                _ => Ok(()),
            }
        })
    }
}
