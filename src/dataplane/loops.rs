//! Request loops stopped at run time: a member that leads back to one of
//! Ballast's own listeners (directly, or through other proxies) would
//! otherwise chain a new hop per hop until descriptors run out.
//!
//! Two guards:
//! - **HTTP hop marker**: every forwarded request carries this process'
//!   random token in [`HOP_HEADER`] (appended, so tokens of other Ballast
//!   processes on the path stay too); a request arriving with our token has
//!   been through us already and is answered 508 Loop Detected. Members see
//!   the header: it is what recognises the loop when they pass it back.
//! - **Own member connections** (TCP and HTTP): the (local, remote) address
//!   pair of every live connection to a member is kept in a lock-free table;
//!   an accepted connection whose (peer, local) pair is one of them is that
//!   very connection coming back to ourselves, and is closed before it can
//!   open the next hop. The pair, not the local address alone: Linux shares
//!   an ephemeral port between connections to different destinations, so a
//!   genuine client on this host may have the same address as one of our
//!   member connections.
//!
//! The table is a fixed array of atomic slots holding a hash of the
//! address (open addressing, a few probes): a connect costs one CAS, an
//! accept a few atomic loads, and no lock is taken. A full neighbourhood
//! only skips the TCP guard for that connection (the cap on connections
//! still bounds a loop).

use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hyper::HeaderMap;
use hyper::header::{HeaderName, HeaderValue};

/// The header carrying the hop tokens of the Ballast processes a request
/// went through.
pub(crate) const HOP_HEADER: HeaderName = HeaderName::from_static("x-ballast-hop");

/// The table's largest size (512 KiB).
const MAX_SLOTS: usize = 1 << 16;

/// Slots probed from an address's home slot before giving up.
const PROBES: usize = 16;

/// This process' loop guards; shared by every listener.
pub(crate) struct LoopGuard {
    /// This process' hop token (random, 32 hex digits).
    token: HeaderValue,
    /// Hashes of the (local, remote) pairs of live member connections; 0 is
    /// free.
    outgoing: Box<[AtomicU64]>,
    /// Seeded per process, so a client cannot aim at a neighbourhood.
    hasher: std::collections::hash_map::RandomState,
}

impl LoopGuard {
    /// Guards for up to about `capacity` live member connections (at most
    /// [`MAX_SLOTS`] / 2: past that the TCP guard misses some connections).
    pub fn new(capacity: usize) -> Self {
        let slots = capacity
            .max(64)
            .saturating_mul(2)
            .next_power_of_two()
            .min(MAX_SLOTS);
        let token = uuid::Uuid::new_v4().simple().to_string();
        Self {
            token: HeaderValue::from_str(&token).expect("hex digits are a valid header value"),
            outgoing: (0..slots).map(|_| AtomicU64::new(0)).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    /// Whether one [`HOP_HEADER`] value names this process: the request
    /// went through it already.
    pub fn carries_token(&self, value: &HeaderValue) -> bool {
        value
            .as_bytes()
            .split(|b| *b == b',')
            .any(|t| t.trim_ascii() == self.token.as_bytes())
    }

    /// Mark a request forwarded by this process.
    pub fn mark(&self, headers: &mut HeaderMap) {
        headers.append(HOP_HEADER, self.token.clone());
    }

    /// Whether a connection accepted on `local` from `peer` is one of our
    /// own member connections coming back.
    pub fn is_own(&self, peer: SocketAddr, local: SocketAddr) -> bool {
        let key = self.key(peer, local);
        self.probe(key)
            .any(|slot| self.outgoing[slot].load(Ordering::Acquire) == key)
    }

    /// Record a member connection from `local` to `remote` until the guard
    /// is dropped.
    pub fn outgoing(self: &Arc<Self>, local: SocketAddr, remote: SocketAddr) -> Outgoing {
        let key = self.key(local, remote);
        let slot = self.probe(key).find(|slot| {
            self.outgoing[*slot]
                .compare_exchange(0, key, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        });
        Outgoing {
            guard: self.clone(),
            slot,
        }
    }

    fn key(&self, from: SocketAddr, to: SocketAddr) -> u64 {
        let mut h = self.hasher.build_hasher();
        std::hash::Hash::hash(&(from, to), &mut h);
        // 0 marks a free slot.
        h.finish().max(1)
    }

    fn probe(&self, key: u64) -> impl Iterator<Item = usize> {
        let mask = self.outgoing.len() - 1;
        let home = key as usize;
        (0..PROBES).map(move |i| (home.wrapping_add(i)) & mask)
    }
}

/// A member connection's place in the table; freed on drop.
pub(crate) struct Outgoing {
    guard: Arc<LoopGuard>,
    slot: Option<usize>,
}

impl Drop for Outgoing {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            self.guard.outgoing[slot].store(0, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_pair_is_own_while_its_connection_lives() {
        let guard = Arc::new(LoopGuard::new(4));
        let a: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:40001".parse().unwrap();
        let vip: SocketAddr = "127.77.0.1:80".parse().unwrap();
        let member: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert!(!guard.is_own(a, vip));
        let held = guard.outgoing(a, vip);
        assert!(guard.is_own(a, vip));
        assert!(!guard.is_own(b, vip));
        drop(held);
        assert!(!guard.is_own(a, vip));
        // A client that shares the port of a connection to a member (Linux
        // reuses ephemeral ports across destinations) is not a loop.
        let _to_member = guard.outgoing(a, member);
        assert!(!guard.is_own(a, vip));
    }

    #[test]
    fn many_connections_fill_the_table_without_losing_any() {
        let guard = Arc::new(LoopGuard::new(100));
        let vip: SocketAddr = "127.77.0.1:80".parse().unwrap();
        let held: Vec<_> = (0..20u16)
            .map(|p| guard.outgoing(SocketAddr::from(([127, 0, 0, 1], 30000 + p)), vip))
            .collect();
        assert!(held.iter().all(|o| o.slot.is_some()));
        assert!(
            (0..20u16).all(|p| guard.is_own(SocketAddr::from(([127, 0, 0, 1], 30000 + p)), vip))
        );
    }

    #[test]
    fn our_token_among_others_is_a_loop_and_another_alone_is_not() {
        let guard = LoopGuard::new(1);
        let looped = |h: &HeaderMap| h.get_all(HOP_HEADER).iter().any(|v| guard.carries_token(v));
        let mut h = HeaderMap::new();
        h.append(HOP_HEADER, HeaderValue::from_static("someone-else"));
        assert!(!looped(&h));
        guard.mark(&mut h);
        assert!(looped(&h));
        let joined = format!("x, {}", guard.token.to_str().unwrap());
        let mut h = HeaderMap::new();
        h.insert(HOP_HEADER, HeaderValue::from_str(&joined).unwrap());
        assert!(looped(&h));
    }
}
