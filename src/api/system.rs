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
    let (listeners, members) = state
        .store
        .run(|conn| {
            let mut listeners = Vec::new();
            let mut stmt = conn.prepare_cached(
                "SELECT l.id, l.load_balancer_id, coalesce(l.name, ''), \
                 coalesce(s.bytes_in, 0), coalesce(s.bytes_out, 0), coalesce(s.total_connections, 0) \
                 FROM listeners l LEFT JOIN listener_stats s ON s.listener_id = l.id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)? as u64,
                    r.get::<_, i64>(4)? as u64,
                    r.get::<_, i64>(5)? as u64,
                ))
            })?;
            for row in rows {
                listeners.push(row?);
            }
            let mut members = Vec::new();
            let mut stmt = conn.prepare_cached(
                "SELECT l.load_balancer_id, m.pool_id, m.id, m.ip_address, m.protocol_port, \
                 m.operating_status FROM members m JOIN pools p ON p.id = m.pool_id \
                 JOIN listeners l ON l.id = p.listener_id",
            )?;
            let rows = stmt.query_map([], |r| {
                let ip: String = r.get(3)?;
                let port: u16 = r.get(4)?;
                let status: String = r.get(5)?;
                Ok(MemberMetric {
                    load_balancer_id: r.get(0)?,
                    pool_id: r.get(1)?,
                    member_id: r.get(2)?,
                    address: std::net::SocketAddr::new(
                        ip.parse().unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
                        port,
                    )
                    .to_string(),
                    up: status == OperatingStatus::Online.as_str(),
                })
            })?;
            for row in rows {
                members.push(row?);
            }
            Ok((listeners, members))
        })
        .await?;
    let listeners: Vec<ListenerMetric> = listeners
        .into_iter()
        .map(|(id, lb, name, bytes_in, bytes_out, total)| {
            let live = id
                .parse()
                .ok()
                .and_then(|lid| state.dataplane.listener_stats(lid));
            let (bytes_in, bytes_out, active, total) = match live {
                Some(s) => (
                    s.bytes_in.max(bytes_in),
                    s.bytes_out.max(bytes_out),
                    s.active_connections,
                    s.total_connections.max(total),
                ),
                None => (bytes_in, bytes_out, 0, total),
            };
            ListenerMetric {
                load_balancer_id: lb,
                listener_id: id,
                name,
                bytes_in,
                bytes_out,
                active_connections: active,
                total_connections: total,
            }
        })
        .collect();
    let text = state.metrics.encode(&listeners, &members);
    let content_type =
        ContentType::parse_flexible(crate::metrics::CONTENT_TYPE).unwrap_or(ContentType::Plain);
    Ok((content_type, text))
}
