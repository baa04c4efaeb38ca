//! `/v1/.../pools/{pool_id}/members`.

use crate::api::auth::Api;
use std::net::IpAddr;

use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{delete, get, post, put, routes};
use serde::Deserialize;

use super::error::{ApiError, ApiResult};
use super::guards::{Body, path_id};
use super::lookup::{pool, pool_ids};
use super::{lock_update, validate};
use crate::all_valid;
use crate::model::{JobKind, MemberId, OperatingStatus, ProvisioningStatus};
use crate::store::{self, members::Member};

pub fn routes() -> Vec<rocket::Route> {
    routes![list, show, create, update, remove]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateMember {
    id: Option<String>,
    ip_address: Option<String>,
    protocol_port: Option<i64>,
    weight: Option<i64>,
    subnet_id: Option<String>,
    enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    protocol_port: Option<i64>,
    weight: Option<i64>,
    enabled: Option<bool>,
}

const MAX_WEIGHT: i64 = 256;

#[get("/loadbalancers/<lb>/listeners/<l>/pools/<p>/members")]
async fn list(state: Api<'_>, lb: &str, l: &str, p: &str) -> ApiResult<Json<Vec<Member>>> {
    let (lb, l, p) = pool_ids(lb, l, p)?;
    state
        .read(move |conn| {
            pool(conn, lb, l, p)?;
            Ok(Json(store::members::list(conn, p)?))
        })
        .await
}

#[get("/loadbalancers/<lb>/listeners/<l>/pools/<p>/members/<id>")]
async fn show(state: Api<'_>, lb: &str, l: &str, p: &str, id: &str) -> ApiResult<Json<Member>> {
    let (lb, l, p) = pool_ids(lb, l, p)?;
    let id: MemberId = path_id("member", id)?;
    state
        .read(move |conn| {
            pool(conn, lb, l, p)?;
            let m = store::members::get(conn, p, id)?
                .ok_or_else(|| ApiError::not_found("member", id))?;
            Ok(Json(m))
        })
        .await
}

#[post("/loadbalancers/<lb>/listeners/<l>/pools/<p>/members", data = "<body>")]
async fn create(
    state: Api<'_>,
    lb: &str,
    l: &str,
    p: &str,
    body: Body<CreateMember>,
) -> ApiResult<(Status, Json<Member>)> {
    let (lb, l, p) = pool_ids(lb, l, p)?;
    let req = body.into_inner()?;
    let (id, ip, port, weight, subnet_id) = all_valid!(
        id = validate::id::<MemberId>("id", req.id),
        ip = validate::required("ip_address", req.ip_address)
            .and_then(|v| validate::ip("ip_address", &v)),
        port = validate::required("protocol_port", req.protocol_port)
            .and_then(|v| validate::port("protocol_port", v)),
        weight = validate::range("weight", req.weight.unwrap_or(1), 0, MAX_WEIGHT),
        subnet_id = validate::text("subnet_id", req.subnet_id),
    )?;
    let ip: IpAddr = ip;
    let policy = std::sync::Arc::clone(&state.policy);
    let member = state
        .write(move |tx| {
            pool(tx, lb, l, p)?;
            policy.check_member(tx, "ip_address", ip, port)?;
            let id = id.unwrap_or_default();
            lock_update(tx, lb, JobKind::CreateMember, Some(id.to_string()))?;
            if store::members::id_taken(tx, id)? {
                return Err(ApiError::conflict(format!("member {id} already exists")));
            }
            if store::members::address_taken(tx, p, ip, port, None)? {
                return Err(ApiError::conflict(format!(
                    "pool {p} already has a member {ip}:{port}"
                )));
            }
            let member = Member {
                id,
                pool_id: p,
                ip_address: ip,
                protocol_port: port,
                weight,
                subnet_id,
                enabled: req.enabled.unwrap_or(true),
                operating_status: OperatingStatus::Offline,
                provisioning_status: ProvisioningStatus::PendingCreate,
                name: None,
                tags: Vec::new(),
                created_at: store::now(),
                updated_at: None,
            };
            store::members::insert(tx, &member)?;
            Ok(member)
        })
        .await?;
    Ok((Status::Accepted, Json(member)))
}

#[put(
    "/loadbalancers/<lb>/listeners/<l>/pools/<p>/members/<id>",
    data = "<body>"
)]
async fn update(
    state: Api<'_>,
    lb: &str,
    l: &str,
    p: &str,
    id: &str,
    body: Body<UpdateMember>,
) -> ApiResult<(Status, Json<Member>)> {
    let (lb, l, p) = pool_ids(lb, l, p)?;
    let id: MemberId = path_id("member", id)?;
    let req = body.into_inner()?;
    let (port, weight) = all_valid!(
        port = validate::optional(req.protocol_port, |v| validate::port("protocol_port", v)),
        weight = validate::optional(req.weight, |w| validate::range("weight", w, 0, MAX_WEIGHT)),
    )?;
    let policy = std::sync::Arc::clone(&state.policy);
    let member = state
        .write(move |tx| {
            pool(tx, lb, l, p)?;
            let mut m =
                store::members::get(tx, p, id)?.ok_or_else(|| ApiError::not_found("member", id))?;
            lock_update(tx, lb, JobKind::UpdateMember, Some(id.to_string()))?;
            if let Some(port) = port {
                policy.check_member(tx, "protocol_port", m.ip_address, port)?;
                m.protocol_port = port;
            }
            if let Some(w) = weight {
                m.weight = w;
            }
            if let Some(e) = req.enabled {
                m.enabled = e;
            }
            if store::members::address_taken(tx, p, m.ip_address, m.protocol_port, Some(id))? {
                return Err(ApiError::conflict(format!(
                    "pool {p} already has a member {}:{}",
                    m.ip_address, m.protocol_port
                )));
            }
            m.provisioning_status = ProvisioningStatus::PendingUpdate;
            store::members::update(tx, &m)?;
            Ok(m)
        })
        .await?;
    Ok((Status::Accepted, Json(member)))
}

#[delete("/loadbalancers/<lb>/listeners/<l>/pools/<p>/members/<id>")]
async fn remove(state: Api<'_>, lb: &str, l: &str, p: &str, id: &str) -> ApiResult<Status> {
    let (lb, l, p) = pool_ids(lb, l, p)?;
    let id: MemberId = path_id("member", id)?;
    state
        .write(move |tx| {
            pool(tx, lb, l, p)?;
            store::members::get(tx, p, id)?.ok_or_else(|| ApiError::not_found("member", id))?;
            lock_update(tx, lb, JobKind::DeleteMember, Some(id.to_string()))?;
            store::members::set_status(tx, id, ProvisioningStatus::PendingDelete)?;
            Ok(())
        })
        .await?;
    Ok(Status::Accepted)
}
