//! The systemd notification protocol (`sd_notify`), spoken by hand.
//!
//! Owns: sending `READY=1`, `STOPPING=1`, `WATCHDOG=1` and `STATUS=...` datagrams to the
//! socket systemd names in `$NOTIFY_SOCKET` (a path, or an abstract name written with a leading
//! `@`), and the watchdog task that pings at half of `$WATCHDOG_USEC`.
//! Never touches: the environment (it only reads it; Rust 2024 makes `set_var` unsafe and the
//! crate denies unsafe code), signals, or any other part of Ballast. When `$NOTIFY_SOCKET` is
//! unset (not started by systemd, or a unit without `Type=notify`) every call is a no-op.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::PathBuf;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long one notification may block before it is given up. systemd reads its notify socket
/// promptly; a full socket buffer means systemd is wedged, and waiting longer would wedge us.
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// A failure to deliver a notification to systemd.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// `$NOTIFY_SOCKET` names an address family this module does not speak (e.g. `vsock:`).
    #[error("unsupported NOTIFY_SOCKET address {address:?}")]
    UnsupportedAddress {
        /// The value of `$NOTIFY_SOCKET`.
        address: String,
    },
    /// The datagram could not be sent.
    #[error("cannot send to NOTIFY_SOCKET {address:?}")]
    Send {
        /// The value of `$NOTIFY_SOCKET`.
        address: String,
        /// The socket error.
        #[source]
        source: io::Error,
    },
}

/// Where notifications go.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// Not started by systemd: every notification is dropped.
    None,
    /// A socket file.
    Path(PathBuf),
    /// A Linux abstract socket name (given as `@name`; sent without the `@`).
    Abstract(Vec<u8>),
    /// An address family we cannot send to; reported on each send.
    Unsupported(String),
}

/// A handle on the service manager's notification socket.
///
/// Cheap to clone; each notification opens a fresh unbound datagram socket, as `sd_notify` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notifier {
    target: Target,
}

impl Notifier {
    /// The notifier systemd asked for through `$NOTIFY_SOCKET`; disabled when it is unset or empty.
    pub fn from_env() -> Self {
        match std::env::var_os("NOTIFY_SOCKET") {
            Some(value) => Self::from_socket(&value),
            None => Self::disabled(),
        }
    }

    /// A notifier for the given `$NOTIFY_SOCKET` value: a path, or `@name` for an abstract
    /// socket. An empty value disables it.
    pub fn from_socket(value: &OsStr) -> Self {
        let bytes = value.as_bytes();
        let target = match bytes.first() {
            None => Target::None,
            Some(b'/') => Target::Path(PathBuf::from(value)),
            Some(b'@') => Target::Abstract(bytes[1..].to_vec()),
            // systemd only hands out absolute paths, abstract names and (newer) `vsock:`
            // addresses; a relative path would resolve against our working directory.
            Some(_) => Target::Unsupported(value.to_string_lossy().into_owned()),
        };
        Self { target }
    }

    /// A notifier that drops every notification.
    pub fn disabled() -> Self {
        Self {
            target: Target::None,
        }
    }

    /// Whether notifications go anywhere.
    pub fn is_enabled(&self) -> bool {
        self.target != Target::None
    }

    /// Sends one raw notification (newline-separated `KEY=value` assignments).
    ///
    /// Returns `Ok(false)` when the notifier is disabled, `Ok(true)` once the datagram is sent.
    pub fn send(&self, state: &str) -> Result<bool, NotifyError> {
        let address = match &self.target {
            Target::None => return Ok(false),
            Target::Path(path) => SocketAddr::from_pathname(path),
            Target::Abstract(name) => SocketAddr::from_abstract_name(name),
            Target::Unsupported(address) => {
                return Err(NotifyError::UnsupportedAddress {
                    address: address.clone(),
                });
            }
        };
        let result = address.and_then(|address| {
            let socket = UnixDatagram::unbound()?;
            socket.set_write_timeout(Some(SEND_TIMEOUT))?;
            let sent = socket.send_to_addr(state.as_bytes(), &address)?;
            if sent == state.len() {
                Ok(())
            } else {
                Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "notification datagram truncated",
                ))
            }
        });
        result.map(|()| true).map_err(|source| NotifyError::Send {
            address: self.address_text(),
            source,
        })
    }

    /// Tells systemd start-up is complete (`READY=1`); send only after the start-up reconcile.
    pub fn ready(&self) -> Result<bool, NotifyError> {
        self.send("READY=1")
    }

    /// Tells systemd the service is shutting down (`STOPPING=1`).
    pub fn stopping(&self) -> Result<bool, NotifyError> {
        self.send("STOPPING=1")
    }

    /// One watchdog keep-alive ping (`WATCHDOG=1`).
    pub fn watchdog(&self) -> Result<bool, NotifyError> {
        self.send("WATCHDOG=1")
    }

    /// A one-line status shown by `systemctl status` (`STATUS=...`). Newlines are replaced by
    /// spaces, because each line of a notification is a separate assignment.
    pub fn status(&self, status: &str) -> Result<bool, NotifyError> {
        let line: String = status
            .chars()
            .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
            .collect();
        self.send(&format!("STATUS={line}"))
    }

    /// Spawns a tokio task that sends `WATCHDOG=1` every `interval / 2` until `shutdown` is
    /// cancelled. The first ping goes out at once.
    ///
    /// The pings come from a task on the shared runtime on purpose: when the runtime is wedged
    /// (every worker blocked), the pings stop and systemd restarts the service. Must be called
    /// from within a tokio runtime.
    pub fn spawn_watchdog(
        &self,
        interval: Duration,
        shutdown: CancellationToken,
    ) -> JoinHandle<()> {
        let notifier = self.clone();
        // Half the interval, as sd_watchdog_enabled(3) recommends; never a zero period, which
        // tokio's interval rejects.
        let period = (interval / 2).max(Duration::from_millis(1));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            // After a stall, ping once and resume the rhythm rather than sending a burst.
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    _ = ticks.tick() => {
                        if let Err(error) = notifier.watchdog() {
                            tracing::warn!(%error, "systemd watchdog ping failed");
                        }
                    }
                }
            }
            tracing::debug!("systemd watchdog pings stopped");
        })
    }

    fn address_text(&self) -> String {
        match &self.target {
            Target::None => String::new(),
            Target::Path(path) => path.display().to_string(),
            Target::Abstract(name) => format!("@{}", String::from_utf8_lossy(name)),
            Target::Unsupported(address) => address.clone(),
        }
    }
}

