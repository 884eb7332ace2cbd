//! The analyzer's wiring: history store, live graph, HTTP server, shutdown.
//!
//! Start-up: open the history store (when `analyzer.topology.backend` names one), load its
//! last state into the live graph (so API-created elements and history survive restarts),
//! then attach its change log, so every later change is recorded; bind `analyzer.listen` and
//! serve. The store drops history older than `storage.retention_secs` by itself (every
//! `storage.retention_check_secs`).
//!
//! Agents' subgraphs restored this way wait `analyzer.topology.agent_grace_secs` for their
//! agent to reconnect and resync (see `agents`).
//!
//! Shutdown ([`RunningAnalyzer::shutdown`]): stop accepting, close every WebSocket (1001),
//! wait for the sessions to finish (a `DeleteOnDisconnect` publisher's elements are deleted
//! then), and only then flush and close the store, so nothing already applied is lost.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use skydive_flow::LiveConfig;
use skydive_graph::{Graph, GraphOptions, SharedGraph, TimeMs};
use skydive_store::{HistoryConfig, HistoryStore, StoreError};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::agents::Agents;
use crate::api::{self, HttpConfig};
use crate::captures::Captures;
use crate::conns::Registry;
use crate::flows::AnalyzerFlows;
use crate::heap_trim::HeapTrim;
use crate::history_source::StoreHistory;
use crate::state::{AppState, State};

/// How long shutdown waits for WebSocket sessions to finish.
const SESSION_DRAIN: Duration = Duration::from_secs(10);

/// `analyzer.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnalyzerConfig {
    /// Address of the API, WebSocket endpoints and UI: `host:port`, `:port` (every interface)
    /// or `port` (loopback). Skydive: `127.0.0.1:8082`.
    pub listen: String,
    /// `analyzer.topology.*`.
    pub topology: TopologyConfig,
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        AnalyzerConfig {
            listen: "127.0.0.1:8082".to_owned(),
            topology: TopologyConfig::default(),
        }
    }
}

/// `analyzer.topology.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TopologyConfig {
    /// `embedded` to record the topology history in the local store (`storage.*`), or
    /// `memory` for none (then `At()` queries and past `SyncRequest`s are refused, and
    /// nothing survives a restart).
    pub backend: String,
    /// Graph events kept for WebSocket subscribers that fall behind; one that falls further
    /// behind loses events and is resynchronised with a full `SyncReply`.
    pub buffer_events: usize,
    /// Seconds an agent's subgraph is kept after its connection is lost without a `Bye` (or
    /// after it was restored from history at start), waiting for the agent to resync.
    pub agent_grace_secs: u64,
}

impl Default for TopologyConfig {
    fn default() -> Self {
        TopologyConfig {
            backend: "embedded".to_owned(),
            buffer_events: 65_536,
            agent_grace_secs: 60,
        }
    }
}

impl AnalyzerConfig {
    /// `listen` as something `TcpListener::bind` understands.
    pub fn bind_address(&self) -> String {
        api::bind_address(&self.listen)
    }
}

/// Everything the analyzer needs, already parsed and checked by the binary.
#[derive(Debug, Clone)]
pub struct AnalyzerSettings {
    pub host_id: String,
    pub analyzer: AnalyzerConfig,
    pub http: HttpConfig,
    /// The history store's settings; `None` when `analyzer.topology.backend` is `memory`.
    pub history: Option<HistoryConfig>,
    /// `flow.*`: the live flows (`max_entries`, `expire`).
    pub flow: skydive_flow::FlowConfig,
    /// The configuration in effect, as JSON, served by `GET /api/config/{key}`.
    pub effective_config: serde_json::Value,
}

