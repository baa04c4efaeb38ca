//! Traffic through a load balancer built with the API of the real binary:
//! ACTIVE means applied, stats count what flowed and survive a restart.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::{Ballast, Options, fresh_cidr, http_member, http_raw, wait_until};
use serde_json::{Value, json};

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

/// Build LB → HTTP listener on `port` → ROUND_ROBIN pool → given members.
fn build(b: &Ballast, port: u16, members: &[SocketAddr]) -> (String, String, Value) {
    let lb = b.create_lb();
    let lb_id = id(&lb);
    let (s, l) = b.post(
        &format!("/v1/loadbalancers/{lb_id}/listeners"),
        json!({"protocol": "HTTP", "protocol_port": port, "name": "web"}),
    );
    assert_eq!(s, 202, "{l}");
    b.wait_lb_active(&lb_id);
    let l_id = id(&l);
    let (s, p) = b.post(
        &format!("/v1/loadbalancers/{lb_id}/listeners/{l_id}/pools"),
        json!({"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}),
    );
    assert_eq!(s, 202, "{p}");
    b.wait_lb_active(&lb_id);
    let p_id = id(&p);
    for m in members {
        let (s, body) = b.post(
            &format!("/v1/loadbalancers/{lb_id}/listeners/{l_id}/pools/{p_id}/members"),
            json!({"ip_address": m.ip().to_string(), "protocol_port": m.port()}),
        );
        assert_eq!(s, 202, "{body}");
        b.wait_lb_active(&lb_id);
    }
    (lb_id, l_id, lb)
}

#[test]
fn traffic_flows_once_active_and_stats_survive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let cidr = fresh_cidr();
    let mut b = Ballast::start_in(tmp.path(), &cidr, Options::default());
    let a = http_member("alpha");
    let z = http_member("zulu");
    let (lb_id, l_id, lb) = build(&b, 8080, &[a, z]);
    let vip = lb["vip"]["ip_address"].as_str().unwrap().to_string();
    let url = format!("http://{vip}:8080/");

    // ACTIVE means applied: the very first request is served.
    let mut seen = Vec::new();
    for _ in 0..10 {
        let (status, body) = http_raw("GET", &url, None, &[]);
        assert_eq!(status, 200, "{body}");
        seen.push(body);
    }
    assert_eq!(seen.iter().filter(|s| *s == "alpha").count(), 5, "{seen:?}");
    assert_eq!(seen.iter().filter(|s| *s == "zulu").count(), 5, "{seen:?}");

    let stats_path = format!("/v1/loadbalancers/{lb_id}/listeners/{l_id}/stats");
    // A client has its whole answer (the proxy's FIN) a moment before the
    // proxy's connection task has ended and uncounted itself.
    wait_until(Duration::from_secs(10), "no connection left active", || {
        b.get(&stats_path).1["active_connections"] == 0
    });
    let (_, stats) = b.get(&stats_path);
    assert_eq!(stats["total_connections"], 10, "{stats}");
    assert_eq!(stats["active_connections"], 0, "{stats}");
    let bytes_in = stats["bytes_in"].as_u64().unwrap();
    let bytes_out = stats["bytes_out"].as_u64().unwrap();
    assert!(bytes_in > 10 * 30 && bytes_out > 10 * 40, "{stats}");

    // A graceful stop persists the counters; the restarted process resumes them.
    let status = b.terminate().expect("was running");
    assert!(status.success(), "exit status {status:?}");
    let b = Ballast::start_in(tmp.path(), &cidr, Options::default());
    let (_, after) = b.get(&stats_path);
    assert_eq!(after, stats, "counters survive a restart");
    // And the restored load balancer serves again, counting on from there.
    let (status, _) = http_raw("GET", &url, None, &[]);
    assert_eq!(status, 200);
    let (_, more) = b.get(&stats_path);
    assert_eq!(more["total_connections"], 11, "{more}");
}

#[test]
fn a_deleted_listener_closes_its_port_before_the_load_balancer_is_active_again() {
    let b = Ballast::start();
    let m = http_member("only");
    let (lb_id, l_id, lb) = build(&b, 8081, &[m]);
    let vip = lb["vip"]["ip_address"].as_str().unwrap().to_string();
    let addr: SocketAddr = format!("{vip}:8081").parse().unwrap();
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok());

    let (s, _) = b.delete(&format!("/v1/loadbalancers/{lb_id}/listeners/{l_id}"));
    assert_eq!(s, 202);
    b.wait_lb_active(&lb_id);
    let refused = TcpStream::connect_timeout(&addr, Duration::from_secs(2));
    assert!(refused.is_err(), "port still open after the delete settled");
}

#[test]
fn no_member_means_503_and_a_disabled_load_balancer_releases_its_ports() {
    let b = Ballast::start();
    let (lb_id, _l, lb) = build(&b, 8082, &[]);
    let vip = lb["vip"]["ip_address"].as_str().unwrap().to_string();
    let (status, _) = http_raw("GET", &format!("http://{vip}:8082/"), None, &[]);
    assert_eq!(status, 503);

    let (s, _) = b.put(
        &format!("/v1/loadbalancers/{lb_id}"),
        json!({"enabled": false}),
    );
    assert_eq!(s, 202);
    let lb = b.wait_lb_active(&lb_id);
    assert_eq!(lb["operating_status"], "OFFLINE");
    let addr: SocketAddr = format!("{vip}:8082").parse().unwrap();
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "a disabled load balancer's port is closed once it reads ACTIVE"
    );
}

#[test]
fn a_listener_at_its_connection_limit_reads_degraded() {
    let b = Ballast::start();
    let m = http_member("only");
    let (lb_id, l_id, lb) = build(&b, 8083, &[m]);
    let (s, _) = b.put(
        &format!("/v1/loadbalancers/{lb_id}/listeners/{l_id}"),
        json!({"connection_limit": 1}),
    );
    assert_eq!(s, 202);
    b.wait_lb_active(&lb_id);
    let listener_status = || {
        b.get(&format!("/v1/loadbalancers/{lb_id}/listeners/{l_id}"))
            .1["operating_status"]
            .clone()
    };
    common::wait_until(Duration::from_secs(10), "listener ONLINE", || {
        listener_status() == "ONLINE"
    });
    let vip = lb["vip"]["ip_address"].as_str().unwrap();
    let held = TcpStream::connect(format!("{vip}:8083")).expect("connect");
    common::wait_until(Duration::from_secs(10), "listener DEGRADED", || {
        listener_status() == "DEGRADED"
    });
    drop(held);
    common::wait_until(Duration::from_secs(10), "listener ONLINE again", || {
        listener_status() == "ONLINE"
    });
}
