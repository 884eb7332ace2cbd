//! Restarts: the same answers after closing and reopening, or after a drop without close;
//! the live graph restored from `last_state` and recording on.

use serde_json::json;
use skydive_graph::{Graph, GraphOptions, MetadataOp, TimeMs};

use crate::common::*;

/// Ten nodes changing over 200 ms, with deletions and a checkpoint half-way.
fn record_history(store: &skydive_store::HistoryStore) -> (TimeMs, Graph) {
    let t0 = base_time();
    let mut g = graph(store);
    for i in 0..10 {
        g.add_node(node_at(
            &format!("n{i}"),
            TimeMs(t0.0 + i),
            md(&[("Index", json!(i))]),
        ))
        .unwrap();
    }
    for step in 1..20 {
        let t = TimeMs(t0.0 + 10 * step);
        let id = format!("n{}", step % 10);
        if let Some(rev) = g.node(&id).map(|n| n.revision) {
            g.apply_node_ops(&id, rev + 1, t, &[MetadataOp::add("Step", json!(step))])
                .unwrap();
        }
        if step == 10 {
            store.checkpoint_now().unwrap();
        }
        if step % 7 == 0 {
            g.delete_node_at(&format!("n{}", step % 10 + 1), t).unwrap();
        }
    }
    store.flush().unwrap();
    (t0, g)
}

fn answers(store: &skydive_store::HistoryStore, t0: TimeMs) -> Vec<Contents> {
    let mut out: Vec<Contents> = (0..25)
        .map(|i| view_at(store, TimeMs(t0.0 + 9 * i)))
        .collect();
    out.push(view_slice(store, t0, TimeMs(t0.0 + 250)));
    out.push(view_slice(store, TimeMs(t0.0 + 55), TimeMs(t0.0 + 125)));
    let (nodes, edges) = store.last_state().unwrap();
    out.push(Contents::sorted(nodes, edges));
    out
}

#[test]
fn reopening_after_close_gives_identical_answers() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let (t0, g) = record_history(&store);
    let before = answers(&store, t0);
    assert_eq!(before.last(), Some(&Contents::of_graph(&g)));
    drop(g);
    store.close().unwrap();
    let store = open(&dir);
    assert_eq!(answers(&store, t0), before);
    assert_eq!(store.stats().checkpoints, 1);
}

#[test]
fn reopening_after_drop_without_close_gives_identical_answers() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let (t0, g) = record_history(&store);
    let before = answers(&store, t0);
    drop(store);
    drop(g);
    let store = open(&dir);
    assert_eq!(answers(&store, t0), before);
}

#[test]
fn second_open_of_the_same_dir_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let _store = open(&dir);
    let err = skydive_store::HistoryStore::open(config(&dir)).unwrap_err();
    assert!(err.to_string().contains("in use"), "{err}");
}

#[test]
fn restored_graph_continues_the_same_history() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let (t0, g) = record_history(&store);
    let live_before = Contents::of_graph(&g);
    drop(g);
    store.close().unwrap();

    // What the server does at startup: load, then attach the changelog.
    let store = open(&dir);
    let (nodes, edges) = store.last_state().unwrap();
    let mut g = Graph::new(GraphOptions::new("h1", "analyzer.h1"));
    for n in nodes {
        g.add_node(n).unwrap();
    }
    for e in edges {
        g.add_edge(e).unwrap();
    }
    assert_eq!(Contents::of_graph(&g), live_before);
    g.set_changelog(store.changelog());
    let written = store.stats().events_written;
    assert_eq!(written, 0, "restoring must not record anything");

    let t = TimeMs(t0.0 + 1000);
    g.apply_node_ops("n0", 100, t, &[MetadataOp::add("After", json!(true))])
        .unwrap();
    store.flush().unwrap();
    assert_eq!(view_at(&store, TimeMs(t.0 - 1)), live_before);
    assert_eq!(view_at(&store, t), Contents::of_graph(&g));
}
