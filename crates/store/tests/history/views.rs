//! Views of the past: points in time and time slices, with updates and deletions.

use serde_json::json;
use skydive_graph::{GraphView, MetadataOp, TimeMs, TimeSlice};
use skydive_store::StoreError;

use crate::common::*;

/// a: added at t0, MTU set at t0+20. b: added at t0+10, renamed at t0+30, deleted at t0+50
/// (with edge ab, added at t0+40).
fn scenario(store: &skydive_store::HistoryStore) -> TimeMs {
    let t0 = base_time();
    let at = |d: i64| TimeMs(t0.0 + d);
    let mut g = graph(store);
    g.add_node(node_at(
        "a",
        at(0),
        md(&[("Name", json!("a")), ("Type", json!("device"))]),
    ))
    .unwrap();
    g.add_node(node_at(
        "b",
        at(10),
        md(&[("Name", json!("b")), ("Type", json!("veth"))]),
    ))
    .unwrap();
    g.apply_node_ops("a", 2, at(20), &[MetadataOp::add("MTU", json!(1500))])
        .unwrap();
    let mut b2 = node_at(
        "b",
        at(10),
        md(&[("Name", json!("b2")), ("Type", json!("veth"))]),
    );
    b2.revision = 2;
    b2.updated_at = at(30);
    g.upsert_node(b2).unwrap();
    g.add_edge(edge_at("ab", "a", "b", at(40))).unwrap();
    g.delete_node_at("b", at(50)).unwrap();
    store.flush().unwrap();
    t0
}

#[test]
fn point_views_show_the_graph_of_that_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let t0 = scenario(&store);
    let at = |d: i64| TimeMs(t0.0 + d);

    assert!(view_at(&store, at(-1)).nodes.is_empty());

    let v = view_at(&store, at(0));
    assert_eq!(v.node_ids(), ["a"]);
    assert_eq!(v.nodes[0].revision, 1);

    let v = view_at(&store, at(15));
    assert_eq!(v.node_ids(), ["a", "b"]);
    assert_eq!(v.nodes[0].metadata.get("MTU"), None);

    let v = view_at(&store, at(20));
    assert_eq!(v.nodes[0].revision, 2);
    assert_eq!(v.nodes[0].metadata.get("MTU"), Some(&json!(1500)));

    let v = view_at(&store, at(45));
    assert_eq!(v.node_ids(), ["a", "b"]);
    assert_eq!(v.nodes[1].metadata.get_str("Name"), Some("b2"));
    assert_eq!(v.edges.len(), 1);
    // Before its deletion, b is shown as it was: alive.
    assert_eq!(v.nodes[1].deleted_at, None);
    assert_eq!(v.edges[0].deleted_at, None);

    let v = view_at(&store, at(50));
    assert_eq!(v.node_ids(), ["a"]);
    assert!(v.edges.is_empty());
    assert_eq!(view_at(&store, at(1_000_000)), v);
}

#[test]
fn slice_views_hold_every_revision_alive_in_the_slice() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let t0 = scenario(&store);
    let at = |d: i64| TimeMs(t0.0 + d);

    let v = view_slice(&store, at(0), at(60));
    let ids: Vec<String> = v.nodes.iter().map(|n| n.id.to_string()).collect();
    let revs: Vec<(&str, i64, Option<TimeMs>)> = v
        .nodes
        .iter()
        .zip(&ids)
        .map(|(n, id)| (id.as_str(), n.revision, n.deleted_at))
        .collect();
    assert_eq!(
        revs,
        [
            ("a", 1, None),
            ("a", 2, None),
            ("b", 1, None),
            ("b", 2, Some(at(50)))
        ]
    );
    assert_eq!(v.edges.len(), 1);
    assert_eq!(v.edges[0].deleted_at, Some(at(50)));

    // b's first revision lived in [10, 30): it overlaps [25, 45]; b's deletion comes later.
    let v = view_slice(&store, at(25), at(45));
    let ids: Vec<String> = v.nodes.iter().map(|n| n.id.to_string()).collect();
    let revs: Vec<(&str, i64, Option<TimeMs>)> = v
        .nodes
        .iter()
        .zip(&ids)
        .map(|(n, id)| (id.as_str(), n.revision, n.deleted_at))
        .collect();
    assert_eq!(revs, [("a", 2, None), ("b", 1, None), ("b", 2, None)]);

    // A revision superseded exactly at the slice start is not in it.
    let v = view_slice(&store, at(20), at(25));
    assert_eq!(v.nodes.iter().filter(|n| n.id == "a").count(), 1);
}

#[test]
fn view_answers_like_the_graph_it_stands_for() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let t0 = scenario(&store);
    let v = store
        .view(TimeSlice {
            start: t0,
            last: TimeMs(t0.0 + 60),
        })
        .unwrap();
    // The latest revision of b is the deleted one; the index finds nodes by old values too.
    assert_eq!(v.node("b").unwrap().revision, 2);
    assert_eq!(v.node_count(), 4);
    let old_name = skydive_graph::IndexValue::Str("b".into());
    assert_eq!(v.lookup("Name", &old_name).unwrap().count(), 1);
    assert_eq!(
        v.time_slice(),
        Some(TimeSlice {
            start: t0,
            last: TimeMs(t0.0 + 60)
        })
    );
    let v = store.view(TimeSlice::at(TimeMs(t0.0 + 45))).unwrap();
    assert_eq!(v.node_edges("a").count(), 1);
}

#[test]
fn slice_ending_before_it_starts_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let err = store
        .view(TimeSlice {
            start: TimeMs(10),
            last: TimeMs(5),
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidSlice { .. }), "{err}");
    assert!(err.is_out_of_range());
}

#[test]
fn deleted_and_recreated_node_is_seen_in_each_life() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let t0 = base_time();
    let at = |d: i64| TimeMs(t0.0 + d);
    let mut g = graph(&store);
    g.add_node(node_at("n", at(0), md(&[("Life", json!(1))])))
        .unwrap();
    g.apply_node_ops("n", 5, at(5), &[MetadataOp::add("X", json!(1))])
        .unwrap();
    g.delete_node_at("n", at(10)).unwrap();
    g.add_node(node_at("n", at(10), md(&[("Life", json!(2))])))
        .unwrap();
    store.flush().unwrap();
    assert_eq!(
        view_at(&store, at(9)).nodes[0].metadata.get("Life"),
        Some(&json!(1))
    );
    // Deleted and re-added in the same millisecond: the later change wins.
    let v = view_at(&store, at(10));
    assert_eq!(v.nodes.len(), 1);
    assert_eq!(v.nodes[0].metadata.get("Life"), Some(&json!(2)));
    let view = store
        .view(TimeSlice {
            start: at(0),
            last: at(20),
        })
        .unwrap();
    // The latest revision is the new life's, though the first life had a higher revision.
    assert_eq!(
        view.node("n").unwrap().metadata.get("Life"),
        Some(&json!(2))
    );
    let v = Contents::of_view(&view);
    assert_eq!(v.nodes.len(), 3);
    assert_eq!(
        v.nodes
            .iter()
            .filter(|n| n.deleted_at == Some(at(10)))
            .count(),
        1
    );
}
