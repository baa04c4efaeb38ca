//! The Neutron look-ups the OpenStack tools make on Ballast's own endpoint
//! (`/v2.0/networks`, `/v2.0/subnets`, `/v2.0/ports`, `/v2.0/floatingips`),
//! answered read-only from the network driver's networks and the port rows.
//!
//! The `openstack` CLI resolves `--vip-subnet-id` with
//! `GET /v2.0/subnets?id=…` (then `?name=…`), and openstacksdk's `find_*`
//! with `GET /v2.0/subnets/{name_or_id}` (404, then `?name=…`); with
//! `auth_type: none` every service is this one endpoint, so without these
//! the tools cannot create a load balancer. Each Ballast network is one
//! Neutron network with one subnet (its CIDR, id derived from the network
//! id); each port is a Neutron port with one fixed IP on that subnet. Mounted
//! under `/v2.0` only: that is Neutron's one path prefix.

use rocket::request::{self, FromRequest, Request};
use rocket::serde::json::Json;
use rocket::{State, get, routes};
use serde_json::{Map, Value, json};

use crate::api::ApiState;
use crate::api::error::{ApiError, ApiResult};
use crate::api::guards::path_id;
use uuid::Uuid;

use crate::model::{NetworkId, PortId};
use crate::network::Network;
use crate::store::ports::{self, Port};

/// Every Neutron route Ballast answers, for mounting under `/v2.0`.
pub fn routes() -> Vec<rocket::Route> {
    routes![
        list_networks,
        show_network,
        list_subnets,
        show_subnet,
        list_ports,
        show_port,
        list_floating_ips
    ]
}

/// Provisional copy of the groundwork's `NetworkId::subnet_id` (same
/// namespace, same ids), replaced by it on merge.
fn subnet_id(network: NetworkId) -> Uuid {
    const SUBNET_NAMESPACE: Uuid = Uuid::from_u128(0x6d1f_0a52_3c8e_4b7a_9f0e_5a1d_b3c4_e2f1);
    Uuid::new_v5(&SUBNET_NAMESPACE, network.0.as_bytes())
}

/// Neutron's `device_owner` of a port that holds a load balancer's VIP (the
/// value Octavia itself gives its VIP ports).
const VIP_DEVICE_OWNER: &str = "Octavia";

/// The attributes a list may be filtered on (Neutron answers 400 for any
/// other, with its filter validation on). `fields` and the filters are
/// the only query arguments; pagination and sorting are refused rather than
/// ignored.
const NETWORK_FILTERS: &[&str] = &[
    "id",
    "name",
    "status",
    "admin_state_up",
    "shared",
    "router:external",
];
const SUBNET_FILTERS: &[&str] = &[
    "id",
    "name",
    "network_id",
    "cidr",
    "ip_version",
    "enable_dhcp",
];
const PORT_FILTERS: &[&str] = &[
    "id",
    "name",
    "network_id",
    "device_id",
    "device_owner",
    "status",
    "admin_state_up",
    "fixed_ips",
];

/// Every query argument of the request, decoded, in order (a key may repeat:
/// `?id=a&id=b`).
pub struct RawQuery(Vec<(String, String)>);

