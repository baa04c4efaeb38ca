//! Operations end to end, against the real binary: sd_notify on a test
//! `NOTIFY_SOCKET`, `/readyz` (and `/v1`) before and after the start-up
//! reconcile, `/metrics` parsed by a Prometheus text parser with values that
//! follow traffic and survive a restart, `ballast check` and `ballast backup`
//! through the command line, a backup taken under write load restored.

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    Ballast, Options, ballast_cli, fresh_cidr, http, http_member, http_raw, wait_until,
    write_config,
};
use serde_json::{Value, json};

// ---------------------------------------------------------------- helpers

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A datagram socket in `dir` standing in for systemd's notify socket.
struct NotifySocket {
    socket: UnixDatagram,
    path: std::path::PathBuf,
}

impl NotifySocket {
    fn bind(dir: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind notify socket");
        NotifySocket { socket, path }
    }

    /// Every assignment received so far without waiting (a datagram may
    /// carry several, one per line).
    fn drain(&self) -> Vec<String> {
        self.socket.set_nonblocking(true).expect("nonblocking");
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.socket.recv(&mut buf) {
            out.extend(text(&buf[..n]).lines().map(str::to_owned));
        }
        self.socket.set_nonblocking(false).expect("blocking");
        out
    }

    /// Wait (at most `timeout`) for the assignment `want`; returns everything
    /// received before it, in order.
    fn wait_for(&self, want: &str, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no {want} within {timeout:?}; got {seen:?}"
            );
            self.socket
                .set_read_timeout(Some(left))
                .expect("read timeout");
            match self.socket.recv(&mut buf) {
                Ok(n) => {
                    for line in text(&buf[..n]).lines() {
                        if line == want {
                            return seen;
                        }
                        seen.push(line.to_owned());
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("notify socket: {e}"),
            }
        }
    }

    fn env(&self, watchdog_usec: &str) -> Vec<(String, String)> {
        vec![
            ("NOTIFY_SOCKET".to_owned(), self.path.display().to_string()),
            ("WATCHDOG_USEC".to_owned(), watchdog_usec.to_owned()),
        ]
    }
}

/// SIGTERM, then the exit status and how long the exit took.
fn terminate_timed(b: &mut Ballast) -> (std::process::ExitStatus, Duration) {
    let started = Instant::now();
    let status = b.terminate().expect("was running");
    (status, started.elapsed())
}

fn id(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_owned()
}

/// `GET path` on the API; status, `Content-Type` and body.
fn get_with_content_type(b: &Ballast, path: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(b.api).expect("connect API");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        b.api
    )
    .expect("write request");
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw); // a reset after the answer is fine
    let raw = text(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").expect("HTTP answer");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_default();
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "a small scrape comes with a Content-Length"
    );
    (status, content_type, body.to_owned())
}

/// A scrape of `/metrics`, parsed by a real Prometheus text parser.
fn scrape(b: &Ballast) -> prometheus_parse::Scrape {
    let (status, content_type, body) = get_with_content_type(b, "/metrics");
    assert_eq!(status, 200, "{body}");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "Content-Type {content_type:?}"
    );
    prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned())))
        .unwrap_or_else(|e| panic!("scrape does not parse ({e}):\n{body}"))
}

fn sample_value(s: &prometheus_parse::Sample) -> f64 {
    match &s.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => *v,
        other => panic!("{} is not a plain value: {other:?}", s.metric),
    }
}

/// The one sample of `name` carrying all of `labels`.
fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let samples: Vec<_> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect();
    assert_eq!(
        samples.len(),
        1,
        "one sample of {name} {labels:?} in {:?}",
        scrape
            .samples
            .iter()
            .map(|s| &s.metric)
            .collect::<HashSet<_>>()
    );
    sample_value(samples[0])
}

/// The sum over every sample of `name` carrying all of `labels`.
fn sum(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(sample_value)
        .sum()
}

// ---------------------------------------------------------------- sd_notify

