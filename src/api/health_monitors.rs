//! `/v1/.../pools/{pool_id}/health_monitor` (one object, no id), also
//! reachable as `healthmonitor`, Octavia's own spelling.

use crate::api::auth::Api;
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{delete, get, post, put, routes};
use serde::Deserialize;

use super::error::{ApiError, ApiResult};
use super::guards::Body;
use super::lookup::{pool, pool_ids};
use super::{lock_update, validate};
use crate::model::{HealthMonitorId, HealthMonitorType, HttpMethod, JobKind, ProvisioningStatus};
use crate::store::{self, health_monitors::HealthMonitor};

pub fn routes() -> Vec<rocket::Route> {
    routes![
        show,
        create,
        update,
        remove,
        show_alias,
        create_alias,
        update_alias,
        remove_alias
    ]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorRequest {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    delay: Option<i64>,
    timeout: Option<i64>,
    fall_threshold: Option<i64>,
    rise_threshold: Option<i64>,
    http_method: Option<String>,
    url_path: Option<String>,
    expected_codes: Option<String>,
    enabled: Option<bool>,
}

/// Apply a request's fields onto `h` and validate the result as a whole
/// (`timeout <= delay` spans two fields).
fn apply(req: MonitorRequest, h: &mut HealthMonitor) -> ApiResult<()> {
    if let Some(k) = req.kind.as_deref() {
        h.kind = validate::choice::<HealthMonitorType>("type", k)?;
    }
    if let Some(d) = req.delay {
        h.delay = validate::range("delay", d, 1, 86_400)?;
    }
    if let Some(t) = req.timeout {
        h.timeout = validate::range("timeout", t, 1, 86_400)?;
    }
    if let Some(f) = req.fall_threshold {
        h.fall_threshold = validate::range("fall_threshold", f, 1, 10)?;
    }
    if let Some(r) = req.rise_threshold {
        h.rise_threshold = validate::range("rise_threshold", r, 1, 10)?;
    }
    if let Some(m) = req.http_method.as_deref() {
        h.http_method = validate::choice::<HttpMethod>("http_method", m)?;
    }
    if let Some(path) = req.url_path {
        if !path.starts_with('/')
            || path.len() > 2048
            || path.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ApiError::field(
                "url_path",
                "must be a path starting with / (no spaces, at most 2048 characters)",
            ));
        }
        h.url_path = path;
    }
    if let Some(codes) = req.expected_codes {
        crate::model::parse_expected_codes(&codes)
            .map_err(|e| ApiError::field("expected_codes", e))?;
        h.expected_codes = codes;
    }
    if let Some(e) = req.enabled {
        h.enabled = e;
    }
    if h.timeout > h.delay {
        return Err(ApiError::field("timeout", "must not be greater than delay"));
    }
    Ok(())
}

#[get("/loadbalancers/<lb>/listeners/<l>/pools/<p>/health_monitor")]
async fn show(state: Api<'_>, lb: &str, l: &str, p: &str) -> ApiResult<Json<HealthMonitor>> {
    let (lb, l, p) = pool_ids(lb, l, p)?;
    state
        .read(move |conn| {
            pool(conn, lb, l, p)?;
            let h = store::health_monitors::get(conn, p)?
                .ok_or_else(|| ApiError::not_found("health monitor of pool", p))?;
            Ok(Json(h))
        })
        .await
}

#[post(
    "/loadbalancers/<lb>/listeners/<l>/pools/<p>/health_monitor",
    data = "<body>"
)]
async fn create(
    state: Api<'_>,
    lb: &str,
    l: &str,
    p: &str,
    body: Body<MonitorRequest>,
) -> ApiResult<(Status, Json<HealthMonitor>)> {
    let (lb, l, p) = pool_ids(lb, l, p)?;
    let req = body.into_inner()?;
    for (field, missing) in [
        ("type", req.kind.is_none()),
        ("delay", req.delay.is_none()),
        ("timeout", req.timeout.is_none()),
        ("fall_threshold", req.fall_threshold.is_none()),
        ("rise_threshold", req.rise_threshold.is_none()),
    ] {
        if missing {
            return Err(ApiError::field(field, "is required"));
        }
    }
    let mut h = HealthMonitor {
        id: HealthMonitorId::new(),
        pool_id: p,
        name: None,
        tags: Vec::new(),
        created_at: store::now(),
        updated_at: None,
        kind: HealthMonitorType::Tcp,
        delay: 1,
        timeout: 1,
        fall_threshold: 1,
        rise_threshold: 1,
        http_method: HttpMethod::Get,
        url_path: "/".into(),
        expected_codes: "200".into(),
        enabled: true,
        provisioning_status: ProvisioningStatus::PendingCreate,
    };
    apply(req, &mut h)?;
    let h = state
        .write(move |tx| {
            pool(tx, lb, l, p)?;
            lock_update(tx, lb, JobKind::CreateHealthMonitor, Some(p.to_string()))?;
            if store::health_monitors::get(tx, p)?.is_some() {
                return Err(ApiError::conflict(format!(
                    "pool {p} already has a health monitor"
                )));
            }
            store::health_monitors::insert(tx, &h)?;
            Ok(h)
        })
        .await?;
    Ok((Status::Accepted, Json(h)))
}

