//! What every handler shares: the live graph, the history, the settings, the connections.

use std::sync::Arc;
use std::time::Instant;

use skydive_graph::{SharedGraph, TimeMs};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::agent::AgentRuntime;
use crate::agents::Agents;
use crate::api::HttpConfig;
use crate::conns::Registry;
use crate::heap_trim::HeapTrim;
use crate::history_source::StoreHistory;

/// Shared by every request and connection (behind an `Arc`).
pub(crate) struct AppState {
    pub graph: SharedGraph,
    /// `None` when `analyzer.topology.backend` is `memory`.
    pub history: Option<StoreHistory>,
    /// The `storage.<name>` section in use, for `/api/status`.
    pub history_backend: String,
    pub host_id: String,
    pub http: HttpConfig,
    /// The configuration in effect, as JSON, for `GET /api/config/{key}`.
    pub effective_config: serde_json::Value,
    pub started: Instant,
    pub started_at: TimeMs,
    pub publishers: Arc<Registry>,
    pub subscribers: Arc<Registry>,
    /// Cancelled when the analyzer stops: WebSocket sessions close on it.
    pub shutdown: CancellationToken,
    /// WebSocket sessions and their writers, so shutdown can wait for them.
    pub tasks: TaskTracker,
    /// `analyzer` or `agent`: what `/api` and `/api/status` say this is.
    pub service: &'static str,
    /// The analyzer's agents (`/ws/agent/topology`); `None` on an agent.
    pub agents: Option<Arc<Agents>>,
    /// The analyzer's live flows and flow store; `None` on an agent.
    pub flows: Option<Arc<crate::flows::AnalyzerFlows>>,
    /// The analyzer's capture definitions (`/api/capture`); `None` on an agent.
    pub captures: Option<Arc<crate::captures::Captures>>,
    /// The agent's probes and forwarder; `None` on an analyzer.
    pub agent: Option<Arc<AgentRuntime>>,
    /// Gives freed memory back to the kernel after bursts (syncs, agents leaving).
    pub heap_trim: HeapTrim,
}

pub(crate) type State = Arc<AppState>;
