//! Helpers of the v2 contract suite (`tests/api_v2_*.rs`): "create and wait
//! for ACTIVE" through `/v2`, the field lists of Octavia's response types
//! with the JSON type of each field, a whole-state view for "a refused
//! request changed nothing", and a way to hold a load balancer PENDING.

use std::time::Duration;

use serde_json::{Value, json};

use super::api::strip_operating_status;
use super::{Ballast, assert_fault, http, http_raw, wait_until};

/// The `id` of a body, as text.
pub fn id(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_string()
}

/// Wait until the v2 load balancer `lb` is ACTIVE; returns its v2 body.
pub fn wait_active(b: &Ballast, lb: &str) -> Value {
    let mut last = Value::Null;
    wait_until(Duration::from_secs(10), "v2 load balancer ACTIVE", || {
        last = b.get(&format!("/v2/lbaas/loadbalancers/{lb}")).1["loadbalancer"].clone();
        last["provisioning_status"] == "ACTIVE"
    });
    last
}

/// Create a load balancer through v2 on the instance's network, named
/// `name` and tagged `t1`; wait for ACTIVE and return its v2 body.
pub fn v2_lb(b: &Ballast, name: &str) -> Value {
    v2_lb_with(b, json!({"name": name, "tags": ["t1"]}))
}

/// Create a load balancer through v2 from `fields` (the instance's network
/// is added); wait for ACTIVE and return its v2 body.
pub fn v2_lb_with(b: &Ballast, mut fields: Value) -> Value {
    fields["vip_network_id"] = json!(b.network_id());
    let (s, lb) = b.post("/v2/lbaas/loadbalancers", json!({ "loadbalancer": fields }));
    assert_eq!(s, 201, "{lb}");
    wait_active(b, &id(&lb["loadbalancer"]))
}

/// POST `body` (already wrapped) to the v2 collection `plural` of load
/// balancer `lb`'s children, expect 201, wait for ACTIVE; returns the
/// object as the 201 answered it.
pub fn v2_child(b: &Ballast, lb: &str, plural: &str, body: Value) -> Value {
    let (s, v) = b.post(&format!("/v2/lbaas/{plural}"), body);
    assert_eq!(s, 201, "{v}");
    wait_active(b, lb);
    v.as_object()
        .and_then(|o| o.values().next())
        .cloned()
        .unwrap_or_else(|| panic!("no wrapped object in {v}"))
}

/// A listener of load balancer `lb`, ACTIVE.
pub fn v2_listener(b: &Ballast, lb: &str, protocol: &str, port: u16) -> Value {
    v2_child(
        b,
        lb,
        "listeners",
        json!({"listener": {"loadbalancer_id": lb, "protocol": protocol, "protocol_port": port}}),
    )
}

/// A pool from `fields` (`listener_id` or `loadbalancer_id` among them),
/// ROUND_ROBIN unless `fields` says otherwise; waits for `lb` ACTIVE.
pub fn v2_pool(b: &Ballast, lb: &str, mut fields: Value) -> Value {
    if fields.get("lb_algorithm").is_none() {
        fields["lb_algorithm"] = json!("ROUND_ROBIN");
    }
    v2_child(b, lb, "pools", json!({ "pool": fields }))
}

/// A `/v1/certificates` body: a new self-signed certificate for
/// `localhost` and its key.
pub fn certificate_body() -> Value {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("rcgen");
    json!({"certificate": ck.cert.pem(), "private_key": ck.signing_key.serialize_pem()})
}

/// A certificate (self-signed for `localhost`) uploaded through `/v1`; its id.
pub fn certificate(b: &Ballast) -> String {
    let (s, cert) = b.post("/v1/certificates", certificate_body());
    assert_eq!(s, 202, "{cert}");
    id(&cert)
}

/// The ids of a v2 list answer's `plural` items, in order.
pub fn ids(list: &Value, plural: &str) -> Vec<String> {
    list[plural]
        .as_array()
        .unwrap_or_else(|| panic!("no {plural} in {list}"))
        .iter()
        .map(id)
        .collect()
}

/// GET the v2 list at `path` (which carries the query) and return its ids.
pub fn list_ids(b: &Ballast, plural: &str, query: &str) -> Vec<String> {
    let (s, v) = b.get(&format!("/v2/lbaas/{plural}?{query}"));
    assert_eq!(s, 200, "{query}: {v}");
    ids(&v, plural)
}

/// Everything a refused v2 request must leave alone: the `/v1` snapshot
/// (which counts jobs) and the v2 lists of load balancers, listeners and
/// pools (tags and the other fields v1 does not show), without
/// `operating_status`, which health checks may move at any time.
pub fn state(b: &Ballast) -> Value {
    let mut all = json!({"v1": b.snapshot()});
    for plural in ["loadbalancers", "listeners", "pools"] {
        let (s, v) = b.get(&format!("/v2/lbaas/{plural}"));
        assert_eq!(s, 200, "{v}");
        all[plural] = v;
    }
    strip_operating_status(&mut all);
    all
}

