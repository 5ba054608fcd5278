//! The web console (POS, member page, back office) at `/console/`: the built assets of `web/`
//! (`scripts/console-build.sh`), embedded in the binary so that any build serves them without
//! Node. The console is a client of the public API; this module only serves its files.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use rust_embed::RustEmbed;

use mps_api::error::ErrorCode;

use crate::error::ApiError;
use crate::state::AppState;

#[derive(RustEmbed)]
#[folder = "../../web/dist/"]
struct Assets;

/// The console pages' Content-Security-Policy: code, styles and images from this origin only,
/// nothing inline, no HTML sinks in the DOM (Trusted Types with no policy), requests to this
/// origin only, never framed, forms never posted by the browser itself.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       connect-src 'self'; media-src 'self'; form-action 'none'; frame-ancestors 'none'; \
                       base-uri 'none'; require-trusted-types-for 'script'; trusted-types 'none'";

/// The camera is for this origin's own page (the till's scanner); nothing else is granted.
const PERMISSIONS_POLICY: HeaderValue =
    HeaderValue::from_static("camera=(self), microphone=(), geolocation=(), payment=(), usb=()");

/// Whether `path` is the console's (it gets [`CSP`] and no rate limit: the files are static).
pub fn serves(path: &str) -> bool {
    path == "/console" || path.starts_with("/console/")
}

/// `/console` (to `/console/`), the index page and every asset.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(|| async { Redirect::permanent("/console/") }))
        .route("/console/", get(index))
        .route("/console/{*path}", get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// A file by name; pages also answer without `.html` (`/console/pos`).
async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    if Assets::get(&path).is_some() { serve(&path, &headers) } else { serve(&format!("{path}.html"), &headers) }
}

/// The file with a validator: browsers revalidate (`no-cache`) and get 304 while it is unchanged.
fn serve(name: &str, headers: &HeaderMap) -> Response {
    let Some(file) = Assets::get(name) else {
        return ApiError::new(ErrorCode::NotFound, "The console has no such page or file.").into_response();
    };
    let etag = format!("\"{}\"", hex::encode(file.metadata.sha256_hash()));
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let common = [
        (header::ETAG, HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\""))),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::HeaderName::from_static("permissions-policy"), PERMISSIONS_POLICY),
    ];
    if cached {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (common, [(header::CONTENT_TYPE, content_type(file.metadata.mimetype()))], file.data).into_response()
}

/// The type of a file, with its character set for text.
fn content_type(mime: &str) -> HeaderValue {
    let text = mime.starts_with("text/") || mime.ends_with("javascript") || mime.ends_with("+xml");
    let value = if text { format!("{mime}; charset=utf-8") } else { mime.to_owned() };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("application/octet-stream"))
}
