//! Discovery: Octavia's versions document at `GET /` (for clients asking for
//! JSON; browsers still get the web UI) and a version object at `/v2` and
//! `/v2.0`, which keystoneauth reads to find the endpoint.

use rocket::serde::json::Json;
use rocket::{get, routes};
use serde_json::{Value, json};

use super::shape::BaseUrl;

/// The `/` route (JSON only) and the version objects.
pub fn routes() -> Vec<rocket::Route> {
    routes![versions, v2, v2_0]
}

/// The date Octavia's newest v2 minor version this API follows was released.
const UPDATED: &str = "2024-10-01T00:00:00Z";

fn version(base: &BaseUrl) -> Value {
    json!({
        "id": "v2.0",
        "status": "CURRENT",
        "updated": UPDATED,
        "links": [{"rel": "self", "href": base.join("/v2.0/")}],
    })
}

// Rank 1: before the web UI's `/` (rank 49), and only for JSON requests.
#[get("/", format = "json", rank = 1)]
fn versions(base: BaseUrl) -> Json<Value> {
    Json(json!({ "versions": [version(&base)] }))
}

#[get("/v2")]
fn v2(base: BaseUrl) -> Json<Value> {
    Json(json!({ "version": version(&base) }))
}

#[get("/v2.0")]
fn v2_0(base: BaseUrl) -> Json<Value> {
    Json(json!({ "version": version(&base) }))
}