/// Send `method path body` through v2, expect the fault `want`/`needle`
/// (status, faultcode, faultstring, `debuginfo: null`) and no change to
/// [`state`]; returns the fault body.
pub fn refused(
    b: &Ballast,
    method: &str,
    path: &str,
    body: Option<Value>,
    want: u16,
    needle: &str,
) -> Value {
    let before = state(b);
    let (s, v) = http(method, &b.url(path), body.as_ref().map(Value::to_string));
    assert_fault(s, &v, want, needle);
    assert_eq!(
        state(b),
        before,
        "{method} {path} {body:?} changed something"
    );
    v
}

/// [`refused`] for the provider's refusal of an option it does not
/// implement: 400 "Provider 'ballast' does not support a requested option"
/// naming `option`.
pub fn unsupported(b: &Ballast, method: &str, path: &str, body: Value, option: &str) {
    let v = refused(
        b,
        method,
        path,
        Some(body),
        400,
        "Provider 'ballast' does not support a requested option",
    );
    assert_fault(400, &v, 400, option);
}

/// POST `body` with extra request headers; status and JSON answer.
pub fn post_with_headers(
    b: &Ballast,
    path: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let text = body.to_string();
    let (s, answer) = http_raw("POST", &b.url(path), Some(text.as_bytes()), headers);
    (s, serde_json::from_str(&answer).unwrap_or(Value::Null))
}

/// Set load balancer `lb`'s provisioning status in the store, as a job in
/// flight would: no job is queued, so the controller leaves it there until
/// [`hold`] sets it back. The controller settles a real write within
/// milliseconds, which makes "a write meets PENDING_*" a race; this makes
/// it certain.
pub fn hold(b: &Ballast, lb: &str, status: &str) {
    let path = b.dir.join("data").join("ballast.sqlite3");
    let conn = rusqlite::Connection::open(&path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    conn.busy_timeout(Duration::from_secs(5))
        .expect("busy timeout");
    let n = conn
        .execute(
            "UPDATE load_balancers SET provisioning_status = ?1 WHERE id = ?2",
            [status, lb],
        )
        .expect("set provisioning_status");
    assert_eq!(n, 1, "load balancer {lb} not in the store");
}

/// What a field of a v2 body holds: the JSON type of Octavia's wsme type,
/// with `null` where Octavia leaves the field unset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A lowercase hyphenated UUID.
    Uuid,
    UuidOrNull,
    Text,
    TextOrNull,
    Bool,
    Int,
    IntOrNull,
    /// Octavia's timestamp text, `YYYY-MM-DDTHH:MM:SS`.
    Time,
    TimeOrNull,
    /// `[{"id": <uuid>}, ...]`.
    Ids,
    /// A list of strings.
    Texts,
    TextsOrNull,
    /// A list of objects.
    Objects,
    Object,
    ObjectOrNull,
}

/// Octavia's `LoadBalancerResponse`.
pub const LB_FIELDS: &[(&str, Kind)] = &[
    ("id", Kind::Uuid),
    ("name", Kind::Text),
    ("description", Kind::Text),
    ("provisioning_status", Kind::Text),
    ("operating_status", Kind::Text),
    ("admin_state_up", Kind::Bool),
    // null for a load balancer made through /v1 without a tenant_id.
    ("project_id", Kind::TextOrNull),
    ("created_at", Kind::Time),
    ("updated_at", Kind::TimeOrNull),
    ("vip_address", Kind::Text),
    ("vip_port_id", Kind::Uuid),
    ("vip_subnet_id", Kind::Uuid),
    ("vip_network_id", Kind::Uuid),
    ("vip_sg_ids", Kind::Texts),
    ("additional_vips", Kind::Objects),
    ("listeners", Kind::Ids),
    ("pools", Kind::Ids),
    ("provider", Kind::Text),
    ("flavor_id", Kind::UuidOrNull),
    ("vip_qos_policy_id", Kind::UuidOrNull),
    ("tags", Kind::Texts),
    ("availability_zone", Kind::TextOrNull),
    ("vip_vnic_type", Kind::Text),
];

/// Octavia's `ListenerResponse`.
pub const LISTENER_FIELDS: &[(&str, Kind)] = &[
    ("id", Kind::Uuid),
    ("name", Kind::Text),
    ("description", Kind::Text),
    ("provisioning_status", Kind::Text),
    ("operating_status", Kind::Text),
    ("admin_state_up", Kind::Bool),
    ("protocol", Kind::Text),
    ("protocol_port", Kind::Int),
    ("connection_limit", Kind::Int),
    ("default_tls_container_ref", Kind::TextOrNull),
    ("sni_container_refs", Kind::Texts),
    ("project_id", Kind::Text),
    ("default_pool_id", Kind::UuidOrNull),
    ("l7policies", Kind::Ids),
    ("insert_headers", Kind::Object),
    ("created_at", Kind::Time),
    ("updated_at", Kind::TimeOrNull),
    ("loadbalancers", Kind::Ids),
    ("timeout_client_data", Kind::IntOrNull),
    ("timeout_member_connect", Kind::IntOrNull),
    ("timeout_member_data", Kind::IntOrNull),
    ("timeout_tcp_inspect", Kind::IntOrNull),
    ("tags", Kind::Texts),
    ("client_ca_tls_container_ref", Kind::TextOrNull),
    ("client_authentication", Kind::Text),
    ("client_crl_container_ref", Kind::TextOrNull),
    ("allowed_cidrs", Kind::TextsOrNull),
    ("tls_ciphers", Kind::TextOrNull),
    ("tls_versions", Kind::TextsOrNull),
    ("alpn_protocols", Kind::TextsOrNull),
    ("hsts_max_age", Kind::IntOrNull),
    ("hsts_include_subdomains", Kind::Bool),
    ("hsts_preload", Kind::Bool),
];

