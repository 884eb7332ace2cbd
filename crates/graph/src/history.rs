//! The graph as it was: a [`HistoryView`] holds every element revision alive in a time slice.
//!
//! This module knows nothing about where history is stored (`skydive-store` records changes
//! through [`crate::ChangeLog`] and builds views with [`HistoryViewBuilder`] or
//! [`HistoryView::from_revisions`]).

use std::collections::HashMap;
use std::sync::Arc;

use crate::{Edge, Graph, GraphOptions, Id, Node, TimeSlice};

/// The graph during a time slice. See [`crate::GraphView`] for how it answers.
#[derive(Debug)]
pub struct HistoryView {
    pub(crate) slice: TimeSlice,
    /// The latest revision of each element alive in the slice, with its adjacency and indexes.
    pub(crate) latest: Graph,
    /// Earlier revisions, also alive in the slice.
    pub(crate) older_nodes: Vec<Arc<Node>>,
    pub(crate) older_edges: Vec<Arc<Edge>>,
}

impl HistoryView {
    pub fn slice(&self) -> TimeSlice {
        self.slice
    }

    /// The latest revisions, as a plain graph (for whole-graph dumps).
    pub fn latest(&self) -> &Graph {
        &self.latest
    }
}

impl HistoryView {
    /// A view from revisions the caller has already sorted out: `latest` holds one revision
    /// per element (what `node()` and `edge()` answer), `older` every other revision alive in
    /// the slice. For a store that knows which revision came last: the revision number alone
    /// does not tell when an element was deleted and created again within the slice.
    pub fn from_revisions(
        slice: TimeSlice,
        indexed_keys: Vec<String>,
        latest: (Vec<Arc<Node>>, Vec<Arc<Edge>>),
        older: (Vec<Arc<Node>>, Vec<Arc<Edge>>),
    ) -> HistoryView {
        let mut opts = GraphOptions::new("", "");
        opts.indexed_keys = indexed_keys;
        opts.event_capacity = 1;
        let mut graph = Graph::new(opts);
        graph.reserve(latest.0.len(), latest.1.len());
        for n in latest.0 {
            graph.insert_node_raw(n);
        }
        for e in latest.1 {
            graph.insert_edge_raw(e);
        }
        HistoryView {
            slice,
            latest: graph,
            older_nodes: older.0,
            older_edges: older.1,
        }
    }
}

/// Collects revisions, in any order, into a [`HistoryView`].
#[derive(Debug)]
pub struct HistoryViewBuilder {
    slice: TimeSlice,
    indexed_keys: Vec<String>,
    nodes: HashMap<Id, Vec<Arc<Node>>>,
    edges: HashMap<Id, Vec<Arc<Edge>>>,
}

impl HistoryViewBuilder {
    pub fn new(slice: TimeSlice, indexed_keys: Vec<String>) -> Self {
        HistoryViewBuilder {
            slice,
            indexed_keys,
            nodes: HashMap::new(),
            edges: HashMap::new(),
        }
    }

    pub fn node(&mut self, n: Arc<Node>) {
        self.nodes.entry(n.id.clone()).or_default().push(n);
    }

    pub fn edge(&mut self, e: Arc<Edge>) {
        self.edges.entry(e.id.clone()).or_default().push(e);
    }

    pub fn build(self) -> HistoryView {
        let mut opts = GraphOptions::new("", "");
        opts.indexed_keys = self.indexed_keys;
        opts.event_capacity = 1;
        let mut latest = Graph::new(opts);
        let mut older_nodes = Vec::new();
        let mut older_edges = Vec::new();
        for (_, mut revs) in self.nodes {
            revs.sort_by_key(|n| n.revision);
            let last = revs.pop().expect("entry has one revision at least");
            latest.insert_node_raw(last);
            older_nodes.extend(revs);
        }
        for (_, mut revs) in self.edges {
            revs.sort_by_key(|e| e.revision);
            let last = revs.pop().expect("entry has one revision at least");
            latest.insert_edge_raw(last);
            older_edges.extend(revs);
        }
        HistoryView {
            slice: self.slice,
            latest,
            older_nodes,
            older_edges,
        }
    }
}
