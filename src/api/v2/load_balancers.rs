//! `lbaas/loadbalancers`: CRUD, `DELETE ?cascade=true`, `/status`, `/stats`
//! and `PUT /failover`, as Octavia's `controllers/load_balancer.py`.

use crate::api::auth::Api;
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{delete, get, post, put, routes};
use serde::Deserialize;
use serde_json::{Value, json};

use super::list::{self, ListSpec, QueryPairs, Row};
use super::shape::{self, BaseUrl, RequestProject};
use crate::api::error::{ApiError, ApiResult};
use crate::api::guards::{Body, Patch, path_id};
use crate::api::load_balancers::{VipChoice, reserve_vip};
use crate::api::{ApiState, lock, validate};
use crate::model::{
    ListenerStats, LoadBalancerId, NetworkId, OperatingStatus, ProvisioningStatus, SubnetId,
};
use crate::store::{self, load_balancers::LoadBalancer};

/// The routes, mounted under `/v2` and `/v2.0`.
pub fn routes() -> Vec<rocket::Route> {
    routes![
        index, show, create, update, remove, status, statuses, stats, failover
    ]
}

const SPEC: ListSpec = ListSpec {
    plural: "loadbalancers",
    filters: &[
        "id",
        "name",
        "description",
        "provisioning_status",
        "operating_status",
        "admin_state_up",
        "project_id",
        "vip_address",
        "vip_port_id",
        "vip_subnet_id",
        "vip_network_id",
        "provider",
        "flavor_id",
        "availability_zone",
        "created_at",
        "updated_at",
    ],
};

