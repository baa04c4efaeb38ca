//! Forwarding one request to a member: pick the member (persistence, then
//! the algorithm), borrow one of its kept-alive connections or open one,
//! send the request with the forwarding headers set, and turn the member's
//! answer into the client's response.
//!
//! Before anything is forwarded, a request is admitted as HAProxy would
//! (see [`admit`]): CONNECT is 405, a request that went through this
//! process already is 508 Loop Detected (see `loops`), HTTP/1.1 without a
//! `Host` or with two is 400. hyper itself answers 400 to a request whose
//! `Transfer-Encoding` does not end in `chunked` (RFC 9112 §6.3).
//!
//! Failures are classified by side: no usable member is 503; a member that
//! refuses the connection is retried on another member (nothing was sent, so
//! any method is safe to retry), up to three members, then 502; a member that
//! fails after the request went out is 502 (or a cut response body), and so
//! is an answer that cannot be passed on (both `Content-Length` and
//! `Transfer-Encoding`, a 101 nobody asked for); a client whose request body
//! is malformed or cut short gets 400; a member that does not begin its
//! response within the member response timeout is 504.

use std::net::{IpAddr, SocketAddr};

use bytes::{BufMut, Bytes, BytesMut};
use hyper::body::Incoming;
use hyper::header::Entry;
use hyper::header::{
    ALLOW, CACHE_CONTROL, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderName, HeaderValue,
    SET_COOKIE, TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use hyper::{HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
use tracing::debug;

use super::body::{MemberBody, ProxyBody};
use crate::dataplane::balance::Tried;
use crate::dataplane::loops::{HOP_HEADER, LoopGuard};
use crate::dataplane::member_conns::Sender;
use crate::dataplane::persistence::find_cookie;
use crate::dataplane::runtime::{ListenerShared, MemberLoad, MemberRuntime};
use crate::dataplane::sweep::Activity;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Upper bound on connection attempts for one request (stale kept-alive
/// connections plus distinct members).
const MAX_ATTEMPTS: usize = 6;

/// The client a request comes from, as forwarding needs it.
pub(super) struct Peer {
    pub ip: IpAddr,
    /// The client address as an `X-Forwarded-For` element.
    pub ip_value: HeaderValue,
    /// The client is one of our own member connections: a loop.
    pub looped: bool,
}

impl Peer {
    /// The client at `address` (an IPv4-mapped IPv6 address counts as IPv4);
    /// `looped` when it is one of our own member connections.
    pub fn new(address: SocketAddr, looped: bool) -> Self {
        let ip = address.ip().to_canonical();
        let ip_value =
            HeaderValue::from_str(&ip.to_string()).expect("an IP address is a valid header");
        Self {
            ip,
            ip_value,
            looped,
        }
    }
}

/// The member side of an upgrade the member accepted (101), relayed by the
/// client connection once hyper hands the client socket back.
pub(super) struct MemberUpgrade {
    pub member: hyper::upgrade::OnUpgrade,
    /// The member's load and its connection, held until the relay ends.
    pub _held: (MemberLoad, Sender),
}

/// The client's response, and the member's side of an accepted upgrade.
pub(super) struct Forwarded {
    pub response: Response<ProxyBody>,
    pub upgrade: Option<MemberUpgrade>,
}

impl From<Response<ProxyBody>> for Forwarded {
    fn from(response: Response<ProxyBody>) -> Self {
        Self {
            response,
            upgrade: None,
        }
    }
}

/// Forward `req` from `peer` on a listener to a member of its newest pool;
/// `activity` is the client connection's, which the sweep uses to time the
/// member's answer.
pub(super) async fn proxy(
    shared: &ListenerShared,
    peer: &Peer,
    activity: &Activity,
    mut req: Request<Incoming>,
) -> Forwarded {
    // One config load per request: the newest pool serves it, and the Arc
    // keeps that version alive until the response is built.
    let cfg = shared.config.load_full();
    if let Err(refused) = admit(&mut req, peer.looped, &cfg.host, &shared.ctx.loops) {
        debug!(?refused, "request refused");
        return refused.response().into();
    }
    let Some(pool) = cfg.pool.as_ref() else {
        return unavailable().into();
    };
    let upgrade = is_upgrade(req.headers());
    let cookie_member = pool
        .cookie_name()
        .and_then(|name| find_cookie(req.headers(), name))
        .and_then(|value| pool.member_for_cookie(value));
    prepare_request(
        &mut req,
        peer,
        &cfg.forwarded_proto,
        &cfg.forwarded_port,
        upgrade,
    );
    shared.ctx.loops.mark(req.headers_mut());

    let mut tried = Tried::default();
    for _ in 0..MAX_ATTEMPTS {
        let Some(choice) = pool.choose(peer.ip, cookie_member, &shared.stick, &tried) else {
            return if tried.is_empty() {
                unavailable()
            } else {
                bad_gateway()
            }
            .into();
        };
        let member = &pool.members[choice.index];
        let Some((sender, reused)) = member_connection(member, upgrade).await else {
            tried.push(choice.index);
            if tried.is_full() {
                return bad_gateway().into();
            }
            continue;
        };
        match send(activity, member, (sender, reused), req).await {
            Sent::Answered(resp, sender, load) => {
                return respond(resp, sender, member, load, choice.set_cookie, upgrade);
            }
            Sent::Unsent(back) => {
                req = back;
                if !reused {
                    tried.push(choice.index);
                    if tried.is_full() {
                        return bad_gateway().into();
                    }
                }
            }
            Sent::Failed => return bad_gateway().into(),
            Sent::ClientBody => {
                return closing(static_response(
                    StatusCode::BAD_REQUEST,
                    "the request body is malformed or incomplete\n",
                ))
                .into();
            }
            Sent::TimedOut => return gateway_timeout().into(),
        }
    }
    bad_gateway().into()
}

/// A connection to `member` and whether it was kept alive from an earlier
/// request; `None` when connecting failed (reported to the member's state).
/// An upgrade always gets a new connection: it will not come back.
async fn member_connection(member: &MemberRuntime, upgrade: bool) -> Option<(Sender, bool)> {
    if !upgrade && let Some(sender) = member.conns.checkout().await {
        return Some((sender, true));
    }
    // Boxed: connecting (TCP, maybe TLS) is rare with keep-alive and its
    // future is large; inline it would be moved with every request.
    match Box::pin(member.conns.connect()).await {
        Ok(sender) => Some((sender, false)),
        Err(error) => {
            member.state.report_connect_failure();
            debug!(member_id = %member.id, %error, "member connect failed");
            None
        }
    }
}

/// How sending a request to a member ended.
enum Sent {
    /// The member began its response.
    Answered(Response<Incoming>, Sender, MemberLoad),
    /// The connection closed before the request went out (a kept-alive
    /// connection the member timed out): the request, to send again.
    Unsent(Request<Incoming>),
    /// The member failed after the request went out.
    Failed,
    /// The client's request body failed (malformed, or cut short).
    ClientBody,
    /// The member did not begin its response in time.
    TimedOut,
}

/// Send `req` over `sender` (`reused` when kept alive from an earlier
/// request), counted against `member` while it is served, until the member
/// begins its response or the sweep finds it late.
async fn send(
    activity: &Activity,
    member: &MemberRuntime,
    (mut sender, reused): (Sender, bool),
    req: Request<Incoming>,
) -> Sent {
    let load = MemberLoad::new(&member.state);
    activity.awaiting_member(true);
    let sent = tokio::select! {
        biased;
        sent = sender.try_send_request(req) => Some(sent),
        // The sweep found this request waiting too long (the member
        // connection is dropped: closed).
        _ = activity.member_late.raised() => None,
    };
    activity.awaiting_member(false);
    let Some(sent) = sent else {
        debug!(member_id = %member.id, "member response timed out");
        return Sent::TimedOut;
    };
    match sent {
        Ok(resp) => Sent::Answered(resp, sender, load),
        Err(mut e) => match e.take_message() {
            Some(back) => {
                debug!(member_id = %member.id, error = %e.error(), reused, "request not sent; retrying");
                Sent::Unsent(back)
            }
            // Reading the request body failed: the client's doing.
            None if e.error().is_user() => {
                debug!(member_id = %member.id, error = %e.error(), "client request body failed");
                Sent::ClientBody
            }
            None => {
                debug!(member_id = %member.id, error = %e.error(), "member failed the request");
                Sent::Failed
            }
        },
    }
}

/// The client's response to a member's answer: a 101 on an upgrade request
/// hands the member's side over for relaying; any other answer streams its
/// body (with the persistence cookie when `set_cookie`).
fn respond(
    mut resp: Response<Incoming>,
    sender: Sender,
    member: &MemberRuntime,
    load: MemberLoad,
    set_cookie: bool,
    upgrade: bool,
) -> Forwarded {
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        if !upgrade {
            // A switch nobody asked for cannot be relayed; the member
            // connection (dropped here) is closed.
            debug!(member_id = %member.id, "member switched protocols unasked");
            return bad_gateway().into();
        }
        // hyper sends the 101 and hands the client socket back to the
        // client connection, which relays it to the member's.
        let upgrade = Some(MemberUpgrade {
            member: hyper::upgrade::on(&mut resp),
            _held: (load, sender),
        });
        return Forwarded {
            response: resp.map(|_| ProxyBody::Static(None)),
            upgrade,
        };
    }
    let headers = resp.headers();
    if headers.contains_key(TRANSFER_ENCODING) && headers.contains_key(CONTENT_LENGTH) {
        // Framed two ways (a smuggling vector): refused, and the member
        // connection, whose framing is now in doubt, is closed.
        debug!(member_id = %member.id, "member response has both Content-Length and Transfer-Encoding");
        return bad_gateway().into();
    }
    strip_hop_by_hop(resp.headers_mut());
    if set_cookie && let Some(v) = &member.set_cookie {
        resp.headers_mut().append(SET_COOKIE, v.clone());
    }
    let conns = member.conns.clone();
    resp.map(|inner| ProxyBody::Member(MemberBody::new(inner, sender, conns, load)))
        .into()
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(UPGRADE)
        && headers
            .get_all(CONNECTION)
            .iter()
            .any(|v| has_token(v.as_bytes(), b"upgrade"))
}

fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|b| *b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// Refuse what must not reach a member and complete what may, as HAProxy
/// does: CONNECT is 405; a request carrying our hop token, or coming from
/// one of our own member connections (`looped`), is 508;
/// HTTP/1.1 without `Host`, or any request with more than one, is 400;
/// HTTP/1.0 without one gets `host` (the listener's address); an
/// absolute-form target sets `Host` from its authority and goes on in
/// origin-form. One pass over the headers.
fn admit(
    req: &mut Request<Incoming>,
    looped: bool,
    host: &HeaderValue,
    loops: &LoopGuard,
) -> Result<(), Refused> {
    if req.method() == Method::CONNECT {
        return Err(Refused::Connect);
    }
    let (mut hosts, mut looped) = (0usize, looped);
    for (name, value) in req.headers() {
        if name == HOST {
            hosts += 1;
        } else if name == HOP_HEADER {
            looped |= loops.carries_token(value);
        }
    }
    if looped {
        return Err(Refused::Loop);
    }
    match hosts {
        1 => {}
        0 if req.version() < Version::HTTP_11 => {
            req.headers_mut().insert(HOST, host.clone());
        }
        0 => return Err(Refused::NoHost),
        _ => return Err(Refused::TwoHosts),
    }
    if let Some(authority) = req.uri().authority() {
        // RFC 9112 §3.2.2: the target's authority wins over Host.
        let value = match authority.port_u16() {
            Some(port) => format!("{}:{port}", authority.host()),
            None => authority.host().to_string(),
        };
        let value = HeaderValue::from_str(&value).map_err(|_| Refused::BadTarget)?;
        req.headers_mut().insert(HOST, value);
        let origin = req
            .uri()
            .path_and_query()
            .map_or_else(|| Uri::from_static("/"), |pq| Uri::from(pq.clone()));
        *req.uri_mut() = origin;
    }
    Ok(())
}

/// Why [`admit`] refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refused {
    Connect,
    Loop,
    NoHost,
    TwoHosts,
    BadTarget,
}

impl Refused {
    /// The client's answer; the connection closes after it (its state is
    /// in doubt: an unread body, a loop).
    fn response(self) -> Response<ProxyBody> {
        let (status, why) = match self {
            Refused::Connect => (StatusCode::METHOD_NOT_ALLOWED, "CONNECT is not supported\n"),
            Refused::Loop => (
                StatusCode::LOOP_DETECTED,
                "the request came back to this load balancer (a member leads back to it)\n",
            ),
            Refused::NoHost => (StatusCode::BAD_REQUEST, "a Host header is required\n"),
            Refused::TwoHosts => (StatusCode::BAD_REQUEST, "more than one Host header\n"),
            Refused::BadTarget => (
                StatusCode::BAD_REQUEST,
                "the request target's host is invalid\n",
            ),
        };
        let mut resp = closing(static_response(status, why));
        if self == Refused::Connect {
            resp.headers_mut().insert(
                ALLOW,
                HeaderValue::from_static("GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS"),
            );
        }
        resp
    }
}

/// Headers `Connection` may never remove: the target (`Host`) and the body's
/// framing.
fn end_to_end(name: &HeaderName) -> bool {
    name == HOST || name == CONTENT_LENGTH || name == TRANSFER_ENCODING
}

/// Remove hop-by-hop headers, including those the `Connection` header names
/// (but never `Host` or the body's framing).
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none: one pass over the names (comparisons of
    // well-known names are cheap) instead of five hashed lookups.
    if !headers.keys().any(|k| {
        k == CONNECTION || k == KEEP_ALIVE || k == PROXY_CONNECTION || k == TE || k == TRAILER
    }) {
        return;
    }
    if headers.contains_key(CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(CONNECTION)
            .iter()
            .flat_map(|v| v.as_bytes().split(|b| *b == b','))
            .filter_map(|t| HeaderName::from_bytes(t.trim_ascii()).ok())
            .filter(|name| !end_to_end(name))
            .collect();
        for name in named {
            headers.remove(name);
        }
        headers.remove(CONNECTION);
    }
    headers.remove(KEEP_ALIVE);
    headers.remove(PROXY_CONNECTION);
    headers.remove(TE);
    headers.remove(TRAILER);
}

fn prepare_request(
    req: &mut Request<Incoming>,
    peer: &Peer,
    proto: &HeaderValue,
    port: &HeaderValue,
    upgrade: bool,
) {
    // Members always get HTTP/1.1 so their connections stay reusable.
    *req.version_mut() = Version::HTTP_11;
    let headers = req.headers_mut();
    if upgrade {
        // Keep Connection/Upgrade: the member must see the upgrade request.
        headers.remove(KEEP_ALIVE);
        headers.remove(PROXY_CONNECTION);
    } else {
        strip_hop_by_hop(headers);
    }
    // One lookup for the common case (no X-Forwarded-For yet).
    match headers.entry(X_FORWARDED_FOR) {
        Entry::Vacant(slot) => {
            slot.insert(peer.ip_value.clone());
        }
        Entry::Occupied(mut found) => {
            let mut joined = BytesMut::new();
            for v in found.iter() {
                if !joined.is_empty() {
                    joined.put_slice(b", ");
                }
                joined.put_slice(v.as_bytes());
            }
            joined.put_slice(b", ");
            joined.put_slice(peer.ip_value.as_bytes());
            let xff = HeaderValue::from_maybe_shared(joined.freeze())
                .unwrap_or_else(|_| peer.ip_value.clone());
            // Replaces every earlier value with the one joined list.
            found.insert(xff);
        }
    }
    headers.insert(X_FORWARDED_PROTO, proto.clone());
    headers.insert(X_FORWARDED_PORT, port.clone());
}

/// The member did not answer in time. The client connection closes after
/// this response, as HAProxy's does.
fn gateway_timeout() -> Response<ProxyBody> {
    closing(static_response(
        StatusCode::GATEWAY_TIMEOUT,
        "the member did not answer in time\n",
    ))
}

/// `resp` with `Connection: close`: after a refused request the client
/// connection's state is in doubt (an unread body, a loop).
fn closing(mut resp: Response<ProxyBody>) -> Response<ProxyBody> {
    resp.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    resp
}

fn unavailable() -> Response<ProxyBody> {
    static_response(StatusCode::SERVICE_UNAVAILABLE, "no member is available\n")
}

fn bad_gateway() -> Response<ProxyBody> {
    static_response(StatusCode::BAD_GATEWAY, "the member failed\n")
}

fn static_response(status: StatusCode, body: &'static str) -> Response<ProxyBody> {
    let mut resp = Response::new(ProxyBody::Static(Some(Bytes::from_static(body.as_bytes()))));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_named_headers_are_stripped() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive, X-Secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        h.insert(KEEP_ALIVE, HeaderValue::from_static("timeout=5"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn each_hop_by_hop_header_alone_is_stripped_and_others_kept() {
        for name in [CONNECTION, KEEP_ALIVE, PROXY_CONNECTION, TE, TRAILER] {
            let mut h = HeaderMap::new();
            h.insert("x-kept", HeaderValue::from_static("1"));
            h.insert(name.clone(), HeaderValue::from_static("x"));
            strip_hop_by_hop(&mut h);
            assert_eq!(h.len(), 1, "{name} was not stripped");
            assert!(h.contains_key("x-kept"));
        }
        let mut h = HeaderMap::new();
        h.insert("x-kept", HeaderValue::from_static("1"));
        h.insert(hyper::header::HOST, HeaderValue::from_static("a"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn connection_never_strips_host_or_the_framing() {
        let mut h = HeaderMap::new();
        h.insert(
            CONNECTION,
            HeaderValue::from_static("Host, Content-Length, Transfer-Encoding, x-gone"),
        );
        h.insert(HOST, HeaderValue::from_static("a"));
        h.insert(CONTENT_LENGTH, HeaderValue::from_static("1"));
        h.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        h.insert("x-gone", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        let mut left: Vec<_> = h.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-length", "host", "transfer-encoding"]);
    }

    #[test]
    fn upgrade_needs_both_headers() {
        let mut h = HeaderMap::new();
        h.insert(UPGRADE, HeaderValue::from_static("websocket"));
        assert!(!is_upgrade(&h));
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        assert!(is_upgrade(&h));
    }
}
