//! Property test: random sequences of graph changes, checked against an oracle.
//!
//! The oracle is twofold: copies of the live graph taken at chosen times (what a point view
//! must equal), and a naive model of revision lifetimes computed from every recorded event
//! (what a slice view must equal). The same sequence goes to two stores, one checkpointing at
//! random points and one never: their answers must be identical (checkpoint + replay equals
//! full replay), and identical again after both are closed and reopened.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use serde_json::json;
use skydive_graph::{
    ChangeLog, Edge, Graph, GraphEvent, GraphOptions, MetadataOp, Node, TimeMs, TimeSlice,
};
use skydive_store::HistoryStore;

use crate::common::*;

const NODES: u8 = 5;

#[derive(Debug, Clone)]
enum Op {
    AddNode(u8),
    SetValue(u8, i64),
    ReplaceNode(u8, i64),
    DeleteNode(u8),
    AddEdge(u8, u8),
    SetEdgeValue(u8, u8, i64),
    DeleteEdge(u8, u8),
    /// Copy the live graph as the expected view at the current time.
    Snapshot,
    /// Take a checkpoint in the checkpointing store.
    Checkpoint,
}

fn op() -> impl Strategy<Value = Op> {
    let n = 0..NODES;
    prop_oneof![
        3 => n.clone().prop_map(Op::AddNode),
        3 => (n.clone(), 0..4i64).prop_map(|(i, v)| Op::SetValue(i, v)),
        1 => (n.clone(), 0..4i64).prop_map(|(i, v)| Op::ReplaceNode(i, v)),
        2 => n.clone().prop_map(Op::DeleteNode),
        3 => (n.clone(), n.clone()).prop_map(|(a, b)| Op::AddEdge(a, b)),
        1 => (n.clone(), n.clone(), 0..4i64).prop_map(|(a, b, v)| Op::SetEdgeValue(a, b, v)),
        1 => (n.clone(), n.clone()).prop_map(|(a, b)| Op::DeleteEdge(a, b)),
        2 => Just(Op::Snapshot),
        1 => Just(Op::Checkpoint),
    ]
}

/// Forwards every event to the store and keeps a copy with its time (the oracle's input).
struct Tee {
    store: Arc<dyn ChangeLog>,
    events: Mutex<Vec<GraphEvent>>,
}

impl ChangeLog for Tee {
    fn record(&self, ev: &GraphEvent) {
        self.events.lock().unwrap().push(ev.clone());
        self.store.record(ev);
    }
}

/// Applies `op` at time `t`; only valid operations change anything.
fn apply(g: &mut Graph, op: &Op, t: TimeMs) {
    let nid = |i: u8| format!("n{i}");
    let eid = |a: u8, b: u8| format!("e{a}-{b}");
    match *op {
        Op::AddNode(i) if g.node(&nid(i)).is_none() => {
            g.add_node(node_at(
                &nid(i),
                t,
                md(&[("Name", json!(nid(i))), ("V", json!(0))]),
            ))
            .unwrap();
        }
        Op::SetValue(i, v) => {
            if let Some(rev) = g.node(&nid(i)).map(|n| n.revision) {
                g.apply_node_ops(&nid(i), rev + 1, t, &[MetadataOp::add("V", json!(v))])
                    .unwrap();
            }
        }
        Op::ReplaceNode(i, v) => {
            if let Some(old) = g.node(&nid(i)).cloned() {
                let mut n = Node::clone(&old);
                n.metadata = md(&[("Name", json!(nid(i))), ("W", json!(v))]);
                n.revision += 1;
                n.updated_at = t;
                g.upsert_node(n).unwrap();
            }
        }
        Op::DeleteNode(i) if g.node(&nid(i)).is_some() => {
            g.delete_node_at(&nid(i), t).unwrap();
        }
        Op::AddEdge(a, b)
            if g.node(&nid(a)).is_some()
                && g.node(&nid(b)).is_some()
                && g.edge(&eid(a, b)).is_none() =>
        {
            g.add_edge(edge_at(&eid(a, b), &nid(a), &nid(b), t))
                .unwrap();
        }
        Op::SetEdgeValue(a, b, v) => {
            if let Some(rev) = g.edge(&eid(a, b)).map(|e| e.revision) {
                g.apply_edge_ops(&eid(a, b), rev + 1, t, &[MetadataOp::add("V", json!(v))])
                    .unwrap();
            }
        }
        Op::DeleteEdge(a, b) if g.edge(&eid(a, b)).is_some() => {
            g.delete_edge_at(&eid(a, b), t).unwrap();
        }
        _ => {}
    }
}

/// The naive slice model: each element's revisions with the time each was replaced (by a
/// later revision or a deletion), straight from the event list.
/// What a slice view must hold, and which revision of each node it must call the latest.
struct ExpectedSlice {
    contents: Contents,
    latest_nodes: HashMap<String, Node>,
}

