//! The elements alive at one position of the log: what a checkpoint holds and what replaying
//! the log keeps up to date.

use std::collections::HashMap;
use std::sync::Arc;

use skydive_graph::{Edge, Id, Node};

use crate::codec::{Change, Record, Revision};

/// Alive nodes and edges by id: the latest revision of each.
#[derive(Debug, Default)]
pub(crate) struct AliveSet {
    pub nodes: HashMap<Id, Arc<Node>>,
    pub edges: HashMap<Id, Arc<Edge>>,
}

impl AliveSet {
    pub fn with_capacity(nodes: usize, edges: usize) -> Self {
        AliveSet {
            nodes: HashMap::with_capacity(nodes),
            edges: HashMap::with_capacity(edges),
        }
    }

    /// Applies one change. Each record carries the whole revision, so a change whose
    /// predecessor is missing (lost, or dropped by retention) still leaves the right state.
    pub fn apply(&mut self, rec: Record) {
        match (rec.change, rec.rev) {
            (Change::Deleted, Revision::Node(n)) => {
                self.nodes.remove(&n.id);
            }
            (Change::Deleted, Revision::Edge(e)) => {
                self.edges.remove(&e.id);
            }
            (_, rev) => self.insert(rev),
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

    /// Every alive revision, nodes first (a reader re-adding them needs an edge's ends first).
    pub fn revisions(&self) -> impl Iterator<Item = Revision> + '_ {
        let nodes = self.nodes.values().map(|n| Revision::Node(n.clone()));
        nodes.chain(self.edges.values().map(|e| Revision::Edge(e.clone())))
    }
}
