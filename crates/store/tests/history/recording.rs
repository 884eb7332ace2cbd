//! Recording: counters, a full buffer, changes after close, the real clock.

use serde_json::json;
use skydive_graph::{Metadata, TimeMs};
use skydive_store::{HistoryConfig, HistoryStore};

use crate::common::*;

#[test]
fn full_buffer_slows_the_graph_down_but_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = HistoryStore::open(HistoryConfig {
        buffer_events: 1,
        ..config(&dir)
    })
    .unwrap();
    let mut g = graph(&store);
    let t0 = base_time();
    for i in 0..3000 {
        g.add_node(node_at(&format!("n{i}"), TimeMs(t0.0 + i), Metadata::new()))
            .unwrap();
    }
    store.flush().unwrap();
    let s = store.stats();
    assert_eq!(
        (s.events_recorded, s.events_written, s.events_dropped),
        (3000, 3000, 0)
    );
    assert_eq!(s.events_queued, 0);
    assert_eq!(view_at(&store, TimeMs(t0.0 + 2999)).nodes.len(), 3000);
}

#[test]
fn changes_after_close_are_counted_as_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let reader = store.clone();
    let mut g = graph(&store);
    g.create_node("a".into(), Metadata::new()).unwrap();
    store.close().unwrap();
    g.create_node("b".into(), Metadata::new()).unwrap();
    let s = reader.stats();
    assert_eq!(
        (s.events_recorded, s.events_written, s.events_dropped),
        (2, 1, 1)
    );
    assert!(s.last_error.unwrap().contains("store closed"));
    assert!(matches!(
        reader.flush(),
        Err(skydive_store::StoreError::Closed)
    ));
    // Reading still works from the remaining clone.
    assert_eq!(reader.last_state().unwrap().0.len(), 1);
}

#[test]
fn real_clock_changes_are_seen_at_their_update_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut g = graph(&store);
    let a = g
        .create_node("a".into(), md(&[("Name", json!("a"))]))
        .unwrap();
    let t1 = TimeMs::now();
    let snap1 = Contents::of_graph(&g);
    wait_past(t1);
    let a2 = g.set_node_metadata("a", "Name", json!("a2")).unwrap();
    g.create_node("b".into(), Metadata::new()).unwrap();
    g.create_edge("ab".into(), "a".into(), "b".into(), Metadata::new())
        .unwrap();
    let t2 = TimeMs::now();
    let snap2 = Contents::of_graph(&g);
    wait_past(t2);
    g.delete_node("b").unwrap();
    store.flush().unwrap();

    // A revision is visible at its own UpdatedAt: what a user reads from the live API.
    assert_eq!(view_at(&store, a.updated_at).nodes, vec![(*a).clone()]);
    assert_eq!(view_at(&store, a2.updated_at).nodes[0], *a2);
    assert_eq!(view_at(&store, t1), snap1);
    assert_eq!(view_at(&store, t2), snap2);
    let (nodes, edges) = store.last_state().unwrap();
    assert_eq!(Contents::sorted(nodes, edges), Contents::of_graph(&g));
    let s = store.stats();
    assert_eq!(
        (s.events_written, s.events_dropped, s.write_errors),
        (6, 0, 0)
    );
    assert!(s.disk_bytes > 0);
    assert_eq!(s.oldest_retained, Some(a.updated_at));
}

#[test]
fn many_changes_trigger_checkpoints_by_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut g = graph(&store);
    let t0 = base_time();
    g.add_node(node_at("n", t0, Metadata::new())).unwrap();
    // The graph is tiny, so the floor of 10000 changes between checkpoints applies.
    for i in 1..=12_000 {
        g.apply_node_ops(
            "n",
            i + 1,
            TimeMs(t0.0 + i),
            &[skydive_graph::MetadataOp::add("V", json!(i))],
        )
        .unwrap();
    }
    store.flush().unwrap();
    // The writer asks, the maintenance thread takes it: wait for it without timing anything.
    while store.stats().checkpoints == 0 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(
        view_at(&store, TimeMs(t0.0 + 11_000)).nodes[0]
            .metadata
            .get("V"),
        Some(&json!(11_000))
    );
    assert_eq!(
        view_at(&store, TimeMs(t0.0 + 5)).nodes[0].metadata.get("V"),
        Some(&json!(5))
    );
    assert_eq!(store.stats().maintenance_errors, 0);
}
