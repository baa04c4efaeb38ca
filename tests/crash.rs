//! Durability through the real binary: concurrent writes, `kill -9`, restart
//! on the same data dir; graceful restarts re-apply what was ACTIVE; the
//! `migrate` command and a database from a newer Ballast.

mod common;

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{
    Ballast, Options, ballast_cli, fresh_cidr, pending_objects, serve_expecting_failure, try_http,
    wait_until, write_config,
};
use serde_json::json;

/// What one writer thread sent and what was acknowledged.
#[derive(Default)]
struct WriterLog {
    /// Load balancers whose POST answered 202.
    load_balancers: Vec<String>,
    /// (load balancer, listener) pairs whose POST answered 202.
    listeners: Vec<(String, String)>,
    /// Per load balancer: the last name a PUT set with a 202.
    acked_name: HashMap<String, String>,
    /// Per load balancer: a PUT that was sent but got no answer (the crash
    /// may or may not have committed it).
    unanswered_name: HashMap<String, String>,
    /// Answers that should never happen while the server runs.
    unexpected: Vec<String>,
}

/// One writer: creates load balancers and, on its own ACTIVE ones, listeners
/// and renames, until the server stops answering or `stop` is set. Only this
/// thread writes its load balancers, so it knows when each is ACTIVE.
fn writer(
    base: String,
    network_id: String,
    worker: usize,
    acked: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> WriterLog {
    let mut log = WriterLog::default();
    let mut next_port: HashMap<String, u16> = HashMap::new();
    for step in 0..2_000usize {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let target = if step % 3 == 0 || log.load_balancers.is_empty() {
            None
        } else {
            Some(log.load_balancers[step % log.load_balancers.len()].clone())
        };
        let Some(lb) = target else {
            let body = json!({
                "vip": {"network_id": network_id},
                "name": format!("w{worker}-{step}"),
            });
            match try_http(
                "POST",
                &format!("{base}/v1/loadbalancers"),
                Some(body.to_string()),
            ) {
                Ok((202, v)) => {
                    log.load_balancers
                        .push(v["id"].as_str().expect("id").to_string());
                    acked.fetch_add(1, Ordering::Relaxed);
                }
                Ok((s, v)) => log.unexpected.push(format!("create lb: {s} {v}")),
                Err(_) => break,
            }
            continue;
        };
        let lb_url = format!("{base}/v1/loadbalancers/{lb}");
        match try_http("GET", &lb_url, None) {
            Ok((200, v)) if v["provisioning_status"] == "ACTIVE" => {}
            Ok((200, _)) => continue, // still PENDING: try another one
            Ok((s, v)) => {
                log.unexpected.push(format!("get lb: {s} {v}"));
                continue;
            }
            Err(_) => break,
        }
        if step % 2 == 0 {
            let port = next_port.entry(lb.clone()).or_insert(10_000);
            *port += 1;
            let body = json!({"protocol": "TCP", "protocol_port": *port});
            match try_http(
                "POST",
                &format!("{lb_url}/listeners"),
                Some(body.to_string()),
            ) {
                Ok((202, v)) => {
                    let id = v["id"].as_str().expect("listener id").to_string();
                    log.listeners.push((lb, id));
                    acked.fetch_add(1, Ordering::Relaxed);
                }
                Ok((s, v)) => log.unexpected.push(format!("create listener: {s} {v}")),
                Err(_) => break,
            }
        } else {
            let name = format!("renamed-{worker}-{step}");
            let body = json!({"name": name});
            match try_http("PUT", &lb_url, Some(body.to_string())) {
                Ok((202, _)) => {
                    log.acked_name.insert(lb, name);
                    acked.fetch_add(1, Ordering::Relaxed);
                }
                Ok((s, v)) => log.unexpected.push(format!("rename lb: {s} {v}")),
                Err(_) => {
                    log.unanswered_name.insert(lb, name);
                    break;
                }
            }
        }
    }
    log
}

#[test]
fn every_acknowledged_write_survives_a_kill_and_nothing_stays_pending() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let cidr = fresh_cidr();
    let mut b = Ballast::start_in(tmp.path(), &cidr, Options::default());
    let network_id = b.network_id();
    let acked = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (base, net) = (b.url(""), network_id.clone());
            let (acked, stop) = (Arc::clone(&acked), Arc::clone(&stop));
            std::thread::spawn(move || writer(base, net, w, acked, stop))
        })
        .collect();

    // Kill mid-stream, once enough writes were acknowledged that jobs are
    // surely open and requests are in flight.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.load(Ordering::Relaxed) < 120 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    b.kill();
    stop.store(true, Ordering::Relaxed);
    let logs: Vec<WriterLog> = writers
        .into_iter()
        .map(|w| w.join().expect("writer thread"))
        .collect();
    let unexpected: Vec<_> = logs.iter().flat_map(|l| l.unexpected.clone()).collect();
    assert!(
        unexpected.is_empty(),
        "answers before the kill: {unexpected:?}"
    );
    let total_acked = acked.load(Ordering::Relaxed);
    assert!(
        total_acked >= 50,
        "only {total_acked} writes before the kill"
    );

    let data = tmp.path().join("data");
    let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "data dir mode");
    assert_eq!(mode(&data.join("ballast.sqlite3")), 0o600, "database mode");

    // What the kill left behind (read-only, for the test's output): open jobs
    // are what the restart must finish.
    let open_jobs: i64 = rusqlite::Connection::open_with_flags(
        data.join("ballast.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open database")
    .query_row(
        "SELECT count(*) FROM jobs WHERE state IN ('pending', 'running')",
        [],
        |r| r.get(0),
    )
    .expect("count open jobs");
    eprintln!("killed after {total_acked} acknowledged writes; {open_jobs} jobs open");

    let b = Ballast::start_in(tmp.path(), &cidr, Options::default());
    let mut pending = Vec::new();
    wait_until(
        Duration::from_secs(10),
        "nothing PENDING_* after restart",
        || {
            pending = pending_objects(&b);
            pending.is_empty()
        },
    );

    let mut lb_count = 0;
    let mut listener_count = 0;
    let mut vips = HashSet::new();
    for log in &logs {
        for lb in &log.load_balancers {
            lb_count += 1;
            let (s, v) = b.get(&format!("/v1/loadbalancers/{lb}"));
            assert_eq!(s, 200, "acknowledged load balancer {lb} lost: {v}");
            assert_eq!(v["provisioning_status"], "ACTIVE", "{v}");
            let ip = v["vip"]["ip_address"].as_str().expect("vip address");
            assert!(vips.insert(ip.to_string()), "VIP {ip} given twice");
            let port = v["vip"]["port_id"].as_str().expect("vip port");
            let (s, p) = b.get(&format!("/v1/ports/{port}"));
            assert_eq!(s, 200, "port of {lb}: {p}");
            assert_eq!(p["load_balancer_id"], lb.as_str(), "{p}");
            let name = v["name"].as_str().unwrap_or("");
            if let Some(acked) = log.acked_name.get(lb) {
                let unanswered = log.unanswered_name.get(lb).map(String::as_str);
                assert!(
                    name == acked || Some(name) == unanswered,
                    "{lb} is named {name:?}; last acknowledged rename was {acked:?}"
                );
            }
        }
        for (lb, listener) in &log.listeners {
            listener_count += 1;
            let (s, v) = b.get(&format!("/v1/loadbalancers/{lb}/listeners/{listener}"));
            assert_eq!(s, 200, "acknowledged listener {listener} lost: {v}");
            assert_eq!(v["provisioning_status"], "ACTIVE", "{v}");
        }
    }
    assert!(
        lb_count > 0 && listener_count > 0,
        "{lb_count} lbs, {listener_count} listeners"
    );

    // The restarted instance takes writes again: nothing was left locked.
    let lb = &logs
        .iter()
        .find_map(|l| l.load_balancers.first())
        .expect("an lb");
    let (s, v) = b.put(&format!("/v1/loadbalancers/{lb}"), json!({"name": "after"}));
    assert_eq!(s, 202, "{v}");
    let v = b.wait_lb_active(lb);
    assert_eq!(v["name"], "after");
}

