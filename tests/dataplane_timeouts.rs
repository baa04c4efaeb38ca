//! Data plane tests of the connection sweep and its timeouts: a client that
//! sends no request head, idle kept-alive connections parked without HTTP
//! state and woken again, kept-alive member connections closed once idle,
//! and the 504 for a member that never answers. A real `DataPlane` on
//! 127.77.x.1 VIPs in front of real member servers on 127.0.0.1, driven by
//! raw client sockets.

mod dataplane_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ballast::dataplane::DataPlaneConfig;
use ballast::model::Protocol;
use dataplane_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_client_that_sends_no_request_head_is_closed_after_the_header_timeout() {
    let (_dp, ip, port, _member) =
        http_with_header_timeout(21, "m", Duration::from_millis(300)).await;
    // Half a request head, then silence.
    let mut client = TcpStream::connect((ip, port)).await.unwrap();
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
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
    let mut silent = TcpStream::connect((ip, port)).await.unwrap();
    assert_closed_no_sooner_than(&mut silent, Instant::now(), Duration::from_millis(250)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_response_outlives_the_header_timeout_then_the_idle_connection_is_closed() {
    let (_dp, ip, port, _member) =
        http_with_header_timeout(25, "kt", Duration::from_millis(300)).await;
    let mut client = TcpStream::connect((ip, port)).await.unwrap();
    // The member answers after 800 ms: a request in flight is not idle.
    assert_served(
        &mut client,
        b"GET /slow/800 HTTP/1.1\r\nHost: x\r\n\r\n",
        "kt",
    )
    .await;
    // Then the kept-alive connection sends nothing: closed after the timeout.
    assert_closed_no_sooner_than(&mut client, Instant::now(), Duration::from_millis(250)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_member_connection_is_reused_then_closed_once_idle() {
    // A raw member: reports, per connection, how many requests it served
    // once the proxy closes that connection.
    let member = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = member.local_addr().unwrap();
    let (closed_tx, mut closed) = tokio::sync::mpsc::unbounded_channel();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = member.accept().await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
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

    let config = DataPlaneConfig {
        member_idle_timeout: Duration::from_secs(1),
        ..test_config()
    };
    let (_dp, ip, port) = http_over(22, member_at(address), config).await;
    // Both requests on one client connection, so on one worker and its idle
    // list (a pooling client may open a second connection when it races
    // its own connection's return to the pool).
    let mut client = TcpStream::connect((ip, port)).await.unwrap();
    for _ in 0..2 {
        assert_served(&mut client, GET, "ok").await;
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
        accepted.load(Ordering::SeqCst),
        1,
        "no second member connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_never_answers_gets_the_client_a_504_after_the_response_timeout() {
    // A raw member that reads requests and never answers; it reports when
    // the proxy gives up on the connection.
    let member = TcpListener::bind("127.0.0.1:0").await.unwrap();
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

    let config = DataPlaneConfig {
        client_header_timeout: Duration::from_millis(300),
        member_response_timeout: Duration::from_millis(400),
        ..test_config()
    };
    let (_dp, ip, port) = http_over(26, member_at(address), config).await;
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
    assert_served(&mut s, GET, "sh").await;
    wait_until(
        DEADLINE,
        "the idle connection parks without HTTP state",
        || dp.parked_connections() == 1,
    );

    // The same connection serves the next request.
    let got = assert_served(&mut s, GET, "sh").await;
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
    assert_served(&mut s, b"st: x\r\n\r\n", "sh").await;

    // Two requests pipelined in one write wake a parked connection: both
    // are answered, in order.
    wait_until(DEADLINE, "parked again", || dp.parked_connections() == 1);
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
    wait_until(DEADLINE, "parked again", || dp.parked_connections() == 1);
    let started = Instant::now();
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
async fn an_idle_kept_alive_https_connection_sheds_its_http_state_too() {
    install_provider();
    let ip = vip(29);
    let port = free_port(ip);
    let m = http_member("tp").await;
    let mut l = listener(
        Protocol::Https,
        port,
        round_robin(Protocol::Http, vec![m.spec(1)]),
    );
    l.tls = Some(self_signed_material());
    let dp = data_plane();
    dp.apply(lb(ip, vec![l])).await.unwrap();
    let c = http_client(None);
    let url = format!("https://{ip}:{port}/");
    assert_eq!(get(&c, &url).await.1, "tp");
    wait_until(
        DEADLINE,
        "the idle TLS connection parks without HTTP state",
        || dp.parked_connections() == 1,
    );
    // The pooled connection carries the next request: still one connection.
    assert_eq!(get(&c, &url).await.1, "tp");
    assert_eq!(dp.all_listener_stats()[0].1.total_connections, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_parked_before_their_first_byte_are_served_once_they_speak() {
    let (_dp, ip, port, _member) = http_over_one_member(24, "pk").await;
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
        assert_ok_with_body(&read_to_close(&mut s).await, "pk");
    }
}
