//! ROUND_ROBIN: nginx's smooth weighted round robin, precomputed.
//!
//! nginx keeps a running "current weight" per member and takes a lock per
//! pick. The sequence it produces is periodic with period sum(weights), so we
//! compute one period when the selector is built and walk it with one atomic
//! counter: same interleaving (3/1/1 gives A B A C A, not A A A B C), no lock.
//! A slot whose member is unusable passes to the next slot's member.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Candidate, Tried};

/// Longest schedule built; weights are scaled down past it (shares stay
/// proportional up to rounding).
const MAX_SCHEDULE: u64 = 1 << 16;

/// Smooth weighted round robin over a fixed schedule.
#[derive(Debug)]
pub struct SmoothRoundRobin {
    schedule: Vec<u32>,
    next: AtomicUsize,
}

impl SmoothRoundRobin {
    /// One period of nginx's sequence for the candidates' weights.
    pub fn new(candidates: &[Candidate]) -> Self {
        let mut weights: Vec<u64> = candidates.iter().map(|c| u64::from(c.weight)).collect();
        let g = weights.iter().copied().fold(0, gcd);
        if g > 1 {
            weights.iter_mut().for_each(|w| *w /= g);
        }
        let total: u64 = weights.iter().sum();
        if total > MAX_SCHEDULE {
            // Keep every positive weight at least 1 so no member disappears.
            weights.iter_mut().filter(|w| **w > 0).for_each(|w| {
                *w = (*w * MAX_SCHEDULE / total).max(1);
            });
        }
        let total: i64 = weights.iter().sum::<u64>() as i64;
        let mut current = vec![0i64; weights.len()];
        let mut schedule = Vec::with_capacity(total as usize);
        for _ in 0..total {
            let mut best = usize::MAX;
            for (i, w) in weights.iter().enumerate() {
                if *w == 0 {
                    continue;
                }
                current[i] += *w as i64;
                if best == usize::MAX || current[i] > current[best] {
                    best = i;
                }
            }
            current[best] -= total;
            schedule.push(best as u32);
        }
        Self {
            schedule,
            next: AtomicUsize::new(0),
        }
    }

    /// The next usable member in the schedule that was not tried.
    pub fn pick(&self, candidates: &[Candidate], tried: &Tried) -> Option<usize> {
        let len = self.schedule.len();
        if len == 0 {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed) % len;
        (0..len)
            .map(|i| self.schedule[(start + i) % len] as usize)
            .find(|&idx| candidates[idx].usable() && !tried.contains(idx))
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::{Selector, Tried};
    use crate::model::LbAlgorithm;
    use std::net::IpAddr;

    #[test]
    fn weights_three_one_one_interleave_instead_of_bursting() {
        let s = Selector::new(LbAlgorithm::RoundRobin, candidates(&[3, 1, 1]));
        let client = IpAddr::from([127, 0, 0, 1]);
        let seq: Vec<usize> = (0..10)
            .map(|_| s.pick(client, &Tried::default()).unwrap())
            .collect();
        // nginx's sequence for 3/1/1: a b a c a, repeated; never a a a.
        assert_eq!(seq, vec![0, 1, 0, 2, 0, 0, 1, 0, 2, 0]);
        for w in seq.windows(3) {
            assert!(!(w[0] == 0 && w[1] == 0 && w[2] == 0));
        }
    }

    #[test]
    fn shares_follow_weights() {
        let s = Selector::new(LbAlgorithm::RoundRobin, candidates(&[5, 3, 2, 0]));
        assert_eq!(shares(&s, 1000), vec![500, 300, 200, 0]);
    }

    #[test]
    fn a_down_member_s_share_goes_to_the_others() {
        let c = candidates(&[1, 1, 1]);
        c[1].state.set_up(false);
        let s = Selector::new(LbAlgorithm::RoundRobin, c);
        let got = shares(&s, 900);
        assert_eq!(got[1], 0);
        assert_eq!(got[0] + got[2], 900);
    }

    #[test]
    fn huge_weight_sums_are_scaled_without_dropping_members() {
        let weights: Vec<u32> = (0..400).map(|i| if i == 0 { 1 } else { 256 }).collect();
        let s = Selector::new(LbAlgorithm::RoundRobin, candidates(&weights));
        let got = shares(&s, 70_000);
        assert!(got.iter().all(|n| *n > 0));
    }
}
