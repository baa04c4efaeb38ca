//! Session persistence: the SOURCE_IP stick table and the HTTP_COOKIE reader.
//!
//! The stick table outlives spec swaps (it belongs to the listener, not to
//! one config) and maps a client address to a member id; a member id that the
//! current pool no longer has, or that is unusable, is simply a miss.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyper::HeaderMap;
use hyper::header::COOKIE;

use super::balance::source_ip::hash_ip;
use crate::model::MemberId;

/// Shards of the stick table; a lookup locks one shard for a hash-map probe.
const SHARDS: usize = 16;

/// Client address -> member, forgotten after `idle` without traffic.
#[derive(Debug)]
pub struct StickTable {
    shards: Vec<Mutex<Shard>>,
    idle: Duration,
}

#[derive(Debug)]
struct Shard {
    entries: HashMap<IpAddr, (MemberId, Instant)>,
    last_sweep: Instant,
}

impl StickTable {
    /// An empty table whose entries expire after `idle`.
    pub fn new(idle: Duration) -> Self {
        let now = Instant::now();
        Self {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        entries: HashMap::new(),
                        last_sweep: now,
                    })
                })
                .collect(),
            idle,
        }
    }

    fn shard(&self, ip: IpAddr) -> &Mutex<Shard> {
        &self.shards[(hash_ip(ip) as usize) % SHARDS]
    }

    /// The member `ip` is stuck to, refreshing its idle timer.
    pub fn get(&self, ip: IpAddr) -> Option<MemberId> {
        let now = Instant::now();
        let mut shard = self.shard(ip).lock().ok()?;
        let (member, seen) = shard.entries.get_mut(&ip)?;
        if now.duration_since(*seen) > self.idle {
            return None;
        }
        *seen = now;
        Some(*member)
    }

    /// Stick `ip` to `member`; sweeps expired entries of the shard now and then.
    pub fn put(&self, ip: IpAddr, member: MemberId) {
        let now = Instant::now();
        // A poisoned shard only loses stickiness, never traffic.
        let Ok(mut shard) = self.shard(ip).lock() else {
            return;
        };
        if now.duration_since(shard.last_sweep) > self.idle {
            let idle = self.idle;
            shard
                .entries
                .retain(|_, (_, seen)| now.duration_since(*seen) <= idle);
            shard.last_sweep = now;
        }
        shard.entries.insert(ip, (member, now));
    }

    /// Entries held (expired ones included until swept).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map(|s| s.entries.len()).unwrap_or(0))
            .sum()
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn find_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a [u8]> {
    let name = name.as_bytes();
    for value in headers.get_all(COOKIE) {
        for pair in value.as_bytes().split(|b| *b == b';') {
            let pair = pair.trim_ascii();
            if let Some(rest) = pair.strip_prefix(name)
                && let Some(v) = rest.strip_prefix(b"=")
            {
                return Some(v.trim_ascii());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[test]
    fn cookie_is_found_among_others_and_across_headers() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("a=1; SRVX=no"));
        h.append(COOKIE, HeaderValue::from_static("b=2;  SRV=abc ; c=3"));
        assert_eq!(find_cookie(&h, "SRV"), Some(&b"abc"[..]));
        assert_eq!(find_cookie(&h, "S"), None);
        assert_eq!(find_cookie(&HeaderMap::new(), "SRV"), None);
    }

    #[test]
    fn stick_entries_expire_after_idle_time() {
        let t = StickTable::new(Duration::from_millis(0));
        let ip = IpAddr::from([1, 2, 3, 4]);
        let m = MemberId::new();
        t.put(ip, m);
        let deadline = Instant::now() + Duration::from_secs(1);
        // With a zero idle time the entry expires as soon as the clock moves.
        while t.get(ip).is_some() {
            assert!(Instant::now() < deadline, "entry never expired");
            std::hint::spin_loop();
        }
        let t = StickTable::new(Duration::from_secs(60));
        t.put(ip, m);
        assert_eq!(t.get(ip), Some(m));
        assert_eq!(t.len(), 1);
    }
}
