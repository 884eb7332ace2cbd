//! `/api/capture`: create (`POST`), list (`GET`, a map UUID → capture), get and delete
//! (`/api/capture/{id}`). Analyzer only.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

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
    json(StatusCode::OK, &captures(&state)?.list())
}

pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match captures(&state)?.get(&id) {
        Some(c) => json(StatusCode::OK, &c),
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
