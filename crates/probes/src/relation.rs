//! Typed edges between the agent's nodes, with Skydive's conventions (`topology/topology.go`):
//! every edge carries a `RelationType`; `ownership` (a child has at most one owner) and
//! `layer2` (L2 adjacency) are the two the topology probes create. Edge IDs are deterministic
//! ([`crate::tid::edge_id`]), so two probes that want the same edge converge on one element.
//!
//! These helpers run under the caller's graph write lock and never fail on a missing end: a
//! probe asks for the edges it wants and retries later the ones whose ends are not there yet.

use serde_json::Value;
use skydive_graph::{Graph, Id, Metadata};

use crate::tid::edge_id;

/// `RelationType` of an owner → owned edge.
pub const OWNERSHIP: &str = "ownership";
/// `RelationType` of a layer-2 adjacency.
pub const LAYER2: &str = "layer2";

/// One edge a probe wants: `parent` → `child` with `relation` and extra metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeSpec {
    pub id: Id,
    pub parent: Id,
    pub child: Id,
    pub relation: &'static str,
    /// Extra metadata besides `RelationType` (e.g. `Type: veth`).
    pub extra: Vec<(&'static str, Value)>,
}

impl EdgeSpec {
    pub fn new(parent: Id, child: Id, relation: &'static str) -> Self {
        EdgeSpec {
            id: edge_id(&parent, &child, relation),
            parent,
            child,
            relation,
            extra: Vec::new(),
        }
    }

    pub fn with(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.extra.push((key, value.into()));
        self
    }

    fn metadata(&self) -> Metadata {
        let mut m = Metadata::new();
        m.set("RelationType", Value::from(self.relation));
        for (k, v) in &self.extra {
            m.set(k, v.clone());
        }
        m
    }
}

/// What [`ensure_edge`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeOutcome {
    Created,
    Present,
    /// One end is not in the graph (yet): try again later.
    MissingEnd,
}

/// Makes sure the edge exists with the wanted metadata. An `ownership` edge replaces any other
/// ownership edge of the child (a node has one owner).
pub fn ensure_edge(g: &mut Graph, spec: &EdgeSpec) -> EdgeOutcome {
    if let Some(e) = g.edge(&spec.id) {
        let want = spec.metadata();
        if e.metadata != want {
            let _ = g.update_edge(&spec.id, |m| {
                for (k, v) in want.iter() {
                    m.set(k, v.clone());
                }
            });
        }
        return EdgeOutcome::Present;
    }
    if g.node(&spec.parent).is_none() || g.node(&spec.child).is_none() {
        return EdgeOutcome::MissingEnd;
    }
    if spec.relation == OWNERSHIP {
        let stale: Vec<Id> = g
            .node_edges(&spec.child)
            .filter(|e| {
                e.child == spec.child && e.metadata.get_str("RelationType") == Some(OWNERSHIP)
            })
            .map(|e| e.id.clone())
            .collect();
        for id in stale {
            let _ = g.delete_edge(&id);
        }
    }
    match g.create_edge(
        spec.id.clone(),
        spec.parent.clone(),
        spec.child.clone(),
        spec.metadata(),
    ) {
        Ok(_) => EdgeOutcome::Created,
        // Both ends were checked under the same lock: only a concurrent identical creation
        // (impossible under the lock) or an id clash could land here.
        Err(_) => EdgeOutcome::Present,
    }
}

/// Deletes an edge if it is still there.
pub fn remove_edge(g: &mut Graph, id: &Id) {
    if g.edge(id).is_some() {
        let _ = g.delete_edge(id);
    }
}

/// The nodes `root` owns, directly or not (children through `ownership` edges).
pub fn owned_subtree(g: &Graph, root: &Id) -> Vec<Id> {
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(id) = stack.pop() {
        for e in g.node_edges(&id) {
            if e.parent == id
                && e.metadata.get_str("RelationType") == Some(OWNERSHIP)
                && !out.contains(&e.child)
                && e.child != *root
            {
                out.push(e.child.clone());
                stack.push(e.child.clone());
            }
        }
    }
    out
}

/// Deletes `root` and every node it owns (deepest first); edges go with their nodes.
pub fn delete_subtree(g: &mut Graph, root: &Id) -> usize {
    let mut nodes = owned_subtree(g, root);
    nodes.reverse();
    let mut n = 0;
    for id in nodes {
        n += usize::from(g.delete_node(&id).is_ok());
    }
    n + usize::from(g.delete_node(root).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use skydive_graph::{GraphOptions, gen_id};

    fn node(g: &mut Graph, name: &str) -> Id {
        let id = gen_id(&[name]);
        g.create_node(id.clone(), Metadata::from_pairs([("Name", json!(name))]))
            .unwrap();
        id
    }

    #[test]
    fn ownership_replaces_previous_owner_and_subtree_deletes() {
        let mut g = Graph::new(GraphOptions::new("h", "agent.h"));
        let (a, b, c, d) = (
            node(&mut g, "a"),
            node(&mut g, "b"),
            node(&mut g, "c"),
            node(&mut g, "d"),
        );
        assert_eq!(
            ensure_edge(&mut g, &EdgeSpec::new(a.clone(), c.clone(), OWNERSHIP)),
            EdgeOutcome::Created
        );
        assert_eq!(
            ensure_edge(&mut g, &EdgeSpec::new(a.clone(), c.clone(), OWNERSHIP)),
            EdgeOutcome::Present
        );
        assert_eq!(
            ensure_edge(&mut g, &EdgeSpec::new(b.clone(), c.clone(), OWNERSHIP)),
            EdgeOutcome::Created
        );
        assert_eq!(g.edge_count(), 1, "c has one owner");
        ensure_edge(&mut g, &EdgeSpec::new(c.clone(), d.clone(), OWNERSHIP));
        let l2 = EdgeSpec::new(a.clone(), d.clone(), LAYER2).with("Type", "veth");
        ensure_edge(&mut g, &l2);
        assert_eq!(
            g.edge(&l2.id).unwrap().metadata.get_str("Type"),
            Some("veth")
        );
        assert_eq!(
            ensure_edge(&mut g, &EdgeSpec::new(a.clone(), gen_id(&["x"]), LAYER2)),
            EdgeOutcome::MissingEnd
        );
        assert_eq!(owned_subtree(&g, &b), vec![c.clone(), d.clone()]);
        assert_eq!(delete_subtree(&mut g, &b), 3);
        assert!(g.node(&a).is_some());
        assert_eq!(g.edge_count(), 0);
    }
}
