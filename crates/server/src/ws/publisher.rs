//! `/ws/publisher`: external programs add, update and delete nodes and edges.
//!
//! Protocol (Skydive's `graffiti/endpoints/publisher_endpoint.go`): `NodeAdded`,
//! `NodeUpdated`, `NodeDeleted`, `EdgeAdded`, `EdgeUpdated`, `EdgeDeleted`,
//! `NodePartiallyUpdated`, `EdgePartiallyUpdated`, `Sync` (replace everything this publisher
//! wrote) and `SyncRequest` (answered with the whole graph). Elements are validated like REST
//! bodies ([`crate::validate`]) and take the publisher's origin `<X-Client-Type>.<X-Host-ID>`.
//! Updates are revision-checked (an update not newer than what is stored changes nothing);
//! an update without `Revision` (the Python client sends none) replaces the metadata and bumps
//! the revision. A message that cannot be applied is answered with an `Error` message (same
//! UUID, `Status` 400) and counted; the connection stays open.
//!
//! On disconnect, `X-Persistence-Policy: DeleteOnDisconnect` deletes everything of the
//! publisher's origin, if it wrote anything.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::SystemTime;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use parking_lot::Mutex;
use skydive_graph::{Applied, Graph, GraphError, Id, Node, TimeMs};

use super::envelope::{self, GraphMessage, PartialUpdate, SyncPayload, types};
use super::{Frame, Handshake, Sender, accept, frame, refuse, start_writer, upgrade};
use crate::conns::{ConnCounters, ConnInfo, Registration};
use crate::state::State as AppStateRef;
use crate::validate::{Defaults, WireElement, check_id};

/// The persistence policy that deletes a publisher's elements when it leaves.
pub const DELETE_ON_DISCONNECT: &str = "DeleteOnDisconnect";

/// `GET /ws/publisher`.
pub(crate) async fn publisher_handler(
    State(state): State<AppStateRef>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let (ws, hs) = match accept(ws, &headers, query.as_deref(), addr) {
        Ok(accepted) => accepted,
        Err(e) => return e.into_response(),
    };
    match hs.persistence_policy.as_deref() {
        None | Some("Persistent") | Some(DELETE_ON_DISCONNECT) => {}
        Some(other) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!(
                    "invalid X-Persistence-Policy `{other}`: use `Persistent` or `{DELETE_ON_DISCONNECT}`"
                ),
            );
        }
    }
    let info = ConnInfo {
        service_type: hs.client_type.clone(),
        addr,
        connect_time: SystemTime::now(),
        counters: Arc::default(),
        filter: Mutex::new(None),
        update_policy: None,
        persistence_policy: Some(
            hs.persistence_policy
                .clone()
                .unwrap_or_else(|| "Persistent".to_owned()),
        ),
    };
    let reg = match state.publishers.register(&hs.host_id, info) {
        Ok(r) => r,
        Err(e) => return refuse(StatusCode::CONFLICT, e.to_string()),
    };
    tracing::info!(host = %hs.host_id, origin = %hs.origin(), "publisher connected");
    let st = state.clone();
    upgrade(ws, &state, move |socket| run(st, hs, reg, socket))
}

async fn run(state: AppStateRef, hs: Handshake, reg: Registration, socket: WebSocket) {
    let cfg = state.http.ws.clone();
    let counters = reg.info.counters.clone();
    let (out, mut stream) = start_writer(socket, &state, counters.clone());
    let mut p = Publisher {
        state: state.clone(),
        origin: hs.origin(),
        hs,
        out,
        counters,
        authored: false,
    };
    let mut last_seen = tokio::time::Instant::now();
    loop {
        tokio::select! {
            r = stream.next() => match frame(r, &cfg) {
                Frame::Data(bytes) => {
                    last_seen = tokio::time::Instant::now();
                    p.counters.received.fetch_add(1, Relaxed);
                    p.on_frame(&bytes).await;
                }
                Frame::Control => last_seen = tokio::time::Instant::now(),
                Frame::Gone => break,
                Frame::TooBig(reason) => {
                    p.out.close(1009, reason).await;
                    break;
                }
            },
            _ = tokio::time::sleep_until(last_seen + cfg.silence_limit()) => {
                p.out.close(1001, format!("no pong for {}s", cfg.silence_limit().as_secs())).await;
                break;
            }
            _ = state.shutdown.cancelled() => break,
        }
    }
    if p.authored && p.hs.persistence_policy.as_deref() == Some(DELETE_ON_DISCONNECT) {
        let n = state.graph.write().delete_origin(&p.origin);
        tracing::info!(origin = %p.origin, deleted = n, "publisher left: deleted its elements (DeleteOnDisconnect)");
    } else {
        tracing::info!(host = %p.hs.host_id, "publisher disconnected");
    }
    drop(reg);
}

