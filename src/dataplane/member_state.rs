//! The shared, lock-free view of each member's health that the data plane reads
//! on every pick and the health checker writes when a member rises or falls.
//!
//! The registry is locked only off the hot path: when a spec is applied (to
//! resolve ids into `Arc<MemberState>`) and when the health checker starts
//! or stops watching a member; the hot path then reads atomics only.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::model::MemberId;
use crate::sync::lock;

/// Live state of one member, shared by every listener that routes to it.
#[derive(Debug)]
pub struct MemberState {
    up: AtomicBool,
    /// Connections (TCP) or in-flight requests (HTTP) the data plane holds on
    /// this member now; LEAST_CONNECTIONS reads it.
    pub active_connections: AtomicU64,
    /// Connect failures the data plane saw since the health checker last
    /// looked (the passive signal).
    connect_failures: AtomicU32,
}

impl MemberState {
    fn new(up: bool) -> Self {
        Self {
            up: AtomicBool::new(up),
            active_connections: AtomicU64::new(0),
            connect_failures: AtomicU32::new(0),
        }
    }

    /// Whether the member may get new connections (health only; weight and
    /// `enabled` are the spec's business).
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Take the member in (`true`) or out of rotation.
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
    }

    /// Called by the data plane when connecting to the member fails.
    pub fn report_connect_failure(&self) {
        self.connect_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Connect failures since the last call; resets the count.
    pub fn take_connect_failures(&self) -> u32 {
        self.connect_failures.swap(0, Ordering::Relaxed)
    }
}

/// Registry of member states, keyed by member id. Members start up (usable)
/// unless whoever creates them says otherwise.
#[derive(Debug, Default)]
pub struct MemberStates {
    map: Mutex<HashMap<MemberId, Arc<MemberState>>>,
}

impl MemberStates {
    pub fn new() -> Self {
        Self::default()
    }

    /// The state of `id`, created up if unknown.
    pub fn get(&self, id: MemberId) -> Arc<MemberState> {
        self.get_or_insert(id, true)
    }

    /// The state of `id`, created with `up` if unknown (an existing state keeps
    /// its value).
    pub fn get_or_insert(&self, id: MemberId, up: bool) -> Arc<MemberState> {
        let mut map = lock(&self.map);
        map.entry(id)
            .or_insert_with(|| Arc::new(MemberState::new(up)))
            .clone()
    }

    /// The state of `id` if it is known.
    pub fn find(&self, id: MemberId) -> Option<Arc<MemberState>> {
        let map = lock(&self.map);
        map.get(&id).cloned()
    }

    /// Forget a deleted member.
    pub fn remove(&self, id: MemberId) {
        let mut map = lock(&self.map);
        map.remove(&id);
    }
}
