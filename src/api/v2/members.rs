//! `lbaas/pools/{pool_id}/members`: a pool's members, one by one (create
//! 201, update 200, delete 204) and as a whole list (`PUT` of the pool's
//! members, 202, as Terraform and Octavia's batch update send it). Every
//! write takes the load balancer's lock and queues its job in the same
//! transaction, as `/v1` does; the rows are the ones `/v1` shows.
//!
//! Ballast has no backup members, no separate monitor address or port, and
//! no SR-IOV: asking for any of them is a 400 naming the option. A member's
//! `subnet_id`, when given, must be one of Ballast's subnets; it is kept and
//! shown (members are reached through the host's routing either way).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{delete, get, post, put, routes};
use serde::Deserialize;
use serde_json::{Value, json};

use super::list::{ListSpec, QueryPairs, Row, respond};
use super::shape::{
    BaseUrl, Int, parse_wrapped, refuse_unsupported, tags, tags_update, timestamp, timestamp_opt,
};
use crate::api::auth::Api;
use crate::api::error::{ApiError, ApiResult};
use crate::api::guards::{Body, Patch, parse_body, path_id};
use crate::api::lookup::visible;
use crate::api::policy::ApiPolicy;
use crate::api::{ApiState, lock_update, validate};
use crate::model::{MemberId, OperatingStatus, PoolId, ProvisioningStatus, SubnetId};
use crate::store::{self, members::Member, pools::Pool};

/// Every route here, for mounting under `/v2` and `/v2.0`.
pub fn routes() -> Vec<rocket::Route> {
    routes![list, show, create, update, remove, replace_all]
}

/// Largest weight (Octavia's `MAX_WEIGHT`); 0 drains the member.
const MAX_WEIGHT: i64 = 256;

const SPEC: ListSpec = ListSpec {
    plural: "members",
    filters: &[
        "id",
        "name",
        "address",
        "protocol_port",
        "weight",
        "backup",
        "subnet_id",
        "admin_state_up",
        "project_id",
        "provisioning_status",
        "operating_status",
        "monitor_address",
        "monitor_port",
        "vnic_type",
        "created_at",
        "updated_at",
    ],
};

/// A member as Octavia's `MemberPOST` (and each entry of a batch) has it.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CreateMember {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    admin_state_up: Option<bool>,
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    protocol_port: Option<Int>,
    #[serde(default)]
    weight: Option<Int>,
    #[serde(default)]
    subnet_id: Option<String>,
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// Octavia's `MemberPUT`: what an existing member may change (`null`
/// clears `name` and `tags`, and resets `weight` and `backup`).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct UpdateMember {
    #[serde(default)]
    name: Patch<String>,
    #[serde(default)]
    admin_state_up: Patch<bool>,
    #[serde(default)]
    weight: Patch<Int>,
    #[serde(default)]
    tags: Patch<Vec<String>>,
}

/// A validated new member (or a batch entry).
struct NewMember {
    name: Option<String>,
    enabled: bool,
    address: IpAddr,
    protocol_port: u16,
    weight: u32,
    subnet_id: Option<String>,
    project_id: Option<String>,
    tags: Vec<String>,
    /// Fields the request named, for a batch update of an existing member
    /// (Octavia changes only what was sent, plus the defaulted ones).
    name_sent: bool,
    tags_sent: bool,
}

/// The options of Octavia's member Ballast does not implement: any value
/// but `null` or `false` is refused (backup members, a separate monitor
/// address or port, SR-IOV ports).
const UNSUPPORTED: &[(&str, Option<&str>)] = &[
    ("backup", None),
    ("monitor_address", None),
    ("monitor_port", None),
    ("request_sriov", None),
];

fn weight(w: Int) -> ApiResult<u32> {
    validate::range("weight", w.0, 0, MAX_WEIGHT)
}

fn name(name: Option<String>) -> ApiResult<Option<String>> {
    validate::text("name", name)
}

/// The subnet ids Ballast has (one per network), for checking a member's.
fn known_subnets(state: &ApiState) -> HashSet<SubnetId> {
    state
        .network
        .networks()
        .iter()
        .map(|n| n.id.subnet_id())
        .collect()
}

