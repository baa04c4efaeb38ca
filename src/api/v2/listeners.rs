//! `lbaas/listeners` (flat: the load balancer is in the body) and their
//! `/stats`, as Octavia's `controllers/listener.py`.
//!
//! Protocols: Octavia's `HTTPS` is TLS passed through (Ballast's HTTPS
//! listener without a certificate) and `TERMINATED_HTTPS` is TLS ended here
//! (Ballast's HTTPS listener with one); the certificate reference is a
//! Ballast certificate id, or any URL ending in one.

use crate::api::auth::Api;
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{delete, get, post, put, routes};
use serde::Deserialize;
use serde_json::{Value, json};

use super::list::{self, ListSpec, QueryPairs, Row};
use super::shape::{self, BaseUrl, Int};
use crate::api::error::{ApiError, ApiResult};
use crate::api::guards::{Body, Patch, path_id};
use crate::api::{lock_update, validate};
use crate::model::{
    CertificateId, ListenerId, LoadBalancerId, OperatingStatus, PoolId, Protocol,
    ProvisioningStatus,
};
use crate::store::{self, listeners::Listener, load_balancers::LoadBalancer};

/// The routes, mounted under `/v2` and `/v2.0`.
pub fn routes() -> Vec<rocket::Route> {
    routes![index, show, create, update, remove, stats]
}

const SPEC: ListSpec = ListSpec {
    plural: "listeners",
    filters: &[
        "id",
        "name",
        "description",
        "provisioning_status",
        "operating_status",
        "admin_state_up",
        "protocol",
        "protocol_port",
        "connection_limit",
        "default_tls_container_ref",
        "project_id",
        "default_pool_id",
        "loadbalancer_id",
        "created_at",
        "updated_at",
    ],
};

