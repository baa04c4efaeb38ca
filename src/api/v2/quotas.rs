//! `lbaas/quotas`: Ballast enforces no quotas, so every project's quota is
//! Octavia's "unlimited" (-1) for every kind, no project has a non-default
//! quota to list, a reset is a no-op, and setting one is refused (400) until
//! quotas are enforced: accepting a limit it would not keep would lie.

use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{delete, get, put, routes};
use serde_json::{Value, json};

use super::shape::unsupported;
use crate::api::error::ApiError;

/// Every route here, for mounting under `/v2` and `/v2.0`.
pub fn routes() -> Vec<rocket::Route> {
    routes![list, show, show_default, set, reset]
}

/// Octavia's value for "no limit".
const UNLIMITED: i64 = -1;

/// A project's quota body, with both of Octavia's spellings of the load
/// balancer and health monitor keys (the underscored ones are deprecated
/// but still sent).
fn quota(project_id: &str) -> Value {
    json!({
        "project_id": project_id,
        "loadbalancer": UNLIMITED,
        "load_balancer": UNLIMITED,
        "listener": UNLIMITED,
        "pool": UNLIMITED,
        "member": UNLIMITED,
        "healthmonitor": UNLIMITED,
        "health_monitor": UNLIMITED,
        "l7policy": UNLIMITED,
        "l7rule": UNLIMITED,
    })
}

/// Only non-default quotas are listed, and there are none.
#[get("/lbaas/quotas")]
fn list() -> Json<Value> {
    Json(json!({ "quotas": [], "quotas_links": [] }))
}

/// Any project's quota (also `/lbaas/quotas/defaults`, as in Octavia).
#[get("/lbaas/quotas/<project_id>")]
fn show(project_id: &str) -> Json<Value> {
    Json(json!({ "quota": quota(project_id) }))
}

#[get("/lbaas/quotas/<project_id>/default")]
fn show_default(project_id: &str) -> Json<Value> {
    Json(json!({ "quota": quota(project_id) }))
}

/// Refused whatever the body: Ballast would not keep the limit.
#[put("/lbaas/quotas/<_project_id>")]
fn set(_project_id: &str) -> ApiError {
    unsupported("quotas (Ballast does not enforce quotas; every project is unlimited)")
}

/// Back to the defaults, which every project already has.
#[delete("/lbaas/quotas/<_project_id>")]
fn reset(_project_id: &str) -> Status {
    Status::Accepted
}
