//! Read-only access to a graph, live or as of a past time: what queries evaluate against.
//!
//! The live [`Graph`] and a [`HistoryView`] both implement [`GraphView`]. A history view over
//! a time slice may hold several revisions of one element; `node`/`edge` give the latest one,
//! `nodes`/`edges` every revision (Skydive's `At(t, d)` semantics).

use std::sync::Arc;

use crate::index::IndexValue;
use crate::{AsIdRef, Edge, Graph, HistoryView, IdRef, Node, TimeMs};

/// A closed time window `[start, last]`; a point in time has `start == last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeSlice {
    pub start: TimeMs,
    pub last: TimeMs,
}

impl TimeSlice {
    pub fn at(t: TimeMs) -> Self {
        TimeSlice { start: t, last: t }
    }

    /// Whether an element that lived from `created` to `deleted` (exclusive, `None` = still
    /// alive) overlaps this window.
    pub fn overlaps(&self, created: TimeMs, deleted: Option<TimeMs>) -> bool {
        created <= self.last && deleted.is_none_or(|d| d > self.start)
    }
}

type NodeIter<'a> = Box<dyn Iterator<Item = &'a Arc<Node>> + 'a>;
type EdgeIter<'a> = Box<dyn Iterator<Item = &'a Arc<Edge>> + 'a>;

/// A graph that can be queried.
pub trait GraphView: Send + Sync {
    /// The latest revision of node `id` in this view.
    fn node(&self, id: IdRef<'_>) -> Option<&Arc<Node>>;
    /// The latest revision of edge `id` in this view.
    fn edge(&self, id: IdRef<'_>) -> Option<&Arc<Edge>>;
    /// Every node revision in this view.
    fn nodes(&self) -> NodeIter<'_>;
    /// Every edge revision in this view.
    fn edges(&self) -> EdgeIter<'_>;
    /// Edges touching node `id` (latest revisions), both directions.
    fn node_edges(&self, id: IdRef<'_>) -> EdgeIter<'_>;
    /// Nodes whose indexed `key` holds `value`; `None` when `key` is not indexed.
    fn lookup(&self, key: &str, value: &IndexValue) -> Option<NodeIter<'_>>;
    /// How many nodes [`GraphView::lookup`] would yield, when that is cheap to know.
    fn lookup_count(&self, key: &str, value: &IndexValue) -> Option<usize>;
    fn node_count(&self) -> usize;
    fn edge_count(&self) -> usize;
    /// The time this view shows; `None` for the live graph.
    fn time_slice(&self) -> Option<TimeSlice>;
}

impl HistoryView {
    /// See [`GraphView::node`].
    pub fn node(&self, id: &(impl AsIdRef + ?Sized)) -> Option<&Arc<Node>> {
        self.latest.node(id)
    }
    /// See [`GraphView::edge`].
    pub fn edge(&self, id: &(impl AsIdRef + ?Sized)) -> Option<&Arc<Edge>> {
        self.latest.edge(id)
    }
    /// See [`GraphView::node_edges`].
    pub fn node_edges(&self, id: &(impl AsIdRef + ?Sized)) -> crate::NodeEdges<'_> {
        self.latest.node_edges(id)
    }
}

impl GraphView for Graph {
    fn node(&self, id: IdRef<'_>) -> Option<&Arc<Node>> {
        Graph::node(self, &id)
    }
    fn edge(&self, id: IdRef<'_>) -> Option<&Arc<Edge>> {
        Graph::edge(self, &id)
    }
    fn nodes(&self) -> NodeIter<'_> {
        Box::new(Graph::nodes(self))
    }
    fn edges(&self) -> EdgeIter<'_> {
        Box::new(Graph::edges(self))
    }
    fn node_edges(&self, id: IdRef<'_>) -> EdgeIter<'_> {
        Box::new(Graph::node_edges(self, &id))
    }
    fn lookup(&self, key: &str, value: &IndexValue) -> Option<NodeIter<'_>> {
        Graph::lookup(self, key, value).map(|it| Box::new(it) as NodeIter<'_>)
    }
    fn lookup_count(&self, key: &str, value: &IndexValue) -> Option<usize> {
        Graph::lookup_count(self, key, value)
    }
    fn node_count(&self) -> usize {
        Graph::node_count(self)
    }
    fn edge_count(&self) -> usize {
        Graph::edge_count(self)
    }
    fn time_slice(&self) -> Option<TimeSlice> {
        None
    }
}

impl GraphView for HistoryView {
    fn node(&self, id: IdRef<'_>) -> Option<&Arc<Node>> {
        self.latest.node(&id)
    }
    fn edge(&self, id: IdRef<'_>) -> Option<&Arc<Edge>> {
        self.latest.edge(&id)
    }
    fn nodes(&self) -> NodeIter<'_> {
        Box::new(self.latest.nodes().chain(self.older_nodes.iter()))
    }
    fn edges(&self) -> EdgeIter<'_> {
        Box::new(self.latest.edges().chain(self.older_edges.iter()))
    }
    fn node_edges(&self, id: IdRef<'_>) -> EdgeIter<'_> {
        Box::new(self.latest.node_edges(&id))
    }
    fn lookup(&self, key: &str, value: &IndexValue) -> Option<NodeIter<'_>> {
        let latest = self.latest.lookup(key, value)?;
        let value = value.clone();
        let key = key.to_owned();
        let older = self.older_nodes.iter().filter(move |n| {
            n.metadata
                .values_at(&key)
                .filter_map(IndexValue::from_json)
                .any(|v| v == value)
        });
        Some(Box::new(latest.chain(older)))
    }
    fn lookup_count(&self, key: &str, value: &IndexValue) -> Option<usize> {
        if self.older_nodes.is_empty() {
            self.latest.lookup_count(key, value)
        } else {
            None
        }
    }
    fn node_count(&self) -> usize {
        self.latest.node_count() + self.older_nodes.len()
    }
    fn edge_count(&self) -> usize {
        self.latest.edge_count() + self.older_edges.len()
    }
    fn time_slice(&self) -> Option<TimeSlice> {
        Some(self.slice)
    }
}
