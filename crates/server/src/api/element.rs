//! `/api/node` and `/api/edge`: Skydive's generic CRUD over graph elements
//! (`graffiti/api/server/{node,edge}.go`).
//!
//! - `GET /api/node`: a map id → node (Skydive's resource index); `GET /api/node/{id}`: one.
//! - `POST /api/node`: create (201 with the node; 409 if the id exists). Bodies follow
//!   [`crate::validate`]; JSON or YAML (`Content-Type: application/yaml`). `Host` defaults to
//!   the analyzer's host id and `Origin` to `api.<host id>`, as in Skydive.
//! - `PATCH /api/node/{id}`: an RFC 6902 JSON Patch applied to the element's JSON; only
//!   `/Metadata/…` may change (`test` may look anywhere, e.g. at `/Revision`). A node's
//!   `Name`, `Type` and `TID` cannot change. 200 with the element, or 304 if nothing changed.
//! - `DELETE /api/node/{id}`: 200 (a node takes its edges with it), 404 if unknown.
//!
//! Edges are the same, with `Parent` and `Child` that must exist.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use skydive_graph::{Graph, Metadata, TimeMs};

use super::ApiError;
use super::topology::{blocking, json_bytes};
use crate::limits::{decode_body, decode_json, read_body};
use crate::state::State as AppState;
use crate::validate::{Defaults, WireElement, check_edge_metadata, check_node_metadata, kind};

/// Keys of a node's metadata that the API never changes (Skydive's node API keeps them).
const FIXED_NODE_KEYS: &[&str] = &["Name", "Type", "TID"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Node,
    Edge,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Node => "node",
            Kind::Edge => "edge",
        }
    }
}

fn encode<T: Serialize + ?Sized>(status: StatusCode, v: &T) -> Result<Response, ApiError> {
    serde_json::to_vec(v)
        .map(|b| json_bytes(status, b))
        .map_err(|e| ApiError::internal(format!("cannot encode the answer: {e}")))
}

fn not_found(kind: Kind, id: &str) -> ApiError {
    ApiError::not_found(format!("{} `{id}` not found", kind.name()))
}

async fn index(state: AppState, kind: Kind) -> Result<Response, ApiError> {
    let graph = state.graph.clone();
    let bytes = blocking(move || {
        let g = graph.read();
        let r = match kind {
            Kind::Node => {
                serde_json::to_vec(&g.nodes().map(|n| (&n.id, &**n)).collect::<BTreeMap<_, _>>())
            }
            Kind::Edge => {
                serde_json::to_vec(&g.edges().map(|e| (&e.id, &**e)).collect::<BTreeMap<_, _>>())
            }
        };
        r.map_err(|e| ApiError::internal(format!("cannot encode the answer: {e}")))
    })
    .await?;
    Ok(json_bytes(StatusCode::OK, bytes))
}

async fn get_one(state: AppState, kind: Kind, id: String) -> Result<Response, ApiError> {
    let g = state.graph.read();
    match kind {
        Kind::Node => {
            let n = g.node(&id).cloned().ok_or_else(|| not_found(kind, &id))?;
            drop(g);
            encode(StatusCode::OK, &*n)
        }
        Kind::Edge => {
            let e = g.edge(&id).cloned().ok_or_else(|| not_found(kind, &id))?;
            drop(g);
            encode(StatusCode::OK, &*e)
        }
    }
}

async fn create(
    state: AppState,
    kind: Kind,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(&headers, body, state.http.max_body_bytes).await?;
    let wire: WireElement = decode_body(&headers, &bytes, &format!("{} body", kind.name()))?;
    let origin = format!("api.{}", state.host_id);
    let d = Defaults {
        host: &state.host_id,
        origin: &origin,
        force_origin: false,
        now: TimeMs::now(),
    };
    match kind {
        Kind::Node => {
            let node = wire.into_node(d).map_err(|e| ApiError::bad_request(e.0))?;
            let added = state.graph.write().add_node(node)?;
            encode(StatusCode::CREATED, &*added)
        }
        Kind::Edge => {
            let edge = wire.into_edge(d).map_err(|e| ApiError::bad_request(e.0))?;
            let added = state.graph.write().add_edge(edge)?;
            encode(StatusCode::CREATED, &*added)
        }
    }
}

