//! `lbaas/healthmonitors`: a pool's health monitor with its own id (create
//! 201, update 200, delete 204). Octavia's names map onto the rows `/v1`
//! shows: `max_retries` is the rise threshold, `max_retries_down` the fall
//! threshold, `admin_state_up` is `enabled`; the values are validated by
//! `/v1`'s own rules (`crate::api::health_monitors::apply`).
//!
//! The probes speak HTTP/1.1 with the member's address as `Host`, so
//! `http_version` 1.1 (or none) is accepted and shown as 1.1 for HTTP and
//! HTTPS monitors, while 1.0 and `domain_name` are refused; so are the
//! monitor types Ballast does not probe (TLS-HELLO, UDP-CONNECT, SCTP).

use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{delete, get, post, put, routes};
use serde::Deserialize;
use serde_json::{Value, json};

use super::list::{ListSpec, QueryPairs, Row, respond};
use super::members::pool_and_project;
use super::shape::{
    BaseUrl, Int, id_list, parse_wrapped, tags, tags_update, timestamp, timestamp_opt, unsupported,
};
use crate::api::auth::Api;
use crate::api::error::{ApiError, ApiResult};
use crate::api::guards::{Body, Patch, path_id};
use crate::api::health_monitors::{MonitorRequest, apply};
use crate::api::{lock_update, validate};
use crate::model::{
    HealthMonitorId, HealthMonitorType, HttpMethod, LoadBalancerId, PoolId, ProvisioningStatus,
};
use crate::store::{self, health_monitors::HealthMonitor};

/// Every route here, for mounting under `/v2` and `/v2.0`.
pub fn routes() -> Vec<rocket::Route> {
    routes![list, show, create, update, remove]
}

const SPEC: ListSpec = ListSpec {
    plural: "healthmonitors",
    filters: &[
        "id",
        "name",
        "type",
        "delay",
        "timeout",
        "max_retries",
        "max_retries_down",
        "http_method",
        "url_path",
        "expected_codes",
        "admin_state_up",
        "project_id",
        "provisioning_status",
        "operating_status",
        "http_version",
        "domain_name",
        "created_at",
        "updated_at",
        "pool_id",
    ],
};

/// Octavia's default fall threshold (`DEFAULT_MAX_RETRIES_DOWN`).
const DEFAULT_MAX_RETRIES_DOWN: u32 = 3;

/// Octavia's monitor types that Ballast has no probe for.
const UNSUPPORTED_TYPES: &[&str] = &["TLS-HELLO", "UDP-CONNECT", "SCTP"];

/// Octavia's `HealthMonitorPOST`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateMonitor {
    #[serde(default)]
    name: Option<String>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    delay: Option<Int>,
    #[serde(default)]
    timeout: Option<Int>,
    #[serde(default)]
    max_retries: Option<Int>,
    #[serde(default)]
    max_retries_down: Option<Int>,
    #[serde(default)]
    http_method: Option<String>,
    #[serde(default)]
    url_path: Option<String>,
    #[serde(default)]
    expected_codes: Option<String>,
    #[serde(default)]
    admin_state_up: Option<bool>,
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    pool_id: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    http_version: Option<Value>,
    #[serde(default)]
    domain_name: Option<String>,
}

/// Octavia's `HealthMonitorPUT` (`null` resets `http_method`, `url_path`,
/// `expected_codes` and `max_retries_down` to their defaults and clears
/// `name` and `tags`; `delay`, `timeout` and `max_retries` cannot be null).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateMonitor {
    #[serde(default)]
    name: Patch<String>,
    #[serde(default)]
    delay: Patch<Int>,
    #[serde(default)]
    timeout: Patch<Int>,
    #[serde(default)]
    max_retries: Patch<Int>,
    #[serde(default)]
    max_retries_down: Patch<Int>,
    #[serde(default)]
    http_method: Patch<String>,
    #[serde(default)]
    url_path: Patch<String>,
    #[serde(default)]
    expected_codes: Patch<String>,
    #[serde(default)]
    admin_state_up: Patch<bool>,
    #[serde(default)]
    tags: Patch<Vec<String>>,
    #[serde(default)]
    http_version: Patch<Value>,
    #[serde(default)]
    domain_name: Patch<String>,
}

/// Whether a monitor of `kind` sends HTTP (and so has a method, path and
/// expected codes).
fn is_http(kind: HealthMonitorType) -> bool {
    matches!(kind, HealthMonitorType::Http | HealthMonitorType::Https)
}

