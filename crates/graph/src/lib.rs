//! Skydive's graph engine: nodes and edges with free-form metadata, revisions, origins,
//! events, secondary indexes and time-sliced history views.
//!
//! Main types:
//! - [`Node`], [`Edge`], [`Metadata`]: the elements, serialised exactly as Skydive's JSON.
//! - [`Graph`]: the mutable engine (add/update/delete, metadata transactions, revision-checked
//!   upserts from remote writers, deletion by origin); [`SharedGraph`] shares it.
//! - [`GraphEvent`], [`EventBus`], [`Subscription`]: non-blocking change notification.
//! - [`GraphView`]: what queries read — the live [`Graph`] or a [`HistoryView`] of the past.
//! - [`ChangeLog`]: the hook through which every change is recorded (history lives in
//!   `skydive-store`, which builds [`HistoryView`]s with [`HistoryViewBuilder`]).
//! - [`Id`] (a 16-byte value: a canonical UUID inline, other text shared), [`IdRef`] and
//!   [`AsIdRef`] for look-ups by `&Id` or by text; [`SharedStr`] for host and origin.
//!
//! Memory, at 1M nodes with 1.75 edges each (`bench/graph_bench`): ~0.9 KiB per node with its
//! edges. Elements sit in slabs addressed by `u32` handles, ids are values, metadata entries
//! and whole small metadata (most edges') are shared process-wide (`interned.rs`).
//!
//! This crate knows nothing about networks, flows, storage engines or HTTP: it must not depend
//! on any other skydive crate.
//!
//! ```
//! use serde_json::json;
//! use skydive_graph::{Graph, GraphOptions, Metadata, gen_id};
//!
//! let mut g = Graph::new(GraphOptions::new("host1", "analyzer.host1"));
//! let br = g.create_node(gen_id(&["br0"]), Metadata::from_pairs([("Name", json!("br0")), ("Type", json!("bridge"))])).unwrap();
//! let p = g.create_node(gen_id(&["p1"]), Metadata::from_pairs([("Name", json!("p1")), ("Type", json!("veth"))])).unwrap();
//! g.create_edge(gen_id(&["br0", "p1"]), br.id.clone(), p.id.clone(), Metadata::from_pairs([("RelationType", json!("layer2"))])).unwrap();
//! assert_eq!(g.nodes_by("Type", "veth").len(), 1);
//! assert!(g.node("no such id").is_none());
//! g.delete_node(&br.id).unwrap();
//! assert_eq!(g.edge_count(), 0);
//! ```
#![forbid(unsafe_code)]

mod element;
mod events;
mod graph;
mod history;
mod id;
mod index;
mod interned;
mod metadata;
mod node_index;
mod shared;
mod shared_str;
mod slab;
mod time;
mod view;

pub use element::{Edge, Element, ElementKind, Node};
pub use events::{BusStatsSnapshot, EventBus, GraphEvent, Received, Subscription};
pub use graph::{
    Applied, ChangeLog, Graph, GraphDump, GraphError, GraphOptions, NodeEdges, OriginCount,
};
pub use history::{HistoryView, HistoryViewBuilder};
pub use id::{AsIdRef, Id, IdRef, IdStr, gen_id, random_id};
pub use index::{DEFAULT_INDEXED_KEYS, IndexValue, MetadataIndex};
pub use metadata::{Metadata, MetadataOp, OpKind};
pub use shared::SharedGraph;
pub use shared_str::SharedStr;
pub use time::TimeMs;
pub use view::{GraphView, TimeSlice};

/// Hash maps keyed by element ids and index values. foldhash is several times faster than
/// SipHash on ids and short strings, the keys of every graph walk step, and is seeded per map,
/// so remote writers cannot aim for collisions.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// See [`FastMap`].
pub type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

#[cfg(test)]
mod tests;
