//! Data plane tests of applying specs: updates under load, listeners that
//! move or go, a taken port, the connection limit, stats and their persisted
//! base, and shutdown's drain. A real `DataPlane` on 127.77.x.1 VIPs in front
//! of real member servers on 127.0.0.1, driven by real client sockets.

mod dataplane_support;

use std::time::Duration;

use ballast::dataplane::{DataPlaneError, StatsBase};
use ballast::model::{LbAlgorithm, Protocol};
use dataplane_support::*;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit_keeps_extra_clients_waiting_until_one_closes() {
    let ip = vip(6);
    let port = free_port(ip);
    let a = tcp_member("lim").await;
    let dp = data_plane();
    let mut l = round_robin_listener(Protocol::Tcp, port, vec![a.spec(1)]);
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
    wait_until(DEADLINE, "two active connections", || {
        dp.listener_stats(lid).unwrap().active_connections == 2
    });
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
                round_robin_listener(Protocol::Tcp, tp, vec![t.spec(1)]),
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
        spec.listeners[1].pool = round_robin(Protocol::Tcp, vec![t.spec(1 + i as u32)]);
        dp.apply(spec.clone()).await.unwrap();
        // Let some requests run on each version before the next update.
        let before = served.load(std::sync::atomic::Ordering::Relaxed);
        wait_until(DEADLINE, "requests after an update", || {
            served.load(std::sync::atomic::Ordering::Relaxed) >= before + 8
        });
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
    assert_eq!(echo(&mut tcp, b"still here").await, b"still here");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_exact_bytes_and_resume_from_the_persisted_base_once() {
    let ip = vip(12);
    let port = free_port(ip);
    let t = tcp_member("st").await;
    let dp = data_plane();
    let mut l = round_robin_listener(Protocol::Tcp, port, vec![t.spec(1)]);
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
        echo(&mut s, b"0123456789").await;
    }
    wait_until(DEADLINE, "stats settle", || {
        let s = dp.listener_stats(lid).unwrap();
        s.active_connections == 0
            && s.bytes_in == 1000 + 30
            && s.bytes_out == 2000 + 3 * (3 + 10)
            && s.total_connections == 10
    });
    // A later apply with another base keeps the live counters.
    spec.listeners[0].stats_base = StatsBase::default();
    spec.listeners[0].name = "renamed".into();
    dp.apply(spec).await.unwrap();
    let s = dp.listener_stats(lid).unwrap();
    assert_eq!(s.total_connections, 10);
    assert_eq!(dp.all_listener_stats(), vec![(lid, s)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ports_follow_the_spec_rebinding_moved_and_closing_removed_listeners() {
    let ip = vip(14);
    let (p1, p2, p3) = (free_port(ip), free_port(ip), free_port(ip));
    let t = tcp_member("pt").await;
    let dp = data_plane();
    let tp = || round_robin(Protocol::Tcp, vec![t.spec(1)]);
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
    echo(&mut held, b"ok").await;

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
async fn shutdown_stops_accepting_and_lets_in_flight_requests_finish() {
    let (dp, ip, port, _member) = http_over_one_member(20, "dr").await;
    let c = http_client(None);
    let url = format!("http://{ip}:{port}/slow/500");
    let in_flight = tokio::spawn(async move { c.get(&url).send().await.unwrap().text().await });
    wait_until(DEADLINE, "request in flight", || {
        dp.all_listener_stats()[0].1.active_connections == 1
    });
    let started = std::time::Instant::now();
    dp.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(2) + Duration::from_millis(900));
    assert_eq!(in_flight.await.unwrap().unwrap(), "dr");
    assert!(TcpStream::connect((ip, port)).await.is_err(), "port closed");
}