#[test]
fn a_restart_reapplies_active_load_balancers_and_keeps_them_active() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let cidr = fresh_cidr();
    let mut b = Ballast::start_in(tmp.path(), &cidr, Options::default());
    let lb = b.create_lb();
    let id = lb["id"].as_str().expect("id").to_string();
    let (s, l) = b.post(
        &format!("/v1/loadbalancers/{id}/listeners"),
        json!({"protocol": "HTTP", "protocol_port": 8080}),
    );
    assert_eq!(s, 202, "{l}");
    let lid = l["id"].as_str().expect("listener id").to_string();
    b.wait_lb_active(&id);
    let vip = lb["vip"]["ip_address"].as_str().expect("vip");
    let (s, _) = common::http("GET", &format!("http://{vip}:8080/"), None);
    assert_eq!(
        s, 503,
        "the listener on {vip}:8080 answers before the restart"
    );
    let status = b.terminate().expect("was running");
    assert!(status.success(), "SIGTERM exit: {status}");

    let b = Ballast::start_in(tmp.path(), &cidr, Options::default());
    let (s, after) = b.get(&format!("/v1/loadbalancers/{id}"));
    assert_eq!(s, 200, "{after}");
    assert_eq!(after["provisioning_status"], "ACTIVE", "{after}");
    assert_eq!(after["vip"], lb["vip"], "the VIP is kept");
    let (s, l) = b.get(&format!("/v1/loadbalancers/{id}/listeners/{lid}"));
    assert_eq!(s, 200, "{l}");
    assert_eq!(l["provisioning_status"], "ACTIVE", "{l}");
    // Re-applied to the data plane: the listener serves again (no pool, so
    // the proxy itself answers 503).
    let vip = after["vip"]["ip_address"].as_str().expect("vip");
    let (s, _) = common::http("GET", &format!("http://{vip}:8080/"), None);
    assert_eq!(
        s, 503,
        "the listener on {vip}:8080 answers after the restart"
    );
    let log = b.log.lock().expect("log").join("\n");
    assert!(
        log.contains("restored=1"),
        "the start-up reconcile re-applies the one ACTIVE load balancer:\n{log}"
    );
    assert!(pending_objects(&b).is_empty());
}

