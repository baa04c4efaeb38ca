//! `/healthz` and `/readyz`.

use std::sync::atomic::Ordering;

use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{State, get, routes};
use serde_json::{Value, json};

use super::ApiState;

pub fn routes() -> Vec<rocket::Route> {
    routes![healthz, readyz]
}

/// 200 while the process runs.
#[get("/healthz")]
fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// 200 once the start-up reconcile is done and the store answers; 503 before.
#[get("/readyz")]
async fn readyz(state: &State<ApiState>) -> (Status, Json<Value>) {
    if !state.ready.load(Ordering::Acquire) {
        return (
            Status::ServiceUnavailable,
            Json(json!({ "status": "starting", "reason": "start-up reconcile not finished" })),
        );
    }
    match state
        .store
        .run(|conn| Ok(conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
        .await
    {
        Ok(_) => (Status::Ok, Json(json!({ "status": "ready" }))),
        Err(e) => {
            tracing::error!(error = %e, "readiness check: store does not answer");
            (
                Status::ServiceUnavailable,
                Json(json!({ "status": "unavailable", "reason": "store does not answer" })),
            )
        }
    }
}
