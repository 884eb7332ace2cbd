//! The REST API: routes, the `http.*` settings, and JSON errors for everything that goes wrong
//! (unknown routes and methods included), so a client never has to parse an HTML or plain-text
//! error page.
//!
//! | route | what |
//! |---|---|
//! | `GET /api` | `{Version, Service, Host}` |
//! | `GET /api/status` | service, uptime, graph counts, event bus, history, connections |
//! | `GET /api/topology`, `GET /rpc/topology` | the whole graph `{Nodes, Edges}` |
//! | `POST /api/topology` | `{"GremlinQuery": "…"}`; `Accept: text/vnd.graphviz` for dot |
//! | `GET/POST /api/node`, `GET/PATCH/DELETE /api/node/{id}` | node CRUD (JSON Patch updates) |
//! | `GET/POST /api/edge`, `GET/PATCH/DELETE /api/edge/{id}` | edge CRUD |
//! | `GET /api/config/{key}` | a value of the effective configuration (dotted key) |
//! | `GET/POST /api/capture`, `GET/DELETE /api/capture/{id}` | captures (analyzer only) |
//! | `GET /rpc/flows?k=v…`, `GET /rpc/conversation/{layer}` | live flows (analyzer only) |
//! | `GET /ws/subscriber`, `GET /ws/publisher` | WebSocket endpoints ([`crate::ws`]) |
//! | `GET /ws/subscriber/flow` | flow updates as they arrive (analyzer only, `capture_id`) |
//! | `GET /ws/agent/topology` | agents forward their graph (analyzer only, [`crate::protocol`]) |
//! | `GET /`, `GET /ui/{path}` | the web UI (`crate::ui`) |

mod capture;
mod config;
mod element;
mod error;
mod flows;
mod status;
mod topology;

use std::net::SocketAddr;

use axum::Router;
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use error::ApiError;

use crate::state::State;
use crate::ws::WsConfig;

/// `http.*`: limits of the HTTP server and its WebSocket endpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// Largest request body accepted, in bytes; a larger one gets a 413.
    pub max_body_bytes: usize,
    /// `http.ws.*`.
    pub ws: WsConfig,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_body_bytes: 16 * 1024 * 1024,
            ws: WsConfig::default(),
        }
    }
}

/// `analyzer.listen` or `agent.listen` as something `TcpListener::bind` understands
/// (`:port`: every interface; `port`: loopback).
pub(crate) fn bind_address(listen: &str) -> String {
    let l = listen.trim();
    if let Some(port) = l.strip_prefix(':') {
        format!("0.0.0.0:{port}")
    } else if !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()) {
        format!("127.0.0.1:{l}")
    } else {
        l.to_owned()
    }
}

/// Serves `app` on `listener` until `stop` is cancelled, answering a handler's panic with a
/// JSON 500 and tracing every request.
pub(crate) fn serve(
    listener: TcpListener,
    app: Router,
    stop: CancellationToken,
) -> JoinHandle<std::io::Result<()>> {
    let app = app
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http());
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
    })
}

/// A handler's panic as a JSON 500 (the panic itself is logged).
fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("unknown");
    tracing::error!("request handler panicked: {what}");
    ApiError::internal(
        "internal error while handling the request (a bug: please report it with the analyzer's log)",
    )
    .into_response()
}

/// Every route of the analyzer (and of the agent, which serves the same API for its graph).
pub(crate) fn router(state: State) -> Router {
    Router::new()
        .route("/api", get(info))
        .route("/api/status", get(status::status))
        .route("/api/topology", get(topology::whole).post(topology::query))
        .route("/rpc/topology", get(topology::whole))
        .route(
            "/api/node",
            get(element::node_index).post(element::node_create),
        )
        .route(
            "/api/node/{*id}",
            get(element::node_get)
                .patch(element::node_patch)
                .delete(element::node_delete),
        )
        .route(
            "/api/edge",
            get(element::edge_index).post(element::edge_create),
        )
        .route(
            "/api/edge/{*id}",
            get(element::edge_get)
                .patch(element::edge_patch)
                .delete(element::edge_delete),
        )
        .route("/api/config/{*key}", get(config::get))
        .route("/api/capture", get(capture::list).post(capture::create))
        .route(
            "/api/capture/{id}",
            get(capture::get).delete(capture::delete),
        )
        .route("/rpc/flows", get(flows::search))
        .route("/rpc/conversation/{layer}", get(flows::conversation))
        .route("/ws/subscriber", get(crate::ws::subscriber_handler))
        .route("/ws/publisher", get(crate::ws::publisher_handler))
        .route(
            "/ws/subscriber/flow",
            get(crate::ws::flow_subscriber_handler),
        )
        .route(crate::protocol::ENDPOINT, get(crate::ws::agent_handler))
        .merge(crate::ui::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// `GET /api`, as Skydive's `Info`.
async fn info(axum::extract::State(state): axum::extract::State<State>) -> Response {
    axum::Json(serde_json::json!({
        "Version": crate::VERSION,
        "Service": state.service,
        "Host": state.host_id,
    }))
    .into_response()
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "no route for {method} {}: see docs/api.md for the routes",
        uri.path()
    ))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{method} is not allowed on {}: see docs/api.md for the methods",
            uri.path()
        ),
    )
}
