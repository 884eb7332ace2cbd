//! Engine behaviour: revisions, transactions, cascading deletes, origins, events, indexes.

use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::*;

fn md(pairs: &[(&str, serde_json::Value)]) -> Metadata {
    Metadata::from_pairs(pairs.iter().cloned())
}

fn graph() -> Graph {
    Graph::new(GraphOptions::new("h1", "analyzer.h1"))
}

fn id(s: &str) -> Id {
    Id::from(s)
}

#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl ChangeLog for Recorder {
    fn record(&self, ev: &GraphEvent) {
        let what = ev
            .node()
            .map(|n| n.id.to_string())
            .or_else(|| ev.edge().map(|e| e.id.to_string()));
        self.0.lock().unwrap().push(format!(
            "{} {}",
            ev.message_type(),
            what.unwrap_or_default()
        ));
    }
}

#[test]
fn transaction_is_one_revision_and_one_event() {
    let mut g = graph();
    let log = Arc::new(Recorder::default());
    g.set_changelog(log.clone());
    g.create_node(id("n"), md(&[("Name", json!("eth0"))]))
        .unwrap();
    let n = g
        .update_node("n", |m| {
            m.set("MTU", json!(1500));
            m.set("State", json!("UP"));
        })
        .unwrap();
    assert_eq!(n.revision, 2);
    assert_eq!(n.metadata.get("MTU"), Some(&json!(1500)));
    // An update that changes nothing is not an event and not a revision.
    let same = g.set_node_metadata("n", "MTU", json!(1500)).unwrap();
    assert_eq!(same.revision, 2);
    assert_eq!(
        *log.0.lock().unwrap(),
        vec!["NodeAdded n", "NodePartiallyUpdated n"]
    );
}

#[test]
fn deleting_a_node_deletes_its_edges_first() {
    let mut g = graph();
    let log = Arc::new(Recorder::default());
    g.set_changelog(log.clone());
    for n in ["a", "b", "c"] {
        g.create_node(id(n), md(&[("Name", json!(n))])).unwrap();
    }
    g.create_edge(id("ab"), id("a"), id("b"), Metadata::new())
        .unwrap();
    g.create_edge(id("cb"), id("c"), id("b"), Metadata::new())
        .unwrap();
    let deleted = g.delete_node("b").unwrap();
    assert!(deleted.deleted_at.is_some());
    assert_eq!(g.edge_count(), 0);
    assert_eq!(g.node_edges("a").count(), 0);
    let events = log.0.lock().unwrap().clone();
    assert_eq!(&events[events.len() - 1], "NodeDeleted b");
    assert!(
        events.contains(&"EdgeDeleted ab".to_string())
            && events.contains(&"EdgeDeleted cb".to_string())
    );
}

#[test]
fn edges_need_both_ends() {
    let mut g = graph();
    g.create_node(id("a"), Metadata::new()).unwrap();
    let err = g
        .create_edge(id("e"), id("a"), id("zz"), Metadata::new())
        .unwrap_err();
    assert_eq!(
        err,
        GraphError::DanglingEdge {
            edge: "e".into(),
            node: "zz".into()
        }
    );
    assert_eq!(
        g.create_node(id("a"), Metadata::new()).unwrap_err(),
        GraphError::NodeExists("a".into())
    );
    assert_eq!(
        g.create_node(id(""), Metadata::new()).unwrap_err(),
        GraphError::EmptyId
    );
}

#[test]
fn upsert_respects_revisions() {
    let mut g = graph();
    let mut n = Node::new(
        id("n"),
        md(&[("Name", json!("x"))]),
        SharedStr::from("agent1"),
        SharedStr::from("agent.agent1"),
    );
    n.revision = 5;
    assert_eq!(g.upsert_node(n.clone()).unwrap(), Applied::Added);
    n.metadata.set("Name", json!("old"));
    n.revision = 4;
    assert_eq!(g.upsert_node(n.clone()).unwrap(), Applied::Stale);
    n.revision = 6;
    n.metadata.set("Name", json!("y"));
    assert_eq!(g.upsert_node(n).unwrap(), Applied::Updated);
    assert_eq!(g.nodes_by("Name", "y").len(), 1);
    assert_eq!(g.nodes_by("Name", "x").len(), 0);
    let ops = [MetadataOp::add("MTU", json!(9000))];
    assert_eq!(
        g.apply_node_ops("n", 6, TimeMs(1), &ops).unwrap(),
        Applied::Stale
    );
    assert_eq!(
        g.apply_node_ops("n", 7, TimeMs(1), &ops).unwrap(),
        Applied::Updated
    );
    assert_eq!(g.node("n").unwrap().metadata.get("MTU"), Some(&json!(9000)));
}

