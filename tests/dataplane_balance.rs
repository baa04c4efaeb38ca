//! Data plane tests of member choice: the algorithms' shares, source-IP and
//! cookie persistence, health flips, and what a client gets when members are
//! dead or none is usable. A real `DataPlane` on 127.77.x.1 VIPs in front of
//! real member servers on 127.0.0.1, driven by real client sockets.

mod dataplane_support;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use ballast::dataplane::Persistence;
use ballast::model::{LbAlgorithm, Protocol};
use dataplane_support::*;
use tokio::net::TcpStream;

fn tally(names: &[String]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for n in names {
        *m.entry(n.clone()).or_insert(0) += 1;
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_interleaves_weights_three_one_one_over_http() {
    let ip = vip(1);
    let port = free_port(ip);
    let m = http_members("rr", 3).await;
    let dp = data_plane();
    let weights = vec![m[0].spec(3), m[1].spec(1), m[2].spec(1)];
    serve_http(&dp, ip, port, weights).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_connections_fills_members_in_proportion_to_weight() {
    let ip = vip(2);
    let port = free_port(ip);
    let a = tcp_member("lc-a").await;
    let b = tcp_member("lc-b").await;
    let dp = data_plane();
    let weights = vec![a.spec(3), b.spec(1)];
    let p = pool(Protocol::Tcp, LbAlgorithm::LeastConnections, None, weights);
    serve_pool(&dp, ip, port, p).await;
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
        assert!(
            names.iter().all(|n| *n == names[0]),
            "{src} moved: {names:?}"
        );
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
    serve_pool(&dp, ip, port, http_pool_with(Persistence::SourceIp, &m)).await;
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
    assert!(
        tally(&seen).len() > 1,
        "round robin still spreads new clients"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_persistence_inserts_an_opaque_cookie_and_routes_by_it() {
    let ip = vip(5);
    let port = free_port(ip);
    let m = http_members("ck", 3).await;
    let dp = data_plane();
    let cookie = Persistence::HttpCookie {
        cookie_name: "SRV".into(),
    };
    serve_pool(&dp, ip, port, http_pool_with(cookie, &m)).await;
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
async fn a_health_flip_takes_a_member_out_and_back_without_reapplying() {
    let ip = vip(13);
    let port = free_port(ip);
    let m = http_members("hf", 2).await;
    let dp = data_plane();
    serve_http(&dp, ip, port, weight_one(&m)).await;
    let c = http_client(None);
    let url = format!("http://{ip}:{port}/");
    let state = dp.member_states().get(m[0].id);
    state.set_up(false);
    for _ in 0..10 {
        assert_eq!(get(&c, &url).await.1, "hf1");
    }
    state.set_up(true);
    let names: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..10 {
            v.push(get(&c, &url).await.1);
        }
        v
    };
    assert_eq!(tally(&names).get("hf0"), Some(&5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_usable_member_answers_503_over_http_and_closes_tcp() {
    let ip = vip(7);
    let (hp, tp, np) = (free_port(ip), free_port(ip), free_port(ip));
    let a = http_member("down").await;
    let t = tcp_member("tdown").await;
    let dp = data_plane();
    let mut spec = http_and_tcp(ip, (hp, vec![a.spec(1)]), (tp, vec![t.spec(0)]));
    spec.listeners.push(listener(Protocol::Http, np, None));
    dp.apply(spec).await.unwrap();
    dp.member_states().get(a.id).set_up(false);
    let c = http_client(None);
    let (status, _, body) = get(&c, &format!("http://{ip}:{hp}/")).await;
    assert_eq!(status, 503);
    assert!(body.len() < 100 && !body.is_empty());
    let (status, _, _) = get(&c, &format!("http://{ip}:{np}/")).await;
    assert_eq!(status, 503);
    // TCP with no usable member closes.
    let mut s = TcpStream::connect((ip, tp)).await.unwrap();
    assert_closed(&mut s).await;
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
    let http = (hp, vec![dead.spec(1), alive.spec(1)]);
    let tcp = (tp, vec![tdead.spec(1), talive.spec(1)]);
    dp.apply(http_and_tcp(ip, http, tcp)).await.unwrap();
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
    wait_until(DEADLINE, "connect failures reported", || {
        dp.member_states().get(dead.id).take_connect_failures() > 0
    });
    // Every member dead: 502. The kill is asynchronous: wait until the
    // member refuses connections before asking.
    alive.kill();
    wait_until(DEADLINE, "alive refuses connections", || {
        std::net::TcpStream::connect(alive.address).is_err()
    });
    let (status, _, _) = get(&c, &format!("http://{ip}:{hp}/")).await;
    assert_eq!(status, 502);
}
