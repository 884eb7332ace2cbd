//! Skydive v0.2's flow routes over the analyzer's live flows:
//! `GET /rpc/flows?<key>=<value>…` and `GET /rpc/conversation/{layer}` (see
//! `skydive_flow::rpc` for the answers). An agent has no flows to serve: 404.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use skydive_flow::rpc::{self, ConversationLayer, RPC_FLOWS_LIMIT};

use super::ApiError;
use super::topology::{blocking, json_bytes};
use crate::flows::AnalyzerFlows;
use crate::state::State as AppState;

fn flows_of(state: &AppState) -> Result<std::sync::Arc<AnalyzerFlows>, ApiError> {
    state
        .flows
        .clone()
        .ok_or_else(|| ApiError::not_found("flows are served by the analyzer, not by an agent"))
}

/// `GET /rpc/flows?<key>=<value>…`: the newest live flows matching every pair.
pub async fn search(
    State(state): State<AppState>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let flows = flows_of(&state)?;
    let bytes = blocking(move || {
        let found = rpc::search_flows(flows.live().snapshot(), &params, RPC_FLOWS_LIMIT);
        serde_json::to_vec(&found)
            .map_err(|e| ApiError::internal(format!("cannot encode flows: {e}")))
    })
    .await?;
    Ok(json_bytes(StatusCode::OK, bytes))
}

/// `GET /rpc/conversation/{ethernet|ipv4|ipv6|tcp|udp|sctp}`.
pub async fn conversation(
    State(state): State<AppState>,
    Path(layer): Path<String>,
) -> Result<Response, ApiError> {
    let flows = flows_of(&state)?;
    let layer = ConversationLayer::from_name(&layer).ok_or_else(|| {
        ApiError::not_found(format!(
            "no conversation layer `{layer}`: ethernet, ipv4, ipv6, tcp, udp or sctp"
        ))
    })?;
    let bytes = blocking(move || {
        let c = rpc::conversation(flows.live().snapshot(), layer);
        serde_json::to_vec(&c)
            .map_err(|e| ApiError::internal(format!("cannot encode the conversation: {e}")))
    })
    .await?;
    Ok(json_bytes(StatusCode::OK, bytes))
}
