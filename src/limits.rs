//! Process resource limits: the open-descriptor limit (`RLIMIT_NOFILE`),
//! raised once at start from its soft to its hard value. Every proxied
//! connection holds two descriptors and every API client one, and a default
//! soft limit of 1024 is spent by a few hundred clients, while the hard limit
//! (systemd's `LimitNOFILE=`) is what the operator granted.
//!
//! Owns nothing else; callers that size themselves by the limit (a
//! connection cap) read [`nofile_soft_limit`] after [`raise_nofile_limit`].

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use tracing::{info, warn};

/// Raise the soft `RLIMIT_NOFILE` to the hard limit and log both; returns
/// the soft limit in force afterwards (unchanged when raising failed, which
/// is logged as a warning: Ballast runs, with fewer connections).
pub fn raise_nofile_limit() -> u64 {
    let (soft, hard) = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok(limits) => limits,
        Err(error) => {
            warn!(%error, "cannot read the open-file limit");
            return 0;
        }
    };
    if soft >= hard {
        info!(soft, hard, "open-file limit already at its hard limit");
        return soft;
    }
    match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
        Ok(()) => {
            info!(was = soft, now = hard, hard, "open-file soft limit raised");
            hard
        }
        Err(error) => {
            warn!(%error, soft, hard, "cannot raise the open-file soft limit");
            soft
        }
    }
}

/// The soft `RLIMIT_NOFILE` in force now (0 when it cannot be read).
pub fn nofile_soft_limit() -> u64 {
    getrlimit(Resource::RLIMIT_NOFILE).map_or(0, |(soft, _)| soft)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_leaves_the_soft_limit_at_the_hard_limit() {
        let now = raise_nofile_limit();
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        assert_eq!(now, soft);
        assert_eq!(soft, hard);
        assert_eq!(nofile_soft_limit(), soft);
    }
}
