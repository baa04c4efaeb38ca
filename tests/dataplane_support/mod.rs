//! Helpers for the data-plane tests: member servers (HTTP, TCP, TLS) that
//! answer with their own name, clients bound to chosen source addresses,
//! set-ups of one listener, spec builders (`spec.rs`), raw-socket
//! clients (`socket.rs`), and `wait_until` with a deadline (shared with
//! `tests/common`).
#![allow(dead_code)]

mod socket;
mod spec;
#[path = "../common/wait.rs"]
mod wait;

// Not every test binary uses every helper (see `allow(dead_code)` above).
#[allow(unused_imports)]
pub use socket::*;
#[allow(unused_imports)]
pub use spec::*;
#[allow(unused_imports)]
pub use wait::wait_until;

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ballast::dataplane::{DataPlane, DataPlaneConfig, MemberSpec, MemberStates, PoolSpec};
use ballast::model::{LbAlgorithm, MemberId, Protocol};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

pub const DEADLINE: Duration = Duration::from_secs(10);

/// A VIP unique to one test (127.77.<n>.1), so tests run in parallel.
pub fn vip(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 77, n, 1))
}

/// A port free on `ip` right now (bound then released).
pub fn free_port(ip: IpAddr) -> u16 {
    let l = std::net::TcpListener::bind((ip, 0)).expect("bind port 0");
    l.local_addr().unwrap().port()
}

/// A data plane with a fresh member registry.
pub fn data_plane() -> Arc<DataPlane> {
    data_plane_with(test_config())
}

/// The tests' data plane tunables: short drain and connect timeouts.
pub fn test_config() -> DataPlaneConfig {
    DataPlaneConfig {
        drain_timeout: Duration::from_secs(2),
        member_connect_timeout: Duration::from_secs(1),
        ..DataPlaneConfig::default()
    }
}

/// A data plane with its own tunables and member registry.
pub fn data_plane_with(config: DataPlaneConfig) -> Arc<DataPlane> {
    Arc::new(
        DataPlane::new(config, Arc::new(MemberStates::new())).expect("data plane workers start"),
    )
}

/// Serve one HTTP listener on `ip:port`, round robin over `members`.
pub async fn serve_http(dp: &DataPlane, ip: IpAddr, port: u16, members: Vec<MemberSpec>) {
    let pool = pool(Protocol::Http, LbAlgorithm::RoundRobin, None, members);
    serve_pool(dp, ip, port, pool).await;
}

/// Serve one listener of `pool`'s protocol on `ip:port`.
pub async fn serve_pool(dp: &DataPlane, ip: IpAddr, port: u16, pool: PoolSpec) {
    let protocol = pool.protocol;
    dp.apply(lb(ip, vec![listener(protocol, port, Some(pool))]))
        .await
        .unwrap();
}

/// One member as the tests see it.
#[derive(Clone, Debug)]
pub struct Member {
    pub id: MemberId,
    pub name: String,
    pub address: SocketAddr,
    kill: CancellationToken,
}

impl Member {
    pub fn spec(&self, weight: u32) -> MemberSpec {
        MemberSpec {
            id: self.id,
            address: self.address,
            weight,
        }
    }

    /// Close the listening socket and every connection at once.
    pub fn kill(&self) {
        self.kill.cancel();
    }
}

type Body = BoxBody<Bytes, hyper::Error>;

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|e| match e {}).boxed()
}

/// The byte at offset `i` of every generated payload.
pub fn pattern(i: u64) -> u8 {
    (i % 251) as u8
}

/// A body of `n` pattern bytes streamed in 64 KiB chunks; with `stall`, it
/// stops after the first chunk and never ends.
struct PatternBody {
    pos: u64,
    n: u64,
    stall: bool,
}

impl hyper::body::Body for PatternBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        use std::task::Poll;
        if self.stall && self.pos > 0 {
            return Poll::Pending;
        }
        if self.pos >= self.n {
            return Poll::Ready(None);
        }
        let end = (self.pos + 65536).min(self.n);
        let v: Vec<u8> = (self.pos..end).map(pattern).collect();
        self.pos = end;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(v)))))
    }
}

fn pattern_body(n: u64, stall: bool) -> Body {
    PatternBody { pos: 0, n, stall }.boxed()
}

/// A self-signed certificate and key (PEM) for `127.0.0.1` and `localhost`.
pub fn self_signed() -> (String, String) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("rcgen");
    (ck.cert.pem(), ck.signing_key.serialize_pem())
}

/// Install ring as the process' rustls provider (reqwest needs one).
pub fn install_provider() {
    // Err means another test installed it first: fine.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// An HTTP client that accepts any certificate and sends from `source` when given.
pub fn http_client(source: Option<IpAddr>) -> reqwest::Client {
    install_provider();
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .tls_danger_accept_invalid_certs(true)
        .timeout(DEADLINE);
    if let Some(ip) = source {
        b = b.local_address(ip);
    }
    b.build().expect("client builds")
}

#[derive(Clone, Copy)]
enum Kind {
    Http,
    Tcp,
}

async fn start(name: &str, kind: Kind, tls: Option<tokio_rustls::TlsAcceptor>) -> Member {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("member bind");
    let address = listener.local_addr().unwrap();
    let kill = CancellationToken::new();
    let name: Arc<str> = Arc::from(name);
    let k = kill.clone();
    let n = name.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = tokio::select! {
                _ = k.cancelled() => return,
                r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
            };
            let (k, n, tls) = (k.clone(), n.clone(), tls.clone());
            tokio::spawn(async move {
                tokio::select! {
                    _ = k.cancelled() => {}
                    _ = serve_member(stream, n, kind, tls) => {}
                }
            });
        }
    });
    Member {
        id: MemberId::new(),
        name: name.to_string(),
        address,
        kill,
    }
}

