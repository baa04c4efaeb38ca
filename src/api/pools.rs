//! `/v1/loadbalancers/{lb_id}/listeners/{listener_id}/pools` (0 or 1 pool).

use crate::api::auth::Api;
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{delete, get, post, put, routes};
use serde::Deserialize;

use super::error::{ApiError, ApiResult};
use super::guards::{Body, Patch, path_id};
use super::lookup::{listener, pool, pool_ids};
use super::{lock_update, validate};
use crate::all_valid;
use crate::model::{
    JobKind, LbAlgorithm, ListenerId, LoadBalancerId, OperatingStatus, PoolId, Protocol,
    ProvisioningStatus, SessionPersistence, SessionPersistenceType, protocols_compatible,
};
use crate::store::{self, listeners::Listener, pools::Pool};

pub fn routes() -> Vec<rocket::Route> {
    routes![list, show, create, update, remove]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersistenceRequest {
    #[serde(rename = "type")]
    kind: Option<String>,
    cookie_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatePool {
    id: Option<String>,
    protocol: Option<String>,
    lb_algorithm: Option<String>,
    session_persistence: Option<PersistenceRequest>,
    name: Option<String>,
    description: Option<String>,
    enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdatePool {
    protocol: Option<String>,
    lb_algorithm: Option<String>,
    #[serde(default)]
    session_persistence: Patch<PersistenceRequest>,
    #[serde(default)]
    name: Patch<String>,
    #[serde(default)]
    description: Patch<String>,
    enabled: Option<bool>,
}

fn persistence(req: PersistenceRequest) -> ApiResult<SessionPersistence> {
    let kind: SessionPersistenceType = validate::choice(
        "session_persistence.type",
        req.kind
            .as_deref()
            .ok_or_else(|| ApiError::field("session_persistence.type", "is required"))?,
    )?;
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

/// HTTP_COOKIE needs HTTP on the wire Ballast sees: an HTTP pool, or an
/// HTTPS pool behind a TLS-terminating listener. Elsewhere it is a 400.
fn check_persistence(pool: &Pool, listener: &Listener) -> ApiResult<()> {
    let Some(sp) = &pool.session_persistence else {
        return Ok(());
    };
    let sees_http = pool.protocol == Protocol::Http
        || (pool.protocol == Protocol::Https && listener.default_tls_container_id.is_some());
    if sp.kind == SessionPersistenceType::HttpCookie && !sees_http {
        return Err(ApiError::field(
            "session_persistence.type",
            format!(
                "HTTP_COOKIE is not allowed on a {} pool without TLS termination",
                pool.protocol
            ),
        ));
    }
    Ok(())
}

fn check_protocol(pool: &Pool, listener: &Listener) -> ApiResult<()> {
    if !protocols_compatible(
        listener.protocol,
        listener.default_tls_container_id.is_some(),
        pool.protocol,
    ) {
        return Err(ApiError::conflict(format!(
            "pool protocol {} does not match listener protocol {}",
            pool.protocol, listener.protocol
        )));
    }
    Ok(())
}

#[get("/loadbalancers/<lb>/listeners/<l>/pools")]
async fn list(state: Api<'_>, lb: &str, l: &str) -> ApiResult<Json<Vec<Pool>>> {
    let lb: LoadBalancerId = path_id("load balancer", lb)?;
    let l: ListenerId = path_id("listener", l)?;
    state
        .read(move |conn| {
            listener(conn, lb, l)?;
            Ok(Json(
                store::pools::of_listener(conn, l)?.into_iter().collect(),
            ))
        })
        .await
}

#[get("/loadbalancers/<lb>/listeners/<l>/pools/<id>")]
async fn show(state: Api<'_>, lb: &str, l: &str, id: &str) -> ApiResult<Json<Pool>> {
    let (lb, l, id) = pool_ids(lb, l, id)?;
    state
        .read(move |conn| Ok(Json(pool(conn, lb, l, id)?.1)))
        .await
}

#[post("/loadbalancers/<lb>/listeners/<l>/pools", data = "<body>")]
async fn create(
    state: Api<'_>,
    lb: &str,
    l: &str,
    body: Body<CreatePool>,
) -> ApiResult<(Status, Json<Pool>)> {
    let lb: LoadBalancerId = path_id("load balancer", lb)?;
    let l: ListenerId = path_id("listener", l)?;
    let req = body.into_inner()?;
    let (id, protocol, algorithm, sp, name, description) = all_valid!(
        id = validate::id::<PoolId>("id", req.id),
        protocol = validate::required("protocol", req.protocol.as_deref())
            .and_then(|p| validate::choice::<Protocol>("protocol", p)),
        algorithm = validate::required("lb_algorithm", req.lb_algorithm.as_deref())
            .and_then(|a| validate::choice::<LbAlgorithm>("lb_algorithm", a)),
        sp = validate::optional(req.session_persistence, persistence),
        name = validate::text("name", req.name),
        description = validate::text("description", req.description),
    )?;
    let pool = state
        .write(move |tx| {
            let listener = listener(tx, lb, l)?;
            let pool = Pool {
                id: id.unwrap_or_default(),
                load_balancer_id: lb,
                listener_id: Some(l),
                protocol,
                lb_algorithm: algorithm,
                session_persistence: sp,
                name,
                description,
                enabled: req.enabled.unwrap_or(true),
                operating_status: OperatingStatus::Offline,
                provisioning_status: ProvisioningStatus::PendingCreate,
                tags: Vec::new(),
                created_at: store::now(),
                updated_at: None,
            };
            check_persistence(&pool, &listener)?;
            lock_update(tx, lb, JobKind::CreatePool, Some(pool.id.to_string()))?;
            if store::pools::id_taken(tx, pool.id)? {
                return Err(ApiError::conflict(format!(
                    "pool {} already exists",
                    pool.id
                )));
            }
            if store::pools::of_listener(tx, l)?.is_some() {
                return Err(ApiError::conflict(format!(
                    "listener {l} already has a pool"
                )));
            }
            check_protocol(&pool, &listener)?;
            store::pools::insert(tx, &pool)?;
            Ok(pool)
        })
        .await?;
    Ok((Status::Accepted, Json(pool)))
}

#[put("/loadbalancers/<lb>/listeners/<l>/pools/<id>", data = "<body>")]
async fn update(
    state: Api<'_>,
    lb: &str,
    l: &str,
    id: &str,
    body: Body<UpdatePool>,
) -> ApiResult<(Status, Json<Pool>)> {
    let (lb, l, id) = pool_ids(lb, l, id)?;
    let req = body.into_inner()?;
    let (protocol, algorithm, sp, name, description) = all_valid!(
        protocol = validate::optional(req.protocol.as_deref(), |p| {
            validate::choice::<Protocol>("protocol", p)
        }),
        algorithm = validate::optional(req.lb_algorithm.as_deref(), |a| {
            validate::choice::<LbAlgorithm>("lb_algorithm", a)
        }),
        sp = match req.session_persistence {
            Patch::Absent => Ok(Patch::Absent),
            Patch::Null => Ok(Patch::Null),
            Patch::Value(v) => persistence(v).map(Patch::Value),
        },
        name = req.name.map_text("name"),
        description = req.description.map_text("description"),
    )?;
    let pool = state
        .write(move |tx| {
            let (listener, mut pool) = pool(tx, lb, l, id)?;
            if let Some(p) = protocol {
                pool.protocol = p;
            }
            if let Some(a) = algorithm {
                pool.lb_algorithm = a;
            }
            sp.apply_to(&mut pool.session_persistence);
            name.apply_to(&mut pool.name);
            description.apply_to(&mut pool.description);
            if let Some(e) = req.enabled {
                pool.enabled = e;
            }
            check_persistence(&pool, &listener)?;
            lock_update(tx, lb, JobKind::UpdatePool, Some(id.to_string()))?;
            check_protocol(&pool, &listener)?;
            pool.provisioning_status = ProvisioningStatus::PendingUpdate;
            store::pools::update(tx, &pool)?;
            Ok(pool)
        })
        .await?;
    Ok((Status::Accepted, Json(pool)))
}

#[delete("/loadbalancers/<lb>/listeners/<l>/pools/<id>")]
async fn remove(state: Api<'_>, lb: &str, l: &str, id: &str) -> ApiResult<Status> {
    let (lb, l, id) = pool_ids(lb, l, id)?;
    state
        .write(move |tx| {
            pool(tx, lb, l, id)?;
            lock_update(tx, lb, JobKind::DeletePool, Some(id.to_string()))?;
            store::pools::set_status(tx, id, ProvisioningStatus::PendingDelete)?;
            Ok(())
        })
        .await?;
    Ok(Status::Accepted)
}
