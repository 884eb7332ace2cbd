//! `/ws/subscriber`: read-only clients (the web UI, scripts) get the graph and then its changes.
//!
//! Protocol (Skydive's `graffiti/endpoints/subscriber_endpoint.go`): live events flow from the
//! moment the connection opens (the subscription is taken before the handshake is answered,
//! so every change after the 101 reaches the client); a `SyncRequest` is answered with a
//! `SyncReply` (same UUID) holding `{Nodes, Edges}`: the live graph, or the graph at `Time` (epoch ms) from history.
//! A Gremlin filter (`X-Gremlin-Filter` header, `x-gremlin-filter` parameter, or a request's
//! `GremlinFilter`; `""` clears it) restricts both the replies and the events to the matching
//! subgraph: after each batch of changes the filter is evaluated again against the live graph
//! and the difference is sent as `NodeAdded`/`EdgeAdded`/`EdgeDeleted`/`NodeDeleted`, plus the
//! updates of elements that stayed inside. `X-Update-Policy: partial` turns metadata
//! transactions into `NodePartiallyUpdated`/`EdgePartiallyUpdated`.
//!
//! Lost events are never silent: a subscriber that fell behind the event bus
//! (`Received::Lagged`) or whose send queue overflowed gets a fresh `SyncReply` (new UUID) as
//! soon as its queue has room again; each such resync is counted in `/api/status`.
//!
//! Graph work (snapshots, filter evaluation, serialising a whole graph) runs in
//! `spawn_blocking`, under the graph's read lock, never across an `.await`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, SystemTime};

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use parking_lot::Mutex;
use serde::Serialize;
use skydive_graph::{
    Edge, GraphEvent, Id, MetadataOp, Node, Received, SharedGraph, Subscription, TimeMs, TimeSlice,
};

use super::envelope::{self, GraphMessage, SyncRequest, types};
use super::{
    Frame, Handshake, SendError, Sender, UpdatePolicy, accept, frame, refuse, start_writer, upgrade,
};
use crate::api::ApiError;
use crate::conns::{ConnCounters, ConnInfo, Registration};
use crate::history_source::StoreHistory;
use crate::query;
use crate::state::State as AppStateRef;

/// Events handled per batch at most (one filter evaluation per batch).
const MAX_BATCH: usize = 4096;
/// How often a subscriber that lost events checks whether it can be resynchronised.
const RESYNC_CHECK: Duration = Duration::from_millis(100);

/// `GET /ws/subscriber`.
pub(crate) async fn subscriber_handler(
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
    if let Some(f) = &hs.gremlin_filter
        && let Err(e) = skydive_gremlin::parse(f)
    {
        return ApiError::bad_request(format!("invalid X-Gremlin-Filter `{f}`: {e}"))
            .into_response();
    }
    let info = ConnInfo {
        service_type: hs.client_type.clone(),
        addr,
        connect_time: SystemTime::now(),
        counters: Arc::default(),
        filter: Mutex::new(hs.gremlin_filter.clone()),
        update_policy: Some(hs.update_policy.as_str()),
        persistence_policy: None,
    };
    let reg = match state.subscribers.register(&hs.host_id, info) {
        Ok(r) => r,
        Err(e) => return refuse(StatusCode::CONFLICT, e.to_string()),
    };
    // Subscribe before answering the handshake: every change made after the client sees the
    // 101 reaches it (and a filter that cannot run is refused with a 400).
    let start = if !hs.wants_graph() {
        None
    } else if hs.gremlin_filter.is_none() {
        // No baseline to take: the subscription alone.
        Some((None, state.graph.bus().subscribe()))
    } else {
        let graph = state.graph.clone();
        let history = state.history.clone();
        let text = hs.gremlin_filter.clone();
        let res = tokio::task::spawn_blocking(move || {
            live_snapshot(&graph, history.as_ref(), text.as_deref())
        })
        .await;
        match res {
            Ok(Ok((snap, sub))) => {
                let filter = hs.gremlin_filter.clone().map(|t| filter_from(t, &snap));
                Some((filter, sub))
            }
            Ok(Err(e)) => {
                return ApiError::new(e.status, format!("X-Gremlin-Filter: {}", e.message))
                    .into_response();
            }
            Err(e) => {
                return ApiError::internal(format!("subscription task failed: {e}"))
                    .into_response();
            }
        }
    };
    tracing::info!(host = %hs.host_id, client = %hs.client_type, filter = ?hs.gremlin_filter, "subscriber connected");
    let st = state.clone();
    upgrade(ws, &state, move |socket| run(st, hs, reg, start, socket))
}

