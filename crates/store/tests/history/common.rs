//! Helpers: stores in temporary directories, graphs that record into them, and comparable
//! copies of what a graph or a view holds.

use serde_json::{Value, json};
use skydive_graph::{
    Edge, Element, Graph, GraphOptions, GraphView, Id, Metadata, Node, SharedStr, TimeMs, TimeSlice,
};
use skydive_store::{HistoryConfig, HistoryStore};
use tempfile::TempDir;

/// Test configuration: no periodic retention (tests call it when they mean it).
pub fn config(dir: &TempDir) -> HistoryConfig {
    HistoryConfig {
        retention_check_secs: 0,
        ..HistoryConfig::in_dir(dir.path())
    }
}

pub fn open(dir: &TempDir) -> HistoryStore {
    HistoryStore::open(config(dir)).expect("open store")
}

pub fn graph(store: &HistoryStore) -> Graph {
    let mut g = Graph::new(GraphOptions::new("h1", "analyzer.h1"));
    g.set_changelog(store.changelog());
    g
}

/// A past time well inside the default retention, so that element times are used as they
/// are (the store files a change at its element's time unless that is in the future).
pub fn base_time() -> TimeMs {
    TimeMs::now().saturating_sub_ms(3600 * 1000)
}

pub fn md(pairs: &[(&str, Value)]) -> Metadata {
    Metadata::from_pairs(pairs.iter().cloned())
}

pub fn node_at(id: &str, t: TimeMs, metadata: Metadata) -> Node {
    let mut n = Node::new(
        Id::from(id),
        metadata,
        SharedStr::from("agent1"),
        SharedStr::from("agent.agent1"),
    );
    n.created_at = t;
    n.updated_at = t;
    n
}

pub fn edge_at(id: &str, parent: &str, child: &str, t: TimeMs) -> Edge {
    let mut e = Edge::new(
        Id::from(id),
        Id::from(parent),
        Id::from(child),
        md(&[("RelationType", json!("ownership"))]),
        SharedStr::from("agent1"),
        SharedStr::from("agent.agent1"),
    );
    e.created_at = t;
    e.updated_at = t;
    e
}

/// Every node and edge revision, sorted: what two graphs or views are compared by.
#[derive(Debug, Clone, PartialEq)]
pub struct Contents {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

impl Contents {
    pub fn of_graph(g: &Graph) -> Self {
        Self::sorted(
            g.nodes().map(|n| (**n).clone()).collect(),
            g.edges().map(|e| (**e).clone()).collect(),
        )
    }

    pub fn of_view(v: &dyn GraphView) -> Self {
        Self::sorted(
            v.nodes().map(|n| (**n).clone()).collect(),
            v.edges().map(|e| (**e).clone()).collect(),
        )
    }

    pub fn sorted(mut nodes: Vec<Node>, mut edges: Vec<Edge>) -> Self {
        nodes.sort_by_key(order);
        edges.sort_by_key(order);
        Contents { nodes, edges }
    }

    pub fn node_ids(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.id.to_string()).collect()
    }
}

/// A total order of revisions: two lives of one element may share a revision number.
fn order<E: Element>(e: &E) -> impl Ord + use<E> {
    (
        e.id().clone(),
        e.revision(),
        e.deleted_at(),
        e.updated_at(),
        e.created_at(),
        serde_json::to_string(e.metadata()).unwrap(),
    )
}

pub fn view_at(store: &HistoryStore, t: TimeMs) -> Contents {
    Contents::of_view(&store.view(TimeSlice::at(t)).expect("view"))
}

pub fn view_slice(store: &HistoryStore, start: TimeMs, last: TimeMs) -> Contents {
    Contents::of_view(&store.view(TimeSlice { start, last }).expect("view"))
}

/// Waits until the wall clock has passed `t`, so that changes made next are later than `t`.
pub fn wait_past(t: TimeMs) {
    while TimeMs::now() <= t {
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
}
