//! `GET /api/status`: what the analyzer is doing, with every counter a user needs to tell a
//! quiet network from a lossy one.
//!
//! Shape: Skydive's analyzer status keys (`Agents`, `Peers{Incomers,Outgoers}`, `Publishers`,
//! `Subscribers`, each connection a `ConnStatus`) plus `Service`, `Host`, `Version`,
//! `StartedAt` (epoch ms), `UptimeSecs`, `Graph{Nodes,Edges}`, `EventBus{Published,Lagged,
//! Subscribers}`, `History` (the store's statistics, `null` without history) and
//! `WebSocket{Publishers,Subscribers}` (counters summed over every connection ever made).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::ApiError;
use super::topology::json_bytes;
use crate::state::State as AppState;

/// `GET /api/status`.
pub async fn status(State(state): State<AppState>) -> Result<Response, ApiError> {
    let (nodes, edges) = {
        let g = state.graph.read();
        (g.node_count(), g.edge_count())
    };
    let history = match &state.history {
        Some(h) => serde_json::to_value(h.store().stats())
            .map_err(|e| ApiError::internal(format!("cannot encode history statistics: {e}")))?,
        None => serde_json::Value::Null,
    };
    let v = json!({
        "Service": "analyzer",
        "Host": state.host_id,
        "Version": crate::VERSION,
        "StartedAt": state.started_at,
        "UptimeSecs": state.started.elapsed().as_secs(),
        "Graph": {"Nodes": nodes, "Edges": edges},
        "EventBus": state.graph.bus().stats(),
        "HistoryBackend": state.history_backend,
        "History": history,
        "Agents": {},
        "Peers": {"Incomers": {}, "Outgoers": {}},
        "Publishers": state.publishers.status(),
        "Subscribers": state.subscribers.status(),
        "WebSocket": {
            "Publishers": state.publishers.totals(),
            "Subscribers": state.subscribers.totals(),
        },
    });
    let bytes = serde_json::to_vec(&v)
        .map_err(|e| ApiError::internal(format!("cannot encode the status: {e}")))?;
    Ok(json_bytes(StatusCode::OK, bytes))
}
