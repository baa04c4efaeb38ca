//! Data plane tests of what passes through a listener: bytes exact both
//! ways (50 MiB over TCP and HTTP), a member's end passed on, forwarded
//! headers, a client's half-close, upgrades, and TLS termination,
//! re-encryption and passthrough. A real `DataPlane` on 127.77.x.1 VIPs in
//! front of real member servers on 127.0.0.1, driven by real client sockets.

mod dataplane_support;

use std::net::IpAddr;

use ballast::dataplane::{DataPlaneConfig, DataPlaneError};
use ballast::model::Protocol;
use dataplane_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const FIFTY_MIB: u64 = 50 * 1024 * 1024;

/// The upgrade request the members answer with 101 and an echo.
const UPGRADE: &[u8] =
    b"GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_killed_mid_stream_gives_the_client_an_end_not_a_hang() {
    let ip = vip(9);
    let (hp, tp) = (free_port(ip), free_port(ip));
    let h = http_member("kh").await;
    let t = tcp_member("kt").await;
    let dp = data_plane();
    let spec = http_and_tcp(ip, (hp, vec![h.spec(1)]), (tp, vec![t.spec(1)]));
    dp.apply(spec).await.unwrap();
    // TCP: the relay passes the member's close on as EOF.
    let mut s = TcpStream::connect((ip, tp)).await.unwrap();
    assert_eq!(greeting(&mut s).await.unwrap(), "kt");
    t.kill();
    assert_closed(&mut s).await;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_mib_pass_byte_exact_through_tcp_and_http() {
    let ip = vip(10);
    let (hp, tp) = (free_port(ip), free_port(ip));
    let h = http_member("big").await;
    let t = tcp_member("tbig").await;
    let dp = data_plane();
    let spec = http_and_tcp(ip, (hp, vec![h.spec(1)]), (tp, vec![t.spec(1)]));
    let tcp_id = spec.listeners[1].id;
    dp.apply(spec).await.unwrap();

    // TCP echo: write 50 MiB while reading it back.
    assert_eq!(echo_pattern((ip, tp), "tbig", FIFTY_MIB).await, FIFTY_MIB);
    wait_until(DEADLINE, "TCP stats settle", || {
        let s = dp.listener_stats(tcp_id).unwrap();
        s.active_connections == 0 && s.bytes_in == FIFTY_MIB && s.bytes_out == FIFTY_MIB + 5
    });

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

/// Through a TCP listener whose member greets with `name` and then echoes:
/// writes `len` pattern bytes while reading them back, checks each one, and
/// returns how many came back before the end.
async fn echo_pattern(to: (IpAddr, u16), name: &str, len: u64) -> u64 {
    let s = TcpStream::connect(to).await.unwrap();
    let (mut r, mut w) = s.into_split();
    let writer = tokio::spawn(async move {
        let mut off = 0u64;
        while off < len {
            let n = (len - off).min(65536);
            let v: Vec<u8> = (off..off + n).map(pattern).collect();
            w.write_all(&v).await.unwrap();
            off += n;
        }
        w.shutdown().await.unwrap();
    });
    assert_eq!(greeting(&mut r).await.unwrap(), name);
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
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_tcp_transfers_stay_byte_exact_when_no_bulk_buffer_is_left() {
    // A cap of 3 connections leaves no bulk buffer (a quarter of the cap):
    // every direction keeps copying through 16 KiB.
    let ip = vip(27);
    let tp = free_port(ip);
    let t = tcp_member("nobulk").await;
    let dp = data_plane_with(DataPlaneConfig {
        max_connections: Some(3),
        ..test_config()
    });
    let spec = lb(
        ip,
        vec![round_robin_listener(Protocol::Tcp, tp, vec![t.spec(1)])],
    );
    dp.apply(spec).await.unwrap();
    const EIGHT_MIB: u64 = 8 * 1024 * 1024;
    let (a, b) = tokio::join!(
        echo_pattern((ip, tp), "nobulk", EIGHT_MIB),
        echo_pattern((ip, tp), "nobulk", EIGHT_MIB)
    );
    assert_eq!((a, b), (EIGHT_MIB, EIGHT_MIB));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_headers_are_added_and_x_forwarded_for_appended() {
    let (_dp, ip, port, _member) = http_over_one_member(16, "fw").await;
    let c = http_client(Some(IpAddr::from([127, 0, 16, 9])));
    let url = format!("http://{ip}:{port}/headers");
    let body = body_of(c.get(url).header("x-forwarded-for", "203.0.113.5")).await;
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
    let (_dp, ip, port, _member) = http_over_one_member(23, "hc").await;
    let mut s = TcpStream::connect((ip, port)).await.unwrap();
    // The member takes 50 ms, so the proxy sees the client's FIN while the
    // request is in flight.
    s.write_all(b"GET /slow/50 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    s.shutdown().await.unwrap();
    assert_ok_with_body(&read_to_close(&mut s).await, "hc");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_style_upgrades_pass_through() {
    let (_dp, ip, port, _member) = http_over_one_member(17, "ws").await;
    let mut s = TcpStream::connect((ip, port)).await.unwrap();
    s.write_all(UPGRADE).await.unwrap();
    let head = read_head(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(greeting(&mut s).await.unwrap(), "ws");
    assert_eq!(echo(&mut s, b"ping").await, b"ping");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_sent_right_behind_an_upgrade_request_reach_the_member() {
    let (_dp, ip, port, _member) = http_over_one_member(28, "ws").await;
    let mut s = TcpStream::connect((ip, port)).await.unwrap();
    // One write: the proxy reads "ping" together with the request head.
    s.write_all(&[UPGRADE, b"ping"].concat()).await.unwrap();
    // Byte by byte: the member's greeting follows the head.
    let head = read_head(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(greeting(&mut s).await.unwrap(), "ws");
    let mut buf = [0u8; 4];
    tokio::time::timeout(DEADLINE, s.read_exact(&mut buf))
        .await
        .expect("the early bytes are echoed")
        .unwrap();
    assert_eq!(&buf, b"ping");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_terminates_with_the_listener_certificate_and_reencrypts_to_https_members() {
    install_provider();
    let ip = vip(18);
    let (plain, reenc, pass) = (free_port(ip), free_port(ip), free_port(ip));
    let h = http_member("tls-plain").await;
    let hs = https_member("tls-member").await;
    let material = self_signed_material();
    let mut l1 = listener(
        Protocol::Https,
        plain,
        round_robin(Protocol::Http, vec![h.spec(1)]),
    );
    l1.tls = Some(material.clone());
    let mut l2 = listener(
        Protocol::Https,
        reenc,
        round_robin(Protocol::Https, vec![hs.spec(1)]),
    );
    l2.tls = Some(material.clone());
    // No certificate: passthrough to the HTTPS member.
    let l3 = listener(
        Protocol::Https,
        pass,
        round_robin(Protocol::Https, vec![hs.spec(1)]),
    );
    let dp = data_plane();
    dp.apply(lb(ip, vec![l1, l2, l3])).await.unwrap();
    let c = http_client(None);
    let body = body_of(c.get(format!("https://{ip}:{plain}/headers"))).await;
    assert!(body.starts_with("tls-plain\n"), "{body}");
    assert!(body.contains("x-forwarded-proto: https\n"), "{body}");
    let (status, member, _) = get(&c, &format!("https://{ip}:{reenc}/")).await;
    assert_eq!((status.as_u16(), member.as_str()), (200, "tls-member"));
    let body = body_of(c.get(format!("https://{ip}:{pass}/headers"))).await;
    assert!(body.starts_with("tls-member\n"), "{body}");
    assert!(
        !body.contains("x-forwarded-for"),
        "passthrough adds nothing: {body}"
    );

    // Bad PEM is refused before anything changes.
    let mut bad = listener(Protocol::Https, free_port(ip), None);
    bad.tls = Some(tls_material("not a pem".into(), "nope".into()));
    let err = dp.apply(lb(vip(19), vec![bad])).await.unwrap_err();
    assert!(matches!(err, DataPlaneError::Tls { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returning_tls_client_resumes_its_session() {
    install_provider();
    let ip = vip(20);
    let port = free_port(ip);
    let h = http_member("resumed").await;
    let mut l = listener(
        Protocol::Https,
        port,
        round_robin(Protocol::Http, vec![h.spec(1)]),
    );
    l.tls = Some(self_signed_material());
    let dp = data_plane();
    dp.apply(lb(ip, vec![l])).await.unwrap();
    // One connector, so one client session cache, for both connections.
    let connector = ballast::dataplane::member_tls_connector();
    let mut kinds = Vec::new();
    for _ in 0..2 {
        let tcp = TcpStream::connect((ip, port)).await.unwrap();
        let mut tls = connector
            .connect(rustls::pki_types::ServerName::IpAddress(ip.into()), tcp)
            .await
            .unwrap();
        kinds.push(tls.get_ref().1.handshake_kind());
        // TLS 1.3 tickets come after the handshake: read the whole answer
        // so they are in the client's cache before the next connection.
        tls.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(DEADLINE, tls.read_to_end(&mut answer))
            .await
            .expect("the answer comes")
            .unwrap();
        assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
    }
    use rustls::HandshakeKind::{Full, Resumed};
    assert_eq!(kinds, vec![Some(Full), Some(Resumed)]);
}