#[test]
fn delete_origin_removes_one_agents_subgraph() {
    let mut g = graph();
    for (n, origin) in [("a1", "agent.a"), ("a2", "agent.a"), ("b1", "agent.b")] {
        g.add_node(Node::new(
            id(n),
            Metadata::new(),
            SharedStr::from("x"),
            SharedStr::from(origin),
        ))
        .unwrap();
    }
    g.add_edge(Edge::new(
        id("e1"),
        id("a1"),
        id("a2"),
        Metadata::new(),
        SharedStr::from("x"),
        SharedStr::from("agent.a"),
    ))
    .unwrap();
    g.add_edge(Edge::new(
        id("e2"),
        id("b1"),
        id("a1"),
        Metadata::new(),
        SharedStr::from("x"),
        SharedStr::from("agent.b"),
    ))
    .unwrap();
    assert_eq!(g.delete_origin("agent.a"), 4);
    assert_eq!(g.node_count(), 1);
    assert_eq!(g.edge_count(), 0);
}

/// `origin_count`, `nodes_of` and `edges_of` agree with a scan after adds, upserts that move an element to another
/// origin, replaced edges, deletions that take edges along, and `delete_origin`.
#[test]
fn origin_counts_agree_with_a_scan() {
    let scan = |g: &Graph, o: &str| OriginCount {
        nodes: g.nodes().filter(|n| &*n.origin == o).count(),
        edges: g.edges().filter(|e| &*e.origin == o).count(),
    };
    let check = |g: &Graph| {
        for o in ["agent.a", "agent.b", "agent.c"] {
            assert_eq!(g.origin_count(o), scan(g, o), "origin {o}");
            let mut of: Vec<String> = g.nodes_of(o).map(|n| n.id.to_string()).collect();
            of.extend(g.edges_of(o).map(|e| e.id.to_string()));
            of.sort();
            let mut scanned: Vec<String> = g
                .nodes()
                .filter(|n| &*n.origin == o)
                .map(|n| n.id.to_string())
                .chain(
                    g.edges()
                        .filter(|e| &*e.origin == o)
                        .map(|e| e.id.to_string()),
                )
                .collect();
            scanned.sort();
            assert_eq!(of, scanned, "origin {o}");
        }
    };
    let node = |n: &str, origin: &str, rev: i64| {
        let mut node = Node::new(
            id(n),
            Metadata::new(),
            SharedStr::from("x"),
            SharedStr::from(origin),
        );
        node.revision = rev;
        node
    };
    let edge = |e: &str, p: &str, c: &str, origin: &str, rev: i64| {
        let mut edge = Edge::new(
            id(e),
            id(p),
            id(c),
            Metadata::new(),
            SharedStr::from("x"),
            SharedStr::from(origin),
        );
        edge.revision = rev;
        edge
    };
    let mut g = graph();
    for (n, o) in [("n1", "agent.a"), ("n2", "agent.a"), ("n3", "agent.b")] {
        g.upsert_node(node(n, o, 1)).unwrap();
    }
    g.upsert_edge(edge("e1", "n1", "n2", "agent.a", 1)).unwrap();
    g.upsert_edge(edge("e2", "n2", "n3", "agent.b", 1)).unwrap();
    check(&g);
    g.upsert_node(node("n2", "agent.b", 2)).unwrap(); // moves to another origin
    g.upsert_edge(edge("e1", "n1", "n2", "agent.c", 2)).unwrap(); // same ends, other origin
    g.upsert_edge(edge("e2", "n1", "n3", "agent.a", 2)).unwrap(); // ends moved
    check(&g);
    g.delete_node("n1").unwrap(); // takes e1 and e2 along
    check(&g);
    assert_eq!(g.origin_count("agent.a"), OriginCount::default());
    assert_eq!(g.delete_origin("agent.a"), 0);
    assert_eq!(g.delete_origin("agent.b"), 2);
    check(&g);
    assert_eq!((g.node_count(), g.edge_count()), (0, 0));
}

