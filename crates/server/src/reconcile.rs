//! Applying an agent's messages to the analyzer's graph: every element takes the agent's
//! origin (`agent.<host_id>`), a sync is reconciled against what the graph holds for that
//! origin, and deltas are applied in the order they arrive.
//!
//! Reconciling, not replacing: an element the sync names is added if missing, replaced if its
//! metadata (or host, or an edge's ends) differ, and left alone if equal, so a resync of an
//! unchanged graph writes nothing to history; at the end, what the sync did not name is
//! deleted. Skydive instead deleted the whole origin and added it back, which recorded every
//! element twice in history at each reconnection.
//!
//! Revisions: the agent's stream is ordered (one WebSocket), so its updates are applied
//! without Skydive's "newer revision" test, which would refuse every update after an agent
//! restart (its revisions start again at 1). The stored revision is
//! `max(stored + 1, agent's)`: it never goes backwards for subscribers and history.
//!
//! An agent may only change elements of its own origin; anything else is refused. Plain
//! functions over `&mut Graph`: callers hold the write lock, never across an `.await`.

use skydive_graph::{FastSet, Graph, GraphError, Id, TimeMs};

use crate::validate::{Defaults, WireElement, check_id};
use crate::ws::envelope::PartialUpdate;

/// What an applied element did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Added,
    Updated,
    Unchanged,
    /// A deletion of something already gone.
    Absent,
}

/// Why an element was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    pub message: String,
    /// The analyzer's copy no longer matches the agent's (an update of a missing element, an
    /// edge to a missing node): only a full sync repairs that.
    pub diverged: bool,
}

impl Refused {
    fn invalid(message: impl Into<String>) -> Self {
        Refused {
            message: message.into(),
            diverged: false,
        }
    }

    fn diverged(message: impl Into<String>) -> Self {
        Refused {
            message: message.into(),
            diverged: true,
        }
    }
}

/// Who writes: the agent's origin and host id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Writer<'a> {
    pub origin: &'a str,
    pub host: &'a str,
}

impl<'a> Writer<'a> {
    fn defaults(&self) -> Defaults<'a> {
        Defaults {
            host: self.host,
            origin: self.origin,
            force_origin: true,
            now: TimeMs::now(),
        }
    }

    fn foreign(&self, what: &str, id: &Id, owner: &str) -> Refused {
        Refused::invalid(format!(
            "{what} `{id}` belongs to origin `{owner}`, not `{}`: an agent only writes its own elements",
            self.origin
        ))
    }
}

/// Adds or replaces a node (sync, `NodeAdded`, `NodeUpdated`).
pub(crate) fn put_node(
    g: &mut Graph,
    w: Writer<'_>,
    wire: WireElement,
    seen: Option<&mut FastSet<Id>>,
) -> Result<Outcome, Refused> {
    let mut node = wire
        .into_node(w.defaults())
        .map_err(|e| Refused::invalid(e.0))?;
    if let Some(seen) = seen {
        seen.insert(node.id.clone());
    }
    let Some(cur) = g.node(&node.id) else {
        return g
            .add_node(node)
            .map(|_| Outcome::Added)
            .map_err(|e| Refused::invalid(e.to_string()));
    };
    if *cur.origin != *w.origin {
        return Err(w.foreign("node", &node.id, &cur.origin));
    }
    if cur.metadata == node.metadata && cur.host == node.host {
        return Ok(Outcome::Unchanged);
    }
    node.revision = node.revision.max(cur.revision + 1);
    node.created_at = cur.created_at;
    node.updated_at = node.updated_at.max(cur.updated_at);
    g.upsert_node(node)
        .map(|_| Outcome::Updated)
        .map_err(|e| Refused::invalid(e.to_string()))
}

