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
        Some(pool(
            Protocol::Tcp,
            LbAlgorithm::RoundRobin,
            None,
            vec![a.spec(1)],
        )),
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
                Some(pool(
                    Protocol::Http,
                    LbAlgorithm::RoundRobin,
                    None,
                    vec![a.spec(1)],
                )),
            ),
            listener(
                Protocol::Tcp,
                tp,
                Some(pool(
                    Protocol::Tcp,
                    LbAlgorithm::RoundRobin,
                    None,
                    vec![t.spec(0)],
                )),
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
    // Every member dead: 502. The kill is asynchronous: wait until the
    // member refuses connections before asking.
    alive.kill();
    wait_until("alive refuses connections", || {
        std::net::TcpStream::connect(alive.address).is_err()
    })
    .await;
    let (status, _, _) = get(&c, &format!("http://{ip}:{hp}/")).await;
    assert_eq!(status, 502);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_killed_mid_stream_gives_the_client_an_end_not_a_hang() {
    let ip = vip(9);
    let (hp, tp) = (free_port(ip), free_port(ip));
    let h = http_member("kh").await;
    let t = tcp_member("kt").await;
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
                    vec![h.spec(1)],
                )),
            ),
            listener(
                Protocol::Tcp,
                tp,
                Some(pool(
                    Protocol::Tcp,
                    LbAlgorithm::RoundRobin,
                    None,
                    vec![t.spec(1)],
                )),
            ),
        ],
    ))
    .await
    .unwrap();
    // TCP: the relay passes the member's close on as EOF.
    let mut s = TcpStream::connect((ip, tp)).await.unwrap();
    assert_eq!(greeting(&mut s).await.unwrap(), "kt");
    t.kill();
    let mut buf = [0u8; 16];
    let r = tokio::time::timeout(DEADLINE, s.read(&mut buf)).await;
    assert!(matches!(r, Ok(Ok(0)) | Ok(Err(_))), "{r:?}");

    // HTTP: a body cut by the member is an error for the client.
    let c = http_client(None);
    let mut resp = c
        .get(format!("http://{ip}:{hp}/stall"))
        .send()
        .await
        .unwrap();
    let first = resp.chunk().await.unwrap().unwrap();
    assert!(!first.is_empty());
    h.kill();
    let end = tokio::time::timeout(DEADLINE, async {
        loop {
            match resp.chunk().await {
                Ok(Some(_)) => continue,
                other => return other.map(|_| ()),
            }
        }
    })
    .await
    .expect("the client is not left hanging");
    assert!(end.is_err(), "a cut body must not look complete");
}