/// The subscriber's filter and the subgraph it selected last time.
struct Filter {
    text: String,
    nodes: HashMap<Id, Arc<Node>>,
    edges: HashMap<Id, Arc<Edge>>,
}

/// A graph to send: nodes and edges, one revision each, sorted by id.
struct Snapshot {
    nodes: Vec<Arc<Node>>,
    edges: Vec<Arc<Edge>>,
}

#[derive(Serialize)]
struct SyncObj<'a> {
    #[serde(rename = "Nodes")]
    nodes: &'a [Arc<Node>],
    #[serde(rename = "Edges")]
    edges: &'a [Arc<Edge>],
}

impl Snapshot {
    fn new(
        nodes: impl IntoIterator<Item = Arc<Node>>,
        edges: impl IntoIterator<Item = Arc<Edge>>,
    ) -> Self {
        // A history view may hold several revisions of one element: keep the latest.
        let mut n: HashMap<Id, Arc<Node>> = HashMap::new();
        for node in nodes {
            match n.get(&node.id) {
                Some(old) if old.revision >= node.revision => {}
                _ => {
                    n.insert(node.id.clone(), node);
                }
            }
        }
        let mut e: HashMap<Id, Arc<Edge>> = HashMap::new();
        for edge in edges {
            match e.get(&edge.id) {
                Some(old) if old.revision >= edge.revision => {}
                _ => {
                    e.insert(edge.id.clone(), edge);
                }
            }
        }
        let mut nodes: Vec<_> = n.into_values().collect();
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        let mut edges: Vec<_> = e.into_values().collect();
        edges.sort_by(|a, b| a.id.cmp(&b.id));
        Snapshot { nodes, edges }
    }

    fn encode(&self, uuid: Option<&str>) -> String {
        envelope::encode(
            types::SYNC_REPLY,
            uuid,
            200,
            &SyncObj {
                nodes: &self.nodes,
                edges: &self.edges,
            },
        )
    }
}

/// The live graph (whole or filtered) and a subscription to the changes that follow it.
fn live_snapshot(
    graph: &SharedGraph,
    history: Option<&StoreHistory>,
    filter: Option<&str>,
) -> Result<(Snapshot, Subscription), ApiError> {
    let (res, sub) = graph.subscribe_with(|g| match filter {
        None => Ok((
            g.nodes().cloned().collect::<Vec<_>>(),
            g.edges().cloned().collect::<Vec<_>>(),
        )),
        Some(f) => query::run(g, history, f).map(|out| out.subgraph(g)),
    });
    let (nodes, edges) = res?;
    Ok((Snapshot::new(nodes, edges), sub))
}

/// The graph at `t` from history (whole or filtered).
fn past_snapshot(
    history: Option<&StoreHistory>,
    t: TimeMs,
    filter: Option<&str>,
) -> Result<Snapshot, ApiError> {
    let Some(h) = history else {
        return Err(ApiError::bad_request(
            "no topology history: analyzer.topology.backend is `memory`, so a SyncRequest with a Time cannot be answered",
        ));
    };
    let view = h.past(TimeSlice::at(t))?;
    match filter {
        None => Ok(Snapshot::new(
            view.latest().nodes().cloned(),
            view.latest().edges().cloned(),
        )),
        Some(f) => {
            let out = query::run(&view, Some(h), f)?;
            let (n, e) = out.subgraph(&view);
            Ok(Snapshot::new(n, e))
        }
    }
}

#[derive(Serialize)]
struct PartialOut<'a> {
    #[serde(rename = "ID")]
    id: &'a Id,
    #[serde(rename = "UpdatedAt")]
    updated_at: TimeMs,
    #[serde(rename = "Revision")]
    revision: i64,
    #[serde(rename = "Ops")]
    ops: &'a [MetadataOp],
}

