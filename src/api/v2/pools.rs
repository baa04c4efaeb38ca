//! `lbaas/pools`, as Octavia's `controllers/pool.py`: a pool belongs to a
//! load balancer and is a listener's default pool (`listener_id`) or stands
//! alone (`loadbalancer_id` only).

use crate::api::auth::Api;
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{delete, get, post, put, routes};
use serde::Deserialize;
use serde_json::{Value, json};

use super::list::{self, ListSpec, QueryPairs, Row};
use super::shape::{self, BaseUrl};
use crate::api::error::{ApiError, ApiResult};
use crate::api::guards::{Body, Patch, path_id};
use crate::api::{lock_update, validate};
use crate::model::{
    LbAlgorithm, ListenerId, LoadBalancerId, OperatingStatus, PoolId, Protocol, ProvisioningStatus,
    SessionPersistence, SessionPersistenceType,
};
use crate::store::{self, listeners::Listener, pools::Pool};

/// The routes, mounted under `/v2` and `/v2.0`.
pub fn routes() -> Vec<rocket::Route> {
    routes![index, show, create, update, remove]
}

const SPEC: ListSpec = ListSpec {
    plural: "pools",
    filters: &[
        "id",
        "name",
        "description",
        "provisioning_status",
        "operating_status",
        "admin_state_up",
        "protocol",
        "lb_algorithm",
        "project_id",
        "healthmonitor_id",
        "loadbalancer_id",
        "listener_id",
        "tls_enabled",
        "created_at",
        "updated_at",
    ],
};

