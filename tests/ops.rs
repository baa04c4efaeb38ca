//! Operations: the systemd unit, the shipped configuration, sd_notify on a real socket, and
//! backup/check against a real Ballast database.
//!
//! The Debian package is checked by `packaging/check-deb.sh` (it needs a release build and
//! cargo-deb, too heavy for every test run).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ballast::config::{Config, LogConfig, LogFormat};
use ballast::model::{JobKind, LoadBalancerId};
use ballast::store::{self, Store};
use ballast::systemd::Notifier;
use tokio_util::sync::CancellationToken;

fn packaging(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("packaging")
        .join(file)
}

/// The shipped unit with ExecStart pointing at the binary cargo built, so `systemd-analyze
/// verify` finds an executable (it checks that /usr/bin/ballast exists).
fn unit_with_built_binary(dir: &Path) -> PathBuf {
    let unit = std::fs::read_to_string(packaging("ballast.service")).expect("read unit");
    assert!(unit.contains("ExecStart=/usr/bin/ballast serve"));
    let unit = unit.replace(
        "ExecStart=/usr/bin/ballast",
        &format!("ExecStart={}", env!("CARGO_BIN_EXE_ballast")),
    );
    let path = dir.join("ballast.service");
    std::fs::write(&path, unit).expect("write unit copy");
    path
}

fn systemd_analyze(args: &[&OsStr]) -> std::process::Output {
    Command::new("systemd-analyze")
        .args(args)
        .output()
        .expect("systemd-analyze runs (apt-get install systemd)")
}

