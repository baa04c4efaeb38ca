//! The L4 relay (TCP listeners and HTTPS passthrough): pick a member, connect
//! with a timeout (up to three distinct members), then copy bytes both ways
//! with half-close: one side's EOF shuts down writing towards the other while
//! the opposite direction keeps flowing. A side that makes no progress for
//! its data timeout closes the relay (see `sweep`).
//!
//! Each direction copies through a 16 KiB buffer (HAProxy's size; tokio's
//! `copy_bidirectional` uses 8 KiB), allocated when its first bytes arrive.
//! A direction whose read fills the whole buffer is a bulk transfer: its
//! buffer grows to 64 KiB for the rest of the relay, a quarter of the
//! syscalls per MiB. Small exchanges never hold more than 16 KiB; at most a
//! quarter of the connection cap hold a bulk buffer (as HAProxy's default
//! `maxpipes` bounds its pipes), past that a direction keeps 16 KiB.
//!
//! Copied, not spliced. `splice(2)` through a pipe (HAProxy's `splice-auto`)
//! was measured here at the same CPU per MiB as 64 KiB copies, and it hands
//! the member's pages on to the client's socket, so the kernel frees them on
//! the client's CPU while the member's sender allocates on its own: the
//! sender's per-CPU page lists run dry and their refills go to the buddy
//! allocator. On a virtual machine that returns free memory to its host
//! (virtio-balloon free page reporting) those refills land on pages the
//! host has to fault back in, and the member's sends slowed fourfold for
//! hundreds of milliseconds at a time: 1 MiB responses' p99 doubled in about
//! one round in five. Copies keep each socket's pages on its own side.

use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use socket2::SockRef;
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tracing::debug;

use super::balance::Tried;
use super::member_conns::connect_tcp;
use super::runtime::{ListenerConfig, ListenerShared, MemberLoad};
use super::sweep::Activity;

/// Bytes one read may take: HAProxy's buffer size.
const RELAY_BUFFER: usize = 16 * 1024;
/// Bytes one read may take in a bulk transfer.
const BULK_BUFFER: usize = 64 * 1024;

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
    let counters = &shared.counters;
    let bulk = &shared.ctx.bulk_buffers;
    let ended = AtomicBool::new(false);
    let to_member = pump(&client, &upstream, bulk, &ended, |event| match event {
        Moved::Read(n) => {
            counters.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
            activity.client_progress();
        }
        Moved::Written(_) => activity.member_progress(),
    });
    let to_client = pump(&upstream, &client, bulk, &ended, |event| match event {
        Moved::Read(_) => activity.member_progress(),
        Moved::Written(n) => {
            counters.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
            activity.client_progress();
        }
    });
    tokio::select! {
        r = async { tokio::try_join!(to_member, to_client) } => match r {
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

/// What one direction of a relay just did, for its counters and timeouts.
enum Moved {
    /// Bytes taken from the source.
    Read(usize),
    /// Bytes handed to the destination.
    Written(usize),
}

/// Copies `src` to `dst` until `src`'s EOF, then shuts down writing on
/// `dst` (half-close); returns the bytes moved. The buffer grows once a read
/// fills it (see the module docs). `ended` is shared by the relay's two
/// directions (see [`finish`]).
async fn pump(
    src: &TcpStream,
    dst: &TcpStream,
    bulk: &Semaphore,
    ended: &AtomicBool,
    mut moved: impl FnMut(Moved),
) -> io::Result<u64> {
    let mut total = 0u64;
    let mut buf = Vec::new();
    // The permit held while this direction has its bulk buffer.
    let mut grown = None;
    loop {
        src.readable().await?;
        if buf.is_empty() {
            // Allocated once there are bytes to move: an idle relay holds none.
            buf = vec![0; RELAY_BUFFER];
        }
        let n = match read_drained(src, &mut buf) {
            Ok(0) => return finish(dst, total, ended),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        moved(Moved::Read(n));
        write_all(dst, &buf[..n], &mut moved).await?;
        total += n as u64;
        if n == RELAY_BUFFER
            && grown.is_none()
            && let Ok(permit) = bulk.try_acquire()
        {
            buf = vec![0; BULK_BUFFER];
            grown = Some(permit);
        }
    }
}

/// `try_read`, except that a read which does not fill `buf` also forgets
/// `src`'s read readiness: such a read emptied the socket's receive queue,
/// so the next read would only fail with `WouldBlock` (a wasted syscall per
/// message; tokio's `poll_read` and HAProxy skip it the same way). The
/// readiness cleared is the one seen before the read, so an edge raised by
/// bytes arriving meanwhile is kept; a peer's EOF is never cleared.
fn read_drained(src: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    let mut short = 0;
    let result = src.try_io(Interest::READABLE, || {
        let n = (&*SockRef::from(src)).read(buf)?;
        if 0 < n && n < buf.len() {
            short = n;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    });
    match result {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock && short > 0 => Ok(short),
        other => other,
    }
}

async fn write_all(
    dst: &TcpStream,
    mut bytes: &[u8],
    moved: &mut impl FnMut(Moved),
) -> io::Result<()> {
    while !bytes.is_empty() {
        // Written first, waited for only when full: a socket is writable
        // nearly always, and `try_write` makes no syscall when tokio knows
        // it is not.
        match dst.try_write(bytes) {
            Ok(n) => {
                moved(Moved::Written(n));
                bytes = &bytes[n..];
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => dst.writable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One direction reached its source's EOF with every byte written: shut
/// down writing on `dst` so its peer sees the EOF too, unless the other
/// direction ended first. Then both sockets are closed as soon as this
/// returns, which sends the FIN anyway: the shutdown would be a syscall for
/// nothing (and both sources are at EOF, so closing resets nothing).
fn finish(dst: &TcpStream, total: u64, ended: &AtomicBool) -> io::Result<u64> {
    if ended.swap(true, Ordering::AcqRel) {
        return Ok(total);
    }
    match SockRef::from(dst).shutdown(Shutdown::Write) {
        // The peer may be gone already; the other direction reports that.
        Ok(()) | Err(_) => Ok(total),
    }
}

/// The bulk buffers the TCP relay may hold at once, process-wide: a quarter
/// of the connection cap (see the module docs); a direction holds a permit
/// while it has one.
pub(crate) fn bulk_buffers(max_connections: usize) -> Semaphore {
    Semaphore::new(max_connections / 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_buffers_stop_at_their_budget_and_come_back_when_dropped() {
        let budget = bulk_buffers(4);
        let first = budget.try_acquire().expect("the first is within budget");
        assert!(budget.try_acquire().is_err(), "over budget: keep 16 KiB");
        assert_eq!(budget.available_permits(), 0);
        drop(first);
        assert_eq!(budget.available_permits(), 1);
        assert!(budget.try_acquire().is_ok());
        assert_eq!(
            bulk_buffers(3).available_permits(),
            0,
            "a quarter of the cap"
        );
    }
}
