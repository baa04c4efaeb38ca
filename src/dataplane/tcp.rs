//! The L4 relay (TCP listeners and HTTPS passthrough): pick a member, connect
//! with a timeout (up to three distinct members), then copy bytes both ways
//! with half-close: one side's EOF shuts down writing towards the other while
//! the opposite direction keeps flowing. A side that makes no progress for
//! its data timeout closes the relay (see `sweep`).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;
use tracing::debug;

use super::balance::Tried;
use super::member_conns::connect_tcp;
use super::runtime::{ListenerConfig, ListenerShared, MemberLoad};
use super::stats::CountingIo;
use super::sweep::{Activity, MemberIo};

/// Relay one client connection; returns when both directions are done or
/// either side fails. With no usable member the client is closed.
pub(crate) async fn relay(
    shared: Arc<ListenerShared>,
    cfg: Arc<ListenerConfig>,
    client: TcpStream,
    peer: SocketAddr,
    activity: Arc<Activity>,
) {
    let Some(pool) = &cfg.pool else {
        debug!("listener has no pool; closing");
        return;
    };
    // Only the data timeouts apply, from the start (the connect phase is
    // bounded by its own timeout).
    activity.relaying();
    let timeout = shared.ctx.config.member_connect_timeout;
    let mut tried = Tried::default();
    let (member, upstream) = loop {
        let Some(choice) = pool.choose(peer.ip(), None, &shared.stick, &tried) else {
            debug!(tried = tried.len(), "no usable member; closing");
            return;
        };
        let member = &pool.members[choice.index];
        match connect_tcp(member.address, timeout, &shared.ctx.loops).await {
            Ok(stream) => break (member, stream),
            Err(error) => {
                member.state.report_connect_failure();
                debug!(member_id = %member.id, %error, "member connect failed");
                tried.push(choice.index);
                if tried.is_full() {
                    return;
                }
            }
        }
    };
    let _load = MemberLoad::new(&member.state);
    let (upstream, _outgoing) = upstream;
    let mut upstream = MemberIo::new(upstream, activity.clone());
    let mut client = CountingIo::new(client, shared.counters.clone(), activity.clone());
    tokio::select! {
        r = tokio::io::copy_bidirectional(&mut client, &mut upstream) => match r {
            Ok((to_member, to_client)) => {
                debug!(member_id = %member.id, to_member, to_client, "relay finished")
            }
            Err(error) => debug!(member_id = %member.id, %error, "relay ended with an error"),
        },
        _ = activity.expired.raised() => {
            debug!(member_id = %member.id, "no data within the data timeout; closing");
        }
    }
}