/// One publisher connection.
struct Publisher {
    state: AppStateRef,
    hs: Handshake,
    origin: String,
    out: Sender,
    counters: Arc<ConnCounters>,
    /// Whether it wrote anything (only authors' elements are deleted on disconnect).
    authored: bool,
}

impl Publisher {
    async fn on_frame(&mut self, bytes: &[u8]) {
        let incoming = match envelope::decode(bytes) {
            Ok(m) => m,
            Err(e) => return self.reject(e.uuid.as_deref(), &e.message),
        };
        let uuid = incoming.uuid.as_deref();
        let kind = incoming.message.kind();
        let result = match incoming.message {
            GraphMessage::SyncRequest(_) => {
                let graph = self.state.graph.clone();
                let uuid = uuid.map(str::to_owned);
                let text = tokio::task::spawn_blocking(move || {
                    let g = graph.read();
                    envelope::encode(types::SYNC_REPLY, uuid.as_deref(), 200, &g.dump())
                })
                .await;
                match text {
                    Ok(t) => {
                        let _ = self.out.send(t);
                        Ok(())
                    }
                    Err(e) => Err(format!("cannot encode the graph: {e}")),
                }
            }
            GraphMessage::Sync(payload) => {
                self.authored = true;
                let graph = self.state.graph.clone();
                let (origin, host) = (self.origin.clone(), self.hs.host_id.clone());
                tokio::task::spawn_blocking(move || {
                    apply_sync(&mut graph.write(), payload, &origin, &host)
                })
                .await
                .unwrap_or_else(|e| Err(format!("sync task failed: {e}")))
            }
            msg => {
                self.authored = true;
                let mut g = self.state.graph.write();
                apply(&mut g, msg, &self.origin, &self.hs.host_id)
            }
        };
        if let Err(message) = result {
            self.reject(uuid, &format!("{kind}: {message}"));
        }
    }

    fn reject(&self, uuid: Option<&str>, message: &str) {
        self.counters.rejected.fetch_add(1, Relaxed);
        tracing::debug!(host = %self.hs.host_id, "publisher message refused: {message}");
        let _ = self.out.send(envelope::encode_error(uuid, message));
    }
}

fn defaults<'a>(origin: &'a str, host: &'a str) -> Defaults<'a> {
    Defaults {
        host,
        origin,
        force_origin: true,
        now: TimeMs::now(),
    }
}

/// Applies one write message to the graph.
fn apply(g: &mut Graph, msg: GraphMessage, origin: &str, host: &str) -> Result<(), String> {
    let d = defaults(origin, host);
    match msg {
        GraphMessage::NodeAdded(w) => {
            let node = w.into_node(d).map_err(|e| e.to_string())?;
            g.upsert_node(node).map(drop).map_err(|e| e.to_string())
        }
        GraphMessage::NodeUpdated(w) => update_node(g, w, d),
        GraphMessage::NodeDeleted(w) => {
            let id = check_id(w.id.as_deref(), "node", "ID").map_err(|e| e.to_string())?;
            let at = w
                .deleted_at
                .filter(|t| *t > 0)
                .map(TimeMs)
                .unwrap_or_else(TimeMs::now);
            g.delete_node_at(&id, at)
                .map(drop)
                .map_err(|e| e.to_string())
        }
        GraphMessage::EdgeAdded(w) => {
            let edge = w.into_edge(d).map_err(|e| e.to_string())?;
            g.upsert_edge(edge).map(drop).map_err(|e| e.to_string())
        }
        GraphMessage::EdgeUpdated(w) => update_edge(g, w, d),
        GraphMessage::EdgeDeleted(w) => {
            let id = check_id(w.id.as_deref(), "edge", "ID").map_err(|e| e.to_string())?;
            let at = w
                .deleted_at
                .filter(|t| *t > 0)
                .map(TimeMs)
                .unwrap_or_else(TimeMs::now);
            match g.delete_edge_at(&id, at) {
                // Skydive ignores deletions of edges already gone (their node went first).
                Ok(_) | Err(GraphError::EdgeNotFound(_)) => Ok(()),
                Err(e) => Err(e.to_string()),
            }
        }
        GraphMessage::NodePartiallyUpdated(p) => partial(p, "node", |id, rev, at, ops| {
            g.apply_node_ops(id, rev, at, ops)
        }),
        GraphMessage::EdgePartiallyUpdated(p) => partial(p, "edge", |id, rev, at, ops| {
            g.apply_edge_ops(id, rev, at, ops)
        }),
        GraphMessage::SyncRequest(_) | GraphMessage::Sync(_) => Ok(()),
    }
}

