//! `GET /api/topology` (and the seed's `GET /rpc/topology`): the whole graph;
//! `POST /api/topology {"GremlinQuery": "…"}`: a Gremlin query, answered in JSON or, with
//! `Accept: text/vnd.graphviz`, as a dot graph. An empty query gets 204, as in Skydive.

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use skydive_graph::{Graph, GraphOptions, GraphView};

use super::ApiError;
use crate::limits::{decode_body, read_body};
use crate::query;
use crate::state::State as AppState;

const JSON: &str = "application/json; charset=UTF-8";
const DOT: &str = "text/vnd.graphviz";

/// Serialised JSON as a response.
pub(crate) fn json_bytes(status: StatusCode, bytes: Vec<u8>) -> Response {
    (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static(JSON))],
        bytes,
    )
        .into_response()
}

/// Runs `f` on a blocking thread (graph work under a lock, serialisation of big answers).
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("request task failed: {e}")))?
}

/// `GET /api/topology`.
pub async fn whole(State(state): State<AppState>) -> Result<Response, ApiError> {
    let graph = state.graph.clone();
    let bytes = blocking(move || {
        let g = graph.read();
        serde_json::to_vec(&g.dump())
            .map_err(|e| ApiError::internal(format!("cannot encode the graph: {e}")))
    })
    .await?;
    Ok(json_bytes(StatusCode::OK, bytes))
}

/// Skydive's `TopologyParams`.
#[derive(Debug, Default, Deserialize)]
struct TopologyParams {
    #[serde(rename = "GremlinQuery", default)]
    gremlin_query: Option<String>,
}

/// `POST /api/topology`.
pub async fn query(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(&headers, body, state.http.max_body_bytes).await?;
    let params: TopologyParams = if bytes.iter().all(u8::is_ascii_whitespace) {
        TopologyParams::default()
    } else {
        decode_body(
            &headers,
            &bytes,
            "topology query (expected {\"GremlinQuery\": \"G.V()…\"})",
        )?
    };
    let text = params.gremlin_query.unwrap_or_default();
    if text.trim().is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let dot = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').any(|t| {
                t.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case(DOT)
            })
        });
    let graph = state.graph.clone();
    let history = state.history.clone();
    let flows = state.flows.clone();
    let (bytes, content_type) = blocking(move || {
        // A query of the past runs on an empty live view: holding the live graph's read lock
        // through a long history read would stall every writer (agents, publishers).
        let locked = (!query::reads_only_the_past(&text)).then(|| graph.read());
        let empty;
        let live: &dyn GraphView = match &locked {
            Some(g) => &**g,
            None => {
                empty = Graph::new(GraphOptions::new("", ""));
                &empty
            }
        };
        let flows = flows
            .as_deref()
            .map(|f| f as &dyn skydive_gremlin::FlowSource);
        let out = query::run_with_flows(live, history.as_ref(), flows, &text)?;
        if dot {
            return Ok((out.to_dot().into_bytes(), DOT));
        }
        let v = out.to_json();
        drop(locked);
        serde_json::to_vec(&v)
            .map(|b| (b, JSON))
            .map_err(|e| ApiError::internal(format!("cannot encode the result: {e}")))
    })
    .await?;
    Ok((
        StatusCode::OK,
        [(CONTENT_TYPE, HeaderValue::from_static(content_type))],
        bytes,
    )
        .into_response())
}
