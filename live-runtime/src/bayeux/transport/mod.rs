//! Transports: thin adapters from HTTP and WebSocket to the engine in [`Server`].
//!
//! Every request on the mount path or any sub-path is Bayeux (CometD clients post to `/live/handshake`,
//! `/live/connect`, ...; faye treats every path under the mount as its endpoint, docs/protocol.md §2.1):
//!
//! - a WebSocket upgrade goes to [`websocket`], a POST to [`long_polling`];
//! - a GET with `Accept: text/event-stream` on `<mount>/<clientId>` opens an [`eventsource`] stream, when
//!   [`Options::eventsource`] is on;
//! - any other GET is a JSONP request ([`jsonp`], `callback-polling`), when [`Options::jsonp`] is on;
//! - an OPTIONS is a CORS preflight ([`cors`]);
//! - anything else gets faye's 400.
//!
//! Every response to an allowed cross-origin request carries the CORS headers ([`Options::allow_origin`]).
//!
//! The browser transports are off by default: a default server lists only `long-polling` and `websocket` in its
//! handshake reply, and accepts no cross-origin reads. A page on another origin needs JSONP *and* an allowed origin,
//! because faye always handshakes cross-origin over JSONP (docs/protocol.md, pitfall P8), then switches to WebSocket or
//! CORS long-polling:
//!
//! ```
//! use live_runtime::bayeux::Options;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let options = Options::default().allow_origin("https://app.example.com")?.jsonp(true).eventsource(true);
//! # Ok(())
//! # }
//! ```
//!
//! Security note: neither JSONP nor WebSocket can be restricted by origin (a `<script>` request carries no
//! `Origin`, and faye's WebSocket does no check, docs/protocol.md §10.5), so with cookie-based authentication any
//! page can act as the user over them. Prefer tokens in `ext` (docs/protocol.md §9.2) when JSONP is on.

pub mod cors;
pub mod eventsource;
pub mod jsonp;
pub mod long_polling;
pub mod websocket;
pub(crate) mod ws_socket;

use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use super::message::EVENTSOURCE;
use super::{Options, Server};

pub use cors::InvalidOrigin;

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

/// Settings of the browser transports (JSONP, CORS, EventSource), kept apart from the core options.
#[derive(Debug, Clone)]
pub(crate) struct Browser {
    /// Origins allowed cross-origin reads, as given to [`Options::allow_origin`] (lowercase).
    pub(crate) origins: Vec<String>,
    /// Whether every origin (except `null`) is allowed; the concrete origin is still echoed.
    pub(crate) any_origin: bool,
    /// Whether JSONP GETs are served.
    pub(crate) jsonp: bool,
    /// The longest JSONP query string accepted, in bytes.
    pub(crate) max_jsonp_size: usize,
    /// Whether EventSource streams are served.
    pub(crate) eventsource: bool,
    /// How often an idle EventSource stream gets a `:` comment line.
    pub(crate) eventsource_ping: Option<Duration>,
}

impl Default for Browser {
    fn default() -> Self {
        Self {
            origins: Vec::new(),
            any_origin: false,
            jsonp: false,
            // faye's client cuts batches at about 2 KB (docs/protocol.md §10.4), but one large publish still
            // goes out whole (§2.5). 32 KiB of query string leaves room for that and stays below the 64 KiB URI
            // bound of the HTTP layer, which answers longer URLs with 414 before this code runs.
            max_jsonp_size: 32 * 1024,
            eventsource: false,
            // Below common proxy idle limits (docs/protocol.md, pitfall P18); faye's default is 10 s (§12).
            eventsource_ping: Some(Duration::from_secs(20)),
        }
    }
}

impl Browser {
    /// Whether any cross-origin reads are allowed.
    pub(crate) fn cors(&self) -> bool {
        self.any_origin || !self.origins.is_empty()
    }
}

/// Settings of the browser transports.
impl Options {
    /// Allows cross-origin requests (CORS, docs/protocol.md §10.3) from `origin`, such as
    /// `https://app.example.com`. Responses to that origin echo it in `Access-Control-Allow-Origin` with
    /// `Access-Control-Allow-Credentials: true`, and the handshake lists `cross-origin-long-polling`.
    ///
    /// By default no origin is allowed: browsers may then use the endpoint from its own origin only. A
    /// cross-origin faye page also needs [`Options::jsonp`], since it handshakes over JSONP.
    pub fn allow_origin(mut self, origin: &str) -> Result<Self, InvalidOrigin> {
        self.browser.origins.push(cors::parse_origin(origin)?);
        Ok(self)
    }

    /// Allows cross-origin requests from every origin except the opaque `null` one (default false). The
    /// request's own origin is echoed, never `*`, which browsers refuse together with credentials
    /// (docs/protocol.md, pitfall P9). Meant for development: any site can then read the endpoint as the user.
    pub fn allow_any_origin(mut self, allowed: bool) -> Self {
        self.browser.any_origin = allowed;
        self
    }

