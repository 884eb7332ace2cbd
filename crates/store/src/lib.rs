//! Skydive persistence: topology history and flows in an embedded, crash-safe store.
//!
//! Every change of the live graph is recorded (through the graph's [`ChangeLog`] hook) in a
//! [fjall] database under `storage.data_dir`; [`HistoryStore::view`] reads the graph as it was
//! at a time, or every revision alive during a time slice (Skydive's `At(t[, d])`/`Context`),
//! and answers the same after a restart. History older than `storage.retention_secs` is
//! dropped. User documentation: `docs/storage.md`.
//!
//! Every flow update agents send is stored beside it ([`FlowStore`], keyspaces `flow_*` of
//! the same database): [`FlowStore::search`] answers `At(…)` queries on flows (the flows
//! active during a time slice, by node, by TrackingID, with a predicate), and
//! [`FlowStore::metrics`] the `Metrics()` time series. Flows older than
//! `storage.flows_retention_secs` are deleted.
//!
//! Main types: [`HistoryStore`] (open, record, read, retention, stats), [`HistoryConfig`]
//! (the `storage.*` keys), [`HistoryStats`], [`RetentionReport`], [`StoreError`];
//! [`FlowStore`] ([`HistoryStore::flow_store`] or [`FlowStore::open`]), [`FlowStoreConfig`],
//! [`FlowSearch`], [`FlowStoreStats`].
//!
//! How it works: a change log keyed by time holds every changed revision in full; checkpoints
//! (the whole graph at one log position) are taken when the changes since the last one
//! outnumber the graph, so reading the past costs one checkpoint plus at most about one
//! graph's worth of changes. See `writer` (recording, durability, timestamps), `checkpoint`,
//! `replay` (reading) and `retention` for the details and the reasons.
//!
//! Why fjall rather than redb: history is append-heavy (thousands of small writes a second on
//! a busy analyzer, metric updates included) and read in long ordered scans. fjall is an LSM
//! tree: writes are sequential appends to a journal and memtable, batches are atomic across
//! keyspaces, blocks are LZ4-compressed (history is repetitive JSON-like metadata), and old
//! data is reclaimed by compaction. redb is a copy-on-write B-tree: every commit rewrites a
//! path of pages and must be batched hard to keep up, and the file does not shrink after
//! retention deletes without a `compact()`. Both are pure, safe Rust with a stable format.
//!
//! This crate must not depend on HTTP, Gremlin or any network code: it stores and reads
//! graph revisions and flows, and the server decides what to do with them.
//!
//! ```
//! use serde_json::json;
//! use skydive_graph::{Graph, GraphOptions, Metadata, TimeMs, TimeSlice, GraphView};
//! use skydive_store::{HistoryConfig, HistoryStore};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = HistoryStore::open(HistoryConfig::in_dir(dir.path())).unwrap();
//! let mut g = Graph::new(GraphOptions::new("host1", "analyzer.host1"));
//! g.set_changelog(store.changelog());
//! g.create_node("n1".into(), Metadata::from_pairs([("Name", json!("eth0"))])).unwrap();
//! store.flush().unwrap();
//! let view = store.view(TimeSlice::at(TimeMs::now())).unwrap();
//! assert_eq!(view.node("n1").unwrap().metadata.get_str("Name"), Some("eth0"));
//! store.close().unwrap();
//! ```
//!
//! [`ChangeLog`]: skydive_graph::ChangeLog
#![forbid(unsafe_code)]

mod checkpoint;
mod codec;
mod config;
mod db;
mod decode;
mod durability;
mod error;
mod flow_codec;
mod flow_store;
mod flow_writer;
mod history;
mod keys;
mod maintenance;
mod replay;
mod retention;
mod state;
mod stats;
mod writer;

pub use config::{DEFAULT_RETENTION_SECS, HistoryConfig};
pub use error::StoreError;
pub use flow_store::{
    FlowMetricSeries, FlowRetentionReport, FlowSearch, FlowStore, FlowStoreConfig, FlowStoreStats,
};
pub use history::HistoryStore;
pub use retention::RetentionReport;
pub use stats::HistoryStats;
