//! `/api/capture`: create (`POST`), list (`GET`, a map UUID → capture), get and delete
//! (`/api/capture/{id}`). Analyzer only.
//!
//! `Count` in answers is the number of nodes of the graph where the capture runs now: the
//! nodes whose `Captures` metadata (written by the agents) holds an active entry with the
//! capture's id.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::ApiError;
use super::topology::json_bytes;
use crate::captures::{Capture, Captures};
use crate::limits::{decode_body, read_body};
use crate::state::State as AppState;

fn captures(state: &AppState) -> Result<Arc<Captures>, ApiError> {
    state
        .captures
        .clone()
        .ok_or_else(|| ApiError::not_found("captures are managed by the analyzer, not by an agent"))
}

fn json<T: serde::Serialize>(status: StatusCode, v: &T) -> Result<Response, ApiError> {
    let bytes = serde_json::to_vec(v)
        .map_err(|e| ApiError::internal(format!("cannot encode the answer: {e}")))?;
    Ok(json_bytes(status, bytes))
}

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caps = captures(&state)?;
    let bytes = read_body(&headers, body, state.http.max_body_bytes).await?;
    let c: Capture = decode_body(&headers, &bytes, "capture")?;
    c.validate().map_err(ApiError::bad_request)?;
    let created = tokio::task::spawn_blocking(move || caps.create(c))
        .await
        .map_err(|e| ApiError::internal(format!("capture task failed: {e}")))?
        .map_err(ApiError::unavailable)?;
    json(StatusCode::OK, &created)
}

pub async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let mut all = captures(&state)?.list();
    let counts = active_counts(&state).await?;
    for (id, c) in all.iter_mut() {
        c.count = counts.get(id).copied().unwrap_or(0);
    }
    json(StatusCode::OK, &all)
}

/// Active capture entries in the graph, by capture id. A scan of the nodes (the `Captures`
/// key is not indexed), in `spawn_blocking`.
async fn active_counts(state: &AppState) -> Result<HashMap<String, u64>, ApiError> {
    let graph = state.graph.clone();
    tokio::task::spawn_blocking(move || {
        let g = graph.read();
        let mut counts = HashMap::new();
        for n in g.nodes() {
            let Some(Value::Array(entries)) = n.metadata.get("Captures") else {
                continue;
            };
            for e in entries {
                if e.get("State").and_then(Value::as_str) == Some("active")
                    && let Some(id) = e.get("ID").and_then(Value::as_str)
                {
                    *counts.entry(id.to_owned()).or_insert(0) += 1;
                }
            }
        }
        counts
    })
    .await
    .map_err(|e| ApiError::internal(format!("capture count task failed: {e}")))
}

pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match captures(&state)?.get(&id) {
        Some(mut c) => {
            c.count = active_counts(&state).await?.get(&id).copied().unwrap_or(0);
            json(StatusCode::OK, &c)
        }
        None => Err(ApiError::not_found(format!("no capture `{id}`"))),
    }
}

pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let caps = captures(&state)?;
    let id2 = id.clone();
    let removed = tokio::task::spawn_blocking(move || caps.delete(&id2))
        .await
        .map_err(|e| ApiError::internal(format!("capture task failed: {e}")))?
        .map_err(ApiError::unavailable)?;
    if !removed {
        return Err(ApiError::not_found(format!("no capture `{id}`")));
    }
    json(StatusCode::OK, &serde_json::json!({}))
}
