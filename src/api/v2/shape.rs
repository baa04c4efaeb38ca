//! Pieces every v2 body shares: Octavia's timestamp text, tag lists, numbers
//! that arrive as strings, projects, the wrapped body guard and the refusal
//! of options Ballast does not implement.

use std::fmt;

use rocket::request::{FromRequest, Outcome, Request};
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::error::{ApiError, ApiResult};
use crate::api::guards::Patch;

/// The provider name Ballast answers to (`provider` fields, refusals).
pub const PROVIDER: &str = "ballast";

/// 400 for a field or value Ballast does not implement, worded as an Octavia
/// provider driver refuses one. Never accept such a field and ignore it.
pub fn unsupported(option: impl fmt::Display) -> ApiError {
    ApiError::bad_request(format!(
        "Provider '{PROVIDER}' does not support a requested option: {option}"
    ))
}

/// Refuse, with [`unsupported`], every field of `body` named in `options`
/// that carries more than a neutral value, then drop those fields so the
/// rest parses strictly. Neutral is `null`, `[]`, `{}`, `false`, or the one
/// string an option allows as "off" (`client_authentication: "NONE"`).
pub fn refuse_unsupported(
    body: &mut serde_json::Map<String, Value>,
    options: &[(&str, Option<&str>)],
) -> ApiResult<()> {
    for (name, off) in options {
        let Some(v) = body.remove(*name) else {
            continue;
        };
        let neutral = match &v {
            Value::Null | Value::Bool(false) => true,
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            Value::String(s) => Some(s.as_str()) == *off,
            _ => false,
        };
        if !neutral {
            return Err(unsupported(name));
        }
    }
    Ok(())
}

/// Octavia's timestamp text for seconds since the epoch: ISO 8601 in UTC
/// without a zone suffix (`2026-01-31T12:00:00`), which is what Octavia's
/// API sends and what gophercloud and openstacksdk parse.
pub fn timestamp(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil: the proleptic Gregorian date of a day
/// count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// An optional timestamp as JSON (`null` when absent).
pub fn timestamp_opt(secs: Option<i64>) -> Value {
    secs.map_or(Value::Null, |s| Value::String(timestamp(s)))
}

/// `[{"id": ...}]`, the relation lists clients walk.
pub fn id_list<T: fmt::Display>(ids: impl IntoIterator<Item = T>) -> Value {
    Value::Array(
        ids.into_iter()
            .map(|id| serde_json::json!({ "id": id.to_string() }))
            .collect(),
    )
}

/// Validate a tag list: each tag 1..=255 characters (Octavia's limit).
pub fn tags(value: Option<Vec<String>>) -> ApiResult<Vec<String>> {
    let tags = value.unwrap_or_default();
    for t in &tags {
        if t.is_empty() || t.chars().count() > 255 {
            return Err(ApiError::field(
                "tags",
                "each tag must be 1 to 255 characters",
            ));
        }
    }
    Ok(tags)
}

/// Validate the `tags` of an update: `None` leaves them as they are, null
/// clears them, a list replaces them (checked as [`tags`] does).
pub fn tags_update(value: Patch<Vec<String>>) -> ApiResult<Option<Vec<String>>> {
    Ok(match value {
        Patch::Absent => None,
        Patch::Null => Some(Vec::new()),
        Patch::Value(t) => Some(tags(Some(t))?),
    })
}

/// An integer that may arrive as a JSON number or as a string of digits
/// (`"connection_limit": "100"` from the CLI).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Int(pub i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                i64::try_from(v)
                    .map(Int)
                    .map_err(|_| E::custom("integer out of range"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Int, E> {
                v.trim()
                    .parse()
                    .map(Int)
                    .map_err(|_| E::custom(format!("invalid integer: {v:?}")))
            }
        }
        d.deserialize_any(V)
    }
}