/// `key=value` settings of the unit, in order, comments dropped.
fn unit_settings() -> Vec<(String, String)> {
    std::fs::read_to_string(packaging("ballast.service"))
        .expect("read unit")
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#') && !line.starts_with('['))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

#[test]
fn unit_passes_systemd_analyze_verify_without_warnings() {
    let dir = tempfile::tempdir().expect("temp dir");
    let unit = unit_with_built_binary(dir.path());
    let output = systemd_analyze(&[
        OsStr::new("verify"),
        OsStr::new("--man=no"),
        unit.as_os_str(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "verify failed: {stderr}");
    // Unknown keys and bad values are only warnings with exit 0; they must not be there.
    assert_eq!(stderr.trim(), "", "verify warned");
}

#[test]
fn unit_rates_ok_in_systemd_analyze_security() {
    let output = systemd_analyze(&[
        OsStr::new("security"),
        OsStr::new("--offline=yes"),
        packaging("ballast.service").as_os_str(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let exposure: f64 = stdout
        .lines()
        .find_map(|line| {
            line.split("Overall exposure level for ballast.service:")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in: {stdout}"));
    // 0 is fully locked down, 10 is unprotected; a proxy that needs the host network and
    // CAP_NET_ADMIN cannot reach 0. The shipped unit rates 1.6 ("OK").
    assert!(
        exposure <= 2.0,
        "exposure {exposure} is above 2.0:\n{stdout}"
    );
}

#[test]
fn unit_has_the_settings_operations_rely_on() {
    let settings = unit_settings();
    let value = |key: &str| -> Vec<&str> {
        settings
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let expected = [
        ("Type", "notify"),
        ("NotifyAccess", "main"),
        (
            "ExecStart",
            "/usr/bin/ballast serve --config /etc/ballast/ballast.toml",
        ),
        ("WatchdogSec", "30s"),
        ("Restart", "on-failure"),
        ("User", "ballast"),
        ("Group", "ballast"),
        ("StateDirectory", "ballast"),
        ("StateDirectoryMode", "0700"),
        ("ConfigurationDirectory", "ballast"),
        ("WorkingDirectory", "/var/lib/ballast"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("UMask", "0077"),
        ("LimitNOFILE", "1048576"),
        ("TimeoutStopSec", "20s"),
        ("KillSignal", "SIGTERM"),
        (
            "RestrictAddressFamilies",
            "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
        ),
    ];
    for (key, expected) in expected {
        assert_eq!(value(key), [expected], "{key}");
    }
    let capabilities = "CAP_NET_BIND_SERVICE CAP_NET_ADMIN CAP_NET_RAW";
    assert_eq!(value("AmbientCapabilities"), [capabilities]);
    assert_eq!(value("CapabilityBoundingSet"), [capabilities]);
}

#[test]
fn shipped_config_loads_and_keeps_state_in_var_lib() {
    let config = Config::load(Some(&packaging("ballast.toml"))).expect("shipped config loads");
    assert_eq!(config.data_dir, Path::new("/var/lib/ballast"));
    assert_eq!(config.api.address.to_string(), "127.0.0.1");
    assert_eq!(config.api.port, 9876);
    assert_eq!(config.networks.len(), 1);
    assert_eq!(config.networks[0].name, "loopback");
    assert_eq!(config.networks[0].cidr.to_string(), "127.77.0.0/16");
}

#[test]
fn uncommenting_every_example_in_the_shipped_config_gives_a_valid_config() {
    // Lines like `#level = "info"` document a default; `# text` lines are prose.
    let shipped = std::fs::read_to_string(packaging("ballast.toml")).expect("read config");
    let uncommented: String = shipped
        .lines()
        .map(|line| match line.strip_prefix('#') {
            Some(rest) if !rest.is_empty() && !rest.starts_with([' ', '#']) => rest,
            _ => line,
        })
        .map(|line| format!("{line}\n"))
        .collect();
    assert_ne!(uncommented, shipped, "the file has commented examples");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("ballast.toml");
    std::fs::write(&path, uncommented).expect("write");

    let config = Config::load(Some(&path)).expect("uncommented config loads");
    // The documented defaults are the real defaults.
    let defaults = Config::default();
    let log_defaults = LogConfig::default();
    assert_eq!(config.log.level, log_defaults.level);
    assert_eq!(config.log.format, LogFormat::Text);
    assert_eq!(
        config.housekeeping.purge_deleted_after_secs,
        defaults.housekeeping.purge_deleted_after_secs
    );
    assert_eq!(
        config.housekeeping.stats_persist_interval_secs,
        defaults.housekeeping.stats_persist_interval_secs
    );
    assert_eq!(
        config.dataplane.drain_timeout_secs,
        defaults.dataplane.drain_timeout_secs
    );
    assert_eq!(
        config.dataplane.member_connect_timeout_ms,
        defaults.dataplane.member_connect_timeout_ms
    );
    // And the interface-mode example is a valid second network.
    assert_eq!(config.networks.len(), 2);
    assert_eq!(config.networks[1].interface.as_deref(), Some("eth0"));
}

/// Receives one datagram as text, failing after the socket's read timeout.
fn receive(socket: &std::os::unix::net::UnixDatagram) -> String {
    let mut buffer = [0_u8; 4096];
    let length = socket.recv(&mut buffer).expect("a notification arrives");
    String::from_utf8(buffer[..length].to_vec()).expect("notifications are text")
}

#[test]
fn notifications_arrive_on_a_path_socket() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("notify");
    let socket = std::os::unix::net::UnixDatagram::bind(&path).expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let notifier = Notifier::from_socket(path.as_os_str());
    assert!(notifier.is_enabled());

    assert!(notifier.ready().expect("send READY"));
    assert_eq!(receive(&socket), "READY=1");
    assert!(
        notifier
            .status("3 load balancers\nactive")
            .expect("send STATUS")
    );
    assert_eq!(receive(&socket), "STATUS=3 load balancers active");
    assert!(notifier.watchdog().expect("send WATCHDOG"));
    assert_eq!(receive(&socket), "WATCHDOG=1");
    assert!(notifier.stopping().expect("send STOPPING"));
    assert_eq!(receive(&socket), "STOPPING=1");
}

#[test]
fn notifications_arrive_on_an_abstract_socket() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!(
        "ballast-test-{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
    );
    let address =
        std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).expect("address");
    let socket = std::os::unix::net::UnixDatagram::bind_addr(&address).expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");

    let notifier = Notifier::from_socket(OsStr::new(&format!("@{name}")));
    assert!(notifier.ready().expect("send READY"));
    assert_eq!(receive(&socket), "READY=1");
}

#[test]
fn a_missing_socket_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("temp dir");
    let notifier = Notifier::from_socket(dir.path().join("absent").as_os_str());
    assert!(notifier.ready().is_err());
}

#[tokio::test]
async fn watchdog_pings_at_half_the_interval_until_shutdown() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("notify");
    let socket = tokio::net::UnixDatagram::bind(&path).expect("bind");
    let shutdown = CancellationToken::new();
    let interval = Duration::from_millis(200);
    let started = Instant::now();
    let task = Notifier::from_socket(path.as_os_str()).spawn_watchdog(interval, shutdown.clone());

    let mut buffer = [0_u8; 64];
    for _ in 0..3 {
        let length = tokio::time::timeout(Duration::from_secs(5), socket.recv(&mut buffer))
            .await
            .expect("a ping within 5 s")
            .expect("recv");
        assert_eq!(&buffer[..length], b"WATCHDOG=1");
    }
    // The first ping is immediate, the next two a half interval apart each.
    assert!(started.elapsed() >= interval, "pinged too fast");

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the watchdog task ends on shutdown")
        .expect("no panic");
    // Drain what was in flight, then nothing more comes.
    while socket.try_recv(&mut buffer).is_ok() {}
    let later = tokio::time::timeout(interval, socket.recv(&mut buffer)).await;
    assert!(later.is_err(), "a ping after shutdown");
}

#[test]
fn backup_of_a_live_store_holds_every_acknowledged_job_and_restores() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let store = Store::open(&data_dir).expect("open store");
    let load_balancer = LoadBalancerId::new();

    let acknowledged = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let store = store.clone();
        let acknowledged = Arc::clone(&acknowledged);
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let connection = store.conn().expect("connection");
            // Bounded: until told to stop, at most 100k jobs.
            for n in 1..=100_000_u64 {
                if stop.load(Ordering::Acquire) {
                    break;
                }
                store::jobs::insert(&connection, load_balancer, JobKind::CreateListener, None)
                    .expect("insert job");
                acknowledged.store(n, Ordering::Release);
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged.load(Ordering::Acquire) < 200 {
        assert!(Instant::now() < deadline, "the writer made no progress");
        std::thread::yield_now();
    }
    let before = acknowledged.load(Ordering::Acquire);
    let backup_file = dir.path().join("ballast-backup.sqlite3");
    let report = ballast::backup::backup(store.path(), &backup_file).expect("backup");
    stop.store(true, Ordering::Release);
    writer.join().expect("writer");
    assert!(report.pages > 0 && report.bytes > 0);

    let checked = ballast::check::check_database(&backup_file).expect("check the copy");
    assert!(checked.is_sound(), "{checked}");
    let live = ballast::check::check_database(store.path()).expect("check the live file");
    assert_eq!(checked.user_version, live.user_version);
    let open_jobs = checked
        .open_jobs
        .rows()
        .expect("the copy has a readable jobs table");
    assert!(
        open_jobs >= before,
        "{open_jobs} jobs in the copy, {before} acknowledged"
    );
    assert_eq!(
        checked
            .counts
            .iter()
            .find(|(table, _)| *table == "load_balancers")
            .and_then(|(_, rows)| rows.rows()),
        Some(0)
    );

    // Restore: a data_dir holding the copy as ballast.sqlite3 opens as a store.
    let restored_dir = dir.path().join("restored");
    std::fs::create_dir(&restored_dir).expect("mkdir");
    std::fs::copy(&backup_file, store::database_path(&restored_dir)).expect("copy");
    let restored = Store::open(&restored_dir).expect("the restored store opens");
    let pending = store::jobs::pending(&restored.conn().expect("connection")).expect("jobs");
    assert_eq!(pending.len() as u64, open_jobs);
}