/// Why the analyzer could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzerError {
    #[error("cannot open the topology history: {0}")]
    History(#[source] StoreError),
    #[error("cannot listen on `{addr}` (analyzer.listen): {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot flush the topology history: {0}")]
    Flush(#[source] StoreError),
    #[error("{0}")]
    Task(String),
}

/// The analyzer service.
pub struct Analyzer;

/// A started analyzer.
pub struct RunningAnalyzer {
    addr: SocketAddr,
    state: State,
    server: JoinHandle<std::io::Result<()>>,
}

impl Analyzer {
    /// Opens the history, restores the graph, binds the listener and starts serving.
    pub async fn start(settings: AnalyzerSettings) -> Result<RunningAnalyzer, AnalyzerError> {
        let host_id = settings.host_id.clone();
        let mut opts = GraphOptions::new(host_id.clone(), format!("analyzer.{host_id}"));
        opts.event_capacity = settings.analyzer.topology.buffer_events.max(1);
        let mut graph = Graph::new(opts);

        let store = match settings.history.clone() {
            Some(cfg) => Some(
                tokio::task::spawn_blocking(move || HistoryStore::open(cfg))
                    .await
                    .map_err(|e| AnalyzerError::Task(format!("history open task failed: {e}")))?
                    .map_err(AnalyzerError::History)?,
            ),
            None => None,
        };
        if let Some(store) = &store {
            let st = store.clone();
            let (nodes, edges) = tokio::task::spawn_blocking(move || st.last_state())
                .await
                .map_err(|e| AnalyzerError::Task(format!("history load task failed: {e}")))?
                .map_err(AnalyzerError::History)?;
            restore(&mut graph, nodes, edges);
            graph.set_changelog(store.changelog());
        }
        let flow_store = match &store {
            Some(store) => {
                let st = store.clone();
                Some(
                    tokio::task::spawn_blocking(move || st.flow_store())
                        .await
                        .map_err(|e| AnalyzerError::Task(format!("flow store task failed: {e}")))?
                        .map_err(AnalyzerError::History)?,
                )
            }
            None => None,
        };
        let live = LiveConfig {
            max_flows: settings.flow.max_entries,
            expire: std::time::Duration::from_secs(settings.flow.expire),
        };
        let flows = Arc::new(AnalyzerFlows::new(live, flow_store));
        let captures_file = settings
            .history
            .as_ref()
            .map(|h| h.data_dir.join("captures.json"));
        let captures = Arc::new(Captures::open(captures_file).map_err(AnalyzerError::Task)?);
        let restored_agents = crate::reconcile::agent_origins(&graph);
        let graph = SharedGraph::from_graph(graph);
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        let heap_trim = HeapTrim::spawn(&tasks, shutdown.clone());
        let agents = Agents::new(
            graph.clone(),
            Duration::from_secs(settings.analyzer.topology.agent_grace_secs),
            shutdown.clone(),
            heap_trim.clone(),
        );

        let bind = settings.analyzer.bind_address();
        let listener = TcpListener::bind(&bind)
            .await
            .map_err(|source| AnalyzerError::Bind {
                addr: settings.analyzer.listen.clone(),
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| AnalyzerError::Bind {
                addr: settings.analyzer.listen.clone(),
                source,
            })?;

        let state: State = Arc::new(AppState {
            graph,
            history: store.clone().map(StoreHistory::new),
            history_backend: if store.is_some() {
                settings.analyzer.topology.backend.clone()
            } else {
                "memory".to_owned()
            },
            host_id,
            http: settings.http.clone(),
            effective_config: settings.effective_config.clone(),
            started: Instant::now(),
            started_at: TimeMs::now(),
            publishers: Registry::new("/ws/publisher"),
            subscribers: Registry::new("/ws/subscriber"),
            shutdown,
            tasks,
            service: "analyzer",
            agents: Some(agents.clone()),
            flows: Some(flows.clone()),
            captures: Some(captures),
            agent: None,
            heap_trim,
        });
        spawn_flow_expiry(&state.tasks, flows, state.shutdown.clone());
        agents.restored(restored_agents);

        let server = api::serve(listener, api::router(state.clone()), state.shutdown.clone());
        tracing::info!(%addr, history = %state.history_backend, "analyzer listening");
        Ok(RunningAnalyzer {
            addr,
            state,
            server,
        })
    }
}

/// Removes idle live flows every [`crate::flows::EXPIRE_EVERY`] until shutdown (tracked, so
/// shutdown waits for it to let go of the flow store).
fn spawn_flow_expiry(tasks: &TaskTracker, flows: Arc<AnalyzerFlows>, stop: CancellationToken) {
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(crate::flows::EXPIRE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {
                    let f = flows.clone();
                    let _ = tokio::task::spawn_blocking(move || f.expire()).await;
                }
            }
        }
    });
}