/// Where the project of a new object comes from, best first: the token's
/// (identity, `[auth] mode = "local"`), then the body's, the
/// `X-Project-Id` header's and the configured default.
#[derive(Clone, Debug, Default)]
pub struct RequestProject {
    /// The `X-Project-Id` header.
    pub header: Option<String>,
    /// The project of the caller's token.
    pub token: Option<String>,
    /// The token is an admin's: it may name another project in the body.
    pub admin: bool,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for RequestProject {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let header = req
            .headers()
            .get_one("X-Project-Id")
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(str::to_string);
        let caller = crate::api::auth::caller(req);
        let identity = caller.identity();
        Outcome::Success(RequestProject {
            header,
            token: identity.and_then(|i| i.project_id().map(str::to_string)),
            admin: identity.is_some_and(|i| i.is_admin()),
        })
    }
}

impl RequestProject {
    /// The project of a new load balancer. With a token: the token's, and a
    /// body naming another project is 403 unless the token is an admin's
    /// (whose body wins). Without: the body's, else the header's, else the
    /// configured default. At most 36 characters (Octavia's column).
    pub fn resolve(&self, body: Option<String>, default: &str) -> ApiResult<String> {
        let project = match self.owner(body)? {
            Some(p) => p,
            None => self.header.clone().unwrap_or_else(|| default.to_string()),
        };
        if project.is_empty() || project.chars().count() > 36 {
            return Err(ApiError::field("project_id", "must be 1 to 36 characters"));
        }
        Ok(project)
    }

    /// The project a token allows for a body's `project_id` (v1's
    /// `tenant_id`): the token's, or the body's for an admin; without a token
    /// the body's as given.
    pub fn owner(&self, body: Option<String>) -> ApiResult<Option<String>> {
        match &self.token {
            Some(token) if !self.admin => match body {
                Some(b) if b != *token => Err(crate::api::auth::forbidden(
                    "Policy does not allow this request to be performed.",
                )),
                _ => Ok(Some(token.clone())),
            },
            Some(token) => Ok(Some(body.unwrap_or_else(|| token.clone()))),
            None => Ok(body),
        }
    }
}

/// A v2 request body is one JSON object under its resource key
/// (`{"loadbalancer": {...}}`): take it out of `value`, refuse the
/// `unsupported` options it sets (see [`refuse_unsupported`]) and parse the
/// rest as `T` (unknown fields are 400 naming the field).
pub fn parse_wrapped<T: DeserializeOwned>(
    value: Value,
    key: &str,
    unsupported: &[(&str, Option<&str>)],
) -> ApiResult<T> {
    let Value::Object(mut outer) = value else {
        return Err(ApiError::bad_request("request body must be a JSON object"));
    };
    let inner = outer.remove(key).ok_or_else(|| {
        ApiError::bad_request(format!("request body must have a \"{key}\" object"))
    })?;
    if let Some(other) = outer.keys().next() {
        return Err(ApiError::bad_request(format!(
            "unknown field `{other}` beside \"{key}\""
        )));
    }
    let Value::Object(mut inner) = inner else {
        return Err(ApiError::bad_request(format!(
            "\"{key}\" must be a JSON object"
        )));
    };
    refuse_unsupported(&mut inner, unsupported)?;
    let bytes = Value::Object(inner).to_string();
    crate::api::guards::parse_body(bytes.as_bytes())
}

/// The base URL of this request (`http://<Host>`) and its path, for links
/// and the versions document.
pub struct BaseUrl {
    pub base: String,
    pub path: String,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for BaseUrl {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let host = req.host().map(|h| h.to_string()).unwrap_or_else(|| {
            // HTTP/1.0 without Host: the configured address is the best guess.
            let c = req.rocket().config();
            format!("{}:{}", c.address, c.port)
        });
        let scheme = req
            .headers()
            .get_one("X-Forwarded-Proto")
            .filter(|p| *p == "https")
            .unwrap_or("http");
        Outcome::Success(BaseUrl {
            base: format!("{scheme}://{host}"),
            path: req.uri().path().to_string(),
        })
    }
}