fn expected_slice(events: &[GraphEvent], start: TimeMs, last: TimeMs) -> ExpectedSlice {
    #[derive(Clone)]
    enum Rev {
        N(Arc<Node>),
        E(Arc<Edge>),
    }
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    // Revisions are kept in the order their lives end, so the last kept is the latest.
    let mut latest_nodes = HashMap::new();
    let mut keep = |r: Rev| match r {
        Rev::N(n) => {
            latest_nodes.insert(n.id.to_string(), Node::clone(&n));
            nodes.push(Node::clone(&n))
        }
        Rev::E(e) => edges.push(Edge::clone(&e)),
    };
    let mut current: HashMap<(bool, String), (Rev, TimeMs)> = Default::default();
    for ev in events {
        let (key, rev, time, deleted) = match ev {
            GraphEvent::NodeDeleted(n) => (
                (true, n.id.to_string()),
                Rev::N(n.clone()),
                n.deleted_at.unwrap(),
                true,
            ),
            GraphEvent::EdgeDeleted(e) => (
                (false, e.id.to_string()),
                Rev::E(e.clone()),
                e.deleted_at.unwrap(),
                true,
            ),
            _ => match (ev.node(), ev.edge()) {
                (Some(n), _) => (
                    (true, n.id.to_string()),
                    Rev::N(n.clone()),
                    n.updated_at,
                    false,
                ),
                (_, Some(e)) => (
                    (false, e.id.to_string()),
                    Rev::E(e.clone()),
                    e.updated_at,
                    false,
                ),
                _ => unreachable!(),
            },
        };
        // The revision this event ends lived in [since, time).
        if let Some((prev, since)) = current.remove(&key)
            && since <= last
            && time > start
            && !(deleted && time <= last)
        {
            keep(prev);
        }
        if deleted {
            if time > start && time <= last {
                keep(rev);
            }
        } else {
            current.insert(key, (rev, time));
        }
    }
    for (rev, since) in current.into_values() {
        if since <= last {
            keep(rev);
        }
    }
    ExpectedSlice {
        contents: Contents::sorted(nodes, edges),
        latest_nodes,
    }
}

fn check_slice(
    store: &HistoryStore,
    slice: TimeSlice,
    expected: &ExpectedSlice,
    which: &str,
) -> Result<(), TestCaseError> {
    let view = store.view(slice).unwrap();
    prop_assert_eq!(
        &Contents::of_view(&view),
        &expected.contents,
        "slice {:?} ({})",
        slice,
        which
    );
    for (id, n) in &expected.latest_nodes {
        prop_assert_eq!(
            view.node(id).map(|v| &**v),
            Some(n),
            "latest of {} in {:?}",
            id,
            slice
        );
    }
    Ok(())
}

fn run(ops: Vec<(Op, u8)>) -> Result<(), TestCaseError> {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (store_a, store_b) = (open(&dir_a), open(&dir_b));
    let tee = Arc::new(Tee {
        store: store_a.changelog(),
        events: Mutex::default(),
    });
    let mut ga = Graph::new(GraphOptions::new("h1", "analyzer.h1"));
    ga.set_changelog(tee.clone());
    let mut gb = graph(&store_b);

    let mut t = base_time();
    let mut snapshots: Vec<(TimeMs, Contents)> =
        vec![(TimeMs(t.0 - 1), Contents::sorted(vec![], vec![]))];
    for (op, step) in &ops {
        t = TimeMs(t.0 + i64::from(*step));
        match op {
            Op::Snapshot => {
                snapshots.push((t, Contents::of_graph(&ga)));
                // Changes made next must be later than the snapshot.
                t = TimeMs(t.0 + 1);
            }
            Op::Checkpoint => {
                store_a.checkpoint_now().unwrap();
            }
            op => {
                apply(&mut ga, op, t);
                apply(&mut gb, op, t);
            }
        }
    }
    snapshots.push((t, Contents::of_graph(&ga)));
    store_a.flush().unwrap();
    store_b.flush().unwrap();
    let events = tee.events.lock().unwrap().clone();
    let live = Contents::of_graph(&ga);

    let check = |a: &HistoryStore, b: &HistoryStore| -> Result<(), TestCaseError> {
        for (at, expected) in &snapshots {
            prop_assert_eq!(
                &view_at(a, *at),
                expected,
                "point view at {:?} (checkpointing store)",
                at
            );
            prop_assert_eq!(
                &view_at(b, *at),
                expected,
                "point view at {:?} (no checkpoints)",
                at
            );
        }
        for w in snapshots.windows(2) {
            for (s, l) in [
                (w[0].0, w[1].0),
                (snapshots[0].0, w[1].0),
                (w[0].0, TimeMs(w[1].0.0 + 1)),
            ] {
                let expected = expected_slice(&events, s, l);
                let slice = TimeSlice { start: s, last: l };
                check_slice(a, slice, &expected, "checkpointing")?;
                check_slice(b, slice, &expected, "no checkpoints")?;
            }
        }
        let (nodes, edges) = a.last_state().unwrap();
        prop_assert_eq!(&Contents::sorted(nodes, edges), &live);
        prop_assert_eq!(a.last_state().unwrap(), b.last_state().unwrap());
        Ok(())
    };
    check(&store_a, &store_b)?;

    // Everything again after a restart of both.
    drop((ga, gb, tee));
    store_a.close().unwrap();
    store_b.close().unwrap();
    let (store_a, store_b) = (open(&dir_a), open(&dir_b));
    check(&store_a, &store_b)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn views_match_the_live_graph_and_a_naive_model(ops in proptest::collection::vec((op(), 0u8..3), 1..80)) {
        run(ops)?;
    }
}