#[put(
    "/loadbalancers/<lb>/listeners/<l>/pools/<p>/health_monitor",
    data = "<body>"
)]
async fn update(
    state: Api<'_>,
    lb: &str,
    l: &str,
    p: &str,
    body: Body<MonitorRequest>,
) -> ApiResult<(Status, Json<HealthMonitor>)> {
    let (lb, l, p) = pool_ids(lb, l, p)?;
    let req = body.into_inner()?;
    let h = state
        .write(move |tx| {
            pool(tx, lb, l, p)?;
            let mut h = store::health_monitors::get(tx, p)?
                .ok_or_else(|| ApiError::not_found("health monitor of pool", p))?;
            apply(req, &mut h)?;
            lock_update(tx, lb, JobKind::UpdateHealthMonitor, Some(p.to_string()))?;
            h.provisioning_status = ProvisioningStatus::PendingUpdate;
            store::health_monitors::update(tx, &h)?;
            Ok(h)
        })
        .await?;
    Ok((Status::Accepted, Json(h)))
}

#[delete("/loadbalancers/<lb>/listeners/<l>/pools/<p>/health_monitor")]
async fn remove(state: Api<'_>, lb: &str, l: &str, p: &str) -> ApiResult<Status> {
    let (lb, l, p) = pool_ids(lb, l, p)?;
    state
        .write(move |tx| {
            pool(tx, lb, l, p)?;
            store::health_monitors::get(tx, p)?
                .ok_or_else(|| ApiError::not_found("health monitor of pool", p))?;
            lock_update(tx, lb, JobKind::DeleteHealthMonitor, Some(p.to_string()))?;
            store::health_monitors::set_status(tx, p, ProvisioningStatus::PendingDelete)?;
            Ok(())
        })
        .await?;
    Ok(Status::Accepted)
}

// `healthmonitor`, Octavia's own spelling, as an alias. Literal routes (not a
// path parameter that rejects other words) so that any other last segment is
// an unknown path (404) rather than a failed parameter (422), and so that the
// 405 check sees exactly the paths that exist.

#[get("/loadbalancers/<lb>/listeners/<l>/pools/<p>/healthmonitor")]
async fn show_alias(state: Api<'_>, lb: &str, l: &str, p: &str) -> ApiResult<Json<HealthMonitor>> {
    show(state, lb, l, p).await
}

#[post(
    "/loadbalancers/<lb>/listeners/<l>/pools/<p>/healthmonitor",
    data = "<body>"
)]
async fn create_alias(
    state: Api<'_>,
    lb: &str,
    l: &str,
    p: &str,
    body: Body<MonitorRequest>,
) -> ApiResult<(Status, Json<HealthMonitor>)> {
    create(state, lb, l, p, body).await
}

#[put(
    "/loadbalancers/<lb>/listeners/<l>/pools/<p>/healthmonitor",
    data = "<body>"
)]
async fn update_alias(
    state: Api<'_>,
    lb: &str,
    l: &str,
    p: &str,
    body: Body<MonitorRequest>,
) -> ApiResult<(Status, Json<HealthMonitor>)> {
    update(state, lb, l, p, body).await
}

#[delete("/loadbalancers/<lb>/listeners/<l>/pools/<p>/healthmonitor")]
async fn remove_alias(state: Api<'_>, lb: &str, l: &str, p: &str) -> ApiResult<Status> {
    remove(state, lb, l, p).await
}
