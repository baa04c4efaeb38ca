//! Session persistence: which member a request or connection goes to when
//! its pool keeps sessions (`choose`), the SOURCE_IP stick table and the
//! HTTP_COOKIE reader.
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
use super::balance::{Selector, Tried};
use super::spec::Persistence;
use crate::model::MemberId;
use crate::sync::lock;

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
        let mut shard = lock(self.shard(ip));
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
        let mut shard = lock(self.shard(ip));
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
        self.shards.iter().map(|s| lock(s).entries.len()).sum()
    }
}

/// A member picked for a connection or request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Choice {
    /// Index into the selector's candidates (and the pool's members).
    pub index: usize,
    /// Whether the response should (re)insert the persistence cookie.
    pub set_cookie: bool,
}

impl Choice {
    fn keep(index: usize) -> Self {
        Self {
            index,
            set_cookie: false,
        }
    }
}

/// Pick a member for `client`: persistence first (the member its cookie
/// names, `cookie_member`, or the one the stick table holds), else the
/// algorithm. `member_id` names the member at a candidate index; a SOURCE_IP
/// pick by the algorithm sticks the client to it.
pub(crate) fn choose(
    persistence: Option<&Persistence>,
    selector: &Selector,
    member_id: impl Fn(usize) -> MemberId,
    client: IpAddr,
    cookie_member: Option<usize>,
    stick: &StickTable,
    tried: &Tried,
) -> Option<Choice> {
    match persistence {
        Some(Persistence::HttpCookie { .. }) => {
            if let Some(i) = cookie_member.filter(|i| !tried.contains(*i)) {
                return Some(Choice::keep(i));
            }
            let index = selector.pick(client, tried)?;
            Some(Choice {
                index,
                set_cookie: true,
            })
        }
        Some(Persistence::SourceIp) => {
            let candidates = selector.candidates();
            if let Some(id) = stick.get(client)
                && let Some(i) = (0..candidates.len()).find(|i| member_id(*i) == id)
                && candidates[i].usable()
                && !tried.contains(i)
            {
                return Some(Choice::keep(i));
            }
            let index = selector.pick(client, tried)?;
            stick.put(client, member_id(index));
            Some(Choice::keep(index))
        }
        None => selector.pick(client, tried).map(Choice::keep),
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
