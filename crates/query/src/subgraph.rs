//! The graph `SubGraph()` builds: a [`GraphView`] over a chosen set of nodes and the edges
//! among them, sharing the elements (`Arc`s) with the graph they came from — nothing is cloned.
//! It has no index, so `Has` after `SubGraph().V()` scans, which is fine at its size.

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexMap;
use skydive_graph::{Edge, GraphView, Id, IdRef, IndexValue, Node, TimeSlice};

type NodeIter<'a> = Box<dyn Iterator<Item = &'a Arc<Node>> + 'a>;
type EdgeIter<'a> = Box<dyn Iterator<Item = &'a Arc<Edge>> + 'a>;

/// A small graph made of shared elements; insertion order is kept so results are stable.
#[derive(Debug, Default)]
pub(crate) struct SubGraphView {
    nodes: IndexMap<Id, Arc<Node>>,
    edges: IndexMap<Id, Arc<Edge>>,
    adjacency: HashMap<Id, Vec<Arc<Edge>>>,
    slice: Option<TimeSlice>,
}

impl SubGraphView {
    /// The nodes, then the edges whose both ends are among them. The first revision of an
    /// element seen wins (a history view may hold several).
    pub(crate) fn build(
        nodes: impl IntoIterator<Item = Arc<Node>>,
        edges: impl IntoIterator<Item = Arc<Edge>>,
        slice: Option<TimeSlice>,
    ) -> Self {
        let mut g = SubGraphView {
            slice,
            ..Default::default()
        };
        for n in nodes {
            g.nodes.entry(n.id.clone()).or_insert(n);
        }
        for e in edges {
            let linked = g.nodes.contains_key(&e.parent) && g.nodes.contains_key(&e.child);
            if linked && !g.edges.contains_key(&e.id) {
                g.adjacency
                    .entry(e.parent.clone())
                    .or_default()
                    .push(e.clone());
                if e.child != e.parent {
                    g.adjacency
                        .entry(e.child.clone())
                        .or_default()
                        .push(e.clone());
                }
                g.edges.insert(e.id.clone(), e);
            }
        }
        g
    }
}

impl GraphView for SubGraphView {
    fn node(&self, id: IdRef<'_>) -> Option<&Arc<Node>> {
        self.nodes.get(&id.to_id())
    }
    fn edge(&self, id: IdRef<'_>) -> Option<&Arc<Edge>> {
        self.edges.get(&id.to_id())
    }
    fn nodes(&self) -> NodeIter<'_> {
        Box::new(self.nodes.values())
    }
    fn edges(&self) -> EdgeIter<'_> {
        Box::new(self.edges.values())
    }
    fn node_edges(&self, id: IdRef<'_>) -> EdgeIter<'_> {
        Box::new(self.adjacency.get(&id.to_id()).into_iter().flatten())
    }
    fn lookup(&self, _key: &str, _value: &IndexValue) -> Option<NodeIter<'_>> {
        None
    }
    fn lookup_count(&self, _key: &str, _value: &IndexValue) -> Option<usize> {
        None
    }
    fn node_count(&self) -> usize {
        self.nodes.len()
    }
    fn edge_count(&self) -> usize {
        self.edges.len()
    }
    fn time_slice(&self) -> Option<TimeSlice> {
        self.slice
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skydive_graph::{Metadata, SharedStr};

    fn node(id: &str) -> Arc<Node> {
        Arc::new(Node::new(
            Id::from(id),
            Metadata::new(),
            SharedStr::from("h"),
            SharedStr::from("o"),
        ))
    }

    fn edge(id: &str, p: &str, c: &str) -> Arc<Edge> {
        Arc::new(Edge::new(
            Id::from(id),
            Id::from(p),
            Id::from(c),
            Metadata::new(),
            SharedStr::from("h"),
            SharedStr::from("o"),
        ))
    }

    #[test]
    fn keeps_edges_among_its_nodes_only() {
        let g = SubGraphView::build(
            [node("a"), node("b"), node("a")],
            [
                edge("ab", "a", "b"),
                edge("bc", "b", "c"),
                edge("ab", "a", "b"),
            ],
            None,
        );
        assert_eq!((g.node_count(), g.edge_count()), (2, 1));
        assert_eq!(g.node_edges("b".into()).count(), 1);
        assert_eq!(g.node_edges("c".into()).count(), 0);
        assert!(g.lookup("Type", &IndexValue::Bool(true)).is_none());
    }
}