/// Refuse an `http_version` other than 1.1 and any `domain_name`.
fn check_http_options(http_version: Option<&Value>, domain_name: bool) -> ApiResult<()> {
    if domain_name {
        return Err(unsupported(
            "domain_name (health checks send the member's address as Host)",
        ));
    }
    match http_version.and_then(Value::as_f64) {
        None if http_version.is_none() => Ok(()),
        Some(v) if (v - 1.1).abs() < f64::EPSILON => Ok(()),
        Some(v) if (v - 1.0).abs() < f64::EPSILON => Err(unsupported(
            "http_version 1.0 (health checks speak HTTP/1.1)",
        )),
        _ => Err(ApiError::field("http_version", "must be 1.0 or 1.1")),
    }
}

/// The monitor type, with Octavia's types Ballast lacks refused as such.
fn kind(raw: &str) -> ApiResult<HealthMonitorType> {
    if UNSUPPORTED_TYPES.contains(&raw) {
        return Err(unsupported(format!("health monitor type {raw}")));
    }
    validate::choice::<HealthMonitorType>("type", raw)
}

/// Octavia's 400 for an HTTP-only field on a monitor of another type.
fn not_for_type(field: &str, kind: HealthMonitorType) -> ApiError {
    ApiError::bad_request(format!(
        "{field} is not a valid option for health monitors of type {kind}"
    ))
}

fn int(v: Option<Int>) -> Option<i64> {
    v.map(|i| i.0)
}

/// `max_retries` / `max_retries_down` (1..=10), checked under their v2
/// names before `/v1`'s rules see them as thresholds.
fn retries(field: &str, v: Option<Int>) -> ApiResult<Option<i64>> {
    int(v)
        .map(|n| validate::range(field, n, 1, 10).map(i64::from))
        .transpose()
}

/// A monitor's `operating_status`: Ballast keeps none per monitor, so an
/// enabled one is ONLINE and a disabled one OFFLINE.
pub fn operating_status(h: &HealthMonitor) -> &'static str {
    if h.enabled { "ONLINE" } else { "OFFLINE" }
}

/// A monitor as Octavia's `HealthMonitorResponse` shows it.
fn body(h: &HealthMonitor, project: &str) -> Value {
    let http = is_http(h.kind);
    json!({
        "id": h.id,
        "name": h.name.clone().unwrap_or_default(),
        "type": h.kind,
        "delay": h.delay,
        "timeout": h.timeout,
        "max_retries": h.rise_threshold,
        "max_retries_down": h.fall_threshold,
        "http_method": if http { json!(h.http_method) } else { Value::Null },
        "url_path": if http { json!(h.url_path) } else { Value::Null },
        "expected_codes": if http { json!(h.expected_codes) } else { Value::Null },
        "admin_state_up": h.enabled,
        "project_id": project,
        "pools": id_list([h.pool_id]),
        "provisioning_status": h.provisioning_status,
        "operating_status": operating_status(h),
        "created_at": timestamp(h.created_at),
        "updated_at": timestamp_opt(h.updated_at),
        "tags": h.tags,
        "http_version": if http { json!(1.1) } else { Value::Null },
        "domain_name": null,
    })
}

/// Pool `p`'s load balancer and project (404 when the pool is unknown).
fn pool_lb(
    conn: &rusqlite::Connection,
    p: PoolId,
    default: &str,
) -> ApiResult<(LoadBalancerId, String)> {
    let (pool, project) = pool_and_project(conn, p, default)?;
    Ok((pool.load_balancer_id, project))
}

/// The monitor `id` with its load balancer and project, or 404.
fn monitor(
    conn: &rusqlite::Connection,
    id: HealthMonitorId,
    default: &str,
) -> ApiResult<(HealthMonitor, LoadBalancerId, String)> {
    // One of a pool the request may not see is absent, named as asked.
    let h = store::health_monitors::find(conn, id)?
        .map(|h| pool_visible(conn, h.pool_id).map(|seen| seen.then_some(h)))
        .transpose()?
        .flatten()
        .ok_or_else(|| ApiError::not_found("Health Monitor", id))?;
    let (lb, project) = pool_lb(conn, h.pool_id, default)?;
    Ok((h, lb, project))
}

