//! Health monitoring through the real binary: a member that dies leaves
//! rotation and the statuses roll up; it comes back when it returns; all
//! members down is a 503; statuses are right after a restart.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Ballast, Options, fresh_cidr, http_raw, wait_until};
use serde_json::{Value, json};

/// An HTTP member that answers with its name until stopped.
struct Member {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Member {
    fn start(name: &'static str, addr: SocketAddr) -> Member {
        let listener = TcpListener::bind(addr).expect("bind member");
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            // The accept loop polls its stop flag; closing the listener is
            // what makes the member "dead" to probes.
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        s.set_nonblocking(false).unwrap();
                        let mut buf = [0u8; 2048];
                        let mut got = Vec::new();
                        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                            match s.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => got.extend_from_slice(&buf[..n]),
                            }
                        }
                        let reply = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{name}",
                            name.len()
                        );
                        let _ = s.write_all(reply.as_bytes()); // a probe may not read
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Member {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.stop();
    }
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

struct Tree {
    lb: String,
    listener: String,
    pool: String,
    vip: String,
    members: Vec<String>,
}

impl Tree {
    fn lb_path(&self) -> String {
        format!("/v1/loadbalancers/{}", self.lb)
    }
    fn pool_path(&self) -> String {
        format!(
            "/v1/loadbalancers/{}/listeners/{}/pools/{}",
            self.lb, self.listener, self.pool
        )
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

fn build(b: &Ballast, members: &[SocketAddr]) -> Tree {
    let lb = b.create_lb();
    let lb_id = id(&lb);
    let (_, l) = b.post(
        &format!("/v1/loadbalancers/{lb_id}/listeners"),
        json!({"protocol": "HTTP", "protocol_port": 8090}),
    );
    b.wait_lb_active(&lb_id);
    let (_, p) = b.post(
        &format!("/v1/loadbalancers/{lb_id}/listeners/{}/pools", id(&l)),
        json!({"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}),
    );
    b.wait_lb_active(&lb_id);
    let mut tree = Tree {
        lb: lb_id.clone(),
        listener: id(&l),
        pool: id(&p),
        vip: lb["vip"]["ip_address"].as_str().unwrap().to_string(),
        members: Vec::new(),
    };
    let (s, hm) = b.post(
        &format!("{}/health_monitor", tree.pool_path()),
        json!({"type": "TCP", "delay": 1, "timeout": 1, "fall_threshold": 2, "rise_threshold": 1}),
    );
    assert_eq!(s, 202, "{hm}");
    b.wait_lb_active(&lb_id);
    for m in members {
        let (s, body) = b.post(
            &format!("{}/members", tree.pool_path()),
            json!({"ip_address": "127.0.0.1", "protocol_port": m.port()}),
        );
        assert_eq!(s, 202, "{body}");
        tree.members.push(id(&body));
        b.wait_lb_active(&lb_id);
    }
    tree
}

fn member_status(b: &Ballast, t: &Tree, i: usize) -> Value {
    b.get(&format!("{}/members/{}", t.pool_path(), t.members[i]))
        .1["operating_status"]
        .clone()
}

fn statuses(b: &Ballast, t: &Tree) -> (Value, Value, Value) {
    let pool = b.get(&t.pool_path()).1["operating_status"].clone();
    let listener = b
        .get(&format!(
            "/v1/loadbalancers/{}/listeners/{}",
            t.lb, t.listener
        ))
        .1["operating_status"]
        .clone();
    let lb = b.get(&t.lb_path()).1["operating_status"].clone();
    (pool, listener, lb)
}

/// delay 1 s × fall 2 + timeout 1 s, with room for a loaded machine.
const OFFLINE_WITHIN: Duration = Duration::from_secs(8);

#[test]
fn a_dead_member_leaves_rotation_and_returns_when_it_is_back() {
    let b = Ballast::start();
    let mut alpha = Member::start("alpha", any_port());
    let mut zulu = Member::start("zulu", any_port());
    let zulu_addr = zulu.addr;
    let t = build(&b, &[alpha.addr, zulu.addr]);
    wait_until(OFFLINE_WITHIN, "members ONLINE", || {
        member_status(&b, &t, 0) == "ONLINE" && member_status(&b, &t, 1) == "ONLINE"
    });
    assert_eq!(
        statuses(&b, &t),
        (json!("ONLINE"), json!("ONLINE"), json!("ONLINE"))
    );

    zulu.stop();
    wait_until(OFFLINE_WITHIN, "zulu OFFLINE", || {
        member_status(&b, &t, 1) == "OFFLINE"
    });
    assert_eq!(member_status(&b, &t, 0), "ONLINE");
    assert_eq!(
        statuses(&b, &t),
        (json!("DEGRADED"), json!("DEGRADED"), json!("DEGRADED"))
    );
    let url = format!("http://{}:8090/", t.vip);
    for _ in 0..10 {
        let (status, body) = http_raw("GET", &url, None, &[]);
        assert_eq!(
            (status, body.as_str()),
            (200, "alpha"),
            "no request reaches zulu"
        );
    }

    let _zulu = Member::start("zulu", zulu_addr);
    wait_until(OFFLINE_WITHIN, "zulu ONLINE again", || {
        member_status(&b, &t, 1) == "ONLINE"
    });
    assert_eq!(
        statuses(&b, &t),
        (json!("ONLINE"), json!("ONLINE"), json!("ONLINE"))
    );
    let bodies: Vec<String> = (0..10)
        .map(|_| http_raw("GET", &url, None, &[]).1)
        .collect();
    assert!(
        bodies.iter().any(|s| s == "zulu"),
        "zulu receives traffic again: {bodies:?}"
    );

    alpha.stop();
    drop(_zulu);
    wait_until(OFFLINE_WITHIN, "every member OFFLINE", || {
        member_status(&b, &t, 0) == "OFFLINE" && member_status(&b, &t, 1) == "OFFLINE"
    });
    assert_eq!(
        statuses(&b, &t),
        (json!("ERROR"), json!("ERROR"), json!("ERROR"))
    );
    assert_eq!(http_raw("GET", &url, None, &[]).0, 503);
}

#[test]
fn statuses_are_right_after_a_restart_and_a_monitor_change_takes_effect() {
    let tmp = tempfile::tempdir().unwrap();
    let cidr = fresh_cidr();
    let alive = Member::start("alive", any_port());
    // A port nobody listens on: bound, then released.
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut b = Ballast::start_in(tmp.path(), &cidr, Options::default());
    let t = build(&b, &[alive.addr, dead]);
    wait_until(OFFLINE_WITHIN, "settled", || {
        member_status(&b, &t, 0) == "ONLINE" && member_status(&b, &t, 1) == "OFFLINE"
    });
    b.terminate();

    let b = Ballast::start_in(tmp.path(), &cidr, Options::default());
    wait_until(OFFLINE_WITHIN, "settled after restart", || {
        member_status(&b, &t, 0) == "ONLINE" && member_status(&b, &t, 1) == "OFFLINE"
    });
    assert_eq!(
        statuses(&b, &t),
        (json!("DEGRADED"), json!("DEGRADED"), json!("DEGRADED"))
    );

    // An HTTP monitor on a path the member does not serve with 200... this
    // member answers 200 everywhere, so expect 404 instead: it goes OFFLINE.
    let (s, _) = b.put(
        &format!("{}/health_monitor", t.pool_path()),
        json!({"type": "HTTP", "expected_codes": "404"}),
    );
    assert_eq!(s, 202);
    b.wait_lb_active(&t.lb);
    wait_until(
        OFFLINE_WITHIN,
        "alive OFFLINE under the new monitor",
        || member_status(&b, &t, 0) == "OFFLINE",
    );
    // Removing the monitor puts enabled members back ONLINE (no monitor).
    let (s, _) = b.delete(&format!("{}/health_monitor", t.pool_path()));
    assert_eq!(s, 202);
    b.wait_lb_active(&t.lb);
    wait_until(OFFLINE_WITHIN, "no monitor: ONLINE", || {
        member_status(&b, &t, 0) == "ONLINE" && member_status(&b, &t, 1) == "ONLINE"
    });
}

/// Sum of `ballast_health_probes_total` over all labels.
fn probes_so_far(b: &Ballast) -> f64 {
    let (status, text) = http_raw("GET", &b.url("/metrics"), None, &[]);
    assert_eq!(status, 200);
    text.lines()
        .filter(|l| l.starts_with("ballast_health_probes_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn nothing_is_written_to_the_database_while_no_status_changes() {
    let tmp = tempfile::tempdir().unwrap();
    // Stats are looked at every second, so the window below spans several
    // persist ticks as well as probes.
    let b = Ballast::start_in(
        tmp.path(),
        &fresh_cidr(),
        Options {
            extra_toml: "\n[housekeeping]\nstats_persist_interval_secs = 1\n".into(),
            ..Default::default()
        },
    );
    let member = Member::start("steady", any_port());
    let t = build(&b, &[member.addr]);
    wait_until(OFFLINE_WITHIN, "member ONLINE", || {
        member_status(&b, &t, 0) == "ONLINE"
    });
    wait_until(OFFLINE_WITHIN, "statuses settled", || {
        statuses(&b, &t) == (json!("ONLINE"), json!("ONLINE"), json!("ONLINE"))
    });
    let db = rusqlite::Connection::open(b.dir.join("data").join("ballast.sqlite3")).unwrap();
    let version = |db: &rusqlite::Connection| -> i64 {
        db.query_row("PRAGMA data_version", [], |r| r.get(0))
            .unwrap()
    };
    let before = version(&db);
    let probes = probes_so_far(&b);
    // Three more probes (delay 1 s) and as many stats-persist ticks go by...
    wait_until(Duration::from_secs(15), "three more probes", || {
        probes_so_far(&b) >= probes + 3.0
    });
    // ...and no other connection committed anything.
    assert_eq!(
        version(&db),
        before,
        "a write happened while nothing changed"
    );
}

#[test]
fn a_ping_monitor_without_icmp_permission_reports_error_not_a_silent_pass() {
    use std::os::unix::fs::PermissionsExt;
    // Run Ballast as `nobody`: no CAP_NET_RAW for a raw ICMP socket, and
    // `net.ipv4.ping_group_range` (1 0 here) admits no group to datagram
    // ICMP sockets, so a PING probe cannot run at all.
    let ping_range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap();
    let mut bounds = ping_range
        .split_whitespace()
        .map(|v| v.parse::<i64>().unwrap());
    let (low, high) = (bounds.next().unwrap(), bounds.next().unwrap());
    assert!(
        !(low..=high).contains(&65534),
        "this test needs nogroup (65534) outside net.ipv4.ping_group_range ({ping_range})"
    );
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    // A copy of the binary that `nobody` can execute wherever cargo built it.
    let binary = tmp.path().join("ballast");
    std::fs::copy(env!("CARGO_BIN_EXE_ballast"), &binary).unwrap();
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
    let b = Ballast::start_in(
        tmp.path(),
        &fresh_cidr(),
        Options {
            wrapper: [
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
            ]
            .map(String::from)
            .to_vec(),
            binary: Some(binary),
            ..Default::default()
        },
    );
    let member = Member::start("pinged", any_port());
    let t = build(&b, &[member.addr]);
    let (s, body) = b.put(
        &format!("{}/health_monitor", t.pool_path()),
        json!({"type": "PING"}),
    );
    assert_eq!(s, 202, "{body}");
    b.wait_lb_active(&t.lb);
    wait_until(OFFLINE_WITHIN, "member ERROR", || {
        member_status(&b, &t, 0) == "ERROR"
    });
    assert_eq!(
        statuses(&b, &t),
        (json!("ERROR"), json!("ERROR"), json!("ERROR"))
    );
    let log = b.log.lock().unwrap().join("\n");
    assert!(
        log.to_lowercase().contains("icmp"),
        "the log says why the PING monitor cannot run:\n{log}"
    );
    // Out of rotation, as a failing member would be: nothing serves.
    let url = format!("http://{}:8090/", t.vip);
    assert_eq!(http_raw("GET", &url, None, &[]).0, 503);
}