async fn serve_member(
    stream: TcpStream,
    name: Arc<str>,
    kind: Kind,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    match (kind, tls) {
        (Kind::Tcp, _) => tcp_echo(stream, &name).await,
        (Kind::Http, None) => http_serve(stream, name).await,
        (Kind::Http, Some(acc)) => {
            if let Ok(s) = acc.accept(stream).await {
                http_serve(s, name).await
            }
        }
    }
}

async fn tcp_echo(mut s: TcpStream, name: &str) {
    if s.write_all(format!("{name}\n").as_bytes()).await.is_err() {
        return;
    }
    let (mut r, mut w) = s.split();
    let _ = tokio::io::copy(&mut r, &mut w).await;
    let _ = w.shutdown().await;
}

async fn http_serve<S>(s: S, name: Arc<str>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| member_handle(name.clone(), req));
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(s), svc)
        .with_upgrades()
        .await;
}

async fn member_handle(
    name: Arc<str>,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    let mut resp = if req.headers().contains_key(hyper::header::UPGRADE) {
        let on = hyper::upgrade::on(&mut req);
        let greeting = format!("{name}\n");
        tokio::spawn(async move {
            if let Ok(up) = on.await {
                let mut io = TokioIo::new(up);
                if io.write_all(greeting.as_bytes()).await.is_ok() {
                    let (mut r, mut w) = tokio::io::split(io);
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                }
            }
        });
        let mut r = Response::new(full(""));
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        r.headers_mut()
            .insert(hyper::header::CONNECTION, "upgrade".parse().unwrap());
        r.headers_mut()
            .insert(hyper::header::UPGRADE, "echo".parse().unwrap());
        r
    } else if path == "/headers" {
        let mut text = format!("{name}\n");
        for (k, v) in req.headers() {
            text.push_str(&format!("{k}: {}\n", v.to_str().unwrap_or("?")));
        }
        Response::new(full(text))
    } else if let Some(n) = path.strip_prefix("/bytes/") {
        Response::new(pattern_body(n.parse().unwrap_or(0), false))
    } else if path == "/stall" {
        Response::new(pattern_body(1 << 30, true))
    } else if path == "/echo" {
        Response::new(req.into_body().boxed())
    } else if let Some(ms) = path.strip_prefix("/slow/") {
        tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(100))).await;
        Response::new(full(name.to_string()))
    } else {
        Response::new(full(name.to_string()))
    };
    resp.headers_mut().insert("x-member", name.parse().unwrap());
    Ok(resp)
}

/// An HTTP member answering with its name (see `member_handle` for paths).
pub async fn http_member(name: &str) -> Member {
    start(name, Kind::Http, None).await
}

/// An HTTPS member (self-signed) answering like `http_member`.
pub async fn https_member(name: &str) -> Member {
    install_provider();
    let (cert, key) = self_signed();
    use rustls::pki_types::pem::PemObject;
    let certs = rustls::pki_types::CertificateDer::pem_slice_iter(cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
    let cfg = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    start(
        name,
        Kind::Http,
        Some(tokio_rustls::TlsAcceptor::from(Arc::new(cfg))),
    )
    .await
}

/// A TCP member: writes its name and a newline, then echoes.
pub async fn tcp_member(name: &str) -> Member {
    start(name, Kind::Tcp, None).await
}

/// `n` members named `prefix0..`.
pub async fn http_members(prefix: &str, n: usize) -> Vec<Member> {
    let mut v = Vec::new();
    for i in 0..n {
        v.push(http_member(&format!("{prefix}{i}")).await);
    }
    v
}

/// GET `url` and return (member name header, body).
pub async fn get(client: &reqwest::Client, url: &str) -> (StatusCode, String, String) {
    let r = client.get(url).send().await.expect("request");
    let status = StatusCode::from_u16(r.status().as_u16()).unwrap();
    let member = r
        .headers()
        .get("x-member")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, member, r.text().await.unwrap_or_default())
}

/// Send `request` and return the body of the answer.
pub async fn body_of(request: reqwest::RequestBuilder) -> String {
    request.send().await.unwrap().text().await.unwrap()
}

/// One HTTP listener on `vip(n)` over `member`, served by a data plane
/// with `config`.
pub async fn http_over(
    n: u8,
    member: MemberSpec,
    config: DataPlaneConfig,
) -> (Arc<DataPlane>, IpAddr, u16) {
    let ip = vip(n);
    let port = free_port(ip);
    let dp = data_plane_with(config);
    serve_http(&dp, ip, port, vec![member]).await;
    (dp, ip, port)
}

/// One HTTP listener on `vip(n)` over a single member named `name`, served
/// by a data plane with `config`. Keep the member alive as long as the
/// listener is used.
pub async fn http_over_one_member_with(
    n: u8,
    name: &str,
    config: DataPlaneConfig,
) -> (Arc<DataPlane>, IpAddr, u16, Member) {
    let member = http_member(name).await;
    let (dp, ip, port) = http_over(n, member.spec(1), config).await;
    (dp, ip, port, member)
}

/// [`http_over_one_member_with`] with the tests' usual tunables.
pub async fn http_over_one_member(n: u8, name: &str) -> (Arc<DataPlane>, IpAddr, u16, Member) {
    http_over_one_member_with(n, name, test_config()).await
}

/// [`http_over_one_member_with`] with a client header timeout of `timeout`.
pub async fn http_with_header_timeout(
    n: u8,
    name: &str,
    timeout: Duration,
) -> (Arc<DataPlane>, IpAddr, u16, Member) {
    let config = DataPlaneConfig {
        client_header_timeout: timeout,
        ..test_config()
    };
    http_over_one_member_with(n, name, config).await
}
