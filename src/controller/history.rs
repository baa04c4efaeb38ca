//! The last hour of each listener's traffic, in memory: a bounded ring of
//! samples per listener, filled by the controller's sampler from the data
//! plane's counters and read by the API's history routes. Nothing here is
//! persisted; a restart starts an empty hour.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::RwLock;
use std::time::Duration;

use serde::Serialize;

use crate::model::{ListenerId, ListenerStats};
use crate::sync::{read, write};

/// How far back the rings reach.
pub const WINDOW: Duration = Duration::from_secs(3600);

/// One point of a listener's (or a sum of listeners') traffic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Sample {
    /// When it was taken, in Unix milliseconds.
    pub at_ms: i64,
    /// Client connections accepted per second since the previous sample.
    pub connections_per_sec: f64,
    /// Bytes from clients per second since the previous sample.
    pub bytes_in_per_sec: f64,
    /// Bytes to clients per second since the previous sample.
    pub bytes_out_per_sec: f64,
    /// Client connections open when the sample was taken.
    pub active_connections: u64,
}

/// The rings of every listener the data plane serves.
pub struct TrafficHistory {
    every: Duration,
    capacity: usize,
    rings: RwLock<HashMap<ListenerId, Ring>>,
}

struct Ring {
    samples: VecDeque<Sample>,
    /// The totals at the last sample, to turn the next into rates.
    last: (i64, ListenerStats),
}

impl TrafficHistory {
    /// Rings for samples taken `every` (at least 1 s), each holding
    /// [`WINDOW`] of them.
    pub fn new(every: Duration) -> Self {
        let every = every.max(Duration::from_secs(1));
        let capacity = (WINDOW.as_secs() / every.as_secs()).max(1) as usize;
        Self {
            every,
            capacity,
            rings: RwLock::new(HashMap::new()),
        }
    }

    /// How often the sampler should call [`record`](Self::record).
    pub fn interval(&self) -> Duration {
        self.every
    }

    /// The most samples one ring keeps.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Add one sample per listener from the counters `now` (Unix ms). A
    /// listener seen for the first time only sets its baseline; one no
    /// longer served loses its ring. Counters that went backwards (a
    /// listener re-created) count as no traffic, not a negative rate.
    pub fn record(&self, at_ms: i64, stats: &[(ListenerId, ListenerStats)]) {
        let mut rings = write(&self.rings);
        rings.retain(|id, _| stats.iter().any(|(s, _)| s == id));
        for (id, now) in stats {
            let Some(ring) = rings.get_mut(id) else {
                rings.insert(
                    *id,
                    Ring {
                        samples: VecDeque::with_capacity(self.capacity),
                        last: (at_ms, *now),
                    },
                );
                continue;
            };
            let (then_ms, then) = ring.last;
            let secs = (at_ms - then_ms) as f64 / 1000.0;
            if secs <= 0.0 {
                continue;
            }
            let rate = |new: u64, old: u64| new.saturating_sub(old) as f64 / secs;
            if ring.samples.len() == self.capacity {
                ring.samples.pop_front();
            }
            ring.samples.push_back(Sample {
                at_ms,
                connections_per_sec: rate(now.total_connections, then.total_connections),
                bytes_in_per_sec: rate(now.bytes_in, then.bytes_in),
                bytes_out_per_sec: rate(now.bytes_out, then.bytes_out),
                active_connections: now.active_connections,
            });
            ring.last = (at_ms, *now);
        }
    }

    /// One listener's samples, oldest first (empty when it is not served).
    pub fn listener(&self, id: ListenerId) -> Vec<Sample> {
        read(&self.rings)
            .get(&id)
            .map(|r| r.samples.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The sum of several listeners' samples, oldest first. Samples of one
    /// sampler tick share their time, so they add up point by point.
    pub fn sum(&self, ids: &[ListenerId]) -> Vec<Sample> {
        let rings = read(&self.rings);
        let mut by_time: BTreeMap<i64, Sample> = BTreeMap::new();
        for ring in ids.iter().filter_map(|id| rings.get(id)) {
            for s in &ring.samples {
                let total = by_time.entry(s.at_ms).or_insert(Sample {
                    at_ms: s.at_ms,
                    ..Sample::default()
                });
                total.connections_per_sec += s.connections_per_sec;
                total.bytes_in_per_sec += s.bytes_in_per_sec;
                total.bytes_out_per_sec += s.bytes_out_per_sec;
                total.active_connections += s.active_connections;
            }
        }
        by_time.into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(connections: u64, bytes_in: u64, bytes_out: u64, active: u64) -> ListenerStats {
        ListenerStats {
            bytes_in,
            bytes_out,
            active_connections: active,
            total_connections: connections,
        }
    }

    #[test]
    fn the_first_look_is_a_baseline_and_later_ones_are_rates_per_second() {
        let h = TrafficHistory::new(Duration::from_secs(5));
        let id = ListenerId::new();
        h.record(0, &[(id, stats(100, 1000, 2000, 1))]);
        assert!(h.listener(id).is_empty());
        h.record(5000, &[(id, stats(110, 1500, 3000, 4))]);
        assert_eq!(
            h.listener(id),
            vec![Sample {
                at_ms: 5000,
                connections_per_sec: 2.0,
                bytes_in_per_sec: 100.0,
                bytes_out_per_sec: 200.0,
                active_connections: 4,
            }]
        );
    }

    #[test]
    fn a_ring_holds_one_hour_and_drops_the_oldest() {
        let h = TrafficHistory::new(Duration::from_secs(5));
        assert_eq!(h.capacity(), 720);
        let id = ListenerId::new();
        for n in 0..=800 {
            h.record(n * 5000, &[(id, stats(n as u64, 0, 0, 0))]);
        }
        let samples = h.listener(id);
        assert_eq!(samples.len(), 720);
        assert_eq!(samples[0].at_ms, 81 * 5000);
        assert_eq!(samples[719].at_ms, 800 * 5000);
    }

    #[test]
    fn counters_going_backwards_count_as_no_traffic() {
        let h = TrafficHistory::new(Duration::from_secs(1));
        let id = ListenerId::new();
        h.record(0, &[(id, stats(50, 50, 50, 0))]);
        h.record(1000, &[(id, stats(1, 1, 1, 0))]);
        assert_eq!(h.listener(id)[0].connections_per_sec, 0.0);
    }

    #[test]
    fn a_listener_no_longer_served_loses_its_ring_and_sums_add_point_by_point() {
        let h = TrafficHistory::new(Duration::from_secs(1));
        let (a, b) = (ListenerId::new(), ListenerId::new());
        h.record(0, &[(a, stats(0, 0, 0, 0)), (b, stats(0, 0, 0, 0))]);
        h.record(1000, &[(a, stats(2, 10, 20, 1)), (b, stats(3, 1, 2, 2))]);
        let sum = h.sum(&[a, b]);
        assert_eq!(sum.len(), 1);
        assert_eq!(sum[0].connections_per_sec, 5.0);
        assert_eq!(sum[0].bytes_in_per_sec, 11.0);
        assert_eq!(sum[0].active_connections, 3);
        h.record(2000, &[(a, stats(2, 10, 20, 0))]);
        assert!(h.listener(b).is_empty());
        assert_eq!(h.sum(&[a, b]).len(), 2);
    }
}
