//! `/healthz`, `/readyz` and `/metrics`.

use std::sync::atomic::Ordering;

use rocket::http::{ContentType, Status};
use rocket::serde::json::Json;
use rocket::{State, get, routes};
use serde_json::{Value, json};

use super::ApiState;

pub fn routes() -> Vec<rocket::Route> {
    routes![healthz, readyz, metrics]
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

/// Prometheus text: per listener counters (persisted totals plus live
/// counts, so they never go backwards across restarts), per member up,
/// provisioning jobs, health probes, build info.
#[get("/metrics")]
async fn metrics(state: &State<ApiState>) -> Result<(ContentType, String), super::error::ApiError> {
    use crate::metrics::{ListenerMetric, MemberMetric};
    use crate::model::OperatingStatus;
    let (totals, members) = state
        .store
        .run(|conn| {
            Ok((
                crate::store::stats::all_listener_totals(conn)?,
                crate::store::members::all_with_load_balancer(conn)?,
            ))
        })
        .await?;
    let listeners: Vec<ListenerMetric> = totals
        .into_iter()
        .map(|(id, lb, name, base)| {
            let s = state.current_stats(id, base);
            ListenerMetric {
                load_balancer_id: lb.to_string(),
                listener_id: id.to_string(),
                name,
                bytes_in: s.bytes_in,
                bytes_out: s.bytes_out,
                active_connections: s.active_connections,
                total_connections: s.total_connections,
            }
        })
        .collect();
    let members: Vec<MemberMetric> = members
        .into_iter()
        .map(|(lb, m)| MemberMetric {
            load_balancer_id: lb.to_string(),
            pool_id: m.pool_id.to_string(),
            member_id: m.id.to_string(),
            address: std::net::SocketAddr::new(m.ip_address, m.protocol_port).to_string(),
            up: m.operating_status == OperatingStatus::Online,
        })
        .collect();
    let text = state.metrics.encode(&listeners, &members);
    let content_type =
        ContentType::parse_flexible(crate::metrics::CONTENT_TYPE).unwrap_or(ContentType::Plain);
    Ok((content_type, text))
}
