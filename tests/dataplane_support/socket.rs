//! Raw-socket clients for the data-plane tests: what a browser or `curl`
//! would hide (half a request head, a half-close, bytes right behind an
//! upgrade, a kept-alive connection left silent) needs the bytes on the
//! wire. Every read has a deadline, so a proxy that hangs fails the test.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use super::DEADLINE;

/// A GET of `/` on a kept-alive connection.
pub const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/// A TCP connection from `source` (any 127.x address) to `to`.
pub async fn tcp_from(source: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpSocket::new_v4()?;
    s.bind(SocketAddr::new(source, 0))?;
    s.connect(to).await
}

/// Read the member's greeting line (its name) from a TCP relay or an
/// upgraded connection, one byte at a time so nothing after it is consumed.
pub async fn greeting(s: &mut (impl AsyncRead + Unpin)) -> std::io::Result<String> {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    loop {
        let n = s.read(&mut b).await?;
        if n == 0 || b[0] == b'\n' {
            break;
        }
        out.push(b[0]);
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Write `bytes` to a TCP relay in front of an echoing member and read as
/// many back.
pub async fn echo(s: &mut TcpStream, bytes: &[u8]) -> Vec<u8> {
    s.write_all(bytes).await.unwrap();
    let mut back = vec![0u8; bytes.len()];
    tokio::time::timeout(DEADLINE, s.read_exact(&mut back))
        .await
        .expect("the echo arrives")
        .unwrap();
    back
}

/// Read a response head byte by byte up to its blank line, leaving what
/// follows (an upgraded stream) unread; panics if the connection closes first.
pub async fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).await.unwrap(), 1);
        head.push(b[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Read everything until the proxy closes the connection (within `DEADLINE`).
pub async fn read_to_close(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    tokio::time::timeout(DEADLINE, s.read_to_end(&mut got))
        .await
        .expect("the proxy closes once the response is out")
        .unwrap();
    String::from_utf8_lossy(&got).into_owned()
}

/// Assert `got` is a whole 200 response whose body is `body`.
pub fn assert_ok_with_body(got: &str, body: &str) {
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    assert!(got.ends_with(&format!("\r\n\r\n{body}")), "{got}");
}

/// Read from `stream` until what arrived ends with `suffix` (a whole
/// response on a kept-alive connection); panics if it closes first or
/// nothing more arrives within `DEADLINE`.
pub async fn read_until_ends_with(stream: &mut TcpStream, suffix: &[u8]) -> Vec<u8> {
    let (mut got, mut buf) = (Vec::new(), [0u8; 1024]);
    while !got.ends_with(suffix) {
        let n = tokio::time::timeout(DEADLINE, stream.read(&mut buf))
            .await
            .expect("the response arrives")
            .unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    got
}

/// Send `request` on a kept-alive connection and read one response up to
/// the body `body`: it is a 200. Returns the response.
pub async fn assert_served(stream: &mut TcpStream, request: &[u8], body: &str) -> String {
    stream.write_all(request).await.unwrap();
    let suffix = format!("\r\n\r\n{body}");
    let got = read_until_ends_with(stream, suffix.as_bytes()).await;
    let got = String::from_utf8(got).expect("the test members answer in text");
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    got
}

/// Assert the proxy closes `stream` (EOF or a reset) within `DEADLINE`,
/// but no sooner than `at_least` after `since`.
pub async fn assert_closed_no_sooner_than(
    stream: &mut TcpStream,
    since: Instant,
    at_least: Duration,
) {
    let mut buf = [0u8; 256];
    let read = tokio::time::timeout(DEADLINE, stream.read(&mut buf))
        .await
        .expect("the proxy closes the connection instead of keeping it forever");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(since.elapsed() >= at_least, "closed too early");
}

/// Assert the proxy closes `stream` (EOF or a reset) within `DEADLINE`.
pub async fn assert_closed(stream: &mut TcpStream) {
    assert_closed_no_sooner_than(stream, Instant::now(), Duration::ZERO).await;
}

/// A raw HTTP member: what it received, request by request, and a fixed
/// answer, for checking what a member sees of a request the proxy should
/// have refused or completed.
pub struct RawMember {
    pub address: SocketAddr,
    received: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl RawMember {
    /// Every request (head, and as much body as arrived) received so far.
    pub fn received(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }
}

/// Start a [`RawMember`] on 127.0.0.1: per connection it reads a request
/// head and its `Content-Length` body, records them, writes `answer` and
/// closes. A body cut short is recorded as far as it came, unanswered.
pub async fn raw_member(answer: &'static [u8]) -> RawMember {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = received.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let (mut got, mut buf) = (Vec::new(), [0u8; 4096]);
                let complete = loop {
                    if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if got.len() >= end + 4 + length {
                            break true;
                        }
                    }
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break false,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                };
                if !got.is_empty() {
                    log.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&got).into_owned());
                }
                if complete {
                    let _ = s.write_all(answer).await; // the proxy may be gone
                }
            });
        }
    });
    RawMember { address, received }
}

/// Write `request` on a new connection to `to` and read until the proxy
/// closes it (within `DEADLINE`); the whole answer.
pub async fn exchange(to: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(to).await.unwrap();
    s.write_all(request).await.unwrap();
    read_to_close(&mut s).await
}
