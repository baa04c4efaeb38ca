//! The one mapping from errors to HTTP: `ApiError` and the JSON fault body
//! `{"faultcode": "Client"|"Server", "faultstring": ..., "debuginfo": null}`.
//! Catchers use the same body, so nothing answers in HTML.
//!
//! A 400 about fields carries one Ballast extension beside Octavia's keys:
//! `"errors": [{"field": ..., "message": ...}, ...]`, every invalid field of
//! the body in the order they were checked; `faultstring` stays the first
//! one's `field: message`, so clients that read only it see what they saw
//! before.

use rocket::http::{ContentType, Status};
use rocket::response::{self, Responder, Response};
use rocket::{Request, catch};
use serde::Serialize;
use serde_json::json;
use tracing::error;

use crate::store::StoreError;

/// An error answer: a status, the fault string shown to the client and,
/// for invalid fields, each field with its reason.
#[derive(Debug)]
pub struct ApiError {
    pub status: Status,
    pub message: String,
    /// Every invalid field, first one first; empty for other faults.
    pub errors: Vec<FieldError>,
}

/// One invalid field of a request body: `field` as the API spells it
/// (`vip.ip_address`), `message` the reason without the field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl ApiError {
    /// An error with `status` and `message`, about no field in particular.
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            errors: Vec::new(),
        }
    }
    /// 400 naming what is wrong.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(Status::BadRequest, message)
    }
    /// 400 for one field: `field: reason`, listed in `errors` too.
    pub fn field(field: &str, reason: impl std::fmt::Display) -> Self {
        let message = reason.to_string();
        Self {
            status: Status::BadRequest,
            message: format!("{field}: {message}"),
            errors: vec![FieldError {
                field: field.to_owned(),
                message,
            }],
        }
    }
    /// 404 for an unknown object.
    pub fn not_found(kind: &str, id: impl std::fmt::Display) -> Self {
        Self::new(Status::NotFound, format!("{kind} {id} not found"))
    }
    /// 409 with the reason.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(Status::Conflict, message)
    }
    /// 500: the cause goes to the log, the client sees a generic message.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        error!(%cause, "internal error");
        Self::new(
            Status::InternalServerError,
            "internal server error (see the server log)",
        )
    }
    /// One fault for several: the first one's status and message, and every
    /// field error of all of them in order. `None` when `all` is empty.
    pub fn combine(all: Vec<ApiError>) -> Option<ApiError> {
        let mut all = all.into_iter();
        let mut first = all.next()?;
        for more in all {
            first.errors.extend(more.errors);
        }
        Some(first)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { kind, id } => ApiError::not_found(kind, id),
            StoreError::Conflict { reason, .. } => ApiError::conflict(reason),
            StoreError::Invalid { field, reason } => ApiError::field(field, reason),
            other => ApiError::internal(other),
        }
    }
}

/// The fault body for a status and message.
pub fn fault(status: Status, message: &str) -> (Status, (ContentType, String)) {
    fault_with(status, message, &[])
}

/// The fault body, with the `errors` extension when there are field errors.
fn fault_with(
    status: Status,
    message: &str,
    errors: &[FieldError],
) -> (Status, (ContentType, String)) {
    let faultcode = if status.code >= 500 {
        "Server"
    } else {
        "Client"
    };
    let mut body = json!({ "faultcode": faultcode, "faultstring": message, "debuginfo": null });
    if !errors.is_empty() {
        body["errors"] = json!(errors);
    }
    (status, (ContentType::JSON, body.to_string()))
}

impl<'r> Responder<'r, 'static> for ApiError {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        let message = if self.status.code >= 500 {
            // The cause is in the log under this id; the client gets the id.
            format!(
                "{} [request {}]",
                self.message,
                super::request_log::request_id(req)
            )
        } else {
            self.message
        };
        Response::build_from(fault_with(self.status, &message, &self.errors).respond_to(req)?).ok()
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

#[catch(404)]
pub fn not_found(req: &Request<'_>) -> ApiError {
    if super::method_not_allowed(req) {
        return ApiError::new(
            Status::MethodNotAllowed,
            format!(
                "method {} not allowed on {}",
                req.method(),
                req.uri().path()
            ),
        );
    }
    ApiError::new(
        Status::NotFound,
        format!("no such resource: {}", req.uri().path()),
    )
}

#[catch(413)]
pub fn payload_too_large() -> ApiError {
    ApiError::new(Status::PayloadTooLarge, "request body is larger than 1 MiB")
}

#[catch(500)]
pub fn internal_error() -> ApiError {
    ApiError::new(
        Status::InternalServerError,
        "internal server error (see the server log)",
    )
}

#[catch(default)]
pub fn default(status: Status, _req: &Request<'_>) -> ApiError {
    ApiError::new(status, status.reason().unwrap_or("error"))
}
