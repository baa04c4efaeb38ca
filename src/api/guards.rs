//! Request guards: our own JSON body parsing (so every bad body is our 400
//! naming the field), the 1 MiB body limit and path id parsing.

use std::str::FromStr;

use rocket::data::{self, Data, FromData, ToByteUnit};
use rocket::http::Status;
use rocket::request::Request;
use serde::de::DeserializeOwned;
use serde::de::{Error as _, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::error::ApiError;

/// Largest request body accepted; bigger ones answer 413.
pub const BODY_LIMIT_MIB: u64 = 1;

/// A parsed JSON object body, or the 400/413 to answer with. Parsing never
/// fails the guard, so the handler decides the order of checks.
pub struct Body<T>(pub Result<T, ApiError>);

impl<T> Body<T> {
    /// The parsed request, or its error.
    pub fn into_inner(self) -> Result<T, ApiError> {
        self.0
    }
}

/// Parse `bytes` as one JSON object into `T`, naming the offending field.
/// A key given twice is malformed (serde_json would keep the last one, so
/// what was checked and what was meant could differ).
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let StrictValue(value) = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request("request body must be a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if path == "." || path.is_empty() {
            if inner.starts_with("unknown field") {
                ApiError::bad_request(format!("{inner} (unknown or read-only field)"))
            } else {
                ApiError::bad_request(inner)
            }
        } else if inner.starts_with("unknown field") {
            ApiError::bad_request(format!("{path}: {inner} (unknown or read-only field)"))
        } else {
            ApiError::bad_request(format!("{path}: {inner}"))
        }
    })
}

/// A JSON value that refuses duplicate object keys.
struct StrictValue(serde_json::Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(serde_json::Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(A::Error::custom(format!("duplicate key `{key}`")));
            }
            let StrictValue(v) = map.next_value()?;
            object.insert(key, v);
        }
        Ok(serde_json::Value::Object(object))
    }
}

#[rocket::async_trait]
impl<'r, T: DeserializeOwned + Send> FromData<'r> for Body<T> {
    type Error = std::convert::Infallible;

    async fn from_data(req: &'r Request<'_>, data: Data<'r>) -> data::Outcome<'r, Self> {
        let limit = BODY_LIMIT_MIB.mebibytes();
        let parsed = match data.open(limit).into_bytes().await {
            // An update that names no field changes nothing, and must not
            // lock the load balancer for a job that does nothing.
            Ok(bytes) if bytes.is_complete() && req.method() == rocket::http::Method::Put => {
                parse_body::<serde_json::Value>(&bytes)
                    .and_then(|v| match v.as_object() {
                        Some(o) if o.is_empty() => Err(ApiError::bad_request(
                            "an update must name at least one field to change",
                        )),
                        _ => Ok(v),
                    })
                    .and_then(|_| parse_body(&bytes.into_inner()))
            }
            Ok(bytes) if bytes.is_complete() => parse_body(&bytes.into_inner()),
            Ok(_) => Err(ApiError::new(
                Status::PayloadTooLarge,
                format!("request body is larger than {BODY_LIMIT_MIB} MiB"),
            )),
            Err(e) => Err(ApiError::bad_request(format!("cannot read body: {e}"))),
        };
        data::Outcome::Success(Body(parsed))
    }
}

/// Parse an id from the URL; anything that is not a UUID is an unknown id.
pub fn path_id<T: FromStr>(kind: &str, raw: &str) -> Result<T, ApiError> {
    raw.parse::<T>().map_err(|_| ApiError::not_found(kind, raw))
}

/// A field of an update body that can be absent, explicitly null, or set.
#[derive(Debug, Default, Clone, PartialEq)]
pub enum Patch<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(d)? {
            None => Patch::Null,
            Some(v) => Patch::Value(v),
        })
    }
}

impl<T> Patch<T> {
    /// Apply to a nullable field.
    pub fn apply_to(self, field: &mut Option<T>) {
        match self {
            Patch::Absent => {}
            Patch::Null => *field = None,
            Patch::Value(v) => *field = Some(v),
        }
    }
}

impl Patch<String> {
    /// Validate a nullable text field of an update.
    pub fn map_text(self, field: &str) -> Result<Patch<String>, ApiError> {
        Ok(match self {
            Patch::Value(v) => {
                Patch::Value(super::validate::text(field, Some(v))?.unwrap_or_default())
            }
            other => other,
        })
    }
}
