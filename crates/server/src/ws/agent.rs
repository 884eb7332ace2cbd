//! `/ws/agent/topology`: agents forward their graph to the analyzer ([`crate::protocol`],
//! user documentation in `docs/protocol.md`).
//!
//! Handshake: `X-Host-ID` (required), `X-Client-Type: agent`, and the protocol version in
//! `X-Skydive-Agent-Protocol`; a version this analyzer does not speak gets 400 saying which it
//! speaks, a host id already connected gets 409. The answer carries the analyzer's
//! `X-Host-ID`, `X-Service-Type` and protocol version.
//!
//! Session: the agent sends a full sync (`SyncBegin`, `SyncChunk`s, `SyncEnd`), reconciled
//! against what the graph holds for its origin ([`crate::reconcile`]) and answered with
//! `SyncDone`; then deltas, applied in order. Messages are numbered (`Seq`); a gap, a delta
//! outside the synced state or a chunk of another generation is a protocol error that closes
//! the connection (1002): the agent reconnects and resyncs. An element that cannot be applied
//! is refused with an `Error` and counted; if it shows the analyzer's copy diverged, the
//! analyzer asks for a new sync (`SyncRequest`, once until it comes). When the connection ends
//! the subgraph's fate is decided by [`crate::agents`].
//!
//! Graph work runs under the write lock in plain code (chunks in `spawn_blocking`), never
//! across an `.await`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use skydive_graph::{FastSet, Graph, Id};

use super::{Frame, Handshake, Sender, frame, refuse, start_writer, upgrade, upgrade_rejection};
use crate::agents::{AgentLink, Departure};
use crate::protocol::{
    self, AgentFrame, AgentMessage, ErrorReply, SyncChunk, SyncDone, SyncRequest, types,
};
use crate::reconcile::{self, Outcome, Refused, Writer};
use crate::state::State as AppStateRef;

/// Refusals logged per sync at most (the rest are only counted).
const LOGGED_REFUSALS: u64 = 5;

/// `GET /ws/agent/topology`.
pub(crate) async fn agent_handler(
    State(state): State<AppStateRef>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(r) => return upgrade_rejection(r).into_response(),
    };
    let Some(agents) = state.agents.clone() else {
        return refuse(
            StatusCode::NOT_FOUND,
            format!(
                "{} is served by analyzers; this is a {}: point agent.analyzers at an analyzer",
                protocol::ENDPOINT,
                state.service
            ),
        );
    };
    let hs = match Handshake::parse(&headers, query.as_deref(), addr) {
        Ok(hs) => hs,
        Err(e) => return e.into_response(),
    };
    if hs.client_type != protocol::CLIENT_TYPE {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!(
                "{} is for agents (X-Client-Type: {}), not `{}`: subscribers use /ws/subscriber, writers /ws/publisher",
                protocol::ENDPOINT,
                protocol::CLIENT_TYPE,
                hs.client_type
            ),
        );
    }
    if hs.host_id == addr.to_string() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "X-Host-ID is required on /ws/agent/topology: the agent's elements take the origin agent.<host id>",
        );
    }
    if let Err(msg) = check_version(&headers, query.as_deref()) {
        return refuse(StatusCode::BAD_REQUEST, msg);
    }
    let link = match agents.connect(&hs.host_id, addr) {
        Ok(l) => l,
        Err(e) => return refuse(StatusCode::CONFLICT, e.to_string()),
    };
    let wants_captures = headers
        .get(protocol::FEATURES_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|h| protocol::features::listed(h, protocol::features::CAPTURES));
    tracing::info!(host = %hs.host_id, %addr, wants_captures, "agent connected");
    let st = state.clone();
    let mut resp = upgrade(ws, &state, move |socket| {
        run(st, link, socket, wants_captures)
    });
    resp.headers_mut().insert(
        protocol::VERSION_HEADER,
        HeaderValue::from(protocol::VERSION),
    );
    resp.headers_mut().insert(
        protocol::FEATURES_HEADER,
        HeaderValue::from_static(FEATURES),
    );
    resp
}

