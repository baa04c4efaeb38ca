//! What the API accepts from whom, decided once for every route, present and
//! future: the `Host` a request may name (DNS rebinding), the media type of a
//! write (a web page's `text/plain` or form POST), CORS for configured origins
//! only, and the addresses a member or listener may never take (a loop back
//! into Ballast, or nonsense).
//!
//! Rocket itself listens on a loopback port behind the front (`api::front`),
//! which bounds slow clients and vouches for `X-Real-IP`; a request that
//! reaches Rocket without the front's per-process token came around it (a
//! local process on Rocket's port) and is refused first, whatever it asks.
//!
//! The request checks run in the [`Policy`] fairing, before routing: a refused
//! request is rerouted to one internal route that answers the fault, so no
//! handler runs and nothing changes. This module never reads the store except
//! through the two address questions it asks in the write's transaction.

use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::uri::Origin;
use rocket::http::{Header, Method, Status};
use rocket::{Data, Request, Response, get, routes};

use super::error::{ApiError, ApiResult};
use crate::config::ApiConfig;
use crate::store;

/// The header carrying the front's token to Rocket.
pub const FRONT_HEADER: &str = "x-ballast-front";

/// The API's access policy, built from `[api]`.
#[derive(Debug)]
pub struct ApiPolicy {
    /// The value of [`FRONT_HEADER`] on every request the front passes on:
    /// random per process, so only the front knows it.
    front_token: String,
    /// Where the API listens; set once the socket is bound (port 0 resolves
    /// then).
    bound: OnceLock<SocketAddr>,
    /// `[api] public_names`, lower-cased, without a trailing dot.
    names: Vec<String>,
    /// The IP literals among `public_names`: addresses that are ours.
    addresses: Vec<IpAddr>,
    /// `[api] cors_origins`, exactly as a browser sends `Origin`.
    cors_origins: Vec<String>,
    /// `[api] reserved_ips`.
    reserved_ips: Vec<IpAddr>,
}

