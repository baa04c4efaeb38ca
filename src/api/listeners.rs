//! `/v1/loadbalancers/{lb_id}/listeners` and their stats.

use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{State, delete, get, post, put, routes};
use serde::Deserialize;

use super::error::{ApiError, ApiResult};
use super::guards::{Body, Patch, path_id};
use super::{ApiState, lock_update, validate};
use crate::model::{
    CertificateId, ListenerId, ListenerStats, LoadBalancerId, OperatingStatus, Protocol,
    ProvisioningStatus,
};
use crate::store::{self, listeners::Listener};

pub fn routes() -> Vec<rocket::Route> {
    routes![list, show, create, update, remove, stats]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateListener {
    #[serde(default)]
    id: Option<String>,
    protocol: Option<String>,
    protocol_port: Option<i64>,
    #[serde(default)]
    connection_limit: Option<i64>,
    #[serde(default)]
    default_tls_container_id: Option<String>,
    #[serde(default)]
    tenant_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateListener {
    #[serde(default)]
    protocol: Option<String>,
    #[serde(default)]
    protocol_port: Option<i64>,
    #[serde(default)]
    connection_limit: Patch<i64>,
    #[serde(default)]
    default_tls_container_id: Patch<String>,
    #[serde(default)]
    name: Patch<String>,
    #[serde(default)]
    description: Patch<String>,
    #[serde(default)]
    enabled: Option<bool>,
}

/// The listener `id` of load balancer `lb`, or 404 for either.
pub fn listener(
    conn: &rusqlite::Connection,
    lb: LoadBalancerId,
    id: ListenerId,
) -> ApiResult<Listener> {
    super::load_balancer(conn, lb)?;
    store::listeners::get(conn, lb, id)?.ok_or_else(|| ApiError::not_found("listener", id))
}

fn ids(lb: &str, listener: &str) -> ApiResult<(LoadBalancerId, ListenerId)> {
    Ok((
        path_id("load balancer", lb)?,
        path_id("listener", listener)?,
    ))
}

/// A TLS container must exist and belongs on HTTPS listeners only.
fn check_tls(
    conn: &rusqlite::Connection,
    protocol: Protocol,
    cert: Option<CertificateId>,
) -> ApiResult<()> {
    if let Some(cert) = cert {
        if protocol != Protocol::Https {
            return Err(ApiError::field(
                "default_tls_container_id",
                "is only allowed on HTTPS listeners",
            ));
        }
        if store::certificates::get(conn, cert)?.is_none() {
            return Err(ApiError::field(
                "default_tls_container_id",
                format!("certificate {cert} not found"),
            ));
        }
    }
    Ok(())
}

#[get("/loadbalancers/<lb>/listeners")]
async fn list(state: &State<ApiState>, lb: &str) -> ApiResult<Json<Vec<Listener>>> {
    let lb: LoadBalancerId = path_id("load balancer", lb)?;
    state
        .read(move |conn| {
            super::load_balancer(conn, lb)?;
            Ok(Json(store::listeners::list(conn, lb)?))
        })
        .await
}

#[get("/loadbalancers/<lb>/listeners/<id>")]
async fn show(state: &State<ApiState>, lb: &str, id: &str) -> ApiResult<Json<Listener>> {
    let (lb, id) = ids(lb, id)?;
    state
        .read(move |conn| Ok(Json(listener(conn, lb, id)?)))
        .await
}

/// A listener's counters now: the data plane's live ones when it serves the
/// listener, never below the persisted totals (a disabled or not yet
/// re-applied listener keeps what it counted).
pub fn current_stats(
    dataplane: &crate::dataplane::DataPlane,
    id: ListenerId,
    base: crate::dataplane::StatsBase,
) -> ListenerStats {
    let live = dataplane.listener_stats(id).unwrap_or_default();
    ListenerStats {
        bytes_in: live.bytes_in.max(base.bytes_in),
        bytes_out: live.bytes_out.max(base.bytes_out),
        active_connections: live.active_connections,
        total_connections: live.total_connections.max(base.total_connections),
    }
}

#[get("/loadbalancers/<lb>/listeners/<id>/stats")]
async fn stats(state: &State<ApiState>, lb: &str, id: &str) -> ApiResult<Json<ListenerStats>> {
    let (lb, id) = ids(lb, id)?;
    let base = state
        .read(move |conn| {
            listener(conn, lb, id)?;
            Ok(store::stats::get(conn, id)?)
        })
        .await?;
    let live = current_stats(&state.dataplane, id, base);
    Ok(Json(live))
}

#[post("/loadbalancers/<lb>/listeners", data = "<body>")]
async fn create(
    state: &State<ApiState>,
    lb: &str,
    body: Body<CreateListener>,
) -> ApiResult<(Status, Json<Listener>)> {
    let lb: LoadBalancerId = path_id("load balancer", lb)?;
    let req = body.into_inner()?;
    let id: Option<ListenerId> = validate::id("id", req.id)?;
    let protocol: Protocol = validate::choice(
        "protocol",
        req.protocol
            .as_deref()
            .ok_or_else(|| ApiError::field("protocol", "is required"))?,
    )?;
    let port = validate::port(
        "protocol_port",
        req.protocol_port
            .ok_or_else(|| ApiError::field("protocol_port", "is required"))?,
    )?;
    let connection_limit = validate::connection_limit(req.connection_limit)?;
    let cert: Option<CertificateId> =
        validate::id("default_tls_container_id", req.default_tls_container_id)?;
    let tenant_id = validate::text("tenant_id", req.tenant_id)?;
    let name = validate::text("name", req.name)?;
    let description = validate::text("description", req.description)?;
    let listener = state
        .write(move |tx| {
            // An unknown load balancer is a 404 before any body check.
            super::load_balancer(tx, lb)?;
            check_tls(tx, protocol, cert)?;
            let id = id.unwrap_or_default();
            lock_update(tx, lb, "CreateListener", Some(id.to_string()))?;
            if store::listeners::id_taken(tx, id)? {
                return Err(ApiError::conflict(format!("listener {id} already exists")));
            }
            if store::listeners::port_taken(tx, lb, port, None)? {
                return Err(ApiError::conflict(format!(
                    "load balancer {lb} already has a listener on protocol_port {port}"
                )));
            }
            let listener = Listener {
                id,
                load_balancer_id: lb,
                protocol,
                protocol_port: port,
                connection_limit,
                default_tls_container_id: cert,
                tenant_id,
                name,
                description,
                enabled: req.enabled.unwrap_or(true),
                provisioning_status: ProvisioningStatus::PendingCreate,
                operating_status: OperatingStatus::Offline,
                tags: Vec::new(),
                created_at: store::now(),
                updated_at: None,
            };
            store::listeners::insert(tx, &listener)?;
            Ok(listener)
        })
        .await?;
    Ok((Status::Accepted, Json(listener)))
}

#[put("/loadbalancers/<lb>/listeners/<id>", data = "<body>")]
async fn update(
    state: &State<ApiState>,
    lb: &str,
    id: &str,
    body: Body<UpdateListener>,
) -> ApiResult<(Status, Json<Listener>)> {
    let (lb, id) = ids(lb, id)?;
    let req = body.into_inner()?;
    let protocol: Option<Protocol> = req
        .protocol
        .as_deref()
        .map(|p| validate::choice("protocol", p))
        .transpose()?;
    let port = req
        .protocol_port
        .map(|p| validate::port("protocol_port", p))
        .transpose()?;
    let connection_limit = match req.connection_limit {
        Patch::Absent => None,
        Patch::Null => Some(None),
        Patch::Value(v) => Some(validate::connection_limit(Some(v))?),
    };
    let cert: Patch<CertificateId> = match req.default_tls_container_id {
        Patch::Value(v) => Patch::Value(
            validate::id("default_tls_container_id", Some(v))?.expect("value was given"),
        ),
        Patch::Null => Patch::Null,
        Patch::Absent => Patch::Absent,
    };
    let name = req.name.map_text("name")?;
    let description = req.description.map_text("description")?;
    let listener = state
        .write(move |tx| {
            let mut l = listener(tx, lb, id)?;
            if let Some(p) = protocol {
                l.protocol = p;
            }
            if let Some(p) = port {
                l.protocol_port = p;
            }
            if let Some(c) = connection_limit {
                l.connection_limit = c;
            }
            cert.apply_to(&mut l.default_tls_container_id);
            name.apply_to(&mut l.name);
            description.apply_to(&mut l.description);
            if let Some(e) = req.enabled {
                l.enabled = e;
            }
            check_tls(tx, l.protocol, l.default_tls_container_id)?;
            lock_update(tx, lb, "UpdateListener", Some(id.to_string()))?;
            if store::listeners::port_taken(tx, lb, l.protocol_port, Some(id))? {
                return Err(ApiError::conflict(format!(
                    "load balancer {lb} already has a listener on protocol_port {}",
                    l.protocol_port
                )));
            }
            if let Some(pool) = store::pools::of_listener(tx, id)?
                && !super::pools::protocols_compatible(
                    l.protocol,
                    l.default_tls_container_id.is_some(),
                    pool.protocol,
                )
            {
                return Err(ApiError::conflict(format!(
                    "listener protocol {} does not match its pool's protocol {}",
                    l.protocol, pool.protocol
                )));
            }
            l.provisioning_status = ProvisioningStatus::PendingUpdate;
            store::listeners::update(tx, &l)?;
            Ok(l)
        })
        .await?;
    Ok((Status::Accepted, Json(listener)))
}

#[delete("/loadbalancers/<lb>/listeners/<id>")]
async fn remove(state: &State<ApiState>, lb: &str, id: &str) -> ApiResult<Status> {
    let (lb, id) = ids(lb, id)?;
    state
        .write(move |tx| {
            listener(tx, lb, id)?;
            lock_update(tx, lb, "DeleteListener", Some(id.to_string()))?;
            store::listeners::set_status(tx, id, ProvisioningStatus::PendingDelete)?;
            Ok(())
        })
        .await?;
    Ok(Status::Accepted)
}