impl RawQuery {
    /// The `(key, value)` pairs.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The values of every `fields` argument: the attributes to answer with.
    pub fn fields(&self) -> Vec<&str> {
        self.pairs()
            .filter(|(k, _)| *k == "fields")
            .map(|(_, v)| v)
            .collect()
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for RawQuery {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> request::Outcome<Self, Self::Error> {
        let pairs = req
            .query_fields()
            .map(|f| (f.name.to_string(), f.value.to_string()))
            .collect();
        request::Outcome::Success(RawQuery(pairs))
    }
}

fn network_body(n: &Network) -> Value {
    json!({
        "id": n.id,
        "name": n.name,
        "description": "",
        "status": "ACTIVE",
        "admin_state_up": true,
        "shared": true,
        "router:external": false,
        "subnets": [subnet_id(n.id)],
        "tags": [],
    })
}

fn subnet_body(n: &Network) -> Value {
    let mut hosts = n.cidr.hosts();
    let first = hosts.next();
    let last = hosts.last().or(first);
    let pools: Vec<Value> = first
        .zip(last)
        .map(|(start, end)| json!({"start": start, "end": end}))
        .into_iter()
        .collect();
    json!({
        "id": subnet_id(n.id),
        "name": n.name,
        "description": "",
        "network_id": n.id,
        "cidr": n.cidr.to_string(),
        "ip_version": if n.cidr.addr().is_ipv4() { 4 } else { 6 },
        // Ballast routes nothing and runs no DHCP: VIPs live on the host.
        "gateway_ip": null,
        "enable_dhcp": false,
        "allocation_pools": pools,
        "dns_nameservers": [],
        "host_routes": [],
        "tags": [],
    })
}

fn port_body(p: &Port) -> Value {
    let (device_id, device_owner, status) = match p.load_balancer_id {
        Some(lb) => (lb.to_string(), VIP_DEVICE_OWNER, "ACTIVE"),
        None => (String::new(), "", "DOWN"),
    };
    json!({
        "id": p.id,
        "name": "",
        "description": "",
        "network_id": p.network_id,
        "fixed_ips": [{"subnet_id": subnet_id(p.network_id), "ip_address": p.ip_address}],
        "device_id": device_id,
        "device_owner": device_owner,
        "status": status,
        "admin_state_up": true,
        "security_groups": [],
        "tags": [],
    })
}

/// Filter `items` by the query's attribute filters (several values of one
/// key match any of them; different keys must all match) and cut each to the
/// requested `fields`.
fn select(items: Vec<Value>, query: &RawQuery, allowed: &[&str]) -> ApiResult<Vec<Value>> {
    let fields = query.fields();
    let mut filters: Vec<(&str, Vec<&str>)> = Vec::new();
    for (key, value) in query.pairs().filter(|(k, _)| *k != "fields") {
        if allowed.contains(&key) {
            match filters.iter_mut().find(|(k, _)| *k == key) {
                Some((_, values)) => values.push(value),
                None => filters.push((key, vec![value])),
            }
        } else {
            return Err(ApiError::bad_request(format!(
                "[{key}] is invalid attribute for filtering"
            )));
        }
    }
    Ok(items
        .into_iter()
        .filter(|item| {
            filters
                .iter()
                .all(|(key, values)| values.iter().any(|v| matches(item, key, v)))
        })
        .map(|item| cut(item, &fields))
        .collect())
}

/// Whether `item[key]` equals the query value `want`. Booleans compare
/// case-insensitively (`True` and `true`, as Neutron takes them);
/// `fixed_ips` takes Neutron's `ip_address=…` / `subnet_id=…` form.
fn matches(item: &Value, key: &str, want: &str) -> bool {
    if key == "fixed_ips" {
        let Some((attr, value)) = want.split_once('=') else {
            return false;
        };
        return item[key]
            .as_array()
            .is_some_and(|ips| ips.iter().any(|ip| matches(ip, attr, value)));
    }
    match &item[key] {
        Value::String(s) => s == want,
        Value::Bool(b) => want.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        Value::Number(n) => n.to_string() == want,
        _ => false,
    }
}

/// Keep only `fields` of `item` (all of it when none are asked for).
pub fn cut(item: Value, fields: &[&str]) -> Value {
    match item {
        Value::Object(map) if !fields.is_empty() => Value::Object(
            map.into_iter()
                .filter(|(k, _)| fields.contains(&k.as_str()))
                .collect::<Map<String, Value>>(),
        ),
        other => other,
    }
}

/// `{"<key>": items}`, Neutron's list body.
fn wrap(key: &str, items: Vec<Value>) -> Json<Value> {
    Json(Value::Object(Map::from_iter([(
        key.to_string(),
        Value::Array(items),
    )])))
}

#[get("/networks")]
fn list_networks(state: &State<ApiState>, query: RawQuery) -> ApiResult<Json<Value>> {
    let items = state.network.networks().iter().map(network_body).collect();
    Ok(wrap("networks", select(items, &query, NETWORK_FILTERS)?))
}

#[get("/networks/<id>")]
fn show_network(state: &State<ApiState>, id: &str) -> ApiResult<Json<Value>> {
    let id: NetworkId = path_id("network", id)?;
    let network = state
        .network
        .get_network(id)
        .ok_or_else(|| ApiError::not_found("network", id))?;
    Ok(Json(json!({ "network": network_body(network) })))
}

#[get("/subnets")]
fn list_subnets(state: &State<ApiState>, query: RawQuery) -> ApiResult<Json<Value>> {
    let items = state.network.networks().iter().map(subnet_body).collect();
    Ok(wrap("subnets", select(items, &query, SUBNET_FILTERS)?))
}

#[get("/subnets/<id>")]
fn show_subnet(state: &State<ApiState>, id: &str) -> ApiResult<Json<Value>> {
    let id: Uuid = path_id("subnet", id)?;
    let network = state
        .network
        .networks()
        .iter()
        .find(|n| subnet_id(n.id) == id)
        .ok_or_else(|| ApiError::not_found("subnet", id))?;
    Ok(Json(json!({ "subnet": subnet_body(network) })))
}

#[get("/ports")]
async fn list_ports(state: &State<ApiState>, query: RawQuery) -> ApiResult<Json<Value>> {
    let all = state.read(|conn| Ok(ports::list(conn)?)).await?;
    let items = all.iter().map(port_body).collect();
    Ok(wrap("ports", select(items, &query, PORT_FILTERS)?))
}

#[get("/ports/<id>")]
async fn show_port(state: &State<ApiState>, id: &str) -> ApiResult<Json<Value>> {
    let id: PortId = path_id("port", id)?;
    let port = state
        .read(move |conn| ports::get(conn, id)?.ok_or_else(|| ApiError::not_found("port", id)))
        .await?;
    Ok(Json(json!({ "port": port_body(&port) })))
}

/// Ballast has no floating IPs: VIPs are reached on their own address.
/// Filters are accepted and match nothing.
#[get("/floatingips")]
fn list_floating_ips() -> Json<Value> {
    Json(json!({ "floatingips": [] }))
}