/// Adds or replaces an edge (sync, `EdgeAdded`, `EdgeUpdated`); an edge whose ends changed
/// is moved.
pub(crate) fn put_edge(
    g: &mut Graph,
    w: Writer<'_>,
    wire: WireElement,
    seen: Option<&mut FastSet<Id>>,
) -> Result<Outcome, Refused> {
    let mut edge = wire
        .into_edge(w.defaults())
        .map_err(|e| Refused::invalid(e.0))?;
    if let Some(seen) = seen {
        seen.insert(edge.id.clone());
    }
    for end in [&edge.parent, &edge.child] {
        if g.node(end).is_none() {
            return Err(Refused::diverged(format!(
                "edge `{}` refers to node `{end}`, which the analyzer does not have",
                edge.id
            )));
        }
    }
    let Some(cur) = g.edge(&edge.id) else {
        return g
            .add_edge(edge)
            .map(|_| Outcome::Added)
            .map_err(|e| Refused::invalid(e.to_string()));
    };
    if *cur.origin != *w.origin {
        return Err(w.foreign("edge", &edge.id, &cur.origin));
    }
    if cur.metadata == edge.metadata
        && cur.host == edge.host
        && cur.parent == edge.parent
        && cur.child == edge.child
    {
        return Ok(Outcome::Unchanged);
    }
    edge.revision = edge.revision.max(cur.revision + 1);
    edge.created_at = cur.created_at;
    edge.updated_at = edge.updated_at.max(cur.updated_at);
    g.upsert_edge(edge)
        .map(|_| Outcome::Updated)
        .map_err(|e| Refused::invalid(e.to_string()))
}

fn check_ops(p: &PartialUpdate, what: &str) -> Result<Id, Refused> {
    let id = check_id(Some(&p.id), what, "ID").map_err(|e| Refused::invalid(e.0))?;
    if let Some(op) = p.ops.iter().find(|op| op.key.is_empty()) {
        return Err(Refused::invalid(format!(
            "partial update of {what} `{id}` has an operation with an empty Key ({op:?})"
        )));
    }
    Ok(id)
}

/// `NodePartiallyUpdated`.
pub(crate) fn patch_node(
    g: &mut Graph,
    w: Writer<'_>,
    p: &PartialUpdate,
) -> Result<Outcome, Refused> {
    let id = check_ops(p, "node")?;
    let Some(cur) = g.node(&id) else {
        return Err(Refused::diverged(format!(
            "partial update of node `{id}`, which the analyzer does not have"
        )));
    };
    if *cur.origin != *w.origin {
        return Err(w.foreign("node", &id, &cur.origin));
    }
    let revision = p.revision.max(cur.revision + 1);
    let at = TimeMs(p.updated_at).max(cur.updated_at);
    g.apply_node_ops(&id, revision, at, &p.ops)
        .map(|_| Outcome::Updated)
        .map_err(|e| Refused::invalid(e.to_string()))
}

/// `EdgePartiallyUpdated`.
pub(crate) fn patch_edge(
    g: &mut Graph,
    w: Writer<'_>,
    p: &PartialUpdate,
) -> Result<Outcome, Refused> {
    let id = check_ops(p, "edge")?;
    let Some(cur) = g.edge(&id) else {
        return Err(Refused::diverged(format!(
            "partial update of edge `{id}`, which the analyzer does not have"
        )));
    };
    if *cur.origin != *w.origin {
        return Err(w.foreign("edge", &id, &cur.origin));
    }
    let revision = p.revision.max(cur.revision + 1);
    let at = TimeMs(p.updated_at).max(cur.updated_at);
    g.apply_edge_ops(&id, revision, at, &p.ops)
        .map(|_| Outcome::Updated)
        .map_err(|e| Refused::invalid(e.to_string()))
}

fn deleted_at(wire: &WireElement) -> TimeMs {
    wire.deleted_at
        .filter(|t| *t > 0)
        .map(TimeMs)
        .unwrap_or_else(TimeMs::now)
}

/// `NodeDeleted` (its edges go with it); deleting a node already gone is not an error.
pub(crate) fn delete_node(
    g: &mut Graph,
    w: Writer<'_>,
    wire: &WireElement,
) -> Result<Outcome, Refused> {
    let id = check_id(wire.id.as_deref(), "node", "ID").map_err(|e| Refused::invalid(e.0))?;
    let Some(cur) = g.node(&id) else {
        return Ok(Outcome::Absent);
    };
    if *cur.origin != *w.origin {
        return Err(w.foreign("node", &id, &cur.origin));
    }
    match g.delete_node_at(&id, deleted_at(wire)) {
        Ok(_) => Ok(Outcome::Updated),
        Err(GraphError::NodeNotFound(_)) => Ok(Outcome::Absent),
        Err(e) => Err(Refused::invalid(e.to_string())),
    }
}

