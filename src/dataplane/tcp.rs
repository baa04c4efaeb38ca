//! The L4 relay (TCP listeners and HTTPS passthrough): pick a member, connect
//! with a timeout (up to three distinct members), then copy bytes both ways
//! with half-close: one side's EOF shuts down writing towards the other while
//! the opposite direction keeps flowing. A side that makes no progress for
//! its data timeout closes the relay (see `sweep`).
//!
//! Each direction copies through a 16 KiB buffer (HAProxy's size; tokio's
//! `copy_bidirectional` uses 8 KiB), allocated when its first bytes arrive.
//! A direction whose read fills the whole buffer is a bulk transfer: it
//! switches to `splice(2)` through a pipe of its own, so the bytes move
//! from socket to socket inside the kernel without being copied through
//! user space (HAProxy's `splice-auto`). Small exchanges never pay for a
//! pipe's two descriptors; when no pipe can be had (a quarter of the
//! connection cap in pipes already, as HAProxy's default `maxpipes`, or the
//! descriptor limit), the direction keeps copying.

use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use nix::fcntl::{OFlag, SpliceFFlags, splice};
use socket2::SockRef;
use tokio::io::Interest;
use tokio::net::TcpStream;
use tracing::debug;

use super::balance::Tried;
use super::member_conns::connect_tcp;
use super::runtime::{ListenerConfig, ListenerShared, MemberLoad};
use super::sweep::Activity;

/// Bytes one buffered read may take: HAProxy's buffer size.
const RELAY_BUFFER: usize = 16 * 1024;
/// Bytes one splice may move into the pipe: a default pipe's capacity.
const SPLICE_CHUNK: usize = 64 * 1024;

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
    let pipes = PipeBudget {
        open: &shared.ctx.pipes,
        max: shared.ctx.max_connections / 4,
    };
    let ended = AtomicBool::new(false);
    let to_member = pump(&client, &upstream, &pipes, &ended, |event| match event {
        Moved::Read(n) => {
            counters.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
            activity.client_progress();
        }
        Moved::Written(_) => activity.member_progress(),
    });
    let to_client = pump(&upstream, &client, &pipes, &ended, |event| match event {
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
/// `dst` (half-close); returns the bytes moved. Buffered until a read fills
/// the buffer, then spliced (see the module docs). `ended` is shared by the
/// relay's two directions (see [`finish`]).
async fn pump(
    src: &TcpStream,
    dst: &TcpStream,
    pipes: &PipeBudget<'_>,
    ended: &AtomicBool,
    mut moved: impl FnMut(Moved),
) -> io::Result<u64> {
    let mut total = 0u64;
    let mut buf = Vec::new();
    let pipe = loop {
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
        if n == buf.len()
            && let Some(pipe) = Pipe::new(pipes)
        {
            break pipe;
        }
    };
    drop(buf);
    loop {
        // The pipe is empty here, so a splice into it that would block
        // means the socket has nothing to read (never a full pipe).
        let n = src
            .async_io(Interest::READABLE, || pipe.fill_from(src))
            .await?;
        if n == 0 {
            return finish(dst, total, ended);
        }
        moved(Moved::Read(n));
        let mut left = n;
        while left > 0 {
            let m = dst
                .async_io(Interest::WRITABLE, || pipe.drain_to(dst, left))
                .await?;
            left -= m;
            moved(Moved::Written(m));
        }
        total += n as u64;
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

/// The process-wide count of relay pipes and its bound.
struct PipeBudget<'a> {
    open: &'a AtomicUsize,
    max: usize,
}

/// A non-blocking pipe that carries one direction's bytes between sockets,
/// counted in its budget while it lives.
struct Pipe<'a> {
    read: OwnedFd,
    write: OwnedFd,
    budget: &'a PipeBudget<'a>,
}

impl<'a> Pipe<'a> {
    /// A pipe, unless the budget is spent or the kernel refuses one.
    fn new(budget: &'a PipeBudget<'a>) -> Option<Self> {
        let open = budget.open.fetch_add(1, Ordering::Relaxed);
        let pipe = if open < budget.max {
            nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).ok()
        } else {
            None
        };
        match pipe {
            Some((read, write)) => Some(Self {
                read,
                write,
                budget,
            }),
            None => {
                budget.open.fetch_sub(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Moves what `src` holds (up to a pipe's worth) into the pipe.
    fn fill_from(&self, src: &TcpStream) -> io::Result<usize> {
        Ok(splice(src, None, &self.write, None, SPLICE_CHUNK, flags())?)
    }

    /// Moves up to `len` bytes from the pipe to `dst`.
    fn drain_to(&self, dst: &TcpStream, len: usize) -> io::Result<usize> {
        Ok(splice(&self.read, None, dst, None, len, flags())?)
    }
}

impl Drop for Pipe<'_> {
    fn drop(&mut self) {
        self.budget.open.fetch_sub(1, Ordering::Relaxed);
    }
}

fn flags() -> SpliceFFlags {
    SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipes_stop_at_their_budget_and_come_back_when_dropped() {
        let open = AtomicUsize::new(0);
        let budget = PipeBudget {
            open: &open,
            max: 1,
        };
        let first = Pipe::new(&budget).expect("the first pipe is within budget");
        assert!(Pipe::new(&budget).is_none(), "over budget: keep copying");
        assert_eq!(open.load(Ordering::Relaxed), 1);
        drop(first);
        assert_eq!(open.load(Ordering::Relaxed), 0);
        assert!(Pipe::new(&budget).is_some());
    }
}
