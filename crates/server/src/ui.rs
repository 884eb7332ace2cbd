//! The web UI: `GET /` serves `webui/src/index.html`, `GET /ui/{path}` the UI's own files
//! (`webui/src/{path}`), `GET /ui/vendor/{path}` the third-party files it imports from
//! `webui/node_modules/{path}` (installed by `npm ci` in `webui/`, see its `package.json`).
//! The analyzer and the agent both serve it, beside the API (`crate::api::router`).
//!
//! The files are embedded with `rust-embed`: release builds carry them in the binary, debug
//! builds read them from disk at each request (edit, reload). Only the files named by the
//! `include` patterns below are served; anything else is a JSON 404 like the API's.
//!
//! Without `webui/node_modules` at build time the build still succeeds, and `/` answers
//! `503` with a page that says to run `npm ci` in `webui/` and rebuild.
//!
//! Caching: every answer carries an `ETag` (the file's SHA-256) and honours
//! `If-None-Match`; the UI's files are `no-cache` (revalidated at each load, so a new binary
//! is picked up at once), the vendored files `max-age=86400` (their version only changes with
//! `webui/package-lock.json`).
//!
//! Must not: know anything about the UI's content (it is a static file server), or serve
//! `node_modules` files the UI does not load (dev tools such as `playwright-core` stay out).

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::api::ApiError;

#[derive(rust_embed::RustEmbed)]
#[folder = "../../webui/"]
#[include = "src/*.html"]
#[include = "src/*.js"]
#[include = "src/*.css"]
#[include = "src/*.svg"]
#[include = "node_modules/cytoscape/dist/cytoscape.esm.min.mjs"]
#[include = "node_modules/cytoscape/LICENSE"]
struct Assets;

/// The vendored file the UI cannot start without: its absence means `npm ci` never ran.
const REQUIRED_VENDOR: &str = "node_modules/cytoscape/dist/cytoscape.esm.min.mjs";

/// `/` and `/ui/…`, stateless: merge it into any router.
pub(crate) fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/ui", get(index))
        .route("/ui/", get(index))
        .route("/ui/{*path}", get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    if Assets::get(REQUIRED_VENDOR).is_none() {
        return missing_dependencies();
    }
    serve("src/index.html", &headers)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    let file = match path.strip_prefix("vendor/") {
        Some(vendored) => format!("node_modules/{vendored}"),
        None => format!("src/{path}"),
    };
    serve(&file, &headers)
}

fn serve(file: &str, headers: &HeaderMap) -> Response {
    // `..` never reaches the disk in debug builds: rust-embed joins the path as given.
    if file.split('/').any(|part| part == ".." || part.is_empty()) {
        return not_found(file);
    }
    let Some(content) = Assets::get(file) else {
        return not_found(file);
    };
    let etag = format!("\"{}\"", hex(&content.metadata.sha256_hash()));
    let cache = if file.starts_with("node_modules/") {
        "public, max-age=86400"
    } else {
        "no-cache"
    };
    let mut response = if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = content.data.into_owned().into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(file)),
        );
        r
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn content_type(file: &str) -> &'static str {
    match file.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        _ => "text/plain; charset=utf-8",
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn not_found(file: &str) -> Response {
    ApiError::not_found(format!(
        "no web UI file `{}`: the UI serves webui/src and the files it imports",
        file.trim_start_matches("src/")
    ))
    .into_response()
}

fn missing_dependencies() -> Response {
    let body = "<!doctype html><meta charset=utf-8><title>Skydive: web UI not installed</title>\
        <body style=\"font-family: sans-serif; max-width: 40em; margin: 3em auto\">\
        <h1>The web UI's libraries are missing</h1>\
        <p>This binary was built without <code>webui/node_modules</code>. \
        Run <code>npm ci</code> in <code>webui/</code>, then rebuild \
        (<code>./scripts/run.sh</code> does both).</p>\
        <p>The API works: <a href=\"/api\">/api</a>, <a href=\"/api/status\">/api/status</a>.</p>";
    let mut r = (StatusCode::SERVICE_UNAVAILABLE, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_follow_extensions() {
        assert_eq!(content_type("src/app.js"), "text/javascript; charset=utf-8");
        assert_eq!(
            content_type("node_modules/cytoscape/dist/cytoscape.esm.min.mjs"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("src/index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("src/style.css"), "text/css; charset=utf-8");
    }

    #[test]
    fn the_index_and_the_ui_files_are_embedded() {
        assert!(Assets::get("src/index.html").is_some());
        assert!(Assets::get("src/app.js").is_some());
        // Dev tools are never served.
        assert!(Assets::get("node_modules/playwright-core/package.json").is_none());
        assert!(Assets::get("package.json").is_none());
    }

    #[test]
    fn parent_paths_are_refused() {
        let r = serve("src/../package.json", &HeaderMap::new());
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
}
