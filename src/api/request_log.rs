//! Per-request id and access log: every request gets an id (echoed in
//! `X-Request-Id`) and one debug line with method, path, status and duration.

use std::time::Instant;

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::Header;
use rocket::{Data, Request, Response};
use tracing::debug;

/// The fairing.
pub struct RequestLog;

#[derive(Clone)]
struct Started {
    at: Instant,
    id: String,
    /// As the client sent it: the policy fairing may reroute the request.
    path: String,
}

#[rocket::async_trait]
impl Fairing for RequestLog {
    fn info(&self) -> Info {
        Info {
            name: "request log",
            kind: Kind::Request | Kind::Response,
        }
    }

    async fn on_request(&self, req: &mut Request<'_>, _: &mut Data<'_>) {
        let path = req.uri().path().to_string();
        req.local_cache(|| Started {
            at: Instant::now(),
            id: uuid::Uuid::new_v4().simple().to_string()[..16].to_string(),
            path,
        });
    }

    async fn on_response<'r>(&self, req: &'r Request<'_>, res: &mut Response<'r>) {
        let started = req.local_cache(|| Started {
            at: Instant::now(),
            id: String::new(),
            path: String::new(),
        });
        res.set_header(Header::new("X-Request-Id", started.id.clone()));
        debug!(
            request_id = %started.id,
            method = %req.method(),
            path = %started.path,
            status = res.status().code,
            duration_us = started.at.elapsed().as_micros() as u64,
            "request"
        );
    }
}

/// The id of a request (empty before the fairing ran).
pub fn request_id(req: &Request<'_>) -> String {
    req.local_cache(|| Started {
        at: Instant::now(),
        id: String::new(),
        path: String::new(),
    })
    .id
    .clone()
}

/// The path as the client sent it (the policy fairing may reroute a
/// refused request to its internal route).
pub fn original_path(req: &Request<'_>) -> String {
    req.local_cache(|| Started {
        at: Instant::now(),
        id: String::new(),
        path: req.uri().path().to_string(),
    })
    .path
    .clone()
}
