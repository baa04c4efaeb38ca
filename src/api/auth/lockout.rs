//! Failed-login accounting: per user and per source address, a key that
//! failed `attempts` times within `duration` is locked out until `duration`
//! has passed since its first counted failure. Kept in memory: a restart
//! forgives, which an attacker cannot cause.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::sync::lock;

/// Most keys tracked; beyond it the stalest are forgotten first, so a flood
/// of distinct names cannot grow memory without bound.
const MAX_KEYS: usize = 65_536;

#[derive(Clone, Copy, Debug)]
struct Entry {
    failures: u32,
    first: Instant,
}

/// The failure counters.
#[derive(Debug)]
pub struct Lockout {
    attempts: u32,
    duration: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

impl Lockout {
    /// Lock a key after `attempts` failures within `duration`.
    pub fn new(attempts: u32, duration: Duration) -> Self {
        Self {
            attempts: attempts.max(1),
            duration,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// How much longer `key` is locked out, if it is.
    pub fn locked(&self, key: &str) -> Option<Duration> {
        self.locked_at(key, Instant::now())
    }

    fn locked_at(&self, key: &str, now: Instant) -> Option<Duration> {
        let entries = lock(&self.entries);
        let e = entries.get(key)?;
        let until = e.first + self.duration;
        (e.failures >= self.attempts && until > now).then(|| until - now)
    }

    /// Count a failure of `key`; whether it is now locked out.
    pub fn fail(&self, key: &str) -> bool {
        self.fail_at(key, Instant::now())
    }

    fn fail_at(&self, key: &str, now: Instant) -> bool {
        let mut entries = lock(&self.entries);
        if entries.len() >= MAX_KEYS {
            let duration = self.duration;
            entries.retain(|_, e| e.first + duration > now);
            if entries.len() >= MAX_KEYS
                && let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, e)| e.first)
                    .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        let e = entries.entry(key.to_string()).or_insert(Entry {
            failures: 0,
            first: now,
        });
        if e.first + self.duration <= now {
            *e = Entry {
                failures: 0,
                first: now,
            };
        }
        e.failures += 1;
        e.failures >= self.attempts
    }

    /// Forget the failures of `key` (a successful login).
    pub fn clear(&self, key: &str) {
        lock(&self.entries).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_locks_after_the_set_number_of_failures_and_unlocks_after_the_duration() {
        let l = Lockout::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(!l.fail_at("user:a", t0));
        assert!(!l.fail_at("user:a", t0 + Duration::from_secs(1)));
        assert_eq!(l.locked_at("user:a", t0 + Duration::from_secs(1)), None);
        assert!(l.fail_at("user:a", t0 + Duration::from_secs(2)));
        assert_eq!(
            l.locked_at("user:a", t0 + Duration::from_secs(10)),
            Some(Duration::from_secs(50))
        );
        assert_eq!(l.locked_at("user:b", t0), None, "other keys are free");
        assert_eq!(l.locked_at("user:a", t0 + Duration::from_secs(60)), None);
        assert!(
            !l.fail_at("user:a", t0 + Duration::from_secs(61)),
            "an old window is forgotten"
        );
        l.clear("user:a");
        assert_eq!(l.locked_at("user:a", t0 + Duration::from_secs(61)), None);
    }
}
