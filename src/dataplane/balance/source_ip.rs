//! SOURCE_IP: weighted rendezvous hashing of the client address.
//!
//! Each usable member scores `-weight / ln(u)` where `u` in (0, 1) is a hash
//! of (client address, member address); the highest score wins. Shares follow
//! weights exactly in expectation, and a member leaving moves only the
//! clients it had: everyone else's winner is unchanged. No ring to build, so
//! it costs one hash and one `ln` per member per connection.

use std::net::IpAddr;

use super::{Candidate, Tried, mix64, stable_hash};

/// Weighted rendezvous hashing over the client address.
#[derive(Debug, Default)]
pub struct SourceIpHash;

impl SourceIpHash {
    /// The highest-scoring usable member not tried.
    pub fn pick(&self, candidates: &[Candidate], client: IpAddr, tried: &Tried) -> Option<usize> {
        let client_hash = hash_ip(client);
        let mut best: Option<(usize, f64)> = None;
        for (idx, c) in candidates.iter().enumerate() {
            if !c.usable() || tried.contains(idx) {
                continue;
            }
            let h = mix64(client_hash ^ c.address_hash.rotate_left(17));
            // 53 random bits, shifted half a step so u is never 0 or 1.
            let u = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
            let score = -f64::from(c.weight) / u.ln();
            if best.is_none_or(|(_, s)| score > s) {
                best = Some((idx, score));
            }
        }
        best.map(|(idx, _)| idx)
    }
}

/// Hash of a client address; an IPv4-mapped IPv6 address hashes as IPv4 so a
/// dual-stack socket does not move clients.
pub fn hash_ip(ip: IpAddr) -> u64 {
    match ip.to_canonical() {
        IpAddr::V4(v4) => stable_hash(&v4.octets()),
        IpAddr::V6(v6) => stable_hash(&v6.octets()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::{Selector, Tried};
    use crate::model::LbAlgorithm;
    use std::net::IpAddr;

    fn clients(n: u32) -> impl Iterator<Item = IpAddr> {
        (0..n).map(|i| IpAddr::from((0x0a00_0000u32 + i).to_be_bytes()))
    }

    #[test]
    fn the_same_client_always_gets_the_same_member() {
        let s = Selector::new(LbAlgorithm::SourceIp, candidates(&[1, 1, 1, 1]));
        for ip in clients(50) {
            let first = s.pick(ip, &Tried::default());
            for _ in 0..5 {
                assert_eq!(s.pick(ip, &Tried::default()), first);
            }
        }
    }

    #[test]
    fn shares_follow_weights_over_many_clients() {
        let s = Selector::new(LbAlgorithm::SourceIp, candidates(&[1, 2, 3]));
        let mut counts = [0u32; 3];
        for ip in clients(60_000) {
            counts[s.pick(ip, &Tried::default()).unwrap()] += 1;
        }
        let expected = [10_000.0, 20_000.0, 30_000.0];
        for (got, want) in counts.iter().zip(expected) {
            let err = (f64::from(*got) - want).abs() / want;
            assert!(err < 0.05, "{counts:?}");
        }
    }

    #[test]
    fn a_few_dozen_clients_reach_every_member() {
        let s = Selector::new(LbAlgorithm::SourceIp, candidates(&[1, 1, 1]));
        let mut counts = [0u32; 3];
        for ip in clients(36) {
            counts[s.pick(ip, &Tried::default()).unwrap()] += 1;
        }
        assert!(counts.iter().all(|n| *n > 0), "{counts:?}");
    }

    #[test]
    fn source_ip_moves_only_the_failed_members_clients() {
        let c = candidates(&[1, 1, 1, 1]);
        let s = Selector::new(LbAlgorithm::SourceIp, c);
        let before: Vec<usize> = clients(2000)
            .map(|ip| s.pick(ip, &Tried::default()).unwrap())
            .collect();
        s.candidates()[2].state.set_up(false);
        let mut moved = 0;
        for (ip, old) in clients(2000).zip(&before) {
            let new = s.pick(ip, &Tried::default()).unwrap();
            if *old == 2 {
                assert_ne!(new, 2);
                moved += 1;
            } else {
                assert_eq!(new, *old, "a client of a healthy member moved");
            }
        }
        assert!(moved > 300, "member 2 had {moved} clients");
    }
}
