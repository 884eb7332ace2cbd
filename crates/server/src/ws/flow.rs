//! `GET /ws/subscriber/flow` (analyzer only): every batch of flow updates the analyzer
//! ingests, as it arrives, in JSON messages
//! `{"Namespace": "Flow", "Type": "store", "UUID": "…", "Status": 200, "Obj": [flows…]}`.
//! Optional filter: `X-Capture-ID` header or `capture_id` query parameter (only the flows of
//! that capture). The client's messages are ignored; a client that falls behind loses
//! batches (counted in `/api/status` as `Flows.SubscriberBatchesLost`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use serde::Serialize;
use skydive_flow::Flow;
use tokio::sync::broadcast::error::RecvError;

use super::upgrade;
use crate::api::ApiError;
use crate::flows::FlowBatch;
use crate::state::State as AppState;

#[derive(Serialize)]
struct Out<'a> {
    #[serde(rename = "Namespace")]
    namespace: &'static str,
    #[serde(rename = "Type")]
    kind: &'static str,
    #[serde(rename = "UUID")]
    uuid: String,
    #[serde(rename = "Status")]
    status: u16,
    #[serde(rename = "Obj")]
    obj: Vec<&'a Flow>,
}

pub(crate) async fn flow_subscriber_handler(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let flows = state.flows.clone().ok_or_else(|| {
        ApiError::not_found("/ws/subscriber/flow is served by the analyzer, not by an agent")
    })?;
    let capture_id = headers
        .get("X-Capture-ID")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            params
                .get("capture_id")
                .or_else(|| params.get("CaptureID"))
                .cloned()
        })
        .filter(|s| !s.is_empty());
    let rx = flows.subscribe();
    let st = state.clone();
    Ok(upgrade(ws, &state, move |socket| {
        run(st, flows, rx, capture_id, socket)
    }))
}

async fn run(
    state: AppState,
    flows: Arc<crate::flows::AnalyzerFlows>,
    mut rx: tokio::sync::broadcast::Receiver<FlowBatch>,
    capture_id: Option<String>,
    socket: WebSocket,
) {
    let (mut tx, mut incoming) = socket.split();
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => {
                let _ = tx.send(Message::Close(Some(axum::extract::ws::CloseFrame {
                    code: 1001,
                    reason: "analyzer shutting down".into(),
                }))).await;
                return;
            }
            msg = incoming.next() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
            batch = rx.recv() => match batch {
                Ok(batch) => {
                    let obj: Vec<&Flow> = batch
                        .iter()
                        .map(|f| &**f)
                        .filter(|f| capture_id.as_ref().is_none_or(|c| *c == f.capture_id))
                        .collect();
                    if obj.is_empty() {
                        continue;
                    }
                    let out = Out {
                        namespace: "Flow",
                        kind: "store",
                        uuid: uuid::Uuid::new_v4().to_string(),
                        status: 200,
                        obj,
                    };
                    let Ok(text) = serde_json::to_string(&out) else { continue };
                    if tx.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Lagged(n)) => flows.subscriber_lost(n),
                Err(RecvError::Closed) => return,
            },
        }
    }
}