/// `protocol::features::SUPPORTED`, as the handshake answers it.
const FEATURES: &str = "flows,captures";

/// Checks the agent's protocol version (header, or lower-case query parameter).
fn check_version(headers: &HeaderMap, query: Option<&str>) -> Result<(), String> {
    let from_query = || {
        query.and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k.eq_ignore_ascii_case(protocol::VERSION_HEADER))
                .map(|(_, v)| v.into_owned())
        })
    };
    let given = headers
        .get(protocol::VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(from_query);
    let Some(given) = given else {
        return Err(format!(
            "{} header is required on {} (this analyzer speaks version {})",
            protocol::VERSION_HEADER,
            protocol::ENDPOINT,
            protocol::VERSION
        ));
    };
    match given.trim().parse::<u32>() {
        Ok(v) if v == protocol::VERSION => Ok(()),
        _ => Err(format!(
            "agent protocol version `{}` is not supported: this analyzer speaks version {}; run agents and analyzers of compatible releases (docs/protocol.md)",
            given.chars().take(32).collect::<String>(),
            protocol::VERSION
        )),
    }
}

/// Where the agent's sync stands.
enum Sync {
    /// Connected, no sync received yet.
    Waiting,
    Receiving(Box<Receiving>),
    Synced,
}

struct Receiving {
    generation: u64,
    declared: u64,
    received: u64,
    seen_nodes: FastSet<Id>,
    seen_edges: FastSet<Id>,
    done: SyncDone,
}

/// What the loop does after a message.
enum Flow {
    Continue,
    Bye,
    /// A protocol error: close with this code and reason.
    Close(u16, String),
}

struct Session {
    state: AppStateRef,
    link: Arc<AgentLink>,
    out: Sender,
    sync: Sync,
    next_seq: u64,
    /// A `SyncRequest` was sent and no sync began since.
    resync_asked: bool,
}

async fn run(state: AppStateRef, link: Arc<AgentLink>, socket: WebSocket, wants_captures: bool) {
    let cfg = state.http.ws.clone();
    let (out, mut stream) = start_writer(socket, &state, link.conn.clone());
    let mut s = Session {
        state: state.clone(),
        link: link.clone(),
        out,
        sync: Sync::Waiting,
        next_seq: 1,
        resync_asked: false,
    };
    // The capture list goes out at once, then after every change: the agent evaluates it on
    // its own graph, independently of where its sync stands.
    let mut captures = state
        .captures
        .as_ref()
        .filter(|_| wants_captures)
        .map(|c| c.subscribe());
    if let Some(rx) = &mut captures {
        rx.mark_changed();
    }
    let mut last_seen = tokio::time::Instant::now();
    let mut how = loop {
        tokio::select! {
            Ok(()) = changed(&mut captures) => s.send_captures(),
            r = stream.next() => match frame(r, &cfg) {
                Frame::Data(bytes) => {
                    link.counters.received.fetch_add(1, Relaxed);
                    let flow = s.on_frame(&bytes).await;
                    // Silence counts from when the frame was applied: a sync chunk that waited
                    // for the graph lock must not make a healthy agent look silent.
                    last_seen = tokio::time::Instant::now();
                    match flow {
                        Flow::Continue => {}
                        Flow::Bye => break Departure::Bye,
                        Flow::Close(code, reason) => {
                            tracing::warn!(host = %link.host, "closing agent connection: {reason}");
                            s.out.close(code, reason).await;
                            break Departure::Lost;
                        }
                    }
                }
                Frame::Control => last_seen = tokio::time::Instant::now(),
                Frame::Gone => break Departure::Lost,
                Frame::TooBig(reason) => {
                    tracing::warn!(host = %link.host, "closing agent connection: {reason}");
                    s.out.close(1009, reason).await;
                    break Departure::Lost;
                }
            },
            _ = tokio::time::sleep_until(last_seen + cfg.silence_limit()) => {
                s.out.close(1001, format!("no pong for {}s", cfg.silence_limit().as_secs())).await;
                break Departure::Lost;
            }
            _ = state.shutdown.cancelled() => break Departure::Shutdown,
        }
    };
    if state.shutdown.is_cancelled() {
        how = Departure::Shutdown;
    }
    tracing::info!(host = %link.host, departure = ?how, "agent disconnected");
    if let Some(agents) = &state.agents {
        agents.disconnect(&link, how).await;
    }
}