impl ApiPolicy {
    /// The policy of `[api]`; the bound address follows with [`Self::bound_to`].
    pub fn new(config: &ApiConfig) -> Self {
        let names: Vec<String> = config
            .public_names
            .iter()
            .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
            .collect();
        let addresses = names
            .iter()
            .filter_map(|n| n.trim_matches(['[', ']']).parse::<IpAddr>().ok())
            .map(|ip| ip.to_canonical())
            .collect();
        Self {
            // 244 random bits from the system generator (uuid's v4).
            front_token: format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            ),
            bound: OnceLock::new(),
            names,
            addresses,
            cors_origins: config
                .cors_origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_string())
                .collect(),
            reserved_ips: config
                .reserved_ips
                .iter()
                .map(|ip| ip.to_canonical())
                .collect(),
        }
    }

    /// The token the front adds to every request it passes to Rocket.
    pub fn front_token(&self) -> &str {
        &self.front_token
    }

    /// Whether `value` (of [`FRONT_HEADER`]) is the front's token; compared
    /// in constant time, as a local process may probe Rocket's port.
    fn is_front_token(&self, value: Option<&str>) -> bool {
        let Some(value) = value else {
            return false;
        };
        let (a, b) = (value.as_bytes(), self.front_token.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    /// Record where the API listens (the first call wins: it is bound once).
    pub fn bound_to(&self, addr: SocketAddr) {
        // A second bind of the same API cannot happen; keeping the first is
        // the invariant either way.
        let _ = self.bound.set(addr);
    }

    /// Where the API listens, once bound.
    pub fn bound(&self) -> Option<SocketAddr> {
        self.bound.get().copied()
    }

    /// Whether `host` (a `Host` header value) names this API. The port is not
    /// compared: a rebinding page reaches the right port through its own name,
    /// and behind a reverse proxy the client's port is not ours.
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = host_part(host).trim_end_matches('.').to_ascii_lowercase();
        if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
            let ip = ip.to_canonical();
            return ip.is_loopback()
                || self.addresses.contains(&ip)
                || self
                    .bound
                    .get()
                    .is_some_and(|b| b.ip().is_unspecified() || b.ip().to_canonical() == ip);
        }
        host == "localhost" || self.names.contains(&host)
    }

    /// Whether `ip` is one of the API's own addresses: the bound one, or when
    /// bound to every address, a loopback or configured one (the interface
    /// addresses are not enumerated).
    fn is_api_address(&self, ip: IpAddr) -> bool {
        let Some(bound) = self.bound.get() else {
            return false;
        };
        let b = bound.ip().to_canonical();
        ip == b || (b.is_unspecified() && (ip.is_loopback() || self.addresses.contains(&ip)))
    }

    /// Refuse a member address that is nonsense or would loop: unspecified,
    /// broadcast or multicast, reserved, the API itself, or any listener of
    /// Ballast (`field` names the address field in the fault).
    pub fn check_member(
        &self,
        conn: &rusqlite::Connection,
        field: &str,
        ip: IpAddr,
        port: u16,
    ) -> ApiResult<()> {
        let ip = ip.to_canonical();
        let why = if ip.is_unspecified() {
            Some("must not be an unspecified address".to_string())
        } else if ip.is_multicast() {
            Some("must not be a multicast address".to_string())
        } else if matches!(ip, IpAddr::V4(v4) if v4.is_broadcast()) {
            Some("must not be the broadcast address".to_string())
        } else if self.reserved_ips.contains(&ip) {
            Some(format!("{ip} is reserved ([api] reserved_ips)"))
        } else if self.bound.get().is_some_and(|b| b.port() == port) && self.is_api_address(ip) {
            Some(format!("{ip}:{port} is Ballast's own API"))
        } else if store::listeners::serves_address(conn, ip, port)? {
            Some(format!(
                "{ip}:{port} is a listener of Ballast; a member there would loop"
            ))
        } else {
            None
        };
        why.map_or(Ok(()), |why| Err(ApiError::field(field, why)))
    }

    /// Refuse a listener on `vip:port` when a member points there: the
    /// listener would receive its own traffic.
    pub fn check_listener(conn: &rusqlite::Connection, vip: IpAddr, port: u16) -> ApiResult<()> {
        if store::members::points_at(conn, vip, port)? {
            return Err(ApiError::field(
                "protocol_port",
                format!("a member points at {vip}:{port}; a listener there would loop"),
            ));
        }
        Ok(())
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        self.cors_origins.iter().any(|o| o == origin)
    }

    /// What to do with a request before routing.
    fn judge(&self, req: &Request<'_>) -> Option<Intercepted> {
        let headers = req.headers();
        if !self.is_front_token(headers.get_one(FRONT_HEADER)) {
            return Some(Intercepted::Refused(ApiError::new(
                Status::Forbidden,
                "requests reach the API through its public socket only",
            )));
        }
        // HTTP/1.0 may omit Host; a browser never does.
        if let Some(host) = headers.get_one("Host")
            && !self.host_allowed(host)
        {
            return Some(Intercepted::Refused(ApiError::bad_request(format!(
                "Host: {host} is not a name of this API (add it to [api] public_names)"
            ))));
        }
        if req.method() == Method::Options
            && headers.contains("Access-Control-Request-Method")
            && headers
                .get_one("Origin")
                .is_some_and(|o| self.origin_allowed(o))
        {
            return Some(Intercepted::Preflight);
        }
        let write = matches!(
            req.method(),
            Method::Post | Method::Put | Method::Patch | Method::Delete
        );
        let has_body = headers
            .get_one("Content-Length")
            .is_some_and(|l| l.trim() != "0")
            || headers.contains("Transfer-Encoding")
            || headers.contains("Content-Type");
        if write && has_body && !req.content_type().is_some_and(|ct| ct.is_json()) {
            let given = headers.get_one("Content-Type").unwrap_or("none");
            return Some(Intercepted::Refused(ApiError::new(
                Status::UnsupportedMediaType,
                format!("Content-Type: a request body must be application/json (got {given})"),
            )));
        }
        None
    }
}

/// The host of a `Host` value, without its port.
fn host_part(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => h,
        _ => host,
    }
}

/// A request the fairing answers itself.
enum Intercepted {
    Refused(ApiError),
    Preflight,
}

/// Request-local verdict of the fairing (None: routed normally).
struct Verdict(std::sync::Mutex<Option<Intercepted>>);

/// The internal route refused requests are rerouted to. Asked for directly,
/// it answers 404: only the fairing's verdict gives it something to say.
const INTERCEPTED: &str = "/__ballast_intercepted";

/// The fairing applying the [`ApiPolicy`] managed by Rocket.
pub struct Policy;

#[rocket::async_trait]
impl Fairing for Policy {
    fn info(&self) -> Info {
        Info {
            name: "API access policy",
            kind: Kind::Request | Kind::Response,
        }
    }

    async fn on_request(&self, req: &mut Request<'_>, _: &mut Data<'_>) {
        let Some(policy) = req.rocket().state::<std::sync::Arc<ApiPolicy>>() else {
            return;
        };
        let verdict = policy.judge(req);
        let intercepted = verdict.is_some();
        req.local_cache(|| Verdict(std::sync::Mutex::new(verdict)));
        if intercepted {
            req.set_method(Method::Get);
            req.set_uri(Origin::path_only(INTERCEPTED));
        }
    }