/// `EdgeDeleted`; deleting an edge already gone (its node went first) is not an error.
pub(crate) fn delete_edge(
    g: &mut Graph,
    w: Writer<'_>,
    wire: &WireElement,
) -> Result<Outcome, Refused> {
    let id = check_id(wire.id.as_deref(), "edge", "ID").map_err(|e| Refused::invalid(e.0))?;
    let Some(cur) = g.edge(&id) else {
        return Ok(Outcome::Absent);
    };
    if *cur.origin != *w.origin {
        return Err(w.foreign("edge", &id, &cur.origin));
    }
    match g.delete_edge_at(&id, deleted_at(wire)) {
        Ok(_) => Ok(Outcome::Updated),
        Err(GraphError::EdgeNotFound(_)) => Ok(Outcome::Absent),
        Err(e) => Err(Refused::invalid(e.to_string())),
    }
}

/// The end of a sync: deletes every element of `origin` the sync did not name (edges first).
/// Returns how many elements were deleted.
pub(crate) fn sweep(
    g: &mut Graph,
    origin: &str,
    seen_nodes: &FastSet<Id>,
    seen_edges: &FastSet<Id>,
) -> u64 {
    // Only the origin's own elements are looked at (the graph keeps them by origin): a scan
    // of the whole graph under the write lock, once per agent, made many agents' syncs
    // quadratic.
    let at = TimeMs::now();
    let edges: Vec<Id> = g
        .edges_of(origin)
        .filter(|e| !seen_edges.contains(&e.id))
        .map(|e| e.id.clone())
        .collect();
    let nodes: Vec<Id> = g
        .nodes_of(origin)
        .filter(|n| !seen_nodes.contains(&n.id))
        .map(|n| n.id.clone())
        .collect();
    let mut n = 0;
    for id in &edges {
        n += u64::from(g.delete_edge_at(id, at).is_ok());
    }
    for id in &nodes {
        n += u64::from(g.delete_node_at(id, at).is_ok());
    }
    n
}

