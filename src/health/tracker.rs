//! Rise/fall counting for one monitored member: consecutive results in,
//! status changes out.
//!
//! Pure state: no clock, no I/O. The checker holds one `Tracker` per member
//! behind a short lock and applies each returned [`Transition`] to the data
//! plane's member state.

use crate::model::OperatingStatus;

/// A status change the checker must apply and announce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Transition {
    pub status: OperatingStatus,
    /// Why, for the log and the status event (`connect failed: ..., 2 consecutive failures`).
    pub cause: String,
}

/// Consecutive-result counters and the current verdict of one member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tracker {
    /// `None` until the first probe decides a new member.
    status: Option<OperatingStatus>,
    successes: u32,
    failures: u32,
}

impl Tracker {
    /// A new member: out of rotation and undecided until its first result.
    pub fn undecided() -> Self {
        Self {
            status: None,
            successes: 0,
            failures: 0,
        }
    }

    /// A member already serving traffic when its pool gained a monitor: it
    /// stays ONLINE until `fall_threshold` failures say otherwise.
    pub fn online() -> Self {
        Self {
            status: Some(OperatingStatus::Online),
            successes: 0,
            failures: 0,
        }
    }

    /// The current verdict; `None` while undecided.
    pub fn status(&self) -> Option<OperatingStatus> {
        self.status
    }

    /// Count a successful probe. An undecided member goes ONLINE at once; a
    /// down one after `rise_threshold` consecutive successes (at least 1).
    pub fn record_success(&mut self, rise_threshold: u32) -> Option<Transition> {
        self.failures = 0;
        self.successes = self.successes.saturating_add(1);
        let cause = match self.status {
            Some(OperatingStatus::Online) => return None,
            None => "first probe succeeded".to_owned(),
            Some(_) if self.successes >= rise_threshold.max(1) => {
                format!("{} consecutive successes", self.successes)
            }
            Some(_) => return None,
        };
        self.status = Some(OperatingStatus::Online);
        Some(Transition {
            status: OperatingStatus::Online,
            cause,
        })
    }

    /// Count `count` failures, each as one consecutive failure. `down` is the
    /// status a failure of this kind leads to: OFFLINE, or ERROR when the
    /// probe could not run at all. An undecided member is decided at once
    /// (it is out of rotation already); an ONLINE one falls after
    /// `fall_threshold` consecutive failures (at least 1); a down one only
    /// switches between OFFLINE and ERROR when the kind of failure changes.
    pub fn record_failures(
        &mut self,
        count: u32,
        down: OperatingStatus,
        cause: &str,
        fall_threshold: u32,
    ) -> Option<Transition> {
        if count == 0 {
            return None;
        }
        self.successes = 0;
        self.failures = self.failures.saturating_add(count);
        let changes = match self.status {
            None => true,
            Some(OperatingStatus::Online) => self.failures >= fall_threshold.max(1),
            Some(current) => current != down,
        };
        if !changes {
            return None;
        }
        self.status = Some(down);
        let plural = if self.failures == 1 { "" } else { "s" };
        Some(Transition {
            status: down,
            cause: format!("{cause}, {} consecutive failure{plural}", self.failures),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OperatingStatus::{Error, Offline, Online};

    #[test]
    fn new_member_goes_online_on_its_first_success() {
        let mut t = Tracker::undecided();
        assert_eq!(t.status(), None);
        let change = t.record_success(3).unwrap();
        assert_eq!(change.status, Online);
        assert_eq!(change.cause, "first probe succeeded");
        assert_eq!(t.record_success(3), None, "no change is reported twice");
    }

    #[test]
    fn new_member_is_decided_offline_on_its_first_failure() {
        let mut t = Tracker::undecided();
        let change = t.record_failures(1, Offline, "connect failed", 3).unwrap();
        assert_eq!(change.status, Offline);
        assert_eq!(change.cause, "connect failed, 1 consecutive failure");
        assert_eq!(t.record_failures(1, Offline, "connect failed", 3), None);
    }

    #[test]
    fn online_member_falls_after_exactly_fall_threshold_failures() {
        let mut t = Tracker::online();
        assert_eq!(t.record_failures(1, Offline, "refused", 3), None);
        assert_eq!(t.record_failures(1, Offline, "refused", 3), None);
        let change = t.record_failures(1, Offline, "refused", 3).unwrap();
        assert_eq!(change.status, Offline);
        assert_eq!(change.cause, "refused, 3 consecutive failures");
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let mut t = Tracker::online();
        t.record_failures(2, Offline, "refused", 3);
        assert_eq!(t.record_success(2), None);
        assert_eq!(t.record_failures(2, Offline, "refused", 3), None);
        assert_eq!(t.status(), Some(Online));
    }

    #[test]
    fn down_member_rises_after_exactly_rise_threshold_successes() {
        let mut t = Tracker::online();
        t.record_failures(1, Offline, "refused", 1);
        assert_eq!(t.record_success(2), None);
        t.record_failures(1, Offline, "refused", 1);
        assert_eq!(
            t.record_success(2),
            None,
            "the failure reset the rise count"
        );
        let change = t.record_success(2).unwrap();
        assert_eq!(change.status, Online);
        assert_eq!(change.cause, "2 consecutive successes");
    }

    #[test]
    fn passive_failures_count_one_each() {
        let mut t = Tracker::online();
        let change = t
            .record_failures(3, Offline, "3 connect failures", 3)
            .unwrap();
        assert_eq!(change.status, Offline);
    }

    #[test]
    fn a_probe_that_cannot_run_gives_error_not_offline() {
        let mut t = Tracker::undecided();
        assert_eq!(
            t.record_failures(1, Error, "no ICMP socket", 3)
                .unwrap()
                .status,
            Error
        );
        // Once probes can run again and fail, the member is OFFLINE instead.
        assert_eq!(
            t.record_failures(1, Offline, "timeout", 3).unwrap().status,
            Offline
        );
    }

    #[test]
    fn zero_thresholds_act_as_one() {
        let mut t = Tracker::online();
        assert!(t.record_failures(1, Offline, "refused", 0).is_some());
        assert!(t.record_success(0).is_some());
    }
}