/// Checks a JSON Patch before applying it: an array of operations that only change
/// `/Metadata`.
fn check_patch(v: &Value) -> Result<json_patch::Patch, ApiError> {
    let example = r#"e.g. [{"op": "add", "path": "/Metadata/Color", "value": "red"}]"#;
    let Value::Array(ops) = v else {
        return Err(ApiError::bad_request(format!(
            "a JSON Patch (RFC 6902) must be an array of operations, found {}: {example}",
            kind(v)
        )));
    };
    for (i, op) in ops.iter().enumerate() {
        let name = op.get("op").and_then(Value::as_str).unwrap_or("");
        let under_metadata = |key: &str| {
            op.get(key)
                .and_then(Value::as_str)
                .is_some_and(|p| p == "/Metadata" || p.starts_with("/Metadata/"))
        };
        if name == "test" {
            continue;
        }
        if !under_metadata("path") || (matches!(name, "move" | "copy") && !under_metadata("from")) {
            return Err(ApiError::bad_request(format!(
                "JSON Patch operation {i} ({op}) may only change /Metadata/…: ID, Host, Origin, times, revision and ends are managed by the analyzer"
            )));
        }
    }
    serde_json::from_value(v.clone())
        .map_err(|e| ApiError::bad_request(format!("invalid JSON Patch: {e}; {example}")))
}

/// Applies `patch` to an element's JSON and returns its new metadata.
fn patched_metadata(
    element: Value,
    patch: &json_patch::Patch,
) -> Result<Map<String, Value>, ApiError> {
    let mut doc = element;
    if let Err(e) = json_patch::patch(&mut doc, &patch.0) {
        let status = match e.kind {
            json_patch::PatchErrorKind::TestFailed => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        };
        return Err(ApiError::new(
            status,
            format!("cannot apply the JSON Patch: {e}"),
        ));
    }
    match doc.get_mut("Metadata").map(Value::take) {
        Some(Value::Object(m)) => Ok(m),
        Some(other) => Err(ApiError::bad_request(format!(
            "the JSON Patch makes Metadata {}: it must stay an object",
            kind(&other)
        ))),
        None => Err(ApiError::bad_request(
            "the JSON Patch removes Metadata: it must stay an object",
        )),
    }
}

fn patch_node(
    g: &mut Graph,
    id: &str,
    patch: &json_patch::Patch,
) -> Result<Option<Response>, ApiError> {
    let current = g
        .node(id)
        .cloned()
        .ok_or_else(|| not_found(Kind::Node, id))?;
    let doc = serde_json::to_value(&*current).map_err(|e| ApiError::internal(e.to_string()))?;
    let meta = patched_metadata(doc, patch)?;
    for key in FIXED_NODE_KEYS {
        if current.metadata.get(key) != meta.get(*key) {
            return Err(ApiError::bad_request(format!(
                "Metadata.{key} of a node cannot be changed through the API (Name, Type and TID identify it): \
                 delete the node and create another"
            )));
        }
    }
    if check_node_metadata(&current.metadata.to_json_map()).is_ok() {
        check_node_metadata(&meta).map_err(|e| ApiError::bad_request(e.0))?;
    }
    let before = current.revision;
    let updated = g.update_node(id, |m| *m = Metadata::from(meta))?;
    if updated.revision == before {
        return Ok(None);
    }
    encode(StatusCode::OK, &*updated).map(Some)
}

fn patch_edge(
    g: &mut Graph,
    id: &str,
    patch: &json_patch::Patch,
) -> Result<Option<Response>, ApiError> {
    let current = g
        .edge(id)
        .cloned()
        .ok_or_else(|| not_found(Kind::Edge, id))?;
    let doc = serde_json::to_value(&*current).map_err(|e| ApiError::internal(e.to_string()))?;
    let meta = patched_metadata(doc, patch)?;
    if check_edge_metadata(&current.metadata.to_json_map()).is_ok() {
        check_edge_metadata(&meta).map_err(|e| ApiError::bad_request(e.0))?;
    }
    let before = current.revision;
    let updated = g.update_edge(id, |m| *m = Metadata::from(meta))?;
    if updated.revision == before {
        return Ok(None);
    }
    encode(StatusCode::OK, &*updated).map(Some)
}

