//! The one mapping from errors to HTTP: `ApiError` and the JSON fault body
//! `{"faultcode": "Client"|"Server", "faultstring": ..., "debuginfo": null}`.
//! Catchers use the same body, so nothing answers in HTML.

use rocket::http::{ContentType, Status};
use rocket::response::{self, Responder, Response};
use rocket::{Request, catch};
use serde_json::json;
use tracing::error;

use crate::store::StoreError;

/// An error answer: a status and the fault string shown to the client.
#[derive(Debug)]
pub struct ApiError {
    pub status: Status,
    pub message: String,
}

impl ApiError {
    /// 400 naming what is wrong.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: Status::BadRequest,
            message: message.into(),
        }
    }
    /// 400 for one field: `field: reason`.
    pub fn field(field: &str, reason: impl std::fmt::Display) -> Self {
        Self::bad_request(format!("{field}: {reason}"))
    }
    /// 404 for an unknown object.
    pub fn not_found(kind: &str, id: impl std::fmt::Display) -> Self {
        Self {
            status: Status::NotFound,
            message: format!("{kind} {id} not found"),
        }
    }
    /// 409 with the reason.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self {
            status: Status::Conflict,
            message: message.into(),
        }
    }
    /// 500: the cause goes to the log, the client sees a generic message.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        error!(%cause, "internal error");
        Self {
            status: Status::InternalServerError,
            message: "internal server error (see the server log)".into(),
        }
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
    let faultcode = if status.code >= 500 {
        "Server"
    } else {
        "Client"
    };
    let body = json!({ "faultcode": faultcode, "faultstring": message, "debuginfo": null });
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
        Response::build_from(fault(self.status, &message).respond_to(req)?).ok()
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

#[catch(404)]
pub fn not_found(req: &Request<'_>) -> ApiError {
    if super::method_not_allowed(req) {
        return ApiError {
            status: Status::MethodNotAllowed,
            message: format!(
                "method {} not allowed on {}",
                req.method(),
                req.uri().path()
            ),
        };
    }
    ApiError {
        status: Status::NotFound,
        message: format!("no such resource: {}", req.uri().path()),
    }
}

#[catch(413)]
pub fn payload_too_large() -> ApiError {
    ApiError {
        status: Status::PayloadTooLarge,
        message: "request body is larger than 1 MiB".into(),
    }
}

#[catch(500)]
pub fn internal_error() -> ApiError {
    ApiError {
        status: Status::InternalServerError,
        message: "internal server error (see the server log)".into(),
    }
}

#[catch(default)]
pub fn default(status: Status, _req: &Request<'_>) -> ApiError {
    ApiError {
        status,
        message: status.reason().unwrap_or("error").to_string(),
    }
}