/// The watchdog interval systemd asked for, from the values of `$WATCHDOG_USEC` and
/// `$WATCHDOG_PID`.
///
/// `None` when the watchdog is off: no or an unparsable or zero `WATCHDOG_USEC`, or a
/// `WATCHDOG_PID` naming another process (the variables were inherited, not meant for us).
pub fn watchdog_interval(
    watchdog_usec: Option<&OsStr>,
    watchdog_pid: Option<&OsStr>,
    our_pid: u32,
) -> Option<Duration> {
    if let Some(pid) = watchdog_pid {
        let pid: u32 = pid.to_str()?.trim().parse().ok()?;
        if pid != our_pid {
            return None;
        }
    }
    let usec: u64 = watchdog_usec?.to_str()?.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// The watchdog interval from this process's environment; see [`watchdog_interval`].
pub fn watchdog_interval_from_env() -> Option<Duration> {
    let usec: Option<OsString> = std::env::var_os("WATCHDOG_USEC");
    let pid: Option<OsString> = std::env::var_os("WATCHDOG_PID");
    watchdog_interval(usec.as_deref(), pid.as_deref(), std::process::id())
}

/// Sends `READY=1` to `$NOTIFY_SOCKET`; `Ok(false)` when not run by systemd.
pub fn notify_ready() -> Result<bool, NotifyError> {
    Notifier::from_env().ready()
}

/// Sends `STOPPING=1` to `$NOTIFY_SOCKET`; `Ok(false)` when not run by systemd.
pub fn notify_stopping() -> Result<bool, NotifyError> {
    Notifier::from_env().stopping()
}

/// Sends `WATCHDOG=1` to `$NOTIFY_SOCKET`; `Ok(false)` when not run by systemd.
pub fn notify_watchdog() -> Result<bool, NotifyError> {
    Notifier::from_env().watchdog()
}

/// Sends `STATUS=<status>` to `$NOTIFY_SOCKET`; `Ok(false)` when not run by systemd.
pub fn notify_status(status: &str) -> Result<bool, NotifyError> {
    Notifier::from_env().status(status)
}

/// Starts the watchdog pings systemd asked for (`WatchdogSec=` in the unit), at half the
/// interval, until `shutdown` is cancelled.
///
/// `None` when `$NOTIFY_SOCKET` is unset or the watchdog is off for this process. Must be called
/// from within a tokio runtime.
pub fn spawn_watchdog(shutdown: CancellationToken) -> Option<JoinHandle<()>> {
    let notifier = Notifier::from_env();
    if !notifier.is_enabled() {
        return None;
    }
    let interval = watchdog_interval_from_env()?;
    tracing::info!(
        interval_secs = interval.as_secs_f64(),
        "systemd watchdog enabled"
    );
    Some(notifier.spawn_watchdog(interval, shutdown))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(value: &str) -> Option<&OsStr> {
        Some(OsStr::new(value))
    }

    #[test]
    fn watchdog_interval_reads_microseconds() {
        assert_eq!(
            watchdog_interval(os("30000000"), None, 42),
            Some(Duration::from_secs(30))
        );
    }

    #[test]
    fn watchdog_interval_requires_our_pid_when_pid_is_given() {
        assert_eq!(
            watchdog_interval(os("1000000"), os("42"), 42),
            Some(Duration::from_secs(1))
        );
        assert_eq!(watchdog_interval(os("1000000"), os("43"), 42), None);
        assert_eq!(watchdog_interval(os("1000000"), os("nope"), 42), None);
    }

    #[test]
    fn watchdog_is_off_for_missing_zero_or_garbage_usec() {
        assert_eq!(watchdog_interval(None, None, 1), None);
        assert_eq!(watchdog_interval(os("0"), None, 1), None);
        assert_eq!(watchdog_interval(os("-5"), None, 1), None);
        assert_eq!(watchdog_interval(os("30s"), None, 1), None);
    }

    #[test]
    fn empty_notify_socket_disables_the_notifier() {
        let notifier = Notifier::from_socket(OsStr::new(""));
        assert!(!notifier.is_enabled());
        assert!(!notifier.ready().expect("a disabled notifier never fails"));
    }

    #[test]
    fn vsock_address_is_reported_as_unsupported() {
        let notifier = Notifier::from_socket(OsStr::new("vsock:2:1234"));
        assert!(matches!(
            notifier.ready(),
            Err(NotifyError::UnsupportedAddress { .. })
        ));
    }

    #[test]
    fn abstract_names_drop_the_at_sign() {
        let notifier = Notifier::from_socket(OsStr::new("@ballast/notify"));
        assert_eq!(
            notifier.target,
            Target::Abstract(b"ballast/notify".to_vec())
        );
    }
}
