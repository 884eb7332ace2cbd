//! `GET /api/status`: what the analyzer is doing, with every counter a user needs to tell a
//! quiet network from a lossy one.
//!
//! Shape: Skydive's analyzer status keys (`Agents`, `Peers{Incomers,Outgoers}`, `Publishers`,
//! `Subscribers`, each connection a `ConnStatus`) plus `Service`, `Host`, `Version`,
//! `StartedAt` (epoch ms), `UptimeSecs`, `Graph{Nodes,Edges}`, `EventBus{Published,Lagged,
//! Subscribers}`, `History` (the store's statistics, `null` without history) and
//! `WebSocket{Publishers,Subscribers}` (counters summed over every connection ever made).
//! `Agents` lists every agent connected to `/ws/agent/topology` (with its sync) and every
//! agent subgraph waiting for its agent (`State: orphaned`).
//!
//! On an agent: Skydive's agent keys `{Clients, Analyzers, TopologyProbes, FlowProbes}`
//! (`Clients`: the `/ws/subscriber` connections; `Analyzers`: each configured analyzer with
//! its connection state; `TopologyProbes`: each probe's status by name; `FlowProbes`: the
//! capture types this agent runs), plus `Forwarder` (counters of what was sent, dropped,
//! resynced), `Captures` (by capture ID, by node ID: `State`, `Type`, `Node` name, `Error`,
//! the collector's counters) and the same `Service`…`EventBus` keys.

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
    if let Some(agent) = &state.agent {
        let (probes, analyzers, forwarder) = agent.status();
        let v = json!({
            "Service": state.service,
            "Host": state.host_id,
            "Version": crate::VERSION,
            "StartedAt": state.started_at,
            "UptimeSecs": state.started.elapsed().as_secs(),
            "Graph": {"Nodes": nodes, "Edges": edges},
            "EventBus": state.graph.bus().stats(),
            "Clients": state.subscribers.status(),
            "Publishers": state.publishers.status(),
            "Analyzers": analyzers,
            "Forwarder": forwarder,
            "TopologyProbes": probes,
            "FlowProbes": skydive_probes::capture::CAPTURE_TYPES
                .iter()
                .filter(|t| t.supported)
                .map(|t| t.name)
                .collect::<Vec<_>>(),
            "Captures": agent.captures(),
            "WebSocket": {
                "Publishers": state.publishers.totals(),
                "Subscribers": state.subscribers.totals(),
            },
        });
        let bytes = serde_json::to_vec(&v)
            .map_err(|e| ApiError::internal(format!("cannot encode the status: {e}")))?;
        return Ok(json_bytes(StatusCode::OK, bytes));
    }
    let history = match &state.history {
        Some(h) => serde_json::to_value(h.store().stats())
            .map_err(|e| ApiError::internal(format!("cannot encode history statistics: {e}")))?,
        None => serde_json::Value::Null,
    };
    let v = json!({
        "Service": state.service,
        "Host": state.host_id,
        "Version": crate::VERSION,
        "StartedAt": state.started_at,
        "UptimeSecs": state.started.elapsed().as_secs(),
        "Graph": {"Nodes": nodes, "Edges": edges},
        "EventBus": state.graph.bus().stats(),
        "HistoryBackend": state.history_backend,
        "History": history,
        "Agents": state.agents.as_ref().map(|a| a.status()).unwrap_or_default(),
        "AgentsExpired": state.agents.as_ref().map_or(0, |a| a.expired()),
        "Flows": state.flows.as_ref().map(|f| f.status()),
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
