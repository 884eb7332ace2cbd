//! Skydive's analyzer service: the live graph behind an HTTP API and WebSocket endpoints, with
//! its history recorded by `skydive-store` and queried through `skydive-gremlin`.
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
//! - [`fuzzing`]: harnesses for `cargo fuzz` (one line per target in `fuzz/`).
//!
//! Threads and locks: everything runs on tokio; the graph lock is never held across an
//! `.await` (graph work happens in plain functions called between awaits, or in
//! `spawn_blocking` when it may be long, such as a Gremlin query).
//!
//! Must not: touch the kernel, OVS or packets (that is `skydive-probes`), parse config files
//! or read the process environment (the binary does, and hands typed config in).
#![forbid(unsafe_code)]

mod analyzer;
mod api;
mod conns;
pub mod fuzzing;
mod history_source;
mod limits;
mod query;
mod state;
mod validate;
pub mod ws;

pub use analyzer::{
    Analyzer, AnalyzerConfig, AnalyzerError, AnalyzerSettings, RunningAnalyzer, TopologyConfig,
};
pub use api::HttpConfig;
pub use history_source::StoreHistory;
pub use ws::WsConfig;

/// The version reported by `GET /api` and `/api/status`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