/// Options of Octavia's load balancer Ballast does not implement.
const UNSUPPORTED: &[(&str, Option<&str>)] = &[
    ("vip_qos_policy_id", None),
    ("vip_sg_ids", None),
    ("additional_vips", None),
    ("listeners", None),
    ("pools", None),
    ("flavor_id", None),
    ("availability_zone", None),
    ("vip_vnic_type", Some("normal")),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateLoadBalancer {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    admin_state_up: Option<bool>,
    #[serde(default)]
    vip_address: Option<String>,
    #[serde(default)]
    vip_port_id: Option<String>,
    #[serde(default)]
    vip_subnet_id: Option<String>,
    #[serde(default)]
    vip_network_id: Option<String>,
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateLoadBalancer {
    #[serde(default)]
    name: Patch<String>,
    #[serde(default)]
    description: Patch<String>,
    #[serde(default)]
    admin_state_up: Option<bool>,
    #[serde(default)]
    tags: Patch<Vec<String>>,
}

/// The load balancer `id` as v2 sees it: a DELETED one, or one of a project
/// the request may not see, is gone (404).
pub fn find(conn: &rusqlite::Connection, id: LoadBalancerId) -> ApiResult<LoadBalancer> {
    lookup(conn, id)?.ok_or_else(|| ApiError::not_found("Load Balancer", id))
}

/// The load balancer `id` if v2 can see it (not deleted, of a project the
/// request may see); `None` when absent, a store failure as the error.
pub fn lookup(conn: &rusqlite::Connection, id: LoadBalancerId) -> ApiResult<Option<LoadBalancer>> {
    Ok(store::load_balancers::get(conn, id)?
        .filter(|lb| lb.provisioning_status != ProvisioningStatus::Deleted)
        .filter(crate::api::lookup::visible))
}

/// The v2 body of a load balancer.
pub fn body(conn: &rusqlite::Connection, lb: &LoadBalancer) -> ApiResult<Value> {
    let listeners = store::listeners::list(conn, lb.id)?;
    let pools = store::pools::of_load_balancer(conn, lb.id)?;
    Ok(json!({
        "id": lb.id.to_string(),
        "name": lb.name.clone().unwrap_or_default(),
        "description": lb.description.clone().unwrap_or_default(),
        "provisioning_status": lb.provisioning_status,
        "operating_status": lb.operating_status,
        "admin_state_up": lb.enabled,
        "project_id": lb.tenant_id,
        "created_at": shape::timestamp(lb.created_at),
        "updated_at": shape::timestamp(lb.updated_at),
        "vip_address": lb.vip.ip_address.to_string(),
        "vip_port_id": lb.vip.port_id.to_string(),
        "vip_subnet_id": lb.vip.network_id.subnet_id().to_string(),
        "vip_network_id": lb.vip.network_id.to_string(),
        "vip_qos_policy_id": null,
        "vip_sg_ids": [],
        "vip_vnic_type": "normal",
        "additional_vips": [],
        "listeners": shape::id_list(listeners.iter().map(|l| l.id)),
        "pools": shape::id_list(pools.iter().map(|p| p.id)),
        "provider": shape::PROVIDER,
        "flavor_id": null,
        "availability_zone": null,
        "tags": lb.tags,
    }))
}

fn respond(conn: &rusqlite::Connection, lb: &LoadBalancer, q: &QueryPairs) -> ApiResult<Value> {
    let Value::Object(mut b) = body(conn, lb)? else {
        unreachable!("body() builds an object");
    };
    list::select_fields(&mut b, q);
    Ok(json!({ "loadbalancer": b }))
}

/// The network whose one subnet has id `subnet`.
pub fn network_of_subnet(state: &ApiState, subnet: SubnetId) -> Option<NetworkId> {
    state
        .network
        .networks()
        .iter()
        .map(|n| n.id)
        .find(|n| n.subnet_id() == subnet)
}

#[get("/lbaas/loadbalancers")]
async fn index(state: Api<'_>, q: QueryPairs, base: BaseUrl) -> ApiResult<Json<Value>> {
    let url = base.url();
    state
        .read(move |conn| {
            let mut rows = Vec::new();
            for lb in store::load_balancers::list(conn)? {
                if lb.provisioning_status != ProvisioningStatus::Deleted {
                    rows.push(Row::new(body(conn, &lb)?));
                }
            }
            Ok(Json(list::respond(rows, &q, &SPEC, &url)?))
        })
        .await
}

#[get("/lbaas/loadbalancers/<id>")]
async fn show(state: Api<'_>, id: &str, q: QueryPairs) -> ApiResult<Json<Value>> {
    let id: LoadBalancerId = path_id("Load Balancer", id)?;
    state
        .read(move |conn| Ok(Json(respond(conn, &find(conn, id)?, &q)?)))
        .await
}

#[post("/lbaas/loadbalancers", data = "<body>")]
async fn create(
    state: Api<'_>,
    body: Body<Value>,
    project: RequestProject,
) -> ApiResult<(Status, Json<Value>)> {
    let req: CreateLoadBalancer =
        shape::parse_wrapped(body.into_inner()?, "loadbalancer", UNSUPPORTED)?;
    if let Some(p) = req.provider.as_deref()
        && p != shape::PROVIDER
    {
        return Err(ApiError::bad_request(format!(
            "Provider '{p}' is not enabled."
        )));
    }
    let id: Option<LoadBalancerId> = validate::id("id", req.id)?;
    let subnet: Option<SubnetId> = validate::id("vip_subnet_id", req.vip_subnet_id)?;
    let mut network_id: Option<NetworkId> = validate::id("vip_network_id", req.vip_network_id)?;
    if let Some(subnet) = subnet {
        let net = network_of_subnet(&state, subnet).ok_or_else(|| {
            ApiError::field("vip_subnet_id", format!("subnet {subnet} not found"))
        })?;
        if network_id.is_some_and(|n| n != net) {
            return Err(ApiError::field(
                "vip_subnet_id",
                format!("subnet {subnet} is not on network {}", net),
            ));
        }
        network_id = Some(net);
    }
    let vip = VipChoice {
        port_id: validate::id("vip_port_id", req.vip_port_id)?,
        network_id,
        ip_address: req
            .vip_address
            .map(|ip| {
                ip.parse()
                    .map_err(|_| ApiError::field("vip_address", "must be an IP address"))
            })
            .transpose()?,
    };
    if vip.port_id.is_none() && vip.network_id.is_none() {
        return Err(ApiError::bad_request(
            "Validation failure: VIP must contain one of: vip_port_id, vip_network_id, \
             vip_subnet_id.",
        ));
    }
    let project_id = project.resolve(req.project_id, &state.default_project_id)?;
    let name = validate::text("name", req.name)?;
    let description = validate::text("description", req.description)?;
    let tags = shape::tags(req.tags)?;
    let st = state.inner().clone();
    let out = state
        .write(move |tx| {
            let id = id.unwrap_or_default();
            if store::load_balancers::exists(tx, id)? {
                return Err(ApiError::conflict(format!(
                    "Load Balancer {id} already exists"
                )));
            }
            let vip = reserve_vip(tx, &st, vip)?;
            let now = store::now();
            let lb = LoadBalancer {
                id,
                vip,
                tenant_id: Some(project_id),
                name,
                description,
                enabled: req.admin_state_up.unwrap_or(true),
                provisioning_status: ProvisioningStatus::PendingCreate,
                operating_status: OperatingStatus::Offline,
                last_error: None,
                deleted_at: None,
                tags,
                created_at: now,
                updated_at: now,
            };
            store::load_balancers::insert(tx, &lb)?;
            store::ports::attach(tx, lb.vip.port_id, id)?;
            store::jobs::insert(
                tx,
                id,
                crate::model::JobKind::CreateLoadBalancer,
                Some(id.to_string()),
            )?;
            respond(tx, &lb, &QueryPairs::default())
        })
        .await?;
    Ok((Status::Created, Json(out)))
}

#[put("/lbaas/loadbalancers/<id>", data = "<body>")]
async fn update(state: Api<'_>, id: &str, body: Body<Value>) -> ApiResult<Json<Value>> {
    let id: LoadBalancerId = path_id("Load Balancer", id)?;
    let req: UpdateLoadBalancer =
        shape::parse_wrapped(body.into_inner()?, "loadbalancer", UNSUPPORTED)?;
    let name = req.name.map_text("name")?;
    let description = req.description.map_text("description")?;
    let tags = shape::tags_update(req.tags)?;
    let out = state
        .write(move |tx| {
            let mut lb = find(tx, id)?;
            lock(
                tx,
                &lb,
                ProvisioningStatus::PendingUpdate,
                crate::model::JobKind::UpdateLoadBalancer,
                Some(id.to_string()),
            )?;
            name.apply_to(&mut lb.name);
            description.apply_to(&mut lb.description);
            if let Some(enabled) = req.admin_state_up {
                lb.enabled = enabled;
            }
            if let Some(tags) = tags {
                lb.tags = tags;
            }
            lb.provisioning_status = ProvisioningStatus::PendingUpdate;
            store::load_balancers::update(tx, &lb)?;
            let lb = find(tx, id)?;
            respond(tx, &lb, &QueryPairs::default())
        })
        .await?;
    Ok(Json(out))
}

#[delete("/lbaas/loadbalancers/<id>?<cascade>")]
async fn remove(state: Api<'_>, id: &str, cascade: Option<&str>) -> ApiResult<Status> {
    let id: LoadBalancerId = path_id("Load Balancer", id)?;
    let cascade = cascade.is_some_and(|c| c.eq_ignore_ascii_case("true") || c == "1");
    state
        .write(move |tx| {
            let lb = find(tx, id)?;
            let has_children = !store::listeners::list(tx, id)?.is_empty()
                || !store::pools::of_load_balancer(tx, id)?.is_empty();
            if has_children && !cascade {
                return Err(ApiError::bad_request(format!(
                    "Validation failure: Cannot delete Load Balancer {id} - it has children"
                )));
            }
            // The controller's delete takes every child with it (v1's delete).
            lock(
                tx,
                &lb,
                ProvisioningStatus::PendingDelete,
                crate::model::JobKind::DeleteLoadBalancer,
                Some(id.to_string()),
            )
        })
        .await?;
    Ok(Status::NoContent)
}

#[put("/lbaas/loadbalancers/<id>/failover")]
async fn failover(state: Api<'_>, id: &str) -> ApiResult<Status> {
    let id: LoadBalancerId = path_id("Load Balancer", id)?;
    state
        .write(move |tx| {
            let lb = find(tx, id)?;
            // Ballast has no amphorae to replace: a failover re-applies the
            // load balancer (plug the VIP, rebuild its listeners).
            lock(
                tx,
                &lb,
                ProvisioningStatus::PendingUpdate,
                crate::model::JobKind::UpdateLoadBalancer,
                Some(id.to_string()),
            )
        })
        .await?;
    Ok(Status::Accepted)
}

/// `statuses` is Octavia's alias of `status`, kept from neutron-lbaas.
#[get("/lbaas/loadbalancers/<id>/statuses")]
async fn statuses(state: Api<'_>, id: &str) -> ApiResult<Json<Value>> {
    status(state, id).await
}

#[get("/lbaas/loadbalancers/<id>/status")]
async fn status(state: Api<'_>, id: &str) -> ApiResult<Json<Value>> {
    let id: LoadBalancerId = path_id("Load Balancer", id)?;
    state
        .read(move |conn| {
            let lb = find(conn, id)?;
            let tree = store::tree::load(conn, id)?
                .ok_or_else(|| ApiError::not_found("Load Balancer", id))?;
            let listeners: Vec<Value> = tree
                .listeners
                .iter()
                .map(|lt| {
                    let l = &lt.listener;
                    let pools: Vec<Value> = lt
                        .pool
                        .iter()
                        .map(|pt| {
                            let p = &pt.pool;
                            let mut pool = json!({
                                "id": p.id.to_string(),
                                "name": p.name.clone().unwrap_or_default(),
                                "provisioning_status": p.provisioning_status,
                                "operating_status": p.operating_status,
                                "members": pt.members.iter().map(|m| json!({
                                    "id": m.id.to_string(),
                                    "name": m.name.clone().unwrap_or_default(),
                                    "operating_status": m.operating_status,
                                    "provisioning_status": m.provisioning_status,
                                    "address": m.ip_address.to_string(),
                                    "protocol_port": m.protocol_port,
                                })).collect::<Vec<_>>(),
                            });
                            if let Some(h) = &pt.monitor {
                                pool["health_monitor"] = json!({
                                    "id": h.id.to_string(),
                                    "name": h.name.clone().unwrap_or_default(),
                                    "type": h.kind,
                                    "provisioning_status": h.provisioning_status,
                                    "operating_status":
                                        super::health_monitors::operating_status(h),
                                });
                            }
                            pool
                        })
                        .collect();
                    json!({
                        "id": l.id.to_string(),
                        "name": l.name.clone().unwrap_or_default(),
                        "operating_status": l.operating_status,
                        "provisioning_status": l.provisioning_status,
                        "pools": pools,
                    })
                })
                .collect();
            Ok(Json(json!({"statuses": {"loadbalancer": {
                "id": lb.id.to_string(),
                "name": lb.name.clone().unwrap_or_default(),
                "operating_status": lb.operating_status,
                "provisioning_status": lb.provisioning_status,
                "listeners": listeners,
            }}})))
        })
        .await
}

/// The v2 `stats` object of listener counters (Ballast counts no request
/// errors apart from the connections it serves, so `request_errors` is 0).
pub fn stats_body(s: ListenerStats) -> Value {
    json!({"stats": {
        "bytes_in": s.bytes_in,
        "bytes_out": s.bytes_out,
        "active_connections": s.active_connections,
        "total_connections": s.total_connections,
        "request_errors": 0,
    }})
}

#[get("/lbaas/loadbalancers/<id>/stats")]
async fn stats(state: Api<'_>, id: &str) -> ApiResult<Json<Value>> {
    let id: LoadBalancerId = path_id("Load Balancer", id)?;
    let bases = state
        .read(move |conn| {
            find(conn, id)?;
            let mut bases = Vec::new();
            for l in store::listeners::list(conn, id)? {
                bases.push((l.id, store::stats::get(conn, l.id)?));
            }
            Ok(bases)
        })
        .await?;
    let mut total = ListenerStats::default();
    for (l, base) in bases {
        let s = state.current_stats(l, base);
        total.bytes_in += s.bytes_in;
        total.bytes_out += s.bytes_out;
        total.active_connections += s.active_connections;
        total.total_connections += s.total_connections;
    }
    Ok(Json(stats_body(total)))
}
