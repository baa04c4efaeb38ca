//! LEAST_CONNECTIONS: the usable member with the fewest active connections
//! relative to its weight. The counts live in `MemberState`, shared by every
//! listener using the member, so two listeners see one load.
//!
//! As in HAProxy's `leastconn`, an idle member's load is 0 whatever its
//! weight, and members of equal load take turns: without that, sequential
//! requests (each finished before the next) over weights 1 and 2 would all
//! land on the weight-2 member, since 1/2 always beats 1/1.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Candidate, Tried};

/// Weighted least connections with rotation among ties.
#[derive(Debug, Default)]
pub struct LeastConnections {
    /// Counts picks; a pick among `k` tied members takes the
    /// `(count % k)`-th, so a stable tie group is served in turn.
    turn: AtomicUsize,
}

/// A member's load as a fraction `connections / weight`, compared by
/// cross-multiplication so no division rounds two loads together.
#[derive(Debug, Clone, Copy)]
struct Load {
    connections: u64,
    weight: u64,
}

impl Load {
    /// `(active + 1) / weight`, or 0 when idle (HAProxy's key): an idle
    /// member ties with every other idle member.
    fn of(candidate: &Candidate) -> Load {
        let active = candidate.state.active_connections.load(Ordering::Relaxed);
        Load {
            connections: if active == 0 { 0 } else { active + 1 },
            weight: u64::from(candidate.weight),
        }
    }

    /// `self < other`. Weights are at most 256, so the products fit a u128
    /// for any connection count.
    fn less_than(self, other: Load) -> bool {
        u128::from(self.connections) * u128::from(other.weight)
            < u128::from(other.connections) * u128::from(self.weight)
    }

    /// `self == other` as fractions.
    fn equals(self, other: Load) -> bool {
        !self.less_than(other) && !other.less_than(self)
    }
}

impl LeastConnections {
    /// A fresh picker.
    pub fn new() -> Self {
        Self::default()
    }

    /// The least-loaded usable member not in `tried`; among several equally
    /// loaded ones, the next in turn.
    ///
    /// One pass finds the least load and how many share it; a second pass,
    /// only when there is a tie, walks to the chosen one. Connection counts
    /// may move between the passes; then the first pass's member stands.
    pub fn pick(&self, candidates: &[Candidate], tried: &Tried) -> Option<usize> {
        let eligible = |idx: usize, c: &Candidate| c.usable() && !tried.contains(idx);
        let mut best: Option<(usize, Load)> = None;
        let mut ties = 0usize;
        for (idx, candidate) in candidates.iter().enumerate() {
            if !eligible(idx, candidate) {
                continue;
            }
            let load = Load::of(candidate);
            match best {
                Some((_, least)) if least.less_than(load) => {}
                Some((_, least)) if least.equals(load) => ties += 1,
                _ => {
                    best = Some((idx, load));
                    ties = 1;
                }
            }
        }
        let (first, least) = best?;
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        if ties == 1 {
            return Some(first);
        }
        let mut skip = turn % ties;
        for (idx, candidate) in candidates.iter().enumerate().skip(first) {
            if eligible(idx, candidate) && Load::of(candidate).equals(least) {
                if skip == 0 {
                    return Some(idx);
                }
                skip -= 1;
            }
        }
        Some(first)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::{Selector, Tried};
    use crate::model::LbAlgorithm;
    use std::net::IpAddr;
    use std::sync::atomic::Ordering;

    const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    fn set_active(s: &Selector, active: &[u64]) {
        for (c, n) in s.candidates().iter().zip(active) {
            c.state.active_connections.store(*n, Ordering::Relaxed);
        }
    }

    /// Picks where each connection ends before the next starts.
    fn sequential_shares(s: &Selector, n: usize) -> Vec<usize> {
        let mut counts = vec![0; s.candidates().len()];
        for _ in 0..n {
            let i = s.pick(CLIENT, &Tried::default()).unwrap();
            let active = &s.candidates()[i].state.active_connections;
            active.fetch_add(1, Ordering::Relaxed);
            counts[i] += 1;
            active.fetch_sub(1, Ordering::Relaxed);
        }
        counts
    }

    #[test]
    fn picks_the_member_with_fewest_connections_per_weight() {
        let s = Selector::new(LbAlgorithm::LeastConnections, candidates(&[1, 1, 4]));
        // Loads (active + 1) / weight: 4/1, 3/1, 4/4.
        set_active(&s, &[3, 2, 3]);
        for _ in 0..10 {
            assert_eq!(s.pick(CLIENT, &Tried::default()), Some(2));
        }
    }

    #[test]
    fn sequential_requests_over_weights_one_and_two_alternate() {
        let s = Selector::new(LbAlgorithm::LeastConnections, candidates(&[1, 2]));
        assert_eq!(sequential_shares(&s, 100), vec![50, 50]);
    }

    #[test]
    fn idle_members_take_turns_whatever_their_weight() {
        let s = Selector::new(LbAlgorithm::LeastConnections, candidates(&[1, 5, 256]));
        let picks: Vec<_> = (0..6)
            .map(|_| s.pick(CLIENT, &Tried::default()).unwrap())
            .collect();
        assert_eq!(picks, vec![0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn a_tie_among_some_members_rotates_among_exactly_those() {
        let s = Selector::new(LbAlgorithm::LeastConnections, candidates(&[1, 1, 1, 1]));
        // Loads 3, 6, 3, 3: members 0, 2 and 3 tie; 1 never gets a turn.
        set_active(&s, &[2, 5, 2, 2]);
        assert_eq!(shares(&s, 300), vec![100, 0, 100, 100]);
    }

    #[test]
    fn equal_fractions_with_different_weights_tie() {
        let s = Selector::new(LbAlgorithm::LeastConnections, candidates(&[1, 2]));
        // (1 + 1) / 1 == (3 + 1) / 2.
        set_active(&s, &[1, 3]);
        assert_eq!(shares(&s, 10), vec![5, 5]);
    }

    #[test]
    fn tied_members_already_tried_or_down_are_not_in_the_rotation() {
        let s = Selector::new(LbAlgorithm::LeastConnections, candidates(&[1, 1, 1, 1]));
        s.candidates()[3].state.set_up(false);
        let mut tried = Tried::default();
        tried.push(0);
        let picks: Vec<_> = (0..4).map(|_| s.pick(CLIENT, &tried).unwrap()).collect();
        assert_eq!(picks, vec![1, 2, 1, 2]);
    }

    #[test]
    fn held_connections_fill_members_in_proportion_to_weight() {
        let s = Selector::new(LbAlgorithm::LeastConnections, candidates(&[3, 1]));
        let mut counts = [0; 2];
        for _ in 0..400 {
            let i = s.pick(CLIENT, &Tried::default()).unwrap();
            s.candidates()[i]
                .state
                .active_connections
                .fetch_add(1, Ordering::Relaxed);
            counts[i] += 1;
        }
        assert!((295..=305).contains(&counts[0]), "{counts:?}");
    }

    #[test]
    fn equal_idle_members_share_requests_evenly() {
        let s = Selector::new(LbAlgorithm::LeastConnections, candidates(&[1, 1, 1]));
        assert_eq!(shares(&s, 300), vec![100, 100, 100]);
    }
}