#[test]
fn migrate_creates_an_owner_only_database_at_the_latest_version() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = write_config(tmp.path(), &fresh_cidr(), &Options::default());
    for _ in 0..2 {
        // The second run finds the file up to date and changes nothing.
        let out = ballast_cli(&["migrate".as_ref(), "--config".as_ref(), config.as_os_str()]);
        assert!(out.status.success(), "{out:?}");
    }
    let data = tmp.path().join("data");
    let db = data.join("ballast.sqlite3");
    let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "data dir mode");
    assert_eq!(mode(&db), 0o600, "database mode");
    let conn = rusqlite::Connection::open(&db).expect("open database");
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("user_version");
    assert_eq!(version, ballast::store::migrations::latest_version() as i64);
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' \
             AND name IN ('load_balancers', 'listeners', 'jobs')",
            [],
            |r| r.get(0),
        )
        .expect("tables");
    assert_eq!(tables, 3);
    let journal: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("journal_mode");
    assert_eq!(journal, "wal");
}

#[test]
fn serve_refuses_a_database_written_by_a_newer_ballast() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = write_config(tmp.path(), &fresh_cidr(), &Options::default());
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let db = data.join("ballast.sqlite3");
    rusqlite::Connection::open(&db)
        .expect("create database")
        .execute_batch("CREATE TABLE future (x); PRAGMA user_version = 99;")
        .expect("set user_version");

    let (status, stderr) = serve_expecting_failure(&config, &[]);
    assert!(!status.success(), "exit status {status}");
    assert!(stderr.contains("newer"), "stderr: {stderr}");
    assert!(stderr.contains("99"), "stderr names the version: {stderr}");
    let version: i64 = rusqlite::Connection::open(&db)
        .expect("open")
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("user_version");
    assert_eq!(version, 99, "the newer file is left alone");
}
