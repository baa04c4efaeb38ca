//! LEAST_CONNECTIONS: the usable member with the fewest active connections
//! relative to its weight. The counts live in `MemberState`, shared by every
//! listener using the member, so two listeners see one load.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Candidate, Tried};

/// Weighted least connections.
#[derive(Debug, Default)]
pub struct LeastConnections {
    /// Rotates the scan start so ties spread instead of piling on the first.
    start: AtomicUsize,
}

impl LeastConnections {
    /// A fresh picker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Minimises (active + 1) / weight, compared by cross-multiplication.
    pub fn pick(&self, candidates: &[Candidate], tried: &Tried) -> Option<usize> {
        let n = candidates.len();
        if n == 0 {
            return None;
        }
        let start = self.start.fetch_add(1, Ordering::Relaxed) % n;
        let mut best: Option<(usize, u128, u128)> = None;
        for i in 0..n {
            let idx = (start + i) % n;
            let c = &candidates[idx];
            if !c.usable() || tried.contains(idx) {
                continue;
            }
            let load = u128::from(c.state.active_connections.load(Ordering::Relaxed)) + 1;
            let weight = u128::from(c.weight);
            match best {
                Some((_, bl, bw)) if load * bw >= bl * weight => {}
                _ => best = Some((idx, load, weight)),
            }
        }
        best.map(|(idx, _, _)| idx)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::{Selector, Tried};
    use crate::model::LbAlgorithm;
    use std::net::IpAddr;
    use std::sync::atomic::Ordering;

    #[test]
    fn picks_the_member_with_fewest_connections_per_weight() {
        let c = candidates(&[1, 1, 2]);
        c[0].state.active_connections.store(3, Ordering::Relaxed);
        c[1].state.active_connections.store(1, Ordering::Relaxed);
        c[2].state.active_connections.store(3, Ordering::Relaxed);
        let s = Selector::new(LbAlgorithm::LeastConnections, c);
        // (1+1)/1 = 2 beats (3+1)/2 = 2? tie -> either 1 or 2; (3+1)/1 = 4 loses.
        let got = s
            .pick(IpAddr::from([1, 1, 1, 1]), &Tried::default())
            .unwrap();
        assert_ne!(got, 0);
    }

    #[test]
    fn held_connections_fill_members_in_proportion_to_weight() {
        let s = Selector::new(LbAlgorithm::LeastConnections, candidates(&[3, 1]));
        let client = IpAddr::from([1, 1, 1, 1]);
        let mut counts = [0; 2];
        for _ in 0..400 {
            let i = s.pick(client, &Tried::default()).unwrap();
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