/// Options of Octavia's pool Ballast does not implement.
const UNSUPPORTED: &[(&str, Option<&str>)] = &[
    ("healthmonitor", None),
    ("members", None),
    ("tls_container_ref", None),
    ("ca_tls_container_ref", None),
    ("crl_container_ref", None),
    ("tls_enabled", None),
    ("tls_ciphers", None),
    ("tls_versions", None),
    ("alpn_protocols", None),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PersistenceRequest {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    cookie_name: Option<String>,
    #[serde(default)]
    persistence_timeout: Option<Value>,
    #[serde(default)]
    persistence_granularity: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreatePool {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    admin_state_up: Option<bool>,
    #[serde(default)]
    listener_id: Option<String>,
    #[serde(default)]
    loadbalancer_id: Option<String>,
    protocol: Option<String>,
    lb_algorithm: Option<String>,
    #[serde(default)]
    session_persistence: Option<PersistenceRequest>,
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdatePool {
    #[serde(default)]
    name: Patch<String>,
    #[serde(default)]
    description: Patch<String>,
    #[serde(default)]
    admin_state_up: Option<bool>,
    #[serde(default)]
    lb_algorithm: Option<String>,
    #[serde(default)]
    session_persistence: Patch<PersistenceRequest>,
    #[serde(default)]
    tags: Patch<Vec<String>>,
}

fn parse_protocol(raw: &str) -> ApiResult<Protocol> {
    match raw {
        "PROXY" | "PROXYV2" | "UDP" | "SCTP" => Err(shape::unsupported(format!("protocol {raw}"))),
        other => validate::choice("protocol", other),
    }
}

fn parse_algorithm(raw: &str) -> ApiResult<LbAlgorithm> {
    match raw {
        "SOURCE_IP_PORT" => Err(shape::unsupported(format!("lb_algorithm {raw}"))),
        other => validate::choice("lb_algorithm", other),
    }
}

fn persistence(req: PersistenceRequest) -> ApiResult<SessionPersistence> {
    if req
        .persistence_timeout
        .as_ref()
        .is_some_and(|v| !v.is_null())
    {
        return Err(shape::unsupported(
            "session_persistence.persistence_timeout",
        ));
    }
    if req
        .persistence_granularity
        .as_ref()
        .is_some_and(|v| !v.is_null())
    {
        return Err(shape::unsupported(
            "session_persistence.persistence_granularity",
        ));
    }
    let raw = req
        .kind
        .as_deref()
        .ok_or_else(|| ApiError::field("session_persistence.type", "is required"))?;
    if raw == "APP_COOKIE" {
        return Err(shape::unsupported("session_persistence.type APP_COOKIE"));
    }
    let kind: SessionPersistenceType = validate::choice("session_persistence.type", raw)?;
    if let Some(name) = &req.cookie_name {
        if kind != SessionPersistenceType::HttpCookie {
            return Err(ApiError::field(
                "session_persistence.cookie_name",
                "is only allowed with type HTTP_COOKIE",
            ));
        }
        validate::cookie_name(name)?;
    }
    Ok(SessionPersistence {
        kind,
        cookie_name: req.cookie_name,
    })
}

/// Octavia's listener-to-pool protocol map, cut to what Ballast serves:
/// TCP and HTTP carry their own protocol, HTTPS (passed through) carries
/// HTTPS, TERMINATED_HTTPS carries HTTP. The other pairs Octavia accepts
/// (an HTTP or HTTPS pool behind a TCP listener, a TCP pool behind a
/// passed-through HTTPS one) are refused as an unsupported option rather
/// than called invalid; the rest get Octavia's own refusal.
pub fn check_protocol(listener: &Listener, pool: Protocol) -> ApiResult<()> {
    let terminates = listener.default_tls_container_id.is_some();
    let served = match listener.protocol {
        Protocol::Https if terminates => pool == Protocol::Http,
        other => other == pool,
    };
    let octavia_valid = match (listener.protocol, terminates) {
        (Protocol::Tcp, _) => true,
        (Protocol::Https, false) => matches!(pool, Protocol::Https | Protocol::Tcp),
        (Protocol::Http, _) | (Protocol::Https, true) => pool == Protocol::Http,
    };
    let listener_protocol = super::listeners::protocol_name(listener);
    if served {
        Ok(())
    } else if octavia_valid {
        Err(shape::unsupported(format!(
            "pool protocol {pool} behind a {listener_protocol} listener"
        )))
    } else {
        Err(ApiError::bad_request(format!(
            "Validation failure: The pool protocol '{pool}' is invalid while the listener \
             protocol is '{listener_protocol}'."
        )))
    }
}

/// HTTP_COOKIE needs HTTP on the wire Ballast sees.
fn check_persistence(pool: &Pool) -> ApiResult<()> {
    let cookie = pool
        .session_persistence
        .as_ref()
        .is_some_and(|sp| sp.kind == SessionPersistenceType::HttpCookie);
    if cookie && pool.protocol != Protocol::Http {
        return Err(ApiError::field(
            "session_persistence.type",
            format!("HTTP_COOKIE is not allowed on a {} pool", pool.protocol),
        ));
    }
    Ok(())
}

/// The pool `id`, under a load balancer v2 can see, or 404.
pub fn find(conn: &rusqlite::Connection, id: PoolId) -> ApiResult<Pool> {
    let p = store::pools::find(conn, id)?.ok_or_else(|| ApiError::not_found("Pool", id))?;
    super::load_balancers::lookup(conn, p.load_balancer_id)?
        .ok_or_else(|| ApiError::not_found("Pool", id))?;
    Ok(p)
}

/// The v2 body of a pool; `project_id` is its load balancer's.
pub fn body(conn: &rusqlite::Connection, p: &Pool) -> ApiResult<Value> {
    let lb = store::load_balancers::get(conn, p.load_balancer_id)?;
    let members = store::members::list(conn, p.id)?;
    let monitor = store::health_monitors::get(conn, p.id)?;
    Ok(json!({
        "id": p.id.to_string(),
        "name": p.name.clone().unwrap_or_default(),
        "description": p.description.clone().unwrap_or_default(),
        "provisioning_status": p.provisioning_status,
        "operating_status": p.operating_status,
        "admin_state_up": p.enabled,
        "protocol": p.protocol,
        "lb_algorithm": p.lb_algorithm,
        "session_persistence": p.session_persistence.as_ref().map(|sp| json!({
            "type": sp.kind,
            "cookie_name": sp.cookie_name,
            "persistence_timeout": null,
            "persistence_granularity": null,
        })),
        "project_id": lb.and_then(|lb| lb.tenant_id),
        "loadbalancers": shape::id_list([p.load_balancer_id]),
        "listeners": shape::id_list(p.listener_id),
        "created_at": shape::timestamp(p.created_at),
        "updated_at": shape::timestamp_opt(p.updated_at),
        "healthmonitor_id": monitor.map(|m| m.id.to_string()),
        "members": shape::id_list(members.iter().map(|m| m.id)),
        "tags": p.tags,
        "tls_container_ref": null,
        "ca_tls_container_ref": null,
        "crl_container_ref": null,
        "tls_enabled": false,
        "tls_ciphers": null,
        "tls_versions": null,
        "alpn_protocols": null,
    }))
}

fn respond(conn: &rusqlite::Connection, p: &Pool, q: &QueryPairs) -> ApiResult<Value> {
    let Value::Object(mut b) = body(conn, p)? else {
        unreachable!("body() builds an object");
    };
    list::select_fields(&mut b, q);
    Ok(json!({ "pool": b }))
}

#[get("/lbaas/pools")]
async fn index(state: Api<'_>, q: QueryPairs, base: BaseUrl) -> ApiResult<Json<Value>> {
    let url = base.url();
    state
        .read(move |conn| {
            let mut rows = Vec::new();
            for p in store::pools::list_all(conn)? {
                if super::load_balancers::lookup(conn, p.load_balancer_id)?.is_some() {
                    rows.push(
                        Row::new(body(conn, &p)?)
                            .with_hidden("loadbalancer_id", p.load_balancer_id.to_string())
                            .with_hidden("listener_id", p.listener_id.map(|l| l.to_string())),
                    );
                }
            }
            Ok(Json(list::respond(rows, &q, &SPEC, &url)?))
        })
        .await
}

#[get("/lbaas/pools/<id>")]
async fn show(state: Api<'_>, id: &str, q: QueryPairs) -> ApiResult<Json<Value>> {
    let id: PoolId = path_id("Pool", id)?;
    state
        .read(move |conn| Ok(Json(respond(conn, &find(conn, id)?, &q)?)))
        .await
}

#[post("/lbaas/pools", data = "<body>")]
async fn create(state: Api<'_>, body: Body<Value>) -> ApiResult<(Status, Json<Value>)> {
    let req: CreatePool = shape::parse_wrapped(body.into_inner()?, "pool", UNSUPPORTED)?;
    let id: Option<PoolId> = validate::id("id", req.id)?;
    let listener_id: Option<ListenerId> = validate::id("listener_id", req.listener_id)?;
    let lb_id: Option<LoadBalancerId> = validate::id("loadbalancer_id", req.loadbalancer_id)?;
    if listener_id.is_none() && lb_id.is_none() {
        return Err(ApiError::bad_request(
            "Validation failure: Either listener_id or loadbalancer_id must be specified.",
        ));
    }
    let protocol = parse_protocol(
        req.protocol
            .as_deref()
            .ok_or_else(|| ApiError::field("protocol", "is required"))?,
    )?;
    let algorithm = parse_algorithm(
        req.lb_algorithm
            .as_deref()
            .ok_or_else(|| ApiError::field("lb_algorithm", "is required"))?,
    )?;
    let sp = req.session_persistence.map(persistence).transpose()?;
    let name = validate::text("name", req.name)?;
    let description = validate::text("description", req.description)?;
    let tags = shape::tags(req.tags)?;
    let out = state
        .write(move |tx| {
            let listener = match listener_id {
                Some(l) => Some(super::listeners::lookup(tx, l)?.ok_or_else(|| {
                    ApiError::field("listener_id", format!("listener {l} not found"))
                })?),
                None => None,
            };
            let lb = match (&listener, lb_id) {
                (Some(l), Some(lb)) if l.load_balancer_id != lb => {
                    return Err(ApiError::bad_request(
                        "Validation failure: Listener and Load Balancer must be the same.",
                    ));
                }
                (Some(l), _) => l.load_balancer_id,
                (None, Some(lb)) => lb,
                (None, None) => unreachable!("checked before the write"),
            };
            // An unknown load balancer is 404, as in Octavia (and v2 listeners).
            let lbo = super::load_balancers::find(tx, lb)?;
            if req.project_id.is_some() && req.project_id != lbo.tenant_id {
                return Err(ApiError::field(
                    "project_id",
                    "must be the load balancer's project",
                ));
            }
            let pool = Pool {
                id: id.unwrap_or_default(),
                load_balancer_id: lb,
                listener_id,
                protocol,
                lb_algorithm: algorithm,
                session_persistence: sp,
                name,
                description,
                enabled: req.admin_state_up.unwrap_or(true),
                operating_status: OperatingStatus::Offline,
                provisioning_status: ProvisioningStatus::PendingCreate,
                tags,
                created_at: store::now(),
                updated_at: None,
            };
            check_persistence(&pool)?;
            if let Some(l) = &listener {
                check_protocol(l, protocol)?;
            }
            lock_update(
                tx,
                lb,
                crate::model::JobKind::CreatePool,
                Some(pool.id.to_string()),
            )?;
            if store::pools::id_taken(tx, pool.id)? {
                return Err(ApiError::conflict(format!(
                    "Pool {} already exists",
                    pool.id
                )));
            }
            if let Some(l) = listener_id
                && store::pools::of_listener(tx, l)?.is_some()
            {
                return Err(ApiError::conflict(format!(
                    "Listener {l} already has a default pool"
                )));
            }
            store::pools::insert(tx, &pool)?;
            respond(tx, &pool, &QueryPairs::default())
        })
        .await?;
    Ok((Status::Created, Json(out)))
}

#[put("/lbaas/pools/<id>", data = "<body>")]
async fn update(state: Api<'_>, id: &str, body: Body<Value>) -> ApiResult<Json<Value>> {
    let id: PoolId = path_id("Pool", id)?;
    let req: UpdatePool = shape::parse_wrapped(body.into_inner()?, "pool", UNSUPPORTED)?;
    let algorithm = req
        .lb_algorithm
        .as_deref()
        .map(parse_algorithm)
        .transpose()?;
    let sp = match req.session_persistence {
        Patch::Absent => Patch::Absent,
        Patch::Null => Patch::Null,
        Patch::Value(v) => Patch::Value(persistence(v)?),
    };
    let name = req.name.map_text("name")?;
    let description = req.description.map_text("description")?;
    let tags = shape::tags_update(req.tags)?;
    let out = state
        .write(move |tx| {
            let mut pool = find(tx, id)?;
            if let Some(a) = algorithm {
                pool.lb_algorithm = a;
            }
            sp.apply_to(&mut pool.session_persistence);
            name.apply_to(&mut pool.name);
            description.apply_to(&mut pool.description);
            if let Some(e) = req.admin_state_up {
                pool.enabled = e;
            }
            if let Some(tags) = tags {
                pool.tags = tags;
            }
            check_persistence(&pool)?;
            lock_update(
                tx,
                pool.load_balancer_id,
                crate::model::JobKind::UpdatePool,
                Some(id.to_string()),
            )?;
            pool.provisioning_status = ProvisioningStatus::PendingUpdate;
            store::pools::update(tx, &pool)?;
            let pool = find(tx, id)?;
            respond(tx, &pool, &QueryPairs::default())
        })
        .await?;
    Ok(Json(out))
}

#[delete("/lbaas/pools/<id>")]
async fn remove(state: Api<'_>, id: &str) -> ApiResult<Status> {
    let id: PoolId = path_id("Pool", id)?;
    state
        .write(move |tx| {
            let pool = find(tx, id)?;
            lock_update(
                tx,
                pool.load_balancer_id,
                crate::model::JobKind::DeletePool,
                Some(id.to_string()),
            )?;
            store::pools::set_status(tx, id, ProvisioningStatus::PendingDelete)?;
            Ok(())
        })
        .await?;
    Ok(Status::NoContent)
}
