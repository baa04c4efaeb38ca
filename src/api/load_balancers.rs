//! `/v1/loadbalancers`.

use crate::api::auth::Api;
use std::net::IpAddr;

use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{delete, get, post, put, routes};
use serde::Deserialize;

use super::error::{ApiError, ApiResult};
use super::guards::{Body, Patch, path_id};
use super::{ApiState, lock, lookup, validate};
use crate::all_valid;
use crate::model::{
    JobKind, LoadBalancerId, NetworkId, OperatingStatus, PortId, ProvisioningStatus,
};
use crate::store::load_balancers::{LoadBalancer, Vip};
use crate::store::ports::{self, Port};
use crate::store::{self, StoreError};

pub fn routes() -> Vec<rocket::Route> {
    routes![list, show, create, update, remove]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateLoadBalancer {
    id: Option<String>,
    vip: Option<VipRequest>,
    tenant_id: Option<String>,
    name: Option<String>,
    description: Option<String>,
    enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VipRequest {
    ip_address: Option<String>,
    port_id: Option<String>,
    network_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateLoadBalancer {
    #[serde(default)]
    name: Patch<String>,
    #[serde(default)]
    description: Patch<String>,
    enabled: Option<bool>,
}

#[get("/loadbalancers")]
async fn list(state: Api<'_>) -> ApiResult<Json<Vec<LoadBalancer>>> {
    state
        .read(|conn| {
            let mut lbs = store::load_balancers::list(conn)?;
            lbs.retain(lookup::visible);
            Ok(Json(lbs))
        })
        .await
}

#[get("/loadbalancers/<id>")]
async fn show(state: Api<'_>, id: &str) -> ApiResult<Json<LoadBalancer>> {
    let id: LoadBalancerId = path_id("load balancer", id)?;
    state
        .read(move |conn| Ok(Json(lookup::load_balancer(conn, id)?)))
        .await
}

/// A validated VIP request (v1's `vip` object, v2's `vip_*` fields).
pub(crate) struct VipChoice {
    pub(crate) port_id: Option<PortId>,
    pub(crate) network_id: Option<NetworkId>,
    pub(crate) ip_address: Option<IpAddr>,
}

fn validate_vip(vip: Option<VipRequest>) -> ApiResult<VipChoice> {
    let vip = vip.ok_or_else(|| ApiError::field("vip", "is required"))?;
    let (port_id, network_id, ip_address) = all_valid!(
        port_id = validate::id("vip.port_id", vip.port_id),
        network_id = validate::id("vip.network_id", vip.network_id),
        ip_address = validate::optional(vip.ip_address, |ip| validate::ip("vip.ip_address", &ip)),
    )?;
    let choice = VipChoice {
        port_id,
        network_id,
        ip_address,
    };
    if choice.port_id.is_none() && choice.network_id.is_none() {
        return Err(ApiError::field("vip", "needs port_id or network_id"));
    }
    Ok(choice)
}

/// A network as people know it: `name (cidr)`, or its id when it is no
/// longer configured.
fn network_label(state: &ApiState, id: NetworkId) -> String {
    match state.network.get_network(id) {
        Some(n) => format!("{} ({})", n.name, n.cidr),
        None => id.to_string(),
    }
}

/// Reserve the VIP in the request's transaction: adopt a free port, or
/// create one on the network with the requested or next free address.
pub(crate) fn reserve_vip(
    tx: &rusqlite::Connection,
    state: &ApiState,
    vip: VipChoice,
) -> ApiResult<Vip> {
    if let Some(port_id) = vip.port_id {
        let port = lookup::port(tx, port_id)?
            .ok_or_else(|| ApiError::field("vip.port_id", format!("port {port_id} not found")))?;
        if vip.network_id.is_some_and(|n| n != port.network_id) {
            return Err(ApiError::field(
                "vip.network_id",
                format!(
                    "port {port_id} is on network {}",
                    network_label(state, port.network_id)
                ),
            ));
        }
        if vip.ip_address.is_some_and(|ip| ip != port.ip_address) {
            return Err(ApiError::field(
                "vip.ip_address",
                format!("port {port_id} has address {}", port.ip_address),
            ));
        }
        if let Some(owner) = port.load_balancer_id {
            return Err(ApiError::conflict(format!(
                "port {port_id} is already in use by load balancer {owner}"
            )));
        }
        return Ok(Vip {
            ip_address: port.ip_address,
            port_id,
            network_id: port.network_id,
        });
    }
    let network_id = vip
        .network_id
        .expect("validate_vip requires port_id or network_id");
    let network = state.network.get_network(network_id).ok_or_else(|| {
        ApiError::field("vip.network_id", format!("network {network_id} not found"))
    })?;
    let ip = ports::allocate_address(tx, network_id, &network.name, network.cidr, vip.ip_address)
        .map_err(|e| match e {
        StoreError::Invalid { reason, .. } => ApiError::field("vip.ip_address", reason),
        other => other.into(),
    })?;
    let port = Port {
        id: PortId::new(),
        network_id,
        ip_address: ip,
        // Attached once the load balancer row exists (foreign key).
        load_balancer_id: None,
        owned: true,
        // Takes the load balancer's project when attached.
        project_id: None,
    };
    ports::insert(tx, &port)?;
    Ok(Vip {
        ip_address: ip,
        port_id: port.id,
        network_id,
    })
}

#[post("/loadbalancers", data = "<body>")]
async fn create(
    state: Api<'_>,
    body: Body<CreateLoadBalancer>,
    project: crate::api::v2::shape::RequestProject,
) -> ApiResult<(Status, Json<LoadBalancer>)> {
    let req = body.into_inner()?;
    let (id, vip, tenant_id, name, description) = all_valid!(
        id = validate::id::<LoadBalancerId>("id", req.id),
        vip = validate_vip(req.vip),
        tenant_id = validate::text("tenant_id", req.tenant_id),
        name = validate::text("name", req.name),
        description = validate::text("description", req.description),
    )?;
    let tenant_id = project.owner(tenant_id)?;
    let st = state.inner().clone();
    let lb = state
        .write(move |tx| {
            let id = id.unwrap_or_default();
            if store::load_balancers::exists(tx, id)? {
                return Err(ApiError::conflict(format!(
                    "load balancer {id} already exists"
                )));
            }
            let vip = reserve_vip(tx, &st, vip)?;
            let lb = LoadBalancer {
                id,
                vip,
                tenant_id,
                name,
                description,
                enabled: req.enabled.unwrap_or(true),
                provisioning_status: ProvisioningStatus::PendingCreate,
                operating_status: OperatingStatus::Offline,
                last_error: None,
                deleted_at: None,
                tags: Vec::new(),
                created_at: store::now(),
                updated_at: store::now(),
            };
            store::load_balancers::insert(tx, &lb)?;
            ports::attach(tx, lb.vip.port_id, id)?;
            store::jobs::insert(tx, id, JobKind::CreateLoadBalancer, Some(id.to_string()))?;
            Ok(lb)
        })
        .await?;
    Ok((Status::Accepted, Json(lb)))
}

#[put("/loadbalancers/<id>", data = "<body>")]
async fn update(
    state: Api<'_>,
    id: &str,
    body: Body<UpdateLoadBalancer>,
) -> ApiResult<(Status, Json<LoadBalancer>)> {
    let id: LoadBalancerId = path_id("load balancer", id)?;
    let req = body.into_inner()?;
    let (name, description) = all_valid!(
        name = req.name.map_text("name"),
        description = req.description.map_text("description"),
    )?;
    let lb = state
        .write(move |tx| {
            let mut lb = lookup::load_balancer(tx, id)?;
            lock(
                tx,
                &lb,
                ProvisioningStatus::PendingUpdate,
                JobKind::UpdateLoadBalancer,
                Some(id.to_string()),
            )?;
            name.apply_to(&mut lb.name);
            description.apply_to(&mut lb.description);
            if let Some(enabled) = req.enabled {
                lb.enabled = enabled;
            }
            lb.provisioning_status = ProvisioningStatus::PendingUpdate;
            store::load_balancers::update(tx, &lb)?;
            Ok(lb)
        })
        .await?;
    Ok((Status::Accepted, Json(lb)))
}

#[delete("/loadbalancers/<id>")]
async fn remove(state: Api<'_>, id: &str) -> ApiResult<Status> {
    let id: LoadBalancerId = path_id("load balancer", id)?;
    state
        .write(move |tx| {
            let lb = lookup::load_balancer(tx, id)?;
            lock(
                tx,
                &lb,
                ProvisioningStatus::PendingDelete,
                JobKind::DeleteLoadBalancer,
                Some(id.to_string()),
            )
        })
        .await?;
    Ok(Status::Accepted)
}
