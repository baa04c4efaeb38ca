//! The proxy's strictness and its guards (issue 14), on the wire: requests
//! HAProxy refuses are refused before any member sees them, requests it
//! completes reach the member completed, member answers that cannot be
//! passed on are 502, a loop back to our own listener ends at once, and
//! every slow peer is closed after its data timeout.

mod dataplane_support;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ballast::dataplane::{DataPlane, DataPlaneConfig, ListenerSpec};
use ballast::model::Protocol;
use dataplane_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One HTTP listener on `vip(n)` over `member`, with the tests' tunables;
/// keep the data plane as long as the listener is used.
async fn over(n: u8, member: SocketAddr) -> (Arc<DataPlane>, SocketAddr) {
    let (dp, ip, port) = http_over(n, member_at(member), test_config()).await;
    (dp, SocketAddr::new(ip, port))
}

/// The status line of a raw answer.
fn status(answer: &str) -> &str {
    answer.lines().next().unwrap_or("")
}

#[tokio::test]
async fn requests_haproxy_refuses_are_refused_before_any_member_sees_them() {
    let member = raw_member(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
    let (_dp, at) = over(100, member.address).await;
    let cases: [(&[u8], &str); 5] = [
        (b"GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request"),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "HTTP/1.1 400 Bad Request",
        ),
        (
            b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
            "HTTP/1.1 405 Method Not Allowed",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
            "HTTP/1.1 400 Bad Request",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: identity\r\n\r\n",
            "HTTP/1.1 400 Bad Request",
        ),
    ];
    for (request, want) in cases {
        let answer = exchange(at, request).await;
        assert_eq!(
            status(&answer),
            want,
            "{}",
            String::from_utf8_lossy(request)
        );
    }
    assert_eq!(member.received(), Vec::<String>::new(), "no member saw any");
    // The listener still serves a well-formed request.
    let answer = exchange(
        at,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_ok_with_body(&answer, "ok");
    assert_eq!(member.received().len(), 1);
}

#[tokio::test]
async fn host_reaches_the_member_whatever_connection_says_and_is_completed_where_missing() {
    let member = http_member("m").await;
    let (_dp, at) = over(101, member.address).await;
    let host_seen = |answer: &str| {
        answer
            .lines()
            .find_map(|l| l.strip_prefix("host: "))
            .map(str::to_string)
    };
    // `Connection: Host` does not strip Host.
    let answer = exchange(
        at,
        b"GET /headers HTTP/1.1\r\nHost: h.example\r\nConnection: Host, close\r\n\r\n",
    )
    .await;
    assert_eq!(status(&answer), "HTTP/1.1 200 OK", "{answer}");
    assert_eq!(host_seen(&answer).as_deref(), Some("h.example"), "{answer}");
    // HTTP/1.0 without Host gets the listener's address.
    let answer = exchange(at, b"GET /headers HTTP/1.0\r\n\r\n").await;
    assert_eq!(host_seen(&answer), Some(at.to_string()), "{answer}");
    // An absolute-form target sets Host, and the member gets origin-form.
    let answer = exchange(
        at,
        b"GET http://abs.example:81/headers HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status(&answer), "HTTP/1.1 200 OK", "{answer}");
    assert_eq!(
        host_seen(&answer).as_deref(),
        Some("abs.example:81"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_member_answer_framed_two_ways_or_an_unasked_switch_is_a_502() {
    let cases: [&'static [u8]; 2] = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n",
    ];
    for (n, answer) in (102..).zip(cases) {
        let member = raw_member(answer).await;
        let (_dp, at) = over(n, member.address).await;
        let got = exchange(
            at,
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert_eq!(status(&got), "HTTP/1.1 502 Bad Gateway", "{got}");
        assert_eq!(member.received().len(), 1, "the member did get the request");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_or_short_client_body_is_the_clients_400_not_the_members_502() {
    let member = raw_member(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
    let (_dp, at) = over(104, member.address).await;
    // Cut short: five of ten bytes, then the client stops sending.
    let mut s = TcpStream::connect(at).await.unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
        .await
        .unwrap();
    s.shutdown().await.unwrap();
    let answer = read_to_close(&mut s).await;
    assert_eq!(status(&answer), "HTTP/1.1 400 Bad Request", "{answer}");
    // Malformed chunked encoding.
    let answer = exchange(
        at,
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(status(&answer), "HTTP/1.1 400 Bad Request", "{answer}");
    // The member saw the cut body as it came (5 of 10 bytes) and no whole
    // request: it answered nothing, and nothing of it was blamed on it. It
    // logs a connection once that ends, which may be after the client's 400.
    wait_until(
        Duration::from_secs(5),
        "the member to log the cut body",
        || {
            member
                .received()
                .iter()
                .any(|r| r.contains("content-length: 10") && r.ends_with("\r\n\r\nhello"))
        },
    );
    let received = member.received();
    assert!(
        !received.iter().any(|r| r.contains("\r\n0\r\n")),
        "{received:?}"
    );
}

/// A load balancer on `vip(n)` whose one listener's member is the listener
/// itself.
async fn self_loop(n: u8, protocol: Protocol) -> (Arc<DataPlane>, SocketAddr) {
    let ip = vip(n);
    let port = free_port(ip);
    let at = SocketAddr::new(ip, port);
    let dp = data_plane();
    let pool = round_robin(protocol, vec![member_at(at)]);
    dp.apply(lb(ip, vec![listener(protocol, port, pool)]))
        .await
        .unwrap();
    (dp, at)
}

#[tokio::test]
async fn an_http_member_leading_back_to_its_own_listener_gets_a_508_at_once() {
    let (_dp, at) = self_loop(105, Protocol::Http).await;
    let started = Instant::now();
    let answer = exchange(
        at,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status(&answer), "HTTP/1.1 508 Loop Detected", "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_tcp_member_leading_back_to_its_own_listener_is_closed_at_once() {
    let (dp, at) = self_loop(106, Protocol::Tcp).await;
    let mut s = TcpStream::connect(at).await.unwrap();
    s.write_all(b"hello").await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
        .await
        .expect("closed at once, not after a chain of hops");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let total: u64 = dp
        .all_listener_stats()
        .iter()
        .map(|(_, s)| s.total_connections)
        .sum();
    assert_eq!(total, 2, "the client's and one looped connection, no more");
}

/// An HTTP or TCP listener on `vip(n)` over `member` with data timeouts
/// `client` and `member_timeout`; the data plane, its listener and address.
async fn with_data_timeouts(
    n: u8,
    protocol: Protocol,
    member: SocketAddr,
    client: Duration,
    member_timeout: Duration,
) -> (Arc<DataPlane>, ListenerSpec, SocketAddr) {
    let ip: IpAddr = vip(n);
    let port = free_port(ip);
    let dp = data_plane_with(DataPlaneConfig {
        client_data_timeout: client,
        member_data_timeout: member_timeout,
        ..test_config()
    });
    let l = listener(
        protocol,
        port,
        round_robin(protocol, vec![member_at(member)]),
    );
    dp.apply(lb(ip, vec![l.clone()])).await.unwrap();
    (dp, l, SocketAddr::new(ip, port))
}

const SHORT: Duration = Duration::from_millis(800);
const LONG: Duration = Duration::from_secs(30);

#[tokio::test]
async fn an_idle_tcp_session_is_closed_after_the_client_data_timeout() {
    let member = tcp_member("t").await;
    let (_dp, _, at) = with_data_timeouts(107, Protocol::Tcp, member.address, SHORT, LONG).await;
    let mut s = TcpStream::connect(at).await.unwrap();
    assert_eq!(greeting(&mut s).await.unwrap(), "t");
    let since = Instant::now();
    assert_closed_no_sooner_than(&mut s, since, SHORT).await;
}

#[tokio::test]
async fn a_tcp_session_to_a_member_that_blackholes_is_closed_after_the_member_data_timeout() {
    // Accepts, then neither reads nor writes.
    let blackhole = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = blackhole.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = blackhole.accept().await {
            held.push(s);
        }
    });
    let (_dp, _, at) = with_data_timeouts(108, Protocol::Tcp, address, LONG, SHORT).await;
    let mut s = TcpStream::connect(at).await.unwrap();
    s.write_all(b"anyone there?").await.unwrap();
    let since = Instant::now();
    assert_closed_no_sooner_than(&mut s, since, SHORT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_client_that_never_reads_its_response_is_closed_after_the_client_data_timeout() {
    let member = http_member("big").await;
    let (dp, l, at) = with_data_timeouts(109, Protocol::Http, member.address, SHORT, LONG).await;
    let mut s = TcpStream::connect(at).await.unwrap();
    s.write_all(b"GET /bytes/1000000000 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let since = Instant::now();
    // Counted first, so the wait below cannot pass before the accept.
    wait_until(DEADLINE, "the client connection is counted", || {
        dp.listener_stats(l.id).unwrap().active_connections == 1
    });
    // The client never reads: the proxy's writes stall once the socket
    // buffers are full, and the connection is closed.
    wait_until(DEADLINE, "the stalled client connection is closed", || {
        dp.listener_stats(l.id).unwrap().active_connections == 0
    });
    assert!(
        since.elapsed() >= SHORT,
        "closed too early: {:?}",
        since.elapsed()
    );
    drop(s);
}
