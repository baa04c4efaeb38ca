//! `/v1/loadbalancers/{lb_id}/listeners` and their stats.

use crate::api::auth::Api;
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{delete, get, post, put, routes};
use serde::Deserialize;

use super::error::{ApiError, ApiResult};
use super::guards::{Body, Patch, path_id};
use super::lookup::{listener, listener_certificate, load_balancer};
use super::policy::ApiPolicy;
use super::{lock_update, validate};
use crate::all_valid;
use crate::model::{
    CertificateId, JobKind, ListenerId, ListenerStats, LoadBalancerId, OperatingStatus, Protocol,
    ProvisioningStatus, protocols_compatible,
};
use crate::store::{self, listeners::Listener};

pub fn routes() -> Vec<rocket::Route> {
    routes![list, show, create, update, remove, stats]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateListener {
    id: Option<String>,
    protocol: Option<String>,
    protocol_port: Option<i64>,
    connection_limit: Option<i64>,
    default_tls_container_id: Option<String>,
    tenant_id: Option<String>,
    name: Option<String>,
    description: Option<String>,
    enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateListener {
    protocol: Option<String>,
    protocol_port: Option<i64>,
    #[serde(default)]
    connection_limit: Patch<i64>,
    #[serde(default)]
    default_tls_container_id: Patch<String>,
    #[serde(default)]
    name: Patch<String>,
    #[serde(default)]
    description: Patch<String>,
    enabled: Option<bool>,
}

fn ids(lb: &str, listener: &str) -> ApiResult<(LoadBalancerId, ListenerId)> {
    Ok((
        path_id("load balancer", lb)?,
        path_id("listener", listener)?,
    ))
}

/// A TLS container must be one of the load balancer's project (see
/// [`listener_certificate`]) and belongs on HTTPS listeners only.
fn check_tls(
    conn: &rusqlite::Connection,
    lb: &store::load_balancers::LoadBalancer,
    protocol: Protocol,
    cert: Option<CertificateId>,
) -> ApiResult<()> {
    const FIELD: &str = "default_tls_container_id";
    if let Some(cert) = cert {
        if protocol != Protocol::Https {
            return Err(ApiError::field(FIELD, "is only allowed on HTTPS listeners"));
        }
        listener_certificate(conn, lb, cert, FIELD)?;
    }
    Ok(())
}

#[get("/loadbalancers/<lb>/listeners")]
async fn list(state: Api<'_>, lb: &str) -> ApiResult<Json<Vec<Listener>>> {
    let lb: LoadBalancerId = path_id("load balancer", lb)?;
    state
        .read(move |conn| {
            load_balancer(conn, lb)?;
            Ok(Json(store::listeners::list(conn, lb)?))
        })
        .await
}

#[get("/loadbalancers/<lb>/listeners/<id>")]
async fn show(state: Api<'_>, lb: &str, id: &str) -> ApiResult<Json<Listener>> {
    let (lb, id) = ids(lb, id)?;
    state
        .read(move |conn| Ok(Json(listener(conn, lb, id)?)))
        .await
}

#[get("/loadbalancers/<lb>/listeners/<id>/stats")]
async fn stats(state: Api<'_>, lb: &str, id: &str) -> ApiResult<Json<ListenerStats>> {
    let (lb, id) = ids(lb, id)?;
    let base = state
        .read(move |conn| {
            listener(conn, lb, id)?;
            Ok(store::stats::get(conn, id)?)
        })
        .await?;
    Ok(Json(state.current_stats(id, base)))
}

#[post("/loadbalancers/<lb>/listeners", data = "<body>")]
async fn create(
    state: Api<'_>,
    lb: &str,
    body: Body<CreateListener>,
) -> ApiResult<(Status, Json<Listener>)> {
    let lb: LoadBalancerId = path_id("load balancer", lb)?;
    let req = body.into_inner()?;
    let (id, protocol, port, connection_limit, cert, tenant_id, name, description) = all_valid!(
        id = validate::id::<ListenerId>("id", req.id),
        protocol = validate::required("protocol", req.protocol.as_deref())
            .and_then(|p| validate::choice::<Protocol>("protocol", p)),
        port = validate::required("protocol_port", req.protocol_port)
            .and_then(|p| validate::port("protocol_port", p)),
        connection_limit = validate::connection_limit(req.connection_limit),
        cert =
            validate::id::<CertificateId>("default_tls_container_id", req.default_tls_container_id),
        tenant_id = validate::text("tenant_id", req.tenant_id),
        name = validate::text("name", req.name),
        description = validate::text("description", req.description),
    )?;
    let listener = state
        .write(move |tx| {
            // An unknown load balancer is a 404 before any body check.
            let lbo = load_balancer(tx, lb)?;
            ApiPolicy::check_listener(tx, lbo.vip.ip_address, port)?;
            check_tls(tx, &lbo, protocol, cert)?;
            let id = id.unwrap_or_default();
            lock_update(tx, lb, JobKind::CreateListener, Some(id.to_string()))?;
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
    state: Api<'_>,
    lb: &str,
    id: &str,
    body: Body<UpdateListener>,
) -> ApiResult<(Status, Json<Listener>)> {
    let (lb, id) = ids(lb, id)?;
    let req = body.into_inner()?;
    let (protocol, port, connection_limit, cert, name, description) = all_valid!(
        protocol = validate::optional(req.protocol.as_deref(), |p| {
            validate::choice::<Protocol>("protocol", p)
        }),
        port = validate::optional(req.protocol_port, |p| validate::port("protocol_port", p)),
        connection_limit = match req.connection_limit {
            Patch::Absent => Ok(None),
            Patch::Null => Ok(Some(None)),
            Patch::Value(v) => validate::connection_limit(Some(v)).map(Some),
        },
        cert = match req.default_tls_container_id {
            Patch::Value(v) => v
                .parse::<CertificateId>()
                .map(Patch::Value)
                .map_err(|_| ApiError::field("default_tls_container_id", "must be a UUID")),
            Patch::Null => Ok(Patch::Null),
            Patch::Absent => Ok(Patch::Absent),
        },
        name = req.name.map_text("name"),
        description = req.description.map_text("description"),
    )?;
    let listener = state
        .write(move |tx| {
            let mut l = listener(tx, lb, id)?;
            if let Some(p) = protocol {
                l.protocol = p;
            }
            if let Some(p) = port {
                let vip = load_balancer(tx, lb)?.vip.ip_address;
                ApiPolicy::check_listener(tx, vip, p)?;
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
            let lbo = load_balancer(tx, lb)?;
            check_tls(tx, &lbo, l.protocol, l.default_tls_container_id)?;
            lock_update(tx, lb, JobKind::UpdateListener, Some(id.to_string()))?;
            if store::listeners::port_taken(tx, lb, l.protocol_port, Some(id))? {
                return Err(ApiError::conflict(format!(
                    "load balancer {lb} already has a listener on protocol_port {}",
                    l.protocol_port
                )));
            }
            if let Some(pool) = store::pools::of_listener(tx, id)?
                && !protocols_compatible(
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
async fn remove(state: Api<'_>, lb: &str, id: &str) -> ApiResult<Status> {
    let (lb, id) = ids(lb, id)?;
    state
        .write(move |tx| {
            listener(tx, lb, id)?;
            lock_update(tx, lb, JobKind::DeleteListener, Some(id.to_string()))?;
            store::listeners::set_status(tx, id, ProvisioningStatus::PendingDelete)?;
            Ok(())
        })
        .await?;
    Ok(Status::Accepted)
}