    /// Whether to serve JSONP GETs, `callback-polling` (default false). faye's browser client needs it on
    /// any page of another origin, because it handshakes over JSONP there (docs/protocol.md §11, pitfall P8).
    pub fn jsonp(mut self, enabled: bool) -> Self {
        self.browser.jsonp = enabled;
        self
    }

    /// The longest JSONP query string accepted, in bytes (default 32 KiB). A longer one is answered with
    /// the Bayeux error `400::Message too large` inside the callback; URLs past the HTTP layer's 64 KiB
    /// bound get a plain 414.
    pub fn max_jsonp_size(mut self, bytes: usize) -> Self {
        self.browser.max_jsonp_size = bytes;
        self
    }

    /// Whether to serve EventSource streams, `eventsource` (default false). faye's browser client uses them
    /// on its own origin when WebSocket is unavailable (docs/protocol.md §10.6).
    pub fn eventsource(mut self, enabled: bool) -> Self {
        self.browser.eventsource = enabled;
        self
    }

    /// How often an EventSource stream gets a `:` comment line (default 20 s), so proxies keep it open and
    /// a departed browser is noticed; `None` turns pings off.
    pub fn eventsource_ping_interval(mut self, interval: Option<Duration>) -> Self {
        self.browser.eventsource_ping = interval.filter(|every| !every.is_zero());
        self
    }

    /// The connection types the handshake reply lists: exactly what is enabled, in faye's order
    /// (docs/protocol.md §5.1, §11), since the client picks from this list.
    pub(crate) fn connection_types(&self) -> Vec<String> {
        let browser = &self.browser;
        [
            ("long-polling", true),
            ("cross-origin-long-polling", browser.cors()),
            ("callback-polling", browser.jsonp),
            ("websocket", self.websocket),
            (EVENTSOURCE, browser.eventsource),
        ]
        .into_iter()
        .filter(|(_, enabled)| *enabled)
        .map(|(name, _)| name.to_owned())
        .collect()
    }
}

/// Routes one request to its transport, and adds the CORS headers to whatever it answers.
async fn dispatch(State(server): State<Server>, request: Request) -> Response {
    let origin = cors::allowed_origin(&server.options().browser, request.headers());
    let cors = server.options().browser.cors();
    let mut response = route(server, request, origin.as_ref()).await;
    cors::decorate(response.headers_mut(), origin, cors);
    response
}

async fn route(server: Server, request: Request, origin: Option<&HeaderValue>) -> Response {
    let (parts, body) = request.into_parts();
    if parts.method == Method::GET && is_upgrade(&parts.headers) {
        if !server.options().websocket {
            // Answer quickly rather than hang the client's warm-up upgrade (docs/protocol.md, pitfall P10).
            return bad_request();
        }
        return websocket::upgrade(server, parts);
    }
    let browser = &server.options().browser;
    match parts.method {
        Method::POST => long_polling::handle(server, parts.headers, body).await,
        Method::OPTIONS => cors::preflight(origin.is_some()),
        Method::GET if eventsource::wants_stream(&parts.headers) => {
            if !browser.eventsource {
                return bad_request();
            }
            let rest = sub_path(server.options().mount_path(), parts.uri.path());
            eventsource::handle(server, rest)
        }
        Method::GET if browser.jsonp => {
            let query = parts.uri.query().unwrap_or_default().to_owned();
            jsonp::handle(server, parts.headers, &query).await
        }
        // faye answers 400 to methods and GETs it cannot use (docs/protocol.md §8.3).
        _ => bad_request(),
    }
}

/// The part of `path` below `mount`, without the separating slash (empty for the mount itself).
fn sub_path<'a>(mount: &str, path: &'a str) -> &'a str {
    path.strip_prefix(mount).unwrap_or(path).trim_start_matches('/')
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("websocket"))
}

/// faye's answer to input that is not Bayeux at all: 400, `text/plain`, `Bad request` (docs/protocol.md §2.2).
pub(crate) fn bad_request() -> Response {
    (StatusCode::BAD_REQUEST, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "Bad request").into_response()
}

/// A plain-text refusal with a reason. `nosniff` keeps a browser that loaded it as a script from running
/// it.
pub(crate) fn refuse(status: StatusCode, reason: &'static str) -> Response {
    let headers = [
        (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-cache, no-store"),
    ];
    (status, headers, reason).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_types_follow_the_options() -> Result<(), InvalidOrigin> {
        assert_eq!(Options::default().connection_types(), ["long-polling", "websocket"]);
        let all = Options::default().allow_origin("http://a.test")?.jsonp(true).eventsource(true);
        assert_eq!(
            all.connection_types(),
            ["long-polling", "cross-origin-long-polling", "callback-polling", "websocket", "eventsource"]
        );
        let any = Options::default().allow_any_origin(true).websocket(false);
        assert_eq!(any.connection_types(), ["long-polling", "cross-origin-long-polling"]);
        Ok(())
    }

    #[test]
    fn sub_paths() {
        assert_eq!(sub_path("/live", "/live/abc"), "abc");
        assert_eq!(sub_path("/live", "/live"), "");
        assert_eq!(sub_path("/live", "/live/"), "");
        assert_eq!(sub_path("/", "/abc"), "abc");
    }
}