const FIFTY_MIB: u64 = 50 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_mib_pass_byte_exact_through_tcp_and_http() {
    let ip = vip(10);
    let (hp, tp) = (free_port(ip), free_port(ip));
    let h = http_member("big").await;
    let t = tcp_member("tbig").await;
    let dp = data_plane();
    let tl = listener(
        Protocol::Tcp,
        tp,
        Some(pool(
            Protocol::Tcp,
            LbAlgorithm::RoundRobin,
            None,
            vec![t.spec(1)],
        )),
    );
    let tcp_id = tl.id;
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
                    vec![h.spec(1)],
                )),
            ),
            tl,
        ],
    ))
    .await
    .unwrap();

    // TCP echo: write 50 MiB while reading it back.
    let s = TcpStream::connect((ip, tp)).await.unwrap();
    let (mut r, mut w) = s.into_split();
    let writer = tokio::spawn(async move {
        let mut off = 0u64;
        while off < FIFTY_MIB {
            let n = (FIFTY_MIB - off).min(65536);
            let v: Vec<u8> = (off..off + n).map(pattern).collect();
            w.write_all(&v).await.unwrap();
            off += n;
        }
        w.shutdown().await.unwrap();
    });
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while r.read(&mut b).await.unwrap() == 1 && b[0] != b'\n' {
        line.push(b[0]);
    }
    assert_eq!(line, b"tbig");
    let mut got = 0u64;
    let mut buf = vec![0u8; 65536];
    loop {
        let n = r.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        for (i, byte) in buf[..n].iter().enumerate() {
            assert_eq!(
                *byte,
                pattern(got + i as u64),
                "TCP byte {}",
                got + i as u64
            );
        }
        got += n as u64;
    }
    writer.await.unwrap();
    assert_eq!(got, FIFTY_MIB);
    wait_until("TCP stats settle", || {
        let s = dp.listener_stats(tcp_id).unwrap();
        s.active_connections == 0 && s.bytes_in == FIFTY_MIB && s.bytes_out == FIFTY_MIB + 5
    })
    .await;

    // HTTP download.
    let c = http_client(None);
    let mut resp = c
        .get(format!("http://{ip}:{hp}/bytes/{FIFTY_MIB}"))
        .send()
        .await
        .unwrap();
    let mut got = 0u64;
    while let Some(chunk) = resp.chunk().await.unwrap() {
        for (i, byte) in chunk.iter().enumerate() {
            assert_eq!(*byte, pattern(got + i as u64));
        }
        got += chunk.len() as u64;
    }
    assert_eq!(got, FIFTY_MIB);

    // HTTP upload echoed back, streamed both ways.
    let body: Vec<u8> = (0..FIFTY_MIB).map(pattern).collect();
    let resp = c
        .post(format!("http://{ip}:{hp}/echo"))
        .body(body)
        .send()
        .await
        .unwrap();
    let back = resp.bytes().await.unwrap();
    assert_eq!(back.len() as u64, FIFTY_MIB);
    assert!(
        back.iter()
            .enumerate()
            .all(|(i, b)| *b == pattern(i as u64))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_updates_under_load_fail_no_request_and_drop_no_connection() {
    let ip = vip(11);
    let (hp, tp) = (free_port(ip), free_port(ip));
    let m = http_members("up", 3).await;
    let t = tcp_member("tup").await;
    let dp = data_plane();
    let spec_for = |members: Vec<ballast::dataplane::MemberSpec>, algo| {
        lb(
            ip,
            vec![
                listener(
                    Protocol::Http,
                    hp,
                    Some(pool(Protocol::Http, algo, None, members)),
                ),
                listener(
                    Protocol::Tcp,
                    tp,
                    Some(pool(
                        Protocol::Tcp,
                        LbAlgorithm::RoundRobin,
                        None,
                        vec![t.spec(1)],
                    )),
                ),
            ],
        )
    };
    let mut spec = spec_for(vec![m[0].spec(1), m[1].spec(1)], LbAlgorithm::RoundRobin);
    dp.apply(spec.clone()).await.unwrap();
    let mut tcp = TcpStream::connect((ip, tp)).await.unwrap();
    assert_eq!(greeting(&mut tcp).await.unwrap(), "tup");

    let stop = tokio_util::sync::CancellationToken::new();
    let served = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (stop, url) = (stop.clone(), format!("http://{ip}:{hp}/"));
        let served = served.clone();
        workers.push(tokio::spawn(async move {
            let c = http_client(None);
            let (mut ok, mut failed) = (0u32, Vec::new());
            while !stop.is_cancelled() {
                match c.get(&url).send().await {
                    Ok(r) if r.status() == 200 => {
                        ok += 1;
                        served.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    Ok(r) => failed.push(r.status().to_string()),
                    Err(e) => failed.push(e.to_string()),
                }
            }
            (ok, failed)
        }));
    }
    let variants = [
        (
            vec![m[0].spec(1), m[1].spec(1), m[2].spec(1)],
            LbAlgorithm::LeastConnections,
        ),
        (vec![m[1].spec(2), m[2].spec(1)], LbAlgorithm::RoundRobin),
        (vec![m[2].spec(1)], LbAlgorithm::SourceIp),
        (vec![m[0].spec(1), m[2].spec(5)], LbAlgorithm::RoundRobin),
    ];
    for i in 0..20 {
        let (members, algo) = variants[i % variants.len()].clone();
        let fresh = spec_for(members, algo);
        // Same listener ids: only the pools change.
        for (l, f) in spec.listeners.iter_mut().zip(fresh.listeners) {
            l.pool = f.pool;
        }
        spec.listeners[1].pool = Some(pool(
            Protocol::Tcp,
            LbAlgorithm::RoundRobin,
            None,
            vec![t.spec(1 + i as u32)],
        ));
        dp.apply(spec.clone()).await.unwrap();
        // Let some requests run on each version before the next update.
        let before = served.load(std::sync::atomic::Ordering::Relaxed);
        wait_until("requests after an update", || {
            served.load(std::sync::atomic::Ordering::Relaxed) >= before + 8
        })
        .await;
    }
    stop.cancel();
    let mut total = 0;
    for w in workers {
        let (ok, failed) = w.await.unwrap();
        assert!(failed.is_empty(), "failed requests: {failed:?}");
        total += ok;
    }
    assert!(total > 20, "only {total} requests ran");
    // The TCP connection established before the updates still relays.
    tcp.write_all(b"still here").await.unwrap();
    let mut buf = [0u8; 10];
    tcp.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"still here");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_exact_bytes_and_resume_from_the_persisted_base_once() {
    let ip = vip(12);
    let port = free_port(ip);
    let t = tcp_member("st").await;
    let dp = data_plane();
    let mut l = listener(
        Protocol::Tcp,
        port,
        Some(pool(
            Protocol::Tcp,
            LbAlgorithm::RoundRobin,
            None,
            vec![t.spec(1)],
        )),
    );
    l.stats_base = StatsBase {
        bytes_in: 1000,
        bytes_out: 2000,
        total_connections: 7,
    };
    let lid = l.id;
    let mut spec = lb(ip, vec![l]);
    dp.apply(spec.clone()).await.unwrap();
    let s0 = dp.listener_stats(lid).unwrap();
    assert_eq!(
        (s0.bytes_in, s0.bytes_out, s0.total_connections),
        (1000, 2000, 7)
    );
    for _ in 0..3 {
        let mut s = TcpStream::connect((ip, port)).await.unwrap();
        greeting(&mut s).await.unwrap();
        s.write_all(b"0123456789").await.unwrap();
        let mut b = [0u8; 10];
        s.read_exact(&mut b).await.unwrap();
    }
    wait_until("stats settle", || {
        let s = dp.listener_stats(lid).unwrap();
        s.active_connections == 0
            && s.bytes_in == 1000 + 30
            && s.bytes_out == 2000 + 3 * (3 + 10)
            && s.total_connections == 10
    })
    .await;
    // A later apply with another base keeps the live counters.
    spec.listeners[0].stats_base = StatsBase::default();
    spec.listeners[0].name = "renamed".into();
    dp.apply(spec).await.unwrap();
    let s = dp.listener_stats(lid).unwrap();
    assert_eq!(s.total_connections, 10);
    assert_eq!(dp.all_listener_stats(), vec![(lid, s)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_flip_takes_a_member_out_and_back_without_reapplying() {
    let ip = vip(13);
    let port = free_port(ip);
    let m = http_members("hf", 2).await;
    let dp = data_plane();
    dp.apply(lb(
        ip,
        vec![listener(
            Protocol::Http,
            port,
            Some(pool(
                Protocol::Http,
                LbAlgorithm::RoundRobin,
                None,
                m.iter().map(|m| m.spec(1)).collect(),
            )),
        )],
    ))
    .await
    .unwrap();
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
async fn ports_follow_the_spec_rebinding_moved_and_closing_removed_listeners() {
    let ip = vip(14);
    let (p1, p2, p3) = (free_port(ip), free_port(ip), free_port(ip));
    let t = tcp_member("pt").await;
    let dp = data_plane();
    let tp = || {
        Some(pool(
            Protocol::Tcp,
            LbAlgorithm::RoundRobin,
            None,
            vec![t.spec(1)],
        ))
    };
    let mut spec = lb(
        ip,
        vec![
            listener(Protocol::Tcp, p1, tp()),
            listener(Protocol::Tcp, p2, tp()),
        ],
    );
    dp.apply(spec.clone()).await.unwrap();
    let mut held = TcpStream::connect((ip, p1)).await.unwrap();
    assert_eq!(greeting(&mut held).await.unwrap(), "pt");
    // Same spec again: nothing changes, the connection stays.
    dp.apply(spec.clone()).await.unwrap();
    let first = spec.listeners[0].id;
    assert_eq!(dp.listener_stats(first).unwrap().total_connections, 1);

    // Move listener 0 to p3, drop listener 1.
    spec.listeners[0].protocol_port = p3;
    spec.listeners.truncate(1);
    dp.apply(spec.clone()).await.unwrap();
    assert!(
        TcpStream::connect((ip, p1)).await.is_err(),
        "old port closed"
    );
    assert!(
        TcpStream::connect((ip, p2)).await.is_err(),
        "removed port closed"
    );
    let mut s = TcpStream::connect((ip, p3)).await.unwrap();
    assert_eq!(greeting(&mut s).await.unwrap(), "pt");
    assert_eq!(dp.listener_stats(first).unwrap().total_connections, 2);
    assert_eq!(dp.served(spec.id), Some(spec.clone()));
    // The connection accepted on the old port still relays.
    held.write_all(b"ok").await.unwrap();
    let mut b = [0u8; 2];
    held.read_exact(&mut b).await.unwrap();

    dp.remove(spec.id).await.unwrap();
    assert!(TcpStream::connect((ip, p3)).await.is_err());
    assert!(dp.listener_stats(first).is_none());
    assert!(dp.served(spec.id).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_is_a_bind_error() {
    let ip = vip(15);
    let taken = std::net::TcpListener::bind((ip, 0)).unwrap();
    let port = taken.local_addr().unwrap().port();
    let dp = data_plane();
    let err = dp
        .apply(lb(ip, vec![listener(Protocol::Tcp, port, None)]))
        .await
        .unwrap_err();
    assert!(matches!(err, DataPlaneError::Bind { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_headers_are_added_and_x_forwarded_for_appended() {
    let ip = vip(16);
    let port = free_port(ip);
    let m = http_member("fw").await;
    let dp = data_plane();
    serve_http(&dp, ip, port, vec![m.spec(1)]).await;
    let c = http_client(Some(IpAddr::from([127, 0, 16, 9])));
    let body = c
        .get(format!("http://{ip}:{port}/headers"))
        .header("x-forwarded-for", "203.0.113.5")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        body.contains("x-forwarded-for: 203.0.113.5, 127.0.16.9\n"),
        "{body}"
    );
    assert!(body.contains("x-forwarded-proto: http\n"), "{body}");
    assert!(
        body.contains(&format!("x-forwarded-port: {port}\n")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_half_closes_after_its_request_still_gets_the_response() {
    let ip = vip(23);
    let port = free_port(ip);
    let m = http_member("hc").await;
    let dp = data_plane();
    serve_http(&dp, ip, port, vec![m.spec(1)]).await;
    let mut s = TcpStream::connect((ip, port)).await.unwrap();
    // The member takes 50 ms, so the proxy sees the client's FIN while the
    // request is in flight.
    s.write_all(b"GET /slow/50 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    s.shutdown().await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut got))
        .await
        .expect("the proxy closes once the response is out")
        .unwrap();
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    assert!(got.ends_with("\r\n\r\nhc"), "{got}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_parked_before_their_first_byte_are_served_once_they_speak() {
    let ip = vip(24);
    let port = free_port(ip);
    let m = http_member("pk").await;
    let dp = data_plane();
    serve_http(&dp, ip, port, vec![m.spec(1)]).await;
    // Connections that have not sent anything yet wait without HTTP state
    // (see bench/dataplane.sh for their memory); each is served normally
    // once it sends its request, in any order.
    let mut idle = Vec::new();
    for _ in 0..100 {
        idle.push(TcpStream::connect((ip, port)).await.unwrap());
    }
    for mut s in idle.into_iter().rev() {
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut got = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut got))
            .await
            .expect("answered and closed")
            .unwrap();
        let got = String::from_utf8_lossy(&got);
        assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
        assert!(got.ends_with("\r\n\r\npk"), "{got}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_style_upgrades_pass_through() {
    let ip = vip(17);
    let port = free_port(ip);
    let m = http_member("ws").await;
    let dp = data_plane();
    serve_http(&dp, ip, port, vec![m.spec(1)]).await;
    let mut s = TcpStream::connect((ip, port)).await.unwrap();
    s.write_all(b"GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).await.unwrap(), 1);
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(greeting(&mut s).await.unwrap(), "ws");
    s.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_terminates_with_the_listener_certificate_and_reencrypts_to_https_members() {
    install_provider();
    let ip = vip(18);
    let (plain, reenc, pass) = (free_port(ip), free_port(ip), free_port(ip));
    let h = http_member("tls-plain").await;
    let hs = https_member("tls-member").await;
    let (cert, key) = self_signed();
    let material = std::sync::Arc::new(TlsMaterial {
        certificate_id: CertificateId::new(),
        certificate_chain_pem: cert,
        private_key_pem: key,
    });
    let mut l1 = listener(
        Protocol::Https,
        plain,
        Some(pool(
            Protocol::Http,
            LbAlgorithm::RoundRobin,
            None,
            vec![h.spec(1)],
        )),
    );
    l1.tls = Some(material.clone());
    let mut l2 = listener(
        Protocol::Https,
        reenc,
        Some(pool(
            Protocol::Https,
            LbAlgorithm::RoundRobin,
            None,
            vec![hs.spec(1)],
        )),
    );
    l2.tls = Some(material.clone());
    // No certificate: passthrough to the HTTPS member.
    let l3 = listener(
        Protocol::Https,
        pass,
        Some(pool(
            Protocol::Https,
            LbAlgorithm::RoundRobin,
            None,
            vec![hs.spec(1)],
        )),
    );
    let dp = data_plane();
    dp.apply(lb(ip, vec![l1, l2, l3])).await.unwrap();
    let c = http_client(None);
    let body = c
        .get(format!("https://{ip}:{plain}/headers"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.starts_with("tls-plain\n"), "{body}");
    assert!(body.contains("x-forwarded-proto: https\n"), "{body}");
    let (status, member, _) = get(&c, &format!("https://{ip}:{reenc}/")).await;
    assert_eq!((status.as_u16(), member.as_str()), (200, "tls-member"));
    let body = c
        .get(format!("https://{ip}:{pass}/headers"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.starts_with("tls-member\n"), "{body}");
    assert!(
        !body.contains("x-forwarded-for"),
        "passthrough adds nothing: {body}"
    );

    // Bad PEM is refused before anything changes.
    let mut bad = listener(Protocol::Https, free_port(ip), None);
    bad.tls = Some(std::sync::Arc::new(TlsMaterial {
        certificate_id: CertificateId::new(),
        certificate_chain_pem: "not a pem".into(),
        private_key_pem: "nope".into(),
    }));
    let err = dp.apply(lb(vip(19), vec![bad])).await.unwrap_err();
    assert!(matches!(err, DataPlaneError::Tls { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_accepting_and_lets_in_flight_requests_finish() {
    let ip = vip(20);
    let port = free_port(ip);
    let m = http_member("dr").await;
    let dp = data_plane();
    serve_http(&dp, ip, port, vec![m.spec(1)]).await;
    let c = http_client(None);
    let url = format!("http://{ip}:{port}/slow/500");
    let in_flight = tokio::spawn(async move { c.get(&url).send().await.unwrap().text().await });
    wait_until("request in flight", || {
        dp.all_listener_stats()[0].1.active_connections == 1
    })
    .await;
    let started = std::time::Instant::now();
    dp.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(2) + Duration::from_millis(900));
    assert_eq!(in_flight.await.unwrap().unwrap(), "dr");
    assert!(TcpStream::connect((ip, port)).await.is_err(), "port closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_client_that_sends_no_request_head_is_closed_after_the_header_timeout() {
    use std::time::{Duration, Instant};
    use tokio::io::AsyncReadExt;

    let (_dp, ip, port, _member) =
        http_with_header_timeout(21, "m", Duration::from_millis(300)).await;
    // Half a request head, then silence.
    let mut client = tokio::net::TcpStream::connect((ip, port)).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut client, b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 256];
    let read = tokio::time::timeout(DEADLINE, client.read(&mut buf))
        .await
        .expect("the proxy closes a silent client instead of waiting forever");
    // Closed (EOF, or a 408 then EOF, or a reset): never a served request.
    match read {
        Ok(0) | Err(_) => {}
        Ok(n) => assert!(
            !String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
            "a half-sent request was served"
        ),
    }
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "closed too early"
    );

    // A client that sends nothing at all waits without HTTP state, and is
    // closed after the same timeout.
    let mut silent = tokio::net::TcpStream::connect((ip, port)).await.unwrap();
    assert_closed_no_sooner_than(&mut silent, Instant::now(), Duration::from_millis(250)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_response_outlives_the_header_timeout_then_the_idle_connection_is_closed() {
    use std::time::{Duration, Instant};

    let (_dp, ip, port, _member) =
        http_with_header_timeout(25, "kt", Duration::from_millis(300)).await;
    let mut client = tokio::net::TcpStream::connect((ip, port)).await.unwrap();
    // The member answers after 800 ms: a request in flight is not idle.
    tokio::io::AsyncWriteExt::write_all(&mut client, b"GET /slow/800 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let got = read_until_ends_with(&mut client, b"\r\n\r\nkt").await;
    assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"));
    // Then the kept-alive connection sends nothing: closed after the timeout.
    assert_closed_no_sooner_than(&mut client, Instant::now(), Duration::from_millis(250)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_member_connection_is_reused_then_closed_once_idle() {
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // A raw member: reports, per connection, how many requests it served
    // once the proxy closes that connection.
    let member = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = member.local_addr().unwrap();
    let (closed_tx, mut closed) = tokio::sync::mpsc::unbounded_channel();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = member.accept().await.unwrap();
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let closed_tx = closed_tx.clone();
            tokio::spawn(async move {
                let (mut served, mut pending, mut chunk) = (0, Vec::new(), [0u8; 4096]);
                loop {
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    pending.extend_from_slice(&chunk[..n]);
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..end + 4);
                        served += 1;
                        s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                            .await
                            .unwrap();
                    }
                }
                closed_tx.send(served).unwrap();
            });
        }
    });

    let ip = vip(22);
    let port = free_port(ip);
    let dp = data_plane_with(ballast::dataplane::DataPlaneConfig {
        member_idle_timeout: Duration::from_secs(1),
        ..test_config()
    });
    let spec = ballast::dataplane::MemberSpec {
        id: ballast::model::MemberId::new(),
        address,
        weight: 1,
    };
    serve_http(&dp, ip, port, vec![spec]).await;
    // Both requests on one client connection, so on one worker and its idle
    // list (a pooling client may open a second connection when it races
    // its own connection's return to the pool).
    let mut client = tokio::net::TcpStream::connect((ip, port)).await.unwrap();
    for _ in 0..2 {
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let got = read_until_ends_with(&mut client, b"\r\n\r\nok").await;
        assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"));
    }
    let served = tokio::time::timeout(DEADLINE, closed.recv())
        .await
        .expect("the idle member connection is closed by the proxy")
        .unwrap();
    assert_eq!(
        served, 2,
        "both requests went over one kept-alive connection"
    );
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "no second member connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_never_answers_gets_the_client_a_504_after_the_response_timeout() {
    use std::time::{Duration, Instant};
    use tokio::io::AsyncReadExt;

    // A raw member that reads requests and never answers; it reports when
    // the proxy gives up on the connection.
    let member = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = member.local_addr().unwrap();
    let (closed_tx, mut closed) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = member.accept().await.unwrap();
            let closed_tx = closed_tx.clone();
            tokio::spawn(async move {
                let mut chunk = [0u8; 4096];
                while s.read(&mut chunk).await.unwrap_or(0) > 0 {}
                let _ = closed_tx.send(());
            });
        }
    });

    let ip = vip(26);
    let port = free_port(ip);
    let dp = data_plane_with(ballast::dataplane::DataPlaneConfig {
        client_header_timeout: Duration::from_millis(300),
        member_response_timeout: Duration::from_millis(400),
        ..test_config()
    });
    let spec = ballast::dataplane::MemberSpec {
        id: ballast::model::MemberId::new(),
        address,
        weight: 1,
    };
    serve_http(&dp, ip, port, vec![spec]).await;
    let started = Instant::now();
    let resp = tokio::time::timeout(
        DEADLINE,
        http_client(None).get(format!("http://{ip}:{port}/")).send(),
    )
    .await
    .expect("answered instead of hanging")
    .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "gave up too early"
    );
    assert_eq!(resp.status(), 504);
    assert_eq!(resp.headers()["connection"], "close");
    assert_eq!(
        resp.text().await.unwrap(),
        "the member did not answer in time\n"
    );
    tokio::time::timeout(DEADLINE, closed.recv())
        .await
        .expect("the proxy closes its connection to the silent member")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_kept_alive_connection_sheds_its_http_state_and_serves_the_next_request() {
    // A sweep period of 1 s: shed 1-2 s after the last request, closed
    // 5-6 s after it.
    let (dp, ip, port, _member) = http_with_header_timeout(27, "sh", Duration::from_secs(5)).await;
    let mut s = TcpStream::connect((ip, port)).await.unwrap();
    let request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    s.write_all(request).await.unwrap();
    let got = read_until_ends_with(&mut s, b"\r\n\r\nsh").await;
    assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"));
    wait_until("the idle connection parks without HTTP state", || {
        dp.parked_connections() == 1
    })
    .await;

    // The same connection serves the next request.
    s.write_all(request).await.unwrap();
    let got = String::from_utf8(read_until_ends_with(&mut s, b"\r\n\r\nsh").await).unwrap();
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    assert!(
        !got.to_ascii_lowercase().contains("connection: close"),
        "{got}"
    );
    assert_eq!(dp.parked_connections(), 0);

    // Half a head, then a pause past the shedding (1-2 s after the last
    // response): the bytes hyper had read are replayed to the next hyper
    // connection, and the completed request is served.
    s.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    s.write_all(b"st: x\r\n\r\n").await.unwrap();
    let got = read_until_ends_with(&mut s, b"\r\n\r\nsh").await;
    assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"));

    // Two requests pipelined in one write wake a parked connection: both
    // are answered, in order.
    wait_until("parked again", || dp.parked_connections() == 1).await;
    s.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut got = read_until_ends_with(&mut s, b"\r\n\r\nsh").await;
    while got.windows(15).filter(|w| w == b"HTTP/1.1 200 OK").count() < 2 {
        got.extend(read_until_ends_with(&mut s, b"\r\n\r\nsh").await);
    }
    assert_eq!(
        got.windows(15).filter(|w| w == b"HTTP/1.1 200 OK").count(),
        2,
        "{}",
        String::from_utf8_lossy(&got)
    );

    // A parked connection closes at once when the data plane drains.
    wait_until("parked again", || dp.parked_connections() == 1).await;
    let started = std::time::Instant::now();
    let drained = tokio::spawn({
        let dp = dp.clone();
        async move { dp.shutdown().await }
    });
    assert_closed_no_sooner_than(&mut s, started, Duration::ZERO).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "closed before the drain timeout"
    );
    drained.await.unwrap();
    assert_eq!(dp.parked_connections(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_sent_right_behind_an_upgrade_request_reach_the_member() {
    let ip = vip(28);
    let port = free_port(ip);
    let m = http_member("ws").await;
    let dp = data_plane();
    serve_http(&dp, ip, port, vec![m.spec(1)]).await;
    let mut s = TcpStream::connect((ip, port)).await.unwrap();
    // One write: the proxy reads "ping" together with the request head.
    s.write_all(
        b"GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nping",
    )
    .await
    .unwrap();
    // Byte by byte: the member's greeting follows the head.
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).await.unwrap(), 1);
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    assert_eq!(greeting(&mut s).await.unwrap(), "ws");
    let mut buf = [0u8; 4];
    tokio::time::timeout(DEADLINE, s.read_exact(&mut buf))
        .await
        .expect("the early bytes are echoed")
        .unwrap();
    assert_eq!(&buf, b"ping");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_kept_alive_https_connection_sheds_its_http_state_too() {
    install_provider();
    let ip = vip(29);
    let port = free_port(ip);
    let m = http_member("tp").await;
    let (cert, key) = self_signed();
    let mut l = listener(
        Protocol::Https,
        port,
        Some(pool(
            Protocol::Http,
            LbAlgorithm::RoundRobin,
            None,
            vec![m.spec(1)],
        )),
    );
    l.tls = Some(std::sync::Arc::new(TlsMaterial {
        certificate_id: CertificateId::new(),
        certificate_chain_pem: cert,
        private_key_pem: key,
    }));
    let dp = data_plane();
    dp.apply(lb(ip, vec![l])).await.unwrap();
    let c = http_client(None);
    let url = format!("https://{ip}:{port}/");
    assert_eq!(get(&c, &url).await.1, "tp");
    wait_until("the idle TLS connection parks without HTTP state", || {
        dp.parked_connections() == 1
    })
    .await;
    // The pooled connection carries the next request: still one connection.
    assert_eq!(get(&c, &url).await.1, "tp");
    assert_eq!(dp.all_listener_stats()[0].1.total_connections, 1);
}
