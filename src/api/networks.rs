//! `/v1/networks` (the host networks of the network driver) and `/v1/ports`
//! (address reservations on them).

use crate::api::auth::Api;
use std::net::IpAddr;

use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{delete, get, post, routes};
use serde::Deserialize;

use super::error::{ApiError, ApiResult};
use super::guards::{Body, path_id};
use super::v2::shape::RequestProject;
use super::{lookup, validate};
use crate::model::{NetworkId, PortId};
use crate::network::Network;
use crate::store::ports::{self, Port};

pub fn routes() -> Vec<rocket::Route> {
    routes![
        list_networks,
        show_network,
        list_ports,
        show_port,
        create_port,
        delete_port
    ]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatePort {
    id: Option<String>,
    network_id: Option<String>,
    ip_address: Option<String>,
}

#[get("/networks")]
fn list_networks(state: Api<'_>) -> Json<Vec<Network>> {
    Json(state.network.networks().to_vec())
}

#[get("/networks/<id>")]
fn show_network(state: Api<'_>, id: &str) -> ApiResult<Json<Network>> {
    let id: NetworkId = path_id("network", id)?;
    state
        .network
        .get_network(id)
        .cloned()
        .map(Json)
        .ok_or_else(|| ApiError::not_found("network", id))
}

#[get("/ports")]
async fn list_ports(state: Api<'_>) -> ApiResult<Json<Vec<Port>>> {
    state
        .read(|conn| {
            let all = ports::list(conn)?;
            Ok(Json(all.into_iter().filter(lookup::port_visible).collect()))
        })
        .await
}

#[get("/ports/<id>")]
async fn show_port(state: Api<'_>, id: &str) -> ApiResult<Json<Port>> {
    let id: PortId = path_id("port", id)?;
    state
        .read(move |conn| {
            lookup::port(conn, id)?
                .map(Json)
                .ok_or_else(|| ApiError::not_found("port", id))
        })
        .await
}

#[post("/ports", data = "<body>")]
async fn create_port(
    state: Api<'_>,
    body: Body<CreatePort>,
    project: RequestProject,
) -> ApiResult<(Status, Json<Port>)> {
    let req = body.into_inner()?;
    // The caller's project (none without identity).
    let project_id = project.owner(None)?;
    let id: Option<PortId> = validate::id("id", req.id)?;
    let network_id: NetworkId = validate::id("network_id", req.network_id)?
        .ok_or_else(|| ApiError::field("network_id", "is required"))?;
    let ip: Option<IpAddr> = req
        .ip_address
        .map(|ip| {
            ip.parse()
                .map_err(|_| ApiError::field("ip_address", "must be an IP address"))
        })
        .transpose()?;
    let network = state
        .network
        .get_network(network_id)
        .ok_or_else(|| ApiError::field("network_id", format!("network {network_id} not found")))?
        .clone();
    let port = state
        .write(move |tx| {
            let id = id.unwrap_or_default();
            if ports::get(tx, id)?.is_some() {
                return Err(ApiError::conflict(format!("port {id} already exists")));
            }
            let ip_address =
                ports::allocate_address(tx, network_id, &network.name, network.cidr, ip)?;
            let port = Port {
                id,
                network_id,
                ip_address,
                load_balancer_id: None,
                owned: false,
                project_id,
            };
            ports::insert(tx, &port)?;
            Ok(port)
        })
        .await?;
    Ok((Status::Accepted, Json(port)))
}

#[delete("/ports/<id>")]
async fn delete_port(state: Api<'_>, id: &str) -> ApiResult<Status> {
    let id: PortId = path_id("port", id)?;
    state
        .write(move |tx| {
            let port = lookup::port(tx, id)?.ok_or_else(|| ApiError::not_found("port", id))?;
            if let Some(lb) = port.load_balancer_id {
                return Err(ApiError::conflict(format!(
                    "port {id} is in use by load balancer {lb}"
                )));
            }
            ports::delete(tx, id)?;
            Ok(())
        })
        .await?;
    Ok(Status::Accepted)
}