#[test]
fn index_follows_updates() {
    let mut g = graph();
    g.create_node(
        id("n"),
        md(&[("Type", json!("veth")), ("Name", json!("v0"))]),
    )
    .unwrap();
    let veth = IndexValue::Str("veth".into());
    assert_eq!(g.lookup_count("Type", &veth), Some(1));
    g.set_node_metadata("n", "Type", json!("device")).unwrap();
    assert_eq!(g.lookup_count("Type", &veth), Some(0));
    g.replace_node_metadata("n", md(&[("Type", json!("veth"))]))
        .unwrap();
    assert_eq!(g.lookup_count("Type", &veth), Some(1));
    g.delete_node("n").unwrap();
    assert_eq!(g.lookup_count("Type", &veth), Some(0));
}

#[tokio::test]
async fn subscribers_get_events_and_lag_is_counted() {
    let mut opts = GraphOptions::new("h", "o");
    opts.event_capacity = 4;
    let shared = SharedGraph::new(opts);
    let (count, mut sub) = shared.subscribe_with(|g| g.node_count());
    assert_eq!(count, 0);
    shared
        .write()
        .create_node(id("a"), Metadata::new())
        .unwrap();
    match sub.recv().await {
        Received::Event(GraphEvent::NodeAdded(n)) => assert_eq!(n.id, "a"),
        other => panic!("unexpected {other:?}"),
    }
    for i in 0..10 {
        shared
            .write()
            .create_node(id(&format!("n{i}")), Metadata::new())
            .unwrap();
    }
    match sub.recv().await {
        Received::Lagged(n) => assert_eq!(n, 6),
        other => panic!("expected lag, got {other:?}"),
    }
    assert_eq!(shared.bus().stats().lagged, 6);
}

#[test]
fn history_view_from_sorted_revisions_keeps_the_given_latest() {
    let slice = TimeSlice {
        start: TimeMs(0),
        last: TimeMs(100),
    };
    // n was deleted at revision 3, then created again (revision 1): the new life is latest.
    let mut old = Node::new(
        id("n"),
        md(&[("Name", json!("old"))]),
        SharedStr::from("h"),
        SharedStr::from("o"),
    );
    old.revision = 3;
    old.deleted_at = Some(TimeMs(50));
    let new = Node::new(
        id("n"),
        md(&[("Name", json!("new"))]),
        SharedStr::from("h"),
        SharedStr::from("o"),
    );
    let m = Node::new(
        id("m"),
        Metadata::new(),
        SharedStr::from("h"),
        SharedStr::from("o"),
    );
    let e = Edge::new(
        id("e"),
        id("n"),
        id("m"),
        Metadata::new(),
        SharedStr::from("h"),
        SharedStr::from("o"),
    );
    let v = HistoryView::from_revisions(
        slice,
        vec!["Name".into()],
        (vec![Arc::new(new), Arc::new(m)], vec![Arc::new(e)]),
        (vec![Arc::new(old)], vec![]),
    );
    assert_eq!(
        GraphView::node(&v, "n".into())
            .unwrap()
            .metadata
            .get_str("Name"),
        Some("new")
    );
    assert_eq!(GraphView::node_count(&v), 3);
    assert_eq!(GraphView::node_edges(&v, "m".into()).count(), 1);
    let old_name = IndexValue::Str("old".into());
    assert_eq!(GraphView::lookup(&v, "Name", &old_name).unwrap().count(), 1);
    assert_eq!(v.slice(), slice);
}

#[test]
fn history_view_keeps_every_revision_of_the_slice() {
    let mut b = HistoryViewBuilder::new(
        TimeSlice {
            start: TimeMs(0),
            last: TimeMs(100),
        },
        vec!["Name".into()],
    );
    let mut n = Node::new(
        id("n"),
        md(&[("Name", json!("old"))]),
        SharedStr::from("h"),
        SharedStr::from("o"),
    );
    b.node(Arc::new(n.clone()));
    n.revision = 2;
    n.metadata.set("Name", json!("new"));
    b.node(Arc::new(n));
    b.node(Arc::new(Node::new(
        id("m"),
        Metadata::new(),
        SharedStr::from("h"),
        SharedStr::from("o"),
    )));
    b.edge(Arc::new(Edge::new(
        id("e"),
        id("n"),
        id("m"),
        Metadata::new(),
        SharedStr::from("h"),
        SharedStr::from("o"),
    )));
    let v = b.build();
    assert_eq!(GraphView::node_count(&v), 3);
    assert_eq!(GraphView::node(&v, "n".into()).unwrap().revision, 2);
    assert_eq!(
        GraphView::lookup(&v, "Name", &IndexValue::Str("old".into()))
            .unwrap()
            .count(),
        1
    );
    assert_eq!(GraphView::node_edges(&v, "m".into()).count(), 1);
}