#[test]
fn sd_notify_sends_ready_when_ready_then_watchdog_pings_then_stopping_on_sigterm() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let notify = NotifySocket::bind(tmp.path());
    let mut b = Ballast::spawn_unready(
        tmp.path(),
        &fresh_cidr(),
        Options {
            env: notify.env("500000"),
            ..Options::default()
        },
    );

    let before_ready = notify.wait_for("READY=1", Duration::from_secs(30));
    // READY=1 is sent after the ready flag is set: whoever hears it finds
    // /readyz (and the API) answering.
    assert_eq!(b.get("/readyz").0, 200, "READY=1 before /readyz is 200");
    assert_eq!(b.get("/v1/loadbalancers").0, 200);
    assert!(
        before_ready
            .iter()
            .all(|m| m == "WATCHDOG=1" || m.starts_with("STATUS=")),
        "only watchdog pings or status before READY=1: {before_ready:?}"
    );

    // WATCHDOG_USEC=500000: a ping every 250 ms; two within 3 s for sure.
    for _ in 0..2 {
        let between = notify.wait_for("WATCHDOG=1", Duration::from_secs(3));
        assert!(
            !between.iter().any(|m| m == "READY=1" || m == "STOPPING=1"),
            "{between:?}"
        );
    }

    let pid = b.child.as_ref().expect("running").id();
    let (status, took) = terminate_timed(&mut b);
    let before_stopping = notify.wait_for("STOPPING=1", Duration::from_secs(1));
    assert!(
        !before_stopping.iter().any(|m| m == "READY=1"),
        "{before_stopping:?}"
    );
    assert!(status.success(), "exit status {status:?} (pid {pid})");
    assert!(took < Duration::from_secs(10), "exit took {took:?}");
    // Nothing after the process is gone.
    let after = notify.drain();
    assert!(
        after
            .iter()
            .all(|m| m == "WATCHDOG=1" || m.starts_with("STATUS=")),
        "{after:?}"
    );
}

// ---------------------------------------------------------------- /readyz

/// Hold SQLite's write lock on `db` (BEGIN IMMEDIATE) until dropped.
fn hold_write_lock(db: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(db).expect("open db");
    conn.busy_timeout(Duration::from_secs(5))
        .expect("busy timeout");
    conn.execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");
    conn
}

#[test]
fn readyz_and_the_api_answer_503_until_the_start_up_reconcile_is_done_and_ready_follows() {
    // The start-up reconcile begins with a write (re-queue interrupted jobs).
    // While another process holds SQLite's write lock, that write waits
    // (busy_timeout 10 s), so the reconcile is observably unfinished; the
    // API listens meanwhile and must say so.
    let tmp = tempfile::tempdir().expect("temp dir");
    let cidr = fresh_cidr();
    let mut first = Ballast::start_in(tmp.path(), &cidr, Options::default());
    let lb = id(&first.create_lb());
    let net = first.network_id();
    assert!(first.terminate().expect("running").success());

    let db = tmp.path().join("data").join("ballast.sqlite3");
    let lock = hold_write_lock(&db);
    let notify = NotifySocket::bind(tmp.path());
    let mut b = Ballast::spawn_unready(
        tmp.path(),
        &cidr,
        Options {
            env: notify.env("500000"),
            ..Options::default()
        },
    );

    let (status, body) = b.get("/readyz");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "starting", "{body}");
    assert_eq!(b.get("/healthz").0, 200);
    for path in [
        "/v1/loadbalancers".to_owned(),
        format!("/v1/loadbalancers/{lb}"),
    ] {
        let (status, body) = b.get(&path);
        common::assert_fault(status, &body, 503, "starting");
    }
    let (status, body) = b.post("/v1/loadbalancers", json!({"vip": {"network_id": net}}));
    common::assert_fault(status, &body, 503, "starting");
    // No READY=1 while not ready (watchdog pings may already come).
    let early = notify.drain();
    assert!(!early.iter().any(|m| m == "READY=1"), "{early:?}");
    assert_eq!(
        b.get("/readyz").0,
        503,
        "still not ready while the lock is held"
    );

    drop(lock); // rolls back, releasing the write lock
    notify.wait_for("READY=1", Duration::from_secs(15));
    assert_eq!(b.get("/readyz").0, 200);
    let (status, got) = b.get(&format!("/v1/loadbalancers/{lb}"));
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["provisioning_status"], "ACTIVE", "{got}");
    let log = b.log.lock().expect("log").join("\n");
    assert!(
        !log.contains("start-up reconcile failed"),
        "the reconcile waited for the lock rather than failing:\n{log}"
    );
    assert!(b.terminate().expect("running").success());
}

