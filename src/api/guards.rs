//! Request guards: our own JSON body parsing (so every bad body is our 400
//! naming the field), the 1 MiB body limit and path id parsing.

use std::str::FromStr;

use rocket::data::{self, Data, FromData, ToByteUnit};
use rocket::http::Status;
use rocket::request::Request;
use serde::de::DeserializeOwned;
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
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
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

#[rocket::async_trait]
impl<'r, T: DeserializeOwned + Send> FromData<'r> for Body<T> {
    type Error = std::convert::Infallible;

    async fn from_data(_req: &'r Request<'_>, data: Data<'r>) -> data::Outcome<'r, Self> {
        let limit = BODY_LIMIT_MIB.mebibytes();
        let parsed = match data.open(limit).into_bytes().await {
            Ok(bytes) if bytes.is_complete() => parse_body(&bytes.into_inner()),
            Ok(_) => Err(ApiError {
                status: Status::PayloadTooLarge,
                message: format!("request body is larger than {BODY_LIMIT_MIB} MiB"),
            }),
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
