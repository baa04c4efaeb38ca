//! `/v1/loadbalancers/{lb_id}/listeners` and their stats.

use crate::api::auth::Api;
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{delete, get, post, put, routes};
use serde::Deserialize;

use super::error::{ApiError, ApiResult};
use super::guards::{Body, Patch, path_id};
use super::lookup::{listener, load_balancer};
use super::policy::ApiPolicy;
use super::{lock_update, validate};
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
            let vip = load_balancer(tx, lb)?.vip.ip_address;
            ApiPolicy::check_listener(tx, vip, port)?;
            check_tls(tx, protocol, cert)?;
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
            check_tls(tx, l.protocol, l.default_tls_container_id)?;
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