/// One observation while polling a starting instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    Readyz(u16),
    V1(u16),
    Healthz(u16),
}

#[test]
fn restart_with_200_load_balancers_goes_from_503_to_200_once_and_never_back() {
    const LBS: usize = 200;
    let tmp = tempfile::tempdir().expect("temp dir");
    let cidr = fresh_cidr();
    let mut b = Ballast::start_in(tmp.path(), &cidr, Options::default());
    let net = b.network_id();
    let mut ids = Vec::new();
    for _ in 0..LBS {
        let (s, lb) = b.post("/v1/loadbalancers", json!({"vip": {"network_id": net}}));
        assert_eq!(s, 202, "{lb}");
        ids.push(id(&lb));
    }
    for lb in &ids {
        b.wait_lb_active(lb);
    }
    for lb in &ids {
        let (s, l) = b.post(
            &format!("/v1/loadbalancers/{lb}/listeners"),
            json!({"protocol": "TCP", "protocol_port": 9000}),
        );
        assert_eq!(s, 202, "{l}");
    }
    for lb in &ids {
        b.wait_lb_active(lb);
    }
    assert!(b.terminate().expect("running").success());

    let mut b = Ballast::spawn_unready(tmp.path(), &cidr, Options::default());
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    // Poll as fast as the API answers until ready, then 20 rounds more.
    let mut rounds_after_ready = 0;
    while rounds_after_ready < 20 {
        assert!(Instant::now() < deadline, "not ready within 60 s: {seen:?}");
        let (s, body) = b.get("/readyz");
        seen.push(Probe::Readyz(s));
        if s == 200 {
            rounds_after_ready += 1;
        } else {
            assert_eq!(s, 503, "{body}");
        }
        let (s, body) = b.get("/v1/loadbalancers");
        seen.push(Probe::V1(s));
        if s == 503 {
            common::assert_fault(s, &body, 503, "starting");
        } else {
            assert_eq!(s, 200, "{body}");
        }
        seen.push(Probe::Healthz(b.get("/healthz").0));
    }

    assert!(
        seen.iter()
            .all(|p| !matches!(p, Probe::Healthz(s) if *s != 200)),
        "/healthz is 200 throughout: {seen:?}"
    );
    // Monotonic: after the first 200 from /readyz or /v1, no 503 from either.
    let first_ok = seen
        .iter()
        .position(|p| matches!(p, Probe::Readyz(200) | Probe::V1(200)))
        .expect("ready at last");
    let late_503 = seen[first_ok..]
        .iter()
        .filter(|p| matches!(p, Probe::Readyz(503) | Probe::V1(503)))
        .count();
    assert_eq!(late_503, 0, "503 after ready: {seen:?}");
    let early_503 = seen[..first_ok]
        .iter()
        .filter(|p| matches!(p, Probe::Readyz(503) | Probe::V1(503)))
        .count();
    eprintln!("readyz restart with {LBS} load balancers: {early_503} answers of 503 before ready");
    // Everything came back.
    let (_, all) = b.get("/v1/loadbalancers");
    assert_eq!(all.as_array().map(Vec::len), Some(LBS), "{all}");
    assert!(b.terminate().expect("running").success());
}

// ---------------------------------------------------------------- /metrics

