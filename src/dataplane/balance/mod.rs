//! Member selection: an immutable selector built from a pool's members when a
//! spec is applied, swapped whole on change, and read lock-free on every pick.
//!
//! A member is a candidate when its weight is above 0 and the health checker
//! has it up (`MemberState::is_up`). Selection never locks or allocates.

mod least_conn;
mod round_robin;
pub(crate) mod source_ip;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use super::member_state::MemberState;
use crate::model::{LbAlgorithm, MemberId};

pub use least_conn::LeastConnections;
pub use round_robin::SmoothRoundRobin;
pub use source_ip::SourceIpHash;

/// One member as the selector sees it.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// 0..=256; 0 takes no new connections.
    pub weight: u32,
    /// Live health and active connection count, shared with every listener.
    pub state: Arc<MemberState>,
    /// Stable hash of the member's address, for SOURCE_IP.
    pub address_hash: u64,
}

impl Candidate {
    /// A candidate for the member at `address`.
    pub fn new(weight: u32, state: Arc<MemberState>, address: SocketAddr) -> Self {
        Self {
            weight,
            state,
            address_hash: hash_address(address),
        }
    }

    /// Whether the member may take a new connection now.
    pub fn usable(&self) -> bool {
        self.weight > 0 && self.state.is_up()
    }
}

/// Members already tried for one connection or request (bounded retries).
#[derive(Debug, Default, Clone, Copy)]
pub struct Tried {
    indices: [usize; Self::MAX],
    len: usize,
}

impl Tried {
    /// How many distinct members one connection may try.
    pub const MAX: usize = 3;

    /// Whether `index` was tried already.
    pub fn contains(&self, index: usize) -> bool {
        self.indices[..self.len].contains(&index)
    }

    /// Record a try; false once `MAX` members were tried.
    pub fn push(&mut self, index: usize) -> bool {
        if self.len == Self::MAX {
            return false;
        }
        self.indices[self.len] = index;
        self.len += 1;
        true
    }

    /// Number of members tried.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True before the first try.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether no more members may be tried.
    pub fn is_full(&self) -> bool {
        self.len == Self::MAX
    }
}

/// The algorithm-specific part of a selector.
#[derive(Debug)]
enum Strategy {
    RoundRobin(SmoothRoundRobin),
    LeastConnections(LeastConnections),
    SourceIp(SourceIpHash),
}

/// Picks a member index for a new connection or request.
#[derive(Debug)]
pub struct Selector {
    candidates: Vec<Candidate>,
    strategy: Strategy,
}

impl Selector {
    /// A selector over `candidates` (indices are kept: a pick returns an index
    /// into this vector).
    pub fn new(algorithm: LbAlgorithm, candidates: Vec<Candidate>) -> Self {
        let strategy = match algorithm {
            LbAlgorithm::RoundRobin => Strategy::RoundRobin(SmoothRoundRobin::new(&candidates)),
            LbAlgorithm::LeastConnections => Strategy::LeastConnections(LeastConnections::new()),
            LbAlgorithm::SourceIp => Strategy::SourceIp(SourceIpHash),
        };
        Self {
            candidates,
            strategy,
        }
    }

    /// The candidates, in the order picks index them.
    pub fn candidates(&self) -> &[Candidate] {
        &self.candidates
    }

    /// A usable member not in `tried`, or `None` when there is none.
    pub fn pick(&self, client: IpAddr, tried: &Tried) -> Option<usize> {
        match &self.strategy {
            Strategy::RoundRobin(rr) => rr.pick(&self.candidates, tried),
            Strategy::LeastConnections(lc) => lc.pick(&self.candidates, tried),
            Strategy::SourceIp(sh) => sh.pick(&self.candidates, client, tried),
        }
    }
}

/// 64-bit FNV-1a followed by a murmur3 finalizer: stable across releases and
/// processes (unlike std's hasher), which cookie keys and SOURCE_IP need so a
/// restart keeps clients on their members.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix64(h)
}

/// murmur3's fmix64: spreads every input bit over the whole word.
pub fn mix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// Hash of a member's address. The address, not the member id, is hashed so a
/// member deleted and re-created on the same address gets its clients back.
fn hash_address(address: SocketAddr) -> u64 {
    let mut buf = [0u8; 18];
    let len = match address.ip() {
        IpAddr::V4(v4) => {
            buf[..4].copy_from_slice(&v4.octets());
            4
        }
        IpAddr::V6(v6) => {
            buf[..16].copy_from_slice(&v6.octets());
            16
        }
    };
    buf[len..len + 2].copy_from_slice(&address.port().to_be_bytes());
    stable_hash(&buf[..len + 2])
}

/// The opaque cookie value naming a member: a hash of its id, never its
/// address, so the cookie leaks nothing about the network behind Ballast.
pub fn member_cookie_key(id: MemberId) -> String {
    format!("{:016x}", stable_hash(id.0.as_bytes()))
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// Candidates with the given weights on 10.0.0.i:80, all up.
    pub fn candidates(weights: &[u32]) -> Vec<Candidate> {
        weights
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let states = crate::dataplane::MemberStates::new();
                let state = states.get(MemberId::new());
                let addr = SocketAddr::from(([10, 0, (i / 250) as u8, (i % 250) as u8 + 1], 80));
                Candidate::new(*w, state, addr)
            })
            .collect()
    }

    /// How many of `n` picks land on each candidate.
    pub fn shares(selector: &Selector, n: usize) -> Vec<usize> {
        let mut counts = vec![0; selector.candidates().len()];
        for i in 0..n {
            let client = IpAddr::from([192, 0, 2, (i % 250) as u8]);
            let idx = selector.pick(client, &Tried::default()).unwrap();
            counts[idx] += 1;
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    #[test]
    fn tried_set_caps_at_three_members() {
        let mut t = Tried::default();
        assert!(t.push(4) && t.push(7) && t.push(1));
        assert!(!t.push(2));
        assert!(t.contains(7) && !t.contains(2));
        assert!(t.is_full());
    }

    #[test]
    fn no_candidate_is_picked_when_every_member_is_down_or_weight_zero() {
        for algo in LbAlgorithm::ALL {
            let c = candidates(&[0, 2, 3]);
            c[1].state.set_up(false);
            c[2].state.set_up(false);
            let s = Selector::new(*algo, c);
            assert_eq!(s.pick(IpAddr::from([1, 2, 3, 4]), &Tried::default()), None);
        }
    }

    #[test]
    fn tried_members_are_skipped_by_every_algorithm() {
        for algo in LbAlgorithm::ALL {
            let s = Selector::new(*algo, candidates(&[1, 1, 1]));
            let mut tried = Tried::default();
            let client = IpAddr::from([1, 2, 3, 4]);
            let mut seen = Vec::new();
            while let Some(i) = s.pick(client, &tried) {
                assert!(!seen.contains(&i), "{algo}: picked {i} twice");
                seen.push(i);
                if !tried.push(i) {
                    break;
                }
            }
            seen.sort();
            assert_eq!(seen, vec![0, 1, 2], "{algo}");
        }
    }

    #[test]
    fn cookie_keys_are_stable_hex_and_not_the_address() {
        let id: MemberId = "0a0b0c0d-0000-4000-8000-000000000001".parse().unwrap();
        let k = member_cookie_key(id);
        assert_eq!(k.len(), 16);
        assert_eq!(k, member_cookie_key(id));
        assert!(k.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
