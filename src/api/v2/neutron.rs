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

use rocket::serde::json::Json;
use rocket::{get, routes};
use serde_json::{Map, Value, json};

use super::list::{QueryPairs, select_fields};
use crate::api::auth::Api;
use crate::api::error::{ApiError, ApiResult};
use crate::api::guards::path_id;
use crate::api::lookup;
use crate::model::{NetworkId, PortId, SubnetId};
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

fn network_body(n: &Network) -> Value {
    json!({
        "id": n.id,
        "name": n.name,
        "description": "",
        "status": "ACTIVE",
        "admin_state_up": true,
        "shared": true,
        "router:external": false,
        "subnets": [n.id.subnet_id()],
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
        "id": n.id.subnet_id(),
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
        "fixed_ips": [{"subnet_id": p.network_id.subnet_id(), "ip_address": p.ip_address}],
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
fn select(items: Vec<Value>, query: &QueryPairs, allowed: &[&str]) -> ApiResult<Vec<Value>> {
    let mut filters: Vec<(&str, Vec<&str>)> = Vec::new();
    for (key, value) in query.0.iter().filter(|(k, _)| k != "fields") {
        let key = key.as_str();
        if !allowed.contains(&key) {
            return Err(ApiError::bad_request(format!(
                "[{key}] is invalid attribute for filtering"
            )));
        }
        match filters.iter_mut().find(|(k, _)| *k == key) {
            Some((_, values)) => values.push(value),
            None => filters.push((key, vec![value])),
        }
    }
    Ok(items
        .into_iter()
        .filter(|item| {
            filters
                .iter()
                .all(|(key, values)| values.iter().any(|v| matches(item, key, v)))
        })
        .map(|mut item| {
            if let Value::Object(map) = &mut item {
                select_fields(map, query);
            }
            item
        })
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

/// `{"<key>": items}`, Neutron's list body.
fn wrap(key: &str, items: Vec<Value>) -> Json<Value> {
    Json(Value::Object(Map::from_iter([(
        key.to_string(),
        Value::Array(items),
    )])))
}

#[get("/networks")]
fn list_networks(state: Api<'_>, query: QueryPairs) -> ApiResult<Json<Value>> {
    let items = state.network.networks().iter().map(network_body).collect();
    Ok(wrap("networks", select(items, &query, NETWORK_FILTERS)?))
}

#[get("/networks/<id>")]
fn show_network(state: Api<'_>, id: &str) -> ApiResult<Json<Value>> {
    let id: NetworkId = path_id("network", id)?;
    let network = state
        .network
        .get_network(id)
        .ok_or_else(|| ApiError::not_found("network", id))?;
    Ok(Json(json!({ "network": network_body(network) })))
}

#[get("/subnets")]
fn list_subnets(state: Api<'_>, query: QueryPairs) -> ApiResult<Json<Value>> {
    let items = state.network.networks().iter().map(subnet_body).collect();
    Ok(wrap("subnets", select(items, &query, SUBNET_FILTERS)?))
}

#[get("/subnets/<id>")]
fn show_subnet(state: Api<'_>, id: &str) -> ApiResult<Json<Value>> {
    let id: SubnetId = path_id("subnet", id)?;
    let network = state
        .network
        .networks()
        .iter()
        .find(|n| n.id.subnet_id() == id)
        .ok_or_else(|| ApiError::not_found("subnet", id))?;
    Ok(Json(json!({ "subnet": subnet_body(network) })))
}

#[get("/ports")]
async fn list_ports(state: Api<'_>, query: QueryPairs) -> ApiResult<Json<Value>> {
    let all = state
        .read(|conn| {
            let all = ports::list(conn)?;
            Ok(all
                .into_iter()
                .filter(lookup::port_visible)
                .collect::<Vec<_>>())
        })
        .await?;
    let items = all.iter().map(port_body).collect();
    Ok(wrap("ports", select(items, &query, PORT_FILTERS)?))
}

#[get("/ports/<id>")]
async fn show_port(state: Api<'_>, id: &str) -> ApiResult<Json<Value>> {
    let id: PortId = path_id("port", id)?;
    let port = state
        .read(move |conn| lookup::port(conn, id)?.ok_or_else(|| ApiError::not_found("port", id)))
        .await?;
    Ok(Json(json!({ "port": port_body(&port) })))
}

/// Ballast has no floating IPs: VIPs are reached on their own address.
/// Filters are accepted and match nothing.
#[get("/floatingips")]
fn list_floating_ips() -> Json<Value> {
    Json(json!({ "floatingips": [] }))
}