impl CreateMember {
    /// Validate a new member: `address` and `protocol_port` are required,
    /// `weight` 0..=256 (default 1), `subnet_id` one of `subnets` (else
    /// Octavia's 404 for an unknown subnet).
    fn validate(self, subnets: &HashSet<SubnetId>) -> ApiResult<NewMember> {
        let address: IpAddr = self
            .address
            .ok_or_else(|| ApiError::field("address", "is required"))?
            .parse()
            .map_err(|_| ApiError::field("address", "must be an IP address"))?;
        let protocol_port = validate::port(
            "protocol_port",
            self.protocol_port
                .ok_or_else(|| ApiError::field("protocol_port", "is required"))?
                .0,
        )?;
        let subnet_id = match self.subnet_id {
            None => None,
            Some(raw) => match raw.parse::<SubnetId>() {
                Ok(id) if subnets.contains(&id) => Some(id.to_string()),
                _ => {
                    return Err(ApiError::new(
                        Status::NotFound,
                        format!("Subnet {raw} not found."),
                    ));
                }
            },
        };
        Ok(NewMember {
            name_sent: self.name.is_some(),
            tags_sent: self.tags.is_some(),
            name: name(self.name)?,
            enabled: self.admin_state_up.unwrap_or(true),
            address,
            protocol_port,
            weight: self.weight.map(weight).transpose()?.unwrap_or(1),
            subnet_id,
            project_id: self.project_id,
            tags: tags(self.tags)?,
        })
    }
}

/// The pool `id` (404 when unknown, deleted or of a project the request may
/// not see) and its load balancer's
/// project, which its members share (`default` for a load balancer made
/// without one).
pub(super) fn pool_and_project(
    conn: &rusqlite::Connection,
    id: PoolId,
    default: &str,
) -> ApiResult<(Pool, String)> {
    let pool = store::pools::find(conn, id)?
        .filter(|p| p.provisioning_status != ProvisioningStatus::Deleted)
        .ok_or_else(|| ApiError::not_found("Pool", id))?;
    // A pool of a load balancer the request may not see is absent: the 404
    // names the pool asked for, never its load balancer.
    let project = store::load_balancers::get(conn, pool.load_balancer_id)?
        .filter(visible)
        .ok_or_else(|| ApiError::not_found("Pool", id))?
        .tenant_id
        .unwrap_or_else(|| default.to_string());
    Ok((pool, project))
}

/// A body's `project_id` must be the load balancer's: children inherit it.
fn check_project(given: Option<&str>, project: &str) -> ApiResult<()> {
    match given {
        Some(p) if p != project => Err(ApiError::field(
            "project_id",
            format!("must be the load balancer's project ({project})"),
        )),
        _ => Ok(()),
    }
}

/// A member as Octavia's `MemberResponse` shows it.
fn body(m: &Member, project: &str) -> Value {
    json!({
        "id": m.id,
        "name": m.name.clone().unwrap_or_default(),
        "operating_status": m.operating_status,
        "provisioning_status": m.provisioning_status,
        "admin_state_up": m.enabled,
        "address": m.ip_address,
        "protocol_port": m.protocol_port,
        "weight": m.weight,
        "backup": false,
        "subnet_id": m.subnet_id,
        "project_id": project,
        "created_at": timestamp(m.created_at),
        "updated_at": timestamp_opt(m.updated_at),
        "monitor_address": null,
        "monitor_port": null,
        "tags": m.tags,
        "vnic_type": "normal",
    })
}

fn pool_id(raw: &str) -> ApiResult<PoolId> {
    path_id("Pool", raw)
}

#[get("/lbaas/pools/<pool>/members")]
async fn list(
    state: Api<'_>,
    pool: &str,
    query: QueryPairs,
    base: BaseUrl,
) -> ApiResult<Json<Value>> {
    let p = pool_id(pool)?;
    let url = base.join(&format!("/v2/lbaas/pools/{p}/members"));
    let default = state.default_project_id.clone();
    state
        .read(move |conn| {
            let (_, project) = pool_and_project(conn, p, &default)?;
            let rows = store::members::list(conn, p)?
                .iter()
                .map(|m| Row::new(body(m, &project)))
                .collect();
            // In the closure: the list's project filter reads the scope.
            Ok(Json(respond(rows, &query, &SPEC, &url)?))
        })
        .await
}

#[get("/lbaas/pools/<pool>/members/<id>")]
async fn show(state: Api<'_>, pool: &str, id: &str) -> ApiResult<Json<Value>> {
    let p = pool_id(pool)?;
    let id: MemberId = path_id("Member", id)?;
    let default = state.default_project_id.clone();
    state
        .read(move |conn| {
            let (_, project) = pool_and_project(conn, p, &default)?;
            let m = store::members::get(conn, p, id)?
                .ok_or_else(|| ApiError::not_found("Member", id))?;
            Ok(Json(json!({ "member": body(&m, &project) })))
        })
        .await
}