/// Options of Octavia's listener Ballast does not implement.
const UNSUPPORTED: &[(&str, Option<&str>)] = &[
    ("sni_container_refs", None),
    ("default_pool", None),
    ("l7policies", None),
    ("insert_headers", None),
    ("timeout_client_data", None),
    ("timeout_member_connect", None),
    ("timeout_member_data", None),
    ("timeout_tcp_inspect", None),
    ("client_ca_tls_container_ref", None),
    ("client_authentication", Some("NONE")),
    ("client_crl_container_ref", None),
    ("allowed_cidrs", None),
    ("tls_ciphers", None),
    ("tls_versions", None),
    ("alpn_protocols", None),
    ("hsts_max_age", None),
    ("hsts_include_subdomains", None),
    ("hsts_preload", None),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateListener {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    admin_state_up: Option<bool>,
    protocol: Option<String>,
    protocol_port: Option<Int>,
    #[serde(default)]
    connection_limit: Option<Int>,
    #[serde(default)]
    default_tls_container_ref: Option<String>,
    #[serde(default)]
    default_pool_id: Option<String>,
    #[serde(default)]
    project_id: Option<String>,
    loadbalancer_id: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateListener {
    #[serde(default)]
    name: Patch<String>,
    #[serde(default)]
    description: Patch<String>,
    #[serde(default)]
    admin_state_up: Option<bool>,
    #[serde(default)]
    connection_limit: Patch<Int>,
    #[serde(default)]
    default_tls_container_ref: Patch<String>,
    #[serde(default)]
    default_pool_id: Patch<String>,
    #[serde(default)]
    tags: Patch<Vec<String>>,
}

/// Octavia's protocol of a listener.
pub fn protocol_name(l: &Listener) -> &'static str {
    match (l.protocol, l.default_tls_container_id) {
        (Protocol::Https, Some(_)) => "TERMINATED_HTTPS",
        (p, _) => p.as_str(),
    }
}

/// Ballast's protocol and whether TLS ends here, for Octavia's name.
fn parse_protocol(raw: &str) -> ApiResult<(Protocol, bool)> {
    match raw {
        "TCP" => Ok((Protocol::Tcp, false)),
        "HTTP" => Ok((Protocol::Http, false)),
        "HTTPS" => Ok((Protocol::Https, false)),
        "TERMINATED_HTTPS" => Ok((Protocol::Https, true)),
        "UDP" | "SCTP" | "PROMETHEUS" => Err(shape::unsupported(format!("protocol {raw}"))),
        other => Err(ApiError::field(
            "protocol",
            format!("{other:?} must be one of TCP, HTTP, HTTPS, TERMINATED_HTTPS"),
        )),
    }
}

/// A certificate reference: a Ballast certificate id, or a URL ending in one.
fn certificate_ref(raw: &str) -> ApiResult<CertificateId> {
    raw.trim_end_matches('/')
        .rsplit('/')
        .next()
        .and_then(|last| last.parse().ok())
        .ok_or_else(|| {
            ApiError::field(
                "default_tls_container_ref",
                "must be a certificate id (or a URL ending in one)",
            )
        })
}

/// The listener `id`, under a load balancer v2 can see, or 404.
pub fn find(conn: &rusqlite::Connection, id: ListenerId) -> ApiResult<Listener> {
    lookup(conn, id)?.ok_or_else(|| ApiError::not_found("Listener", id))
}

/// The listener `id` if v2 can see its load balancer; `None` when either is
/// absent, a store failure as the error.
pub fn lookup(conn: &rusqlite::Connection, id: ListenerId) -> ApiResult<Option<Listener>> {
    let Some(l) = store::listeners::find(conn, id)? else {
        return Ok(None);
    };
    Ok(super::load_balancers::lookup(conn, l.load_balancer_id)?.map(|_| l))
}

/// The v2 body of a listener; `project_id` is its load balancer's.
pub fn body(conn: &rusqlite::Connection, l: &Listener) -> ApiResult<Value> {
    let lb = store::load_balancers::get(conn, l.load_balancer_id)?;
    let pool = store::pools::of_listener(conn, l.id)?;
    Ok(json!({
        "id": l.id.to_string(),
        "name": l.name.clone().unwrap_or_default(),
        "description": l.description.clone().unwrap_or_default(),
        "provisioning_status": l.provisioning_status,
        "operating_status": l.operating_status,
        "admin_state_up": l.enabled,
        "protocol": protocol_name(l),
        "protocol_port": l.protocol_port,
        "connection_limit": l.connection_limit.map_or(-1, i64::from),
        "default_tls_container_ref": l.default_tls_container_id.map(|c| c.to_string()),
        "sni_container_refs": [],
        "project_id": lb.and_then(|lb| lb.tenant_id),
        "default_pool_id": pool.map(|p| p.id.to_string()),
        "l7policies": [],
        "insert_headers": {},
        "created_at": shape::timestamp(l.created_at),
        "updated_at": shape::timestamp_opt(l.updated_at),
        "loadbalancers": shape::id_list([l.load_balancer_id]),
        "timeout_client_data": null,
        "timeout_member_connect": null,
        "timeout_member_data": null,
        "timeout_tcp_inspect": null,
        "tags": l.tags,
        "client_ca_tls_container_ref": null,
        "client_authentication": "NONE",
        "client_crl_container_ref": null,
        "allowed_cidrs": null,
        "tls_ciphers": null,
        "tls_versions": null,
        "alpn_protocols": null,
        "hsts_max_age": null,
        "hsts_include_subdomains": false,
        "hsts_preload": false,
    }))
}

fn respond(conn: &rusqlite::Connection, l: &Listener, q: &QueryPairs) -> ApiResult<Value> {
    let Value::Object(mut b) = body(conn, l)? else {
        unreachable!("body() builds an object");
    };
    list::select_fields(&mut b, q);
    Ok(json!({ "listener": b }))
}

/// A TLS-ending listener needs a certificate of its load balancer's project
/// (see [`crate::api::lookup::listener_certificate`]); any other must
/// not have one.
fn check_tls(
    conn: &rusqlite::Connection,
    lb: &LoadBalancer,
    terminates: bool,
    cert: Option<CertificateId>,
) -> ApiResult<()> {
    match (terminates, cert) {
        (true, None) => Err(ApiError::bad_request(
            "Validation failure: An SSL container reference is required for \
             TERMINATED_HTTPS listeners.",
        )),
        (false, Some(_)) => Err(ApiError::field(
            "default_tls_container_ref",
            "is only allowed on TERMINATED_HTTPS listeners",
        )),
        (true, Some(c)) => {
            crate::api::lookup::listener_certificate(conn, lb, c, "default_tls_container_ref")
        }
        (false, None) => Ok(()),
    }
}

/// Make the standalone pool `pool` of load balancer `lb` the default pool of
/// `listener` (Octavia: a pool of the same load balancer, used by no other
/// listener, with a protocol the listener can carry).
pub fn attach_pool(tx: &rusqlite::Connection, listener: &Listener, pool: PoolId) -> ApiResult<()> {
    let mut p = store::pools::find(tx, pool)?
        .filter(|p| p.load_balancer_id == listener.load_balancer_id)
        .ok_or_else(|| ApiError::not_found("Pool", pool))?;
    if p.listener_id.is_some_and(|l| l != listener.id) {
        return Err(ApiError::conflict(format!(
            "Pool {pool} is already in use by another listener"
        )));
    }
    super::pools::check_protocol(listener, p.protocol)?;
    p.listener_id = Some(listener.id);
    store::pools::update(tx, &p)?;
    Ok(())
}

#[get("/lbaas/listeners")]
async fn index(state: Api<'_>, q: QueryPairs, base: BaseUrl) -> ApiResult<Json<Value>> {
    let url = base.url();
    state
        .read(move |conn| {
            let mut rows = Vec::new();
            for l in store::listeners::list_all(conn)? {
                if super::load_balancers::lookup(conn, l.load_balancer_id)?.is_some() {
                    rows.push(
                        Row::new(body(conn, &l)?)
                            .with_hidden("loadbalancer_id", l.load_balancer_id.to_string()),
                    );
                }
            }
            Ok(Json(list::respond(rows, &q, &SPEC, &url)?))
        })
        .await
}

#[get("/lbaas/listeners/<id>")]
async fn show(state: Api<'_>, id: &str, q: QueryPairs) -> ApiResult<Json<Value>> {
    let id: ListenerId = path_id("Listener", id)?;
    state
        .read(move |conn| Ok(Json(respond(conn, &find(conn, id)?, &q)?)))
        .await
}

#[get("/lbaas/listeners/<id>/stats")]
async fn stats(state: Api<'_>, id: &str) -> ApiResult<Json<Value>> {
    let id: ListenerId = path_id("Listener", id)?;
    let base = state
        .read(move |conn| {
            find(conn, id)?;
            Ok(store::stats::get(conn, id)?)
        })
        .await?;
    let s = state.current_stats(id, base);
    Ok(Json(super::load_balancers::stats_body(s)))
}

#[post("/lbaas/listeners", data = "<body>")]
async fn create(state: Api<'_>, body: Body<Value>) -> ApiResult<(Status, Json<Value>)> {
    let req: CreateListener = shape::parse_wrapped(body.into_inner()?, "listener", UNSUPPORTED)?;
    let lb: LoadBalancerId = validate::id("loadbalancer_id", req.loadbalancer_id)?
        .ok_or_else(|| ApiError::field("loadbalancer_id", "is required"))?;
    let id: Option<ListenerId> = validate::id("id", req.id)?;
    let (protocol, terminates) = parse_protocol(
        req.protocol
            .as_deref()
            .ok_or_else(|| ApiError::field("protocol", "is required"))?,
    )?;
    let port = validate::port(
        "protocol_port",
        req.protocol_port
            .ok_or_else(|| ApiError::field("protocol_port", "is required"))?
            .0,
    )?;
    let connection_limit = validate::connection_limit(req.connection_limit.map(|c| c.0))?;
    let cert = req
        .default_tls_container_ref
        .as_deref()
        .map(certificate_ref)
        .transpose()?;
    let default_pool: Option<PoolId> = validate::id("default_pool_id", req.default_pool_id)?;
    let name = validate::text("name", req.name)?;
    let description = validate::text("description", req.description)?;
    let tags = shape::tags(req.tags)?;
    let out = state
        .write(move |tx| {
            let lbo = super::load_balancers::find(tx, lb)?;
            if req.project_id.is_some() && req.project_id != lbo.tenant_id {
                return Err(ApiError::field(
                    "project_id",
                    "must be the load balancer's project",
                ));
            }
            check_tls(tx, &lbo, terminates, cert)?;
            crate::api::policy::ApiPolicy::check_listener(tx, lbo.vip.ip_address, port)?;
            let id = id.unwrap_or_default();
            lock_update(
                tx,
                lb,
                crate::model::JobKind::CreateListener,
                Some(id.to_string()),
            )?;
            if store::listeners::id_taken(tx, id)? {
                return Err(ApiError::conflict(format!("Listener {id} already exists")));
            }
            if store::listeners::port_taken(tx, lb, port, None)? {
                return Err(ApiError::conflict(format!(
                    "Another Listener on this Load Balancer is already using protocol_port {port}"
                )));
            }
            let listener = Listener {
                id,
                load_balancer_id: lb,
                protocol,
                protocol_port: port,
                connection_limit,
                default_tls_container_id: cert,
                tenant_id: lbo.tenant_id.clone(),
                name,
                description,
                enabled: req.admin_state_up.unwrap_or(true),
                provisioning_status: ProvisioningStatus::PendingCreate,
                operating_status: OperatingStatus::Offline,
                tags,
                created_at: store::now(),
                updated_at: None,
            };
            store::listeners::insert(tx, &listener)?;
            if let Some(pool) = default_pool {
                attach_pool(tx, &listener, pool)?;
            }
            respond(tx, &listener, &QueryPairs::default())
        })
        .await?;
    Ok((Status::Created, Json(out)))
}

#[put("/lbaas/listeners/<id>", data = "<body>")]
async fn update(state: Api<'_>, id: &str, body: Body<Value>) -> ApiResult<Json<Value>> {
    let id: ListenerId = path_id("Listener", id)?;
    let req: UpdateListener = shape::parse_wrapped(body.into_inner()?, "listener", UNSUPPORTED)?;
    let connection_limit = match req.connection_limit {
        Patch::Absent => None,
        Patch::Null => Some(None),
        Patch::Value(v) => Some(validate::connection_limit(Some(v.0))?),
    };
    let cert = match req.default_tls_container_ref {
        Patch::Absent => Patch::Absent,
        Patch::Null => Patch::Null,
        Patch::Value(v) => Patch::Value(certificate_ref(&v)?),
    };
    let default_pool: Patch<PoolId> = match req.default_pool_id {
        Patch::Absent => Patch::Absent,
        Patch::Null => Patch::Null,
        Patch::Value(v) => Patch::Value(path_id::<PoolId>("Pool", &v)?),
    };
    let name = req.name.map_text("name")?;
    let description = req.description.map_text("description")?;
    let tags = shape::tags_update(req.tags)?;
    let out = state
        .write(move |tx| {
            let mut l = find(tx, id)?;
            let terminates = l.default_tls_container_id.is_some();
            if let Some(c) = connection_limit {
                l.connection_limit = c;
            }
            if terminates || cert == Patch::Null {
                // The protocol cannot change: a TERMINATED_HTTPS listener
                // keeps a certificate, any other gets none.
                cert.apply_to(&mut l.default_tls_container_id);
            } else if cert != Patch::Absent {
                return Err(ApiError::field(
                    "default_tls_container_ref",
                    "is only allowed on TERMINATED_HTTPS listeners",
                ));
            }
            let lbo = super::load_balancers::find(tx, l.load_balancer_id)?;
            check_tls(tx, &lbo, terminates, l.default_tls_container_id)?;
            name.apply_to(&mut l.name);
            description.apply_to(&mut l.description);
            if let Some(e) = req.admin_state_up {
                l.enabled = e;
            }
            if let Some(tags) = tags {
                l.tags = tags;
            }
            lock_update(
                tx,
                l.load_balancer_id,
                crate::model::JobKind::UpdateListener,
                Some(id.to_string()),
            )?;
            match default_pool {
                Patch::Absent => {}
                Patch::Null => store::pools::detach_from_listener(tx, id)?,
                Patch::Value(p) => {
                    store::pools::detach_from_listener(tx, id)?;
                    attach_pool(tx, &l, p)?;
                }
            }
            l.provisioning_status = ProvisioningStatus::PendingUpdate;
            store::listeners::update(tx, &l)?;
            let l = find(tx, id)?;
            respond(tx, &l, &QueryPairs::default())
        })
        .await?;
    Ok(Json(out))
}

#[delete("/lbaas/listeners/<id>")]
async fn remove(state: Api<'_>, id: &str) -> ApiResult<Status> {
    let id: ListenerId = path_id("Listener", id)?;
    state
        .write(move |tx| {
            let l = find(tx, id)?;
            lock_update(
                tx,
                l.load_balancer_id,
                crate::model::JobKind::DeleteListener,
                Some(id.to_string()),
            )?;
            // Octavia keeps a deleted listener's default pool, standalone.
            store::pools::detach_from_listener(tx, id)?;
            store::listeners::set_status(tx, id, ProvisioningStatus::PendingDelete)?;
            Ok(())
        })
        .await?;
    Ok(Status::NoContent)
}