fn partial(
    p: PartialUpdate,
    what: &str,
    f: impl FnOnce(&Id, i64, TimeMs, &[skydive_graph::MetadataOp]) -> Result<Applied, GraphError>,
) -> Result<(), String> {
    let id = check_id(Some(&p.id), what, "ID").map_err(|e| e.to_string())?;
    if let Some(op) = p.ops.iter().find(|op| op.key.is_empty()) {
        return Err(format!(
            "partial update of {what} `{id}` has an operation with an empty Key ({op:?})"
        ));
    }
    let at = if p.updated_at > 0 {
        TimeMs(p.updated_at)
    } else {
        TimeMs::now()
    };
    f(&id, p.revision, at, &p.ops)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// `NodeUpdated`: the new metadata, revision-checked; host, origin and creation time stay.
fn update_node(g: &mut Graph, w: WireElement, d: Defaults<'_>) -> Result<(), String> {
    let given_revision = w.revision.filter(|r| *r > 0);
    let updated_at = w.updated_at.filter(|t| *t > 0).map(TimeMs);
    let incoming = w.into_node(d).map_err(|e| e.to_string())?;
    let Some(existing) = g.node(&incoming.id).cloned() else {
        return Err(GraphError::NodeNotFound(incoming.id.to_string()).to_string());
    };
    match given_revision {
        None => g
            .replace_node_metadata(&incoming.id, incoming.metadata)
            .map(drop)
            .map_err(|e| e.to_string()),
        Some(rev) => {
            let node = Node {
                metadata: incoming.metadata,
                updated_at: updated_at.unwrap_or_else(TimeMs::now),
                revision: rev,
                ..(*existing).clone()
            };
            g.upsert_node(node).map(drop).map_err(|e| e.to_string())
        }
    }
}

/// `EdgeUpdated`: as [`update_node`]; an edge's ends cannot move through an update.
fn update_edge(g: &mut Graph, w: WireElement, d: Defaults<'_>) -> Result<(), String> {
    let given_revision = w.revision.filter(|r| *r > 0);
    let updated_at = w.updated_at.filter(|t| *t > 0).map(TimeMs);
    let incoming = w.into_edge(d).map_err(|e| e.to_string())?;
    let Some(existing) = g.edge(&incoming.id).cloned() else {
        return Err(GraphError::EdgeNotFound(incoming.id.to_string()).to_string());
    };
    if existing.parent != incoming.parent || existing.child != incoming.child {
        return Err(format!(
            "edge `{}` links `{}` to `{}`: an update cannot move it (delete it and add another)",
            existing.id, existing.parent, existing.child
        ));
    }
    match given_revision {
        None => g
            .replace_edge_metadata(&incoming.id, incoming.metadata)
            .map(drop)
            .map_err(|e| e.to_string()),
        Some(rev) => {
            let edge = skydive_graph::Edge {
                metadata: incoming.metadata,
                updated_at: updated_at.unwrap_or_else(TimeMs::now),
                revision: rev,
                ..(*existing).clone()
            };
            g.upsert_edge(edge).map(drop).map_err(|e| e.to_string())
        }
    }
}

/// `Sync` from a publisher: everything of its origin is replaced by the payload. Invalid
/// elements are skipped; the first few errors are reported.
fn apply_sync(g: &mut Graph, payload: SyncPayload, origin: &str, host: &str) -> Result<(), String> {
    let d = defaults(origin, host);
    g.delete_origin(origin);
    let mut errors = Vec::new();
    for w in payload.nodes {
        let r = w
            .into_node(d)
            .map_err(|e| e.to_string())
            .and_then(|n| g.upsert_node(n).map_err(|e| e.to_string()));
        if let Err(e) = r {
            errors.push(e);
        }
    }
    for w in payload.edges {
        let r = w
            .into_edge(d)
            .map_err(|e| e.to_string())
            .and_then(|e| g.upsert_edge(e).map_err(|e| e.to_string()));
        if let Err(e) = r {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        let n = errors.len();
        errors.truncate(5);
        Err(format!("{n} element(s) skipped: {}", errors.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use skydive_graph::GraphOptions;

    fn msg(v: serde_json::Value) -> GraphMessage {
        envelope::decode(v.to_string().as_bytes()).unwrap().message
    }

    fn graph() -> Graph {
        Graph::new(GraphOptions::new("an", "analyzer.an"))
    }

    #[test]
    fn add_update_delete_through_messages() {
        let mut g = graph();
        let add = msg(json!({"Namespace": "Graph", "Type": "NodeAdded",
            "Obj": {"ID": "n1", "Metadata": {"Name": "a", "Type": "t"}, "Origin": "lies"}}));
        apply(&mut g, add, "py.h1", "h1").unwrap();
        let n = g.node("n1").unwrap();
        assert_eq!(&*n.origin, "py.h1");
        assert_eq!(&*n.host, "h1");

        // No Revision (the Python client): replaces the metadata and bumps the revision.
        let upd = msg(json!({"Namespace": "Graph", "Type": "NodeUpdated",
            "Obj": {"ID": "n1", "Metadata": {"Name": "a", "Type": "t", "X": 1}}}));
        apply(&mut g, upd, "py.h1", "h1").unwrap();
        assert_eq!(g.node("n1").unwrap().metadata.get("X"), Some(&json!(1)));
        assert_eq!(g.node("n1").unwrap().revision, 2);

        // A stale revision changes nothing.
        let stale = msg(json!({"Namespace": "Graph", "Type": "NodeUpdated",
            "Obj": {"ID": "n1", "Revision": 1, "Metadata": {"Name": "a", "Type": "t", "X": 0}}}));
        apply(&mut g, stale, "py.h1", "h1").unwrap();
        assert_eq!(g.node("n1").unwrap().metadata.get("X"), Some(&json!(1)));

        let part = msg(json!({"Namespace": "Graph", "Type": "NodePartiallyUpdated",
            "Obj": {"ID": "n1", "Revision": 7, "UpdatedAt": 5, "Ops": [{"Type": 1, "Key": "Y", "Value": "z"}, {"Type": 2, "Key": "X"}]}}));
        apply(&mut g, part, "py.h1", "h1").unwrap();
        let n = g.node("n1").unwrap();
        assert_eq!(
            (n.revision, n.metadata.get("X"), n.metadata.get_str("Y")),
            (7, None, Some("z"))
        );

        let del = msg(
            json!({"Namespace": "Graph", "Type": "NodeDeleted", "Obj": {"ID": "n1", "Metadata": null}}),
        );
        apply(&mut g, del, "py.h1", "h1").unwrap();
        assert!(g.node("n1").is_none());
    }

    #[test]
    fn invalid_writes_are_errors() {
        let mut g = graph();
        let e = apply(
            &mut g,
            msg(json!({"Namespace": "Graph", "Type": "EdgeAdded",
            "Obj": {"ID": "e", "Parent": "a", "Child": "b", "Metadata": {"RelationType": "x"}}})),
            "o",
            "h",
        )
        .unwrap_err();
        assert!(e.contains("missing node"), "{e}");
        let e = apply(
            &mut g,
            msg(json!({"Namespace": "Graph", "Type": "NodeUpdated",
            "Obj": {"ID": "nope", "Metadata": {"Name": "a", "Type": "t"}}})),
            "o",
            "h",
        )
        .unwrap_err();
        assert!(e.contains("not found"), "{e}");
        let e = apply(
            &mut g,
            msg(json!({"Namespace": "Graph", "Type": "NodeAdded",
            "Obj": {"ID": "x", "Metadata": {"Name": "a"}}})),
            "o",
            "h",
        )
        .unwrap_err();
        assert!(e.contains("Metadata.Type"), "{e}");
    }

    #[test]
    fn sync_replaces_the_origin_subgraph() {
        let mut g = graph();
        g.create_node(Id::from("mine"), skydive_graph::Metadata::new())
            .unwrap();
        let add = |id: &str| json!({"ID": id, "Metadata": {"Name": id, "Type": "t"}});
        apply(
            &mut g,
            msg(json!({"Namespace": "Graph", "Type": "NodeAdded", "Obj": add("old")})),
            "p.h",
            "h",
        )
        .unwrap();
        let sync = msg(
            json!({"Namespace": "Graph", "Type": "Sync", "Obj": {"Nodes": [add("new"), {"ID": "bad"}], "Edges": null}}),
        );
        let GraphMessage::Sync(payload) = sync else {
            panic!()
        };
        let e = apply_sync(&mut g, payload, "p.h", "h").unwrap_err();
        assert!(e.starts_with("1 element(s) skipped"), "{e}");
        assert!(g.node("old").is_none());
        assert!(g.node("new").is_some());
        assert!(g.node("mine").is_some(), "other origins are untouched");
    }
}
