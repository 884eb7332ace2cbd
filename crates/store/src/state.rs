//! The elements alive at one position of the log: what a checkpoint holds and what replaying
//! the log keeps up to date.

use std::sync::Arc;

use skydive_graph::{Edge, FastMap, Id, Node};

use crate::codec::Revision;

/// Alive nodes and edges by id: the latest revision of each.
#[derive(Debug, Default)]
pub(crate) struct AliveSet {
    pub nodes: FastMap<Id, Arc<Node>>,
    pub edges: FastMap<Id, Arc<Edge>>,
}

impl AliveSet {
    /// Makes room for `n` more elements (most of them nodes).
    pub fn reserve(&mut self, n: usize) {
        self.nodes.reserve(n / 2);
        self.edges.reserve(n / 2);
    }

    pub fn contains(&self, is_node: bool, id: &str) -> bool {
        let id = Id::new(id);
        if is_node {
            self.nodes.contains_key(&id)
        } else {
            self.edges.contains_key(&id)
        }
    }

    pub fn insert(&mut self, rev: Revision) {
        match rev {
            Revision::Node(n) => {
                self.nodes.insert(n.id.clone(), n);
            }
            Revision::Edge(e) => {
                self.edges.insert(e.id.clone(), e);
            }
        }
    }

    /// Points each edge's `Parent` and `Child` at its nodes' own ids instead of copies. A UUID
    /// id is a 16-byte value and gains nothing; an id of any other text shares its allocation.
    pub fn share_edge_ends(&mut self) {
        let AliveSet { nodes, edges } = self;
        for e in edges.values_mut() {
            // Only freshly decoded edges: one shared elsewhere keeps its strings.
            let Some(e) = Arc::get_mut(e) else { continue };
            if let Some((id, _)) = nodes.get_key_value(&e.parent) {
                e.parent = id.clone();
            }
            if let Some((id, _)) = nodes.get_key_value(&e.child) {
                e.child = id.clone();
            }
        }
    }
}
