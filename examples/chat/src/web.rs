//! The chat web page: `index.html`, the page's own script and style, and a fixed allow-list of vendor files
//! from the web folder's `node_modules` (installed there by `npm ci`), all read from `--web-root`.
//!
//! Every URL served here is named in [`FILES`]: a request is looked up in that table and nothing else, so
//! there is no directory listing and no path to traverse (`/vendor/../../Cargo.toml` matches no entry).
//! When a file the page needs is missing, `/` answers a page that says to run `npm ci` in the web folder
//! instead of a broken page. Knows nothing of the store or of Bayeux: the page talks to `/api/rooms`,
//! `/api/rooms/{room_id}/messages` and `/live` like any other client.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const MAP: &str = "application/json";

/// One file the page serves.
struct Asset {
    /// Its URL path.
    url: &'static str,
    /// Its path below the web root.
    file: &'static str,
    /// Its `Content-Type`.
    content_type: &'static str,
    /// Whether the page needs it (source maps are only for developer tools).
    required: bool,
}

const fn asset(url: &'static str, file: &'static str, content_type: &'static str) -> Asset {
    Asset { url, file, content_type, required: true }
}

const fn map(url: &'static str, file: &'static str) -> Asset {
    Asset { url, file, content_type: MAP, required: false }
}

/// Everything this module serves. Vendor files keep their file name under `/vendor/`, so that the
/// `sourceMappingURL` comments at their ends resolve to the maps listed beside them.
const FILES: &[Asset] = &[
    asset("/", "index.html", HTML),
    asset("/app.js", "app.js", JS),
    asset("/app.css", "app.css", CSS),
    asset("/vendor/jquery.js", "node_modules/jquery/dist/jquery.js", JS),
    asset("/vendor/underscore-umd.js", "node_modules/underscore/underscore-umd.js", JS),
    map("/vendor/underscore-umd.js.map", "node_modules/underscore/underscore-umd.js.map"),
    asset("/vendor/backbone.js", "node_modules/backbone/backbone.js", JS),
    asset("/vendor/faye-browser.js", "node_modules/faye/client/faye-browser.js", JS),
    map("/vendor/faye-browser.js.map", "node_modules/faye/client/faye-browser.js.map"),
    asset("/vendor/backbone-live.js", "node_modules/backbone-live/backbone-live.js", JS),
];

/// The routes of the web page, serving files from `root` (normally `examples/chat/web`).
pub fn router(root: PathBuf) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/index.html", get(index))
        .route("/app.js", get(app_file))
        .route("/app.css", get(app_file))
        .route("/vendor/{name}", get(vendor_file))
        .with_state(Arc::new(root))
}

/// The files the page needs that are missing under `root`, as their paths below it.
pub fn missing(root: &Path) -> Vec<&'static str> {
    FILES.iter().filter(|asset| asset.required && !root.join(asset.file).is_file()).map(|asset| asset.file).collect()
}

/// `/`: the chat page, or a page saying how to install it.
async fn index(State(root): State<Arc<PathBuf>>) -> Response {
    let check = Arc::clone(&root);
    let missing = tokio::task::spawn_blocking(move || missing(&check)).await.unwrap_or_default();
    if missing.is_empty() { serve(&root, "/").await } else { setup_page(&root, &missing) }
}

/// `/app.js`, `/app.css`: the page's own files.
async fn app_file(State(root): State<Arc<PathBuf>>, uri: Uri) -> Response {
    serve(&root, uri.path()).await
}

/// `/vendor/{name}`: a file of the allow-list, else 404.
async fn vendor_file(State(root): State<Arc<PathBuf>>, UrlPath(name): UrlPath<String>) -> Response {
    serve(&root, &format!("/vendor/{name}")).await
}

/// Answers the file listed for `url`: 404 when it is not listed or not there.
async fn serve(root: &Path, url: &str) -> Response {
    let Some(asset) = FILES.iter().find(|asset| asset.url == url) else {
        return not_found();
    };
    let path = root.join(asset.file);
    let read = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || std::fs::read(path)).await
    };
    match read {
        Ok(Ok(bytes)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
                // The files change when the app is edited or `npm ci` runs again: revalidate each time.
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
                (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            ],
            bytes,
        )
            .into_response(),
        Ok(Err(error)) if error.kind() == std::io::ErrorKind::NotFound => not_found(),
        Ok(Err(error)) => {
            tracing::error!(path = %path.display(), "cannot read a web file: {error}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
        Err(error) => {
            tracing::error!(path = %path.display(), "reading a web file failed: {error}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "not found\n").into_response()
}

/// 503 with a page naming the web folder, the command to run there and the files it lacks.
fn setup_page(root: &Path, missing: &[&str]) -> Response {
    let folder = escape(&root.display().to_string());
    let mut list = String::new();
    for file in missing {
        let _ = write!(list, "<li><code>{}</code></li>", escape(file));
    }
    let page = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>chat page not installed</title></head>\n\
         <body>\n<h1>The chat web page is not installed</h1>\n\
         <p>Its files are not in <code>{folder}</code>. Install them with</p>\n\
         <pre>cd {folder} &amp;&amp; npm ci</pre>\n\
         <p>and reload this page (or start the server with <code>--web-root DIR</code> naming the folder of the \
         page). The REST API at <code>/api/rooms</code> and Bayeux at <code>/live</code> work meanwhile.</p>\n\
         <p>Missing:</p>\n<ul>{list}</ul>\n</body>\n</html>\n"
    );
    (StatusCode::SERVICE_UNAVAILABLE, [(header::CACHE_CONTROL, "no-cache")], Html(page)).into_response()
}

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_url_is_listed_once_and_every_file_stays_in_the_root() {
        for (index, asset) in FILES.iter().enumerate() {
            assert!(FILES[index + 1..].iter().all(|other| other.url != asset.url), "{} listed twice", asset.url);
            assert!(!asset.file.contains(".."), "{} leaves the root", asset.file);
            assert!(!asset.file.starts_with('/'), "{} is absolute", asset.file);
        }
    }

    #[test]
    fn escape_neutralises_markup() {
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