/// The message announcing `ev` to a subscriber with `policy`.
fn event_message(ev: &GraphEvent, policy: UpdatePolicy) -> String {
    use GraphEvent::*;
    let partial = policy == UpdatePolicy::Partial;
    match ev {
        NodeAdded(n) => envelope::encode(types::NODE_ADDED, None, 200, &**n),
        NodeUpdated(n) => envelope::encode(types::NODE_UPDATED, None, 200, &**n),
        NodePartiallyUpdated(n, ops) if partial => envelope::encode(
            types::NODE_PARTIALLY_UPDATED,
            None,
            200,
            &PartialOut {
                id: &n.id,
                updated_at: n.updated_at,
                revision: n.revision,
                ops,
            },
        ),
        NodePartiallyUpdated(n, _) => envelope::encode(types::NODE_UPDATED, None, 200, &**n),
        NodeDeleted(n) => envelope::encode(types::NODE_DELETED, None, 200, &**n),
        EdgeAdded(e) => envelope::encode(types::EDGE_ADDED, None, 200, &**e),
        EdgeUpdated(e) => envelope::encode(types::EDGE_UPDATED, None, 200, &**e),
        EdgePartiallyUpdated(e, ops) if partial => envelope::encode(
            types::EDGE_PARTIALLY_UPDATED,
            None,
            200,
            &PartialOut {
                id: &e.id,
                updated_at: e.updated_at,
                revision: e.revision,
                ops,
            },
        ),
        EdgePartiallyUpdated(e, _) => envelope::encode(types::EDGE_UPDATED, None, 200, &**e),
        EdgeDeleted(e) => envelope::encode(types::EDGE_DELETED, None, 200, &**e),
    }
}

/// One subscriber connection.
struct Session {
    state: AppStateRef,
    hs: Handshake,
    out: Sender,
    counters: Arc<ConnCounters>,
    info: Arc<ConnInfo>,
    filter: Option<Filter>,
    /// Events were lost: the next message must be a full `SyncReply`.
    desynced: bool,
}

/// The session's starting point: the filter's first subgraph and the subscription to what
/// follows it (`None` for a client that does not want graph events).
type Start = Option<(Option<Filter>, Subscription)>;

async fn run(
    state: AppStateRef,
    hs: Handshake,
    reg: Registration,
    start: Start,
    socket: WebSocket,
) {
    let cfg = state.http.ws.clone();
    let counters = reg.info.counters.clone();
    let (out, mut stream) = start_writer(socket, &state, counters.clone());
    let mut s = Session {
        state: state.clone(),
        hs,
        out,
        counters,
        info: reg.info.clone(),
        filter: None,
        desynced: false,
    };

    let mut sub = match start {
        Some((filter, sub)) => {
            s.filter = filter;
            Some(sub)
        }
        None => None,
    };
    let mut last_seen = tokio::time::Instant::now();
    let mut resync_tick = tokio::time::interval(RESYNC_CHECK);
    loop {
        tokio::select! {
            r = stream.next() => match frame(r, &cfg) {
                Frame::Data(bytes) => {
                    last_seen = tokio::time::Instant::now();
                    s.counters.received.fetch_add(1, Relaxed);
                    if let Some(new_sub) = s.on_frame(&bytes).await {
                        sub = Some(new_sub);
                    }
                }
                Frame::Control => last_seen = tokio::time::Instant::now(),
                Frame::Gone => break,
                Frame::TooBig(reason) => {
                    s.out.close(1009, reason).await;
                    break;
                }
            },
            ev = next_event(&mut sub) => {
                match s.on_events(ev, &mut sub).await {
                    Ok(()) => {}
                    Err(SendError::Closed) => break,
                    Err(SendError::Full) => {}
                }
            }
            _ = resync_tick.tick(), if s.desynced => {
                if let Some(new_sub) = s.try_resync().await {
                    sub = Some(new_sub);
                }
            }
            _ = tokio::time::sleep_until(last_seen + cfg.silence_limit()) => {
                s.out.close(1001, format!("no pong for {}s", cfg.silence_limit().as_secs())).await;
                break;
            }
            _ = state.shutdown.cancelled() => break,
        }
    }
    tracing::info!(host = %s.hs.host_id, "subscriber disconnected");
    drop(reg);
}

