//! The generic list machinery of the v2 API, as Octavia's
//! `api/common/pagination.py` defines it: filters on any field, tag filters,
//! sorting, marker pagination with `<plural>_links`, and `fields=`.
//!
//! Resources hand over their rows already shaped as the API shows them
//! ([`Row`]); everything here works on those JSON objects, so each resource
//! only declares which keys can be filtered on ([`ListSpec`]). Lists are
//! small (one host's objects), so filtering and sorting in memory is cheaper
//! than generating SQL per query, and it is the same code for every resource.

use std::cmp::Ordering;

use rocket::request::{FromRequest, Outcome, Request};
use serde_json::{Map, Value};

use crate::api::error::{ApiError, ApiResult};

/// Largest page; a larger `limit` is cut to it (Octavia's
/// `pagination_max_limit` default).
pub const MAX_LIMIT: usize = 1000;

/// The query string of a request as decoded `(name, value)` pairs, in order
/// (a name may repeat). A request guard that never fails.
#[derive(Clone, Debug, Default)]
pub struct QueryPairs(pub Vec<(String, String)>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for QueryPairs {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let pairs = req
            .uri()
            .query()
            .map(|q| {
                q.segments()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        Outcome::Success(QueryPairs(pairs))
    }
}

impl QueryPairs {
    /// Every value of `name`, comma-separated values split.
    pub fn values(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// The last value of `name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether a boolean query argument is true (`True`, `true`, `1`, ...).
    pub fn flag(&self, name: &str) -> bool {
        self.get(name).is_some_and(is_true)
    }
}

fn is_true(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "on")
}

fn is_false(v: &str) -> bool {
    matches!(
        v.to_ascii_lowercase().as_str(),
        "false" | "0" | "no" | "off"
    )
}

/// One object of a list: its API body, plus attributes that can be filtered
/// and sorted on without being shown (`loadbalancer_id` of a listener, say).
#[derive(Clone, Debug, Default)]
pub struct Row {
    pub body: Map<String, Value>,
    pub hidden: Map<String, Value>,
}

impl Row {
    /// A row of a body that is a JSON object (anything else is an empty row).
    pub fn new(body: Value) -> Row {
        Row {
            body: match body {
                Value::Object(map) => map,
                _ => Map::new(),
            },
            hidden: Map::new(),
        }
    }

    /// Add a filter-only attribute.
    pub fn with_hidden(mut self, key: &str, value: impl Into<Value>) -> Row {
        self.hidden.insert(key.to_string(), value.into());
        self
    }

    fn attr(&self, key: &str) -> Option<&Value> {
        self.body.get(key).or_else(|| self.hidden.get(key))
    }

    fn id(&self) -> Option<&str> {
        self.body.get("id").and_then(Value::as_str)
    }
}

/// What a resource declares about its lists.
pub struct ListSpec {
    /// The collection key: `loadbalancers`; links go under `<plural>_links`.
    pub plural: &'static str,
    /// Keys a filter may name (scalar fields of the body or hidden ones).
    /// `tags`, `tags-any`, `not-tags` and `not-tags-any` are always allowed.
    pub filters: &'static [&'static str],
}

/// Query arguments that steer the list rather than filter it.
const AUXILIARY: &[&str] = &[
    "limit",
    "marker",
    "sort",
    "sort_key",
    "sort_dir",
    "fields",
    "page_reverse",
];
const TAG_FILTERS: &[&str] = &["tags", "tags-any", "not-tags", "not-tags-any"];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dir {
    Asc,
    Desc,
}

fn parse_dir(raw: &str) -> ApiResult<Dir> {
    match raw.to_ascii_lowercase().as_str() {
        "asc" => Ok(Dir::Asc),
        "desc" => Ok(Dir::Desc),
        _ => Err(ApiError::bad_request(format!(
            "Supplied sort direction '{raw}' is not valid."
        ))),
    }
}

/// `sort=k1:dir,k2` or `sort_key=k1,k2&sort_dir=d1,d2`; then `created_at`
/// and `id` (ascending) unless named, so the order is total.
fn sort_keys(q: &QueryPairs) -> ApiResult<Vec<(String, Dir)>> {
    let mut keys = Vec::new();
    if let Some(sort) = q.get("sort").filter(|s| !s.is_empty()) {
        for part in sort.split(',') {
            let comps: Vec<&str> = part.split(':').collect();
            match comps.as_slice() {
                [k] => keys.push((k.to_string(), Dir::Asc)),
                [k, d] => keys.push((k.to_string(), parse_dir(d)?)),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "Supplied sort key '{part}' is not valid."
                    )));
                }
            }
        }
    } else if let Some(sort_key) = q.get("sort_key").filter(|s| !s.is_empty()) {
        let dirs: Vec<&str> = q
            .get("sort_dir")
            .map(|d| d.split(',').collect())
            .unwrap_or_default();
        for (i, k) in sort_key.split(',').enumerate() {
            let dir = match dirs.get(i) {
                Some(d) => parse_dir(d)?,
                None => Dir::Asc,
            };
            keys.push((k.to_string(), dir));
        }
    }
    for default in ["created_at", "id"] {
        if !keys.iter().any(|(k, _)| k == default) {
            keys.push((default.to_string(), Dir::Asc));
        }
    }
    Ok(keys)
}