async fn patch(
    state: AppState,
    kind: Kind,
    id: String,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(&headers, body, state.http.max_body_bytes).await?;
    let v: Value = decode_json(&bytes, "JSON Patch body")?;
    let patch = check_patch(&v)?;
    let graph = state.graph.clone();
    let res = blocking(move || {
        let mut g = graph.write();
        match kind {
            Kind::Node => patch_node(&mut g, &id, &patch),
            Kind::Edge => patch_edge(&mut g, &id, &patch),
        }
    })
    .await?;
    Ok(res.unwrap_or_else(|| StatusCode::NOT_MODIFIED.into_response()))
}

async fn delete(state: AppState, kind: Kind, id: String) -> Result<Response, ApiError> {
    let mut g = state.graph.write();
    let r = match kind {
        Kind::Node => g.delete_node(&id).map(drop),
        Kind::Edge => g.delete_edge(&id).map(drop),
    };
    drop(g);
    r.map_err(|_| not_found(kind, &id))?;
    Ok(StatusCode::OK.into_response())
}

pub async fn node_index(State(s): State<AppState>) -> Result<Response, ApiError> {
    index(s, Kind::Node).await
}
pub async fn edge_index(State(s): State<AppState>) -> Result<Response, ApiError> {
    index(s, Kind::Edge).await
}
pub async fn node_get(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    get_one(s, Kind::Node, id).await
}
pub async fn edge_get(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    get_one(s, Kind::Edge, id).await
}
pub async fn node_create(
    State(s): State<AppState>,
    h: HeaderMap,
    b: Body,
) -> Result<Response, ApiError> {
    create(s, Kind::Node, h, b).await
}
pub async fn edge_create(
    State(s): State<AppState>,
    h: HeaderMap,
    b: Body,
) -> Result<Response, ApiError> {
    create(s, Kind::Edge, h, b).await
}
pub async fn node_patch(
    State(s): State<AppState>,
    Path(id): Path<String>,
    h: HeaderMap,
    b: Body,
) -> Result<Response, ApiError> {
    patch(s, Kind::Node, id, h, b).await
}
pub async fn edge_patch(
    State(s): State<AppState>,
    Path(id): Path<String>,
    h: HeaderMap,
    b: Body,
) -> Result<Response, ApiError> {
    patch(s, Kind::Edge, id, h, b).await
}
pub async fn node_delete(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    delete(s, Kind::Node, id).await
}
pub async fn edge_delete(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    delete(s, Kind::Edge, id).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use skydive_graph::Id;

    #[test]
    fn patches_may_only_touch_metadata() {
        assert!(check_patch(&json!([{"op": "add", "path": "/Metadata/A", "value": 1}])).is_ok());
        assert!(check_patch(&json!([{"op": "test", "path": "/Revision", "value": 1}])).is_ok());
        let e =
            check_patch(&json!([{"op": "replace", "path": "/Host", "value": "x"}])).unwrap_err();
        assert!(
            e.message.contains("may only change /Metadata"),
            "{}",
            e.message
        );
        let e = check_patch(&json!({"op": "add"})).unwrap_err();
        assert!(e.message.contains("must be an array"), "{}", e.message);
        let e = check_patch(&json!([{"op": "frobnicate", "path": "/Metadata/A"}])).unwrap_err();
        assert!(e.message.starts_with("invalid JSON Patch"), "{}", e.message);
    }

    #[test]
    fn failed_test_is_a_conflict() {
        let p = check_patch(&json!([{"op": "test", "path": "/Revision", "value": 9}])).unwrap();
        let e = patched_metadata(json!({"Revision": 1, "Metadata": {}}), &p).unwrap_err();
        assert_eq!(e.status, StatusCode::CONFLICT);
    }

    #[test]
    fn node_identity_keys_are_fixed() {
        let mut g = Graph::new(skydive_graph::GraphOptions::new("h", "o"));
        g.create_node(
            Id::from("n"),
            Metadata::from_pairs([("Name", json!("a")), ("Type", json!("t"))]),
        )
        .unwrap();
        let p = check_patch(&json!([{"op": "replace", "path": "/Metadata/Name", "value": "b"}]))
            .unwrap();
        let e = patch_node(&mut g, "n", &p).unwrap_err();
        assert!(e.message.contains("Metadata.Name"), "{}", e.message);
        let p = check_patch(&json!([{"op": "add", "path": "/Metadata/Color", "value": "red"}]))
            .unwrap();
        assert!(patch_node(&mut g, "n", &p).unwrap().is_some());
        assert!(
            patch_node(&mut g, "n", &p).unwrap().is_none(),
            "same patch again: not modified"
        );
    }
}
