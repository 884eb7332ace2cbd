//! Skydive's services: the analyzer (the live graph behind an HTTP API and WebSocket
//! endpoints, with its history recorded by `skydive-store` and queried through
//! `skydive-gremlin`) and the agent (the host's topology from `skydive-probes`, served the same
//! way and forwarded to an analyzer).
//!
//! Main types:
//! - [`Analyzer`]: wiring. Opens the history store, reloads the last state into the live graph,
//!   serves HTTP, enforces retention, and on [`RunningAnalyzer::shutdown`] closes every
//!   WebSocket, then flushes and closes the store.
//! - [`AnalyzerConfig`], [`HttpConfig`], [`WsConfig`]: the `analyzer.*` and `http.*` keys,
//!   each beside the component it configures, with Skydive's key names.
//! - `api`: REST routes (`/api`, `/api/topology`, `/api/node`, `/api/edge`, `/api/status`,
//!   `/api/config/{key}`, `/rpc/topology`); every error is JSON `{"error": "…"}`.
//! - `ws`: the `/ws/subscriber` and `/ws/publisher` endpoints speaking Skydive's JSON envelope
//!   `{Namespace, Type, UUID, Status, Obj}`; [`ws::envelope`] decodes untrusted frames.
//! - [`Agent`], [`AgentSettings`], [`AgentConfig`]: the agent service (`agent.*` keys); its
//!   analyzer client speaks the versioned [`protocol`] (`docs/protocol.md`) to the analyzer's
//!   `/ws/agent/topology`, where `reconcile` applies it and `agents` tracks who is connected
//!   and removes the subgraphs of agents gone for good.
//! - `ui`: the web UI (`webui/`, embedded) at `/` and `/ui/…`, on the analyzer and the agent.
//! - [`fuzzing`]: harnesses for `cargo fuzz` (one line per target in `fuzz/`).
//!
//! Threads and locks: everything runs on tokio; the graph lock is never held across an
//! `.await` (graph work happens in plain functions called between awaits, or in
//! `spawn_blocking` when it may be long, such as a Gremlin query).
//!
//! Must not: touch the kernel, OVS or packets itself (that is `skydive-probes`, which the agent
//! starts), parse config files or read the process environment (the binary does, and hands
//! typed config in).
#![forbid(unsafe_code)]

mod agent;
mod agents;
mod analyzer;
mod api;
mod captures;
mod conns;
mod flows;
pub mod fuzzing;
mod heap_trim;
mod history_source;
mod limits;
pub mod protocol;
mod query;
mod reconcile;
mod state;
mod ui;
mod validate;
pub mod ws;

pub use agent::{
    Agent, AgentConfig, AgentError, AgentSettings, AgentTopologyConfig, NetlinkKeys, NetnsKeys,
    OvsKeys, RunningAgent, analyzer_list,
};
pub use analyzer::{
    Analyzer, AnalyzerConfig, AnalyzerError, AnalyzerSettings, RunningAnalyzer, TopologyConfig,
};
pub use api::HttpConfig;
pub use captures::{Capture, Captures};
pub use flows::AnalyzerFlows;
pub use history_source::StoreHistory;
pub use ws::WsConfig;

/// The version reported by `GET /api` and `/api/status`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
