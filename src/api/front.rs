//! The API's public socket. Rocket 0.5.2 serves HTTP/1 with hyper's header
//! read timeout switched off and no idle timeout, and takes no listener from
//! outside, so a client that connects and sends nothing, dribbles a request
//! head, or idles between keep-alive requests would hold its connection (and
//! a descriptor) forever. Ballast therefore binds the API address itself and
//! serves it with hyper: every wait for a request head (the first or the next
//! on a kept-alive connection) and every request up to its response head is
//! bounded by `[api] request_timeout_secs`. Requests are passed unchanged,
//! with the client's address in `X-Real-IP` (Rocket's client-IP header), to
//! Rocket on a loopback port of its own. Each carries the process's front
//! token too (see [`policy::FRONT_HEADER`]): Rocket refuses a request without
//! it, so another local process cannot reach Rocket's port around the front's
//! timeouts or name its own `X-Real-IP`. Whatever the client sent under
//! either name is replaced.
//!
//! A request head hyper cannot parse is answered by hyper itself; [`canned`]
//! puts the API's JSON fault in place of its empty answer.
//!
//! With `[api] tls_cert`/`tls_key` the front serves HTTPS ([`tls`]): the
//! handshake is bounded by the same request timeout, and what follows is the
//! same HTTP/1.1 service over the decrypted stream (the canned answers are
//! replaced there too). Rocket hears `X-Forwarded-Proto: https`, so the links
//! it writes name the scheme the client used.
//!
//! On shutdown (Rocket's, which follows SIGTERM) the front stops accepting,
//! finishes each request in flight with `Connection: close` so a keep-alive
//! client knows to send its next request elsewhere, and closes idle
//! connections at once.
//!
//! It knows nothing of the API's routes or rules: those stay in Rocket, which
//! answers everything but the front's own 408, 503 and 502.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::policy;

mod canned;
mod tls;

type Body = BoxBody<Bytes, hyper::Error>;

/// How long connections get to finish their request in flight once shutdown
/// began; matches Rocket's own grace, after which it cancels its side.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Hop-by-hop headers, which concern one connection and are not passed on.
const HOP_BY_HOP: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "upgrade",
];

