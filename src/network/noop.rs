//! The `noop` driver: records what it is asked and touches nothing (tests).

use std::net::IpAddr;
use std::sync::Mutex;

use super::{BoxFuture, Network, NetworkDriver, NetworkError};
use crate::model::NetworkId;
use crate::sync::lock;

/// One recorded call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoopCall {
    Plug(NetworkId, IpAddr),
    Unplug(NetworkId, IpAddr),
}

/// Records plug/unplug calls.
pub struct NoopDriver {
    networks: Vec<Network>,
    calls: Mutex<Vec<NoopCall>>,
}

impl NoopDriver {
    pub fn new(networks: Vec<Network>) -> Self {
        Self {
            networks,
            calls: Mutex::new(Vec::new()),
        }
    }

    /// The calls so far, oldest first.
    pub fn calls(&self) -> Vec<NoopCall> {
        lock(&self.calls).clone()
    }

    fn record(&self, call: NoopCall) -> Result<(), NetworkError> {
        let network = match &call {
            NoopCall::Plug(n, _) | NoopCall::Unplug(n, _) => *n,
        };
        if self.get_network(network).is_none() {
            return Err(NetworkError::UnknownNetwork(network));
        }
        lock(&self.calls).push(call);
        Ok(())
    }
}

impl NetworkDriver for NoopDriver {
    fn networks(&self) -> &[Network] {
        &self.networks
    }

    fn plug_vip(&self, network: NetworkId, ip: IpAddr) -> BoxFuture<'_, Result<(), NetworkError>> {
        Box::pin(async move { self.record(NoopCall::Plug(network, ip)) })
    }

    fn unplug_vip(
        &self,
        network: NetworkId,
        ip: IpAddr,
    ) -> BoxFuture<'_, Result<(), NetworkError>> {
        Box::pin(async move { self.record(NoopCall::Unplug(network, ip)) })
    }
}