impl BaseUrl {
    /// The absolute URL of `path` (which starts with `/`).
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The absolute URL of this request, without its query.
    pub fn url(&self) -> String {
        self.join(&self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_octavias_utc_text() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00");
        assert_eq!(timestamp(951_782_400), "2000-02-29T00:00:00");
        assert_eq!(timestamp(1_785_505_599), "2026-07-31T13:46:39");
        assert_eq!(timestamp_opt(None), Value::Null);
    }

    #[test]
    fn integers_arrive_as_numbers_or_strings() {
        let n: Int = serde_json::from_str("100").unwrap();
        let s: Int = serde_json::from_str("\"100\"").unwrap();
        let neg: Int = serde_json::from_str("\"-1\"").unwrap();
        assert_eq!((n, s, neg), (Int(100), Int(100), Int(-1)));
        assert!(serde_json::from_str::<Int>("\"ten\"").is_err());
        assert!(serde_json::from_str::<Int>("true").is_err());
    }

    #[test]
    fn the_project_is_the_bodys_then_the_headers_then_the_default() {
        let with_header = RequestProject {
            header: Some("hdr".into()),
            ..RequestProject::default()
        };
        assert_eq!(
            with_header.resolve(Some("body".into()), "d").unwrap(),
            "body"
        );
        assert_eq!(with_header.resolve(None, "d").unwrap(), "hdr");
        assert_eq!(RequestProject::default().resolve(None, "d").unwrap(), "d");
        let long = "x".repeat(37);
        assert_eq!(
            RequestProject::default()
                .resolve(Some(long), "d")
                .unwrap_err()
                .status
                .code,
            400
        );
    }

    #[test]
    fn a_tokens_project_comes_first_and_only_an_admin_may_name_another() {
        let member = RequestProject {
            header: Some("hdr".into()),
            token: Some("p1".into()),
            admin: false,
        };
        assert_eq!(member.resolve(None, "d").unwrap(), "p1");
        assert_eq!(member.resolve(Some("p1".into()), "d").unwrap(), "p1");
        let e = member.resolve(Some("p2".into()), "d").unwrap_err();
        assert_eq!(e.status.code, 403);
        let admin = RequestProject {
            admin: true,
            ..member
        };
        assert_eq!(admin.resolve(Some("p2".into()), "d").unwrap(), "p2");
        assert_eq!(admin.resolve(None, "d").unwrap(), "p1");
        assert_eq!(RequestProject::default().owner(None).unwrap(), None);
    }

    #[test]
    fn a_wrapped_body_names_its_key() {
        #[derive(Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        struct T {
            #[allow(dead_code)]
            name: Option<String>,
        }
        let ok: T = parse_wrapped(serde_json::json!({"pool": {"name": "a"}}), "pool", &[]).unwrap();
        assert_eq!(ok.name.as_deref(), Some("a"));
        let e = parse_wrapped::<T>(serde_json::json!({"name": "a"}), "pool", &[]).unwrap_err();
        assert!(e.message.contains("\"pool\""), "{}", e.message);
        let e =
            parse_wrapped::<T>(serde_json::json!({"pool": {"bogus": 1}}), "pool", &[]).unwrap_err();
        assert!(e.message.contains("bogus"), "{}", e.message);
        let opts = [
            ("tls_enabled", None),
            ("client_authentication", Some("NONE")),
        ];
        let off = serde_json::json!({"pool": {"name": "a", "tls_enabled": false,
            "client_authentication": "NONE"}});
        assert!(parse_wrapped::<T>(off, "pool", &opts).is_ok());
        let on = serde_json::json!({"pool": {"tls_enabled": true}});
        let e = parse_wrapped::<T>(on, "pool", &opts).unwrap_err();
        assert_eq!(
            e.message,
            "Provider 'ballast' does not support a requested option: tls_enabled"
        );
    }
}