/// Order of two attribute values: null first, then by type's own order.
fn compare_values(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (None | Some(Value::Null), None | Some(Value::Null)) => Ordering::Equal,
        (None | Some(Value::Null), _) => Ordering::Less,
        (_, None | Some(Value::Null)) => Ordering::Greater,
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .unwrap_or(0.0)
            .partial_cmp(&y.as_f64().unwrap_or(0.0))
            .unwrap_or(Ordering::Equal),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
    }
}

fn compare_rows(a: &Row, b: &Row, keys: &[(String, Dir)]) -> Ordering {
    for (key, dir) in keys {
        let o = compare_values(a.attr(key), b.attr(key));
        let o = if *dir == Dir::Desc { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// Whether a row's attribute equals a filter value given as text.
fn matches(value: Option<&Value>, wanted: &str) -> bool {
    match value {
        Some(Value::String(s)) => s == wanted,
        Some(Value::Bool(b)) => {
            if *b {
                is_true(wanted)
            } else {
                is_false(wanted)
            }
        }
        Some(Value::Number(n)) => match (n.as_i64(), wanted.parse::<i64>()) {
            (Some(x), Ok(y)) => x == y,
            _ => n.to_string() == wanted,
        },
        // Octavia compares a NULL column with the text it was sent: never equal.
        _ => false,
    }
}

fn tags_of(row: &Row) -> Vec<&str> {
    row.body
        .get("tags")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Check every filter argument names a filterable key; unknown is 400.
fn filters<'q>(q: &'q QueryPairs, spec: &ListSpec) -> ApiResult<Vec<(&'q str, Vec<&'q str>)>> {
    let mut out: Vec<(&str, Vec<&str>)> = Vec::new();
    for (k, v) in &q.0 {
        if AUXILIARY.contains(&k.as_str()) || TAG_FILTERS.contains(&k.as_str()) {
            continue;
        }
        if !spec.filters.contains(&k.as_str()) {
            return Err(ApiError::bad_request(
                "One or more arguments are either duplicate or invalid",
            ));
        }
        // A repeated filter matches any of its values.
        match out.iter_mut().find(|(name, _)| name == k) {
            Some((_, values)) => values.push(v),
            None => out.push((k, vec![v])),
        }
    }
    Ok(out)
}

fn keep(row: &Row, filters: &[(&str, Vec<&str>)], q: &QueryPairs) -> bool {
    let all_match = filters
        .iter()
        .all(|(k, values)| values.iter().any(|v| matches(row.attr(k), v)));
    if !all_match {
        return false;
    }
    let tags = tags_of(row);
    let has = |t: &String| tags.contains(&t.as_str());
    let all = q.values("tags");
    let any = q.values("tags-any");
    let not_all = q.values("not-tags");
    let not_any = q.values("not-tags-any");
    all.iter().all(has)
        && (any.is_empty() || any.iter().any(has))
        && (not_all.is_empty() || !not_all.iter().all(has))
        && !not_any.iter().any(has)
}

/// `fields=a,b` (or repeated): keep only those keys of each body. Unknown
/// names are ignored, as Octavia does.
pub fn select_fields(body: &mut Map<String, Value>, q: &QueryPairs) {
    let fields = q.values("fields");
    if !fields.is_empty() {
        body.retain(|k, _| fields.iter().any(|f| f == k));
    }
}

fn page_limit(q: &QueryPairs) -> ApiResult<usize> {
    match q.get("limit") {
        None => Ok(MAX_LIMIT),
        Some(raw) => {
            let n: i64 = raw.parse().map_err(|_| {
                ApiError::bad_request(format!("Supplied pagination limit '{raw}' is not valid."))
            })?;
            // Octavia: a limit below 1 means "no limit", which the cap bounds.
            Ok(if n < 1 {
                MAX_LIMIT
            } else {
                (n as usize).min(MAX_LIMIT)
            })
        }
    }
}

/// A link to this list with `extra` arguments: every argument of the
/// request but `marker`, `page_reverse` and `limit`, so a client following
/// it keeps its filters and order.
fn link(base: &str, q: &QueryPairs, limit: usize, extra: &[(&str, &str)]) -> String {
    let mut args: Vec<String> = vec![format!("limit={limit}")];
    for (k, v) in &q.0 {
        if !matches!(k.as_str(), "marker" | "page_reverse" | "limit") {
            args.push(format!("{}={}", encode(k), encode(v)));
        }
    }
    for (k, v) in extra {
        args.push(format!("{k}={}", encode(v)));
    }
    format!("{base}?{}", args.join("&"))
}

fn encode(s: &str) -> String {
    rocket::http::RawStr::new(s).percent_encode().to_string()
}

/// Filter, sort, paginate and trim `rows` as `q` asks; the answer is the
/// whole list body, `{"<plural>": [...], "<plural>_links": [...]}`. `url`
/// is this list's absolute URL without a query, for the links.
///
/// A row that carries a `project_id` the request may not see (see
/// [`auth::scope`](crate::api::auth::scope)) is dropped first: lists never
/// show another project's objects, nor take them as markers.
pub fn respond(rows: Vec<Row>, q: &QueryPairs, spec: &ListSpec, url: &str) -> ApiResult<Value> {
    let rows: Vec<Row> = rows
        .into_iter()
        .filter(|r| match r.attr("project_id") {
            None => true,
            Some(p) => crate::api::auth::scope::sees(p.as_str()),
        })
        .collect();
    let filters = filters(q, spec)?;
    let keys = sort_keys(q)?;
    for (key, _) in &keys {
        let known = key == "created_at"
            || key == "id"
            || spec.filters.contains(&key.as_str())
            || rows.iter().any(|r| r.attr(key).is_some());
        if !known {
            return Err(ApiError::bad_request(format!(
                "Supplied sort key '{key}' is not valid."
            )));
        }
    }
    let limit = page_limit(q)?;
    let reverse = q.flag("page_reverse");
    let marker = match q.get("marker").filter(|m| !m.is_empty()) {
        Some(m) => Some(
            rows.iter()
                .find(|r| r.id() == Some(m))
                .cloned()
                .ok_or_else(|| {
                    ApiError::bad_request(format!("Supplied pagination marker '{m}' is not valid."))
                })?,
        ),
        None => None,
    };
    let mut kept: Vec<Row> = rows.into_iter().filter(|r| keep(r, &filters, q)).collect();
    kept.sort_by(|a, b| compare_rows(a, b, &keys));
    let page: Vec<Row> = match &marker {
        None => kept.into_iter().take(limit).collect(),
        Some(m) if reverse => {
            let before: Vec<Row> = kept
                .into_iter()
                .filter(|r| compare_rows(r, m, &keys) == Ordering::Less)
                .collect();
            let skip = before.len().saturating_sub(limit);
            before.into_iter().skip(skip).collect()
        }
        Some(m) => kept
            .into_iter()
            .filter(|r| compare_rows(r, m, &keys) == Ordering::Greater)
            .take(limit)
            .collect(),
    };
    let mut links = Vec::new();
    if let (Some(first), Some(last)) = (page.first(), page.last()) {
        if marker.is_some() {
            let href = link(
                url,
                q,
                limit,
                &[
                    ("marker", first.id().unwrap_or_default()),
                    ("page_reverse", "True"),
                ],
            );
            links.push(serde_json::json!({"rel": "previous", "href": href}));
        }
        // Only a full page can have a next one: the CLI follows `next`
        // until it is absent.
        if page.len() >= limit {
            let href = link(url, q, limit, &[("marker", last.id().unwrap_or_default())]);
            links.push(serde_json::json!({"rel": "next", "href": href}));
        }
    }
    let items: Vec<Value> = page
        .into_iter()
        .map(|mut r| {
            select_fields(&mut r.body, q);
            Value::Object(r.body)
        })
        .collect();
    let mut body = Map::new();
    body.insert(spec.plural.to_string(), Value::Array(items));
    body.insert(format!("{}_links", spec.plural), Value::Array(links));
    Ok(Value::Object(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SPEC: ListSpec = ListSpec {
        plural: "things",
        filters: &["id", "name", "admin_state_up", "size", "loadbalancer_id"],
    };

    fn q(s: &str) -> QueryPairs {
        QueryPairs(
            s.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (k.to_string(), v.to_string())
                })
                .collect(),
        )
    }

    fn rows() -> Vec<Row> {
        (0..5)
            .map(|i| {
                Row::new(json!({
                    "id": format!("id-{i}"),
                    "name": if i % 2 == 0 { "even" } else { "odd" },
                    "admin_state_up": i != 3,
                    "size": 10 - i,
                    "created_at": format!("2026-01-01T00:00:0{}Z", i / 2),
                    "tags": if i < 2 { json!(["a", "b"]) } else { json!(["b"]) },
                }))
                .with_hidden("loadbalancer_id", format!("lb-{}", i % 2))
            })
            .collect()
    }

    fn ids(v: &Value) -> Vec<String> {
        v["things"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect()
    }

    fn list(query: &str) -> ApiResult<Value> {
        respond(rows(), &q(query), &SPEC, "http://h/v2/things")
    }

    #[test]
    fn the_default_order_is_created_at_then_id_with_empty_links() {
        let v = list("").unwrap();
        assert_eq!(ids(&v), ["id-0", "id-1", "id-2", "id-3", "id-4"]);
        assert_eq!(v["things_links"], json!([]));
    }

    #[test]
    fn filters_match_text_booleans_numbers_and_hidden_keys() {
        assert_eq!(ids(&list("name=odd").unwrap()), ["id-1", "id-3"]);
        assert_eq!(ids(&list("admin_state_up=False").unwrap()), ["id-3"]);
        assert_eq!(ids(&list("admin_state_up=false").unwrap()).len(), 1);
        assert_eq!(ids(&list("admin_state_up=True").unwrap()).len(), 4);
        assert_eq!(ids(&list("size=8").unwrap()), ["id-2"]);
        assert_eq!(
            ids(&list("loadbalancer_id=lb-1").unwrap()),
            ["id-1", "id-3"]
        );
        assert_eq!(ids(&list("id=id-0&id=id-4").unwrap()), ["id-0", "id-4"]);
        assert_eq!(ids(&list("name=odd&size=7").unwrap()), ["id-3"]);
    }

    #[test]
    fn an_unknown_filter_is_a_400() {
        let e = list("colour=red").unwrap_err();
        assert_eq!(e.status.code, 400);
        assert!(e.message.contains("duplicate or invalid"), "{}", e.message);
    }

    #[test]
    fn tag_filters_follow_octavia() {
        assert_eq!(ids(&list("tags=a,b").unwrap()), ["id-0", "id-1"]);
        assert_eq!(ids(&list("tags=a&tags=b").unwrap()), ["id-0", "id-1"]);
        assert_eq!(ids(&list("tags-any=a,z").unwrap()), ["id-0", "id-1"]);
        assert_eq!(
            ids(&list("not-tags=a,b").unwrap()),
            ["id-2", "id-3", "id-4"]
        );
        assert_eq!(
            ids(&list("not-tags-any=a").unwrap()),
            ["id-2", "id-3", "id-4"]
        );
        assert_eq!(ids(&list("not-tags-any=b").unwrap()).len(), 0);
    }

    #[test]
    fn sort_by_sort_and_by_sort_key_and_sort_dir() {
        assert_eq!(
            ids(&list("sort=size:asc").unwrap()),
            ["id-4", "id-3", "id-2", "id-1", "id-0"]
        );
        assert_eq!(
            ids(&list("sort=name:desc,id:desc").unwrap()),
            ["id-3", "id-1", "id-4", "id-2", "id-0"]
        );
        assert_eq!(
            ids(&list("sort_key=name,id&sort_dir=asc,desc").unwrap()),
            ["id-4", "id-2", "id-0", "id-3", "id-1"]
        );
        let e = list("sort=size:sideways").unwrap_err();
        assert_eq!(e.status.code, 400);
        assert!(e.message.contains("sort direction"));
        let e = list("sort=colour").unwrap_err();
        assert!(e.message.contains("sort key 'colour'"), "{}", e.message);
    }

    #[test]
    fn pages_follow_the_marker_with_a_next_link_only_when_full() {
        let first = list("limit=2&name=even").unwrap();
        assert_eq!(ids(&first), ["id-0", "id-2"]);
        let links = first["things_links"].as_array().unwrap();
        assert_eq!(links.len(), 1);
        assert_eq!(links[0]["rel"], "next");
        let href = links[0]["href"].as_str().unwrap();
        assert_eq!(href, "http://h/v2/things?limit=2&name=even&marker=id-2");
        let second = list("limit=2&name=even&marker=id-2").unwrap();
        assert_eq!(ids(&second), ["id-4"]);
        let rels: Vec<&str> = second["things_links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["rel"].as_str().unwrap())
            .collect();
        assert_eq!(rels, ["previous"], "a short page has no next link");
        let back = list("limit=1&marker=id-2&page_reverse=True").unwrap();
        assert_eq!(ids(&back), ["id-1"]);
        let e = list("marker=nope").unwrap_err();
        assert!(e.message.contains("marker 'nope'"), "{}", e.message);
        let e = list("limit=lots").unwrap_err();
        assert!(e.message.contains("limit 'lots'"), "{}", e.message);
    }

    #[test]
    fn fields_keep_only_the_named_keys() {
        let v = list("fields=id,name&fields=nope").unwrap();
        let first = v["things"][0].as_object().unwrap();
        let mut keys: Vec<&String> = first.keys().collect();
        keys.sort();
        assert_eq!(keys, ["id", "name"]);
    }
}