/// Serve the API's public socket until `stop` resolves, passing every request
/// to Rocket at `backend` with `front_token` (the policy's
/// [`front_token`](policy::ApiPolicy::front_token)); HTTPS when `tls` is
/// given, else plain HTTP. Returns once every connection has closed (at most
/// [`SHUTDOWN_GRACE`] after `stop`).
pub async fn serve(
    listener: TcpListener,
    backend: SocketAddr,
    front_token: &str,
    request_timeout: Duration,
    tls: Option<TlsAcceptor>,
    stop: impl Future<Output = ()>,
) {
    let Ok(token) = HeaderValue::from_str(front_token) else {
        // The policy makes the token of hex digits; anything else is a bug
        // that would leave every request refused.
        warn!("API front token is not a header value; not serving the API");
        return;
    };
    info!(%backend, https = tls.is_some(), "API front forwarding to Rocket");
    let client: Client<HttpConnector, Incoming> = Client::builder(TokioExecutor::new())
        // Rocket keeps its side open; the pool needs no long memory.
        .pool_idle_timeout(Duration::from_secs(30))
        .build_http();
    let forward = Arc::new(Forward {
        client,
        backend,
        token,
        https: tls.is_some(),
        request_timeout,
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(request_timeout)
        .keep_alive(true);
    let closing = CancellationToken::new();
    let mut connections = JoinSet::new();
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(error) => {
                    // EMFILE and friends: keep the socket, let the
                    // condition pass instead of spinning on it.
                    warn!(%error, "API accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            // Reap finished connections so the set stays small.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        // Small answers: do not wait for more to fill a segment.
        if let Err(error) = stream.set_nodelay(true) {
            debug!(%error, "API connection: TCP_NODELAY failed");
        }
        let forward = Arc::clone(&forward);
        let http = http.clone();
        let closing = closing.clone();
        let tls = tls.clone();
        connections.spawn(async move {
            match tls {
                None => serve_connection(&http, stream, peer, forward, &closing).await,
                Some(acceptor) => {
                    let stream = tokio::select! {
                        stream = tls::accept(&acceptor, stream, peer, request_timeout) => stream,
                        // Shutting down: a handshake in progress has no request to finish.
                        _ = closing.cancelled() => None,
                    };
                    if let Some(stream) = stream {
                        serve_connection(&http, stream, peer, forward, &closing).await;
                    }
                }
            }
        });
    }
    drop(listener);
    closing.cancel();
    // Connections still busy after the grace are dropped with the set.
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
}

/// Serve HTTP/1.1 on one client connection (plain or decrypted) until it
/// ends, or until `closing` and its request in flight is answered.
async fn serve_connection<S>(
    http: &hyper::server::conn::http1::Builder,
    stream: S,
    peer: SocketAddr,
    forward: Arc<Forward>,
    closing: &CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let answers = canned::Answers::default();
    let io = TokioIo::new(canned::FaultingIo::new(stream, answers.clone()));
    let service = hyper::service::service_fn(move |req| {
        let forward = Arc::clone(&forward);
        let answers = answers.clone();
        async move {
            let response = forward.call(req, peer).await;
            answers.handed();
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let conn = http.serve_connection(io, service);
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        _ = closing.cancelled() => {
            // Idle: closes now. Busy: the response in flight goes
            // out with `Connection: close`, then the connection ends.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(error) = result {
        debug!(%peer, %error, "API connection ended");
    }
}

/// Whether an API bound to `addr` carries requests and their credentials
/// across the network in clear: beyond loopback (`0.0.0.0` included), without
/// TLS. Start-up warns when it does.
pub fn exposed_in_clear(addr: std::net::IpAddr, tls: bool) -> bool {
    !tls && !addr.to_canonical().is_loopback()
}

/// Passes requests to Rocket.
struct Forward {
    client: Client<HttpConnector, Incoming>,
    backend: SocketAddr,
    /// The value of [`policy::FRONT_HEADER`] Rocket expects.
    token: HeaderValue,
    /// Whether clients reach the front over TLS.
    https: bool,
    request_timeout: Duration,
}

impl Forward {
    async fn call(&self, mut req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let path = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        // `*` (OPTIONS) and authority-form (CONNECT) name no resource here.
        let uri = match format!("http://{}{path}", self.backend).parse() {
            Ok(uri) if path.starts_with('/') => uri,
            _ => return fault(StatusCode::BAD_REQUEST, "request target must be a path"),
        };
        // Per request, so debug: the head is parsed and the request is now in
        // flight (a test waits for this line before it begins shutdown).
        debug!(%peer, method = %req.method(), "API request forwarding");
        *req.uri_mut() = uri;
        vouch(req.headers_mut(), peer, &self.token);
        if self.https {
            // The scheme the client used, for the links Rocket writes; over
            // plain HTTP a client's own value stays (a TLS proxy in front of
            // Ballast sets it).
            req.headers_mut()
                .insert("x-forwarded-proto", HeaderValue::from_static("https"));
        }
        match tokio::time::timeout(self.request_timeout, self.client.request(req)).await {
            Ok(Ok(response)) => {
                let (mut parts, body) = response.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                Response::from_parts(parts, body.boxed())
            }
            Ok(Err(error)) => {
                // Rocket is starting or stopping (its socket refuses), or it
                // dropped the connection.
                debug!(%error, "API backend unavailable");
                let mut r = fault(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the API is not serving right now (starting or stopping); retry",
                );
                r.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                r
            }
            Err(_) => {
                let mut r = fault(
                    StatusCode::REQUEST_TIMEOUT,
                    &format!(
                        "request not received and answered within {} s",
                        self.request_timeout.as_secs()
                    ),
                );
                r.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                r
            }
        }
    }
}

/// Make a client's headers fit for Rocket: hop-by-hop ones removed, and
/// `X-Real-IP` and the front token set by the front alone (`insert` replaces
/// every copy a client sent).
fn vouch(headers: &mut hyper::HeaderMap, peer: SocketAddr, token: &HeaderValue) {
    strip_hop_by_hop(headers);
    headers.insert(
        "x-real-ip",
        HeaderValue::from_str(&peer.ip().to_string()).expect("an IP address is a header value"),
    );
    headers.insert(policy::FRONT_HEADER, token.clone());
}

/// Remove hop-by-hop headers, including those `Connection` names.
fn strip_hop_by_hop(headers: &mut hyper::HeaderMap) {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        // Never let a client make the front drop Host or framing headers.
        .filter(|t| !matches!(t.as_str(), "host" | "content-length" | "transfer-encoding"))
        .collect();
    for name in HOP_BY_HOP
        .iter()
        .copied()
        .chain(named.iter().map(String::as_str))
    {
        headers.remove(name);
    }
}

/// The API's JSON fault body, for the front's own answers.
fn fault(status: StatusCode, message: &str) -> Response<Body> {
    let (_, (_, body)) = super::error::fault(rocket::http::Status::new(status.as_u16()), message);
    let mut r = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clients_real_ip_and_front_token_are_replaced_by_the_fronts() {
        let mut headers = hyper::HeaderMap::new();
        headers.append("x-real-ip", HeaderValue::from_static("10.9.9.9"));
        headers.append("X-Real-IP", HeaderValue::from_static("10.8.8.8"));
        headers.append(policy::FRONT_HEADER, HeaderValue::from_static("guess"));
        headers.append(policy::FRONT_HEADER, HeaderValue::from_static("again"));
        headers.append(header::CONNECTION, HeaderValue::from_static("x-real-ip"));
        let token = HeaderValue::from_static("0123abcd");
        vouch(&mut headers, "192.0.2.4:5555".parse().unwrap(), &token);
        let all = |name| headers.get_all(name).iter().cloned().collect::<Vec<_>>();
        assert_eq!(all("x-real-ip"), [HeaderValue::from_static("192.0.2.4")]);
        assert_eq!(all(policy::FRONT_HEADER), std::slice::from_ref(&token));
        assert!(headers.get(header::CONNECTION).is_none());
    }

    #[test]
    fn only_a_plain_listener_beyond_loopback_is_exposed_in_clear() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        for beyond in ["0.0.0.0", "::", "192.0.2.7", "2001:db8::1"] {
            assert!(exposed_in_clear(ip(beyond), false), "{beyond}");
            assert!(!exposed_in_clear(ip(beyond), true), "{beyond} with TLS");
        }
        for loopback in ["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"] {
            assert!(!exposed_in_clear(ip(loopback), false), "{loopback}");
        }
    }
}
