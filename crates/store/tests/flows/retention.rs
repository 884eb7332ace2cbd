//! Retention: old updates go, index entries with them; recent ones stay.

use skydive_graph::TimeMs;
use skydive_store::{FlowSearch, FlowStore, FlowStoreConfig};

use crate::common::*;

#[test]
fn old_updates_are_deleted_with_their_index_entries() {
    let dir = tempfile::tempdir().unwrap();
    let store = FlowStore::open(FlowStoreConfig {
        retention_secs: 3600,
        ..config(&dir)
    })
    .unwrap();
    let mut cap = Capture::new("tid-1");
    cap.send(T0, &tcp(1, 2, 40000, 80, SYN));
    let old = cap.updates(T0 + 2_000);
    let mut later = Capture::new("tid-1");
    later.send(T0 + 7_200_000, &tcp(1, 2, 40002, 80, SYN));
    later.send(T0 + 7_200_000, &tcp(1, 3, 40001, 80, SYN));
    let recent = later.updates(T0 + 7_202_000);
    put(&store, &old);
    put(&store, &recent);
    let uuid = old[0].uuid.clone();

    let report = store
        .enforce_retention(TimeMs(T0 + 7_200_000 + 1_000))
        .unwrap();
    assert_eq!(report.cutoff, Some(TimeMs(T0 + 3_601_000)));
    assert_eq!(report.flows_deleted, 1);
    assert_eq!(store.stats().flows_expired, 1);
    assert_eq!(store.stats().oldest, Some(TimeMs(T0 + 7_200_000)));

    // The old update is gone from every path: by time, by node, by tracking id, metrics.
    let window = FlowSearch::new(slice(T0, T0 + 10_000));
    assert!(store.search(&window).unwrap().is_empty());
    let tids = vec!["tid-1".to_string()];
    assert!(
        store
            .search(&window.node_tids(Some(&tids)))
            .unwrap()
            .is_empty()
    );
    let tracking = vec![old[0].tracking_id.clone()];
    assert!(
        store
            .search(&window.tracking_ids(Some(&tracking)))
            .unwrap()
            .is_empty()
    );
    let series = store
        .metrics(std::slice::from_ref(&uuid), i64::MIN, i64::MAX)
        .unwrap();
    assert!(series.is_empty(), "{series:?}");
    // Recent ones stay.
    assert_eq!(at(&store, T0 + 7_200_000).len(), 2);
    // Nothing more to do on a second run; retention 0 keeps everything.
    let again = store.enforce_retention(TimeMs(T0 + 7_201_000)).unwrap();
    assert_eq!(again.flows_deleted, 0);
}

#[test]
fn retention_runs_on_its_own_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let store = FlowStore::open(FlowStoreConfig {
        retention_secs: 60,
        retention_check_secs: 1,
        ..config(&dir)
    })
    .unwrap();
    // Flows from long ago: the background run deletes them within a couple of seconds.
    let mut cap = Capture::new("tid-1");
    cap.send(T0, &tcp(1, 2, 40000, 80, SYN));
    put(&store, &cap.updates(T0 + 2_000));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while store.stats().flows_expired == 0 {
        assert!(std::time::Instant::now() < deadline, "retention never ran");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(at(&store, T0).is_empty());
    let kept = FlowStore::open(FlowStoreConfig {
        retention_secs: 0,
        ..config(&tempfile::tempdir().unwrap())
    })
    .unwrap();
    assert_eq!(kept.enforce_retention(TimeMs::now()).unwrap().cutoff, None);
}