/// Loads the last recorded state into a fresh graph (before the change log is attached, so
/// nothing is recorded twice).
fn restore(graph: &mut Graph, nodes: Vec<skydive_graph::Node>, edges: Vec<skydive_graph::Edge>) {
    let (mut n_ok, mut e_ok, mut failed) = (0usize, 0usize, 0usize);
    for n in nodes {
        match graph.add_node(n) {
            Ok(_) => n_ok += 1,
            Err(e) => {
                failed += 1;
                tracing::warn!("history: cannot restore a node: {e}");
            }
        }
    }
    for e in edges {
        match graph.add_edge(e) {
            Ok(_) => e_ok += 1,
            Err(err) => {
                failed += 1;
                tracing::warn!("history: cannot restore an edge: {err}");
            }
        }
    }
    tracing::info!(
        nodes = n_ok,
        edges = e_ok,
        failed,
        "restored the last recorded topology"
    );
}

impl RunningAnalyzer {
    /// The address the analyzer listens on (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The live graph (for embedding and tests).
    pub fn graph(&self) -> &SharedGraph {
        &self.state.graph
    }

    /// The analyzer's flows: live and stored.
    pub fn flows(&self) -> &Arc<AnalyzerFlows> {
        self.state
            .flows
            .as_ref()
            .expect("an analyzer always has its flows")
    }

    /// Takes a batch of flow updates, as if an agent had sent it (the ingestion path agents'
    /// flow messages use; also for embedding and tests). Blocking work: stores the batch.
    pub async fn ingest_flows(&self, batch: Vec<skydive_flow::Flow>) {
        let f = self.flows().clone();
        if let Err(e) = tokio::task::spawn_blocking(move || f.ingest(batch)).await {
            tracing::warn!("flow ingestion task failed: {e}");
        }
    }

    /// Stops serving, closes every connection, then flushes and closes the history.
    pub async fn shutdown(self) -> Result<(), AnalyzerError> {
        let RunningAnalyzer { state, server, .. } = self;
        state.shutdown.cancel();
        match server.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("HTTP server stopped with an error: {e}"),
            Err(e) => tracing::warn!("HTTP server task failed: {e}"),
        }
        state.tasks.close();
        if tokio::time::timeout(SESSION_DRAIN, state.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some WebSocket sessions did not finish within {SESSION_DRAIN:?}");
        }
        let flow_store = state.flows.as_ref().and_then(|f| f.store().cloned());
        let Some(history) = state.history.clone() else {
            return Ok(());
        };
        drop(state);
        if let Some(fs) = flow_store {
            tokio::task::spawn_blocking(move || fs.close())
                .await
                .map_err(|e| AnalyzerError::Task(format!("flow store close task failed: {e}")))?
                .map_err(AnalyzerError::Flush)?;
        }
        // Closing writes what is queued and syncs it; any clone closes the store.
        let store = history.store().clone();
        tokio::task::spawn_blocking(move || store.close())
            .await
            .map_err(|e| AnalyzerError::Task(format!("history close task failed: {e}")))?
            .map_err(AnalyzerError::Flush)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_forms() {
        let mut c = AnalyzerConfig::default();
        assert_eq!(c.bind_address(), "127.0.0.1:8082");
        c.listen = ":9000".into();
        assert_eq!(c.bind_address(), "0.0.0.0:9000");
        c.listen = "9000".into();
        assert_eq!(c.bind_address(), "127.0.0.1:9000");
        c.listen = "localhost:1".into();
        assert_eq!(c.bind_address(), "localhost:1");
    }
}
