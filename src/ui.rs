//! Serves the web UI: the files of `static/`, embedded with rust-embed.
//!
//! Release builds carry the files inside the binary; debug builds read
//! `static/` from the source tree at request time, so edits show on reload.
//! Every answer names its content type, carries an `ETag` (the SHA-256 of the
//! file) and `Cache-Control: no-cache`, so a reload revalidates with
//! `If-None-Match` and costs a 304. HTML additionally carries a
//! Content-Security-Policy that allows only Ballast's own scripts, styles and
//! API.
//!
//! This module owns no API route and must never answer under `/v1/` (nor
//! `/healthz`, `/readyz`, `/metrics`): its catch-all route forwards those with
//! 404 so the API's JSON catcher answers. Any other unknown path serves
//! `index.html`, so the app can route it.

use std::borrow::Cow;

use rocket::http::uri::Segments;
use rocket::http::uri::fmt::Path;
use rocket::http::{ContentType, Header, Status};
use rocket::request::{self, FromRequest, Request};
use rocket::response::{self, Responder, Response};
use rocket::{Route, get, routes};
use rust_embed::RustEmbed;

/// The files of `static/`; embedded in release builds, read live in debug builds.
#[derive(RustEmbed)]
#[folder = "static/"]
struct Assets;

/// The Content-Security-Policy sent with every HTML answer.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'self'";

/// First path segments that belong to the API server, never to the UI.
const RESERVED_PREFIXES: [&str; 6] = ["v1", "v2", "v2.0", "healthz", "readyz", "metrics"];

/// The UI's routes, to be mounted at `/`: `GET /` and `GET /<path..>`.
///
/// Their ranks (49 and 50) put them after every API route (Rocket's default ranks are
/// negative, explicit ones small) is tried first.
pub fn routes() -> Vec<Route> {
    routes![index, file]
}

/// One embedded file, ready to send, or a 304 when the client's copy is current.
pub enum Asset {
    /// The file's body with its type and tag.
    Body {
        /// Bytes of the file.
        body: Cow<'static, [u8]>,
        /// Its MIME type, as guessed from the file name.
        mime: String,
        /// Quoted strong entity tag.
        etag: String,
    },
    /// The client's `If-None-Match` named the current tag.
    NotModified {
        /// Quoted strong entity tag.
        etag: String,
    },
}

impl<'r> Responder<'r, 'static> for Asset {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let mut response = Response::build();
        response
            .raw_header("Cache-Control", "no-cache")
            .raw_header("Referrer-Policy", "no-referrer");
        match self {
            Asset::NotModified { etag } => response
                .status(Status::NotModified)
                .header(Header::new("ETag", etag))
                .ok(),
            Asset::Body { body, mime, etag } => {
                let content_type = content_type(&mime);
                if content_type.is_html() {
                    response.raw_header("Content-Security-Policy", CONTENT_SECURITY_POLICY);
                }
                response
                    .header(content_type)
                    .header(Header::new("ETag", etag))
                    .sized_body(body.len(), std::io::Cursor::new(body))
                    .ok()
            }
        }
    }
}

/// The entity tags of a request's `If-None-Match` header (empty when absent).
pub struct IfNoneMatch(Vec<String>);

impl IfNoneMatch {
    /// Whether `etag` (quoted) is one the client already holds. Weak tags
    /// match by their opaque part, as RFC 9110 prescribes for If-None-Match.
    fn matches(&self, etag: &str) -> bool {
        self.0
            .iter()
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for IfNoneMatch {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> request::Outcome<Self, Self::Error> {
        let tags = request
            .headers()
            .get("If-None-Match")
            .flat_map(|value| value.split(','))
            .map(|tag| tag.trim().to_owned())
            .filter(|tag| !tag.is_empty())
            .collect();
        request::Outcome::Success(IfNoneMatch(tags))
    }
}

/// A request whose path is not reserved for the API server. Forwards with
/// 404 otherwise, so the API's JSON 404 catcher answers.
pub struct NotApi;

#[rocket::async_trait]
impl<'r> FromRequest<'r> for NotApi {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> request::Outcome<Self, Self::Error> {
        let first = request.uri().path().segments().next().unwrap_or("");
        if RESERVED_PREFIXES.contains(&first) {
            request::Outcome::Forward(Status::NotFound)
        } else {
            request::Outcome::Success(NotApi)
        }
    }
}

#[get("/", rank = 49)]
fn index(if_none_match: IfNoneMatch) -> Option<Asset> {
    serve("index.html", &if_none_match)
}

#[get("/<path..>", rank = 50)]
fn file(_not_api: NotApi, path: Segments<'_, Path>, if_none_match: IfNoneMatch) -> Option<Asset> {
    // Hidden files and parent references are never served; such a path
    // falls through to the app like any other unknown one.
    let clean = path
        .clone()
        .all(|segment| !segment.is_empty() && !segment.starts_with('.'));
    let joined = path.collect::<Vec<_>>().join("/");
    if clean && let Some(asset) = serve(&joined, &if_none_match) {
        return Some(asset);
    }
    serve("index.html", &if_none_match)
}

/// Looks `name` up among the embedded files and answers it, or a 304.
fn serve(name: &str, if_none_match: &IfNoneMatch) -> Option<Asset> {
    let file = Assets::get(name)?;
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()));
    if if_none_match.matches(&etag) {
        return Some(Asset::NotModified { etag });
    }
    Some(Asset::Body {
        body: file.data,
        mime: file.metadata.mimetype().to_owned(),
        etag,
    })
}

/// Parses a guessed MIME type, adding `charset=utf-8` to text types (the
/// UI's files are all UTF-8).
fn content_type(mime: &str) -> ContentType {
    let textual = mime.starts_with("text/")
        || mime == "application/javascript"
        || mime == "application/json"
        || mime == "image/svg+xml";
    let full = if textual && !mime.contains("charset") {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_owned()
    };
    ContentType::parse_flexible(&full).unwrap_or(ContentType::Binary)
}

/// Lowercase hexadecimal of `bytes`.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
            // Writing into a String cannot fail.
            let _ = write!(out, "{byte:02x}");
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_and_star_tags_match_in_if_none_match() {
        let tags = IfNoneMatch(vec!["W/\"abc\"".into(), "\"def\"".into()]);
        assert!(tags.matches("\"abc\""));
        assert!(tags.matches("\"def\""));
        assert!(!tags.matches("\"xyz\""));
        assert!(IfNoneMatch(vec!["*".into()]).matches("\"xyz\""));
    }

    #[test]
    fn text_types_get_a_utf8_charset() {
        assert_eq!(
            content_type("text/css").to_string(),
            "text/css; charset=utf-8"
        );
        assert_eq!(content_type("image/png").to_string(), "image/png");
    }
}