/// Insert a new member of pool `p` (the caller holds the lock); an address
/// that would loop or is reserved is refused by `policy`.
fn insert(
    tx: &rusqlite::Connection,
    policy: &ApiPolicy,
    id: MemberId,
    p: PoolId,
    new: NewMember,
) -> ApiResult<Member> {
    policy.check_member(tx, "address", new.address, new.protocol_port)?;
    if store::members::address_taken(tx, p, new.address, new.protocol_port, None)? {
        return Err(ApiError::conflict(format!(
            "Another member on this pool is already using ip {} on protocol_port {}",
            new.address, new.protocol_port
        )));
    }
    let member = Member {
        id,
        pool_id: p,
        ip_address: new.address,
        protocol_port: new.protocol_port,
        weight: new.weight,
        subnet_id: new.subnet_id,
        enabled: new.enabled,
        operating_status: OperatingStatus::Offline,
        provisioning_status: ProvisioningStatus::PendingCreate,
        name: new.name,
        tags: new.tags,
        created_at: store::now(),
        updated_at: None,
    };
    store::members::insert(tx, &member)?;
    Ok(member)
}

#[post("/lbaas/pools/<pool>/members", data = "<req>")]
async fn create(state: Api<'_>, pool: &str, req: Body<Value>) -> ApiResult<(Status, Json<Value>)> {
    let p = pool_id(pool)?;
    let new = parse_wrapped::<CreateMember>(req.into_inner()?, "member", UNSUPPORTED)?
        .validate(&known_subnets(&state))?;
    let default = state.default_project_id.clone();
    let policy = std::sync::Arc::clone(&state.policy);
    let (member, project) = state
        .write(move |tx| {
            let (pool, project) = pool_and_project(tx, p, &default)?;
            check_project(new.project_id.as_deref(), &project)?;
            let id = MemberId::new();
            lock_update(
                tx,
                pool.load_balancer_id,
                crate::model::JobKind::CreateMember,
                Some(id.to_string()),
            )?;
            Ok((insert(tx, &policy, id, p, new)?, project))
        })
        .await?;
    Ok((
        Status::Created,
        Json(json!({ "member": body(&member, &project) })),
    ))
}

/// Apply an update body onto `m`.
fn apply_update(req: UpdateMember, m: &mut Member) -> ApiResult<()> {
    match req.name {
        Patch::Absent => {}
        Patch::Null => m.name = None,
        Patch::Value(n) => m.name = name(Some(n))?,
    }
    match req.admin_state_up {
        Patch::Absent => {}
        Patch::Null => return Err(ApiError::field("admin_state_up", "must be true or false")),
        Patch::Value(e) => m.enabled = e,
    }
    match req.weight {
        Patch::Absent => {}
        Patch::Null => m.weight = 1,
        Patch::Value(w) => m.weight = weight(w)?,
    }
    if let Some(t) = tags_update(req.tags)? {
        m.tags = t;
    }
    Ok(())
}

#[put("/lbaas/pools/<pool>/members/<id>", data = "<req>")]
async fn update(state: Api<'_>, pool: &str, id: &str, req: Body<Value>) -> ApiResult<Json<Value>> {
    let p = pool_id(pool)?;
    let id: MemberId = path_id("Member", id)?;
    let req = parse_wrapped::<UpdateMember>(req.into_inner()?, "member", UNSUPPORTED)?;
    let default = state.default_project_id.clone();
    let (member, project) = state
        .write(move |tx| {
            let (pool, project) = pool_and_project(tx, p, &default)?;
            let mut m =
                store::members::get(tx, p, id)?.ok_or_else(|| ApiError::not_found("Member", id))?;
            apply_update(req, &mut m)?;
            lock_update(
                tx,
                pool.load_balancer_id,
                crate::model::JobKind::UpdateMember,
                Some(id.to_string()),
            )?;
            m.provisioning_status = ProvisioningStatus::PendingUpdate;
            store::members::update(tx, &m)?;
            let m = store::members::get(tx, p, id)?
                .ok_or_else(|| ApiError::internal("a member vanished inside its own update"))?;
            Ok((m, project))
        })
        .await?;
    Ok(Json(json!({ "member": body(&member, &project) })))
}

#[delete("/lbaas/pools/<pool>/members/<id>")]
async fn remove(state: Api<'_>, pool: &str, id: &str) -> ApiResult<Status> {
    let p = pool_id(pool)?;
    let id: MemberId = path_id("Member", id)?;
    let default = state.default_project_id.clone();
    state
        .write(move |tx| {
            let (pool, _) = pool_and_project(tx, p, &default)?;
            store::members::get(tx, p, id)?.ok_or_else(|| ApiError::not_found("Member", id))?;
            lock_update(
                tx,
                pool.load_balancer_id,
                crate::model::JobKind::DeleteMember,
                Some(id.to_string()),
            )?;
            store::members::set_status(tx, id, ProvisioningStatus::PendingDelete)?;
            Ok(())
        })
        .await?;
    Ok(Status::NoContent)
}