#[test]
fn time_slice_overlap() {
    let s = TimeSlice {
        start: TimeMs(10),
        last: TimeMs(20),
    };
    assert!(s.overlaps(TimeMs(5), None));
    assert!(s.overlaps(TimeMs(20), None));
    assert!(!s.overlaps(TimeMs(21), None));
    assert!(!s.overlaps(TimeMs(1), Some(TimeMs(10))));
    assert!(s.overlaps(TimeMs(1), Some(TimeMs(11))));
}

/// The handle index answers like a scan, through adds, updates (scalars and lists, shared
/// and unique values), upserts and deletes.
#[test]
fn index_agrees_with_a_scan() {
    let mut g = graph();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let kinds = ["veth", "bridge", "netns", "host"];
    for step in 0..3000 {
        let n = format!("n{}", next(200));
        match next(5) {
            0 | 1 => {
                let m = md(&[
                    ("Type", json!(kinds[next(4) as usize])),
                    ("Name", json!(format!("name{}", next(50)))),
                    (
                        "MAC",
                        json!([format!("m{}", next(30)), format!("m{}", next(30))]),
                    ),
                    ("IfIndex", json!(next(5))),
                ]);
                if g.node(&n).is_some() {
                    g.replace_node_metadata(&n, m).unwrap();
                } else {
                    g.create_node(id(&n), m).unwrap();
                }
            }
            2 if g.node(&n).is_some() => {
                let ops = [MetadataOp::add("Name", json!(format!("name{}", next(50))))];
                let rev = g.node(&n).unwrap().revision + 1;
                g.apply_node_ops(&n, rev, TimeMs(step), &ops).unwrap();
            }
            3 if g.node(&n).is_some() => {
                g.update_node(&n, |m| {
                    m.remove("IfIndex");
                    m.set("Type", json!(kinds[next(4) as usize]));
                })
                .unwrap();
            }
            4 if g.node(&n).is_some() => {
                g.delete_node(&n).unwrap();
            }
            _ => {}
        }
    }
    let mut probes: Vec<(&str, IndexValue)> = Vec::new();
    for k in kinds {
        probes.push(("Type", IndexValue::Str(k.into())));
    }
    for i in 0..50 {
        probes.push(("Name", IndexValue::Str(format!("name{i}").into())));
    }
    for i in 0..30 {
        probes.push(("MAC", IndexValue::Str(format!("m{i}").into())));
    }
    for i in 0..5 {
        probes.push(("IfIndex", IndexValue::Int(i)));
    }
    for (key, value) in &probes {
        let mut found: Vec<String> = g
            .lookup(key, value)
            .unwrap()
            .map(|n| n.id.to_string())
            .collect();
        found.sort();
        let mut want: Vec<String> = g
            .nodes()
            .filter(|n| {
                n.metadata
                    .values_at(key)
                    .filter_map(IndexValue::from_json)
                    .any(|v| v == *value)
            })
            .map(|n| n.id.to_string())
            .collect();
        want.sort();
        assert_eq!(found, want, "{key} = {value:?}");
        assert_eq!(g.lookup_count(key, value), Some(want.len()));
    }
}

#[test]
fn view_from_revisions_keeps_the_last_of_duplicate_ids() {
    let g = {
        let mut g = graph();
        g.create_node(id("a"), md(&[("Name", json!("a"))])).unwrap();
        g.create_node(id("b"), md(&[("Name", json!("b"))])).unwrap();
        g.create_edge(id("e"), id("a"), id("b"), Metadata::new())
            .unwrap();
        g
    };
    let mut a2 = Node::clone(g.node("a").unwrap());
    a2.metadata = md(&[("Name", json!("a2"))]);
    let e = g.edge("e").unwrap().clone();
    let nodes = vec![
        g.node("a").unwrap().clone(),
        g.node("b").unwrap().clone(),
        Arc::new(a2),
    ];
    let view = HistoryView::from_revisions(
        TimeSlice::at(TimeMs(0)),
        vec!["Name".into()],
        (nodes, vec![e.clone(), e]),
        (vec![], vec![]),
    );
    let v = view.latest();
    assert_eq!(v.node_count(), 2);
    assert_eq!(v.edge_count(), 1);
    assert_eq!(v.nodes_by("Name", "a2").len(), 1);
    assert!(v.nodes_by("Name", "a").is_empty());
    assert_eq!(v.node_edges("a").count(), 1);
}