async fn next_event(sub: &mut Option<Subscription>) -> Received {
    match sub {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

impl Session {
    fn history(&self) -> Option<StoreHistory> {
        self.state.history.clone()
    }

    async fn snapshot_live(
        &self,
        filter: Option<String>,
    ) -> Result<(Snapshot, Subscription), ApiError> {
        let graph = self.state.graph.clone();
        let history = self.history();
        tokio::task::spawn_blocking(move || {
            live_snapshot(&graph, history.as_ref(), filter.as_deref())
        })
        .await
        .map_err(|e| ApiError::internal(format!("snapshot task failed: {e}")))?
    }

    /// Handles one message from the client; returns the new subscription after a live sync.
    async fn on_frame(&mut self, bytes: &[u8]) -> Option<Subscription> {
        let incoming = match envelope::decode(bytes) {
            Ok(m) => m,
            Err(e) => {
                self.reject(e.uuid.as_deref(), &e.message);
                return None;
            }
        };
        match incoming.message {
            GraphMessage::SyncRequest(req) => {
                self.on_sync_request(incoming.uuid.as_deref(), req).await
            }
            other => {
                self.reject(
                    incoming.uuid.as_deref(),
                    &format!("{} is not accepted on /ws/subscriber (read-only): write through /ws/publisher", other.kind()),
                );
                None
            }
        }
    }

    fn reject(&self, uuid: Option<&str>, message: &str) {
        self.counters.rejected.fetch_add(1, Relaxed);
        tracing::debug!(host = %self.hs.host_id, "subscriber message refused: {message}");
        let _ = self.out.send(envelope::encode_error(uuid, message));
    }

    fn reply_error(&self, uuid: Option<&str>, status: u16, message: &str) {
        self.counters.rejected.fetch_add(1, Relaxed);
        let _ = self
            .out
            .send(envelope::encode(types::SYNC_REPLY, uuid, status, message));
    }

    async fn on_sync_request(
        &mut self,
        uuid: Option<&str>,
        req: SyncRequest,
    ) -> Option<Subscription> {
        // `Some(None)`: clear the filter; `Some(Some(f))`: set it; `None`: keep it.
        let change: Option<Option<String>> = match req.gremlin_filter.as_deref() {
            None => None,
            Some("") => Some(None),
            Some(f) => {
                if let Err(e) = skydive_gremlin::parse(f) {
                    self.reply_error(uuid, 400, &format!("invalid GremlinFilter `{f}`: {e}"));
                    return None;
                }
                Some(Some(f.to_owned()))
            }
        };
        let filter_text = match &change {
            Some(f) => f.clone(),
            None => self.filter.as_ref().map(|f| f.text.clone()),
        };
        let mut new_sub = None;
        if req.time().is_none() || change.is_some() {
            // Live sync, or a new filter whose baseline must be taken on the live graph.
            match self.snapshot_live(filter_text.clone()).await {
                Ok((snap, sub)) => {
                    self.filter = filter_text.clone().map(|t| filter_from(t, &snap));
                    *self.info.filter.lock() = filter_text.clone();
                    self.desynced = false;
                    new_sub = self.hs.wants_graph().then_some(sub);
                    if req.time().is_none() {
                        let text = tokio::task::spawn_blocking({
                            let uuid = uuid.map(str::to_owned);
                            move || snap.encode(uuid.as_deref())
                        })
                        .await;
                        match text {
                            Ok(t) => {
                                let _ = self.out.send(t);
                            }
                            Err(e) => self.reply_error(
                                uuid,
                                500,
                                &format!("cannot encode the graph: {e}"),
                            ),
                        }
                        return new_sub;
                    }
                }
                Err(e) => {
                    self.reply_error(uuid, e.status.as_u16(), &e.message);
                    return None;
                }
            }
        }
        if let Some(t) = req.time() {
            let history = self.history();
            let uuid_owned = uuid.map(str::to_owned);
            let res = tokio::task::spawn_blocking(move || {
                past_snapshot(history.as_ref(), t, filter_text.as_deref())
                    .map(|s| s.encode(uuid_owned.as_deref()))
            })
            .await;
            match res {
                Ok(Ok(text)) => {
                    let _ = self.out.send(text);
                }
                Ok(Err(e)) => self.reply_error(uuid, e.status.as_u16(), &e.message),
                Err(e) => self.reply_error(uuid, 500, &format!("history task failed: {e}")),
            }
        }
        new_sub
    }

    /// Sends a fresh `SyncReply` if the queue has room for it again.
    async fn try_resync(&mut self) -> Option<Subscription> {
        if self.out.capacity() * 2 < self.out.max_capacity() {
            return None;
        }
        let text = self.filter.as_ref().map(|f| f.text.clone());
        match self.snapshot_live(text.clone()).await {
            Ok((snap, sub)) => {
                self.filter = text.map(|t| filter_from(t, &snap));
                let msg = tokio::task::spawn_blocking(move || snap.encode(None))
                    .await
                    .ok()?;
                match self.out.send(msg) {
                    Ok(()) => {
                        self.desynced = false;
                        self.counters.resyncs.fetch_add(1, Relaxed);
                        tracing::info!(host = %self.hs.host_id, "subscriber resynchronised after losing events");
                        Some(sub)
                    }
                    Err(_) => None,
                }
            }
            Err(e) => {
                tracing::warn!(host = %self.hs.host_id, "cannot resynchronise subscriber: {}", e.message);
                None
            }
        }
    }

    /// Handles what the bus delivered (plus whatever else is ready, as one batch).
    async fn on_events(
        &mut self,
        first: Received,
        sub: &mut Option<Subscription>,
    ) -> Result<(), SendError> {
        let mut batch = Vec::new();
        let mut lagged = 0u64;
        let mut closed = false;
        let mut next = Some(first);
        while let Some(r) = next.take() {
            match r {
                Received::Event(ev) => batch.push(ev),
                Received::Lagged(n) => lagged += n,
                Received::Closed => closed = true,
            }
            if batch.len() >= MAX_BATCH || closed {
                break;
            }
            next = sub.as_mut().and_then(Subscription::try_recv);
        }
        if closed {
            *sub = None;
        }
        if lagged > 0 {
            // The bus overwrote events we had not read: what we send next must be a resync.
            self.counters.dropped.fetch_add(lagged, Relaxed);
            self.desynced = true;
        }
        if self.desynced {
            self.counters.dropped.fetch_add(batch.len() as u64, Relaxed);
            if let Some(new_sub) = self.try_resync().await {
                *sub = Some(new_sub);
            }
            return Ok(());
        }
        let res = if self.filter.is_some() {
            self.send_filtered(batch).await
        } else {
            self.send_all(&batch)
        };
        if res == Err(SendError::Full) {
            self.desynced = true;
        }
        res
    }

    fn send_all(&self, batch: &[GraphEvent]) -> Result<(), SendError> {
        for (i, ev) in batch.iter().enumerate() {
            if let Err(e) = self.out.send(event_message(ev, self.hs.update_policy)) {
                // The rest of the batch is lost too: count it.
                self.counters
                    .dropped
                    .fetch_add((batch.len() - i - 1) as u64, Relaxed);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Re-evaluates the filter on the live graph and sends the difference with the last
    /// subgraph, then the updates of elements that stayed inside it.
    async fn send_filtered(&mut self, batch: Vec<GraphEvent>) -> Result<(), SendError> {
        let Some(filter) = self.filter.as_ref() else {
            return Ok(());
        };
        let graph = self.state.graph.clone();
        let history = self.history();
        let text = filter.text.clone();
        let res = tokio::task::spawn_blocking(move || {
            let g = graph.read();
            query::run(&*g, history.as_ref(), &text).map(|out| out.subgraph(&*g))
        })
        .await;
        let (nodes, edges) = match res {
            Ok(Ok(sg)) => sg,
            Ok(Err(e)) => {
                tracing::warn!(host = %self.hs.host_id, "subscriber filter failed: {}", e.message);
                let _ = self.out.send(envelope::encode_error(
                    None,
                    &format!("filter failed: {}", e.message),
                ));
                return Ok(());
            }
            Err(e) => {
                tracing::warn!("filter task failed: {e}");
                return Ok(());
            }
        };
        let snap = Snapshot::new(nodes, edges);
        let Some(filter) = self.filter.as_mut() else {
            return Ok(());
        };
        let new_nodes: HashMap<Id, Arc<Node>> = snap
            .nodes
            .iter()
            .map(|n| (n.id.clone(), n.clone()))
            .collect();
        let new_edges: HashMap<Id, Arc<Edge>> = snap
            .edges
            .iter()
            .map(|e| (e.id.clone(), e.clone()))
            .collect();

        // Deleted elements: prefer the revision the event carries (with DeletedAt).
        let mut deleted_nodes: HashMap<&Id, &Arc<Node>> = HashMap::new();
        let mut deleted_edges: HashMap<&Id, &Arc<Edge>> = HashMap::new();
        for ev in &batch {
            match ev {
                GraphEvent::NodeDeleted(n) => {
                    deleted_nodes.insert(&n.id, n);
                }
                GraphEvent::EdgeDeleted(e) => {
                    deleted_edges.insert(&e.id, e);
                }
                _ => {}
            }
        }

        let mut msgs = Vec::new();
        for n in &snap.nodes {
            if !filter.nodes.contains_key(&n.id) {
                msgs.push(envelope::encode(types::NODE_ADDED, None, 200, &**n));
            }
        }
        for e in &snap.edges {
            if !filter.edges.contains_key(&e.id) {
                msgs.push(envelope::encode(types::EDGE_ADDED, None, 200, &**e));
            }
        }
        let mut gone_edges: Vec<&Arc<Edge>> = filter
            .edges
            .iter()
            .filter(|(id, _)| !new_edges.contains_key(*id))
            .map(|(_, e)| e)
            .collect();
        gone_edges.sort_by(|a, b| a.id.cmp(&b.id));
        for e in gone_edges {
            let e = deleted_edges.get(&e.id).copied().unwrap_or(e);
            msgs.push(envelope::encode(types::EDGE_DELETED, None, 200, &**e));
        }
        let mut gone_nodes: Vec<&Arc<Node>> = filter
            .nodes
            .iter()
            .filter(|(id, _)| !new_nodes.contains_key(*id))
            .map(|(_, n)| n)
            .collect();
        gone_nodes.sort_by(|a, b| a.id.cmp(&b.id));
        for n in gone_nodes {
            let n = deleted_nodes.get(&n.id).copied().unwrap_or(n);
            msgs.push(envelope::encode(types::NODE_DELETED, None, 200, &**n));
        }
        // Updates of elements inside the subgraph before and after.
        for ev in &batch {
            let inside = match ev {
                GraphEvent::NodeUpdated(n) | GraphEvent::NodePartiallyUpdated(n, _) => {
                    filter.nodes.contains_key(&n.id) && new_nodes.contains_key(&n.id)
                }
                GraphEvent::EdgeUpdated(e) | GraphEvent::EdgePartiallyUpdated(e, _) => {
                    filter.edges.contains_key(&e.id) && new_edges.contains_key(&e.id)
                }
                _ => false,
            };
            if inside {
                msgs.push(event_message(ev, self.hs.update_policy));
            }
        }
        filter.nodes = new_nodes;
        filter.edges = new_edges;

        let total = msgs.len();
        for (i, m) in msgs.into_iter().enumerate() {
            if let Err(e) = self.out.send(m) {
                self.counters
                    .dropped
                    .fetch_add((total - i - 1) as u64, Relaxed);
                return Err(e);
            }
        }
        Ok(())
    }
}

fn filter_from(text: String, snap: &Snapshot) -> Filter {
    Filter {
        text,
        nodes: snap
            .nodes
            .iter()
            .map(|n| (n.id.clone(), n.clone()))
            .collect(),
        edges: snap
            .edges
            .iter()
            .map(|e| (e.id.clone(), e.clone()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use skydive_graph::{Metadata, OpKind, SharedStr};

    fn node(id: &str, rev: i64) -> Arc<Node> {
        let mut n = Node::new(
            Id::from(id),
            Metadata::new(),
            SharedStr::from("h"),
            SharedStr::from("o"),
        );
        n.revision = rev;
        Arc::new(n)
    }

    #[test]
    fn snapshot_keeps_latest_revision_sorted() {
        let s = Snapshot::new([node("b", 1), node("a", 2), node("a", 5), node("a", 3)], []);
        let ids: Vec<(String, i64)> = s
            .nodes
            .iter()
            .map(|n| (n.id.to_string(), n.revision))
            .collect();
        assert_eq!(ids, [("a".to_owned(), 5), ("b".to_owned(), 1)]);
        let v: serde_json::Value = serde_json::from_str(&s.encode(Some("u"))).unwrap();
        assert_eq!(v["Type"], "SyncReply");
        assert_eq!(v["Obj"]["Nodes"][0]["ID"], "a");
        assert_eq!(v["Obj"]["Edges"], json!([]));
    }

    #[test]
    fn partial_policy_sends_ops() {
        let n = node("a", 4);
        let ev =
            GraphEvent::NodePartiallyUpdated(n, vec![MetadataOp::add("Name", json!("x"))].into());
        let v: serde_json::Value =
            serde_json::from_str(&event_message(&ev, UpdatePolicy::Partial)).unwrap();
        assert_eq!(v["Type"], "NodePartiallyUpdated");
        assert_eq!(v["Obj"]["Revision"], 4);
        assert_eq!(v["Obj"]["Ops"][0]["Type"], u8::from(OpKind::Add));
        let v: serde_json::Value =
            serde_json::from_str(&event_message(&ev, UpdatePolicy::Full)).unwrap();
        assert_eq!(v["Type"], "NodeUpdated");
        assert_eq!(v["Obj"]["ID"], "a");
    }
}