    async fn on_response<'r>(&self, req: &'r Request<'_>, res: &mut Response<'r>) {
        let Some(policy) = req.rocket().state::<std::sync::Arc<ApiPolicy>>() else {
            return;
        };
        let Some(origin) = req.headers().get_one("Origin") else {
            return;
        };
        if !policy.origin_allowed(origin) {
            return;
        }
        res.set_header(Header::new(
            "Access-Control-Allow-Origin",
            origin.to_string(),
        ));
        res.set_header(Header::new("Vary", "Origin"));
        res.set_header(Header::new(
            "Access-Control-Expose-Headers",
            "X-Request-Id, X-Subject-Token",
        ));
        if req.method() == Method::Get && req.uri().path().as_str() == INTERCEPTED {
            res.set_header(Header::new(
                "Access-Control-Allow-Methods",
                "GET, POST, PUT, PATCH, DELETE",
            ));
            res.set_header(Header::new(
                "Access-Control-Allow-Headers",
                "Content-Type, X-Auth-Token, X-Subject-Token",
            ));
            res.set_header(Header::new("Access-Control-Max-Age", "600"));
        }
    }
}

/// Answer `req` with `error` instead of routing it: for fairings that run
/// after [`Policy`] (the authentication gate), so no handler runs.
pub fn refuse(req: &mut Request<'_>, error: ApiError) {
    let verdict = req.local_cache(|| Verdict(std::sync::Mutex::new(None)));
    *crate::sync::lock(&verdict.0) = Some(Intercepted::Refused(error));
    req.set_method(Method::Get);
    req.set_uri(Origin::path_only(INTERCEPTED));
}

/// Whether `req` was already refused (rerouted to the internal route).
pub fn is_intercepted(req: &Request<'_>) -> bool {
    req.uri().path().as_str() == INTERCEPTED
}

/// The fairing's verdict on this request, taken for the internal route.
struct Taken(Option<Intercepted>);

#[rocket::async_trait]
impl<'r> rocket::request::FromRequest<'r> for Taken {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> rocket::request::Outcome<Self, Self::Error> {
        let verdict = req.local_cache(|| Verdict(std::sync::Mutex::new(None)));
        rocket::request::Outcome::Success(Taken(crate::sync::lock(&verdict.0).take()))
    }
}

/// The answer of an intercepted request: its fault, or 204 for a preflight.
#[get("/__ballast_intercepted")]
fn intercepted(verdict: Taken) -> ApiResult<Status> {
    match verdict.0 {
        Some(Intercepted::Refused(e)) => Err(e),
        Some(Intercepted::Preflight) => Ok(Status::NoContent),
        None => Err(ApiError::not_found("resource", INTERCEPTED)),
    }
}

/// The internal route of the fairing; mounted at `/`.
pub fn routes() -> Vec<rocket::Route> {
    routes![intercepted]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(address: &str, names: &[&str]) -> ApiPolicy {
        let config = ApiConfig {
            public_names: names.iter().map(|n| n.to_string()).collect(),
            ..ApiConfig::default()
        };
        let p = ApiPolicy::new(&config);
        p.bound_to(SocketAddr::new(address.parse().unwrap(), 9876));
        p
    }

    #[test]
    fn loopback_and_the_bound_address_are_allowed_hosts_with_or_without_port() {
        let p = policy("10.1.2.3", &[]);
        for host in [
            "127.0.0.1:9876",
            "127.0.0.1",
            "localhost:9876",
            "LOCALHOST.",
            "[::1]:9876",
            "10.1.2.3:9876",
        ] {
            assert!(p.host_allowed(host), "{host}");
        }
        for host in ["evil.example", "evil.example:9876", "10.1.2.4", "[fe80::1]"] {
            assert!(!p.host_allowed(host), "{host}");
        }
    }

    #[test]
    fn only_the_fronts_own_token_passes() {
        let p = policy("127.0.0.1", &[]);
        let token = p.front_token().to_string();
        assert_eq!(token.len(), 64);
        assert!(p.is_front_token(Some(&token)));
        assert!(!p.is_front_token(None));
        assert!(!p.is_front_token(Some("")));
        assert!(!p.is_front_token(Some(&token[1..])));
        assert!(!p.is_front_token(Some(&format!("{token}0"))));
        assert_ne!(
            token,
            policy("127.0.0.1", &[]).front_token(),
            "random for each policy"
        );
    }

    #[test]
    fn an_unspecified_bind_accepts_any_ip_literal_but_only_configured_names() {
        let p = policy("0.0.0.0", &["Ballast.Example"]);
        assert!(p.host_allowed("192.0.2.7:9876"));
        assert!(p.host_allowed("[2001:db8::1]"));
        assert!(p.host_allowed("ballast.example:9876"));
        assert!(!p.host_allowed("rebind.evil.example:9876"));
    }
}