/// Waits for the next change of the capture list; never when there is no list to watch.
async fn changed(rx: &mut Option<tokio::sync::watch::Receiver<u64>>) -> Result<(), ()> {
    match rx {
        Some(rx) => rx.changed().await.map_err(|_| ()),
        None => std::future::pending().await,
    }
}

impl Session {
    /// Sends every capture to the agent (`Captures`).
    fn send_captures(&self) {
        let Some(caps) = &self.state.captures else {
            return;
        };
        let list = protocol::CaptureList {
            captures: caps.list().into_values().collect(),
        };
        let _ = self
            .out
            .send(protocol::encode_analyzer(types::CAPTURES, &list));
    }

    fn writer(&self) -> (String, String) {
        (self.link.origin.clone(), self.link.host.clone())
    }

    fn reply_error(&self, seq: Option<u64>, error: String) {
        let _ = self.out.send(protocol::encode_analyzer(
            types::ERROR,
            &ErrorReply { seq, error },
        ));
    }

    fn refused(&mut self, seq: u64, kind: &str, r: Refused) {
        self.link.counters.rejected.fetch_add(1, Relaxed);
        tracing::debug!(host = %self.link.host, "agent {kind} refused: {}", r.message);
        self.reply_error(Some(seq), format!("{kind}: {}", r.message));
        if r.diverged && !self.resync_asked {
            self.resync_asked = true;
            self.link.counters.resync_requests.fetch_add(1, Relaxed);
            tracing::info!(host = %self.link.host, "asking the agent for a full sync: {}", r.message);
            let _ = self.out.send(protocol::encode_analyzer(
                types::SYNC_REQUEST,
                &SyncRequest {
                    reason: r.message.clone(),
                },
            ));
        }
    }

    async fn on_frame(&mut self, bytes: &[u8]) -> Flow {
        let f = match protocol::decode_agent(bytes) {
            Ok(f) => f,
            Err(e) => {
                let Some(seq) = e.seq.filter(|s| *s > 0) else {
                    return Flow::Close(1002, format!("unreadable message: {}", e.message));
                };
                if let Some(flow) = self.check_seq(seq) {
                    return flow;
                }
                if e.unknown_type {
                    self.link.counters.ignored.fetch_add(1, Relaxed);
                } else {
                    self.link.counters.rejected.fetch_add(1, Relaxed);
                }
                self.reply_error(Some(seq), e.message);
                return Flow::Continue;
            }
        };
        if let Some(flow) = self.check_seq(f.seq) {
            return flow;
        }
        self.on_message(f).await
    }

    /// Checks that `seq` follows the previous message.
    fn check_seq(&mut self, seq: u64) -> Option<Flow> {
        if seq != self.next_seq {
            return Some(Flow::Close(
                1002,
                format!(
                    "message Seq {seq} where {} was expected: messages were lost or reordered, reconnect and resync",
                    self.next_seq
                ),
            ));
        }
        self.next_seq += 1;
        self.link.sync.lock().last_seq = seq;
        None
    }

