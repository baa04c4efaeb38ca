//! The data plane's guards through the real binary (issue 14): a loop back
//! to one of our listeners ends with a 508 and leaves memory flat, and a
//! flood of silent connections past the connection cap leaves `/healthz`
//! and a normal client served.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use common::api::listener_path;
use common::{Ballast, Options, fresh_cidr, http, http_member, http_raw, wait_until};
use serde_json::Value;

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

/// An HTTP listener on `port` of a new load balancer, with a pool whose one
/// member is `member`; the VIP address and the listener's stats path.
fn http_lb(b: &Ballast, port: u16, member: SocketAddr) -> (String, String) {
    let lb = b.create_lb();
    let lb_id = id(&lb);
    let l_id = id(&b.add_listener(&lb_id, "HTTP", port));
    let p_id = id(&b.add_pool(&lb_id, &l_id, "HTTP"));
    b.add_member(
        &lb_id,
        &l_id,
        &p_id,
        &member.ip().to_string(),
        member.port(),
    );
    let vip = lb["vip"]["ip_address"].as_str().unwrap().to_string();
    (vip, format!("{}/stats", listener_path(&lb_id, &l_id)))
}

/// A plain TCP forwarder on 127.0.0.1 to `to`, as a member that leads back
/// to a listener through somebody else's proxy would be. Runs until the
/// test process ends.
fn tcp_forwarder(to: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind forwarder");
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming().map_while(Result::ok) {
            let Ok(upstream) = TcpStream::connect(to) else {
                continue;
            };
            for (mut from, mut into) in [
                (client.try_clone().unwrap(), upstream.try_clone().unwrap()),
                (upstream, client),
            ] {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut into); // either side may close
                    let _ = into.shutdown(std::net::Shutdown::Write);
                });
            }
        }
    });
    address
}

/// The instance's resident memory (VmRSS), in KiB.
fn rss_kib(b: &Ballast) -> u64 {
    let pid = b.child.as_ref().expect("running").id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

#[test]
fn a_member_leading_back_to_its_listener_through_a_forwarder_gets_a_508_with_memory_flat() {
    let b = Ballast::start();
    // The forwarder needs the listener's address before the member exists:
    // the VIP is the first of the instance's network.
    let lb_vip = b.cidr.replace(".0/24", ".1");
    let port = 8080;
    let forwarder = tcp_forwarder(format!("{lb_vip}:{port}").parse().unwrap());
    let (vip, _) = http_lb(&b, port, forwarder);
    assert_eq!(vip, lb_vip, "the first VIP of the network");
    let url = format!("http://{vip}:{port}/");

    let (status, body) = http_raw("GET", &url, None, &[]);
    assert_eq!(status, 508, "{body}");
    assert!(body.contains("came back"), "{body}");
    let before = rss_kib(&b);
    for _ in 0..20 {
        let (status, body) = http_raw("GET", &url, None, &[]);
        assert_eq!(status, 508, "{body}");
    }
    // Each request is two hops, not thousands: memory stays where it was
    // (the issue saw 1.5 GB after one request).
    let after = rss_kib(&b);
    assert!(
        after < before + 32 * 1024,
        "RSS {before} KiB -> {after} KiB"
    );
    assert_eq!(http("GET", &b.url("/healthz"), None).0, 200);
}

#[test]
fn a_flood_of_silent_connections_past_the_cap_leaves_healthz_and_a_normal_client_served() {
    let tmp = tempfile::tempdir().unwrap();
    let cap = 8;
    let options = Options {
        extra_toml: format!("[dataplane]\nmax_connections = {cap}\nclient_data_timeout_secs = 1\n"),
        ..Options::default()
    };
    let b = Ballast::start_in(tmp.path(), &fresh_cidr(), options);
    assert!(
        b.log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("connection cap") && l.contains(&format!("max_connections={cap}"))),
        "the cap in force is logged"
    );
    let member = http_member("served");
    let (vip, stats) = http_lb(&b, 8080, member);
    let at: SocketAddr = format!("{vip}:8080").parse().unwrap();

    // Five times the cap of connections that never send a byte.
    let silent: Vec<TcpStream> = (0..cap * 5)
        .map(|_| TcpStream::connect(at).expect("the backlog takes them"))
        .collect();
    wait_until(Duration::from_secs(10), "the cap reached", || {
        b.get(&stats).1["active_connections"] == cap
    });
    // The API keeps its descriptors: answered at once, flood or not.
    assert_eq!(http("GET", &b.url("/healthz"), None).0, 200);
    let (_, s) = b.get(&stats);
    assert!(s["active_connections"].as_u64().unwrap() <= cap, "{s}");

    // A normal client waits in the backlog behind the flood until silent
    // connections time out, then is served.
    let mut client = TcpStream::connect(at).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    client.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.ends_with("served"), "{answer}");
    assert!(
        !b.log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("accept failed")),
        "no listener ran out of descriptors"
    );
    drop(silent);
}
