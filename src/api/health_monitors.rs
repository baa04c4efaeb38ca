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
    // Crate-visible so the v2 API can map its names onto these and share
    // the validation in [`apply`].
    #[serde(rename = "type", default)]
    pub(crate) kind: Option<String>,
    pub(crate) delay: Option<i64>,
    pub(crate) timeout: Option<i64>,
    pub(crate) fall_threshold: Option<i64>,
    pub(crate) rise_threshold: Option<i64>,
    pub(crate) http_method: Option<String>,
    pub(crate) url_path: Option<String>,
    pub(crate) expected_codes: Option<String>,
    pub(crate) enabled: Option<bool>,
}

/// Apply a request's fields onto `h` and validate the result as a whole
/// (`timeout <= delay` spans two fields). `errors` holds what the caller
/// found already (missing fields); the fault lists every invalid field.
pub(crate) fn apply(
    req: MonitorRequest,
    h: &mut HealthMonitor,
    mut errors: Vec<ApiError>,
) -> ApiResult<()> {
    let e = &mut errors;
    set(
        e,
        &mut h.kind,
        req.kind.as_deref().map(|k| validate::choice("type", k)),
    );
    set(
        e,
        &mut h.delay,
        req.delay.map(|d| validate::range("delay", d, 1, 86_400)),
    );
    set(
        e,
        &mut h.timeout,
        req.timeout
            .map(|t| validate::range("timeout", t, 1, 86_400)),
    );
    set(
        e,
        &mut h.fall_threshold,
        req.fall_threshold
            .map(|f| validate::range("fall_threshold", f, 1, 10)),
    );
    set(
        e,
        &mut h.rise_threshold,
        req.rise_threshold
            .map(|r| validate::range("rise_threshold", r, 1, 10)),
    );
    set(
        e,
        &mut h.http_method,
        req.http_method
            .as_deref()
            .map(|m| validate::choice("http_method", m)),
    );
    set(
        e,
        &mut h.url_path,
        req.url_path.map(|path| {
            if !path.starts_with('/')
                || path.len() > 2048
                || path.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(ApiError::field(
                    "url_path",
                    "must be a path starting with / (no spaces, at most 2048 characters)",
                ));
            }
            Ok(path)
        }),
    );
    set(
        e,
        &mut h.expected_codes,
        req.expected_codes.map(|codes| {
            crate::model::parse_expected_codes(&codes)
                .map(|_| codes)
                .map_err(|e| ApiError::field("expected_codes", e))
        }),
    );
    if let Some(enabled) = req.enabled {
        h.enabled = enabled;
    }
    // Compared only when both sides are valid numbers: a bad delay already
    // has its own message.
    let about = |field: &str| e.iter().any(|x| x.errors.iter().any(|f| f.field == field));
    if !about("delay") && !about("timeout") && h.timeout > h.delay {
        e.push(ApiError::field("timeout", "must not be greater than delay"));
    }
    match ApiError::combine(errors) {
        Some(fault) => Err(fault),
        None => Ok(()),
    }
}

/// Put a checked value into `slot`, or keep its error.
fn set<T>(errors: &mut Vec<ApiError>, slot: &mut T, checked: Option<ApiResult<T>>) {
    match checked {
        Some(Ok(value)) => *slot = value,
        Some(Err(e)) => errors.push(e),
        None => {}
    }
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
    let missing: Vec<ApiError> = [
        ("type", req.kind.is_none()),
        ("delay", req.delay.is_none()),
        ("timeout", req.timeout.is_none()),
        ("fall_threshold", req.fall_threshold.is_none()),
        ("rise_threshold", req.rise_threshold.is_none()),
    ]
    .into_iter()
    .filter(|(_, missing)| *missing)
    .map(|(field, _)| ApiError::field(field, "is required"))
    .collect();
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
    apply(req, &mut h, missing)?;
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
            apply(req, &mut h, Vec::new())?;
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