/// The members of a batch body `{"members": [...]}`, each validated as a
/// new member; a fault names the entry (`members[1]: ...`).
fn batch(body: Value, subnets: &HashSet<SubnetId>) -> ApiResult<Vec<NewMember>> {
    let Value::Object(mut outer) = body else {
        return Err(ApiError::bad_request("request body must be a JSON object"));
    };
    let Some(Value::Array(entries)) = outer.remove("members") else {
        return Err(ApiError::bad_request(
            "request body must have a \"members\" list",
        ));
    };
    if let Some(other) = outer.keys().next() {
        return Err(ApiError::bad_request(format!(
            "unknown field `{other}` beside \"members\""
        )));
    }
    entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| {
            let named = |e: ApiError| ApiError {
                message: format!("members[{i}]: {}", e.message),
                ..e
            };
            let Value::Object(mut entry) = entry else {
                return Err(named(ApiError::bad_request("must be a JSON object")));
            };
            refuse_unsupported(&mut entry, UNSUPPORTED).map_err(named)?;
            let m: CreateMember =
                parse_body(Value::Object(entry).to_string().as_bytes()).map_err(named)?;
            m.validate(subnets).map_err(named)
        })
        .collect()
}

/// `PUT /lbaas/pools/{id}/members`: make the pool's members the listed ones.
/// Members are matched by `(address, protocol_port)`: a listed one that
/// exists is updated (what was sent, `weight` and `admin_state_up`
/// defaulted as Octavia does), a new one is created, and one not listed is
/// deleted unless `?additive_only=true`. A batch that changes nothing takes
/// no lock. 202 without a body.
#[put("/lbaas/pools/<pool>/members", data = "<req>")]
async fn replace_all(
    state: Api<'_>,
    pool: &str,
    query: QueryPairs,
    req: Body<Value>,
) -> ApiResult<Status> {
    let p = pool_id(pool)?;
    let additive_only = query.flag("additive_only");
    let wanted = batch(req.into_inner()?, &known_subnets(&state))?;
    let default = state.default_project_id.clone();
    let policy = std::sync::Arc::clone(&state.policy);
    state
        .write(move |tx| {
            let (pool, project) = pool_and_project(tx, p, &default)?;
            let existing: HashMap<(IpAddr, u16), Member> = store::members::list(tx, p)?
                .into_iter()
                .filter(|m| m.provisioning_status != ProvisioningStatus::PendingDelete)
                .map(|m| ((m.ip_address, m.protocol_port), m))
                .collect();
            let mut seen = HashSet::new();
            let mut creates = Vec::new();
            let mut updates = Vec::new();
            for new in wanted {
                check_project(new.project_id.as_deref(), &project)?;
                let key = (new.address, new.protocol_port);
                if !seen.insert(key) {
                    return Err(if existing.contains_key(&key) {
                        ApiError::bad_request(
                            "Validation failure: Member must be updated only once in the same request.",
                        )
                    } else {
                        ApiError::conflict(format!(
                            "Another member on this pool is already using ip {} on protocol_port {}",
                            key.0, key.1
                        ))
                    });
                }
                match existing.get(&key) {
                    Some(old) => updates.push((old.clone(), new)),
                    None => creates.push(new),
                }
            }
            // With additive_only, members left out are left alone.
            let deletes: Vec<&Member> = existing
                .iter()
                .filter(|(key, _)| !additive_only && !seen.contains(*key))
                .map(|(_, m)| m)
                .collect();
            if creates.is_empty() && updates.is_empty() && deletes.is_empty() {
                return Ok(());
            }
            lock_update(
                tx,
                pool.load_balancer_id,
                crate::model::JobKind::BatchUpdateMembers,
                Some(p.to_string()),
            )?;
            for (mut m, new) in updates {
                if new.name_sent {
                    m.name = new.name;
                }
                if new.tags_sent {
                    m.tags = new.tags;
                }
                m.weight = new.weight;
                m.enabled = new.enabled;
                m.provisioning_status = ProvisioningStatus::PendingUpdate;
                store::members::update(tx, &m)?;
            }
            for new in creates {
                insert(tx, &policy, MemberId::new(), p, new)?;
            }
            for m in deletes {
                store::members::set_status(tx, m.id, ProvisioningStatus::PendingDelete)?;
            }
            Ok(())
        })
        .await?;
    Ok(Status::Accepted)
}