    async fn on_message(&mut self, f: AgentFrame) -> Flow {
        let seq = f.seq;
        let kind = f.message.kind();
        match f.message {
            AgentMessage::SyncBegin(b) => {
                self.resync_asked = false;
                self.sync = Sync::Receiving(Box::new(Receiving {
                    generation: b.generation,
                    declared: b.nodes.saturating_add(b.edges),
                    received: 0,
                    seen_nodes: FastSet::default(),
                    seen_edges: FastSet::default(),
                    done: SyncDone {
                        generation: b.generation,
                        ..SyncDone::default()
                    },
                }));
                let mut info = self.link.sync.lock();
                info.state = "syncing";
                info.generation = b.generation;
                drop(info);
                tracing::debug!(host = %self.link.host, generation = b.generation, nodes = b.nodes, edges = b.edges, "agent sync begins");
                Flow::Continue
            }
            AgentMessage::SyncChunk(c) => self.on_chunk(c).await,
            AgentMessage::SyncEnd(e) => {
                let rx = match std::mem::replace(&mut self.sync, Sync::Synced) {
                    Sync::Receiving(rx) if rx.generation == e.generation => rx,
                    _ => {
                        return Flow::Close(
                            1002,
                            format!(
                                "SyncEnd of generation {} without its SyncBegin",
                                e.generation
                            ),
                        );
                    }
                };
                let graph = self.state.graph.clone();
                let origin = self.link.origin.clone();
                let res = tokio::task::spawn_blocking(move || {
                    let mut rx = rx;
                    rx.done.deleted = reconcile::sweep(
                        &mut graph.write(),
                        &origin,
                        &rx.seen_nodes,
                        &rx.seen_edges,
                    );
                    rx.done
                })
                .await;
                let mut done = match res {
                    Ok(d) => d,
                    Err(e) => return Flow::Close(1011, format!("sync task failed: {e}")),
                };
                done.seq = seq;
                self.link.counters.syncs.fetch_add(1, Relaxed);
                let mut info = self.link.sync.lock();
                info.state = "synced";
                info.last = Some(done);
                drop(info);
                tracing::info!(
                    host = %self.link.host,
                    generation = done.generation,
                    added = done.added,
                    updated = done.updated,
                    unchanged = done.unchanged,
                    deleted = done.deleted,
                    rejected = done.rejected,
                    "agent synced"
                );
                self.state.heap_trim.after_burst();
                let _ = self
                    .out
                    .send(protocol::encode_analyzer(types::SYNC_DONE, &done));
                Flow::Continue
            }
            AgentMessage::Bye => Flow::Bye,
            AgentMessage::Flows(batch) => {
                if let Some(flows) = self.state.flows.clone() {
                    flows.agent_dropped(batch.dropped);
                    if let Err(e) =
                        tokio::task::spawn_blocking(move || flows.ingest(batch.flows)).await
                    {
                        return Flow::Close(1011, format!("flow ingestion task failed: {e}"));
                    }
                }
                Flow::Continue
            }
            delta => {
                match self.sync {
                    Sync::Synced => {}
                    Sync::Waiting => {
                        return Flow::Close(
                            1002,
                            format!("{kind} before the first sync: send SyncBegin first"),
                        );
                    }
                    Sync::Receiving(_) => {
                        return Flow::Close(1002, format!("{kind} in the middle of a sync"));
                    }
                }
                let (origin, host) = self.writer();
                let w = Writer {
                    origin: &origin,
                    host: &host,
                };
                let res = {
                    let mut g = self.state.graph.write();
                    apply_delta(&mut g, w, delta)
                };
                if let Err(r) = res {
                    self.refused(seq, kind, r);
                }
                Flow::Continue
            }
        }
    }

