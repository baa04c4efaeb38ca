//! Runs Ballast's data plane alone, for `bench/dataplane.sh`: an HTTP and a
//! TCP listener on a VIP, round robin over the given members.
//! Usage: `dataplane_bench <threads> <vip> <http_port> <tcp_port> <member>...`

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ballast::dataplane::{
    DataPlane, DataPlaneConfig, ListenerSpec, LoadBalancerSpec, MemberSpec, MemberStates, PoolSpec,
    StatsBase,
};
use ballast::model::{LbAlgorithm, ListenerId, LoadBalancerId, MemberId, PoolId, Protocol};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(
        args.len() >= 5,
        "usage: threads vip http_port tcp_port member..."
    );
    let threads: usize = args[0].parse()?;
    let vip: IpAddr = args[1].parse()?;
    let http_port: u16 = args[2].parse()?;
    let tcp_port: u16 = args[3].parse()?;
    let members: Vec<SocketAddr> = args[4..]
        .iter()
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    // The data plane runs on its own worker threads; this runtime only
    // applies the spec and waits for Ctrl-C.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let config = DataPlaneConfig {
                workers: threads,
                ..DataPlaneConfig::default()
            };
            let dp = DataPlane::new(config, Arc::new(MemberStates::new()))?;
            let member_specs: Vec<MemberSpec> = members
                .iter()
                .map(|a| MemberSpec {
                    id: MemberId::new(),
                    address: *a,
                    weight: 1,
                })
                .collect();
            let listener = |protocol, port| ListenerSpec {
                id: ListenerId::new(),
                name: format!("bench-{protocol}"),
                protocol,
                protocol_port: port,
                connection_limit: None,
                tls: None,
                pool: Some(PoolSpec {
                    id: PoolId::new(),
                    protocol,
                    algorithm: LbAlgorithm::RoundRobin,
                    persistence: None,
                    members: member_specs.clone(),
                }),
                stats_base: StatsBase::default(),
            };
            dp.apply(LoadBalancerSpec {
                id: LoadBalancerId::new(),
                vip,
                listeners: vec![
                    listener(Protocol::Http, http_port),
                    listener(Protocol::Tcp, tcp_port),
                ],
            })
            .await?;
            println!("ready");
            tokio::signal::ctrl_c().await?;
            dp.shutdown().await;
            Ok(())
        })
}