#[test]
fn metrics_follow_traffic_equal_the_stats_api_and_do_not_go_backwards_across_a_restart() {
    const N: u64 = 7;
    let tmp = tempfile::tempdir().expect("temp dir");
    let cidr = fresh_cidr();
    let mut b = Ballast::start_in(tmp.path(), &cidr, Options::default());
    let member = http_member("m1");

    let lb = b.create_lb();
    let lb_id = id(&lb);
    let l = b.post_and_settle(
        &lb_id,
        &format!("/v1/loadbalancers/{lb_id}/listeners"),
        json!({"protocol": "HTTP", "protocol_port": 8080, "name": "web"}),
    );
    let l_id = id(&l);
    let p = b.post_and_settle(
        &lb_id,
        &format!("/v1/loadbalancers/{lb_id}/listeners/{l_id}/pools"),
        json!({"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}),
    );
    let p_id = id(&p);
    let m = b.post_and_settle(
        &lb_id,
        &format!("/v1/loadbalancers/{lb_id}/listeners/{l_id}/pools/{p_id}/members"),
        json!({"ip_address": member.ip().to_string(), "protocol_port": member.port()}),
    );
    let m_id = id(&m);
    let writes = 4.0; // load balancer, listener, pool, member
    let member_path =
        format!("/v1/loadbalancers/{lb_id}/listeners/{l_id}/pools/{p_id}/members/{m_id}");
    wait_until(Duration::from_secs(10), "member ONLINE", || {
        b.get(&member_path).1["operating_status"] == "ONLINE"
    });

    let vip = lb["vip"]["ip_address"].as_str().expect("vip").to_owned();
    for _ in 0..N {
        let (status, body) = http_raw("GET", &format!("http://{vip}:8080/"), None, &[]);
        assert_eq!((status, body.as_str()), (200, "m1"));
    }
    let stats_path = format!("/v1/loadbalancers/{lb_id}/listeners/{l_id}/stats");
    let mut stats = Value::Null;
    wait_until(Duration::from_secs(10), "connections closed", || {
        stats = b.get(&stats_path).1;
        stats["active_connections"] == 0
    });

    let s = scrape(&b);
    let labels = [
        ("load_balancer_id", lb_id.as_str()),
        ("listener_id", l_id.as_str()),
        ("name", "web"),
    ];
    let connections = value(&s, "ballast_listener_connections_total", &labels);
    let bytes_in = value(&s, "ballast_listener_bytes_in_total", &labels);
    let bytes_out = value(&s, "ballast_listener_bytes_out_total", &labels);
    assert_eq!(connections, N as f64);
    assert_eq!(
        value(&s, "ballast_listener_active_connections", &labels),
        0.0
    );
    assert!(bytes_in > 0.0 && bytes_out > 0.0, "{bytes_in} {bytes_out}");
    assert_eq!(
        stats["total_connections"].as_f64(),
        Some(connections),
        "{stats}"
    );
    assert_eq!(stats["bytes_in"].as_f64(), Some(bytes_in), "{stats}");
    assert_eq!(stats["bytes_out"].as_f64(), Some(bytes_out), "{stats}");
    assert_eq!(
        value(
            &s,
            "ballast_member_up",
            &[("member_id", m_id.as_str()), ("pool_id", p_id.as_str())]
        ),
        1.0
    );
    let jobs_ok = sum(
        &s,
        "ballast_provisioning_jobs_total",
        &[("outcome", "success")],
    );
    assert!(
        jobs_ok >= writes,
        "{jobs_ok} successful jobs for {writes} writes"
    );
    assert_eq!(
        value(
            &s,
            "ballast_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );

    // A graceful stop persists the listener counters; after the restart
    // they continue from there, never lower.
    assert!(b.terminate().expect("running").success());
    let b = Ballast::start_in(tmp.path(), &cidr, Options::default());
    let s2 = scrape(&b);
    assert!(value(&s2, "ballast_listener_connections_total", &labels) >= connections);
    assert!(value(&s2, "ballast_listener_bytes_in_total", &labels) >= bytes_in);
    assert!(value(&s2, "ballast_listener_bytes_out_total", &labels) >= bytes_out);
    // And they move on with traffic.
    let (status, _) = http_raw("GET", &format!("http://{vip}:8080/"), None, &[]);
    assert_eq!(status, 200);
    wait_until(Duration::from_secs(10), "connection closed", || {
        b.get(&stats_path).1["active_connections"] == 0
    });
    let s3 = scrape(&b);
    assert_eq!(
        value(&s3, "ballast_listener_connections_total", &labels),
        connections + 1.0
    );
}

#[test]
fn metrics_count_health_probes_by_type_and_result_and_member_up_follows_them() {
    let b = Ballast::start();
    let up = http_member("up");
    // A port that refuses: bound, its address noted, then closed.
    let down = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("address")
    };
    let lb_id = id(&b.create_lb());
    let l_id = id(&b.add_listener(&lb_id, "TCP", 9100));
    let p_id = id(&b.add_pool(&lb_id, &l_id, "TCP"));
    let up_id = id(&b.add_member(&lb_id, &l_id, &p_id, "127.0.0.1", up.port()));
    let down_id = id(&b.add_member(&lb_id, &l_id, &p_id, "127.0.0.1", down.port()));
    b.post_and_settle(
        &lb_id,
        &format!("/v1/loadbalancers/{lb_id}/listeners/{l_id}/pools/{p_id}/health_monitor"),
        json!({"type": "TCP", "delay": 1, "timeout": 1,
               "fall_threshold": 1, "rise_threshold": 1}),
    );
    // Probes run about once a second per member.
    let mut s = scrape(&b);
    wait_until(Duration::from_secs(15), "probes of both outcomes", || {
        s = scrape(&b);
        sum(
            &s,
            "ballast_health_probes_total",
            &[("type", "TCP"), ("result", "success")],
        ) >= 1.0
            && sum(
                &s,
                "ballast_health_probes_total",
                &[("type", "TCP"), ("result", "failure")],
            ) >= 1.0
    });
    wait_until(Duration::from_secs(15), "member_up 1 and 0", || {
        s = scrape(&b);
        value(&s, "ballast_member_up", &[("member_id", up_id.as_str())]) == 1.0
            && value(&s, "ballast_member_up", &[("member_id", down_id.as_str())]) == 0.0
    });
    let members = format!("/v1/loadbalancers/{lb_id}/listeners/{l_id}/pools/{p_id}/members");
    assert_eq!(
        b.get(&format!("{members}/{up_id}")).1["operating_status"],
        "ONLINE"
    );
    assert_eq!(
        b.get(&format!("{members}/{down_id}")).1["operating_status"],
        "OFFLINE"
    );
}

// ---------------------------------------------------------------- check

#[test]
fn check_names_the_bad_key_and_exits_2() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let cidr = fresh_cidr();

    // An unknown key inside [api].
    let config = write_config(tmp.path(), &cidr, &Options::default());
    let toml = std::fs::read_to_string(&config)
        .expect("read config")
        .replace("port = 0\n", "port = 0\nbogus_knob = 1\n");
    std::fs::write(&config, toml).expect("write config");
    let out = ballast_cli(&["check".as_ref(), "--config".as_ref(), config.as_os_str()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("unknown key `[api] bogus_knob`"),
        "{}",
        text(&out.stderr)
    );

    // A CIDR that does not parse, and one that parses but is refused
    // (loopback mode lives inside 127.0.0.0/8).
    for (cidr, key) in [
        ("127.9.9.0/99", "`[[networks]] #1 cidr`: invalid IP address"),
        (
            "10.0.0.0/24",
            "`[[networks]] #1 cidr`: a loopback-mode network",
        ),
    ] {
        let config = write_config(tmp.path(), cidr, &Options::default());
        let out = ballast_cli(&["check".as_ref(), "--config".as_ref(), config.as_os_str()]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cidr}: {stderr}");
        assert!(stderr.contains(key), "{cidr}: {stderr} should name {key}");
        assert!(out.stdout.is_empty(), "{cidr}: no report for a bad config");
    }

    assert!(
        !tmp.path().join("data").exists(),
        "check of a bad config creates nothing"
    );
}

#[test]
fn check_reports_a_database_and_says_a_missing_one_will_be_created() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let cidr = fresh_cidr();
    let config = write_config(tmp.path(), &cidr, &Options::default());
    let db = tmp.path().join("data").join("ballast.sqlite3");

    let out = ballast_cli(&["check".as_ref(), "--config".as_ref(), config.as_os_str()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("config: ok"), "{stdout}");
    assert!(stdout.contains("does not exist yet"), "{stdout}");
    assert!(stdout.contains("created"), "{stdout}");
    assert!(!db.exists(), "check created the database");

    // With a database, while Ballast runs.
    let mut b = Ballast::start_in(tmp.path(), &cidr, Options::default());
    b.create_lb();
    let out = ballast_cli(&["check".as_ref(), "--config".as_ref(), config.as_os_str()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("config: ok"), "{stdout}");
    assert!(stdout.contains("network test"), "{stdout}");
    assert!(stdout.contains("integrity: ok"), "{stdout}");
    assert!(stdout.contains("schema version: "), "{stdout}");
    assert!(stdout.contains("load_balancers: 1\n"), "{stdout}");
    assert!(stdout.contains("open jobs: "), "{stdout}");
    assert!(b.terminate().expect("running").success());
}

// ---------------------------------------------------------------- backup

#[test]
fn backup_under_write_load_holds_every_acknowledged_load_balancer_and_restores() {
    const MAX_LBS: usize = 150; // a /24 has 253 VIPs
    let tmp = tempfile::tempdir().expect("temp dir");
    let cidr = fresh_cidr();
    let mut b = Ballast::start_in(tmp.path(), &cidr, Options::default());
    let net = b.network_id();

    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let acked = Arc::clone(&acked);
        let stop = Arc::clone(&stop);
        let url = b.url("/v1/loadbalancers");
        std::thread::spawn(move || {
            for _ in 0..MAX_LBS {
                if stop.load(Ordering::Acquire) {
                    break;
                }
                let (s, lb) = http(
                    "POST",
                    &url,
                    Some(json!({"vip": {"network_id": net}}).to_string()),
                );
                assert_eq!(s, 202, "{lb}");
                acked.lock().expect("acked").push(id(&lb));
            }
        })
    };
    wait_until(Duration::from_secs(60), "20 acknowledged writes", || {
        acked.lock().expect("acked").len() >= 20 || writer.is_finished()
    });

    let dest = tmp.path().join("backup.sqlite3");
    let before: Vec<String> = acked.lock().expect("acked").clone();
    let out = ballast_cli(&[
        "backup".as_ref(),
        "--config".as_ref(),
        b.config_path().as_os_str(),
        dest.as_os_str(),
    ]);
    let during = acked.lock().expect("acked").len() - before.len();
    assert!(
        out.status.success(),
        "backup: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("written to"),
        "{}",
        text(&out.stdout)
    );
    assert!(!writer.is_finished(), "writes went on while the backup ran");
    eprintln!(
        "backup: {} writes acknowledged before it started, {during} while it ran",
        before.len()
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dest)
            .expect("backup exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "backup mode {mode:o}");
    }

    // An existing destination is refused and left alone.
    let original = std::fs::read(&dest).expect("read backup");
    let again = ballast_cli(&[
        "backup".as_ref(),
        "--config".as_ref(),
        b.config_path().as_os_str(),
        dest.as_os_str(),
    ]);
    assert!(
        !again.status.success(),
        "a second backup onto {dest:?} succeeded"
    );
    assert!(
        text(&again.stderr).contains("exists"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(std::fs::read(&dest).expect("read backup"), original);

    stop.store(true, Ordering::Release);
    writer.join().expect("writer");
    assert!(b.terminate().expect("running").success());

    // Restore: a data_dir holding the backup as ballast.sqlite3.
    let restored = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(restored.path().join("data")).expect("mkdir");
    std::fs::copy(&dest, restored.path().join("data").join("ballast.sqlite3")).expect("copy");
    let config = write_config(restored.path(), &cidr, &Options::default());
    let out = ballast_cli(&["check".as_ref(), "--config".as_ref(), config.as_os_str()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("integrity: ok"), "{stdout}");
    let in_copy: usize = stdout
        .lines()
        .find_map(|l| l.strip_prefix("load_balancers: "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no load balancer count in {stdout}"));
    assert!(
        in_copy >= before.len(),
        "{in_copy} in the copy, {} acknowledged",
        before.len()
    );

    let b = Ballast::start_in(restored.path(), &cidr, Options::default());
    for lb in &before {
        let (s, got) = b.get(&format!("/v1/loadbalancers/{lb}"));
        assert_eq!(
            s, 200,
            "acknowledged load balancer {lb} missing from the restore: {got}"
        );
    }
    // The restored instance finishes what was queued.
    for lb in &before {
        b.wait_lb_active(lb);
    }
}