/// Octavia's `PoolResponse`.
pub const POOL_FIELDS: &[(&str, Kind)] = &[
    ("id", Kind::Uuid),
    ("name", Kind::Text),
    ("description", Kind::Text),
    ("provisioning_status", Kind::Text),
    ("operating_status", Kind::Text),
    ("admin_state_up", Kind::Bool),
    ("protocol", Kind::Text),
    ("lb_algorithm", Kind::Text),
    ("session_persistence", Kind::ObjectOrNull),
    ("project_id", Kind::Text),
    ("loadbalancers", Kind::Ids),
    ("listeners", Kind::Ids),
    ("created_at", Kind::Time),
    ("updated_at", Kind::TimeOrNull),
    ("healthmonitor_id", Kind::UuidOrNull),
    ("members", Kind::Ids),
    ("tags", Kind::Texts),
    ("tls_container_ref", Kind::TextOrNull),
    ("ca_tls_container_ref", Kind::TextOrNull),
    ("crl_container_ref", Kind::TextOrNull),
    ("tls_enabled", Kind::Bool),
    ("tls_ciphers", Kind::TextOrNull),
    ("tls_versions", Kind::TextsOrNull),
    ("alpn_protocols", Kind::TextsOrNull),
];

/// Octavia's `SessionPersistenceResponse`.
pub const PERSISTENCE_FIELDS: &[(&str, Kind)] = &[
    ("type", Kind::Text),
    ("cookie_name", Kind::TextOrNull),
    ("persistence_timeout", Kind::IntOrNull),
    ("persistence_granularity", Kind::TextOrNull),
];

/// The v2 `stats` object: Octavia's `*StatisticsResponse`.
pub const STATS_FIELDS: &[(&str, Kind)] = &[
    ("bytes_in", Kind::Int),
    ("bytes_out", Kind::Int),
    ("active_connections", Kind::Int),
    ("total_connections", Kind::Int),
    ("request_errors", Kind::Int),
];

fn is_uuid(v: &Value) -> bool {
    v.as_str()
        .and_then(|s| uuid::Uuid::parse_str(s).ok().map(|u| (s, u)))
        .is_some_and(|(s, u)| s == u.hyphenated().to_string())
}

fn is_time(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 19
            && s.char_indices().all(|(i, c)| match i {
                4 | 7 => c == '-',
                10 => c == 'T',
                13 | 16 => c == ':',
                _ => c.is_ascii_digit(),
            })
    })
}

fn is_kind(v: &Value, kind: Kind) -> bool {
    let texts = |v: &Value| v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
    match kind {
        Kind::Uuid => is_uuid(v),
        Kind::UuidOrNull => v.is_null() || is_uuid(v),
        Kind::Text => v.is_string(),
        Kind::TextOrNull => v.is_null() || v.is_string(),
        Kind::Bool => v.is_boolean(),
        Kind::Int => v.is_i64(),
        Kind::IntOrNull => v.is_null() || v.is_i64(),
        Kind::Time => is_time(v),
        Kind::TimeOrNull => v.is_null() || is_time(v),
        Kind::Ids => v.as_array().is_some_and(|a| {
            a.iter()
                .all(|o| o.as_object().is_some_and(|m| m.len() == 1) && is_uuid(&o["id"]))
        }),
        Kind::Texts => texts(v),
        Kind::TextsOrNull => v.is_null() || texts(v),
        Kind::Objects => v.as_array().is_some_and(|a| a.iter().all(Value::is_object)),
        Kind::Object => v.is_object(),
        Kind::ObjectOrNull => v.is_null() || v.is_object(),
    }
}

/// Assert `v` has exactly the fields of `fields`, each of its kind.
pub fn assert_shape(v: &Value, fields: &[(&str, Kind)]) {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("not a JSON object: {v}"));
    let mut got: Vec<&str> = obj.keys().map(String::as_str).collect();
    let mut want: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want, "field set of {v}");
    for (name, kind) in fields {
        assert!(
            is_kind(&v[*name], *kind),
            "{name} should be {kind:?}, is {} in {v}",
            v[*name]
        );
    }
}

/// The relation list `[{"id": ...}]` of `ids`.
pub fn id_list(ids: &[&str]) -> Value {
    Value::Array(ids.iter().map(|i| json!({ "id": i })).collect())
}