    async fn on_chunk(&mut self, c: SyncChunk) -> Flow {
        let rx = match std::mem::replace(&mut self.sync, Sync::Waiting) {
            Sync::Receiving(rx) if rx.generation == c.generation => rx,
            other => {
                self.sync = other;
                return Flow::Close(
                    1002,
                    format!("SyncChunk of generation {} outside its sync", c.generation),
                );
            }
        };
        let n = (c.nodes.len() + c.edges.len()) as u64;
        if rx.received + n > rx.declared {
            return Flow::Close(
                1002,
                format!(
                    "sync {} holds more elements than its SyncBegin announced ({})",
                    rx.generation, rx.declared
                ),
            );
        }
        let graph = self.state.graph.clone();
        let (origin, host) = self.writer();
        let res = tokio::task::spawn_blocking(move || {
            let mut rx = rx;
            let mut refusals = Vec::new();
            let w = Writer {
                origin: &origin,
                host: &host,
            };
            let mut g = graph.write();
            for wire in c.nodes {
                let r = reconcile::put_node(&mut g, w, wire, Some(&mut rx.seen_nodes));
                count(&mut rx.done, r, &mut refusals);
            }
            for wire in c.edges {
                let r = reconcile::put_edge(&mut g, w, wire, Some(&mut rx.seen_edges));
                count(&mut rx.done, r, &mut refusals);
            }
            drop(g);
            rx.received += n;
            (rx, refusals)
        })
        .await;
        let (rx, refusals) = match res {
            Ok(r) => r,
            Err(e) => return Flow::Close(1011, format!("sync task failed: {e}")),
        };
        let before = rx.done.rejected - refusals.len() as u64;
        for (i, r) in refusals.iter().enumerate() {
            self.link.counters.rejected.fetch_add(1, Relaxed);
            if before + (i as u64) < LOGGED_REFUSALS {
                tracing::warn!(host = %self.link.host, "agent sync element refused: {}", r.message);
            }
        }
        self.sync = Sync::Receiving(rx);
        Flow::Continue
    }
}

fn count(done: &mut SyncDone, r: Result<Outcome, Refused>, refusals: &mut Vec<Refused>) {
    match r {
        Ok(Outcome::Added) => done.added += 1,
        Ok(Outcome::Updated) => done.updated += 1,
        Ok(Outcome::Unchanged | Outcome::Absent) => done.unchanged += 1,
        Err(r) => {
            done.rejected += 1;
            refusals.push(r);
        }
    }
}

/// Applies one delta.
fn apply_delta(g: &mut Graph, w: Writer<'_>, m: AgentMessage) -> Result<Outcome, Refused> {
    match m {
        AgentMessage::NodeAdded(e) | AgentMessage::NodeUpdated(e) => {
            reconcile::put_node(g, w, e, None)
        }
        AgentMessage::EdgeAdded(e) | AgentMessage::EdgeUpdated(e) => {
            reconcile::put_edge(g, w, e, None)
        }
        AgentMessage::NodeDeleted(e) => reconcile::delete_node(g, w, &e),
        AgentMessage::EdgeDeleted(e) => reconcile::delete_edge(g, w, &e),
        AgentMessage::NodePartiallyUpdated(p) => reconcile::patch_node(g, w, &p),
        AgentMessage::EdgePartiallyUpdated(p) => reconcile::patch_edge(g, w, &p),
        AgentMessage::SyncBegin(_)
        | AgentMessage::SyncChunk(_)
        | AgentMessage::SyncEnd(_)
        | AgentMessage::Bye
        | AgentMessage::Flows(_) => Ok(Outcome::Unchanged),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_checked_from_header_or_query() {
        let mut h = HeaderMap::new();
        let e = check_version(&h, None).unwrap_err();
        assert!(e.contains("header is required"), "{e}");
        assert!(check_version(&h, Some("x-skydive-agent-protocol=1")).is_ok());
        h.insert(protocol::VERSION_HEADER, "2".parse().unwrap());
        let e = check_version(&h, None).unwrap_err();
        assert!(
            e.contains("`2` is not supported") && e.contains("speaks version 1"),
            "{e}"
        );
        h.insert(protocol::VERSION_HEADER, "1".parse().unwrap());
        assert!(check_version(&h, None).is_ok());
    }
}