/// Origins of agents among the elements of `g` (restored from history at start).
pub(crate) fn agent_origins(g: &Graph) -> Vec<String> {
    let mut set: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    for o in g
        .nodes()
        .map(|n| &n.origin)
        .chain(g.edges().map(|e| &e.origin))
    {
        if o.starts_with("agent.") && !set.contains(&**o) {
            set.insert(o.to_string());
        }
    }
    set.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use skydive_graph::{GraphEvent, GraphOptions, Received};

    const W: Writer<'static> = Writer {
        origin: "agent.h1",
        host: "h1",
    };

    fn wire(v: serde_json::Value) -> WireElement {
        serde_json::from_value(v).unwrap()
    }

    fn node(id: &str, rev: i64, mtu: i64) -> WireElement {
        wire(
            json!({"ID": id, "Revision": rev, "Metadata": {"Name": id, "Type": "device", "MTU": mtu}}),
        )
    }

    fn edge(id: &str, p: &str, c: &str) -> WireElement {
        wire(
            json!({"ID": id, "Parent": p, "Child": c, "Revision": 1, "Metadata": {"RelationType": "layer2"}}),
        )
    }

    fn events(sub: &mut skydive_graph::Subscription) -> Vec<&'static str> {
        let mut out = Vec::new();
        while let Some(Received::Event(ev)) = sub.try_recv() {
            out.push(GraphEvent::message_type(&ev));
        }
        out
    }

    #[test]
    fn resync_of_an_unchanged_graph_changes_nothing() {
        let mut g = Graph::new(GraphOptions::new("an", "analyzer.an"));
        let mut sub = g.bus().subscribe();
        let (mut sn, mut se) = (FastSet::default(), FastSet::default());
        for id in ["a", "b"] {
            assert_eq!(
                put_node(&mut g, W, node(id, 3, 1500), Some(&mut sn)),
                Ok(Outcome::Added)
            );
        }
        assert_eq!(
            put_edge(&mut g, W, edge("e", "a", "b"), Some(&mut se)),
            Ok(Outcome::Added)
        );
        assert_eq!(sweep(&mut g, "agent.h1", &sn, &se), 0);
        assert_eq!(events(&mut sub).len(), 3);
        assert_eq!(&*g.node("a").unwrap().origin, "agent.h1");

        // The agent restarted: revisions start again at 1, one MTU changed, `b` is gone.
        let (mut sn, mut se) = (FastSet::default(), FastSet::default());
        assert_eq!(
            put_node(&mut g, W, node("a", 1, 1500), Some(&mut sn)),
            Ok(Outcome::Unchanged)
        );
        assert_eq!(
            put_node(&mut g, W, node("c", 1, 9000), Some(&mut sn)),
            Ok(Outcome::Added)
        );
        let _ = &mut se;
        assert_eq!(sweep(&mut g, "agent.h1", &sn, &se), 2, "edge e and node b");
        assert_eq!(
            events(&mut sub),
            ["NodeAdded", "EdgeDeleted", "NodeDeleted"]
        );
        let a = g.node("a").unwrap();
        assert_eq!(a.revision, 3, "unchanged: no new revision");

        // Later updates with low revisions still apply, and revisions keep growing.
        assert_eq!(
            put_node(&mut g, W, node("a", 2, 1400), None),
            Ok(Outcome::Updated)
        );
        assert_eq!(g.node("a").unwrap().revision, 4);
        let p = PartialUpdate {
            id: "a".into(),
            updated_at: 0,
            revision: 3,
            ops: vec![skydive_graph::MetadataOp::add("MTU", json!(1300))],
        };
        assert_eq!(patch_node(&mut g, W, &p), Ok(Outcome::Updated));
        let a = g.node("a").unwrap();
        assert_eq!((a.revision, a.metadata.get_i64("MTU")), (5, Some(1300)));
    }

    #[test]
    fn other_origins_are_untouchable_and_divergence_is_flagged() {
        let mut g = Graph::new(GraphOptions::new("an", "analyzer.an"));
        g.create_node(
            Id::from("api-node"),
            skydive_graph::Metadata::from_pairs([("Name", json!("x")), ("Type", json!("t"))]),
        )
        .unwrap();
        let e = put_node(&mut g, W, node("api-node", 9, 1), None).unwrap_err();
        assert!(!e.diverged);
        assert!(
            e.message.contains("belongs to origin `analyzer.an`"),
            "{e:?}"
        );
        let e = delete_node(&mut g, W, &node("api-node", 1, 1)).unwrap_err();
        assert!(e.message.contains("only writes its own"), "{e:?}");
        let e = put_edge(&mut g, W, edge("e", "api-node", "missing"), None).unwrap_err();
        assert!(e.diverged, "{e:?}");
        let p = PartialUpdate {
            id: "missing".into(),
            updated_at: 0,
            revision: 1,
            ops: vec![],
        };
        assert!(patch_node(&mut g, W, &p).unwrap_err().diverged);
        assert_eq!(
            delete_edge(&mut g, W, &edge("gone", "a", "b")),
            Ok(Outcome::Absent)
        );
        let e = put_node(
            &mut g,
            W,
            wire(json!({"ID": "n", "Metadata": {"Name": "n"}})),
            None,
        )
        .unwrap_err();
        assert!(e.message.contains("Metadata.Type"), "{e:?}");
    }

    #[test]
    fn edges_move_and_origins_are_listed() {
        let mut g = Graph::new(GraphOptions::new("an", "analyzer.an"));
        for id in ["a", "b", "c"] {
            put_node(&mut g, W, node(id, 1, 1), None).unwrap();
        }
        put_edge(&mut g, W, edge("e", "a", "b"), None).unwrap();
        assert_eq!(
            put_edge(&mut g, W, edge("e", "a", "c"), None),
            Ok(Outcome::Updated)
        );
        assert_eq!(g.edge("e").unwrap().child, "c");
        assert_eq!(agent_origins(&g), ["agent.h1"]);
    }
}
