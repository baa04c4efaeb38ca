//! The Keystone v3 subset on the API listener, in Keystone's own JSON
//! shapes (keystoneauth, openstacksdk and gophercloud parse them): the
//! version document, tokens ([`tokens`]: login, validate, revoke) and, for
//! admins, projects, users, roles, role assignments and application
//! credentials ([`admin`]).
//!
//! Who may call what is decided before routing by `auth::Gate`; handlers
//! here only check what depends on the objects (a token is your own).
//! Secrets enter through request bodies, are hashed or verified on the
//! blocking pool and are never logged or answered (a new application
//! credential's secret is shown once, in its create answer).

pub mod admin;
pub mod tokens;

use std::net::IpAddr;

use rocket::request::{FromRequest, Outcome, Request};
use rocket::serde::json::Json;
use rocket::{get, routes};
use serde_json::{Value, json};

use super::ApiState;
use super::v2::shape::BaseUrl;
use crate::store::identity::{DOMAIN_ID, DOMAIN_NAME};

/// The routes, mounted under `/v3`.
pub fn routes() -> Vec<rocket::Route> {
    let mut r = routes![version];
    r.extend(tokens::routes());
    r.extend(admin::routes());
    r
}

/// The identity API version Ballast speaks (a subset of it).
const VERSION: &str = "v3.14";

/// `GET /v3`: the version document keystoneauth's discovery reads.
#[get("/")]
fn version(base: BaseUrl) -> Json<Value> {
    Json(json!({"version": {
        "id": VERSION,
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": base.join("/v3/")}],
        "media-types": [{
            "base": "application/json",
            "type": "application/vnd.openstack.identity-v3+json"
        }],
    }}))
}

/// Keystone's one domain, as bodies show it.
pub fn domain() -> Value {
    json!({"id": DOMAIN_ID, "name": DOMAIN_NAME})
}

/// Whether a request's `domain` object (`{"id": ...}` or `{"name": ...}`)
/// names the default domain; absent means the default.
pub fn is_default_domain(domain: Option<&Value>) -> bool {
    match domain {
        None | Some(Value::Null) => true,
        Some(d) => {
            d.get("id").and_then(Value::as_str) == Some(DOMAIN_ID)
                || d.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.eq_ignore_ascii_case(DOMAIN_NAME))
        }
    }
}

/// The base URL clients reach Ballast at, for the catalog and links:
/// `[auth] public_url`, else the address the API listens on, else (bound
/// to every address) the `Host` the client used.
pub fn public_url(state: &ApiState, base: &BaseUrl) -> String {
    if let Some(url) = &state.auth.public_url {
        return url.clone();
    }
    match state.policy.bound() {
        Some(addr) if !addr.ip().is_unspecified() => format!("http://{addr}"),
        _ => base.base.clone(),
    }
}

/// The client's address as the API front saw it (`X-Real-IP`, which the
/// front sets and a client cannot).
pub struct ClientAddr(pub Option<IpAddr>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for ClientAddr {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        Outcome::Success(ClientAddr(req.client_ip()))
    }
}

impl std::fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => write!(f, "{ip}"),
            None => f.write_str("unknown"),
        }
    }
}
