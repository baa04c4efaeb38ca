//! Operating-status roll-up from members to their load balancer (SPEC §5).
//!
//! Pure functions: callers gather the inputs (from the store and the health
//! checker) and write back only what changed.

use crate::model::OperatingStatus::{self, Degraded, Error, Offline, Online};

/// A member's status: disabled members are OFFLINE; an enabled member without
/// an (enabled) monitor is ONLINE; a monitored one is what its probes said.
pub fn member_status(enabled: bool, probed: Option<OperatingStatus>) -> OperatingStatus {
    match (enabled, probed) {
        (false, _) => Offline,
        (true, None) => Online,
        (true, Some(status)) => status,
    }
}

/// A pool: OFFLINE when disabled; otherwise ONLINE when all enabled members
/// are ONLINE, DEGRADED when some are, ERROR when none are (or it has none).
/// `members` holds (enabled, status) pairs.
pub fn pool_status(enabled: bool, members: &[(bool, OperatingStatus)]) -> OperatingStatus {
    if !enabled {
        return Offline;
    }
    let enabled_members = members.iter().filter(|(on, _)| *on);
    let (total, online) = enabled_members.fold((0, 0), |(t, o), (_, s)| {
        (t + 1, o + usize::from(*s == Online))
    });
    match (total, online) {
        (0, _) | (_, 0) => Error,
        (t, o) if t == o => Online,
        _ => Degraded,
    }
}

/// A listener: OFFLINE when disabled or without a pool; otherwise its pool's
/// status, except that an ONLINE listener at its connection_limit is DEGRADED.
pub fn listener_status(
    enabled: bool,
    pool: Option<OperatingStatus>,
    at_connection_limit: bool,
) -> OperatingStatus {
    match (enabled, pool) {
        (false, _) | (true, None) => Offline,
        (true, Some(Online)) if at_connection_limit => Degraded,
        (true, Some(status)) => status,
    }
}

/// A load balancer: OFFLINE when disabled; otherwise ONLINE when all its
/// enabled listeners are ONLINE (or it has none), ERROR when all are ERROR,
/// DEGRADED otherwise. `listeners` holds (enabled, status) pairs; disabled
/// listeners are OFFLINE by the operator's choice and do not degrade it.
pub fn load_balancer_status(
    enabled: bool,
    listeners: &[(bool, OperatingStatus)],
) -> OperatingStatus {
    if !enabled {
        return Offline;
    }
    let statuses: Vec<OperatingStatus> = listeners
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, s)| *s)
        .collect();
    if statuses.iter().all(|s| *s == Online) {
        Online
    } else if statuses.iter().all(|s| *s == Error) {
        Error
    } else {
        Degraded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_is_online_degraded_or_error_by_its_enabled_members() {
        assert_eq!(pool_status(true, &[(true, Online), (true, Online)]), Online);
        assert_eq!(
            pool_status(true, &[(true, Online), (true, Offline)]),
            Degraded
        );
        assert_eq!(
            pool_status(true, &[(true, Offline), (true, Offline)]),
            Error
        );
        assert_eq!(pool_status(true, &[]), Error);
        // A disabled member neither helps nor hurts.
        assert_eq!(
            pool_status(true, &[(true, Online), (false, Offline)]),
            Online
        );
        assert_eq!(pool_status(false, &[(true, Online)]), Offline);
    }

    #[test]
    fn listener_takes_its_pool_status_and_degrades_at_its_limit() {
        assert_eq!(listener_status(true, None, false), Offline);
        assert_eq!(listener_status(true, Some(Error), false), Error);
        assert_eq!(listener_status(true, Some(Online), true), Degraded);
        assert_eq!(listener_status(false, Some(Online), false), Offline);
    }

    #[test]
    fn load_balancer_rolls_up_its_enabled_listeners() {
        assert_eq!(load_balancer_status(true, &[]), Online);
        assert_eq!(
            load_balancer_status(true, &[(true, Online), (false, Offline)]),
            Online
        );
        assert_eq!(
            load_balancer_status(true, &[(true, Error), (true, Error)]),
            Error
        );
        assert_eq!(
            load_balancer_status(true, &[(true, Online), (true, Error)]),
            Degraded
        );
        assert_eq!(load_balancer_status(false, &[(true, Online)]), Offline);
    }

    #[test]
    fn member_status_follows_enabled_then_probes() {
        assert_eq!(member_status(false, Some(Online)), Offline);
        assert_eq!(member_status(true, None), Online);
        assert_eq!(member_status(true, Some(Offline)), Offline);
    }
}