#[get("/lbaas/healthmonitors")]
async fn list(state: Api<'_>, query: QueryPairs, base: BaseUrl) -> ApiResult<Json<Value>> {
    let url = base.join("/v2/lbaas/healthmonitors");
    let default = state.default_project_id.clone();
    state
        .read(move |conn| {
            let mut rows = Vec::new();
            for h in store::health_monitors::list_all(conn)? {
                // A monitor belongs to its pool's load balancer's project;
                // one the request may not see is left out, not a 404.
                if !pool_visible(conn, h.pool_id)? {
                    continue;
                }
                let (_, project) = pool_lb(conn, h.pool_id, &default)?;
                rows.push(
                    Row::new(body(&h, &project)).with_hidden("pool_id", h.pool_id.to_string()),
                );
            }
            // In the closure: the list's project filter reads the scope.
            Ok(Json(respond(rows, &query, &SPEC, &url)?))
        })
        .await
}

/// Whether pool `p` exists and its load balancer is visible to the request.
fn pool_visible(conn: &rusqlite::Connection, p: PoolId) -> ApiResult<bool> {
    let Some(pool) = store::pools::find(conn, p)? else {
        return Ok(false);
    };
    Ok(store::load_balancers::get(conn, pool.load_balancer_id)?
        .is_some_and(|lb| crate::api::lookup::visible(&lb)))
}

#[get("/lbaas/healthmonitors/<id>")]
async fn show(state: Api<'_>, id: &str) -> ApiResult<Json<Value>> {
    let id: HealthMonitorId = path_id("Health Monitor", id)?;
    let default = state.default_project_id.clone();
    state
        .read(move |conn| {
            let (h, _, project) = monitor(conn, id, &default)?;
            Ok(Json(json!({ "healthmonitor": body(&h, &project) })))
        })
        .await
}

#[post("/lbaas/healthmonitors", data = "<req>")]
async fn create(state: Api<'_>, req: Body<Value>) -> ApiResult<(Status, Json<Value>)> {
    let req = parse_wrapped::<CreateMonitor>(req.into_inner()?, "healthmonitor", &[])?;
    check_http_options(req.http_version.as_ref(), req.domain_name.is_some())?;
    for (field, missing) in [
        ("type", req.kind.is_none()),
        ("delay", req.delay.is_none()),
        ("timeout", req.timeout.is_none()),
        ("max_retries", req.max_retries.is_none()),
        ("pool_id", req.pool_id.is_none()),
    ] {
        if missing {
            return Err(ApiError::field(field, "is required"));
        }
    }
    let k = kind(req.kind.as_deref().unwrap_or_default())?;
    if !is_http(k) {
        for (field, sent) in [
            ("http_method", req.http_method.is_some()),
            ("url_path", req.url_path.is_some()),
            ("expected_codes", req.expected_codes.is_some()),
        ] {
            if sent {
                return Err(not_for_type(field, k));
            }
        }
    }
    let p: PoolId = validate::id("pool_id", req.pool_id.clone())?
        .ok_or_else(|| ApiError::field("pool_id", "is required"))?;
    let mut h = HealthMonitor {
        id: HealthMonitorId::new(),
        pool_id: p,
        name: validate::text("name", req.name)?,
        tags: tags(req.tags)?,
        created_at: store::now(),
        updated_at: None,
        kind: k,
        delay: 1,
        timeout: 1,
        fall_threshold: DEFAULT_MAX_RETRIES_DOWN,
        rise_threshold: 1,
        http_method: HttpMethod::Get,
        url_path: "/".into(),
        expected_codes: "200".into(),
        enabled: true,
        provisioning_status: ProvisioningStatus::PendingCreate,
    };
    apply(
        MonitorRequest {
            kind: None,
            delay: int(req.delay),
            timeout: int(req.timeout),
            fall_threshold: retries("max_retries_down", req.max_retries_down)?,
            rise_threshold: retries("max_retries", req.max_retries)?,
            http_method: req.http_method,
            url_path: req.url_path,
            expected_codes: req.expected_codes,
            enabled: req.admin_state_up,
        },
        &mut h,
        Vec::new(),
    )?;
    let project_given = req.project_id;
    let default = state.default_project_id.clone();
    let (h, project) = state
        .write(move |tx| {
            let (lb, project) = pool_lb(tx, p, &default)?;
            if let Some(given) = project_given.filter(|g| *g != project) {
                return Err(ApiError::field(
                    "project_id",
                    format!("must be the load balancer's project ({project}), not {given}"),
                ));
            }
            if store::health_monitors::get(tx, p)?.is_some() {
                return Err(ApiError::conflict("This pool already has a health monitor"));
            }
            lock_update(
                tx,
                lb,
                crate::model::JobKind::CreateHealthMonitor,
                Some(p.to_string()),
            )?;
            store::health_monitors::insert(tx, &h)?;
            Ok((h, project))
        })
        .await?;
    Ok((
        Status::Created,
        Json(json!({ "healthmonitor": body(&h, &project) })),
    ))
}

