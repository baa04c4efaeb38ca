//! Data plane tests: a real `DataPlane` on 127.77.x.1 VIPs in front of real
//! member servers on 127.0.0.1, driven by real client sockets.

mod dataplane_support;

use dataplane_support::*;

use ballast::model::{LbAlgorithm, Protocol};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_interleaves_weights_three_one_one_over_http() {
    let ip = vip(1);
    let port = free_port(ip);
    let m = http_members("rr", 3).await;
    let dp = data_plane();
    let pool = pool(
        Protocol::Http,
        LbAlgorithm::RoundRobin,
        None,
        vec![m[0].spec(3), m[1].spec(1), m[2].spec(1)],
    );
    dp.apply(lb(ip, vec![listener(Protocol::Http, port, Some(pool))]))
        .await
        .unwrap();
    let c = http_client(None);
    let url = format!("http://{ip}:{port}/");
    let mut seq = Vec::new();
    for _ in 0..50 {
        let (status, member, body) = get(&c, &url).await;
        assert_eq!(status, 200);
        assert_eq!(member, body);
        seq.push(member);
    }
    assert_eq!(&seq[..5], &["rr0", "rr1", "rr0", "rr2", "rr0"]);
    let count = |n: &str| seq.iter().filter(|s| *s == n).count();
    assert_eq!((count("rr0"), count("rr1"), count("rr2")), (30, 10, 10));
}

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ballast::dataplane::{DataPlaneError, Persistence, StatsBase, TlsMaterial};
use ballast::model::CertificateId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn tally(names: &[String]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for n in names {
        *m.entry(n.clone()).or_insert(0) += 1;
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_connections_fills_members_in_proportion_to_weight() {
    let ip = vip(2);
    let port = free_port(ip);
    let a = tcp_member("lc-a").await;
    let b = tcp_member("lc-b").await;
    let dp = data_plane();
    let p = pool(
        Protocol::Tcp,
        LbAlgorithm::LeastConnections,
        None,
        vec![a.spec(3), b.spec(1)],
    );
    dp.apply(lb(ip, vec![listener(Protocol::Tcp, port, Some(p))]))
        .await
        .unwrap();
    let mut held = Vec::new();
    let mut names = Vec::new();
    for _ in 0..8 {
        let mut s = TcpStream::connect((ip, port)).await.unwrap();
        names.push(greeting(&mut s).await.unwrap());
        held.push(s);
    }
    let t = tally(&names);
    assert_eq!((t["lc-a"], t["lc-b"]), (6, 2), "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_ip_keeps_each_client_on_one_member_and_moves_only_a_removed_members_clients() {
    let ip = vip(3);
    let port = free_port(ip);
    let m: Vec<_> = {
        let mut v = Vec::new();
        for i in 0..3 {
            v.push(tcp_member(&format!("sip{i}")).await);
        }
        v
    };
    let dp = data_plane();
    let spec_with = |members: &[&Member]| {
        let p = pool(
            Protocol::Tcp,
            LbAlgorithm::SourceIp,
            None,
            members.iter().map(|m| m.spec(1)).collect(),
        );
        (Protocol::Tcp, p)
    };
    let (proto, p) = spec_with(&[&m[0], &m[1], &m[2]]);
    let mut spec = lb(ip, vec![listener(proto, port, Some(p))]);
    dp.apply(spec.clone()).await.unwrap();
    let to = SocketAddr::new(ip, port);
    let sources: Vec<IpAddr> = (1..=48).map(|i| IpAddr::from([127, 0, 3, i])).collect();
    let mut first = Vec::new();
    for src in &sources {
        let mut names = Vec::new();
        for _ in 0..3 {
            let mut s = tcp_from(*src, to).await.unwrap();
            names.push(greeting(&mut s).await.unwrap());
        }
        assert!(names.iter().all(|n| *n == names[0]), "{src} moved: {names:?}");
        first.push(names[0].clone());
    }
    let t = tally(&first);
    assert_eq!(t.len(), 3, "every member gets clients: {t:?}");

    // Remove sip1 from the pool: only its clients move.
    let (_, p) = spec_with(&[&m[0], &m[2]]);
    spec.listeners[0].pool = Some(p);
    dp.apply(spec).await.unwrap();
    for (src, before) in sources.iter().zip(&first) {
        let mut s = tcp_from(*src, to).await.unwrap();
        let now = greeting(&mut s).await.unwrap();
        if before == "sip1" {
            assert_ne!(now, "sip1");
        } else {
            assert_eq!(&now, before, "client {src} of a remaining member moved");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_ip_persistence_sticks_a_client_even_under_round_robin() {
    let ip = vip(4);
    let port = free_port(ip);
    let m = http_members("sp", 3).await;
    let dp = data_plane();
    let p = pool(
        Protocol::Http,
        LbAlgorithm::RoundRobin,
        Some(Persistence::SourceIp),
        m.iter().map(|m| m.spec(1)).collect(),
    );
    dp.apply(lb(ip, vec![listener(Protocol::Http, port, Some(p))]))
        .await
        .unwrap();
    let url = format!("http://{ip}:{port}/");
    let mut seen = Vec::new();
    for i in 1..=12u8 {
        let c = http_client(Some(IpAddr::from([127, 0, 4, i])));
        let (_, first, _) = get(&c, &url).await;
        for _ in 0..4 {
            assert_eq!(get(&c, &url).await.1, first);
        }
        seen.push(first);
    }
    assert!(tally(&seen).len() > 1, "round robin still spreads new clients");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_persistence_inserts_an_opaque_cookie_and_routes_by_it() {
    let ip = vip(5);
    let port = free_port(ip);
    let m = http_members("ck", 3).await;
    let dp = data_plane();
    let p = pool(
        Protocol::Http,
        LbAlgorithm::RoundRobin,
        Some(Persistence::HttpCookie {
            cookie_name: "SRV".into(),
        }),
        m.iter().map(|m| m.spec(1)).collect(),
    );
    dp.apply(lb(ip, vec![listener(Protocol::Http, port, Some(p))]))
        .await
        .unwrap();
    let url = format!("http://{ip}:{port}/");
    let c = http_client(None);
    let r = c.get(&url).send().await.unwrap();
    let member = r.headers()["x-member"].to_str().unwrap().to_string();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("SRV="), "{cookie}");
    let value = cookie.split(';').next().unwrap().to_string();
    for mm in &m {
        assert!(!cookie.contains(&mm.address.to_string()));
        assert!(!cookie.contains(&mm.address.port().to_string()));
    }
    for _ in 0..20 {
        let r = c
            .get(&url)
            .header("cookie", format!("a=b; {value}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["x-member"].to_str().unwrap(), member);
        assert!(r.headers().get("set-cookie").is_none());
    }
    // Its member goes down: another member answers and a new cookie is set.
    let idx = m.iter().position(|x| x.name == member).unwrap();
    dp.member_states().get(m[idx].id).set_up(false);
    let r = c.get(&url).header("cookie", &value).send().await.unwrap();
    assert_ne!(r.headers()["x-member"].to_str().unwrap(), member);
    assert!(r.headers().get("set-cookie").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit_keeps_extra_clients_waiting_until_one_closes() {
    let ip = vip(6);
    let port = free_port(ip);
    let a = tcp_member("lim").await;
    let dp = data_plane();
    let mut l = listener(
        Protocol::Tcp,
        port,
        Some(pool(Protocol::Tcp, LbAlgorithm::RoundRobin, None, vec![a.spec(1)])),
    );
    l.connection_limit = Some(2);
    let lid = l.id;
    dp.apply(lb(ip, vec![l])).await.unwrap();
    let mut s1 = TcpStream::connect((ip, port)).await.unwrap();
    let mut s2 = TcpStream::connect((ip, port)).await.unwrap();
    assert_eq!(greeting(&mut s1).await.unwrap(), "lim");
    assert_eq!(greeting(&mut s2).await.unwrap(), "lim");
    assert!(dp.at_connection_limit(lid));
    // The third completes the TCP handshake in the backlog but is not served.
    let mut s3 = TcpStream::connect((ip, port)).await.unwrap();
    let mut b = [0u8; 1];
    let waited = tokio::time::timeout(Duration::from_millis(300), s3.read(&mut b)).await;
    assert!(waited.is_err(), "third client was served over the limit");
    drop(s1);
    let got = tokio::time::timeout(DEADLINE, greeting(&mut s3)).await;
    assert_eq!(got.unwrap().unwrap(), "lim");
    wait_until("two active connections", || {
        dp.listener_stats(lid).unwrap().active_connections == 2
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_usable_member_answers_503_over_http_and_closes_tcp() {
    let ip = vip(7);
    let (hp, tp, np) = (free_port(ip), free_port(ip), free_port(ip));
    let a = http_member("down").await;
    let t = tcp_member("tdown").await;
    let dp = data_plane();
    let spec = lb(
        ip,
        vec![
            listener(
                Protocol::Http,
                hp,
                Some(pool(Protocol::Http, LbAlgorithm::RoundRobin, None, vec![a.spec(1)])),
            ),
            listener(
                Protocol::Tcp,
                tp,
                Some(pool(Protocol::Tcp, LbAlgorithm::RoundRobin, None, vec![t.spec(0)])),
            ),
            listener(Protocol::Http, np, None),
        ],
    );
    dp.apply(spec).await.unwrap();
    dp.member_states().get(a.id).set_up(false);
    let c = http_client(None);
    let (status, _, body) = get(&c, &format!("http://{ip}:{hp}/")).await;
    assert_eq!(status, 503);
    assert!(body.len() < 100 && !body.is_empty());
    let (status, _, _) = get(&c, &format!("http://{ip}:{np}/")).await;
    assert_eq!(status, 503);
    let mut s = TcpStream::connect((ip, tp)).await.unwrap();
    let mut buf = [0u8; 8];
    let n = tokio::time::timeout(DEADLINE, s.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "TCP with no usable member closes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_member_is_skipped_by_retrying_the_connect_elsewhere() {
    let ip = vip(8);
    let (hp, tp) = (free_port(ip), free_port(ip));
    let alive = http_member("alive").await;
    let dead = http_member("dead").await;
    dead.kill();
    let talive = tcp_member("talive").await;
    let tdead = tcp_member("tdead").await;
    tdead.kill();
    let dp = data_plane();
    dp.apply(lb(
        ip,
        vec![
            listener(
                Protocol::Http,
                hp,
                Some(pool(
                    Protocol::Http,
                    LbAlgorithm::RoundRobin,
                    None,
                    vec![dead.spec(1), alive.spec(1)],
                )),
            ),
            listener(
                Protocol::Tcp,
                tp,
                Some(pool(
                    Protocol::Tcp,
                    LbAlgorithm::RoundRobin,
                    None,
                    vec![tdead.spec(1), talive.spec(1)],
                )),
            ),
        ],
    ))
    .await
    .unwrap();
    let c = http_client(None);
    for _ in 0..6 {
        let r = c
            .post(format!("http://{ip}:{hp}/"))
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-member"], "alive");
        let mut s = TcpStream::connect((ip, tp)).await.unwrap();
        assert_eq!(greeting(&mut s).await.unwrap(), "talive");
    }
    wait_until("connect failures reported", || {
        dp.member_states().get(dead.id).take_connect_failures() > 0
    })
    .await;
    // Every member dead: 502.
    alive.kill();
    let (status, _, _) = get(&c, &format!("http://{ip}:{hp}/")).await;
    assert_eq!(status, 502);
}
