//! Transports: thin adapters from HTTP and WebSocket to the engine in [`Server`].
//!
//! Every request on the mount path or any sub-path is Bayeux (CometD clients post to `/live/handshake`,
//! `/live/connect`, ...; faye treats every path under the mount as its endpoint, bayeux.md a.1): a WebSocket
//! upgrade goes to [`websocket`], a POST to [`long_polling`], and anything else gets faye's 400.

pub mod long_polling;
pub mod websocket;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use http::{HeaderMap, Method, StatusCode, header};

use super::Server;

impl Server {
    /// An axum `Router` serving the endpoint on the mount path and every path below it. Merge or nest it
    /// into the application's router.
    pub fn router(&self) -> Router {
        let mount = self.options().mount_path();
        let paths = if mount == "/" {
            vec!["/".to_owned(), "/{*rest}".to_owned()]
        } else {
            vec![mount.to_owned(), format!("{mount}/"), format!("{mount}/{{*rest}}")]
        };
        paths.iter().fold(Router::new(), |router, path| router.route(path, any(dispatch))).with_state(self.clone())
    }
}

/// Routes one request to its transport.
async fn dispatch(State(server): State<Server>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    if parts.method == Method::GET && is_upgrade(&parts.headers) {
        if !server.options().websocket {
            // Answer quickly rather than hang the client's warm-up upgrade (pitfall 10).
            return bad_request();
        }
        return match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            Ok(upgrade) => websocket::upgrade(server, upgrade, parts.headers),
            Err(rejection) => rejection.into_response(),
        };
    }
    if parts.method == Method::POST {
        return long_polling::handle(server, parts.headers, body).await;
    }
    // JSONP (GET), CORS preflight (OPTIONS) and EventSource are not served yet; faye answers 400 to methods
    // and GETs it cannot use (bayeux.md a.10).
    bad_request()
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("websocket"))
}

/// faye's answer to input that is not Bayeux at all: 400, `text/plain`, `Bad request` (bayeux.md a.1).
pub(crate) fn bad_request() -> Response {
    (StatusCode::BAD_REQUEST, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "Bad request").into_response()
}