/// A field that may be changed but never cleared.
fn required<T>(field: &str, patch: Patch<T>) -> ApiResult<Option<T>> {
    match patch {
        Patch::Absent => Ok(None),
        Patch::Null => Err(ApiError::bad_request(format!(
            "None is not a valid option for {field}"
        ))),
        Patch::Value(v) => Ok(Some(v)),
    }
}

/// A field whose `null` means its default.
fn or_default<T>(patch: Patch<T>, default: impl FnOnce() -> T) -> Option<T> {
    match patch {
        Patch::Absent => None,
        Patch::Null => Some(default()),
        Patch::Value(v) => Some(v),
    }
}

/// Apply an update body onto `h`, in Octavia's order of checks.
fn apply_update(req: UpdateMonitor, h: &mut HealthMonitor) -> ApiResult<()> {
    let http_version = match &req.http_version {
        Patch::Value(v) => Some(v),
        _ => None,
    };
    check_http_options(http_version, matches!(req.domain_name, Patch::Value(_)))?;
    if !is_http(h.kind) {
        for (field, sent) in [
            ("http_method", !matches!(req.http_method, Patch::Absent)),
            ("url_path", !matches!(req.url_path, Patch::Absent)),
            (
                "expected_codes",
                !matches!(req.expected_codes, Patch::Absent),
            ),
        ] {
            if sent {
                return Err(not_for_type(field, h.kind));
            }
        }
    }
    let v1 = MonitorRequest {
        kind: None,
        delay: int(required("delay", req.delay)?),
        timeout: int(required("timeout", req.timeout)?),
        rise_threshold: retries("max_retries", required("max_retries", req.max_retries)?)?,
        fall_threshold: retries(
            "max_retries_down",
            or_default(req.max_retries_down, || {
                Int(i64::from(DEFAULT_MAX_RETRIES_DOWN))
            }),
        )?,
        http_method: or_default(req.http_method, || "GET".into()),
        url_path: or_default(req.url_path, || "/".into()),
        expected_codes: or_default(req.expected_codes, || "200".into()),
        enabled: required("admin_state_up", req.admin_state_up)?,
    };
    match req.name {
        Patch::Absent => {}
        Patch::Null => h.name = None,
        Patch::Value(n) => h.name = validate::text("name", Some(n))?,
    }
    if let Some(t) = tags_update(req.tags)? {
        h.tags = t;
    }
    apply(v1, h, Vec::new())
}

#[put("/lbaas/healthmonitors/<id>", data = "<req>")]
async fn update(state: Api<'_>, id: &str, req: Body<Value>) -> ApiResult<Json<Value>> {
    let id: HealthMonitorId = path_id("Health Monitor", id)?;
    let req = parse_wrapped::<UpdateMonitor>(req.into_inner()?, "healthmonitor", &[])?;
    let default = state.default_project_id.clone();
    let (h, project) = state
        .write(move |tx| {
            let (mut h, lb, project) = monitor(tx, id, &default)?;
            apply_update(req, &mut h)?;
            lock_update(
                tx,
                lb,
                crate::model::JobKind::UpdateHealthMonitor,
                Some(h.pool_id.to_string()),
            )?;
            h.provisioning_status = ProvisioningStatus::PendingUpdate;
            store::health_monitors::update(tx, &h)?;
            let (h, _, _) = monitor(tx, id, &default)?;
            Ok((h, project))
        })
        .await?;
    Ok(Json(json!({ "healthmonitor": body(&h, &project) })))
}

#[delete("/lbaas/healthmonitors/<id>")]
async fn remove(state: Api<'_>, id: &str) -> ApiResult<Status> {
    let id: HealthMonitorId = path_id("Health Monitor", id)?;
    let default = state.default_project_id.clone();
    state
        .write(move |tx| {
            let (h, lb, _) = monitor(tx, id, &default)?;
            lock_update(
                tx,
                lb,
                crate::model::JobKind::DeleteHealthMonitor,
                Some(h.pool_id.to_string()),
            )?;
            store::health_monitors::set_status(tx, h.pool_id, ProvisioningStatus::PendingDelete)?;
            Ok(())
        })
        .await?;
    Ok(Status::NoContent)
}
